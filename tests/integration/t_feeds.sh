#!/bin/sh
# ratchet-watchdog with the drift feed and CVSS reports, windows of seconds.
#   drift   a drift feed document (docs/feeds.md) served by python3 -m
#           http.server from a directory the test writes, standing in for the
#           reconciliation service: drift outside tolerance is demoted, drift
#           inside is not, drift without any tolerance is unknown
#   cvss    the "dir" form with the scanner samples of tests/samples/scan/:
#           Trivy, Grype, OSV and native reports with a finding above 7.0
#           demote their bots; the exactly-7.0 reports do not
#   restart kill -9 of the watchdog mid-window and a restart with the same
#           configuration and state directory: the demotion comes on the
#           original schedule
# Usage: tests/integration/t_feeds.sh BUILD_DIR (from the repo root)
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
peers_setup

DWIN=8        # recon_drift window (s); evidence age 1m: the feed is a static document
CWIN=6        # cvss window (s)
CAGE=4        # cvss max_evidence_age (s)
SLACK=1.5     # decisions come from the once-a-second tick
FDP=$(it_port)
WDP=$(it_port)
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status
MET=$WD/metrics
SCAN=tests/samples/scan
CVSS_HI="trivyhi grypehi osvhi nativehi"
CVSS_7="trivy7 grype7 osv7 native7"

# ---- configuration ----
mkdir -p "$IT_DIR/feed" "$IT_DIR/reports"
cp "$SCAN/trivy-above.json" "$IT_DIR/reports/trivyhi.json"
cp "$SCAN/grype-above.json" "$IT_DIR/reports/grypehi.json"
cp "$SCAN/osv-scanner-above.json" "$IT_DIR/reports/osvhi.json"
cp "$SCAN/native-above.json" "$IT_DIR/reports/nativehi.json"
cp "$SCAN/trivy-exactly-7.json" "$IT_DIR/reports/trivy7.json"
cp "$SCAN/grype-exactly-7.json" "$IT_DIR/reports/grype7.json"
cp "$SCAN/osv-exactly-7.json" "$IT_DIR/reports/osv7.json"
cp "$SCAN/native-exactly-7.json" "$IT_DIR/reports/native7.json"
bots=""
for b in driftout driftin driftnotol kr $CVSS_HI $CVSS_7; do
    bots="$bots${bots:+, }{\"id\": \"$b\", \"readiness\": \"general_live\"}"
done
echo "{\"version\": 1, \"bots\": [$bots]}" >"$IT_DIR/bots.json"
cat >"$IT_DIR/policy.json" <<EOF
{"version": 1, "conditions": {
  "recon_drift": {"window": "${DWIN}s", "max_evidence_age": "1m"},
  "cvss": {"threshold": 7.0, "window": "${CWIN}s", "max_evidence_age": "${CAGE}s"}}}
EOF
cat >"$IT_DIR/wd.json" <<EOF
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": $WDP}],
 "auth": "none",
 "policy_file": "$IT_DIR/policy.json",
 "state_dir": "$IT_DIR/state",
 "bots": {"file": "$IT_DIR/bots.json"},
 "enforcer": {"socket": "$IT_DIR/no-enforcer.sock"},
 "drift": {"url": "http://127.0.0.1:$FDP/feed.json", "interval": "1s"},
 "cvss": {"dir": "$IT_DIR/reports", "format": "auto", "interval": "1s"}}
EOF
g=$(now_s)
gs=$(rfc3339 "$g")
write_atomic "$IT_DIR/feed/feed.json" <<EOF
{"generated_at": "$gs", "bots": [
  {"bot": "driftout", "drift": -412.5, "tolerance": 250, "unit": "USD"},
  {"bot": "driftin", "drift": 120.25, "tolerance": 250, "unit": "USD"},
  {"bot": "driftnotol", "drift": 5000}]}
EOF

# ---- phase 1: drift and CVSS ----
if start_static feed "$IT_DIR/feed" "$FDP"; then it_ok "drift feed is served"; else it_bad "drift feed is served"; fi
started=$(now_s)
if start_watchdog watchdog "$IT_DIR/wd.json" "$WDP"; then it_ok "watchdog starts and answers /healthz"
else it_bad "watchdog starts and answers /healthz"; cat "$IT_DIR/watchdog.log"; it_finish; exit 1; fi
it_bg watchd python3 tests/integration/peers.py watch "$ST" recon_drift "$DWIN" $((DWIN + 15)) driftout
WATCHD=$IT_LAST_PID
# shellcheck disable=SC2086 # word splitting of the bot lists is intended
it_bg watchc python3 tests/integration/peers.py watch "$ST" cvss "$CWIN" $((CWIN + 15)) $CVSS_HI
WATCHC=$IT_LAST_PID
it_check "drift and cvss sources up" it_wait_for 10 pok "$ST" 'd["sources"]["drift"]["up"] and d["sources"]["cvss"]["up"]'
it_check "metrics: ratchet_source_up{source=\"drift\"} 1" metric_is "$MET" 'ratchet_source_up{source="drift"}' 1
it_check "metrics: ratchet_source_up{source=\"cvss\"} 1" metric_is "$MET" 'ratchet_source_up{source="cvss"}' 1
it_check "driftout: window opens at the feed's generated_at" \
    it_wait_for 10 pok "$ST" "cond('driftout', 'recon_drift')['window_open'] and abs(ts(cond('driftout', 'recon_drift')['window_start']) - $g) < 0.000002"
it_check "driftout: breach, last evidence -412.5" \
    pok "$ST" 'cond("driftout", "recon_drift")["state"] == "breach" and cond("driftout", "recon_drift")["last_evidence"]["value"] == -412.5'
it_check "driftin: inside tolerance is ok, no window" \
    it_wait_for 5 pok "$ST" 'cond("driftin", "recon_drift")["state"] == "ok" and not cond("driftin", "recon_drift")["window_open"]'
it_check "driftnotol: no tolerance anywhere is unknown, no window" \
    it_wait_for 5 pok "$ST" 'cond("driftnotol", "recon_drift")["state"] == "unknown" and not cond("driftnotol", "recon_drift")["window_open"]'
for b in $CVSS_HI; do
    it_check "$b: cvss window opens" it_wait_for 10 pok "$ST" "cond('$b', 'cvss')['window_open']"
    ws=$(pq "$ST" "ts(cond('$b', 'cvss')['window_start'])")
    eval "ws_$b=$ws"
    it_check "$b: window_start is the first read of the report (+$(awk "BEGIN { printf \"%.3f\", $ws - $started }") s after start)" \
        fok "$ws >= $started && $ws <= $started + 5"
done
it_check "scores: trivy 10.0, grype 9.8, osv 8.6, native 10.0" \
    pok "$ST" '[cond(b, "cvss")["last_evidence"]["value"] for b in ["trivyhi", "grypehi", "osvhi", "nativehi"]] == [10, 9.8, 8.6, 10]'
for b in $CVSS_7; do
    it_check "$b: exactly 7.0 is not a breach (state ok, value 7, no window)" \
        it_wait_for 10 pok "$ST" "cond('$b', 'cvss')['state'] == 'ok' and cond('$b', 'cvss')['last_evidence']['value'] == 7 and not cond('$b', 'cvss')['window_open']"
done

wait "$WATCHD"
wait "$WATCHC"
echo "     watchers: $(cat "$IT_DIR/watchd.log" "$IT_DIR/watchc.log" | tr '\n' ';')"
check_demotion "drift" "$IT_DIR/watchd.log" driftout recon_drift "$DWIN" "$SLACK"
it_check "driftout: window_start unchanged (= generated_at)" feq "$(watch_field "$IT_DIR/watchd.log" driftout ws)" "$g"
it_check "driftout: decided at exactly generated_at + window (fresh evidence at D)" \
    feq "$(watch_field "$IT_DIR/watchd.log" driftout decided)" "$g + $DWIN"
for b in $CVSS_HI; do
    check_demotion "cvss" "$IT_DIR/watchc.log" "$b" cvss "$CWIN" "$SLACK"
    eval "ws=\$ws_$b"
    it_check "$b: window_start unchanged to the decision" feq "$(watch_field "$IT_DIR/watchc.log" "$b" ws)" "$ws"
done
# the bots that must stay: checked once their D + margin has passed
wait_until "$(awk "BEGIN { printf \"%.6f\", $g + $DWIN + 2 }")"
wait_until "$(awk "BEGIN { printf \"%.6f\", $started + 5 + $CWIN + 2 }")"
for b in driftin driftnotol $CVSS_7; do
    it_check "$b: still general_live after the window + margin" pok "$ST" "bot('$b')['readiness'] == 'general_live' and pend('$b') is None"
    it_check "metrics: ratchet_bot_limited{bot=\"$b\"} 0" metric_is "$MET" "ratchet_bot_limited{bot=\"$b\"}" 0
done
for b in driftout $CVSS_HI; do
    it_check "metrics: ratchet_bot_limited{bot=\"$b\"} 1" metric_is "$MET" "ratchet_bot_limited{bot=\"$b\"}" 1
done
it_check "metrics: 5 demotion requests submitted" metric_is "$MET" 'ratchet_demotion_requests_total{outcome="submitted"}' 5
it_check "status: 5 pending demotions (no enforcer)" pok "$ST" 'len(d["pending_demotions"]) == 5'
since_driftout=$(pq "$ST" 'ts(bot("driftout")["readiness_since"])')

# ---- phase 2: kill -9 mid-window, restart ----
g2=$(now_s)
g2s=$(rfc3339 "$g2")
write_atomic "$IT_DIR/feed/feed.json" <<EOF
{"generated_at": "$g2s", "bots": [
  {"bot": "driftout", "drift": -412.5, "tolerance": 250, "unit": "USD", "ts": "$gs"},
  {"bot": "driftin", "drift": 120.25, "tolerance": 250, "unit": "USD", "ts": "$gs"},
  {"bot": "driftnotol", "drift": 5000, "ts": "$gs"},
  {"bot": "kr", "drift": 900, "tolerance": 250, "unit": "USD"}]}
EOF
it_check "kr: window opens at generated_at" \
    it_wait_for 10 pok "$ST" "cond('kr', 'recon_drift')['window_open'] and abs(ts(cond('kr', 'recon_drift')['window_start']) - $g2) < 0.000002"
it_bg watchk python3 tests/integration/peers.py watch "$ST" recon_drift "$DWIN" $((DWIN + 20)) kr
WATCHK=$IT_LAST_PID
it_wait_for 10 pok "$ST" 'cond("kr", "recon_drift")["breach_seconds"] >= 3'
kill -9 "$WD_PID"
wait "$WD_PID" 2>/dev/null
killed=$(now_s)
it_check "watchdog killed (-9) $(awk "BEGIN { printf \"%.1f\", $killed - $g2 }") s into kr's window" fok "$killed < $g2 + $DWIN - 2"
it_check "watchdog is gone" sh -c "! curl -fsS -o /dev/null --max-time 2 '$WD/healthz'"
if start_watchdog watchdog2 "$IT_DIR/wd.json" "$WDP"; then it_ok "watchdog restarts with the same state directory"
else it_bad "watchdog restarts with the same state directory"; cat "$IT_DIR/watchdog2.log"; fi
it_check "kr: window restored, window_start unchanged" \
    pok "$ST" "cond('kr', 'recon_drift')['window_open'] and abs(ts(cond('kr', 'recon_drift')['window_start']) - $g2) < 0.000002 and bot('kr')['readiness'] == 'general_live'"
it_check "driftout: still limited_live, readiness_since unchanged" \
    pok "$ST" "bot('driftout')['readiness'] == 'limited_live' and abs(ts(bot('driftout')['readiness_since']) - $since_driftout) < 0.000002"
it_check "the 5 earlier pending demotions survived the crash" pok "$ST" 'len(d["pending_demotions"]) >= 5'
wait "$WATCHK"
echo "     watcher: $(tr '\n' ';' <"$IT_DIR/watchk.log")"
check_demotion "after kill -9" "$IT_DIR/watchk.log" kr recon_drift "$DWIN" "$SLACK"
it_check "kr: decided on the original schedule (generated_at + window)" \
    feq "$(watch_field "$IT_DIR/watchk.log" kr decided)" "$g2 + $DWIN"
it_check "kr: window_start unchanged to the decision" feq "$(watch_field "$IT_DIR/watchk.log" kr ws)" "$g2"
it_check "status: 6 pending demotions" pok "$ST" 'len(d["pending_demotions"]) == 6 and pend("kr")["condition"] == "recon_drift"'
it_check "metrics: ratchet_bot_limited{bot=\"kr\"} 1" metric_is "$MET" 'ratchet_bot_limited{bot="kr"}' 1
it_check "metrics: ratchet_bot_limited{bot=\"driftout\"} 1 (restored)" metric_is "$MET" 'ratchet_bot_limited{bot="driftout"}' 1
it_check "metrics: the restarted watchdog submitted kr's demotion" \
    metric_is "$MET" 'ratchet_demotion_requests_total{outcome="submitted"}' 1
it_check "metrics: 6 demotion requests pending" metric_is "$MET" 'ratchet_demotion_requests_pending' 6
it_check "drift feed re-read after restart: driftin ok, driftnotol unknown" \
    pok "$ST" 'cond("driftin", "recon_drift")["state"] == "ok" and cond("driftnotol", "recon_drift")["state"] == "unknown"'
it_finish
