#!/bin/sh
# The proof, on a real systemd, that on-call cannot disable demotion.
#
# Usage (as root, from anywhere): tests/systemd/t_systemd.sh BUILD_DIR
#
# 1. Builds (once, cached as BUILD_DIR/systemd-root-HASH.tar) a Debian
#    bookworm root with debootstrap, from the mirror apt already uses here
#    (about a minute; the whole test takes about 30 s with the cache).
# 2. Unpacks a copy, installs ratchet into it (`make install DESTDIR=...`,
#    plus whatever install does not ship yet), and boots its systemd as PID 1
#    in new PID, mount, UTS, network and cgroup namespaces (pivot_root, so
#    the units' sandboxing really applies), driven with nsenter.
# 3. Checks the sandbox, Type=notify and WatchdogSec=, that a member of
#    group oncall cannot stop, kill, mask, reconfigure or outvote ratchet even
#    with the common broad site polkit rule in place (while the same rule lets
#    them manage an unrelated unit), the file and socket permissions, the
#    enforcer's SO_PEERCRED check, and a real demotion end to end.
# Root can always disable ratchet: those lines are printed as "info", not
# checked.
#
# Environment: RATCHET_DEBIAN_MIRROR overrides the mirror; IT_KEEP=1 keeps
# the run directory (the booted root's files and the logs).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
cd "$SRC" || exit 1
. tests/integration/lib.sh

SUITE=$(basename "$0" .sh)
skip() { echo "skip: $*"; echo "$SUITE: 0 passed, 0 failed"; exit 0; }
info() { echo "info $*"; }
it_not() { # it_not NAME CMD...: ok when CMD fails
    name=$1; shift
    if "$@" >/dev/null 2>&1; then it_bad "$name"; else it_ok "$name"; fi
}

[ "$(id -u)" = 0 ] || skip "needs root: it boots systemd as PID 1 in new namespaces"
for c in unshare nsenter; do
    command -v "$c" >/dev/null 2>&1 || skip "$c (util-linux) is not installed"
done
probe=$(mktemp -d /tmp/ratchet-nsprobe.XXXXXX)
if ! unshare --pid --fork --mount --uts --net sh -c \
        'mount --make-rprivate / && mount -t tmpfs none "$1" && mkdir "$1/old" && cd "$1" && pivot_root . old' \
        sh "$probe" >/dev/null 2>&1; then
    rmdir "$probe"
    skip "unshare (pid, mount, uts, net namespaces) or pivot_root is not possible here"
fi
rmdir "$probe"

# ---- 1. the cached Debian root ---------------------------------------------

# Everything the test runs inside the root; a change here rebuilds the cache.
ROOT_PACKAGES=systemd,systemd-sysv,libpam-systemd,dbus,polkitd,pkexec,libevent-2.1-7,libevent-openssl-2.1-7,libcurl4,libjansson4,libssl3,openssl,procps,e2fsprogs,python3,curl
ROOT_STAMP="ratchet systemd test root 1: bookworm minbase $ROOT_PACKAGES"
# A tar file, not a directory: `make` includes every "*.d" it finds under
# BUILD_DIR, and a Debian root is full of such directories (etc/rc2.d ...).
# Its name carries a hash of what is in it.
CACHE_DIR=$BUILD
CACHE=$CACHE_DIR/systemd-root-$(printf '%s' "$ROOT_STAMP" | sha256sum | cut -c1-12).tar
CACHE_TMP=""
SD=""
UNSHARE_PID=""
CGROUP_DIR=""
tar_root() { tar --numeric-owner --xattrs '--xattrs-include=*' "$@"; }

# The Debian mirror apt uses here (deb822 .sources or one-line .list).
debian_mirror() {
    if [ -n "${RATCHET_DEBIAN_MIRROR:-}" ]; then echo "$RATCHET_DEBIAN_MIRROR"; return; fi
    m=$(for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && cat "$f" && echo; done | awk '
        /^[ \t]*$/ { if (u != "" && s ~ / bookworm /) { print u; exit } u = ""; s = ""; next }
        tolower($1) == "uris:"   { u = $2 }
        tolower($1) == "suites:" { $1 = ""; s = $0 " " }
        END { if (u != "" && s ~ / bookworm /) print u }' | head -n 1)
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed -nE 's/^deb[ \t]+(\[[^]]*\][ \t]+)?([^ \t]+)[ \t]+bookworm[ \t].*/\2/p' | head -n 1)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# Built with debootstrap in the run directory, packed, and renamed into
# place when complete: a half-built cache is never used. debootstrap's own
# mounts live in a private mount namespace.
ensure_cache() {
    if [ -f "$CACHE" ]; then
        echo "using the cached root $CACHE"
        return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || { echo "debootstrap is not installed (apt-get install debootstrap)"; return 1; }
    mkdir -p "$CACHE_DIR" || return 1
    # Leftovers of runs killed before their trap ran (their pid is gone).
    for t in "$CACHE_DIR"/systemd-root-*.tar.tmp.*; do
        [ -f "$t" ] && ! kill -0 "${t##*.}" 2>/dev/null && rm -f "$t"
    done
    mirror=$(debian_mirror)
    echo "building the Debian root (debootstrap bookworm from $mirror, about a minute)"
    boot_root=$IT_DIR/debootstrap-root
    if ! unshare --mount --propagation private debootstrap --variant=minbase --include="$ROOT_PACKAGES" \
            bookworm "$boot_root" "$mirror" >"$IT_DIR/debootstrap.log" 2>&1; then
        tail -n 20 "$IT_DIR/debootstrap.log"
        [ -f "$boot_root/debootstrap/debootstrap.log" ] && tail -n 20 "$boot_root/debootstrap/debootstrap.log"
        return 1
    fi
    rm -f "$boot_root"/var/cache/apt/archives/*.deb
    echo "$ROOT_STAMP" >"$boot_root/.ratchet-root-stamp"
    CACHE_TMP=$CACHE.tmp.$$
    tar_root -C "$boot_root" -cf "$CACHE_TMP" . || return 1
    rm -rf "$boot_root"
    for t in "$CACHE_DIR"/systemd-root-*.tar; do   # caches of other package lists
        [ "$t" = "$CACHE" ] || rm -f "$t"
    done
    mv "$CACHE_TMP" "$CACHE" && CACHE_TMP=""
}

# ---- 2. boot, drive, stop ---------------------------------------------------

# Inside the new namespaces: the reference recipe (bind the root, pivot_root,
# exec systemd), hardened so that nothing the booted system does reaches the
# host, as systemd-nspawn does it:
# - /dev is a tmpfs of its own with fresh device nodes: with the host's /dev
#   bound in, the root's systemd creates /dev/log, /dev/initctl and mount
#   points on the host, and a getty on /dev/console chmods the host's node;
# - /proc/sys, /proc/sysrq-trigger and /sys are read-only (sysctl settings
#   are the host kernel's);
# - a cgroup2 of its own (a subtree of ours, with a cgroup namespace), so
#   systemd never manages the host's cgroup roots;
# - the network namespace has only its loopback (systemd brings it up), so
#   port 8470 inside never meets the host's;
# - "/" is made shared again after pivot_root, as PID 1 expects (it does not
#   do it itself in a container): without it LoadCredential= hands services an
#   empty, unreadable directory.
BOOT_SCRIPT='set -e
root=$1 own_cgroup=$2
mount --make-rprivate /
mount --bind "$root" "$root"
cd "$root"
mount -t proc -o nosuid,nodev,noexec proc proc
for f in sys sysrq-trigger; do
    [ -e "proc/$f" ] || continue
    mount --bind "proc/$f" "proc/$f"
    mount -o remount,bind,ro "proc/$f"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs sys
if [ "$own_cgroup" = 1 ]; then
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 sys/fs/cgroup
else
    mount --rbind /sys/fs/cgroup sys/fs/cgroup
fi
mount -t tmpfs -o mode=755,nosuid,size=4m tmpfs dev
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    d=${n#*:}
    mknod -m 666 "dev/${n%%:*}" c "${d%:*}" "${d#*:}"
done
mknod -m 600 dev/console c 1 3
mkdir -m 755 dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts dev/pts
ln -s pts/ptmx dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm
ln -s /proc/self/fd dev/fd
ln -s /proc/self/fd/0 dev/stdin
ln -s /proc/self/fd/1 dev/stdout
ln -s /proc/self/fd/2 dev/stderr
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs tmp
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
mount --make-rshared /
cd /
export container=other
exec /lib/systemd/systemd --system'

boot() {
    own=0
    cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
    cur=$(sed -n 's/^0:://p' /proc/self/cgroup)
    if [ -n "$cg2" ] && [ -n "$cur" ] && mkdir "$cg2${cur%/}/ratchet-systemd-test.$$" 2>/dev/null; then
        CGROUP_DIR=$cg2${cur%/}/ratchet-systemd-test.$$
        own=1
        sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CGROUP_DIR" \
            unshare --cgroup --pid --fork --mount --uts --net sh -c "$BOOT_SCRIPT" sh "$ROOT" 1 \
            >"$IT_DIR/boot.log" 2>&1 &
    else
        unshare --pid --fork --mount --uts --net sh -c "$BOOT_SCRIPT" sh "$ROOT" 0 >"$IT_DIR/boot.log" 2>&1 &
    fi
    UNSHARE_PID=$!
    [ "$own" = 1 ] || info "no cgroup2 of our own: systemd shares the host's cgroup roots (as in the reference recipe)"
}

# systemd's pid on the host: unshare --fork's only child, once it is systemd.
find_systemd() {
    SD=$(tr -d ' ' <"/proc/$UNSHARE_PID/task/$UNSHARE_PID/children" 2>/dev/null)
    [ -n "$SD" ] && [ "$(cat "/proc/$SD/comm" 2>/dev/null)" = systemd ]
}
# ... or the boot script gave up.
systemd_or_gone() { find_systemd || ! kill -0 "$UNSHARE_PID" 2>/dev/null; }

# Run a command inside the booted root, as root, with a clean environment and
# a time limit (IN_ROOT_TIMEOUT seconds), enforced from outside with SIGKILL:
# a system shutting down can leave nsenter stopped forever.
in_root() {
    timeout -s KILL "${IN_ROOT_TIMEOUT:-30}" nsenter --target "$SD" --mount --pid --uts --net --root --wd \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
# The same as a member of group oncall (user oncall, primary group oncall).
as_oncall() { in_root setpriv --reuid=oncall --regid=oncall --init-groups "$@"; }
as_user() { u=$1; shift; in_root setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
sctl() { in_root systemctl --no-pager "$@"; }
oncall_sctl() { as_oncall systemctl --no-pager --no-ask-password "$@"; }
prop() { sctl show -P "$2" -- "$1" 2>/dev/null; }

# SIGKILL to PID 1 of the namespace kills every process in it (SIGTERM would
# make systemd re-execute); the mounts go with the mount namespace. Then the
# cgroup subtree systemd made is removed.
# (The namespace goes only when every process in it is reaped, and a
# process entered with nsenter is reaped by nsenter, outside: those of ours
# still there are killed too.)
our_nsenters() {
    for st in /proc/[0-9]*/stat; do
        read -r pid comm _ ppid _ <"$st" 2>/dev/null || continue
        [ "$comm" = "(nsenter)" ] || continue
        p=$ppid
        while [ -n "$p" ] && [ "$p" -gt 1 ]; do
            [ "$p" = "$$" ] && { echo "$pid"; break; }
            p=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null)
        done
    done
}
cleanup() {
    if [ -n "$SD" ]; then kill -9 "$SD" 2>/dev/null; fi
    if [ -n "$UNSHARE_PID" ]; then
        i=0
        while kill -0 "$UNSHARE_PID" 2>/dev/null && [ $i -lt 50 ]; do
            [ $i = 20 ] && for p in $(our_nsenters); do kill -9 "$p" 2>/dev/null; done
            i=$((i + 1)); sleep 0.1
        done
        kill -9 "$UNSHARE_PID" 2>/dev/null
        wait "$UNSHARE_PID" 2>/dev/null
    fi
    if [ -n "$CGROUP_DIR" ] && [ -d "$CGROUP_DIR" ]; then
        i=0
        while [ $i -lt 50 ] && ! find "$CGROUP_DIR" -depth -type d -exec rmdir {} + 2>/dev/null; do
            i=$((i + 1)); sleep 0.1
        done
        [ -d "$CGROUP_DIR" ] && echo "warning: could not remove $CGROUP_DIR"
    fi
    [ -n "$CACHE_TMP" ] && rm -f "$CACHE_TMP"
    it_cleanup
}

it_setup
trap cleanup EXIT

if ! ensure_cache; then
    it_bad "a Debian bookworm root could be built with debootstrap"
    it_finish; exit 1
fi

ROOT=$IT_DIR/root
mkdir "$ROOT"
tar_root -C "$ROOT" -xpf "$CACHE"
# Gettys would fight over consoles that are not this root's.
for u in getty.target console-getty.service getty@.service serial-getty@.service; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done

# ---- install ratchet into the root -------------------------------------------

UNITDIR=$ROOT/usr/lib/systemd/system
if make -C "$SRC" --no-print-directory install DESTDIR="$ROOT" PREFIX=/usr BUILD="$BUILD" \
        >"$IT_DIR/install.log" 2>&1; then
    it_ok "make install DESTDIR=<root> PREFIX=/usr"
else
    it_bad "make install DESTDIR=<root> PREFIX=/usr (see below)"
    tail -n 20 "$IT_DIR/install.log"
fi

# install_missing SRC DEST MODE: what make install should have installed
# and did not is copied here, and said on an "info" line (install does not
# ship the systemd files yet). A file install put there is used as installed.
install_missing() {
    if [ -e "$2" ]; then return 0; fi
    mkdir -p "$(dirname "$2")"
    install -m "$3" "$1" "$2"
    info "make install did not install ${2#"$ROOT"}; the test copied $1"
}
# present FILE...: the first that exists, or "" (names not settled yet).
present() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; echo ""; }

install_missing "$BUILD/ratchet-watchdog" "$ROOT/usr/sbin/ratchet-watchdog" 0755
install_missing "$BUILD/ratchet-enforcer" "$ROOT/usr/sbin/ratchet-enforcer" 0755
install_missing "$BUILD/ratchetctl" "$ROOT/usr/bin/ratchetctl" 0755
for u in ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket; do
    if [ -f "systemd/$u" ]; then
        install_missing "systemd/$u" "$UNITDIR/$u" 0644
    else
        it_bad "systemd/$u is in the repository"
    fi
done
for u in systemd/*.slice systemd/*.target systemd/*.timer systemd/*.path; do
    [ -f "$u" ] && install_missing "$u" "$UNITDIR/$(basename "$u")" 0644
done
sysusers=$(present systemd/ratchet.sysusers systemd/ratchet-sysusers.conf systemd/sysusers.d/ratchet.conf)
if [ -n "$sysusers" ]; then
    install_missing "$sysusers" "$ROOT/usr/lib/sysusers.d/ratchet.conf" 0644
    it_ok "the sysusers file ships ($sysusers)"
else
    it_bad "a sysusers file ships in systemd/ (ratchet.sysusers); the test uses its own so the rest can run"
    mkdir -p "$ROOT/usr/lib/sysusers.d"
    printf '%s\n' 'u ratchet-watchdog - "ratchet watchdog" /var/lib/ratchet-watchdog' \
        'u ratchet-enforcer - "ratchet enforcer" /var/lib/ratchet-enforcer' >"$ROOT/usr/lib/sysusers.d/ratchet.conf"
fi
tmpfiles=$(present systemd/ratchet.tmpfiles systemd/ratchet-tmpfiles.conf systemd/tmpfiles.d/ratchet.conf)
[ -n "$tmpfiles" ] && install_missing "$tmpfiles" "$ROOT/usr/lib/tmpfiles.d/ratchet.conf" 0644
guards=""
for r in systemd/*.rules systemd/polkit/*.rules systemd/rules.d/*.rules; do
    [ -f "$r" ] || continue
    install_missing "$r" "$ROOT/usr/share/polkit-1/rules.d/$(basename "$r")" 0644
    guards="$guards $(basename "$r")"
done
if [ -n "$guards" ]; then
    it_ok "a polkit rule ships in systemd/:$guards"
else
    it_bad "a polkit rule (00-ratchet-oncall.rules) ships in systemd/"
fi

# What the installed units say, so the test follows them.
enf_unit=$UNITDIR/ratchet-enforcer.service
sock_unit=$UNITDIR/ratchet-enforcer.socket
CRED_NAME=$(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' "$enf_unit" 2>/dev/null | head -n 1)
KEY_PATH=$(sed -n 's/^LoadCredential=[^:]*:\(.*\)$/\1/p' "$enf_unit" 2>/dev/null | head -n 1)
SOCK=$(sed -n 's/^ListenStream=\(\/.*\)$/\1/p' "$sock_unit" 2>/dev/null | head -n 1)
it_check "the enforcer unit hands the key over with LoadCredential=" test -n "$CRED_NAME" -a -n "$KEY_PATH"
it_check "the socket unit listens on a path" test -n "$SOCK"
CRED_NAME=${CRED_NAME:-signing-key} KEY_PATH=${KEY_PATH:-/etc/ratchet/enforcer.key}
SOCK=${SOCK:-/run/ratchet-enforcer/enforcer.sock}
for u in ratchet-watchdog ratchet-enforcer; do
    it_check "$u.service reads /etc/ratchet/${u#ratchet-}.json" \
        grep -q "^ExecStart=.*--config /etc/ratchet/${u#ratchet-}.json" "$UNITDIR/$u.service"
done

# ---- boot ----------------------------------------------------------------------

boot
it_wait_for 20 systemd_or_gone
if ! find_systemd; then
    it_bad "systemd started as PID 1 of the new namespaces"; cat "$IT_DIR/boot.log"; it_finish; exit 1
fi
find_systemd
# systemctl reaches PID 1 through /run/systemd/private, which systemd creates
# some time after its exec. Asked before, systemctl answers at once, whatever
# --wait says: "offline" or "Failed to connect to bus" (seen on a busy
# machine, seconds after the exec). So: ask again until systemd answers.
system_state() {
    state=$(IN_ROOT_TIMEOUT=120 in_root systemctl is-system-running --wait 2>"$IT_DIR/is-running.err")
}
booted_or_gone() {
    system_state
    case $state in ''|offline) ! kill -0 "$SD" 2>/dev/null ;; *) true ;; esac
}
it_wait_for 120 booted_or_gone
case $state in
    running|degraded) it_ok "systemd booted as PID 1 (host pid $SD): $state" ;;
    *)
        it_bad "systemd booted as PID 1: '$state'"
        sed 's/^/    systemctl: /' "$IT_DIR/is-running.err"
        kill -0 "$SD" 2>/dev/null && echo "    (systemd, host pid $SD, is still running)"
        cat "$IT_DIR/boot.log"; it_finish; exit 1 ;;
esac
[ "$state" = degraded ] && sctl --failed --plain --no-legend | sed 's/^/info failed unit: /'

# ---- 3. what a package's postinst does, and the site's setup -----------------

it_check "systemd-sysusers creates the users" in_root systemd-sysusers
[ -f "$ROOT/usr/lib/tmpfiles.d/ratchet.conf" ] &&
    it_check "systemd-tmpfiles --create ratchet.conf" in_root systemd-tmpfiles --create /usr/lib/tmpfiles.d/ratchet.conf
for u in ratchet-watchdog ratchet-enforcer; do
    it_check "user $u exists (system uid)" in_root sh -c "test \$(id -u $u) -lt 1000"
done
it_check "on-call user created (user oncall, group oncall)" in_root useradd --create-home --user-group --shell /bin/sh oncall

# The common broad site rule: on-call may manage every unit and the machine.
cat >"$ROOT/etc/polkit-1/rules.d/50-site-oncall.rules" <<'EOF'
// Site rule: the on-call rota may manage services and the machine.
polkit.addRule(function(action, subject) {
    if (subject.isInGroup("oncall") &&
        (action.id.indexOf("org.freedesktop.systemd1.") == 0 ||
         action.id.indexOf("org.freedesktop.login1.") == 0)) {
        return polkit.Result.YES;
    }
});
EOF
chmod 644 "$ROOT/etc/polkit-1/rules.d/50-site-oncall.rules"

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$ROOT/etc/ratchet/secrets"
printf '%s\n' "$TOKEN" >"$ROOT/etc/ratchet/secrets/api-token"
cat >"$ROOT/etc/ratchet/policy.json" <<'EOF'
{"version": 1,
 "conditions": {"p0_alert": {"window": "5s", "max_evidence_age": "10m"}},
 "bots": {"beta": {"p0_alert": {"window": "1h"}}}}
EOF
BOTS='{"version":1,"bots":[{"id":"alpha","readiness":"general_live"},{"id":"beta","readiness":"general_live"}]}'
echo "$BOTS" >"$ROOT/etc/ratchet/bots.json"
cat >"$ROOT/etc/ratchet/watchdog.json" <<'EOF'
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": 8470}],
 "auth": {"bearer_token_file": "/etc/ratchet/secrets/api-token"},
 "policy_file": "/etc/ratchet/policy.json",
 "state_dir": "/var/lib/ratchet-watchdog",
 "bots": {"file": "/etc/ratchet/bots.json"},
EOF
printf ' "enforcer": {"socket": "%s"}}\n' "$SOCK" >>"$ROOT/etc/ratchet/watchdog.json"
cat >"$ROOT/etc/ratchet/enforcer.json" <<EOF
{"version": 1,
 "allowed_peers": {"uids": ["ratchet-watchdog"]},
 "state_dir": "/var/lib/ratchet-enforcer",
 "origin": "ratchet.test.invalid/commands",
 "key": {"credential": "$CRED_NAME"},
 "key_name": "ratchet-test",
 "policy_file": "/etc/ratchet/policy.json",
 "checkpoint_interval": "1h",
 "watchdog_silence": "1h"}
EOF
in_root sh -c "
    chmod 755 /etc/ratchet && chmod 644 /etc/ratchet/*.json
    chown root:ratchet-watchdog /etc/ratchet/secrets && chmod 750 /etc/ratchet/secrets
    chown ratchet-watchdog:ratchet-watchdog /etc/ratchet/secrets/api-token && chmod 400 /etc/ratchet/secrets/api-token
    (umask 077 && openssl genpkey -algorithm ed25519 -out '$KEY_PATH') && chmod 400 '$KEY_PATH'
    openssl pkey -in '$KEY_PATH' -pubout -out /etc/ratchet/enforcer.pub && chmod 644 /etc/ratchet/enforcer.pub"
it_check "enforcer key generated: $KEY_PATH, root, 0400" \
    in_root sh -c "test \"\$(stat -c %U:%a '$KEY_PATH')\" = root:400"
it_check "installed watchdog.json passes --check-config" \
    in_root ratchet-watchdog --check-config --config /etc/ratchet/watchdog.json
it_check "installed enforcer.json passes --check-config" \
    in_root ratchet-enforcer --check-config --config /etc/ratchet/enforcer.json
# The examples written for this layout must be valid on it too.
for ex in examples/*.systemd.json; do
    [ -f "$ex" ] || continue
    case $(basename "$ex") in watchdog.*) daemon=ratchet-watchdog ;; enforcer.*) daemon=ratchet-enforcer ;; *) continue ;; esac
    cp "$ex" "$ROOT/root/example.json"
    it_check "$ex passes $daemon --check-config on the installed system" \
        in_root "$daemon" --check-config --config /root/example.json
done
rm -f "$ROOT/root/example.json"
it_check "systemctl daemon-reload" sctl daemon-reload

# ---- b. READY=1 gates start-up ---------------------------------------------------
# The bot list is a FIFO at first: the watchdog blocks reading it, before
# READY=1, until the test writes the list. Meanwhile its process exists and
# systemd must still say "activating".
in_root sh -c 'mv /etc/ratchet/bots.json /etc/ratchet/bots.json.real && mkfifo -m 644 /etc/ratchet/bots.json'
it_check "ratchet-enforcer.socket started" sctl start ratchet-enforcer.socket
sctl start --no-block ratchet-watchdog.service
wd_main_pid_set() { p=$(prop ratchet-watchdog.service MainPID); [ -n "$p" ] && [ "$p" != 0 ]; }
it_check "the watchdog's process runs (MainPID set)" it_wait_for 20 wd_main_pid_set
gate_pid=$(prop ratchet-watchdog.service MainPID)
gate_state=$(prop ratchet-watchdog.service ActiveState)/$(prop ratchet-watchdog.service SubState)
it_check "before READY=1 systemd says activating/start (is $gate_state, pid $gate_pid)" test "$gate_state" = activating/start
it_not "... and the service is not yet serving" in_root curl -fsS --max-time 2 -o /dev/null http://127.0.0.1:8470/healthz
it_check "... and the enforcer has not been started by a connection" test "$(prop ratchet-enforcer.service ActiveState)" = inactive
# Hand the list over: open the FIFO (the watchdog is its reader), put the
# real file in its place, then write the list into the FIFO.
IN_ROOT_TIMEOUT=20 in_root sh -c 'exec 3>/etc/ratchet/bots.json && mv /etc/ratchet/bots.json.real /etc/ratchet/bots.json && cat /etc/ratchet/bots.json >&3'
wd_running() { test "$(prop ratchet-watchdog.service ActiveState)/$(prop ratchet-watchdog.service SubState)" = active/running; }
enf_running() { test "$(prop ratchet-enforcer.service ActiveState)/$(prop ratchet-enforcer.service SubState)" = active/running; }
it_check "after READY=1 the watchdog is active/running" it_wait_for 30 wd_running
it_check "... the same process that was held before READY (pid $gate_pid)" \
    test "$(prop ratchet-watchdog.service MainPID)" = "$gate_pid"
it_check "... and serving" in_root curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:8470/healthz
it_check "the enforcer was started by the watchdog's connection and is active/running" it_wait_for 30 enf_running
it_check "both units are Type=notify" \
    test "$(prop ratchet-watchdog.service Type)/$(prop ratchet-enforcer.service Type)" = notify/notify
connected() { in_root curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8470/api/v1/status |
              grep -q '"connected": *true'; }
it_check "the watchdog is connected to the enforcer" it_wait_for 20 connected

WD_PID=$(prop ratchet-watchdog.service MainPID)
ENF_PID=$(prop ratchet-enforcer.service MainPID)

# ---- a. sandbox and users ---------------------------------------------------------

sandbox_checks() { # UNIT USER PID
    if [ -z "$3" ] || [ "$3" = 0 ]; then it_bad "$1 has a main process"; return; fi
    it_check "$1 runs as $2" test "$(in_root ps -o user= -p "$3" | tr -d ' ')" = "$2"
    it_check "$1: NoNewPrivs=1" in_root grep -Eq '^NoNewPrivs:[[:space:]]+1$' "/proc/$3/status"
    it_check "$1: CapEff and CapBnd empty" \
        in_root sh -c "grep -Eq '^CapEff:[[:space:]]+0+\$' /proc/$3/status && grep -Eq '^CapBnd:[[:space:]]+0+\$' /proc/$3/status"
    # In the service's own mount namespace, even root cannot write /usr or
    # /etc: ProtectSystem=strict made them read-only mounts there (they are
    # writable in the root's namespace, as the control shows).
    for d in /usr /etc; do
        out=$(in_root nsenter --target "$3" --mount touch "$d/.ratchet-probe" 2>&1)
        case $out in
            *"Read-only file system"*) it_ok "$1: $d is read-only in its mount namespace (ProtectSystem)" ;;
            *) it_bad "$1: $d is read-only in its mount namespace: $out"
               in_root rm -f "$d/.ratchet-probe" ;;
        esac
    done
}
it_check "control: /usr is writable in the root's own namespace" \
    in_root sh -c 'touch /usr/.ratchet-probe && rm /usr/.ratchet-probe'
sandbox_checks ratchet-watchdog.service ratchet-watchdog "$WD_PID"
sandbox_checks ratchet-enforcer.service ratchet-enforcer "$ENF_PID"
it_not "the enforcer cannot read the watchdog's state directory" \
    as_user ratchet-enforcer ls /var/lib/ratchet-watchdog
it_not "the watchdog cannot write the enforcer's state directory" \
    as_user ratchet-watchdog touch /var/lib/ratchet-enforcer/probe
it_not "the watchdog cannot write commands.log" \
    as_user ratchet-watchdog sh -c ': >>/var/lib/ratchet-enforcer/commands.log'
CRED=/run/credentials/ratchet-enforcer.service/$CRED_NAME
it_check "the credential $CRED exists for the enforcer" in_root test -s "$CRED"
it_check "the enforcer's user can read the credential" as_user ratchet-enforcer head -c1 "$CRED"
it_not "the watchdog's user cannot read the credential" as_user ratchet-watchdog head -c1 "$CRED"
it_not "the watchdog's user cannot read $KEY_PATH" as_user ratchet-watchdog head -c1 "$KEY_PATH"
info "/var/lib/ratchet-enforcer is world-readable by design (mode $(in_root stat -c %a /var/lib/ratchet-enforcer)):" \
    "the watchdog, auditors and the control-plane pusher read commands.log; nobody but the enforcer writes it"

# ---- b. the watchdog timeout restarts a frozen watchdog; windows survive -------------

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fire() { # fire BOT FINGERPRINT STARTS_AT: prints the HTTP status
    in_root curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' \
        --data '{"receiver":"r","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0","bot":"'"$1"'","severity":"P0"},"annotations":{},"startsAt":"'"$3"'","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"'"$2"'"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"x","version":"4","groupKey":"{}","truncatedAlerts":0}' \
        http://127.0.0.1:8470/webhook/alertmanager
}
window() { # window BOT: "open|closed WINDOW_START" of its p0_alert window
    in_root curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8470/api/v1/status?bot=$1" |
        python3 -c 'import json,sys
d = json.load(sys.stdin)
c = d["bots"][0]["conditions"]["p0_alert"]
print("open" if c.get("window_open") else "closed", c.get("window_start"))'
}
it_check "P0 webhook for beta accepted" test "$(fire beta 00000000000000b1 "$started")" = 200
w_before=$(window beta)
it_check "beta's 1h window is open ($w_before)" sh -c "case '$w_before' in 'open '*[0-9]*) true;; *) false;; esac"
restarts0=$(prop ratchet-watchdog.service NRestarts)
in_root kill -STOP "$WD_PID"
restarted() {
    p=$(prop ratchet-watchdog.service MainPID)
    [ "$(prop ratchet-watchdog.service NRestarts)" -gt "$restarts0" ] && [ -n "$p" ] && [ "$p" != 0 ] &&
        [ "$p" != "$WD_PID" ] && wd_running
}
it_check "SIGSTOP'd watchdog is killed by the watchdog timeout and restarted (NRestarts was $restarts0)" \
    it_wait_for 45 restarted
wd_timeout_logged() { in_root journalctl -u ratchet-watchdog.service -o cat | grep -q 'Watchdog timeout'; }
it_check "... systemd logged the watchdog timeout" wd_timeout_logged
WD_PID=$(prop ratchet-watchdog.service MainPID)
it_wait_for 10 in_root curl -fsS --max-time 2 -o /dev/null http://127.0.0.1:8470/healthz
w_after=$(window beta)
it_check "beta's window survived the restart with the same start ($w_after)" test "$w_after" = "$w_before"
it_check "the enforcer was not restarted with it" test "$(prop ratchet-enforcer.service MainPID)" = "$ENF_PID"

# ---- c. on-call against the broad site rule ---------------------------------------

# A state of the ratchet units that no attempt may change.
snapshot() {
    for u in ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket; do
        printf '%s %s/%s pid=%s restarts=%s file=%s dropins=%s cpuw=%s\n' "$u" \
            "$(prop $u ActiveState)" "$(prop $u SubState)" "$(prop $u MainPID)" "$(prop $u NRestarts)" \
            "$(prop $u UnitFileState)" "$(prop $u DropInPaths)" "$(prop $u CPUWeight)"
    done
    printf 'ratchet.slice %s cpuw=%s\n' "$(prop ratchet.slice ActiveState)" "$(prop ratchet.slice CPUWeight)"
}
# refused NAME CMD...: CMD must fail; its first error line is shown.
# refused NAME CMD...: CMD must fail, and because it was not allowed (not
# for some other reason, such as a bus that is gone); its first error line is
# shown.
refused() {
    name=$1; shift
    out=$("$@" 2>&1); rc=$?
    why=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -n 1 | cut -c1-110)
    if [ "$rc" -eq 0 ]; then
        it_bad "$name: it succeeded"
    elif printf '%s\n' "$out" | grep -Eqi 'access denied|not authorized|permission denied|interactive authentication required|operation refused|operation not permitted|read-only file system|failed to create directories'; then
        it_ok "$name: refused ($why)"
    else
        it_bad "$name: failed, but not as refused: $(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -n 3 | tr '\n' ' ')"
    fi
}
# Still systemd as PID 1 (not shutting down: systemd-shutdown, or gone)?
alive() { [ "$(cat "/proc/$SD/comm" 2>/dev/null)" = systemd ]; }
unchanged() { # unchanged WHAT: systemd still runs and the ratchet units are as in $SNAP
    if ! alive; then
        it_bad "$1: the booted system is gone (PID 1 of the namespace is no longer systemd)"
        return 1
    fi
    now=$(snapshot)
    if [ "$now" = "$SNAP" ] && [ "${now#*ratchet-watchdog.service active/running}" != "$now" ]; then
        it_ok "$1: ratchet's units unchanged"
    else
        it_bad "$1: ratchet's units changed"; printf 'before:\n%s\nafter:\n%s\n' "$SNAP" "$now"
    fi
}

# Control: the site rule works, for an unrelated unit.
cat >"$ROOT/etc/systemd/system/site-dummy.service" <<'EOF'
[Unit]
Description=an unrelated service on-call may manage
[Service]
ExecStart=/bin/sleep infinity
EOF
sctl daemon-reload && sctl start site-dummy.service
d0=$(prop site-dummy.service MainPID)
it_check "control: on-call CAN restart an unrelated unit (site rule works)" oncall_sctl restart site-dummy.service
it_check "... it really restarted" test "$(prop site-dummy.service MainPID)" != "$d0"
it_check "control: on-call CAN stop it" oncall_sctl stop site-dummy.service
it_check "... it really stopped" test "$(prop site-dummy.service ActiveState)" = inactive
it_check "control: on-call CAN start it again" oncall_sctl start site-dummy.service

SNAP=$(snapshot)
for u in ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket ratchet.slice; do
    refused "on-call: systemctl stop $u" oncall_sctl stop "$u"
    refused "on-call: systemctl restart $u" oncall_sctl restart "$u"
    refused "on-call: systemctl try-restart $u" oncall_sctl try-restart "$u"
    refused "on-call: systemctl kill $u" oncall_sctl kill "$u"
    refused "on-call: systemctl kill --signal=SIGKILL $u" oncall_sctl kill --signal=SIGKILL "$u"
    refused "on-call: systemctl freeze $u" oncall_sctl freeze "$u"
    refused "on-call: systemctl set-property $u CPUWeight=1" oncall_sctl set-property "$u" CPUWeight=1
    refused "on-call: systemctl set-property --runtime $u CPUWeight=1" oncall_sctl set-property --runtime "$u" CPUWeight=1
    refused "on-call: systemctl mask $u" oncall_sctl mask "$u"
    refused "on-call: systemctl mask --runtime $u" oncall_sctl mask --runtime "$u"
    refused "on-call: systemctl disable $u" oncall_sctl disable "$u"
    refused "on-call: systemctl clean --what=all $u" oncall_sctl clean --what=all "$u"
    refused "on-call: systemctl edit $u (on a pty)" \
        as_oncall script -qec "SYSTEMD_EDITOR=true systemctl --no-ask-password edit $u" /dev/null
done
refused "on-call: systemctl bind (overlay the policy inside the watchdog)" \
    oncall_sctl bind ratchet-watchdog.service /etc/hostname /etc/ratchet/policy.json
refused "on-call: create a drop-in directory in /etc/systemd/system" \
    as_oncall mkdir /etc/systemd/system/ratchet-watchdog.service.d
refused "on-call: create a runtime drop-in in /run/systemd/system" \
    as_oncall mkdir -p /run/systemd/system/ratchet-watchdog.service.d
refused "on-call: systemctl set-environment" oncall_sctl set-environment RATCHET_X=1
unchanged "after on-call's direct attempts"

# Root-equivalent paths a broad site rule opens; each would leave a marker.
refused "on-call: systemd-run -p User=root" \
    as_oncall systemd-run --no-ask-password --wait --unit=oncall-run -p User=root /bin/touch /run/oncall-run
refused "on-call: systemd-run as itself" \
    as_oncall systemd-run --no-ask-password --unit=oncall-run2 /bin/true
# (from a shell inside: pkexec asks polkit about its parent process, which
# must be in the namespace)
refused "on-call: pkexec" as_oncall sh -c 'pkexec /bin/touch /run/oncall-pkexec </dev/null'
as_oncall sh -c 'printf "[Service]\nUser=root\nExecStart=/bin/touch /run/oncall-link\n" >/home/oncall/evil.service'
refused "on-call: systemctl link a unit of its own" oncall_sctl link /home/oncall/evil.service
refused "on-call: systemctl enable a unit of its own" oncall_sctl enable /home/oncall/evil.service
it_not "on-call: start that unit (it was never linked)" oncall_sctl start evil.service
it_check "none of those ran anything as root (no markers in /run)" \
    in_root sh -c '! ls /run/oncall-run /run/oncall-pkexec /run/oncall-link 2>/dev/null | grep -q .'
# polkit's own answer for on-call, action by action, with no side effect
# (pkcheck on itself): every power action, every action that lets one run
# units or programs as root, and every action that implies one of those
# (polkit grants an action to whoever is granted one that implies it: a YES
# for login1.set-reboot-parameter is a YES for login1.reboot).
POWERFUL_ACTIONS=$(in_root python3 - <<'PY'
import glob, re, xml.etree.ElementTree as ET
implies = {}
for f in glob.glob("/usr/share/polkit-1/actions/*.policy"):
    for a in ET.parse(f).getroot().iter("action"):
        implies[a.get("id")] = [x for an in a.iter("annotate")
                                if an.get("key") == "org.freedesktop.policykit.imply" for x in (an.text or "").split()]
base = re.compile(r"^org\.freedesktop\.(login1\.(power-off|reboot|halt|suspend|hibernate|hybrid-sleep|suspend-then-hibernate|soft-reboot)"
                  r"(-multiple-sessions|-ignore-inhibit)?|systemd1\.(manage-units|manage-unit-files|reload-daemon|set-environment)"
                  r"|policykit\.exec)$")
bad = {a for a in implies if base.match(a)}
grew = True
while grew:
    more = {a for a, imp in implies.items() if a not in bad and any(i in bad for i in imp)}
    grew = bool(more)
    bad |= more
print("\n".join(sorted(bad)))
PY
)
it_check "the installed polkit actions list the power and unit actions" test "$(echo "$POWERFUL_ACTIONS" | grep -c .)" -ge 10
pk_oncall() { as_oncall sh -c 'pkcheck --action-id "$1" --process $$ >/dev/null 2>&1; echo $?' sh "$1"; }
for a in $POWERFUL_ACTIONS; do
    r=$(pk_oncall "$a")
    case $r in
        1|2|3) it_ok "polkit refuses on-call $a" ;;
        0) it_bad "polkit refuses on-call $a: it grants it" ;;
        *) it_bad "polkit refuses on-call $a: pkcheck failed ($r)" ;;
    esac
done

if oncall_sctl daemon-reload >/dev/null 2>&1; then
    info "on-call may daemon-reload (harmless: the unit files are root's)"
else
    info "on-call may not daemon-reload"
fi

# Dependencies: every unit whose stop would stop ours must be one the rule
# protects (or perpetual).
deps_ok=1
for u in ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket ratchet.slice; do
    for d in $(sctl show -P Requires -P Requisite -P BindsTo -P PartOf "$u"); do
        case $d in
            ratchet-watchdog.service|ratchet-enforcer.service|ratchet-enforcer.socket|ratchet.slice) ;;
            *) if [ "$(prop "$d" Perpetual)" = yes ]; then :; else deps_ok=0; echo "  $u depends on $d (stop propagates)"; fi ;;
        esac
    done
done
it_check "no stop-propagating dependency of ratchet outside ratchet's own (protected) units" test $deps_ok = 1
for t in network-online.target basic.target sockets.target; do
    oncall_sctl stop "$t" >/dev/null 2>&1 && r="allowed" || r="refused"
    info "on-call: systemctl stop $t: $r"
done
unchanged "after on-call stopped the targets ratchet is ordered after"

# ---- f. a real demotion, after all that ---------------------------------------------

LOG=/var/lib/ratchet-enforcer/commands.log
demoted() { in_root grep -q "\"type\":\"demote\".*\"bot\":\"alpha\"" "$LOG"; }
it_check "P0 webhook for alpha (started 10 s ago; 5 s window) accepted" \
    test "$(fire alpha 00000000000000a1 "$(date -u -d '-10 seconds' +%Y-%m-%dT%H:%M:%SZ)")" = 200
it_check "the demote record for alpha is in $LOG" it_wait_for 30 demoted
it_check "exactly one demote record for alpha" test "$(in_root grep -c '"type":"demote".*"bot":"alpha"' "$LOG")" = 1
it_check "ratchetctl log verify (installed, run by on-call) accepts the log" \
    as_oncall ratchetctl log verify --log "$LOG" --pubkey /etc/ratchet/enforcer.pub
# The enforcer replaces its readiness view after the record is durable (and
# after the signed checkpoint): the record can be seen first.
alpha_limited() { in_root grep -q '"id":"alpha","readiness":"limited_live"' /var/lib/ratchet-enforcer/readiness.json; }
it_check "readiness.json shows alpha in limited_live" it_wait_for 10 alpha_limited
it_not "... and beta is not in limited_live" \
    in_root grep -q '"id":"beta","readiness":"limited_live"' /var/lib/ratchet-enforcer/readiness.json
it_check "commands.log is owned by ratchet-enforcer, mode 0644" \
    test "$(in_root stat -c %U:%a "$LOG")" = ratchet-enforcer:644

# ---- d. files and socket against on-call --------------------------------------------

log_sum=$(in_root sha256sum "$LOG")
refused "on-call: append to commands.log" as_oncall sh -c ": >>$LOG"
refused "on-call: truncate commands.log" as_oncall truncate -s 0 "$LOG"
# (replacements are made on the same file system: rename(2), not a copy)
refused "on-call: replace commands.log" as_oncall sh -c "echo x >/home/oncall/fake && mv -f /home/oncall/fake $LOG"
refused "on-call: delete commands.log" as_oncall rm "$LOG"
refused "on-call: delete the latest checkpoint" as_oncall rm /var/lib/ratchet-enforcer/checkpoint
it_check "commands.log unchanged" test "$(in_root sha256sum "$LOG")" = "$log_sum"
refused "on-call: read the private key $KEY_PATH" as_oncall head -c1 "$KEY_PATH"
refused "on-call: read the credential" as_oncall head -c1 "$CRED"
refused "on-call: read the API token" as_oncall head -c1 /etc/ratchet/secrets/api-token
refused "on-call: read the watchdog's state (windows)" as_oncall ls /var/lib/ratchet-watchdog
for f in policy.json watchdog.json enforcer.json bots.json; do
    refused "on-call: edit /etc/ratchet/$f" as_oncall sh -c ": >>/etc/ratchet/$f"
done
refused "on-call: replace /etc/ratchet/policy.json" \
    as_oncall sh -c 'echo {} >/home/oncall/p && mv -f /home/oncall/p /etc/ratchet/policy.json'
CLIENT='import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect refused:", e.strerror); sys.exit(3)
name = b"t_systemd"
body = struct.pack("<H", 1) + struct.pack("<H", len(name)) + name
try:
    s.sendall(b"RTC1" + bytes([1, 0, 0, 0]) + struct.pack("<I", len(body)) + body)
    print("closed" if s.recv(64) == b"" else "answered")
except OSError:
    print("closed")'
out=$(as_oncall python3 -c "$CLIENT" "$SOCK" 2>&1)
it_check "on-call cannot connect to the enforcer's socket ($out)" test "${out#connect refused}" != "$out"

# ---- e. the enforcer answers the watchdog's uid only --------------------------------

lines=$(wc -l <"$ROOT$LOG")
out=$(as_user ratchet-watchdog python3 -c "$CLIENT" "$SOCK" 2>&1)
it_check "control: a HELLO from the watchdog's uid is answered ($out)" test "$out" = answered
out=$(in_root python3 -c "$CLIENT" "$SOCK" 2>&1)
it_check "root connects (mode does not stop root) but is closed without an answer ($out)" test "$out" = closed
out=$(in_root setpriv --reuid=nobody --regid=ratchet-watchdog --clear-groups python3 -c "$CLIENT" "$SOCK" 2>&1)
it_check "uid nobody in group ratchet-watchdog connects but is closed without an answer ($out)" test "$out" = closed
refused_logged() { in_root journalctl -u ratchet-enforcer.service -o cat | grep -Eq "refused connection from pid [0-9]+ uid $1 "; }
it_check "the enforcer logged the refusal of uid 0" it_wait_for 10 refused_logged 0
it_check "the enforcer logged the refusal of uid $(in_root id -u nobody)" it_wait_for 10 refused_logged "$(in_root id -u nobody)"
it_check "nothing was written by the refused clients" test "$(wc -l <"$ROOT$LOG")" = "$lines"

# ---- c (end). attempts that would take the whole system down if allowed --------------

# polkit never sees what an isolate or a conflicting start stops, and the
# guard leaves ordinary targets to the site's rules. What must hold is that
# ratchet's units are untouched whatever polkit answered; the system is put
# back (root isolates default.target) after each attempt.
no_jobs() { alive || return 0; [ -z "$(sctl list-jobs --no-legend 2>/dev/null)" ]; }
dbus_up() { test "$(prop dbus.service ActiveState)" = active; }
system_attempt() { # system_attempt NAME CMD...
    name=$1; shift
    SNAP=$(snapshot)
    out=$("$@" 2>&1); rc=$?
    why=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -n 1 | cut -c1-80)
    it_wait_for 30 no_jobs
    if [ "$rc" -eq 0 ]; then
        verdict="polkit allowed it"
    elif printf '%s\n' "$out" | grep -Eqi 'access denied|not authorized|operation refused'; then
        verdict="refused: $why"
    else
        verdict="not refused; systemctl: $why"
    fi
    unchanged "$name ($verdict)" || return
    if ! dbus_up || [ "$(prop default.target ActiveState)" != active ]; then
        sctl isolate default.target >/dev/null 2>&1
        it_wait_for 30 no_jobs
        it_wait_for 20 dbus_up || it_bad "the test could not bring the system back after: $name"
    fi
}
system_attempt "on-call: systemctl stop sysinit.target" oncall_sctl stop sysinit.target
refused_by_guard() { case $verdict in refused*) return 0 ;; esac; return 1; }
for t in rescue.target emergency.target; do
    for how in start isolate; do
        system_attempt "on-call: systemctl $how $t" oncall_sctl "$how" "$t"
        it_check "... refused by the guard (rescue and emergency mode take the feeds down)" refused_by_guard
    done
done
for c in $(sctl show -P Conflicts ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket ratchet.slice |
           tr ' ' '\n' | sort -u); do
    system_attempt "on-call: start $c (ratchet conflicts with it)" oncall_sctl start "$c"
done
for t in poweroff.target reboot.target halt.target kexec.target exit.target; do
    system_attempt "on-call: systemctl start $t" oncall_sctl start "$t"
done

# Root: RefuseManualStop= and IgnoreOnIsolate= hold for root too, but root
# can always disable ratchet by other means.
refused "root: systemctl stop ratchet-watchdog.service (RefuseManualStop=)" sctl stop ratchet-watchdog.service
SNAP=$(snapshot)
sctl isolate --no-block rescue.target >/dev/null 2>&1
it_wait_for 30 no_jobs
info "root isolated rescue.target: rescue.target is $(prop rescue.target ActiveState), dbus.service is $(prop dbus.service ActiveState)"
unchanged "root's isolate rescue.target (IgnoreOnIsolate=)"
sctl isolate default.target >/dev/null 2>&1
it_wait_for 30 no_jobs
it_check "root brought the system back (default.target)" it_wait_for 20 dbus_up
# Last, because if polkit allowed one of them the booted system is gone:
# power actions through logind.
for v in suspend halt poweroff reboot; do
    system_attempt "on-call: systemctl $v (logind)" oncall_sctl "$v"
done

alive || { it_finish; exit; }
sctl mask --runtime ratchet-watchdog.service >/dev/null 2>&1
sctl kill --signal=SIGKILL ratchet-watchdog.service >/dev/null 2>&1
wd_not_active() { test "$(prop ratchet-watchdog.service ActiveState)" != active; }
it_wait_for 10 wd_not_active
info "root: mask --runtime + kill leaves the watchdog $(prop ratchet-watchdog.service ActiveState):" \
    "root can always disable ratchet (not defended; the signed log makes the gap visible)"

if [ "$IT_FAIL" -gt 0 ] && alive; then
    in_root journalctl --no-pager -o short-monotonic -u ratchet-watchdog.service -u ratchet-enforcer.service \
        -u ratchet-enforcer.socket -u polkit.service >"$IT_DIR/journal.txt" 2>&1
    echo "--- journal of the ratchet units and polkit (last 40 lines; IT_KEEP=1 keeps $IT_DIR)"
    tail -n 40 "$IT_DIR/journal.txt"
fi
it_finish
