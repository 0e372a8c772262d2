#!/bin/sh
# Chaos scenario 5: disk faults under the enforcer's command log. Real
# ratchet-watchdog and ratchet-enforcer; the enforcer runs under a restart
# loop (systemd's Restart=always, RestartSec shortened to 0.3 s) and under
# libfiu's POSIX preload (fiu-run -x), so that faults persist across its
# restarts the way a failing disk would. Evidence is posted to the watchdog's
# webhook with curl (as t_enforcer.sh does): a P0 alert whose 5 s window is
# already complete, so each demotion reaches the enforcer at once; no
# Alertmanager or Prometheus is involved in this scenario.
#
# The enforcer's state dir (the command log's file system) is a small tmpfs.
# Injects, one phase at a time in a seeded order (CHAOS_SEED=N to repeat):
#   full     the tmpfs filled up (dd of a filler file) while the log's last
#            page still has room for the next record: the record is written
#            whole, the checkpoint after it fails (ENOSPC); a second bot's
#            demotion arrives while the enforcer is down
#   torn     the tmpfs filled up while the log's last page has less room than
#            the next record (padding demotions arrange that): a short write,
#            then ENOSPC, leaves a partial record (a torn tail)
#   fsync    libfiu fails every fdatasync/fsync (errno chosen by the seed:
#            EIO, ENOSPC or EROFS): the record is written, never durable
#   write    libfiu fails every write (EIO): nothing reaches the log
# Checks, per phase: the enforcer exits (status 1, no crash) at the failed
# write or fsync and, restarted, refuses to start (fails closed: never
# "ready", never serving) as long as the fault lasts; the watchdog gets no
# acknowledgement and keeps the demotion pending; `ratchetctl log verify`
# during the fault never counts a partial record (valid only with every
# line a record; a torn tail is INVALID, naming its exact size); once space
# returns / the fault is lifted the enforcer starts, repairs a torn tail
# with a signed torn_tail record describing exactly the torn bytes
# (docs/log-format.md), and the demotion completes: pending back to 0,
# exactly one demote record per bot; a record written whole but never made
# durable (full, fsync) is acknowledged as the "duplicate" it is. At the
# end: the log verifies, every acknowledgement the watchdog logged names a
# demote record of that bot in the verified log (nothing acknowledged that
# is not in the log), and the readiness view lists every demoted bot.
# Needs root (mount), fiu-utils and libfiu0.
# Usage: sh chaos/5-disk-faults.sh [BUILD] (from the repo root)
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
. chaos/lib_disk.sh
peers_setup
trap dk_cleanup EXIT
d=$IT_DIR
SEED=${CHAOS_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "seed: $SEED (CHAOS_SEED=$SEED sh $0 $IT_BUILD repeats this run)"

if ! command -v fiu-run >/dev/null || ! [ -r /usr/lib/fiu/fiu_posix_preload.so ] || [ "$(id -u)" != 0 ]; then
    it_bad "needs root, fiu-run (fiu-utils) and /usr/lib/fiu/fiu_posix_preload.so (libfiu0)"
    it_finish
    exit 1
fi
port=$(it_port)
WD=http://127.0.0.1:$port
ENF=$d/enf
LOG=$ENF/commands.log
openssl genpkey -algorithm ed25519 -out "$d/key.pem" 2>/dev/null && chmod 400 "$d/key.pem"
openssl pkey -in "$d/key.pem" -pubout -out "$d/key.pub"
mkdir -m 700 "$ENF" "$d/wd"
mount -t tmpfs -o size=128k,mode=700 ratchet-chaos5 "$ENF" || { it_bad "mount a tmpfs on the state dir"; exit 1; }
DK_MOUNT=$ENF
printf 'tok\n' >"$d/token" && chmod 600 "$d/token"
printf '%s\n' '{"version":1,"conditions":{"p0_alert":{"window":"5s","max_evidence_age":"1m"}}}' >"$d/policy.json"
cat >"$d/enf.json" <<EOF
{"version":1,"socket":"$d/enf.sock","allowed_peers":{"uids":[$(id -u)]},"state_dir":"$ENF",
 "origin":"chaos5.ratchet.invalid/commands","key":{"file":"$d/key.pem"},"key_name":"chaos5",
 "policy_file":"$d/policy.json","checkpoint_interval":"1h","watchdog_silence":"1h"}
EOF
# Every bot of the scenario is in General live at the start. The pad bots
# (6 of each id length 8, 16, ... 64) are demoted only to move the end of the
# log to where a phase needs it.
BOTS="base f1 f2 t1 s1 w1"
pads=$(for c in a b c d e f; do for n in 8 16 24 32 40 48 56 64; do
    printf " p$c%s" "$(printf '%0*d' $((n - 2)) 0 | tr 0 x)"; done; done)
{
    printf '{"version":1,"bots":['
    sep=""
    for b in $BOTS $pads; do printf '%s{"id":"%s","readiness":"general_live"}' "$sep" "$b"; sep=,; done
    printf ']}\n'
} >"$d/bots.json"
cat >"$d/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$port}],"auth":{"bearer_token_file":"$d/token"},
 "policy_file":"$d/policy.json","state_dir":"$d/wd","bots":{"file":"$d/bots.json"},
 "enforcer":{"socket":"$d/enf.sock"}}
EOF

it_bg supervisor dk_supervise "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
DK_SUP=$IT_LAST_PID
it_check "enforcer (under fiu-run, restart loop) ready" it_wait_for 30 dk_ready_count_is 1
start_watchdog watchdog "$d/wd.json" "$port" || it_bad "watchdog up"

FIRED=""
# fire_demoted BOT...: demotions completed normally (recorded once, acknowledged).
fire_demoted() {
    FIRED="$FIRED $*"
    test "$(dk_fire "$@")" = 200 || return 1
    for fd_b in "$@"; do it_wait_for 30 dk_records_are "$fd_b" 1 || return 1; done
    it_wait_for 30 dk_pending_is 0
}
it_check "baseline: base demoted, recorded once and acknowledged" fire_demoted base
PADS_LEFT=$pads NPAD=0
# pad_slack LO HI: demote pad bots (as lib_disk.py plans) until the room left
# in the log's last page is within [LO, HI] bytes.
pad_slack() {
    for _ in 1 2 3; do
        ps_k=$(dk_slack)
        [ "$ps_k" -ge "$1" ] && [ "$ps_k" -le "$2" ] && return 0
        # shellcheck disable=SC2086
        ps_plan=$($DK_PY plan "$LOG" "$1" "$2" $PADS_LEFT) || return 1
        for ps_b in $ps_plan; do PADS_LEFT=$(echo " $PADS_LEFT " | sed "s/ $ps_b / /"); done
        NPAD=$((NPAD + $(echo "$ps_plan" | wc -w)))
        # shellcheck disable=SC2086
        fire_demoted $ps_plan || return 1
    done
    return 1
}

# the phases ----------------------------------------------------------------

# fault_common NAME BOTS...: the checks while a fault is on and the bots'
# demotions have reached the enforcer.
# E0 and F0: dk_exits and dk_failed_count before the fault.
fault_common() {
    fc_n=$1; shift
    it_check "$fc_n: the enforcer exited at the failed write" it_wait_for 30 dk_exits_at_least $((E0 + 1))
    [ "$fc_n" = write ] || # its stderr fails too in that phase
        it_check "$fc_n: ... saying the command log failed" test "$(dk_failed_count)" -gt "$F0"
    it_check "$fc_n: restarted twice more while the fault lasts, it refuses to start" \
        it_wait_for 30 dk_exits_at_least $((E0 + 3))
    it_check "$fc_n: ... every exit with status 1, no crash ($(dk_exits) exits)" dk_exits_since "$E0" 1
    it_check "$fc_n: ... never ready (failed closed)" dk_ready_count_is "$READY"
    it_check "$fc_n: the watchdog holds the demotions pending ($#)" it_wait_for 10 dk_pending_is $#
    for b in "$@"; do
        it_check "$fc_n: no acknowledgement for $b" sh -c "! grep -q 'acknowledged demotion of $b ' '$d/watchdog.log'"
    done
    it_check "$fc_n: no partial record counted by log verify during the fault ($(dk_verify_summary))" \
        dk_verify_no_partial
    it_check "$fc_n: ... still pending after that (pending $(dk_pending))" dk_pending_is $#
}

# restore_common NAME BOTS...: after the fault is lifted.
restore_common() {
    rc_n=$1; shift
    READY=$((READY + 1))
    it_check "$rc_n: the enforcer starts once the fault is gone" it_wait_for 30 dk_ready_count_is "$READY"
    it_check "$rc_n: the watchdog's retry is acknowledged (pending 0)" it_wait_for 40 dk_pending_is 0
    for b in "$@"; do
        it_check "$rc_n: exactly one demote record for $b" dk_records_are "$b" 1
        it_check "$rc_n: $b acknowledged" grep -q "acknowledged demotion of $b " "$d/watchdog.log"
    done
    it_check "$rc_n: the log verifies after the fault" dk_verify
}

phase_full() {
    # room for the record and more, so that the checkpoint after it fails
    pad_slack 1000 4095 || it_bad "full: arrange the log's last page (slack $(dk_slack))"
    echo "inject: full: tmpfs filled (log ends $(dk_slack) bytes short of a page: room for the record)"
    dk_fill || it_bad "full: fill the tmpfs"
    lines=$(wc -l <"$LOG") seq=$(dk_next_seq)
    FIRED="$FIRED f1 f2" E0=$(dk_exits) F0=$(dk_failed_count)
    it_check "full: webhook for f1 accepted" test "$(dk_fire f1)" = 200
    # f2 arrives while the enforcer is failing (after the exit f1 causes)
    it_wait_for 30 dk_exits_at_least $((E0 + 1))
    it_check "full: webhook for f2 accepted (the enforcer down)" test "$(dk_fire f2)" = 200
    fault_common full f1 f2
    it_check "full: f1's record was written whole before the checkpoint failed" dk_lines_are $((lines + 1))
    echo "inject: full: space returns (filler removed)"
    dk_unfill
    restore_common full f1 f2
    it_check "full: f1's acknowledgement is the duplicate of the record written before the fault" \
        grep -q "acknowledged demotion of f1 (log record $seq, duplicate)" "$d/watchdog.log"
}

phase_torn() {
    pad_slack 100 640 || it_bad "torn: arrange the log's last page (slack $(dk_slack))"
    k=$(dk_slack) off=$(stat -c %s "$LOG")
    echo "inject: torn: tmpfs filled (log ends $k bytes short of a page: less than a record)"
    dk_fill || it_bad "torn: fill the tmpfs"
    FIRED="$FIRED t1" E0=$(dk_exits) F0=$(dk_failed_count)
    it_check "torn: webhook for t1 accepted" test "$(dk_fire t1)" = 200
    fault_common torn t1
    it_check "torn: a partial record of exactly $k bytes is at the end of the log" \
        test "$(stat -c %s "$LOG")" = $((off + k))
    it_check "torn: log verify calls the torn tail INVALID, naming its $k bytes" dk_verify_torn "$k"
    echo "inject: torn: space returns (filler removed)"
    dk_unfill
    restore_common torn t1
    it_check "torn: the enforcer reported the torn tail ($k bytes at offset $off)" \
        grep -q "a torn final record ($k bytes at offset $off) was kept" "$d/supervisor.log"
    it_check "torn: a signed torn_tail record describes exactly those bytes" dk_torn_tail_is "$off" "$k"
}

phase_fsync() {
    errno=$(awk -v s="$SEED" 'BEGIN { srand(s); split("5 28 30", e, " "); print e[1 + int(rand() * 3)] }')
    echo "inject: fsync: libfiu fails fdatasync and fsync with errno $errno (kept across restarts)"
    dk_fiu "enable name=posix/io/sync/*,failinfo=$errno"
    seq=$(dk_next_seq)
    FIRED="$FIRED s1" E0=$(dk_exits) F0=$(dk_failed_count)
    it_check "fsync: webhook for s1 accepted" test "$(dk_fire s1)" = 200
    fault_common fsync s1
    echo "inject: fsync: faults disabled"
    dk_fiu_off "disable name=posix/io/sync/*"
    restore_common fsync s1
    # the line was written but its fdatasync failed: a valid record never
    # acknowledged (docs/log-format.md "Writing"); the retry gets "duplicate"
    it_check "fsync: s1's acknowledgement is the duplicate of the record whose fsync failed" \
        grep -q "acknowledged demotion of s1 (log record $seq, duplicate)" "$d/watchdog.log"
}

phase_write() {
    echo "inject: write: libfiu fails every write() with EIO (kept across restarts)"
    dk_fiu "enable name=posix/io/rw/write,failinfo=5"
    size=$(stat -c %s "$LOG")
    FIRED="$FIRED w1" E0=$(dk_exits) F0=$(dk_failed_count)
    it_check "write: webhook for w1 accepted" test "$(dk_fire w1)" = 200
    fault_common write w1
    it_check "write: nothing reached the log" test "$(stat -c %s "$LOG")" = "$size"
    echo "inject: write: faults disabled"
    dk_fiu_off "disable name=posix/io/rw/write"
    restore_common write w1
}

READY=1
order=$(printf 'full\ntorn\nfsync\nwrite\n' | awk -v s="$SEED" 'BEGIN { srand(s) } { print rand() "\t" $0 }' | sort -n | cut -f2)
echo "phases: $(echo "$order" | tr "\n" " ")"
for p in $order; do "phase_$p"; done

# the whole run --------------------------------------------------------------
it_check "end: the log verifies ($(dk_verify_summary))" dk_verify
# every_once BOT...: each BOT has one demote record and is Limited live in the view.
every_once() {
    for eo_b in "$@"; do
        dk_records_are "$eo_b" 1 || return 1
        grep -q "\"id\":\"$eo_b\",\"readiness\":\"limited_live\"" "$ENF/readiness.json" || return 1
    done
}
for b in $FIRED; do
    case $b in p[a-f]x*|p[a-f]*x) ;; *) it_check "end: exactly one demote record for $b, Limited live in the view" every_once "$b" ;; esac
done
padlist=$(echo "$FIRED" | tr ' ' '\n' | grep '^p[a-f]x')
# shellcheck disable=SC2086
it_check "end: exactly one demote record for each of the $NPAD pad bots, Limited live in the view" every_once $padlist
nd=$(dk_demote_count)
nf=$(echo "$FIRED" | wc -w)
it_check "end: demote records ($nd) = bots fired ($nf)" test "$nd" = "$nf"
it_check "end: every acknowledgement names a demote record of that bot ($(grep -c 'acknowledged demotion of' "$d/watchdog.log") acks)" \
    dk_acks_in_log
it_check "end: the watchdog has nothing pending" dk_pending_is 0
echo "     enforcer starts: $(dk_starts), ready: $(dk_ready_count), records: $(dk_next_seq), pads: $NPAD;" \
    "peak RSS (VmHWM): watchdog $(awk '/VmHWM/ { print $2 }' "/proc/$WD_PID/status") KiB," \
    "last enforcer $(awk '/VmHWM/ { print $2 }' "/proc/$(cat "$d/enf.pid")/status") KiB"
it_finish
