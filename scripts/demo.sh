#!/bin/sh
# `make demo`: ratchet live, on loopback, in about two minutes.
#   1. starts the real Alertmanager and Prometheus, ratchet-watchdog and
#      ratchet-enforcer, with a policy whose windows are 30 seconds;
#   2. fires a P0 alert for one bot and an error-rate breach for another;
#   3. shows `ratchetctl status` counting down;
#   4. shows the demotions, the signed log (`ratchetctl log show`), its
#      verification with ratchetctl and with the openssl CLI alone;
#   5. cleans up everything it started.
# Everything lives in a temporary directory; nothing is installed.
set -u
build=${1:-build}
ctl=$build/ratchetctl
. tests/integration/lib.sh
it_setup
d=$IT_DIR

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold= plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
die() { echo "demo: $*" >&2; for f in "$d"/*.log; do echo "--- $f"; tail -n 5 "$f"; done >&2; exit 1; }
trap 'chattr -a "$d"/enforcer/* 2>/dev/null; it_cleanup' EXIT

wd_port=$(it_port) am_port=$(it_port) prom_port=$(it_port) exp_port=$(it_port)
WD=http://127.0.0.1:$wd_port AM=http://127.0.0.1:$am_port PROM=http://127.0.0.1:$prom_port

say "Setting up in $d: a signing key, a 30-second policy, three bots"
"$ctl" keygen --out "$d/keys" --name ratchet-demo >/dev/null || die "keygen failed"
mkdir -m 700 "$d/enforcer" "$d/watchdog"
printf 'demo-webhook-token\n' >"$d/webhook.token"
chmod 600 "$d/webhook.token"
cat >"$d/policy.json" <<EOF
{"version": 1,
 "conditions": {"p0_alert":   {"window": "30s", "max_evidence_age": "20s"},
                "error_rate": {"window": "30s", "max_evidence_age": "20s"}}}
EOF
cat >"$d/bots.json" <<EOF
{"version": 1, "bots": [{"id": "mm-eth-01", "readiness": "general_live"},
                        {"id": "arb-btc-01", "readiness": "general_live"},
                        {"id": "mm-sol-01", "readiness": "general_live"}]}
EOF
"$ctl" policy check "$d/policy.json" | sed -n '1,8p'

say "Starting Prometheus (scraping a bot exporter) and Alertmanager"
mkdir -p "$d/exporter"
cat >"$d/exporter/metrics" <<EOF
# TYPE bot_error_ratio gauge
bot_error_ratio{bot="mm-eth-01"} 0.001
bot_error_ratio{bot="arb-btc-01"} 0.002
bot_error_ratio{bot="mm-sol-01"} 0.003
EOF
it_bg exporter python3 -m http.server --bind 127.0.0.1 --directory "$d/exporter" "$exp_port"
cat >"$d/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: bots
    metrics_path: /metrics
    static_configs: [{targets: ["127.0.0.1:$exp_port"]}]
EOF
it_bg prometheus prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn
cat >"$d/alertmanager.yml" <<EOF
route: {receiver: ratchet, group_by: [bot], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: ratchet
    webhook_configs:
      - url: $WD/webhook/alertmanager
        send_resolved: true
        http_config: {authorization: {credentials_file: $d/webhook.token}}
EOF
it_bg alertmanager prometheus-alertmanager --config.file="$d/alertmanager.yml" --storage.path="$d/am" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= --log.level=warn
it_wait_for 30 it_http_ok "$PROM/-/ready" || die "Prometheus did not start"
it_wait_for 30 it_http_ok "$AM/-/ready" || die "Alertmanager did not start"
echo "Prometheus $PROM, Alertmanager $AM"

say "Starting ratchet-enforcer (holds the key, writes the signed log) and ratchet-watchdog"
cat >"$d/enforcer.json" <<EOF
{"version": 1, "socket": "$d/enforcer.sock", "allowed_peers": {"uids": [$(id -u)]},
 "state_dir": "$d/enforcer", "origin": "demo.ratchet.invalid/commands",
 "key": {"file": "$d/keys/ratchet-demo.key"}, "key_name": "ratchet-demo",
 "policy_file": "$d/policy.json", "checkpoint_interval": "10s", "watchdog_silence": "30s"}
EOF
cat >"$d/watchdog.json" <<EOF
{"version": 1, "listen": [{"address": "127.0.0.1", "port": $wd_port}],
 "auth": {"bearer_token_file": "$d/webhook.token"},
 "policy_file": "$d/policy.json", "state_dir": "$d/watchdog",
 "bots": {"file": "$d/bots.json"}, "enforcer": {"socket": "$d/enforcer.sock"},
 "alertmanager": {"url": "$AM", "poll_interval": "2s"},
 "prometheus": {"url": "$PROM", "error_rate_query": "max by (bot) (bot_error_ratio)", "interval": "2s"}}
EOF
it_bg enforcer "$build/ratchet-enforcer" --config "$d/enforcer.json"
it_wait_for 10 test -S "$d/enforcer.sock" || die "the enforcer did not start"
it_bg watchdog "$build/ratchet-watchdog" --config "$d/watchdog.json"
it_wait_for 10 it_http_ok "$WD/healthz" || die "the watchdog did not start"
echo "watchdog $WD; enforcer socket $d/enforcer.sock"

say "Breaking two bots: a P0 alert for mm-eth-01 (amtool), a 5% error rate for arb-btc-01 (Prometheus)"
amtool --alertmanager.url="$AM" alert add P0Down bot=mm-eth-01 severity=P0 \
    --annotation=summary="order gateway down" || die "amtool failed"
sed 's/{bot="arb-btc-01"} 0.002/{bot="arb-btc-01"} 0.05/' "$d/exporter/metrics" >"$d/exporter/metrics.new" &&
    mv "$d/exporter/metrics.new" "$d/exporter/metrics"
it_wait_for 20 sh -c "curl -fsS '$WD/api/v1/status' | grep -q '\"window_open\":true'" || die "no window opened"

for i in 1 2 3; do
    say "ratchetctl status (on-call's view), $i of 3"
    script -qc "$ctl status --url $WD" /dev/null 2>/dev/null || "$ctl" status --url "$WD"
    sleep 9 # pacing for people watching, not synchronisation
done

say "Waiting for both windows to complete (the enforcer's readiness view)"
it_wait_for 60 sh -c "grep -q mm-eth-01 '$d/enforcer/readiness.json' && grep -q arb-btc-01 '$d/enforcer/readiness.json'" ||
    die "the demotions did not arrive"
cat "$d/enforcer/readiness.json"
script -qc "$ctl status --url $WD" /dev/null 2>/dev/null | sed -n '1,6p'

say "The signed command log (ratchetctl log show)"
"$ctl" log show --log "$d/enforcer/commands.log"

say "An auditor verifies it (ratchetctl log verify, against the latest checkpoint)"
"$ctl" log verify --log "$d/enforcer/commands.log" --pubkey "$d/keys/ratchet-demo.pub" \
    --origin demo.ratchet.invalid/commands --checkpoint "$d/enforcer/checkpoint" && echo "log verify: OK"

say "The same with the openssl CLI and coreutils only (docs/log-format.md, auditor's recipe)"
sh tests/cmdlog/auditor-recipe.sh "$d/enforcer/commands.log" "$d/keys/ratchet-demo.pub" \
    "$d/enforcer/checkpoint" && echo "openssl-only verification: OK"

say "Tampering is caught: one flipped byte in a copy of the log"
cp "$d/enforcer/commands.log" "$d/tampered.log"
sed -i '2s/"bot":"[a-z]/"bot":"X/' "$d/tampered.log"
"$ctl" log verify --log "$d/tampered.log" --pubkey "$d/keys/ratchet-demo.pub" \
    --origin demo.ratchet.invalid/commands || echo "(exit status $?: rejected, as it must be)"

say "Done; stopping everything and removing $d"
