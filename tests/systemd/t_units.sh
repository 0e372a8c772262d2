#!/bin/sh
# The systemd units, sysusers/tmpfiles files, polkit rule, example configs
# and man pages, checked offline (no running systemd needed).
# Usage: tests/systemd/t_units.sh BUILD_DIR   (run from the repository root)
#
# How the units are verified: they name /usr/sbin/ratchet-*, which do not
# exist on a build machine. systemd-analyze (252) takes --root=DIR for both
# `verify` and `security --offline=true`, and then looks for unit files and
# for the ExecStart= binaries under DIR; so each run builds a temporary root
# with the units in usr/lib/systemd/system and the freshly built daemons in
# usr/sbin. Documentation=man:... is checked by `verify` with `man`, pointed
# at this tree's pages through MANPATH. `verify` exits 0 even for unknown
# keys (RefuseManualStop= in [Service] is one), so any output is a failure.
#
# Needs: systemd (systemd-analyze, systemd-sysusers, systemd-tmpfiles),
# man-db and groff-base, python3.
set -u
build=${1:-build}
pass=0 fail=0
ok()   { pass=$((pass + 1)); echo "ok   $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
skip() { echo "skip $1"; }
check() { name=$1; shift
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi; }

sd=systemd
units="ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket ratchet.slice"
tmp=$(mktemp -d)
# As root the enforcer sets the append-only attribute on its log (chattr +a).
trap 'chattr -a "$tmp"/run/state/* 2>/dev/null; rm -rf "$tmp"' EXIT
export LC_ALL=C.UTF-8 MANWIDTH=80 SYSTEMD_PAGER='' SYSTEMD_COLORS=0

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles man python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        bad "tool $tool is installed (apt-get install systemd man-db groff-base python3)"
    fi
done
for b in ratchet-watchdog ratchet-enforcer ratchetctl; do
    [ -x "$build/$b" ] || bad "$build/$b is built (make BUILD=$build all)"
done

# ---- a temporary root: units, daemons, man pages ----
root=$tmp/root
mkdir -p "$root/usr/lib/systemd/system" "$root/usr/sbin" "$tmp/man/man1" "$tmp/man/man5" "$tmp/man/man8"
for u in $units; do cp "$sd/$u" "$root/usr/lib/systemd/system/"; done
cp "$build/ratchet-watchdog" "$build/ratchet-enforcer" "$root/usr/sbin/" 2>/dev/null
for m in man/*.[158]; do cp "$m" "$tmp/man/man${m##*.}/"; done

# verify_in ROOT UNIT: exit status 0 and not one line of output.
verify_in() {
    out=$(MANPATH=$tmp/man systemd-analyze verify --root="$1" "$2" 2>&1)
    st=$?
    [ "$st" -eq 0 ] && [ -z "$out" ] && return 0
    printf 'exit %s\n%s\n' "$st" "$out"
    return 1
}
for u in $units; do
    check "systemd-analyze verify $u: clean" verify_in "$root" "$u"
done

# The harness itself must catch the classic mistake: RefuseManualStop= in
# [Service], where systemd ignores it with a warning and exit status 0.
broken=$tmp/broken
mkdir -p "$broken/usr/lib/systemd/system" "$broken/usr/sbin"
cp "$root/usr/sbin/"* "$broken/usr/sbin/" 2>/dev/null
sed '/^RefuseManualStop=/d; s/^\[Service\]$/[Service]\nRefuseManualStop=yes/' "$sd/ratchet-watchdog.service" \
    >"$broken/usr/lib/systemd/system/ratchet-watchdog.service"
if verify_in "$broken" ratchet-watchdog.service >/dev/null; then
    bad "verify harness reports RefuseManualStop= misplaced in [Service]"
else
    ok "verify harness reports RefuseManualStop= misplaced in [Service]"
fi

# ---- exposure scores ----
# exposure UNIT LIMIT_TENTHS: the overall exposure must be <= LIMIT.
exposure() {
    out=$(systemd-analyze security --offline=true --root="$root" --threshold="$2" "$1" 2>&1)
    st=$?
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\)\.\([0-9]\).*/\1\2/p')
    if [ -z "$score" ]; then
        printf 'no overall exposure in the output (exit %s):\n%s\n' "$st" "$out"
        return 1
    fi
    tenths=${score#0}
    echo "exposure of $1: $((tenths / 10)).$((tenths % 10))"
    if [ "$tenths" -gt "$2" ] || [ "$st" -ne 0 ]; then
        printf '%s\n' "$out" | grep -a '✗'
        return 1
    fi
}
check "exposure of ratchet-enforcer.service <= 1.0" exposure ratchet-enforcer.service 10
check "exposure of ratchet-watchdog.service <= 1.5" exposure ratchet-watchdog.service 15
for u in ratchet-enforcer.service ratchet-watchdog.service; do
    exposure "$u" 100 2>/dev/null | sed -n 's/^/     /p'   # the scores, for the log
done

# ---- what must be where in the units ----
# in_section FILE SECTION: the KEY=VALUE lines of [SECTION].
in_section() { awk -v s="[$2]" '/^\[/ { cur = $0; next } cur == s && /^[A-Za-z]/' "$1"; }
has() { in_section "$sd/$1" "$2" | grep -qx "$3"; }
has_key() { in_section "$sd/$1" "$2" | grep -q "^$3="; }
for u in ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket; do
    check "$u: RefuseManualStop=yes in [Unit]" has "$u" Unit RefuseManualStop=yes
    check "$u: StartLimitIntervalSec=0 in [Unit]" has "$u" Unit StartLimitIntervalSec=0
    check "$u: IgnoreOnIsolate=yes in [Unit]" has "$u" Unit IgnoreOnIsolate=yes
    # Requires=/BindsTo=/PartOf= would let a stop of another unit stop ours
    # without polkit hearing of ours; the default dependencies add
    # Requires=sysinit.target, which starting emergency.target stops.
    check "$u: DefaultDependencies=no, ordering only" has "$u" Unit DefaultDependencies=no
    check "$u: no Requires=, BindsTo=, PartOf=, Requisite=" \
        sh -c "! grep -Eq '^(Requires|BindsTo|PartOf|Requisite)=' '$sd/$u'"
    check "$u: Conflicts=shutdown.target (stops at shutdown)" has "$u" Unit Conflicts=shutdown.target
done
check "ratchet.slice: RefuseManualStop=yes in [Unit]" has ratchet.slice Unit RefuseManualStop=yes
for s in watchdog enforcer; do
    u=ratchet-$s.service
    check "$u: Type=notify" has "$u" Service Type=notify
    check "$u: WatchdogSec=10s" has "$u" Service WatchdogSec=10s
    check "$u: Restart=always" has "$u" Service Restart=always
    check "$u: User=ratchet-$s (not DynamicUser)" sh -c \
        "grep -qx 'User=ratchet-$s' '$sd/$u' && ! grep -q '^DynamicUser=' '$sd/$u'"
    check "$u: runs in ratchet.slice" has "$u" Service Slice=ratchet.slice
    check "$u: ExecStart reads /etc/ratchet/$s.json" \
        has "$u" Service "ExecStart=/usr/sbin/ratchet-$s --config /etc/ratchet/$s.json"
    check "$u: empty CapabilityBoundingSet=" has "$u" Service CapabilityBoundingSet=
    check "$u: StateDirectory=ratchet-$s" has "$u" Service StateDirectory=ratchet-$s
done
e=ratchet-enforcer.service
check "$e: no PrivateUsers= (SO_PEERCRED)" sh -c "! grep -Eq '^[[:space:]]*PrivateUsers=' '$sd/$e'"
check "$e: PrivateNetwork=yes" has "$e" Service PrivateNetwork=yes
check "$e: AF_UNIX only" has "$e" Service RestrictAddressFamilies=AF_UNIX
check "$e: UMask=0022 (world-readable log)" has "$e" Service UMask=0022
check "$e: StateDirectoryMode=0755" has "$e" Service StateDirectoryMode=0755
check "$e: LoadCredential=signing-key:/etc/ratchet/enforcer.key" \
    has "$e" Service LoadCredential=signing-key:/etc/ratchet/enforcer.key
check "$e: no RuntimeDirectory= (it would delete the socket)" sh -c "! grep -q '^RuntimeDirectory' '$sd/$e'"
w=ratchet-watchdog.service
check "$w: AF_INET AF_INET6 AF_UNIX" has "$w" Service "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
check "$w: no PrivateNetwork (it needs the network)" sh -c "! grep -q '^PrivateNetwork=' '$sd/$w'"
# ProcSubset=pid hides /proc/sys/kernel/random/boot_id, which the window
# store uses to tell a restart from a reboot.
check "$w: no ProcSubset=pid (boot_id must stay readable)" sh -c "! grep -q '^ProcSubset=' '$sd/$w'"
k=ratchet-enforcer.socket
check "$k: ListenStream=/run/ratchet-enforcer/enforcer.sock" has "$k" Socket ListenStream=/run/ratchet-enforcer/enforcer.sock
check "$k: SocketUser=ratchet-enforcer" has "$k" Socket SocketUser=ratchet-enforcer
check "$k: SocketGroup=ratchet-watchdog" has "$k" Socket SocketGroup=ratchet-watchdog
check "$k: SocketMode=0660" has "$k" Socket SocketMode=0660

# ---- example configurations for the installed layout ----
wex=examples/watchdog.systemd.json eex=examples/enforcer.systemd.json
jget() { python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1" "$2"; }
same() { [ "$1" = "$2" ] || { echo "\"$1\" != \"$2\""; return 1; }; }
check "$wex: state_dir is the unit's StateDirectory" same "$(jget $wex state_dir)" /var/lib/ratchet-watchdog
check "$eex: state_dir is the unit's StateDirectory" same "$(jget $eex state_dir)" /var/lib/ratchet-enforcer
check "$wex: enforcer.socket is the socket unit's ListenStream" \
    same "$(jget $wex enforcer.socket)" "$(in_section $sd/$k Socket | sed -n 's/^ListenStream=//p')"
check "$wex: control_plane.log_dir is the enforcer's state_dir" \
    same "$(jget $wex control_plane.log_dir)" "$(jget $eex state_dir)"
check "$eex: key.credential is LoadCredential's name" \
    same "$(jget $eex key.credential)" "$(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' $sd/$e)"
check "$eex: no \"socket\" (socket activation)" same "$(jget $eex socket)" ""
check "$eex: allowed_peers.uids is the watchdog's user" same "$(jget $eex allowed_peers.uids)" "['ratchet-watchdog']"
# Both must pass the daemons' own --check-config. The host has no ratchet
# users and no /etc/ratchet/policy.json: use this user and the repository's
# default policy instead.
sed "s|/etc/ratchet/policy.json|$PWD/policy/default-policy.json|" $wex >"$tmp/watchdog.json"
sed "s|/etc/ratchet/policy.json|$PWD/policy/default-policy.json|; s|\"ratchet-watchdog\"|\"$(id -un)\"|" \
    $eex >"$tmp/enforcer.json"
check "$wex passes ratchet-watchdog --check-config" "$build/ratchet-watchdog" --config "$tmp/watchdog.json" --check-config
check "$eex passes ratchet-enforcer --check-config" "$build/ratchet-enforcer" --config "$tmp/enforcer.json" --check-config

# The enforcer, started as its units start it: socket passed by "systemd"
# (no "socket" in the configuration), key from $CREDENTIALS_DIRECTORY, the
# sd_notify protocol (READY=1, WATCHDOG=1 under WATCHDOG_USEC, STATUS=,
# STOPPING=1 on SIGTERM, exit 0). notify_run.py plays systemd's part.
run=$tmp/run
mkdir -p "$run/state" "$run/creds" && chmod 0755 "$run/state" && chmod 0700 "$run/creds"
"$build/ratchetctl" keygen --out "$run/creds" --name k >/dev/null 2>&1 && mv "$run/creds/k.key" "$run/creds/signing-key"
sed "s|/var/lib/ratchet-enforcer|$run/state|" "$tmp/enforcer.json" >"$run/enforcer.json"
python3 tests/systemd/notify_run.py "$run/enforcer.sock" "$run/creds" 20 -- \
    "$build/ratchet-enforcer" --config "$run/enforcer.json" >"$run/events" 2>"$run/stderr"
event() { grep -qx "$1" "$run/events" || { cat "$run/events" "$run/stderr"; return 1; }; }
check "enforcer (example config, socket from systemd, credential key) sends READY=1" event ready
check "enforcer sends WATCHDOG=1 under WATCHDOG_USEC" event watchdog
check "enforcer sends STATUS=" grep -q "^status .*records" "$run/events"
check "enforcer accepts a connection on the passed socket" event "connect ok"
check "enforcer sends STOPPING=1 on SIGTERM and exits 0" sh -c "grep -qx stopping '$run/events' && grep -qx 'exit 0' '$run/events'"
check "enforcer wrote its log into the state directory" test -s "$run/state/commands.log"

# ---- sysusers and tmpfiles ----
sys=$tmp/sysroot
mkdir -p "$sys/etc"
# A relative path would be taken inside --root.
check "ratchet.sysusers applies (systemd-sysusers --root)" systemd-sysusers --root="$sys" "$PWD/$sd/ratchet.sysusers"
user_ok() { line=$(grep "^$1:" "$sys/etc/passwd") || { echo "no user $1"; return 1; }
    uid=$(echo "$line" | cut -d: -f3); shell=$(echo "$line" | cut -d: -f7)
    [ "$shell" = /usr/sbin/nologin ] || { echo "shell $shell"; return 1; }
    if [ "$uid" -le 0 ] || [ "$uid" -ge 1000 ]; then echo "uid $uid is not a system uid"; return 1; fi
    grep -q "^$1:" "$sys/etc/group" || { echo "no group $1"; return 1; }; }
for n in ratchet-watchdog ratchet-enforcer; do
    check "sysusers: system user and group $n, no login" user_ok $n
done
# Every User=, Group=, SocketUser=, SocketGroup= of the units comes from it.
for n in $(sed -n 's/^\(User\|Group\|SocketUser\|SocketGroup\)=//p' $sd/*.service $sd/*.socket | sort -u); do
    check "sysusers creates $n, which a unit names" grep -q "^u[[:space:]]\+${n}[[:space:]]" "$sd/ratchet.sysusers"
done
if [ "$(id -u)" -eq 0 ]; then
    # Owners by number: the names are those of the temporary root, not the host's.
    gid_of() { sed -n "s/^$1:[^:]*:\([0-9]*\):.*/\1/p" "$sys/etc/group"; }
    mode_of() { stat -c '%a %u %g' "$sys$1" 2>&1; }
    check "ratchet.tmpfiles applies (systemd-tmpfiles --root)" \
        systemd-tmpfiles --root="$sys" --create "$PWD/$sd/ratchet.tmpfiles"
    check "tmpfiles: /etc/ratchet 755 root root" same "$(mode_of /etc/ratchet)" "755 0 0"
    check "tmpfiles: /etc/ratchet/secrets 750 root ratchet-watchdog" \
        same "$(mode_of /etc/ratchet/secrets)" "750 0 $(gid_of ratchet-watchdog)"
    printf 'k\n' >"$sys/etc/ratchet/enforcer.key" && chmod 0644 "$sys/etc/ratchet/enforcer.key"
    systemd-tmpfiles --root="$sys" --create "$PWD/$sd/ratchet.tmpfiles" >/dev/null 2>&1
    check "tmpfiles: a loose enforcer.key is put back to 400 root root" \
        same "$(mode_of /etc/ratchet/enforcer.key)" "400 0 0"
else
    skip "ratchet.tmpfiles (needs root to create files owned by other users)"
fi

# ---- the polkit rule (static checks; polkit's JavaScript is not run here) ----
rule=$sd/00-ratchet-oncall.rules
check "polkit rule file name starts with 00- (polkit sorts rules by name)" test -f "$rule"
check "polkit rule never says YES or asks for authentication" \
    sh -c "! grep -Eq 'Result\\.(YES|AUTH_)' '$rule'"
check "polkit rule: on-call group \"oncall\" on one line (install may rewrite it)" \
    test "$(grep -c '^ *var ONCALL_GROUP = "oncall";$' "$rule")" -eq 1
check "polkit rule: nobody outside the group is decided" grep -q 'if (!subject.isInGroup(ONCALL_GROUP))' "$rule"
for u in $(cd $sd && ls -- *.service *.socket *.slice); do
    check "polkit rule protects $u" grep -q "\"$u\"" "$rule"
done
for d in $(sed -n 's/^StateDirectory=/\/var\/lib\//p' $sd/*.service) /run/ratchet-enforcer /etc/ratchet; do
    check "polkit rule protects the mounts above $d" grep -q "\"$d\"" "$rule"
done
for a in systemd1.manage-units systemd1.manage-unit-files systemd1.reload-daemon policykit.exec; do
    check "polkit rule decides org.freedesktop.$a" grep -q "\"org.freedesktop.$a\"" "$rule"
done
check "polkit rule decides login1 power actions" grep -q 'login1\\.(power-off|reboot|halt|suspend' "$rule"
check "polkit rule decides on the unit detail" grep -q 'action.lookup("unit")' "$rule"
# Comments stripped first (the rule has no "//" inside strings or regexes).
check "polkit rule is ES5 (polkit's duktape): no =>, let, const, class, \`" \
    sh -c "! sed 's|//.*||' '$rule' | grep -Eq '=>|(^|[^A-Za-z_])(let|const|class) |\`'"

# ---- man pages ----
for m in man/*.[158]; do
    render() { out=$(man --warnings -l "$1" 2>&1 >/dev/null); st=$?
        [ "$st" -eq 0 ] && [ -z "$out" ] || { printf 'exit %s\n%s\n' "$st" "$out"; return 1; }; }
    check "$m renders without warnings" render "$m"
    b=$(basename "$m"); n=${b%.*}; s=${b##*.}
    check "$m: .TH names it" grep -qi "^\.TH $n $s " "$m"
done
# documented(PAGE, OPTION): "--foo" appears as \-\-foo in the roff source.
documented() { grep -qF -- "$(printf '%s' "$2" | sed 's/-/\\-/g')" "$1"; }
for c in $("$build/ratchetctl" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p'); do
    check "ratchetctl.1 documents \"$c\"" grep -q "^\.SS $c" man/ratchetctl.1
    for o in $("$build/ratchetctl" "$c" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        check "ratchetctl.1 documents $c $o" documented man/ratchetctl.1 "$o"
    done
done
for sub in verify show; do
    check "ratchetctl.1 documents log $sub" grep -q "^\.SS log $sub" man/ratchetctl.1
done
for dmn in ratchet-watchdog ratchet-enforcer; do
    for o in $("$build/$dmn" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u) --help; do
        check "$dmn.8 documents $o" documented "man/$dmn.8" "$o"
    done
done

echo "t_units: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
