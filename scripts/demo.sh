#!/bin/sh
# `make demo` at this stage: replay a week of recorded evidence for 20 bots
# through the policy engine and show who would be demoted, when and why.
# (The live demo with Alertmanager, Prometheus and both daemons replaces this
# once the daemons exist; see README.)
set -eu
build=${1:-build}
ctl=$build/ratchetctl
evidence=tests/replay/evidence.jsonl

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold= plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

say "The policy in force: the readiness guide's demotion rule (ratchetctl policy show)"
$ctl policy check policy/default-policy.json

say "Replaying $(grep -c . "$evidence") evidence lines: 7 days, 20 bots (ratchetctl replay)"
$ctl replay "$evidence"

say "The same decisions as JSON lines, for tooling (ratchetctl replay --json | head -3)"
$ctl replay --json "$evidence" | head -n 3

say "Shadow agreement: a candidate policy (error-rate threshold 2.5%) against the default"
$ctl replay --policy tests/replay/policy-lenient.json --against policy/default-policy.json "$evidence"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say "A malformed line is reported with its number, and no partial decisions are printed"
head -n 5 "$evidence" >"$tmp/bad.jsonl"
echo '{"ts":"2026-11-02T10:00:00Z","bot":"alpha","condition":"error_rate","value":"high"}' >>"$tmp/bad.jsonl"
$ctl replay "$tmp/bad.jsonl" || echo "(exit status $?)"
