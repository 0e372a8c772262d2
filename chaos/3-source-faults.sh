#!/bin/sh
# Chaos scenario 3: source faults. Real ratchet-watchdog and
# ratchet-enforcer, real Prometheus and Alertmanager on loopback, windows of
# seconds (on_unknown: hold, the default).
#
# Evidence: an exporter (python3 -m http.server, a file the test rewrites)
# scraped by two Prometheus servers: "prom" answers the watchdog's
# error-rate query `max by (bot) (bot_errors / bot_requests)`; "prom-alerts"
# evaluates the rule `bot_p0 > 0` (severity P0) and sends the alert to
# Alertmanager, which delivers it by webhook and is polled by the watchdog.
# The drift feed (generated at request time) and the CVSS reports (one per
# bot, URL form) are files served by chaos/faultproxy.py; the watchdog
# reaches prom through another faultproxy, which is transparent except
# while it injects a fault.
#
# Bots: one "hot" bot in breach from the start for each condition (err-hot,
# p0-hot, drift-hot, cvss-hot) and one healthy "cool" bot for each.
#
# Injects, one phase at a time in a seeded order:
#   down     kill -9 of prom and of Alertmanager (alert active), then both
#            restarted with their data directories; Alertmanager keeps alerts
#            in memory only, so it comes back without the P0 alert until
#            prom-alerts re-sends it (the watchdog's alertmanager.restart_grace,
#            2m by default, keeps the alert it has not re-learnt from being
#            taken as resolved: docs/alertmanager.md, tracker rule 9)
#   500      prom answers 500; drift and CVSS answer truncated JSON
#   hang     prom and the CVSS server accept and hang past the 2 s client
#            timeout; the drift feed drips its body over 5 s
#   garbage  prom answers 200 with random bytes; drift and CVSS are slow
#            but inside the timeout (0.6 s)
#   nan      the exporter reports 0 errors of 0 requests: prom's answer is
#            NaN for both error-rate bots (real Prometheus, real 0/0)
# Checks, per phase: the source is shown down in GET /api/v1/status
# (sources.X.up, last_error, the conditions' source_up) and in GET /metrics
# (ratchet_source_up; for CVSS, a truncated report fails the round too) --
# and a slow source inside the timeout is not; the hot
# bots' evidence goes unknown while their windows stay open with the same
# window_start (hold, no reset); the cool bots stay general_live without a
# window; no demotion is recorded early; once the source is back it is shown
# up and new evidence is applied. At the end: each hot bot is demoted once,
# at window_start + window (or, had a fault still been running then, right
# after its source came back), on its original window; the signed log holds
# exactly the four hot bots' demotions and verifies; the cool bots are
# general_live with nothing in the log.
# Usage: sh chaos/3-source-faults.sh [BUILD] (from the repo root)
# shellcheck disable=SC2154 # ws_<bot> and r_<src> are set by eval
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
. chaos/lib_feeds.sh
peers_setup
trap cf_cleanup EXIT
cf_seed

WIN=40        # every condition's window (s)
AGE=3         # max_evidence_age (s): a fault makes evidence stale quickly
SLACK=3       # a decision may come this long after it is due
TIMEOUT=2     # the watchdog's http_client timeout (s)
EXP=$(it_port) PRP=$(it_port) PAP=$(it_port) AMP=$(it_port) WDP=$(it_port)
PXP=$(it_port) DFP=$(it_port) CVP=$(it_port)
PROM=http://127.0.0.1:$PRP
AM=http://127.0.0.1:$AMP
PX=http://127.0.0.1:$PXP
DF=http://127.0.0.1:$DFP
CV=http://127.0.0.1:$CVP
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status
MET=$WD/metrics
HOT="err-hot p0-hot drift-hot cvss-hot"
COOL="err-cool p0-cool drift-cool cvss-cool"
# cond_of BOT / src_of BOT: the condition a bot is about, and its source.
cond_of() { case $1 in err-*) echo error_rate ;; p0-*) echo p0_alert ;; drift-*) echo recon_drift ;; *) echo cvss ;; esac; }
src_of() { case $1 in err-*) echo prometheus ;; p0-*) echo alertmanager ;; drift-*) echo drift ;; *) echo cvss ;; esac; }
var_of() { echo "$1" | tr - _; }

# exporter ERRORS REQUESTS: what err-hot reports (err-cool: ERRORS/10 of
# REQUESTS*10; 0 0 gives NaN for both); p0-hot always has bot_p0 1.
exporter() {
    {
        echo '# TYPE bot_errors gauge'
        echo "bot_errors{bot=\"err-hot\"} $1"
        echo "bot_errors{bot=\"err-cool\"} $(( $1 / 10 ))"
        echo '# TYPE bot_requests gauge'
        echo "bot_requests{bot=\"err-hot\"} $2"
        echo "bot_requests{bot=\"err-cool\"} $(( $2 * 10 ))"
        echo '# TYPE bot_p0 gauge'
        echo 'bot_p0{bot="p0-hot"} 1'
        echo 'bot_p0{bot="p0-cool"} 0'
    } | write_atomic "$IT_DIR/exporter/metrics"
}

# ---- configuration ----
mkdir -p "$IT_DIR/exporter" "$IT_DIR/drift" "$IT_DIR/cvss"
exporter 5 100    # err-hot 5%, err-cool 0.05%
cat >"$IT_DIR/drift/feed.json" <<'EOF'
{"generated_at": "@NOW@", "bots": [
  {"bot": "drift-hot", "drift": -900.5, "tolerance": 250, "unit": "USD"},
  {"bot": "drift-cool", "drift": 12.25, "tolerance": 250, "unit": "USD"}]}
EOF
cp tests/samples/scan/native-above.json "$IT_DIR/cvss/cvss-hot.json"       # 10.0
cp tests/samples/scan/native-exactly-7.json "$IT_DIR/cvss/cvss-cool.json"  # 7.0: not above 7.0
echo "chaos-webhook-token-$$" >"$IT_DIR/token"
chmod 600 "$IT_DIR/token"
bots=""
for b in $HOT $COOL; do bots="$bots${bots:+, }{\"id\": \"$b\", \"readiness\": \"general_live\"}"; done
echo "{\"version\": 1, \"bots\": [$bots]}" >"$IT_DIR/bots.json"
cat >"$IT_DIR/policy.json" <<EOF
{"version": 1, "conditions": {
  "p0_alert": {"window": "${WIN}s", "max_evidence_age": "${AGE}s"},
  "error_rate": {"window": "${WIN}s", "max_evidence_age": "${AGE}s"},
  "recon_drift": {"window": "${WIN}s", "max_evidence_age": "${AGE}s"},
  "cvss": {"window": "${WIN}s", "max_evidence_age": "${AGE}s"}}}
EOF
cat >"$IT_DIR/prom.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs: [{job_name: bots, static_configs: [{targets: ['127.0.0.1:$EXP']}]}]
EOF
cat >"$IT_DIR/rules.yml" <<'EOF'
groups:
  - name: p0
    interval: 1s
    rules:
      - alert: BotP0
        expr: bot_p0 > 0
        labels: {severity: P0}
EOF
cat >"$IT_DIR/prom-alerts.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ['$IT_DIR/rules.yml']
alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:$AMP']}]}]}
scrape_configs: [{job_name: bots, static_configs: [{targets: ['127.0.0.1:$EXP']}]}]
EOF
cat >"$IT_DIR/am.yml" <<EOF
route: {receiver: wd, group_by: [bot], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: wd
    webhook_configs:
      - url: $WD/webhook/alertmanager
        send_resolved: true
        http_config: {authorization: {credentials_file: $IT_DIR/token}}
EOF
cat >"$IT_DIR/wd.json" <<EOF
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": $WDP}],
 "auth": {"bearer_token_file": "$IT_DIR/token"},
 "policy_file": "$IT_DIR/policy.json",
 "state_dir": "$IT_DIR/state",
 "bots": {"file": "$IT_DIR/bots.json"},
 "enforcer": {"socket": "$IT_DIR/enf.sock"},
 "alertmanager": {"url": "$AM", "poll_interval": "1s"},
 "prometheus": {"url": "$PX", "error_rate_query": "max by (bot) (bot_errors / bot_requests)",
                "interval": "1s", "backfill_max": "1h"},
 "drift": {"url": "$DF/feed.json", "interval": "1s"},
 "cvss": {"url_template": "$CV/{bot}.json", "format": "auto", "interval": "1s"},
 "http_client": {"timeout": "${TIMEOUT}s", "max_concurrency": 16}}
EOF
chaos_enforcer_files

# ---- peers ----
start_static exporter "$IT_DIR/exporter" "$EXP" || it_bad "exporter starts"
it_bg proxy-prom python3 chaos/faultproxy.py --upstream "$PROM" --port "$PXP" --parent $$ --seed "$CF_SEED"
it_bg proxy-drift python3 chaos/faultproxy.py --dir "$IT_DIR/drift" --port "$DFP" --parent $$ --seed "$CF_SEED"
it_bg proxy-cvss python3 chaos/faultproxy.py --dir "$IT_DIR/cvss" --port "$CVP" --parent $$ --seed "$CF_SEED"
cf_start_am alertmanager "$IT_DIR/am.yml" "$IT_DIR/am" "$AMP" --cluster.listen-address= || it_bad "alertmanager is ready"
cf_start_prom prom-alerts "$IT_DIR/prom-alerts.yml" "$IT_DIR/tsdb-alerts" "$PAP" || it_bad "prom-alerts is ready"
cf_start_prom prom "$IT_DIR/prom.yml" "$IT_DIR/tsdb" "$PRP" || it_bad "prom is ready"
for u in "$PX" "$DF" "$CV"; do it_wait_for 10 curl -fsS -o /dev/null "$u/_chaos/stats" || it_bad "faultproxy $u up"; done
if cf_start_enforcer; then it_ok "enforcer listening"; else it_bad "enforcer listening"; fi
if start_watchdog watchdog "$IT_DIR/wd.json" "$WDP"; then it_ok "watchdog starts and answers /healthz"
else it_bad "watchdog starts"; it_finish; exit 1; fi
it_check "all four sources up (status)" it_wait_for 20 pok "$ST" \
    'all(d["sources"][s]["up"] for s in ["alertmanager", "prometheus", "drift", "cvss"])'
it_check "the enforcer is connected" it_wait_for 20 pok "$ST" 'd["enforcer"]["connected"]'
it_check "windows open for the four hot bots" it_wait_for 30 pok "$ST" \
    'all(cond(b, c)["window_open"] and cond(b, c)["state"] == "breach" for b, c in [("err-hot", "error_rate"), ("p0-hot", "p0_alert"), ("drift-hot", "recon_drift"), ("cvss-hot", "cvss")])'
it_check "the cool bots are ok, without a window" it_wait_for 20 pok "$ST" \
    'all(cond(b, c)["state"] == "ok" and not cond(b, c)["window_open"] for b, c in [("err-cool", "error_rate"), ("p0-cool", "p0_alert"), ("drift-cool", "recon_drift"), ("cvss-cool", "cvss")])'
for b in $HOT; do
    c=$(cond_of "$b")
    eval "ws_$(var_of "$b")=$(pq "$ST" "ts(cond('$b', '$c')['window_start'])")"
done
for s in alertmanager prometheus drift cvss; do eval "r_$s=0"; done   # when each source last came back

# ---- checks shared by every phase ----
# log_sane: every demote record is a hot bot's and completes a full window.
log_sane() {
    # shellcheck disable=SC2086 # one argument per bot
    python3 - "$IT_DIR/enf/commands.log" "$WIN" $HOT <<'PY'
import json, sys
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, "tests/integration")
from peers import ts
path, win, hot = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
for line in open(path):
    r = json.loads(line.split("\t", 1)[0])
    if r.get("type") == "demote":
        assert r["bot"] in hot, r["bot"]
        assert ts(r["decided_at"]) - ts(r["window_start"]) >= win - 1e-6, r
PY
}
# held PHASE: while the fault lasts, the hot bots keep their windows (and
# stay general_live if status was generated before window_start + window).
held() {
    for b in $HOT; do
        eval "ws=\$ws_$(var_of "$b")"
        c=$(cond_of "$b")
        it_check "$1: $b window held (open, window_start unchanged, general_live before D)" \
            pok "$ST" "cond('$b', '$c')['window_open'] and abs(ts(cond('$b', '$c')['window_start']) - $ws) < 0.000002 and (bot('$b')['readiness'] == 'general_live' or gen >= $ws + $WIN)"
    done
    it_check "$1: cool bots general_live, no window, nothing pending" pok "$ST" \
        'all(bot(b)["readiness"] == "general_live" and pend(b) is None and not any(c["window_open"] for c in bot(b)["conditions"].values()) for b in ["err-cool", "p0-cool", "drift-cool", "cvss-cool"])'
    it_check "$1: signed log: no demotion of a cool bot, none before window_start + window" log_sane
}
# down PHASE SOURCE: shown down in status and metrics.
down() {
    it_check "$1: status shows $2 down (sources.$2.up false, last_error set)" \
        it_wait_for 20 pok "$ST" "not d['sources']['$2']['up'] and d['sources']['$2']['last_error'] != ''"
    echo "     $2 last_error: $(pq "$ST" "d['sources']['$2']['last_error']")"
    it_check "$1: metrics ratchet_source_up{source=\"$2\"} 0" metric_is "$MET" "ratchet_source_up{source=\"$2\"}" 0
}
# stale PHASE BOT: the bot's evidence is unknown (stale or NaN), its window still open.
stale() {
    it_check "$1: $2 evidence unknown, window held" it_wait_for 20 pok "$ST" \
        "cond('$2', '$(cond_of "$2")')['state'] == 'unknown' and cond('$2', '$(cond_of "$2")')['window_open']"
}
# back PHASE SOURCE BOT: up again in status and metrics, new evidence for BOT applied.
back() {
    back_t=$3
    it_check "$1: $2 back up (status)" it_wait_for 30 pok "$ST" "d['sources']['$2']['up']"
    eval "r_$2=$(now_s)"
    it_check "$1: metrics ratchet_source_up{source=\"$2\"} 1" metric_is "$MET" "ratchet_source_up{source=\"$2\"}" 1
    it_check "$1: $back_t breach evidence newer than the fault applied" it_wait_for 20 pok "$ST" \
        "cond('$back_t', '$(cond_of "$back_t")')['state'] == 'breach' and ts(cond('$back_t', '$(cond_of "$back_t")')['last_evidence']['ts']) > $4"
}

# ---- phases ----
phase_down() {
    echo "inject: kill -9 prom (pid $PROM_PID) and Alertmanager (pid $AM_PID, P0 alert for p0-hot active)"
    cf_kill "$PROM_PID"
    cf_kill "$AM_PID"
    down down prometheus
    down down alertmanager
    it_check "down: conditions show source_up false" pok "$ST" \
        'not cond("err-hot", "error_rate")["source_up"] and not cond("p0-hot", "p0_alert")["source_up"]'
    stale down err-hot
    stale down p0-hot
    held down
    echo "inject: restart prom and Alertmanager (same data directories; Alertmanager starts without alerts)"
    cf_start_prom prom2 "$IT_DIR/prom.yml" "$IT_DIR/tsdb" "$PRP" || it_bad "down: prom restarts"
    cf_start_am alertmanager2 "$IT_DIR/am.yml" "$IT_DIR/am" "$AMP" --cluster.listen-address= ||
        it_bad "down: alertmanager restarts"
    t1=$(now_s)
    back down prometheus err-hot "$t1"
    back down alertmanager p0-hot "$t1"
    it_check "down: the watchdog noticed Alertmanager's restart (restart_grace, docs/alertmanager.md rule 9)" \
        it_wait_for 10 sh -c "test \$(grep -c 'alertmanager started at' '$IT_DIR/watchdog.log') -ge 2"
    it_check "down: prom-alerts re-sent the P0 alert to the new Alertmanager" \
        it_wait_for 20 pok "$AM/api/v2/alerts" 'any(a["labels"].get("bot") == "p0-hot" for a in d)'
    held "down (after)"
}

served_500() { proxy_served_ge "$PX" 500 1 && proxy_served_ge "$DF" truncated 1 && proxy_served_ge "$CV" truncated 1; }
phase_500() {
    echo "inject: prom answers 500; drift and CVSS answer truncated JSON"
    proxy "$PX" 500
    proxy "$DF" truncated
    proxy "$CV" truncated
    down 500 prometheus
    down 500 drift
    down 500 cvss
    it_check "500: prom answered 500, drift and CVSS truncated JSON" served_500
    stale 500 err-hot
    stale 500 drift-hot
    stale 500 cvss-hot
    held 500
    t1=$(now_s)
    proxy "$PX" pass && proxy "$DF" pass && proxy "$CV" pass
    back 500 prometheus err-hot "$t1"
    back 500 drift drift-hot "$t1"
    back 500 cvss cvss-hot "$t1"
}

phase_hang() {
    echo "inject: prom and CVSS hang for 6 s (timeout ${TIMEOUT} s); the drift feed drips its body over 5 s"
    proxy "$PX" hang 6
    proxy "$CV" hang 6
    proxy "$DF" drip 5
    down hang prometheus
    down hang drift
    down hang cvss
    stale hang err-hot
    stale hang drift-hot
    stale hang cvss-hot
    held hang
    t1=$(now_s)
    proxy "$PX" pass && proxy "$DF" pass && proxy "$CV" pass
    back hang prometheus err-hot "$t1"
    back hang drift drift-hot "$t1"
    back hang cvss cvss-hot "$t1"
}

# downs SOURCE: how many times the watchdog has logged SOURCE going down.
downs() { grep -c "source $1 is down" "$IT_DIR/watchdog.log"; }
served_slow() { proxy_served_ge "$DF" drip $((d0 + 1)) && proxy_served_ge "$CV" drip $((c0 + 1)); }
slow_applied() {
    pok "$ST" "ts(cond('drift-hot', 'recon_drift')['last_evidence']['ts']) > $1 and ts(cond('cvss-hot', 'cvss')['last_evidence']['ts']) > $1"
}
phase_garbage() {
    echo "inject: prom answers 200 with random bytes; drift and CVSS answer slowly inside the timeout (0.6 s)"
    d0=$(proxy_served "$DF" drip) c0=$(proxy_served "$CV" drip) dd0=$(downs drift) cd0=$(downs cvss)
    proxy "$PX" garbage
    t_slow=$(now_s)
    proxy "$DF" drip 0.6
    proxy "$CV" drip 0.6
    down garbage prometheus
    stale garbage err-hot
    it_check "garbage: slow drift and CVSS answers applied (evidence from after the switch)" \
        it_wait_for 20 slow_applied "$t_slow"
    it_check "garbage: they were served slowly" served_slow
    it_check "garbage: slow but in time: drift and CVSS never shown down (watchdog log)" \
        test "$(downs drift) $(downs cvss)" = "$dd0 $cd0"
    it_check "garbage: ... and up in status" pok "$ST" "d['sources']['drift']['up'] and d['sources']['cvss']['up']"
    held garbage
    t1=$(now_s)
    proxy "$PX" pass && proxy "$DF" pass && proxy "$CV" pass
    back garbage prometheus err-hot "$t1"
}

phase_nan() {
    echo "inject: the exporter reports 0 errors of 0 requests: Prometheus answers NaN (0/0)"
    exporter 0 0
    it_check "nan: Prometheus itself answers NaN for both error-rate bots" it_wait_for 20 pok \
        "$PROM/api/v1/query?query=max%20by%20(bot)%20(bot_errors%20%2F%20bot_requests)" \
        'sorted((r["metric"]["bot"], r["value"][1]) for r in d["data"]["result"]) == [("err-cool", "NaN"), ("err-hot", "NaN")]'
    it_check "nan: err-hot and err-cool unknown (last evidence null)" it_wait_for 20 pok "$ST" \
        'all(cond(b, "error_rate")["state"] == "unknown" and cond(b, "error_rate")["last_evidence"]["value"] is None for b in ["err-hot", "err-cool"])'
    it_check "nan: prometheus stays up (NaN is an answer, not a failure)" pok "$ST" 'd["sources"]["prometheus"]["up"]'
    it_check "nan: metrics ratchet_source_up{source=\"prometheus\"} 1" metric_is "$MET" 'ratchet_source_up{source="prometheus"}' 1
    held nan
    t1=$(now_s)
    exporter 5 100
    back nan prometheus err-hot "$t1"
    it_check "nan: err-cool ok again" it_wait_for 20 pok "$ST" 'cond("err-cool", "error_rate")["state"] == "ok"'
}

order=$(printf 'down\n500\nhang\ngarbage\nnan\n' | awk -v s="$CF_SEED" 'BEGIN { srand(s) } { print rand() "\t" $0 }' | sort -n | cut -f2 | tr '\n' ' ')
echo "phases (seeded order): $order"
for p in $order; do
    echo "---- phase $p, $(awk "BEGIN { printf \"%.1f\", $(now_s) - $ws_err_hot }") s into err-hot's window"
    "phase_$p"
done
faults_over=$(now_s)

# ---- the windows complete ----
echo "     the last fault ended $(awk "BEGIN { printf \"%.1f\", $faults_over - $ws_err_hot }") s into err-hot's window ($WIN s)"
for b in $HOT; do
    c=$(cond_of "$b") s=$(src_of "$b")
    eval "ws=\$ws_$(var_of "$b") r=\$r_$s"
    # the source's last fault ended at r (up again, new evidence applied); had
    # it lasted past D, the decision comes with the first evidence after it
    due=$(awk "BEGIN { d = $ws + $WIN; printf \"%.6f\", ($r > d ? $r : d) }")
    if ! it_wait_for $((WIN + 60)) demotes_are "$b" 1; then
        it_bad "$b: demoted once (signed log)"
        continue
    fi
    wsr=$(rec "$b" "ts(r['window_start'])") dec=$(rec "$b" "ts(r['decided_at'])") at=$(rec "$b" "ts(r['ts'])")
    echo "     $b: window_start=$wsr decided_at=$dec (+$(awk "BEGIN { printf \"%.3f\", $dec - $wsr }") s) recorded=$at; due by $due"
    it_ok "$b: demoted once (signed log)"
    it_check "$b: the record names $c and a $WIN s window" pok_rec "$b" "r['condition'] == '$c' and r['window_seconds'] == $WIN"
    it_check "$b: recorded on its original window (window_start unchanged through every fault)" feq "$wsr" "$ws"
    it_check "$b: decided_at >= window_start + $WIN s (never early)" fok "$dec - $wsr >= $WIN - 0.000001"
    it_check "$b: decided_at <= $(awk "BEGIN { printf \"%.1f\", $due - $ws }") s + $SLACK s after window_start (no reset, no delay)" fok "$dec <= $due + $SLACK"
    it_check "$b: status shows limited_live since decided_at" pok "$ST" \
        "bot('$b')['readiness'] == 'limited_live' and abs(ts(bot('$b')['readiness_since']) - $dec) < 0.0005"
done
for b in $HOT; do
    it_check "signed log: exactly one demotion of $b" it_wait_for 20 demotes_are "$b" 1
done
it_check "signed log: only the four hot bots demoted" test "$(demoted_bots)" = "cvss-hot drift-hot err-hot p0-hot"
it_check "the enforcer acknowledged every demotion" it_wait_for 20 pok "$ST" 'd["enforcer"]["pending"] == 0'
cool_ok() { pok "$ST" "bot('$1')['readiness'] == 'general_live' and pend('$1') is None" && metric_is "$MET" "ratchet_bot_limited{bot=\"$1\"}" 0; }
for b in $COOL; do
    it_check "$b: general_live, nothing pending, ratchet_bot_limited 0" cool_ok "$b"
done
all_up() {
    pok "$ST" 'all(d["sources"][s]["up"] for s in ["alertmanager", "prometheus", "drift", "cvss"])' || return 1
    for s in alertmanager prometheus drift cvss; do metric_is "$MET" "ratchet_source_up{source=\"$s\"}" 1 || return 1; done
}
it_check "all four sources up at the end (status and metrics)" all_up
it_check "ratchetctl log verify accepts the signed log" \
    "$IT_BUILD/ratchetctl" log verify --log "$IT_DIR/enf/commands.log" --pubkey "$IT_DIR/key.pub"
it_finish
