#!/bin/sh
# ratchet-watchdog against a real Prometheus (Debian's 2.42) scraping a tiny
# exporter the test controls (python3 -m http.server serving a text
# exposition file that the test rewrites), scrape_interval 1s, the watchdog
# querying `max by (bot) (bot_error_ratio)` every second; error_rate window
# of seconds.
#   steady  above 1% for a full window: demoted at window_start + window
#   blip    one healthy value in between: the window restarts
#   nan     NaN for a while: unknown, held (window stays open, no reset)
#   outage  Prometheus killed mid-window and kept down past the deadline:
#           held as unknown, no decision while down; service resumes after
#           Prometheus is restarted
# Usage: tests/integration/t_prometheus.sh BUILD_DIR (from the repo root)
# shellcheck disable=SC2154 # ws_<bot> are set by eval
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
peers_setup

WIN=12        # error_rate window (s)
AGE=3         # error_rate max_evidence_age (s)
SLACK=3
EXP=$(it_port)
PRP=$(it_port)
WDP=$(it_port)
PROM=http://127.0.0.1:$PRP
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status
MET=$WD/metrics
BAD=0.05 GOOD=0.001

# set_ratios STEADY BLIP NAN OUTAGE: what the exporter serves from now on.
set_ratios() {
    printf '# HELP bot_error_ratio Failed orders over all orders.\n# TYPE bot_error_ratio gauge\n' >"$IT_DIR/next"
    printf 'bot_error_ratio{bot="steady"} %s\nbot_error_ratio{bot="blip"} %s\n' "$1" "$2" >>"$IT_DIR/next"
    printf 'bot_error_ratio{bot="nan"} %s\nbot_error_ratio{bot="outage"} %s\n' "$3" "$4" >>"$IT_DIR/next"
    write_atomic "$IT_DIR/exporter/metrics" <"$IT_DIR/next"
}

# ---- configuration ----
mkdir -p "$IT_DIR/exporter"
set_ratios $GOOD $GOOD $GOOD $GOOD
cat >"$IT_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bots
    static_configs:
      - targets: ['127.0.0.1:$EXP']
EOF
cat >"$IT_DIR/bots.json" <<EOF
{"version": 1, "bots": [
 {"id": "steady", "readiness": "general_live"}, {"id": "blip", "readiness": "general_live"},
 {"id": "nan", "readiness": "general_live"}, {"id": "outage", "readiness": "general_live"}]}
EOF
cat >"$IT_DIR/policy.json" <<EOF
{"version": 1, "conditions": {"error_rate": {"threshold": 0.01, "window": "${WIN}s", "max_evidence_age": "${AGE}s"}}}
EOF
cat >"$IT_DIR/wd.json" <<EOF
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": $WDP}],
 "auth": "none",
 "policy_file": "$IT_DIR/policy.json",
 "state_dir": "$IT_DIR/state",
 "bots": {"file": "$IT_DIR/bots.json"},
 "enforcer": {"socket": "$IT_DIR/no-enforcer.sock"},
 "prometheus": {"url": "$PROM", "error_rate_query": "max by (bot) (bot_error_ratio)", "interval": "1s"}}
EOF

# ---- peers ----
if start_static exporter "$IT_DIR/exporter" "$EXP"; then it_ok "exporter serves the exposition file"; else it_bad "exporter starts"; fi
if start_prometheus prometheus "$IT_DIR/prometheus.yml" "$IT_DIR/tsdb" "$PRP"; then it_ok "prometheus is ready"
else it_bad "prometheus is ready"; fi
if start_watchdog watchdog "$IT_DIR/wd.json" "$WDP"; then it_ok "watchdog starts and answers /healthz"
else it_bad "watchdog starts and answers /healthz"; cat "$IT_DIR/watchdog.log"; it_finish; exit 1; fi
it_check "prometheus scrapes the exporter" \
    it_wait_for 15 pok "$PROM/api/v1/query?query=count(bot_error_ratio)" 'd["data"]["result"][0]["value"][1] == "4"'
it_check "watchdog queries prometheus: all four bots ok" \
    it_wait_for 15 pok "$ST" 'd["sources"]["prometheus"]["up"] and all(cond(b, "error_rate")["state"] == "ok" for b in ["steady", "blip", "nan", "outage"])'
it_check "metrics: ratchet_source_up{source=\"prometheus\"} 1" metric_is "$MET" 'ratchet_source_up{source="prometheus"}' 1

# ---- phase 1: steady, blip, nan ----
w0=$(now_s)
set_ratios $BAD $BAD $BAD $GOOD
it_bg watch1 python3 tests/integration/peers.py watch "$ST" error_rate "$WIN" $((3 * WIN + 10)) steady blip nan
WATCH1=$IT_LAST_PID
it_check "windows open for steady, blip and nan" \
    it_wait_for 10 pok "$ST" 'all(cond(b, "error_rate")["window_open"] for b in ["steady", "blip", "nan"])'
for b in steady blip nan; do
    ws=$(pq "$ST" "ts(cond('$b', 'error_rate')['window_start'])")
    eval "ws_$b=$ws"
    it_check "$b: window_start within 4 s after the exporter changed (+$(awk "BEGIN { printf \"%.3f\", $ws - $w0 }") s)" \
        fok "$ws >= $w0 && $ws <= $w0 + 4"
done
it_check "outage: no window while healthy" pok "$ST" 'not cond("outage", "error_rate")["window_open"] and cond("outage", "error_rate")["state"] == "ok"'
it_check "metrics: ratchet_breach_seconds for steady" metric "$MET" 'ratchet_breach_seconds{bot="steady",condition="error_rate"}'

# three seconds into the windows: one healthy value for blip, NaN for nan
it_wait_for 10 pok "$ST" 'cond("blip", "error_rate")["breach_seconds"] >= 3 and cond("nan", "error_rate")["breach_seconds"] >= 3'
healthy_at=$(now_s)
set_ratios $BAD $GOOD NaN $GOOD
it_check "blip: the healthy value closes the window" it_wait_for 8 pok "$ST" 'not cond("blip", "error_rate")["window_open"]'
set_ratios $BAD $BAD NaN $GOOD
it_check "nan: NaN is unknown (state unknown, last evidence null)" \
    it_wait_for 8 pok "$ST" 'cond("nan", "error_rate")["state"] == "unknown" and cond("nan", "error_rate")["last_evidence"]["value"] is None'
u1=$(pq "$ST" 'cond("nan", "error_rate").get("unknown_seconds", -1)')
it_check "blip: the window reopens" it_wait_for 8 pok "$ST" 'cond("blip", "error_rate")["window_open"]'
ws2_blip=$(pq "$ST" "ts(cond('blip', 'error_rate')['window_start'])")
it_check "blip: window_start moved past the healthy value (+$(awk "BEGIN { printf \"%.3f\", $ws2_blip - $ws_blip }") s)" \
    fok "$ws2_blip >= $healthy_at && $ws2_blip > $ws_blip + 3"
it_check "nan: unknown_seconds grows while NaN (from $u1)" \
    it_wait_for 8 pok "$ST" "cond('nan', 'error_rate')['unknown_seconds'] >= $u1 + 1.5"
it_check "nan: window still open, window_start unchanged, General live" \
    pok "$ST" "cond('nan', 'error_rate')['window_open'] and abs(ts(cond('nan', 'error_rate')['window_start']) - $ws_nan) < 0.000001 and bot('nan')['readiness'] == 'general_live'"
set_ratios $BAD $BAD $BAD $GOOD
it_check "nan: breach again, the same window" \
    it_wait_for 8 pok "$ST" "cond('nan', 'error_rate')['state'] == 'breach' and abs(ts(cond('nan', 'error_rate')['window_start']) - $ws_nan) < 0.000001"

wait "$WATCH1"
echo "     watcher: $(tr '\n' ';' <"$IT_DIR/watch1.log")"
check_demotion "full window" "$IT_DIR/watch1.log" steady error_rate "$WIN" "$SLACK"
check_demotion "healthy value in between" "$IT_DIR/watch1.log" blip error_rate "$WIN" "$SLACK"
check_demotion "NaN held" "$IT_DIR/watch1.log" nan error_rate "$WIN" "$SLACK"
it_check "steady: window_start unchanged to the decision" feq "$(watch_field "$IT_DIR/watch1.log" steady ws)" "$ws_steady"
it_check "blip: decided on the restarted window (window_start $ws2_blip)" \
    feq "$(watch_field "$IT_DIR/watch1.log" blip ws)" "$ws2_blip"
it_check "blip: not demoted on the first window's schedule" \
    fok "$(watch_field "$IT_DIR/watch1.log" blip decided) >= $ws_blip + $WIN + $SLACK"
it_check "nan: decided on the original window (no reset)" feq "$(watch_field "$IT_DIR/watch1.log" nan ws)" "$ws_nan"
it_check "nan: the NaN time is counted as unknown_seconds" pok "$ST" 'cond("nan", "error_rate")["unknown_seconds"] >= 1.5'
for b in steady blip nan; do
    it_check "metrics: ratchet_bot_limited{bot=\"$b\"} 1" metric_is "$MET" "ratchet_bot_limited{bot=\"$b\"}" 1
done
it_check "metrics: 3 demotion requests submitted" metric_is "$MET" 'ratchet_demotion_requests_total{outcome="submitted"}' 3

# ---- phase 2: Prometheus down mid-window ----
set_ratios $BAD $BAD $BAD $BAD
it_check "outage: window opens" it_wait_for 10 pok "$ST" 'cond("outage", "error_rate")["window_open"]'
ws_o=$(pq "$ST" "ts(cond('outage', 'error_rate')['window_start'])")
it_bg watch2 python3 tests/integration/peers.py watch "$ST" error_rate "$WIN" $((2 * WIN + 30)) outage
WATCH2=$IT_LAST_PID
it_wait_for 10 pok "$ST" 'cond("outage", "error_rate")["breach_seconds"] >= 3'
kill -9 "$PROM_PID"
wait "$PROM_PID" 2>/dev/null
down_at=$(now_s)
it_check "prometheus down: sources.prometheus.up false" it_wait_for 8 pok "$ST" 'not d["sources"]["prometheus"]["up"]'
it_check "prometheus down: condition source_up false" pok "$ST" 'not cond("outage", "error_rate")["source_up"]'
it_check "prometheus down: metrics ratchet_source_up 0" metric_is "$MET" 'ratchet_source_up{source="prometheus"}' 0
it_check "prometheus down: evidence goes stale (state unknown)" \
    it_wait_for 8 pok "$ST" 'cond("outage", "error_rate")["state"] == "unknown"'
wait_until "$(awk "BEGIN { printf \"%.6f\", $ws_o + $WIN + 2 }")"
it_check "prometheus down past D: outage still general_live, no pending demotion" \
    pok "$ST" 'bot("outage")["readiness"] == "general_live" and pend("outage") is None'
it_check "prometheus down past D: window open, window_start unchanged" \
    pok "$ST" "cond('outage', 'error_rate')['window_open'] and abs(ts(cond('outage', 'error_rate')['window_start']) - $ws_o) < 0.000001"
it_check "prometheus down past D: metrics ratchet_bot_limited{bot=\"outage\"} 0" metric_is "$MET" 'ratchet_bot_limited{bot="outage"}' 0
it_check "prometheus down past D: still 3 demotion requests" metric_is "$MET" 'ratchet_demotion_requests_total{outcome="submitted"}' 3
up_at=$(now_s)
if start_prometheus prometheus2 "$IT_DIR/prometheus.yml" "$IT_DIR/tsdb" "$PRP"; then it_ok "prometheus restarted"
else it_bad "prometheus restarted"; fi
it_check "prometheus back: sources.prometheus.up true" it_wait_for 10 pok "$ST" 'd["sources"]["prometheus"]["up"]'
it_check "prometheus back: metrics ratchet_source_up 1" metric_is "$MET" 'ratchet_source_up{source="prometheus"}' 1
wait "$WATCH2"
echo "     watcher: $(tr '\n' ';' <"$IT_DIR/watch2.log") (prometheus down from $down_at, restarted at $up_at)"
check_demotion "after outage" "$IT_DIR/watch2.log" outage error_rate "$WIN" 60
dec_o=$(watch_field "$IT_DIR/watch2.log" outage decided)
it_check "outage: window_start unchanged through the outage" feq "$(watch_field "$IT_DIR/watch2.log" outage ws)" "$ws_o"
it_check "outage: decided on evidence from after the restart, not inside the outage" fok "$dec_o >= $up_at"
it_check "metrics: 4 demotion requests submitted" metric_is "$MET" 'ratchet_demotion_requests_total{outcome="submitted"}' 4
it_check "metrics: ratchet_bot_limited{bot=\"outage\"} 1" metric_is "$MET" 'ratchet_bot_limited{bot="outage"}' 1
it_finish
