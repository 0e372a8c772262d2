#!/bin/sh
# ratchet-watchdog against a real Alertmanager (Debian's 0.25), windows of
# seconds. Alertmanager delivers webhooks to the watchdog with bearer auth;
# the watchdog also polls /api/v2/alerts every second. Four bots at once:
#   alpha   a P0 alert for a full window: demoted at window_start + window
#   bravo   resolved before the window completes (resolved webhook): kept
#   charlie resolved, but its receiver has send_resolved: false, so only the
#           poll can see the resolve: kept
#   delta   silenced before it fires: never sent to receivers, so only the
#           poll sees it: demoted all the same
# plus webhooks with a wrong or missing bearer token (401, counted).
# Usage: tests/integration/t_alertmanager.sh BUILD_DIR (from the repo root)
# shellcheck disable=SC2154 # starts_<bot> and ws_<bot> are set by eval
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
peers_setup

WIN=12        # p0_alert window (s)
AGE=5         # p0_alert max_evidence_age (s)
SLACK=3       # a decision may come this long after window_start + window
AMP=$(it_port)
WDP=$(it_port)
AM=http://127.0.0.1:$AMP
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status
MET=$WD/metrics
amtool_() { amtool --alertmanager.url="$AM" --timeout=10s "$@"; }

# ---- configuration ----
echo "it-webhook-token-$$" >"$IT_DIR/token"
chmod 600 "$IT_DIR/token"
cat >"$IT_DIR/am.yml" <<EOF
route:
  receiver: wd
  group_by: [bot]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['bot="charlie"']
      receiver: wd_no_resolve
receivers:
  - name: wd
    webhook_configs:
      - url: $WD/webhook/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: $IT_DIR/token
  - name: wd_no_resolve
    webhook_configs:
      - url: $WD/webhook/alertmanager
        send_resolved: false
        http_config:
          authorization:
            credentials_file: $IT_DIR/token
EOF
cat >"$IT_DIR/bots.json" <<EOF
{"version": 1, "bots": [
 {"id": "alpha", "readiness": "general_live"}, {"id": "bravo", "readiness": "general_live"},
 {"id": "charlie", "readiness": "general_live"}, {"id": "delta", "readiness": "general_live"}]}
EOF
cat >"$IT_DIR/policy.json" <<EOF
{"version": 1, "conditions": {"p0_alert": {"window": "${WIN}s", "max_evidence_age": "${AGE}s"}}}
EOF
cat >"$IT_DIR/wd.json" <<EOF
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": $WDP}],
 "auth": {"bearer_token_file": "$IT_DIR/token"},
 "policy_file": "$IT_DIR/policy.json",
 "state_dir": "$IT_DIR/state",
 "bots": {"file": "$IT_DIR/bots.json"},
 "enforcer": {"socket": "$IT_DIR/no-enforcer.sock"},
 "alertmanager": {"url": "$AM", "poll_interval": "1s"}}
EOF

# ---- peers ----
it_bg alertmanager prometheus-alertmanager --config.file="$IT_DIR/am.yml" --storage.path="$IT_DIR/am" \
    --web.listen-address="127.0.0.1:$AMP" --cluster.listen-address= --log.level=warn
it_check "alertmanager is ready" it_wait_for 30 it_http_ok "$AM/-/ready"
if start_watchdog watchdog "$IT_DIR/wd.json" "$WDP"; then it_ok "watchdog starts and answers /healthz"
else it_bad "watchdog starts and answers /healthz"; cat "$IT_DIR/watchdog.log"; it_finish; exit 1; fi
it_check "watchdog polls alertmanager (source up)" \
    it_wait_for 10 pok "$ST" 'd["sources"]["alertmanager"]["up"] and all(cond(b, "p0_alert")["state"] == "ok" for b in ["alpha", "bravo", "charlie", "delta"])'
it_check "metrics: ratchet_source_up{source=\"alertmanager\"} 1" metric_is "$MET" 'ratchet_source_up{source="alertmanager"}' 1

# ---- webhook authentication ----
cat >"$IT_DIR/hook.json" <<'EOF'
{"receiver":"wd","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0Down","bot":"zulu","severity":"P0"},"annotations":{},"startsAt":"2026-11-24T09:02:22.537583544Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"e7d558e15c1e5566"}],"groupLabels":{"bot":"zulu"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://x","version":"4","groupKey":"{}:{bot=\"zulu\"}","truncatedAlerts":0}
EOF
post_hook() { # post_hook [CURL ARGS...]: prints the HTTP status
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
        --data-binary @"$IT_DIR/hook.json" "$@" "$WD/webhook/alertmanager"
}
inv0=$(metric "$MET" 'ratchet_http_auth_failures_total{reason="invalid"}')
mis0=$(metric "$MET" 'ratchet_http_auth_failures_total{reason="missing"}')
acc0=$(metric "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}')
it_check "webhook with a wrong bearer token gets 401" test "$(post_hook -H 'Authorization: Bearer not-the-token')" = 401
it_check "webhook without a token gets 401" test "$(post_hook)" = 401
it_check "metrics: auth failures (invalid) rose by 1" metric_is "$MET" 'ratchet_http_auth_failures_total{reason="invalid"}' "$inv0 + 1"
it_check "metrics: auth failures (missing) rose by 1" metric_is "$MET" 'ratchet_http_auth_failures_total{reason="missing"}' "$mis0 + 1"
it_check "metrics: refused webhooks were not accepted" metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$acc0"

# ---- alerts ----
it_check "silence for bot=delta created" amtool_ silence add bot=delta -a it -c "integration test" -d 1h
for b in alpha bravo charlie delta; do
    amtool_ alert add P0Down "bot=$b" severity=P0 --annotation=summary="$b down" ||
        it_bad "amtool alert add for $b"
done
it_check "alertmanager lists the four P0 alerts" \
    it_wait_for 10 pok "$AM/api/v2/alerts" 'len([a for a in d if a["labels"].get("severity") == "P0"]) == 4'
it_check "alertmanager has delta's alert suppressed by the silence" \
    it_wait_for 10 pok "$AM/api/v2/alerts" 'any(a["labels"]["bot"] == "delta" and a["status"]["state"] == "suppressed" and len(a["status"]["silencedBy"]) > 0 for a in d)'
for b in alpha bravo charlie delta; do
    eval "starts_$b=\$(pq \"\$AM/api/v2/alerts\" '[ts(a[\"startsAt\"]) for a in d if a[\"labels\"][\"bot\"] == \"$b\"][0]')"
done
# alpha and delta must complete; the watcher samples status from now on.
it_bg watch python3 tests/integration/peers.py watch "$ST" p0_alert "$WIN" $((WIN + 25)) alpha delta
WATCH_PID=$IT_LAST_PID

it_check "windows open for all four bots" \
    it_wait_for 10 pok "$ST" 'all(cond(b, "p0_alert")["window_open"] for b in ["alpha", "bravo", "charlie", "delta"])'
for b in alpha bravo charlie delta; do
    eval "s=\$starts_$b"
    ws=$(pq "$ST" "ts(cond('$b', 'p0_alert')['window_start'])")
    eval "ws_$b=$ws"
    it_check "$b: window_start ($ws) equals the alert's startsAt ($s) to the second" fok "$ws - $s < 1 && $s - $ws < 1"
done
# docs/alertmanager.md, "Silence policy": status shows per bot how many of
# its active P0 alerts are silenced (n_silenced), so on-call can see that a
# silence is in force and does not stop the window.
it_check "delta: status shows its silenced P0 alert (n_silenced 1, docs/alertmanager.md)" \
    pok "$ST" '1 in find(bot("delta"), "n_silenced")'
it_check "metrics: ratchet_breach_seconds for alpha's open window" metric "$MET" 'ratchet_breach_seconds{bot="alpha",condition="p0_alert"}'
it_check "webhooks for the three unsilenced alerts accepted" \
    it_wait_for 10 metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$acc0 + 3"
it_check "silenced delta was not sent by webhook (still 3 accepted)" \
    metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$acc0 + 3"

# ---- charlie: the resolve is never sent (send_resolved: false) ----
am_sent0=$(metric "$AM/metrics" 'alertmanager_notification_requests_total{integration="webhook"}')
amtool_ alert add P0Down bot=charlie severity=P0 --end="$(rfc3339 "$(now_s)")" || it_bad "amtool resolve charlie"
it_check "charlie: window closes (by polling)" it_wait_for 8 pok "$ST" 'not cond("charlie", "p0_alert")["window_open"]'
it_check "charlie: closed before its window could complete" fok "$(now_s) < $ws_charlie + $WIN"
it_check "charlie: state ok, last evidence false" pok "$ST" 'cond("charlie", "p0_alert")["state"] == "ok" and cond("charlie", "p0_alert")["last_evidence"]["value"] is False'
it_check "charlie: no webhook arrived for the resolve" \
    metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$acc0 + 3"

# ---- bravo: resolved, and the resolve is delivered ----
amtool_ alert add P0Down bot=bravo severity=P0 --end="$(rfc3339 "$(now_s)")" || it_bad "amtool resolve bravo"
it_check "bravo: window closes" it_wait_for 8 pok "$ST" 'not cond("bravo", "p0_alert")["window_open"]'
it_check "bravo: closed before its window could complete" fok "$(now_s) < $ws_bravo + $WIN"
it_check "bravo: the resolved webhook is delivered and accepted" \
    it_wait_for 8 metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$acc0 + 4"

# ---- alpha and delta complete ----
wait "$WATCH_PID"
echo "     watcher: $(tr '\n' ';' <"$IT_DIR/watch.log")"
check_demotion "full window" "$IT_DIR/watch.log" alpha p0_alert "$WIN" "$SLACK"
check_demotion "silenced" "$IT_DIR/watch.log" delta p0_alert "$WIN" "$SLACK"
for b in alpha delta; do
    eval "s=\$starts_$b"
    ws=$(watch_field "$IT_DIR/watch.log" $b ws)
    it_check "$b: window_start unchanged to the decision (= startsAt)" fok "$ws - $s < 1 && $s - $ws < 1"
done

# ---- bravo and charlie are still General live after their D + margin ----
wait_until "$(awk "BEGIN { printf \"%.6f\", ($ws_bravo > $ws_charlie ? $ws_bravo : $ws_charlie) + $WIN + $SLACK }")"
for b in bravo charlie; do
    it_check "$b: still general_live after window_start + window + $SLACK s" \
        pok "$ST" "bot('$b')['readiness'] == 'general_live' and pend('$b') is None and not cond('$b', 'p0_alert')['window_open']"
    it_check "metrics: ratchet_bot_limited{bot=\"$b\"} 0" metric_is "$MET" "ratchet_bot_limited{bot=\"$b\"}" 0
done
it_check "metrics: ratchet_bot_limited{bot=\"alpha\"} 1" metric_is "$MET" 'ratchet_bot_limited{bot="alpha"}' 1
it_check "metrics: ratchet_bot_limited{bot=\"delta\"} 1" metric_is "$MET" 'ratchet_bot_limited{bot="delta"}' 1
it_check "metrics: 2 demotion requests submitted" metric_is "$MET" 'ratchet_demotion_requests_total{outcome="submitted"}' 2
it_check "metrics: 2 demotion requests pending (no enforcer)" metric_is "$MET" 'ratchet_demotion_requests_pending' 2
it_check "status: exactly alpha and delta pending" pok "$ST" 'sorted(p["bot"] for p in d["pending_demotions"]) == ["alpha", "delta"]'
it_check "charlie's resolve never came by webhook (4 accepted in all)" \
    metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$acc0 + 4"
echo "     alertmanager_notification_requests_total{integration=\"webhook\"}: $am_sent0 before charlie's resolve, $(metric "$AM/metrics" 'alertmanager_notification_requests_total{integration="webhook"}') now"
it_check "alertmanager sent exactly one webhook (bravo's resolve) after charlie's resolve" \
    metric_is "$AM/metrics" 'alertmanager_notification_requests_total{integration="webhook"}' "$am_sent0 + 1"
it_check "alpha: evidence kept fresh by polling" pok "$ST" 'cond("alpha", "p0_alert")["last_evidence"]["age_seconds"] < 3'
it_finish
