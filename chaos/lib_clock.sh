# Helpers for chaos/6-clock-steps.sh (POSIX sh; sourced after lib.sh and
# lib_peers.sh). Times are epoch seconds with microseconds, on this script's
# clock, which libfaketime never touches.
# shellcheck disable=SC2154 # d, W and T1 are the script's

CK_FTLIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
CK_PY="python3 chaos/lib_clock.py"

ck_add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", a + b }'; }
ck_sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }
# ck_rel T BASE: "T1+2.000 s" (T relative to BASE, printed as T1).
ck_rel() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0.0005 && d > -0.0005) d = 0; printf "T1%+.3f s\n", d }'; }
ck_ge() { fok "$1 >= $2"; }
ck_le() { fok "$1 <= $2"; }
ck_between() { fok "$1 >= $2 && $1 <= $3"; }
ck_near() { fok "$1 - ($2) <= $3 && ($2) - $1 <= $3"; }

# ck_start MODE: fresh state, both daemons under libfaketime reading the
# offset from $CK_DIR/faketime ("+0" now), and the status sampler. MODE excl
# fakes the wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1), mono every clock.
ck_start() {
    CK_MODE=$1 CK_DIR=$d/$1
    mkdir -p "$CK_DIR"
    mkdir -m 700 "$CK_DIR/enf" "$CK_DIR/wd"
    CK_LOG=$CK_DIR/enf/commands.log CK_SCHED=$CK_DIR/schedule
    ck_port=$(it_port)
    CK_WD=http://127.0.0.1:$ck_port
    printf 'tok\n' >"$CK_DIR/token" && chmod 600 "$CK_DIR/token"
    printf '%s\n' "{\"version\":1,\"conditions\":{\"p0_alert\":{\"window\":\"${W}s\",\"max_evidence_age\":\"1m\"}}}" \
        >"$CK_DIR/policy.json"
    printf '%s\n' '{"version":1,"bots":[{"id":"b1","readiness":"general_live"},{"id":"b2","readiness":"general_live"},{"id":"b3","readiness":"general_live"},{"id":"b4","readiness":"general_live"}]}' \
        >"$CK_DIR/bots.json"
    cat >"$CK_DIR/enf.json" <<EOF
{"version":1,"socket":"$CK_DIR/enf.sock","allowed_peers":{"uids":[$(id -u)]},"state_dir":"$CK_DIR/enf",
 "origin":"chaos6.ratchet.invalid/commands","key":{"file":"$d/key.pem"},"key_name":"chaos6",
 "policy_file":"$CK_DIR/policy.json","checkpoint_interval":"1h","watchdog_silence":"1h"}
EOF
    cat >"$CK_DIR/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$ck_port}],"auth":{"bearer_token_file":"$CK_DIR/token"},
 "policy_file":"$CK_DIR/policy.json","state_dir":"$CK_DIR/wd","bots":{"file":"$CK_DIR/bots.json"},
 "enforcer":{"socket":"$CK_DIR/enf.sock"}}
EOF
    printf '+0\n' >"$CK_DIR/faketime"
    : >"$CK_SCHED"
    echo "$(now_s) 0" >>"$CK_SCHED"
    set -- env LD_PRELOAD="$CK_FTLIB" FAKETIME_TIMESTAMP_FILE="$CK_DIR/faketime" FAKETIME_NO_CACHE=1
    [ "$CK_MODE" = excl ] && set -- "$@" FAKETIME_DONT_FAKE_MONOTONIC=1
    echo "inject: $CK_MODE: both daemons under libfaketime, $( [ "$CK_MODE" = excl ] &&
        echo "wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1)" || echo "monotonic and boot-time clocks faked too")"
    it_bg "enforcer-$CK_MODE" "$@" "$IT_BUILD/ratchet-enforcer" --config "$CK_DIR/enf.json"
    CK_ENF_PID=$IT_LAST_PID
    it_check "$CK_MODE: enforcer up" it_wait_for 30 test -S "$CK_DIR/enf.sock"
    it_bg "watchdog-$CK_MODE" "$@" "$IT_BUILD/ratchet-watchdog" --config "$CK_DIR/wd.json"
    CK_WD_PID=$IT_LAST_PID
    it_check "$CK_MODE: watchdog up" it_wait_for 30 it_http_ok "$CK_WD/healthz"
    # shellcheck disable=SC2086 # CK_PY is a command and its first argument
    it_bg "sampler-$CK_MODE" $CK_PY sample "$CK_WD/api/v1/status" "$CK_DIR/samples" "$CK_DIR/sampler.stop" b1 b2 b3 b4
    CK_SAMP_PID=$IT_LAST_PID
    it_wait_for 30 test -s "$CK_DIR/samples"
}

# ck_step SPEC OFFSET: the clock of both daemons becomes real + OFFSET seconds
# (SPEC is libfaketime's spelling of it); CK_T is when (real time, a lower
# bound: the rename follows at once).
ck_step() {
    printf '%s\n' "$1" >"$CK_DIR/faketime.tmp"
    CK_T=$(now_s) # just before the rename, which is the step
    mv -f "$CK_DIR/faketime.tmp" "$CK_DIR/faketime"
    echo "$CK_T $2" >>"$CK_SCHED"
    echo "inject: $CK_MODE: clock step to $1 at $(ck_rel "$CK_T" "$T1")"
}

# ck_fire BOT STAMP: a P0 alert for BOT whose startsAt is STAMP (the time as
# the stepped clock showed it), posted to the webhook at once.
ck_fire() {
    ck_fp=$(printf '%016x' "$(echo "$1" | cksum | cut -d' ' -f1)")
    ck_code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Authorization: Bearer tok' \
        -H 'Content-Type: application/json' \
        --data '{"receiver":"r","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0","bot":"'"$1"'","severity":"P0"},"annotations":{},"startsAt":"'"$(rfc3339 "$2")"'","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"'"$ck_fp"'"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"x","version":"4","groupKey":"{}","truncatedAlerts":0}' \
        "$CK_WD/webhook/alertmanager")
    [ "$ck_code" = 200 ] || it_bad "$CK_MODE: webhook for $1 accepted (HTTP $ck_code)"
}

ck_records_are() { test "$(grep -c "\"type\":\"demote\".*\"bot\":\"$1\"" "$CK_LOG")" = "$2"; }

# ck_load BOT: CK_TS, the real time the enforcer signed BOT's demote record;
# CK_WS and CK_DEC, its window_start and decided_at. Under excl they are
# turned into real times with the offset in force when it was signed; under
# mono they stay on the daemons' clock (the engine's timeline then follows
# the faked monotonic clock, which has no real counterpart).
ck_load() {
    CK_TS=0 CK_WS=0 CK_DEC=0
    ck_rec=$($CK_PY record "$CK_LOG" "$1") || return 1
    # shellcheck disable=SC2086 # three numbers
    set -- $ck_rec
    CK_TS=$($CK_PY real "$CK_SCHED" "$3") || CK_TS=0
    if [ "$CK_MODE" = excl ]; then
        ck_off=$(ck_sub "$3" "$CK_TS")
        CK_WS=$(ck_add "$1" "-$ck_off") CK_DEC=$(ck_add "$2" "-$ck_off")
    else
        CK_WS=$1 CK_DEC=$2
    fi
}
# ck_explain BOT T1 TEXT: what happened to BOT, relative to T1.
ck_explain() {
    echo "     $CK_MODE $1: $3; window_start $(ck_rel "$CK_WS" "$2"), decided_at $(ck_rel "$CK_DEC" "$2")," \
        "signed at $(ck_rel "$CK_TS" "$2") (real)"
}

# ck_check_sampler MODE BOT DEADLINE: no status answered before the real
# time DEADLINE showed BOT demoted, and there were such answers.
ck_check_sampler() {
    # shellcheck disable=SC2046 # two numbers
    set -- "$1" "$2" "$3" $($CK_PY early "$CK_DIR/samples" "$2" "$3")
    it_check "$1: $2 shown General live by every status answered before its real deadline ($4 samples, $5 early)" \
        fok "${4:-0} > 0 && ${5:-1} == 0"
}
ck_stop_sampler() { : >"$CK_DIR/sampler.stop"; }

# ck_finish_run MODE: the checks of every run, then stop its daemons.
ck_finish_run() {
    for ck_b in b1 b2 b3 b4; do
        it_check "$1: exactly one demote record for $ck_b" ck_records_are "$ck_b" 1
    done
    it_check "$1: the log verifies" "$IT_BUILD/ratchetctl" log verify --log "$CK_LOG" --pubkey "$d/key.pub"
    it_check "$1: nothing pending" pok "$CK_WD/api/v1/status" 'd["enforcer"]["pending"] == 0'
    echo "     $1: records: $(grep -o '"type":"[a-z_]*"' "$CK_LOG" | cut -d'"' -f4 | sort | uniq -c |
        awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"
    echo "     $1: peak RSS (VmHWM): watchdog $(awk '/VmHWM/ { print $2 }' "/proc/$CK_WD_PID/status") KiB," \
        "enforcer $(awk '/VmHWM/ { print $2 }' "/proc/$CK_ENF_PID/status") KiB"
    ck_stop_sampler
    kill "$CK_SAMP_PID" "$CK_WD_PID" "$CK_ENF_PID" 2>/dev/null
}
