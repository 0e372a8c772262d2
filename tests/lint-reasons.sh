#!/bin/sh
# Reason-code lint (the guide's "reason-code stability" and "plain-English
# coverage" gates applied to ratchet). Usage: tests/lint-reasons.sh BUILD_DIR
# Fails when a code emitted by the source is missing from the registry, when
# an entry has an empty user_message, or when a locked code was removed or
# reworded. Then proves the lint itself catches each of those.
set -u
build=${1:-build}
gen=$build/tools/reasongen
reg=policy/reason-codes.json
lock=policy/reason-codes.lock
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

if $gen lint $reg $lock; then ok "registry matches the committed lock"; else bad "registry vs lock"; fi

codes=$($gen codes $reg)
srcdirs=$(ls -d policy feeds common ctl watchdog enforcer 2>/dev/null)
# Every RT_REASON_* macro used in the source is a registry code.
missing=""
for m in $(grep -rhoE 'RT_REASON_[A-Z0-9_]+' $srcdirs --include='*.c' --include='*.h' | sort -u); do
    code=$(echo "${m#RT_REASON_}" | tr 'A-Z_' 'a-z.')
    echo "$codes" | tr '_' '.' | grep -qx "$code" || missing="$missing $m"
done
# Every string literal that looks like a code (a registry prefix, a dot, a name) is a registry code.
for prefix in $(echo "$codes" | cut -d. -f1 | sort -u); do
    for lit in $(grep -rhoE "\"$prefix\\.[a-z0-9_.]+\"" $srcdirs --include='*.c' | tr -d '"' | sort -u); do
        echo "$codes" | grep -qx "$lit" || missing="$missing $lit"
    done
done
# Every reason code in the replay fixtures' expected output is a registry code.
if [ -f tests/replay/expected.jsonl ]; then
    for lit in $(grep -oE '"reason_code":"[^"]*"' tests/replay/expected.jsonl | cut -d'"' -f4 | sort -u); do
        echo "$codes" | grep -qx "$lit" || missing="$missing $lit"
    done
fi
if [ -z "$missing" ]; then ok "every emitted reason code is in the registry"; else bad "codes missing from the registry:$missing"; fi

# The lint must catch each kind of mistake.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$reg" "$tmp" <<'PY'
import json, sys
reg = json.load(open(sys.argv[1])); out = sys.argv[2]
def write(name, r): json.dump(r, open(f"{out}/{name}.json", "w"))
r = json.loads(json.dumps(reg)); r["codes"].pop(0); write("removed", r)
r = json.loads(json.dumps(reg)); r["codes"][0]["user_message"] += " Reworded."; write("reworded", r)
r = json.loads(json.dumps(reg)); r["codes"][0]["user_message"] = ""; write("empty", r)
r = json.loads(json.dumps(reg)); r["codes"].append({"code": "demote.new_thing", "user_message": "x", "operator": "y"}); write("unlocked", r)
r = json.loads(json.dumps(reg)); r["codes"].append(dict(r["codes"][0])); write("duplicate", r)
PY
for case in removed reworded empty unlocked duplicate; do
    if $gen lint "$tmp/$case.json" $lock 2>/dev/null; then
        bad "lint accepts a $case code"
    else
        ok "lint refuses a $case code"
    fi
done

echo "lint-reasons: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
