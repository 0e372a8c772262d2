#!/bin/sh
# Chaos scenario 1: the watchdog crashes (docs/policy.md "Clocks": a
# restarted daemon keeps its schedule; docs/state-store.md; docs/protocol.md).
#
# A real Alertmanager delivers P0 alerts to ratchet-watchdog (webhook with
# bearer auth; the watchdog also polls it every second), and the real
# ratchet-enforcer records the demotions in its signed log. The p0_alert
# window is CHAOS_WINDOW seconds (default 2).
# Injects, in each of CHAOS_RUNS (default 20) runs, for a new bot (w01,
# w02, ...): a P0 alert posted to Alertmanager's API with startsAt = now,
# and 1 to 3 `kill -9` of the watchdog, each followed by a random downtime
# of up to 0.6 s and a restart on the same state dir (a kill may land in the
# previous restart's start-up). The kills come at random moments from the
# window's start to 1.1 s past its end (the decision and the hand-off); in
# about 3 runs in 10 the first one comes just before the alert is posted
# (Alertmanager's delivery fails and is retried; the poll may see the alert
# first), and in about 3 in 10 the last one comes 0-3 ms after the watchdog
# logs its decision (while it journals the demotion, hands it over, or takes
# the ACK). Each run's kills come from its own seed, printed.
# Checks, per run, on the signed record in commands.log: the demotion
# arrives, exactly once; never early: window_start is the alert's startsAt
# (to the millisecond: Alertmanager's API gives milliseconds),
# decided_at >= startsAt + window, and the record was written no earlier;
# on time: decided_at <= startsAt + window + SLACK (1 s), the record written
# within HANDOFF_MAX (8 s) of it. At the end: still exactly one demote
# record per bot (restarts re-send, the enforcer deduplicates), no
# incarnation exited by itself, every bot in Limited live with nothing
# pending in the watchdog's status, and `ratchetctl log verify` accepts the
# log.
# Usage: sh chaos/1-watchdog-crash.sh [BUILD] (from the repo root);
# CHAOS_SEED=N reproduces a run's plan (kill times and downtimes).
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. chaos/lib.sh
. tests/integration/lib_peers.sh
peers_setup
trap 'chattr -a "$IT_DIR"/enf/* 2>/dev/null; it_cleanup' EXIT
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # not a slow version-manager shim
CR="$PY chaos/lib_crash.py"
PEERS_PY="$PY tests/integration/peers.py"
RUNS=${CHAOS_RUNS:-20}
WIN=${CHAOS_WINDOW:-2}
SLACK=1       # decided_at may be this much after startsAt + window
HANDOFF_MAX=8 # the record may be written this long after decided_at
SEED=${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "seed: $SEED (CHAOS_SEED=$SEED sh $0 $IT_BUILD replays this plan); window ${WIN}s, $RUNS runs"
t_start=$(date +%s)

d=$IT_DIR
log=$d/enf/commands.log
AMP=$(it_port)
WDP=$(it_port)
AM=http://127.0.0.1:$AMP
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status
chaos_enforcer_files
mkdir -m 700 "$d/wd"
echo "chaos-webhook-token-$$" >"$d/token" && chmod 600 "$d/token"
cat >"$d/am.yml" <<EOF
route:
  receiver: wd
  group_by: [bot]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: wd
    webhook_configs:
      - url: $WD/webhook/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: $d/token
EOF
cat >"$d/policy.json" <<EOF
{"version": 1, "conditions": {"p0_alert": {"window": "${WIN}s", "max_evidence_age": "10s"}}}
EOF
chaos_bots_file "$d/bots.json" w%02d "$RUNS"
cat >"$d/wd.json" <<EOF
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": $WDP}],
 "auth": {"bearer_token_file": "$d/token"},
 "policy_file": "$d/policy.json",
 "state_dir": "$d/wd",
 "bots": {"file": "$d/bots.json"},
 "enforcer": {"socket": "$d/enf.sock"},
 "alertmanager": {"url": "$AM", "poll_interval": "1s"}}
EOF
$CR plan1 "$SEED" "$RUNS" "$WIN" >"$d/plan"

# ---- helpers ----
WD_N=0 self_exits=0
start_wd() { # a new incarnation on the same state dir, logging to watchdog-N.log
    WD_N=$((WD_N + 1))
    it_bg "watchdog-$WD_N" "$IT_BUILD/ratchet-watchdog" --config "$d/wd.json"
    WD_PID=$IT_LAST_PID
}
# kill_wd [TERM]: kill -9 (or -TERM) and reap the watchdog, our child
# (its pid cannot be reused before that). The pid then leaves IT_PIDS, so
# that it_cleanup never kills a pid someone else got since. An incarnation
# that had already exited by itself (state store refused, crash) is counted.
kill_wd() {
    if [ "${1:-}" = TERM ]; then k_want=0; kill "$WD_PID" 2>/dev/null; else k_want=137; kill -9 "$WD_PID" 2>/dev/null; fi
    wait "$WD_PID" 2>/dev/null
    k_st=$?
    IT_PIDS=$(echo " $IT_PIDS " | sed "s/ $WD_PID / /")
    if [ "$k_st" != "$k_want" ]; then
        self_exits=$((self_exits + 1))
        echo "     watchdog-$WD_N had exited by itself (status $k_st):"
        tail -n 3 "$d/watchdog-$WD_N.log" | sed 's/^/       /'
    fi
}
status_is() { test "$($PEERS_PY q "$ST" "$1" 2>/dev/null)" = True; }
has_record() { [ "$($CR demotes "$log" "$1" | cut -d' ' -f1)" -ge 1 ]; }

# ---- peers ----
it_bg alertmanager prometheus-alertmanager --config.file="$d/am.yml" --storage.path="$d/am" \
    --web.listen-address="127.0.0.1:$AMP" --cluster.listen-address= --log.level=warn
it_check "alertmanager is ready" it_wait_for 30 it_http_ok "$AM/-/ready"
it_bg enforcer "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
it_check "enforcer ready" it_wait_for 15 grep -q 'ready: log verified' "$d/enforcer.log"
start_wd
it_check "watchdog up" it_wait_for 15 it_http_ok "$WD/healthz"
it_check "watchdog polls alertmanager and is connected to the enforcer" \
    it_wait_for 15 status_is 'd["sources"]["alertmanager"]["up"] and d["enforcer"]["connected"]'
if [ "$IT_FAIL" -gt 0 ]; then it_finish; exit 1; fi

# ---- the runs ----
kills=0 k_pre=0 k_in=0 k_end=0 k_after=0 k_hand=0 max_late=0.000 max_lag=0.000
: >"$d/results"
# after_kill_wd DESCRIPTION: report the kill, stay down, restart.
after_kill_wd() {
    n=$((n + 1))
    down=$(echo "$downs" | cut -d, -f"$n")
    kills=$((kills + 1))
    echo "inject: run $run: kill -9 watchdog-$WD_N $1; restarted after ${down}s"
    sleep "$down" # the injected downtime, not a synchronisation
    start_wd
}
while read -r run rseed downs offs handoff; do
    bot=$(printf 'w%02d' "$run")
    # Each run starts from a watchdog that serves (the last one's restart).
    it_wait_for 30 it_http_ok "$WD/healthz" || it_bad "run $run: watchdog answers /healthz before the run"
    echo "     run $run (seed $rseed): $bot, kills at startsAt +{$offs} s$([ "$handoff" = -1 ] || echo " and ${handoff} us after the decision")"
    n=0
    case $offs in 0.000*) # down when Alertmanager delivers: its delivery fails and is retried
        kill_wd
        k_pre=$((k_pre + 1))
        offs=${offs#0.000} offs=${offs#,}
        pre=1 ;;
    *) pre=0 ;;
    esac
    out=$($CR alert "$AM" "$bot" 0)
    starts=${out%% *}
    case $out in *http=200) ;; *) it_bad "run $run: alertmanager took the alert for $bot ($out)" ;; esac
    echo "     $bot's P0 alert posted to Alertmanager, startsAt $(rfc3339 "$starts")"
    [ "$pre" = 0 ] || after_kill_wd "just before the alert was posted"
    for off in $(echo "$offs" | tr ,- '  '); do
        $CR sleep_until "$(awk "BEGIN { printf \"%.6f\", $starts + $off }")"
        at=$(awk "BEGIN { printf \"%.3f\", $(now_s) - $starts }")
        kill_wd
        if has_record "$bot"; then phase="after the demotion was recorded"; k_after=$((k_after + 1))
        elif fok "$at < $WIN"; then phase="inside the window"; k_in=$((k_in + 1))
        else phase="after the window's end, before the demotion was recorded"; k_end=$((k_end + 1)); fi
        after_kill_wd "at startsAt +${at}s ($phase)"
    done
    if [ "$handoff" != -1 ]; then
        h=$($CR kill_at_line "$d/watchdog-$WD_N.log" "demoting $bot to Limited live" "$WD_PID" ratchet-watchdog \
            "$handoff" $((WIN + 10)))
        kill_wd
        k_hand=$((k_hand + 1))
        if has_record "$bot"; then phase="the record was written"; else phase="no record yet"; fi
        case $h in
        killed_after_us=*) after_kill_wd "${h#killed_after_us=} us after it logged its decision to demote $bot ($phase)" ;;
        *) after_kill_wd "$((WIN + 10)) s after the run's last kill: it never logged a decision for $bot ($phase)" ;;
        esac
    fi
    if ! it_wait_for $((WIN + 30)) has_record "$bot"; then
        it_bad "run $run: $bot's demotion arrives (a demote record in commands.log)"
        continue
    fi
    # shellcheck disable=SC2046 # four fields, split on purpose
    set -- $($CR demotes "$log" "$bot")
    count=$1 ws=$2 dec=$3 ts=$4
    late=$(awk "BEGIN { printf \"%.6f\", $dec - ($starts + $WIN) }")
    lag=$(awk "BEGIN { printf \"%.3f\", $ts - $dec }")
    echo "$run $bot $starts $ws $dec $ts" >>"$d/results"
    echo "     $bot: decided_at = startsAt + window + ${late}s, record written ${lag}s after decided_at"
    fok "$late > $max_late" && max_late=$late
    fok "$lag > $max_lag" && max_lag=$lag
    it_check "run $run: $bot demoted, exactly one demote record ($count)" test "$count" = 1
    it_check "run $run: never early: window_start = startsAt (to the ms), decided_at >= startsAt + ${WIN}s, written after it" \
        fok "$ws - $starts < 0.001 && $starts - $ws < 0.001 && $dec >= $starts + $WIN - 0.000001 && $ts >= $dec - 0.000001"
    it_check "run $run: on time: decided_at <= startsAt + ${WIN}s + ${SLACK}s, written within ${HANDOFF_MAX}s" \
        fok "$late <= $SLACK && $lag <= $HANDOFF_MAX"
done <"$d/plan"

# ---- the end ----
it_check "the last watchdog serves" it_wait_for 30 it_http_ok "$WD/healthz"
it_check "status: every bot in Limited live, no pending demotion, enforcer connected" it_wait_for 30 status_is \
    "all(b['readiness'] == 'limited_live' for b in d['bots']) and len(d['bots']) == $RUNS and d['pending_demotions'] == [] and d['enforcer']['pending'] == 0 and d['enforcer']['connected']"
dups=0
i=1
while [ "$i" -le "$RUNS" ]; do
    b=$(printf 'w%02d' "$i")
    [ "$($CR demotes "$log" "$b" | cut -d' ' -f1)" = 1 ] || dups=$((dups + 1))
    i=$((i + 1))
done
it_check "still exactly one demote record per bot after every restart ($RUNS bots)" test "$dups" = 0
it_check "the log holds $RUNS demote records and nothing else but its genesis" \
    test "$(grep -c '"type":"demote"' "$log")" = "$RUNS" -a "$(grep -c . "$log")" = "$((RUNS + 1))"
kill_wd TERM # nothing writes the log from here
it_check "no watchdog incarnation exited by itself (each was killed)" test "$self_exits" = 0
it_check "ratchetctl log verify accepts the log" \
    "$IT_BUILD/ratchetctl" log verify --log "$log" --pubkey "$d/key.pub"

# ---- summary ----
i=1 # one log for all the incarnations, so that a failure's dump stays short
while [ "$i" -le "$WD_N" ]; do
    echo "=== watchdog-$i" && cat "$d/watchdog-$i.log" && rm -f "$d/watchdog-$i.log"
    i=$((i + 1))
done >"$d/watchdogs.log"
torn=$(grep -c 'dropped a torn final record' "$d/watchdogs.log")
dup_acks=$(grep -c 'enforcer acknowledged demotion of .*, duplicate' "$d/watchdogs.log")
hooks=$(metric "$AM/metrics" 'alertmanager_notification_requests_total{integration="webhook"}' 2>/dev/null || echo "?")
hook_fail=$(metric "$AM/metrics" 'alertmanager_notification_requests_failed_total{integration="webhook"}' 2>/dev/null || echo "?")
echo "summary: runs $RUNS, kill -9 of the watchdog: $kills ($k_pre just before an alert was posted, $k_in inside a window," \
    "$k_end after its end before the demotion was recorded, $k_after after it, $k_hand 0-3 ms after a decision);" \
    "watchdog incarnations $WD_N;" \
    "decided_at at most ${max_late}s after startsAt + window; records written at most ${max_lag}s after decided_at"
echo "summary: torn state-store tails dropped at restart: $torn; re-sent demotions answered 'duplicate' by the enforcer: $dup_acks;" \
    "alertmanager webhooks sent $hooks, failed $hook_fail (retried)"
echo "summary: $(( $(date +%s) - t_start )) s"
it_finish
