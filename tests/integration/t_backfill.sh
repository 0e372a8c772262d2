#!/bin/sh
# Backfill after the watchdog's own downtime: while it is down (kill -9),
# the bot is healthy for a few seconds and Prometheus records it. After the
# restart the watchdog asks query_range for the gap, sees the healthy
# samples, and the window restarts. Without backfill it would see breach
# before and after the gap and keep the old window: a breach that was not
# consecutive would complete it.
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
IT_BUILD=${1:-build}
peers_setup
EXP=$(it_port) PRP=$(it_port) WDP=$(it_port)
PROM=http://127.0.0.1:$PRP
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status

serve() { # serve RATIO: what the exporter reports for bot "gap"
    printf '# TYPE bot_error_ratio gauge\nbot_error_ratio{bot="gap"} %s\n' "$1" | write_atomic "$IT_DIR/exporter/metrics"
}
# prom_has RATIO: Prometheus's latest sample for the bot is RATIO.
prom_has() { pok "$PROM/api/v1/query?query=bot_error_ratio" "d['data']['result'] and d['data']['result'][0]['value'][1] == '$1'"; }

mkdir -p "$IT_DIR/exporter"
serve 0.05
cat >"$IT_DIR/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs: [{job_name: bots, static_configs: [{targets: ['127.0.0.1:$EXP']}]}]
EOF
cat >"$IT_DIR/bots.json" <<EOF
{"version": 1, "bots": [{"id": "gap", "readiness": "general_live"}]}
EOF
cat >"$IT_DIR/policy.json" <<EOF
{"version": 1, "conditions": {"error_rate": {"window": "10m", "max_evidence_age": "1m"}}}
EOF
cat >"$IT_DIR/wd.json" <<EOF
{"version": 1, "listen": [{"address": "127.0.0.1", "port": $WDP}], "auth": "none",
 "policy_file": "$IT_DIR/policy.json", "state_dir": "$IT_DIR/state",
 "bots": {"file": "$IT_DIR/bots.json"}, "enforcer": {"socket": "$IT_DIR/no-enforcer.sock"},
 "prometheus": {"url": "$PROM", "error_rate_query": "max by (bot) (bot_error_ratio)", "interval": "1s",
                "backfill_max": "1h"}}
EOF

start_static exporter "$IT_DIR/exporter" "$EXP" || { it_bad "exporter starts"; it_finish; exit 1; }
start_prometheus prometheus "$IT_DIR/prometheus.yml" "$IT_DIR/tsdb" "$PRP" || { it_bad "prometheus starts"; it_finish; exit 1; }
start_watchdog watchdog "$IT_DIR/wd.json" "$WDP" || { it_bad "watchdog starts"; it_finish; exit 1; }
it_check "window opens on the 5% error rate" it_wait_for 20 pok "$ST" 'cond("gap", "error_rate")["window_open"]'
w0=$(pq "$ST" 'cond("gap", "error_rate")["window_start"]')

kill -9 "$WD_PID"
wait "$WD_PID" 2>/dev/null
serve 0.001
it_check "while the watchdog is down, Prometheus records the bot healthy" it_wait_for 20 prom_has 0.001
healthy_seen=$(now_s)
wait_until "$(awk "BEGIN { printf \"%.6f\", $healthy_seen + 3 }")"
serve 0.05
it_check "... and then in breach again" it_wait_for 20 prom_has 0.05

start_watchdog watchdog2 "$IT_DIR/wd.json" "$WDP" || it_bad "watchdog restarts"
it_check "the restarted watchdog backfills the gap" it_wait_for 20 grep -q "backfilling" "$IT_DIR/watchdog2.log"
it_check "the healthy samples restarted the window (window_start moved past the gap)" \
    it_wait_for 20 pok "$ST" "cond('gap', 'error_rate')['window_open'] and ts(cond('gap', 'error_rate')['window_start']) > ts('$w0') + 1"
it_check "the evidence log holds the backfilled healthy samples" grep -q '"value":0.001' "$IT_DIR/state/evidence.jsonl"
it_finish
