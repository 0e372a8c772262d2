#!/bin/sh
# The two daemons' shared command line (common/daemon.c): exit codes and
# messages, before any configuration is used.
# Usage: tests/cli/daemons.sh BUILD_DIR
set -u
build=${1:-build}
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # name, then a command that must succeed
    name=$1; shift
    if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $name"
    else fail=$((fail + 1)); echo "FAIL $name"; fi
}
status() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; }

printf '{"version": 1,\n "bogus": true}\n' >"$tmp/bad.json"
for d in ratchet-watchdog ratchet-enforcer; do
    bin=$build/$d
    check "$d --version exits 0" test "$(status "$bin" --version)" = 0
    check "$d --version prints its name and version" grep -Eq "^$d [0-9]+\.[0-9]+\.[0-9]+$" "$tmp/out"
    check "$d --help exits 0 with the usage on stdout" \
        sh -c "test \"\$(\"$bin\" --help 2>/dev/null | head -n 1 | cut -d' ' -f1-3)\" = 'usage: $d --config'"
    check "$d without --config is a usage error (2)" test "$(status "$bin")" = 2
    check "... and says the usage on stderr" grep -q "^usage: $d --config FILE" "$tmp/err"
    check "$d with an unknown option is a usage error (2)" test "$(status "$bin" --frobnicate)" = 2
    check "$d with an operand is a usage error (2)" test "$(status "$bin" --config "$tmp/bad.json" extra)" = 2
    check "$d --log-level with an unknown level is a usage error (2)" \
        test "$(status "$bin" --log-level loud --config "$tmp/bad.json")" = 2
    check "... and names the level" grep -q "unknown log level \"loud\"" "$tmp/err"
    check "$d --check-config of an invalid file exits 1" test "$(status "$bin" --check-config --config "$tmp/bad.json")" = 1
    check "... with FILE:LINE:COL for the unknown key" grep -q "^$tmp/bad.json:2:[0-9]*: .*bogus" "$tmp/err"
    check "$d --check-config of a missing file exits 1" \
        test "$(status "$bin" --check-config --config "$tmp/missing.json")" = 1
done

echo "daemons: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
