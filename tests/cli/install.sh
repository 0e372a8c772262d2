#!/bin/sh
# make install / uninstall honour DESTDIR and PREFIX and install what they say.
set -u
build=${1:-build}
pass=0 fail=0
check() { name=$1; shift
    if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); echo "ok   $name"
    else fail=$((fail + 1)); echo "FAIL $name"; fi; }
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
make --no-print-directory -s BUILD="$build" DESTDIR="$dest" PREFIX=/opt/rt ONCALL_GROUP=sre-oncall install >/dev/null 2>&1
check "ratchetctl installed under DESTDIR/PREFIX/bin" test -x "$dest/opt/rt/bin/ratchetctl"
check "installed ratchetctl runs" "$dest/opt/rt/bin/ratchetctl" policy show
check "default policy installed" cmp "$dest/opt/rt/share/ratchet/default-policy.json" policy/default-policy.json
check "reason-code registry installed" cmp "$dest/opt/rt/share/ratchet/reason-codes.json" policy/reason-codes.json
check "nothing installed outside DESTDIR/PREFIX" test "$(ls "$dest")" = opt
check "units installed, ExecStart pointing at PREFIX" grep -q "^ExecStart=/opt/rt/sbin/ratchet-watchdog" "$dest/opt/rt/lib/systemd/system/ratchet-watchdog.service"
check "enforcer socket unit installed" test -f "$dest/opt/rt/lib/systemd/system/ratchet-enforcer.socket"
check "sysusers and tmpfiles installed" test -f "$dest/opt/rt/lib/sysusers.d/ratchet.conf" -a -f "$dest/opt/rt/lib/tmpfiles.d/ratchet.conf"
check "polkit rule installed with the configured on-call group" grep -q 'ONCALL_GROUP = "sre-oncall"' "$dest/opt/rt/share/polkit-1/rules.d/00-ratchet-oncall.rules"
check "man pages installed and render" sh -c "man -l '$dest/opt/rt/share/man/man8/ratchet-enforcer.8' >/dev/null && test -f '$dest/opt/rt/share/man/man1/ratchetctl.1' && test -f '$dest/opt/rt/share/man/man5/ratchet-policy.5'"
make --no-print-directory -s BUILD="$build" DESTDIR="$dest" PREFIX=/opt/rt uninstall >/dev/null 2>&1
check "uninstall removes every file" test -z "$(find "$dest" -type f)"
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
