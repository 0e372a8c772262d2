#!/bin/sh
# scripts/deps.sh: silent when everything is installed; when something is
# missing and we are not root, print the exact apt-get line and fail.
set -u
pass=0 fail=0
check() { name=$1; shift
    if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $name"
    else fail=$((fail + 1)); echo "FAIL $name"; fi; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
check "build deps present: exit 0, no output" sh -c "test -z \"\$(sh scripts/deps.sh build 2>&1)\""
check "unknown target is a usage error" sh -c "! sh scripts/deps.sh nonsense"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
    RATCHET_DEPS_EXTRA=ratchet-no-such-package setpriv --reuid=65534 --regid=65534 --clear-groups \
        sh scripts/deps.sh test >"$out" 2>&1
    st=$?
    check "not root with a missing package: exit 1" test "$st" = 1
    check "not root: prints the apt-get line naming it" grep -q "apt-get install.* ratchet-no-such-package" "$out"
fi
echo "deps: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
