#!/bin/sh
# Replay fixture check: runs `ratchetctl replay` over a week of synthetic
# evidence (tests/replay/evidence.jsonl) and compares the decisions with the
# ones the scenarios require (expected.jsonl, written by gen_fixture.py from
# each scenario's intent, never from the engine).
#
# Usage: tests/replay/run.sh BUILD_DIR      (BUILD_DIR holds ratchetctl)
# Prints one "ok ..." / "FAIL ..." line per check and "N passed, N failed";
# exits 1 if any check failed, 2 on usage errors.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
passed=0
failed=0
ok() { echo "ok $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

build=$(cd "$1" 2>/dev/null && pwd) || build=$1
ctl="$build/ratchetctl"
if [ ! -x "$ctl" ]; then
    fail "replay: $ctl not found or not executable"
    finish
fi
if ! command -v python3 >/dev/null 2>&1; then
    fail "replay: python3 is needed to check the fixture"
    finish
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ratchet-replay.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

evidence="$here/evidence.jsonl"
expected="$here/expected.jsonl"
n_expected=$(grep -c . "$expected")

# Print the scenario line of every bot named in a diff, so a failure says
# which intent was violated, not only which bytes differ.
explain_diff() {
    sed -n 's/^[-+]{"ts":"[^"]*","bot":"\([^"]*\)".*/\1/p' "$1" | sort -u | while read -r bot; do
        grep -F -- "- \`$bot\`:" "$here/scenarios.md" | sed 's/^/    scenario: /'
    done
}

# 1. The checked-in fixture is exactly what the generator writes.
if python3 "$here/gen_fixture.py" "$tmp/gen" >/dev/null 2>"$tmp/gen.err"; then
    stale=""
    for f in evidence.jsonl expected.jsonl expected-lenient.jsonl policy-lenient.json scenarios.md; do
        cmp -s "$tmp/gen/$f" "$here/$f" || stale="$stale $f"
    done
    for f in "$tmp"/gen/bad/*; do
        cmp -s "$f" "$here/bad/${f##*/}" || stale="$stale bad/${f##*/}"
    done
    if [ -z "$stale" ]; then
        ok "fixture matches gen_fixture.py output"
    else
        fail "fixture differs from gen_fixture.py output (re-run it and commit):$stale"
    fi
else
    fail "gen_fixture.py failed: $(head -c 300 "$tmp/gen.err")"
fi

# 2. Decisions, byte for byte.
"$ctl" replay --json "$evidence" >"$tmp/out1.jsonl" 2>"$tmp/err1"
rc=$?
if [ $rc -eq 0 ]; then
    ok "replay --json exits 0"
else
    fail "replay --json exited $rc: $(head -c 500 "$tmp/err1")"
fi
if cmp -s "$expected" "$tmp/out1.jsonl"; then
    ok "replay --json output matches expected.jsonl ($n_expected decisions)"
else
    fail "replay --json output differs from expected.jsonl (- expected, + actual):"
    diff -u "$expected" "$tmp/out1.jsonl" >"$tmp/diff1"
    sed 's/^/    /' "$tmp/diff1"
    explain_diff "$tmp/diff1"
fi

# 3. Every reason code is demote.<condition> and is in the registry.
unexpected=$(python3 - "$tmp/out1.jsonl" "$root/policy/reason-codes.json" 2>"$tmp/codes" <<'EOF'
import json, sys
registry = None
try:
    with open(sys.argv[2], encoding="utf-8") as f:
        registry = {c["code"] for c in json.load(f)["codes"]}
except (OSError, ValueError, KeyError, TypeError):
    pass
bad = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        try:
            d = json.loads(line)
            code = d["reason_code"]
            good = (d["action"] == "demote" and code == "demote." + d["condition"]
                    and (registry is None or code in registry))
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            bad += 1
            print("    " + line.rstrip("\n"), file=sys.stderr)
print(bad)
EOF
)
if [ "$unexpected" = "0" ]; then
    ok "0 unexpected reason codes"
else
    fail "$unexpected unexpected reason codes"
    cat "$tmp/codes"
fi

# 4. The human output runs and names every demoted bot.
"$ctl" replay "$evidence" >"$tmp/human1" 2>"$tmp/herr1"
rc=$?
missing=""
sed -n 's/^{"ts":"[^"]*","bot":"\([^"]*\)".*/\1/p' "$expected" | sort -u >"$tmp/bots"
while read -r bot; do
    grep -Fqw -- "$bot" "$tmp/human1" || missing="$missing $bot"
done <"$tmp/bots"
if [ $rc -eq 0 ] && [ -z "$missing" ]; then
    ok "human output mentions every demoted bot"
else
    fail "human output (exit $rc) does not mention:${missing:- (exit status)}"
fi

# 5. Determinism: the same input gives the same bytes.
"$ctl" replay --json "$evidence" >"$tmp/out2.jsonl" 2>/dev/null
"$ctl" replay "$evidence" >"$tmp/human2" 2>/dev/null
if cmp -s "$tmp/out1.jsonl" "$tmp/out2.jsonl" && cmp -s "$tmp/human1" "$tmp/human2"; then
    ok "replay is deterministic (two runs byte-identical)"
else
    fail "replay is not deterministic: two runs differ"
fi

# 6. Another policy: error_rate threshold 0.025 spares the 2% scenarios.
"$ctl" replay --json --policy "$here/policy-lenient.json" "$evidence" >"$tmp/lenient.jsonl" 2>"$tmp/lerr"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$here/expected-lenient.jsonl" "$tmp/lenient.jsonl"; then
    ok "replay --policy policy-lenient.json matches expected-lenient.jsonl"
else
    fail "replay --policy policy-lenient.json (exit $rc) differs from expected-lenient.jsonl:"
    diff -u "$here/expected-lenient.jsonl" "$tmp/lenient.jsonl" >"$tmp/diff2"
    sed 's/^/    /' "$tmp/diff2"
    head -c 500 "$tmp/lerr" | sed 's/^/    /'
fi

# 7. --against: agreement = identical / distinct decisions, divergences listed.
"$ctl" replay --policy "$here/policy-lenient.json" --against "$root/policy/default-policy.json" \
    "$evidence" >"$tmp/against" 2>"$tmp/aerr"
rc=$?
python3 - "$here/expected-lenient.jsonl" "$expected" "$tmp/against" >"$tmp/against.check" <<'EOF'
import json, sys
def ids(path):
    with open(path, encoding="utf-8") as f:
        return {(d["ts"], d["bot"], d["condition"]) for d in map(json.loads, f)}
new, old = ids(sys.argv[1]), ids(sys.argv[2])
with open(sys.argv[3], encoding="utf-8") as f:
    out = f.read().splitlines()
pct = "%.2f%%" % (100.0 * len(new & old) / len(new | old))
problems = []
if not any("agreement" in l and pct in l for l in out):
    problems.append("no agreement line with " + pct)
for side, only in (("NEW", new - old), ("OLD", old - new)):
    for ts, bot, cond in sorted(only):
        if not any(side in l and ts in l and bot in l and cond in l for l in out):
            problems.append("divergence %s %s %s (%s only) not listed" % (ts, bot, cond, side))
print(pct if not problems else "; ".join(problems))
EOF
check=$(cat "$tmp/against.check")
case "$check" in
*%) if [ $rc -eq 0 ]; then
        ok "replay --against reports agreement $check and lists every divergence"
    else
        fail "replay --against exited $rc: $(head -c 300 "$tmp/aerr")"
    fi ;;
*) fail "replay --against (exit $rc): $check"
   sed 's/^/    /' "$tmp/against" | head -40 ;;
esac

# 8. Malformed streams: exit 1, no decision printed, error names the line.
for f in "$here"/bad/*.jsonl; do
    name=${f##*/}
    spec=$(cat "${f%.jsonl}.err")
    lineno=${spec%%:*}
    needle=${spec#*:}
    "$ctl" replay --json "$f" >"$tmp/bad.out" 2>"$tmp/bad.err"
    rc=$?
    why=""
    [ $rc -eq 1 ] || why="exit status $rc, want 1"
    if grep -q '^{' "$tmp/bad.out"; then
        why="${why:+$why; }decision lines on stdout"
    fi
    if ! sed -n "s/^.*:$lineno: *//p" "$tmp/bad.err" | grep -Fq -- "$needle"; then
        why="${why:+$why; }stderr lacks \"$lineno:$needle\" (got: $(head -c 200 "$tmp/bad.err" | tr '\n' ' '))"
    fi
    if [ -z "$why" ]; then
        ok "bad/$name rejected at $lineno:$needle"
    else
        fail "bad/$name: $why"
    fi
done

finish
