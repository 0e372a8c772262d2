#!/bin/sh
# ratchetctl's command-line contract: exit codes, output formats, errors.
# Usage: tests/cli/ctl.sh BUILD_DIR
set -u
ctl=${1:-build}/ratchetctl
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # name, then a command that must succeed
    name=$1; shift
    if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $name"
    else fail=$((fail + 1)); echo "FAIL $name"; fi
}
status() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; }

check "no arguments is a usage error (2)" test "$(status $ctl)" = 2
check "unknown command is a usage error (2)" test "$(status $ctl frobnicate)" = 2
check "--help exits 0" test "$(status $ctl --help)" = 0

# policy
check "policy show prints the embedded default byte for byte" sh -c "$ctl policy show | cmp - policy/default-policy.json"
check "policy check of the default exits 0" test "$(status $ctl policy check policy/default-policy.json)" = 0
check "policy check summary names every condition" sh -c "$ctl policy check policy/default-policy.json | grep -q p0_alert && $ctl policy check policy/default-policy.json | grep -q recon_drift"
for f in tests/policy/good/*.json; do
    check "policy check accepts $f" test "$(status $ctl policy check "$f")" = 0
done
for f in tests/policy/bad/*.json; do
    want=$(cut -d: -f1,2 "${f%.json}.expected")
    st=$(status $ctl policy check "$f")
    check "policy check rejects $f with exit 1" test "$st" = 1
    check "policy check reports $f:$want" grep -q "^$f:$want:" "$tmp/err"
done
check "policy check of a missing file exits 1" test "$(status $ctl policy check "$tmp/nope.json")" = 1
check "policy --help exits 0" test "$(status $ctl policy --help)" = 0
check "policy with no subcommand exits 2" test "$(status $ctl policy)" = 2

# cvss
check "cvss scores a vector" sh -c "$ctl cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H | grep -qx '9.8 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'"
check "cvss with an invalid vector exits 1" test "$(status $ctl cvss CVSS:3.1/AV:X)" = 1
check "cvss names the invalid vector on stderr" grep -q "CVSS:3.1/AV:X" "$tmp/err"
check "cvss with no vectors exits 2" test "$(status $ctl cvss)" = 2

# reasons
check "reasons --json is one valid object per code" sh -c "$ctl reasons --json | python3 -c 'import sys,json; [json.loads(l) for l in sys.stdin]'"
check "reasons lists every demotion code" sh -c "test \$($ctl reasons --json | grep -c '\"code\":\"demote\\.') -eq 4"

# replay: options and agreement
check "replay without evidence is a usage error" test "$(status $ctl replay)" = 2
check "replay --against with --json is a usage error" test "$(status $ctl replay --json --against policy/default-policy.json tests/replay/evidence.jsonl)" = 2
check "replay of a missing file exits 1" test "$(status $ctl replay "$tmp/none.jsonl")" = 1
check "replay with a bad policy exits 1 with FILE:LINE:COL" sh -c "f=\$(ls tests/policy/bad/*.json | head -n1); $ctl replay --policy \$f tests/replay/evidence.jsonl 2>&1 >/dev/null | grep -q \"^\$f:[0-9]*:[0-9]*:\""
$ctl replay --policy tests/replay/policy-lenient.json --against policy/default-policy.json tests/replay/evidence.jsonl >"$tmp/agree"
check "agreement of the lenient policy is 10 of 17 (58.82%)" grep -q "^agreement: 58.82% (10 of 17 decisions identical" "$tmp/agree"
check "every divergence is listed (7)" test "$(grep -c '^  only in ' "$tmp/agree")" = 7
check "--min-agreement below the figure passes" test "$(status $ctl replay --policy tests/replay/policy-lenient.json --against policy/default-policy.json --min-agreement 50 tests/replay/evidence.jsonl)" = 0
check "--min-agreement above the figure fails" test "$(status $ctl replay --policy tests/replay/policy-lenient.json --against policy/default-policy.json --min-agreement 99 tests/replay/evidence.jsonl)" = 1
check "identical policies agree 100%" sh -c "$ctl replay --against policy/default-policy.json tests/replay/evidence.jsonl | grep -q '^agreement: 100.00%'"
check "replay reads standard input" sh -c "$ctl replay --json - <tests/replay/evidence.jsonl | cmp - tests/replay/expected.jsonl"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
