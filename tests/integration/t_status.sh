#!/bin/sh
# ratchetctl status against a running watchdog: the JSON for tools, and the
# on-call table with "X will be demoted in ... because ..." on a terminal.
. tests/integration/lib.sh
IT_BUILD=${1:-build}
it_setup
port=$(it_port)
printf 'status-token\n' >"$IT_DIR/token"
chmod 600 "$IT_DIR/token"
cat >"$IT_DIR/bots.json" <<JSON
{"version":1,"bots":[{"id":"alpha","readiness":"general_live"},{"id":"beta","readiness":"limited_live"}]}
JSON
cat >"$IT_DIR/policy.json" <<JSON
{"version":1,"conditions":{"p0_alert":{"window":"1h","max_evidence_age":"2h"}}}
JSON
cat >"$IT_DIR/wd.json" <<JSON
{"version":1,"listen":[{"address":"127.0.0.1","port":$port}],"auth":{"bearer_token_file":"$IT_DIR/token"},
 "policy_file":"$IT_DIR/policy.json","state_dir":"$IT_DIR/state","bots":{"file":"$IT_DIR/bots.json"},
 "enforcer":{"socket":"$IT_DIR/nobody.sock"}}
JSON
it_bg watchdog "$IT_BUILD/ratchet-watchdog" --config "$IT_DIR/wd.json"
url=http://127.0.0.1:$port
it_check "watchdog answers /healthz" it_wait_for 10 it_http_ok "$url/healthz"
started=$(date -u -d '-10 minutes' +%Y-%m-%dT%H:%M:%SZ)
payload='{"receiver":"wd","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0Down","bot":"alpha","severity":"P0"},"annotations":{},"startsAt":"'$started'","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"0123456789abcdef"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"x","version":"4","groupKey":"{}","truncatedAlerts":0}'
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer status-token' -H 'Content-Type: application/json' \
       --data "$payload" "$url/webhook/alertmanager")
it_check "webhook accepted (200)" test "$code" = 200

ctl="$IT_BUILD/ratchetctl"
"$ctl" status --url "$url" >"$IT_DIR/status.json"
it_check "piped output is the watchdog's JSON" python3 -c "import json; json.load(open('$IT_DIR/status.json'))"
it_check "window starts at the alert's startsAt" sh -c "python3 -c \"import json; d=json.load(open('$IT_DIR/status.json')); c=d['bots'][0]['conditions']['p0_alert']; assert c['window_start']=='$started', c\""
it_check "about 50 minutes left (1h window, opened 10 minutes ago)" sh -c "python3 -c \"import json; d=json.load(open('$IT_DIR/status.json')); s=d['bots'][0]['conditions']['p0_alert']['demote_in_seconds']; assert 2990 <= s <= 3000, s\""
script -qc "$ctl status --url $url" /dev/null >"$IT_DIR/table.txt"
it_check "terminal output is a table" grep -q '^BOT .*READINESS .*DEMOTION IN' "$IT_DIR/table.txt"
it_check "and says why and when" grep -q '^alpha will be demoted in 49m5[0-9]s (at .*) because a P0 alert has been active since '"$started" "$IT_DIR/table.txt"
it_check "limited bot shown as limited_live" grep -q '^beta  *limited_live' "$IT_DIR/table.txt"
it_check "--bot filters to one bot" sh -c "$ctl status --url $url --bot beta --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [b[\"bot\"] for b in d[\"bots\"]]==[\"beta\"]'"
it_check "unknown bot: exit 1" sh -c "! $ctl status --url $url --bot nobody"
"$ctl" status --url http://127.0.0.1:1 >/dev/null 2>"$IT_DIR/err"
it_check "watchdog not running: exit 1" test $? = 1
it_check "... naming the URL it tried" grep -q 'http://127.0.0.1:1/api/v1/status' "$IT_DIR/err"
it_check "invalid bot id is a usage error (2)" sh -c "$ctl status --bot 'a b'; test \$? = 2"
it_finish
