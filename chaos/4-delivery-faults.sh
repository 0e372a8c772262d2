#!/bin/sh
# Chaos scenario 4: delivery faults from Alertmanager. Real ratchet-watchdog
# and ratchet-enforcer; a real Prometheus evaluates `bot_p0 > 0` (severity
# P0) over an exporter the test rewrites and sends the alerts to an HA pair
# of real Alertmanagers (am1, am2), not clustered, so that each delivers
# every notification: the watchdog gets everything twice. It polls am1
# (restart_grace 4 s). Webhooks for bots "lost" and "gone" go through
# chaos/faultproxy.py, which drops resolved notifications (lost in transit).
#
# Injects, in this order:
#   ha       the pair delivering every firing notification twice
#   dup      N more copies of the firing webhooks (seeded N and order)
#   reorder  "reorder" fires and resolves; then its firing webhook arrives
#            again, after the resolve (an HA peer's delayed delivery)
#   lost     "lost" fires and resolves; both resolved notifications are lost
#   restart  "gone" fires; am1 is killed (-9) and "gone" resolves while am1
#            is down (the resolve to am2 is lost too); am1 restarts without
#            its data directory: it has forgotten every alert until
#            Prometheus re-sends them, and re-notifies the webhook
#   flood    wrk posts a real firing webhook (a duplicate) for 10 s, aiming
#            at about 10,000 requests/s (-t1 -c32, each connection waiting
#            2 ms between an answer and its next request), while GET /api/v1/status
#            is sampled every 100 ms with a 2 s limit
# Checks: "dup" and "amnesia" (P0 for the whole window) keep the window that
# opened at their alerts' startsAt through every fault and are demoted once
# each, at window_start + window; duplicates change nothing; the stale
# firing reopens "reorder" only from the time it arrived (never from the old
# startsAt) and the next poll closes it again; the poll closes "lost"; a
# restart is not a resolve: "gone" is closed only once am1's restart_grace
# has passed (docs/alertmanager.md, tracker rule 9); no demotion for
# "reorder", "lost", "gone", "calm"; the signed log holds exactly the two
# demotions and verifies. Flood: no wrk error or non-2xx answer, every
# status request answered 200, the watchdog's peak RSS (VmHWM) under 64 MiB;
# the achieved rate and latency are printed (not checked: the machine is
# shared).
# Usage: sh chaos/4-delivery-faults.sh [BUILD] (from the repo root)
# shellcheck disable=SC2154 # ws_<bot> are set by eval
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
. chaos/lib_feeds.sh
peers_setup
trap cf_cleanup EXIT
cf_seed

WIN=45        # p0_alert window (s)
AGE=3         # max_evidence_age (s)
SLACK=3       # a decision may come this long after it is due
GRACE=4       # the watchdog's alertmanager.restart_grace (s)
RSS_MAX_KIB=65536
FLOOD_S=10
EXP=$(it_port) PRP=$(it_port) A1P=$(it_port) A2P=$(it_port) LXP=$(it_port) WDP=$(it_port)
AM1=http://127.0.0.1:$A1P
AM2=http://127.0.0.1:$A2P
LX=http://127.0.0.1:$LXP
WD=http://127.0.0.1:$WDP
ST=$WD/api/v1/status
MET=$WD/metrics
BOTS="dup amnesia reorder lost gone calm"
lib() { python3 chaos/lib_feeds.py "$@"; }
TOKEN="chaos-webhook-token-$$"

# p0 BOT 0|1: what the exporter reports for BOT from now on.
p0() {
    echo "$2" >"$IT_DIR/p0/$1"
    for b in $BOTS; do echo "bot_p0{bot=\"$b\"} $(cat "$IT_DIR/p0/$b")"; done | write_atomic "$IT_DIR/exporter/metrics"
}
# am_lists AM BOT: Alertmanager AM lists an active P0 alert for BOT.
am_lists() { pok "$1/api/v2/alerts" "any(a['labels'].get('bot') == '$2' for a in d)"; }
am_not_lists() { ! am_lists "$1" "$2"; }
both_list() { am_lists "$AM1" "$1" && am_lists "$AM2" "$1"; }
am_sent() { metric "$1/metrics" 'alertmanager_notifications_total{integration="webhook"}'; }
am_sent_ge() { v=$(am_sent "$1") && [ "$v" -ge "$2" ]; }
accepted_is_sent() { [ "$(accepted)" -eq $(($(am_sent "$AM1") + $(am_sent "$AM2"))) ]; }
accepted() { metric "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}'; }
pok_metrics_zero() {
    for o in bad_request unusable unavailable too_large; do
        metric_is "$MET" "ratchet_webhook_requests_total{outcome=\"$o\"}" 0 || return 1
    done
}
closed() { pok "$ST" "not cond('$1', 'p0_alert')['window_open'] and bot('$1')['readiness'] == 'general_live'"; }
# opened_at BOT: the times (epoch) at which the watchdog logged BOT's window opening.
opened_at() {
    sed -n "s/.*notice: $1: p0_alert window opened at \([^ ]*\) .*/\1/p" "$IT_DIR/watchdog.log" |
        while read -r t; do pts "$t"; done
}

# ---- configuration ----
mkdir -p "$IT_DIR/exporter" "$IT_DIR/p0"
for b in $BOTS; do echo 0 >"$IT_DIR/p0/$b"; done
p0 calm 0
echo "$TOKEN" >"$IT_DIR/token"
chmod 600 "$IT_DIR/token"
bots=""
for b in $BOTS; do bots="$bots${bots:+, }{\"id\": \"$b\", \"readiness\": \"general_live\"}"; done
echo "{\"version\": 1, \"bots\": [$bots]}" >"$IT_DIR/bots.json"
cat >"$IT_DIR/policy.json" <<EOF
{"version": 1, "conditions": {"p0_alert": {"window": "${WIN}s", "max_evidence_age": "${AGE}s"}}}
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
cat >"$IT_DIR/prom.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ['$IT_DIR/rules.yml']
alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:$A1P', '127.0.0.1:$A2P']}]}]}
scrape_configs: [{job_name: bots, static_configs: [{targets: ['127.0.0.1:$EXP']}]}]
EOF
cat >"$IT_DIR/am.yml" <<EOF
route:
  receiver: wd
  group_by: [bot]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['bot=~"lost|gone"']
      receiver: wd_lossy
receivers:
  - name: wd
    webhook_configs:
      - url: $WD/webhook/alertmanager
        send_resolved: true
        http_config: {authorization: {credentials_file: $IT_DIR/token}}
  - name: wd_lossy
    webhook_configs:
      - url: $LX/webhook/alertmanager
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
 "alertmanager": {"url": "$AM1", "poll_interval": "1s", "restart_grace": "${GRACE}s"}}
EOF
chaos_enforcer_files

# ---- peers ----
start_static exporter "$IT_DIR/exporter" "$EXP" || it_bad "exporter starts"
it_bg proxy-lossy python3 chaos/faultproxy.py --upstream "$WD" --port "$LXP" --parent $$ --seed "$CF_SEED"
cf_start_am am1 "$IT_DIR/am.yml" "$IT_DIR/am1" "$A1P" --cluster.listen-address= || it_bad "am1 is ready"
AM1_PID=$AM_PID
cf_start_am am2 "$IT_DIR/am.yml" "$IT_DIR/am2" "$A2P" --cluster.listen-address= || it_bad "am2 is ready"
cf_start_prom prom "$IT_DIR/prom.yml" "$IT_DIR/tsdb" "$PRP" || it_bad "prometheus is ready"
it_wait_for 10 proxy "$LX" drop_resolved || it_bad "faultproxy in front of the webhook"
if cf_start_enforcer; then it_ok "enforcer listening"; else it_bad "enforcer listening"; fi
if start_watchdog watchdog "$IT_DIR/wd.json" "$WDP"; then it_ok "watchdog starts and answers /healthz"
else it_bad "watchdog starts"; it_finish; exit 1; fi
it_check "watchdog polls am1 (source up), enforcer connected" it_wait_for 20 pok "$ST" \
    'd["sources"]["alertmanager"]["up"] and d["enforcer"]["connected"]'

echo "inject: dup and amnesia fire (P0 for the whole window)"
p0 dup 1
p0 amnesia 1
for b in dup amnesia; do
    it_check "both Alertmanagers list $b's P0 alert" it_wait_for 30 both_list "$b"
    it_check "$b: window open" it_wait_for 20 pok "$ST" "cond('$b', 'p0_alert')['window_open']"
    s=$(pq "$AM1/api/v2/alerts" "[ts(a['startsAt']) for a in d if a['labels']['bot'] == '$b'][0]")
    ws=$(pq "$ST" "ts(cond('$b', 'p0_alert')['window_start'])")
    eval "ws_$b=$ws"
    it_check "$b: window_start = the alert's startsAt ($s)" fok "$ws - $s < 0.0015 && $s - $ws < 0.0015"
done

# held PHASE: dup and amnesia keep their windows; nothing demoted early or wrongly.
held() {
    for b in dup amnesia; do
        eval "ws=\$ws_$b"
        it_check "$1: $b window held (window_start unchanged, general_live before D)" pok "$ST" \
            "cond('$b', 'p0_alert')['window_open'] and abs(ts(cond('$b', 'p0_alert')['window_start']) - $ws) < 0.000002 and (bot('$b')['readiness'] == 'general_live' or gen >= $ws + $WIN)"
    done
    it_check "$1: reorder, lost, gone, calm general_live, nothing pending" pok "$ST" \
        'all(bot(b)["readiness"] == "general_live" and pend(b) is None for b in ["reorder", "lost", "gone", "calm"])'
    it_check "$1: signed log: only dup and amnesia, each at most once, none early" log_sane
}
log_sane() {
    python3 - "$IT_DIR/enf/commands.log" "$WIN" <<'PY'
import json, sys
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, "tests/integration")
from peers import ts
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line.split("\t", 1)[0])
    if r.get("type") == "demote":
        assert r["bot"] in ("dup", "amnesia") and r["bot"] not in seen, r["bot"]
        assert ts(r["decided_at"]) - ts(r["window_start"]) >= float(sys.argv[2]) - 1e-6, r
        seen.add(r["bot"])
PY
}

# ---- ha: the pair delivers everything twice ----
echo "---- phase ha"
it_check "ha: am1 delivered both firing notifications" it_wait_for 20 am_sent_ge "$AM1" 2
it_check "ha: am2 delivered them too" it_wait_for 20 am_sent_ge "$AM2" 2
it_check "ha: the watchdog accepted every delivery of both" it_wait_for 10 accepted_is_sent
echo "     notifications: am1 $(am_sent "$AM1"), am2 $(am_sent "$AM2"); accepted by the watchdog: $(accepted)"
held ha

# ---- dup: many more copies, in a seeded order ----
echo "---- phase dup"
lib payload "$AM1" dup firing "$IT_DIR/dup-firing.json" || it_bad "dup: payload from am1"
lib payload "$AM1" amnesia firing "$IT_DIR/amnesia-firing.json" || it_bad "dup: payload from am1"
n=$(awk -v s="$CF_SEED" 'BEGIN { srand(s); print 10 + int(rand() * 21) }')
files=$(awk -v s="$CF_SEED" -v n="$n" -v d="$IT_DIR" \
    'BEGIN { srand(s + 1); for (i = 0; i < n; i++) printf "%s/%s-firing.json ", d, (rand() < 0.5 ? "dup" : "amnesia") }')
a0=$(accepted)
echo "inject: $n more copies of the firing webhooks of dup and amnesia, in a seeded order"
# shellcheck disable=SC2086 # one argument per file
it_check "dup: every copy answered 200" lib post "$WD/webhook/alertmanager" "$TOKEN" $files
it_check "dup: all $n counted as accepted" metric_is "$MET" 'ratchet_webhook_requests_total{outcome="accepted"}' "$a0 + $n"
held dup

# ---- reorder: a stale firing delivered after the resolve ----
echo "---- phase reorder"
p0 reorder 1
it_check "reorder: am1 lists the alert" it_wait_for 30 am_lists "$AM1" reorder
it_check "reorder: window opens" it_wait_for 20 pok "$ST" "cond('reorder', 'p0_alert')['window_open']"
lib payload "$AM1" reorder firing "$IT_DIR/reorder-firing.json" || it_bad "reorder: payload from am1"
ws_r=$(pq "$ST" "ts(cond('reorder', 'p0_alert')['window_start'])")
t_res=$(now_s)
p0 reorder 0
it_check "reorder: resolved (Prometheus, both Alertmanagers): window closes" it_wait_for 30 closed reorder
sed 's/"status":"firing"/"status":"resolved"/g; s/"endsAt":"0001-01-01T00:00:00Z"/"endsAt":"'"$(rfc3339 "$(now_s)")"'"/' \
    "$IT_DIR/reorder-firing.json" >"$IT_DIR/reorder-resolved.json"
echo "inject: reorder's resolved webhook again, then its firing webhook (a delivery from before the resolve)"
t_stale=$(now_s)
it_check "reorder: both answered 200" lib post "$WD/webhook/alertmanager" "$TOKEN" \
    "$IT_DIR/reorder-resolved.json" "$IT_DIR/reorder-firing.json"
it_check "reorder: the stale firing reopened the window (watchdog log)" it_wait_for 10 \
    sh -c "test \$(grep -c 'reorder: p0_alert window opened' '$IT_DIR/watchdog.log') -ge 2"
last_open=$(opened_at reorder | tail -n 1)
echo "     reorder: window_start $ws_r (startsAt), resolved from $t_res, reopened at $last_open"
it_check "reorder: reopened at the time the stale firing came, not at its old startsAt" fok "$last_open >= $t_res"
it_check "reorder: the next poll closes it again" it_wait_for 10 closed reorder
it_check "reorder: closed within 8 s of the stale delivery" fok "$(now_s) < $t_stale + 8"
held reorder

# ---- lost: both resolved notifications lost in transit ----
echo "---- phase lost"
d0=$(proxy_served "$LX" dropped)
p0 lost 1
it_check "lost: window opens (firing delivered through the lossy path)" it_wait_for 30 pok "$ST" \
    "cond('lost', 'p0_alert')['window_open']"
echo "inject: lost resolves; the resolved webhooks of both Alertmanagers are dropped in transit"
p0 lost 0
it_check "lost: the resolved notifications were dropped" it_wait_for 30 proxy_served_ge "$LX" dropped $((d0 + 1))
it_check "lost: the poll closes the window" it_wait_for 10 closed lost
held lost

# ---- restart: am1 restarts without its data directory ----
echo "---- phase restart"
p0 gone 1
it_check "gone: am1 lists the alert" it_wait_for 30 am_lists "$AM1" gone
it_check "gone: window opens" it_wait_for 20 pok "$ST" "cond('gone', 'p0_alert')['window_open']"
sent1=$(am_sent "$AM1")
echo "inject: kill -9 am1 (pid $AM1_PID; it had sent $sent1 notifications); gone resolves while it is down"
cf_kill "$AM1_PID"
d0=$(proxy_served "$LX" dropped)
p0 gone 0
it_check "restart: am1 shown down" it_wait_for 20 pok "$ST" 'not d["sources"]["alertmanager"]["up"]'
gone_lost() { am_not_lists "$AM2" gone && proxy_served_ge "$LX" dropped $((d0 + 1)); }
it_check "restart: gone resolved in am2 (its resolved webhook dropped)" it_wait_for 30 gone_lost
echo "inject: restart am1 with an empty data directory (it forgets every alert)"
cf_start_am am1-restarted "$IT_DIR/am.yml" "$IT_DIR/am1-new" "$A1P" --cluster.listen-address= || it_bad "am1 restarts"
AM1_PID=$AM_PID
t_am1=$(pq "$AM1/api/v2/status" 'ts(d["uptime"])')
it_check "restart: am1 back (source up)" it_wait_for 20 pok "$ST" 'd["sources"]["alertmanager"]["up"]'
it_check "restart: the watchdog noticed am1's start" it_wait_for 10 grep -q "alertmanager started at" "$IT_DIR/watchdog.log"
for b in dup amnesia; do
    it_check "restart: Prometheus re-sent $b's alert to am1" it_wait_for 20 am_lists "$AM1" "$b"
done
it_check "restart: am1 re-notified the webhook (duplicates)" it_wait_for 20 am_sent_ge "$AM1" 2
it_check "restart: am1 does not list gone (resolved before it could learn it)" am_not_lists "$AM1" gone
it_check "restart: the poll closes gone's window once restart_grace has passed" it_wait_for 30 closed gone
g=$(pq "$ST" "ts(cond('gone', 'p0_alert')['last_evidence']['ts'])")
echo "     am1 started at $t_am1; gone closed by the poll at $g (+$(awk "BEGIN { printf \"%.3f\", $g - $t_am1 }") s)"
it_check "restart: gone closed no earlier than am1's start + restart_grace ($GRACE s)" fok "$g >= $t_am1 + $GRACE"
held restart

# ---- flood ----
echo "---- phase flood"
cat >"$IT_DIR/flood.lua" <<EOF
-- POST one real firing webhook (a duplicate of dup's) with the bearer token
local f = assert(io.open("$IT_DIR/dup-firing.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
-- pace each of the 32 connections: 2 ms between an answer and the next
-- request, about 10,000 requests/s in all with this endpoint's latency
-- (wrk2's constant rate is not available)
function delay()
  return 2
end
function done(s, latency, requests)
  io.write(string.format("WRKSUM requests=%d seconds=%.3f connect=%d read=%d write=%d status=%d timeout=%d " ..
    "mean_us=%.0f p50_us=%d p99_us=%d max_us=%d\n", s.requests, s.duration / 1e6, s.errors.connect,
    s.errors.read, s.errors.write, s.errors.status, s.errors.timeout, latency.mean, latency:percentile(50),
    latency:percentile(99), latency.max))
end
EOF
hwm0=$(hwm "$WD_PID") rss0=$(rss "$WD_PID") a0=$(accepted)
echo "     watchdog (pid $WD_PID) before the flood: VmHWM $hwm0 KiB, VmRSS $rss0 KiB"
it_bg sampler python3 chaos/lib_feeds.py sample "$ST" "$IT_DIR/flood.stop" 2
SAMPLER=$IT_LAST_PID
echo "inject: wrk -t1 -c32 -d${FLOOD_S}s: real firing webhooks, paced at about 10,000 requests/s"
wrk -t1 -c32 -d"${FLOOD_S}s" --latency -s "$IT_DIR/flood.lua" "$WD/webhook/alertmanager" >"$IT_DIR/wrk.out" 2>&1
touch "$IT_DIR/flood.stop"
wait "$SAMPLER"
r_flood=$(now_s)
hwm1=$(hwm "$WD_PID") rss1=$(rss "$WD_PID")
sed 's/^/     wrk: /' "$IT_DIR/wrk.out" | grep -v WRKSUM
sum=$(grep '^WRKSUM' "$IT_DIR/wrk.out")
field() { echo "$sum" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
reqs=$(field requests)
echo "     flood: $reqs requests in $(field seconds) s = $(awk "BEGIN { printf \"%.0f\", $reqs / $(field seconds) }") requests/s (target 10000);" \
    "latency mean $(field mean_us) us, p50 $(field p50_us) us, p99 $(field p99_us) us, max $(field max_us) us"
echo "     status during the flood: $(cat "$IT_DIR/sampler.log")"
echo "     watchdog after the flood: VmHWM $hwm1 KiB (peak RSS), VmRSS $rss1 KiB (bound $RSS_MAX_KIB KiB)"
it_check "flood: wrk ran ($reqs requests)" test "${reqs:-0}" -gt 0
it_check "flood: no connect/read/write/timeout errors" test "$(field connect)$(field read)$(field write)$(field timeout)" = 0000
it_check "flood: no non-2xx answer" test "$(field status)" = 0
a1=$(accepted)
echo "     accepted by the watchdog during the flood: $((a1 - a0)) (wrk counts $reqs completed; up to 32 more were in flight when it stopped)"
it_check "flood: every request accepted (200), none refused" fok "$a1 - $a0 >= $reqs && $a1 - $a0 <= $reqs + 32"
it_check "flood: no webhook refused (bad_request, unusable, unavailable all 0)" pok_metrics_zero
it_check "flood: status answered every time (none failed, at least 10 samples)" \
    grep -Eq '^ok=([1-9][0-9]+) failed=0 ' "$IT_DIR/sampler.log"
it_check "flood: peak RSS $hwm1 KiB under $RSS_MAX_KIB KiB" test "$hwm1" -lt "$RSS_MAX_KIB"
held flood

# ---- the windows complete ----
for b in dup amnesia; do
    eval "ws=\$ws_$b"
    # the last disruption ended at r_flood; had it lasted past D, the
    # decision comes with the first evidence after it
    due=$(awk "BEGIN { d = $ws + $WIN; printf \"%.6f\", ($r_flood > d ? $r_flood : d) }")
    if ! it_wait_for $((WIN + 60)) demotes_are "$b" 1; then
        it_bad "$b: demoted once (signed log)"
        continue
    fi
    wsr=$(rec "$b" "ts(r['window_start'])") dec=$(rec "$b" "ts(r['decided_at'])")
    echo "     $b: window_start=$wsr decided_at=$dec (+$(awk "BEGIN { printf \"%.3f\", $dec - $wsr }") s); due by $due"
    it_ok "$b: demoted once (signed log)"
    it_check "$b: on the window that opened at its startsAt (no reset by any fault)" feq "$wsr" "$ws"
    it_check "$b: decided_at >= window_start + $WIN s (never early)" fok "$dec - $wsr >= $WIN - 0.000001"
    it_check "$b: decided_at <= $(awk "BEGIN { printf \"%.1f\", $due - $ws }") s + $SLACK s after window_start" fok "$dec <= $due + $SLACK"
    it_check "$b: status shows limited_live since decided_at" pok "$ST" \
        "bot('$b')['readiness'] == 'limited_live' and abs(ts(bot('$b')['readiness_since']) - $dec) < 0.0005"
done
it_check "signed log: exactly dup and amnesia demoted, once each" test "$(demoted_bots)" = "amnesia dup"
it_check "the enforcer acknowledged both" it_wait_for 20 pok "$ST" 'd["enforcer"]["pending"] == 0'
it_check "reorder, lost, gone, calm: general_live, no window, nothing pending" pok "$ST" \
    'all(bot(b)["readiness"] == "general_live" and pend(b) is None and not cond(b, "p0_alert")["window_open"] for b in ["reorder", "lost", "gone", "calm"])'
it_check "ratchetctl log verify accepts the signed log" \
    "$IT_BUILD/ratchetctl" log verify --log "$IT_DIR/enf/commands.log" --pubkey "$IT_DIR/key.pub"
echo "     figures: flood $reqs requests, $(awk "BEGIN { printf \"%.0f\", $reqs / $(field seconds) }") requests/s;" \
    "status $(cut -d' ' -f1-3 "$IT_DIR/sampler.log"); watchdog VmHWM $hwm0 -> $hwm1 KiB"
it_finish
