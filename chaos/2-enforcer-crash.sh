#!/bin/sh
# Chaos scenario 2: the enforcer crashes mid-write (docs/enforcer.md,
# docs/log-format.md "Torn tails", docs/protocol.md "Durability of an
# acknowledgement").
#
# Injects, in each of CHAOS_RUNS (default 100) runs, one `kill -9` of
# ratchet-enforcer while it records a demotion or an actuation. The real
# watchdog and the control-plane stand-in (tests/integration/controlplane.py)
# run throughout. Each run demotes a new bot (b001, b002, ...): a P0 webhook
# that fired 10 s ago, then its resolve; with a 5 s window the resolve
# settles the window, so the watchdog decides and hands the DEMOTE over
# while it handles that webhook. The actuation (push to the stand-in, then
# an ACTUATED report that the enforcer records) follows within about a
# second, so kills also meet the actuations of earlier bots. Where the kill
# lands:
#   - "timed" runs (about 70%): SIGKILL a log-uniform random delay from
#     30 us to 1.2 s after the resolve is answered: before, during and after
#     the append + fdatasync + checkpoint of the demote record, before its
#     DEMOTE_ACK, and during pushes and actuated records;
#   - "syscall" runs: strace kills the enforcer at the entry of its Nth
#     write/fdatasync/fsync/rename/writev since its start (syscall and N
#     random), e.g. between the log's write and its fdatasync, or just
#     before the ACK; in one such run in five N may fall in start-up (a
#     crash during recovery, maybe while it writes a torn_tail record);
#   - about one run in eight also appends a random prefix of a record,
#     without its LF, to commands.log after the kill: a write torn by the
#     crash (a SIGKILL alone cannot tear a single write()).
# After each kill the enforcer is restarted on the same state dir; the
# watchdog reconnects and re-sends what is unacknowledged.
# Checks: after every kill `ratchetctl log verify` (with the public key)
# accepts the log; with a torn tail it rejects it, and the restarted
# enforcer keeps the bytes and describes them with a signed torn_tail record
# (a partial record is never valid); no bot ever has two demote records and
# no demote record two actuated records. At the end: every bot has exactly
# one demote record with exactly one actuated record, the stand-in took each
# demote record and refused nothing, the watchdog's pending demotions,
# actuation reports and control-plane records are all 0, and the final log
# verifies. Prints where the kills landed.
# Usage: sh chaos/2-enforcer-crash.sh [BUILD] (from the repo root);
# CHAOS_SEED=N replays a plan, CHAOS_RUNS=N changes the run count.
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. chaos/lib.sh
it_setup
trap 'chattr -a "$IT_DIR"/enf/* 2>/dev/null; it_cleanup' EXIT
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # not a slow version-manager shim
CR="$PY chaos/lib_crash.py"
RUNS=${CHAOS_RUNS:-100}
SEED=${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "seed: $SEED (CHAOS_SEED=$SEED sh $0 $IT_BUILD replays this plan)"
t_start=$(date +%s)

d=$IT_DIR
log=$d/enf/commands.log
port=$(it_port)
cp_port=$(it_port)
WD=http://127.0.0.1:$port
origin=chaos.ratchet.invalid/commands
chaos_enforcer_files
mkdir -m 700 "$d/wd" "$d/cp"
printf 'chaos-token\n' >"$d/token" && chmod 600 "$d/token"
cat >"$d/policy.json" <<EOF
{"version":1,"conditions":{"p0_alert":{"window":"5s","max_evidence_age":"1m"}}}
EOF
chaos_bots_file "$d/bots.json" b%03d "$RUNS"
cat >"$d/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$port}],"auth":{"bearer_token_file":"$d/token"},
 "policy_file":"$d/policy.json","state_dir":"$d/wd","bots":{"file":"$d/bots.json"},
 "enforcer":{"socket":"$d/enf.sock"},
 "control_plane":{"url":"http://127.0.0.1:$cp_port/records?tenant=chaos","log_dir":"$d/enf"}}
EOF
if command -v strace >/dev/null 2>&1; then
    $CR plan2 "$SEED" "$RUNS" >"$d/plan"
else
    echo "note: strace is not installed (Debian package strace): every run is a timed run"
    $CR plan2 "$SEED" "$RUNS" nostrace >"$d/plan"
fi

# ---- helpers ----
ENF_EXE=$(readlink -f "$IT_BUILD/ratchet-enforcer")
# Processes are told apart by their executable, not only their pid: pids
# are reused quickly (pid_max may be 32768) and strace's children include a
# short-lived probe before the enforcer itself.
is_enforcer() { [ -n "$1" ] && [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$ENF_EXE" ]; }
running() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }
# alive PID: our own child is ours until reaped (and before its exec its exe
# is still the shell's); strace's child must still be the enforcer.
alive() { if [ "$1" = "$ENF_REAP" ]; then running "$1"; else is_enforcer "$1"; fi; }
# forget PID...: reaped processes leave IT_PIDS, so that it_cleanup never
# kills a pid that has been reused by someone else.
forget() {
    for f_pid; do IT_PIDS=$(echo " $IT_PIDS " | sed "s/ $f_pid / /g"); done
}
kill_enforcer() { is_enforcer "$ENF_PID" && kill -9 "$ENF_PID"; }
stat_of() { $CR logstat "$log" >"$d/stat"; }
sget() { awk -F= -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$d/stat"; }
# it_wait_for with a 20 ms poll: each run waits for the watchdog to come back.
wait_for() {
    w_end=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
    until "$@" >/dev/null 2>&1; do
        [ $(( $(date +%s%N) / 1000000 )) -ge "$w_end" ] && return 1
        sleep 0.02
    done
}
verify() { "$IT_BUILD/ratchetctl" log verify --log "$log" --pubkey "$d/key.pub" >"$d/verify.out" 2>&1; }

# start_enforcer [SYSCALL:N]: a new incarnation (ENF_N); under strace, which
# kills it at the entry of the Nth SYSCALL. Sets ENF_PID (the enforcer) and
# ENF_REAP (the process to wait for).
ENF_N=0
strace_child() { # the enforcer under strace, or strace is gone (it died at once)
    for c_pid in $(ps -o pid= --ppid "$ENF_REAP" 2>/dev/null ||
        cat "/proc/$ENF_REAP/task/$ENF_REAP/children" 2>/dev/null); do
        if is_enforcer "$c_pid"; then
            ENF_PID=$c_pid
            IT_PIDS="$IT_PIDS $ENF_PID" # killing strace would leave it running
            return 0
        fi
    done
    ! running "$ENF_REAP"
}
start_enforcer() {
    ENF_N=$((ENF_N + 1))
    if [ -n "${1:-}" ]; then
        sc=${1%%:*}
        it_bg "enforcer-$ENF_N" strace -qq -y -o "$d/strace-$ENF_N.out" -e trace="$sc" \
            -e inject="$sc:signal=KILL:when=${1#*:}" "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
        ENF_REAP=$IT_LAST_PID ENF_PID=""
        wait_for 10 strace_child
    else
        it_bg "enforcer-$ENF_N" "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
        ENF_PID=$IT_LAST_PID ENF_REAP=$IT_LAST_PID
    fi
}
served() { grep -q 'peer "ratchet-watchdog" connected' "$d/enforcer-$ENF_N.log"; }
served_or_dead() {
    [ -n "$ENF_PID" ] || strace_child || return 1
    served || ! alive "$ENF_PID"
}
# The syscall strace killed the enforcer at, with the file it was for.
killed_at() {
    sed -n 's/^\([a-z0-9]*\)([0-9]*<\([^>]*\)>.*= ?$/\1(\2)/p; s/^\([a-z0-9]*\)(\([^<]*\)) *= ?$/\1(\2)/p' \
        "$d/strace-$ENF_N.out" 2>/dev/null | tail -n 1 |
        sed 's|/[^,)]*/||g; s/\.tmp\.[A-Za-z0-9]*/.tmp/g; s/socket:\[[0-9]*\]/socket/; s/enforcer-[0-9]*\.log/stderr/; s/"//g; s/, /,/g'
}
reap() { wait "$ENF_REAP" 2>/dev/null; forget "$ENF_REAP" "$ENF_PID"; }

# ---- peers ----
it_bg controlplane "$PY" tests/integration/controlplane.py --port "$cp_port" --pubkey "$d/key.pub" \
    --key-name chaos-key --origin "$origin" --dir "$d/cp"
it_check "control plane stand-in listening" it_wait_for 15 grep -q listening "$d/controlplane.log"
start_enforcer
it_check "enforcer ready" it_wait_for 15 grep -q 'ready: log verified' "$d/enforcer-$ENF_N.log"
it_bg watchdog "$IT_BUILD/ratchet-watchdog" --config "$d/wd.json"
WD_PID=$IT_LAST_PID
it_check "watchdog up and connected to the enforcer" it_wait_for 15 served
if [ "$IT_FAIL" -gt 0 ]; then it_finish; exit 1; fi

# ---- the runs ----
kills=0 timed=0 sc_kills=0 sc_fallback=0 sc_startup=0 idle_kills=0 torn_inj=0 torn_natural=0 torn_regions=0
before_append=0 after_append=0 expect_tt=""
: >"$d/landed"
post_kill_ok() { verify && [ "$(sget max_demote)" -le 1 ] && [ "$(sget max_actuated)" -le 1 ]; }
# after_kill RUN TORN: checks on the log as the crash left it (nothing writes
# it now; stat_of has just read it), then maybe a torn write.
after_kill() {
    # A kill in start-up may land after the recovery signed the torn_tail
    # record for the previous run's tear (e.g. at the write to stderr that
    # reports it): that tear is described, and a new one needs its own record.
    if [ -n "$expect_tt" ] && [ "$(sget torn_tails)" = "$expect_tt" ]; then
        it_ok "run $1: the enforcer signed the torn_tail record for the earlier torn bytes before the kill"
        expect_tt=""
    fi
    if [ "$(sget ends_lf)" = 1 ]; then
        it_check "run $1: log verifies after the kill; at most one demote record per bot, one actuated per demote" \
            post_kill_ok
    else
        torn_natural=$((torn_natural + 1))
        echo "     the kill itself left a partial last line ($(sget size) bytes)"
        if verify; then it_bad "run $1: ratchetctl log verify rejects the crash's partial line"
        else it_ok "run $1: ratchetctl log verify rejects the crash's partial line"; fi
        new_torn_region
    fi
    [ "$2" -gt 0 ] || return 0
    n=$($CR torn "$log" "$2")
    torn_inj=$((torn_inj + 1))
    new_torn_region
    echo "inject: run $1: appended $n bytes of a record, without its LF, to commands.log (a torn write)"
    if verify; then it_bad "run $1: ratchetctl log verify rejects the torn tail: $(cat "$d/verify.out")"
    else it_ok "run $1: ratchetctl log verify rejects the torn tail ($(tail -n 1 "$d/verify.out" | sed 's/.*INVALID: //'))"; fi
}
# Torn bytes start a region that needs a torn_tail record, unless they extend
# one that no incarnation has described yet (the enforcer marks the whole
# region from the first bad byte to the end with one record).
new_torn_region() {
    [ -z "$expect_tt" ] || return 0
    expect_tt=$(( $(sget torn_tails) + 1 ))
    torn_regions=$((torn_regions + 1))
}
# After a torn tail: the first incarnation that serves must have described it.
check_torn_tail() {
    [ -n "$expect_tt" ] || return 0
    stat_of
    it_check "run $1: the restarted enforcer kept the torn bytes and signed a torn_tail record for them" \
        test "$(sget torn_tails)" = "$expect_tt"
    sed -n 's/^[a-z]*: command log: \(a torn final record .*\)/     enforcer: \1/p' "$d"/enforcer-*.log | tail -n 1
    expect_tt=""
}
fire() { $CR fire_kill "$WD" "$d/token" "$1" "$(printf '%016x' "$run")" "$ENF_PID" "$2"; }
while read -r run rseed mode arg torn; do
    bot=$(printf 'b%03d' "$run")
    # This run's incarnation: a strace'd one for a syscall run.
    if [ "$mode" = syscall ] && alive "$ENF_PID"; then
        kill_enforcer; $CR wait_dead "$ENF_PID" 10; reap
        idle_kills=$((idle_kills + 1))
    fi
    if ! alive "$ENF_PID"; then
        if [ "$mode" = syscall ]; then start_enforcer "$arg"; else start_enforcer; fi
    fi
    if ! wait_for 30 served_or_dead; then
        it_bad "run $run: the enforcer serves the watchdog again after the restart"
        tail -n 5 "$d/enforcer-$ENF_N.log"
        break
    fi
    if ! served; then # strace's kill landed in start-up (maybe in the torn-tail recovery)
        reap
        kills=$((kills + 1)) sc_kills=$((sc_kills + 1)) sc_startup=$((sc_startup + 1))
        echo "inject: run $run (seed $rseed): strace killed the enforcer in its start-up, at the entry of $(killed_at)"
        echo "startup $(killed_at)" >>"$d/landed"
        stat_of
        after_kill "$run" "$torn"
        start_enforcer
        if ! it_wait_for 30 served; then
            it_bad "run $run: the enforcer restarts after a crash during its start-up"
            tail -n 5 "$d/enforcer-$ENF_N.log"
            break
        fi
        check_torn_tail "$run"
        out=$(fire "$bot" -1) # no second kill: this run's demotion goes through
        case $out in http=200*) ;; *) it_bad "run $run: webhooks for $bot answered 200 ($out)" ;; esac
        it_wait_for 30 grep -q "\"bot\":\"$bot\"" "$log" || it_bad "run $run: $bot's demote record written"
        continue
    fi
    check_torn_tail "$run"
    size0=$(wc -c <"$log")
    if [ "$mode" = timed ]; then
        out=$(fire "$bot" "$arg")
        kills=$((kills + 1)) timed=$((timed + 1))
        where="kill -9 ${out#*killed_after_us=} us after the watchdog answered $bot's resolve (and handed the demotion over)"
    else
        out=$(fire "$bot" -1)
        kills=$((kills + 1)) sc_kills=$((sc_kills + 1))
        if $CR wait_dead "$ENF_PID" 3; then
            where="strace killed it at the entry of $(killed_at) (${arg%%:*} #${arg#*:} since its start)"
            echo "run $(killed_at)" >>"$d/landed"
        else
            kill_enforcer
            sc_fallback=$((sc_fallback + 1))
            where="${arg%%:*} #${arg#*:} did not come within 3 s: kill -9 then"
        fi
    fi
    case $out in http=200*) ;; *) it_bad "run $run: webhooks for $bot answered 200 ($out)" ;; esac
    $CR wait_dead "$ENF_PID" 10 || it_bad "run $run: enforcer gone after SIGKILL"
    reap
    stat_of
    if [ "$(sget "demote_$bot")" -gt 0 ]; then
        after_append=$((after_append + 1)) has="durable"
    else
        before_append=$((before_append + 1)) has="not in the log yet"
    fi
    echo "inject: run $run (seed $rseed): $where; log +$(( $(sget size) - size0 )) bytes, $bot's demote record $has"
    after_kill "$run" "$torn"
done <"$d/plan"

# ---- the end: everything settles ----
if ! alive "$ENF_PID"; then start_enforcer; fi
it_check "the last incarnation serves the watchdog" it_wait_for 30 served
check_torn_tail end
status_is() { test "$(it_json "$WD/api/v1/status" "$1")" = True; }
all_done() {
    stat_of
    [ "$(sget demotes)" = "$RUNS" ] && [ "$(sget actuateds)" = "$RUNS" ] &&
        status_is 'd["enforcer"]["pending"] == 0 and d["enforcer"]["actuations_pending"] == 0 and d["control_plane"]["pending"] == 0'
}
t_settle=$(date +%s)
it_check "every demotion recorded and actuated; the watchdog's pending counts return to 0" it_wait_for 120 all_done
echo "     settled $(( $(date +%s) - t_settle )) s after the last run"
stat_of
n_one=0
i=1
while [ "$i" -le "$RUNS" ]; do
    b=$(printf 'b%03d' "$i")
    [ "$(sget "demote_$b")" = 1 ] && [ "$(sget "actuated_$(sget "demote_seq_$b")")" = 1 ] && n_one=$((n_one + 1))
    i=$((i + 1))
done
it_check "each of the $RUNS bots has exactly one demote record, with exactly one actuated record ($n_one)" \
    test "$n_one" = "$RUNS"
it_check "no bot has two demote records, no demote record two actuated records" \
    test "$(sget max_demote)" = 1 -a "$(sget max_actuated)" = 1
it_check "status: enforcer pending 0, actuations pending 0, control plane pending 0, nothing listed" \
    status_is 'd["enforcer"]["pending"] == 0 and d["enforcer"]["actuations_pending"] == 0 and d["control_plane"]["pending"] == 0 and d["pending_demotions"] == [] and d["pending_actuations"] == [] and d["enforcer"]["connected"]'
it_check "the stand-in took $RUNS distinct demote records" test "$(wc -l <"$d/cp/accepted.log")" = "$RUNS"
it_check "the stand-in refused nothing (no 409 two histories, no 4xx)" \
    sh -c "! grep -q '\"status\": 4' '$d/cp/requests.jsonl'"
wd_rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$WD_PID/status" 2>/dev/null)
kill "$WD_PID" 2>/dev/null && wait "$WD_PID" 2>/dev/null # nothing writes from here
forget "$WD_PID"
it_check "ratchetctl log verify accepts the final log" verify
echo "     $(grep -v '^$' "$d/verify.out" | head -n 1)"
it_check "torn_tail records in the log: one per torn region ($torn_regions, from $torn_inj injected and $torn_natural natural torn writes)" \
    test "$(sget torn_tails)" = "$torn_regions"

# ---- summary ----
dup_acks=$(grep -c 'enforcer acknowledged demotion of .*, duplicate)' "$d"/watchdog.log)
acks_lost=0
i=1
while [ "$i" -le "$RUNS" ]; do
    b=$(printf 'b%03d' "$i")
    grep "enforcer acknowledged demotion of $b " "$d/watchdog.log" | grep -qv 'duplicate)' || acks_lost=$((acks_lost + 1))
    i=$((i + 1))
done
act_dups=$(grep -c 'enforcer recorded the actuation of log record .*, duplicate)' "$d/watchdog.log")
repushes=$(grep -c '"already accepted"' "$d/cp/requests.jsonl")
mid_append=$(grep -c '^run fdatasync(commands.log)' "$d/landed")
echo "summary: runs $RUNS, kills $((kills + idle_kills)) (timed $timed; strace $sc_kills, of which $sc_startup in start-up" \
    "and $sc_fallback fell back to kill -9; $idle_kills of an idle enforcer to swap in strace), $ENF_N enforcer incarnations"
echo "summary: where the runs' kills landed: before the run's demote record was written $before_append;" \
    "after it was durable but before the watchdog had its DEMOTE_ACK $acks_lost (re-sent, answered 'duplicate'," \
    "one record: $dup_acks duplicate ACKs); after the ACK $((after_append - acks_lost)); in start-up or recovery $sc_startup;" \
    "mid-append (strace: between the log's write and its fdatasync) $mid_append"
echo "summary: actuated records written whose ACTUATED_ACK was lost (re-sent, answered 'duplicate'): $act_dups;" \
    "records pushed to the control plane again and answered 2xx: $repushes"
echo "summary: strace kill points: $(sed -n 's/^[a-z]* //p' "$d/landed" | sort | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')"
echo "summary: torn writes injected $torn_inj, torn by the kill itself $torn_natural, torn_tail records $(sget torn_tails);" \
    "final log: $(sget records) records, $(sget size) bytes; watchdog peak RSS ${wd_rss:-n/a}"
echo "summary: $(( $(date +%s) - t_start )) s"
# One log for all the incarnations, so that a failure's dump stays short.
i=1
while [ "$i" -le "$ENF_N" ]; do
    echo "=== enforcer-$i" && cat "$d/enforcer-$i.log" && rm -f "$d/enforcer-$i.log"
    i=$((i + 1))
done >"$d/enforcers.log"
it_finish
