#!/bin/sh
# Bad requests against a live ratchet-watchdog: a table of malformed,
# unauthenticated, oversized, mistyped and misrouted requests, each with its
# exact status and a JSON error body; slow clients that must be cut off while
# others are served; then proof that none of it touched the state (hashes of
# the state directory, evidence log, no open window), that /metrics counted
# it right, and that a valid webhook still opens a window.
#
# usage: tests/integration/t_badrequests.sh BUILD_DIR   (run from anywhere)
# The request table and slow clients live in badreq_client.py (python3,
# standard library only).

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IT_BUILD=${1:-${IT_BUILD:-build}}
. "$HERE/lib.sh"

WD=$IT_BUILD/ratchet-watchdog
CLIENT="python3 $HERE/badreq_client.py"
SAMPLES=$ROOT/tests/samples/alertmanager
TOKEN=bad-req-token-7f3c9a

[ -x "$WD" ] || { echo "no $WD (build with: make BUILD=$IT_BUILD all)"; exit 1; }
it_setup

# ---- a watchdog with three bots, bearer auth, no sources, no enforcer
ST=$IT_DIR/state
PORT=$(it_port)
BASE=http://127.0.0.1:$PORT
printf '%s\n' "$TOKEN" >"$IT_DIR/token"
chmod 600 "$IT_DIR/token"
cat >"$IT_DIR/bots.json" <<EOF
{"version": 1, "bots": [
  {"id": "alpha", "readiness": "general_live"},
  {"id": "beta", "readiness": "general_live"},
  {"id": "gamma", "readiness": "limited_live"}]}
EOF
cat >"$IT_DIR/watchdog.json" <<EOF
{"version": 1,
 "listen": [{"address": "127.0.0.1", "port": $PORT}],
 "auth": {"bearer_token_file": "$IT_DIR/token"},
 "state_dir": "$ST",
 "evidence_log": {"max_bytes": 1048576, "keep": 1},
 "bots": {"file": "$IT_DIR/bots.json"},
 "enforcer": {"socket": "$IT_DIR/enforcer.sock"}}
EOF
it_bg watchdog "$WD" --config "$IT_DIR/watchdog.json"
WD_PID=$IT_LAST_PID
if ! it_wait_for 10 it_http_ok "$BASE/healthz"; then
    it_bad "watchdog starts and answers /healthz"
    cat "$IT_DIR/watchdog.log"
    it_finish
    exit 1
fi
it_ok "watchdog starts and answers /healthz"

# The state must be settled before it is hashed: the registry is loaded
# before READY, so the three bots are in /api/v1/status once it answers.
bots_listed() { [ "$(it_json "$BASE/api/v1/status" 'len(d["bots"])')" = 3 ]; }
it_check "status lists the three bots of the registry" it_wait_for 5 bots_listed

state_hashes() { # file names and SHA-256 of every file in the state dir
    (cd "$ST" && find . -type f | LC_ALL=C sort | xargs sha256sum)
}
state_hashes >"$IT_DIR/state.before"
grep -E '/(windows|alerts|pending)\.' "$IT_DIR/state.before" >"$IT_DIR/stores.before"
sha256sum <"$ST/evidence.jsonl" >"$IT_DIR/evidence.before"
$CLIENT snapshot "$PORT" "$IT_DIR/metrics.before" || it_bad "read /metrics before the table"

# ---- run a python result stream through it_ok / it_bad
report() { # report FILE
    while IFS='	' read -r verdict name detail; do
        case $verdict in
        ok) it_ok "$name" ;;
        FAIL) it_bad "$name: $detail" ;;
        *) [ -n "$verdict" ] && it_bad "unexpected output: $verdict $name $detail" ;;
        esac
    done <"$1"
}

# ---- slow clients in the background, for the whole table
it_bg slow $CLIENT slow "$PORT" "$TOKEN" "$IT_DIR"
it_check "slow clients connected" it_wait_for 5 test -f "$IT_DIR/slow.ready"

# ---- the table
$CLIENT table "$PORT" "$TOKEN" "$SAMPLES" "$IT_DIR/expected.json" >"$IT_DIR/table.out" 2>&1
report "$IT_DIR/table.out"
rows=$(grep -cE '^(ok|FAIL)' "$IT_DIR/table.out")
if [ "$rows" -ge 25 ]; then it_ok "table has $rows rows"; else it_bad "table has only $rows rows"; fi

# The drip clients are cut by the 30 s request deadline.
if it_wait_for 45 test -f "$IT_DIR/slow.out"; then
    report "$IT_DIR/slow.out"
else
    it_bad "slow clients did not finish within 45 s"
    cat "$IT_DIR/slow.log"
fi

# ---- nothing of it reached the state
it_check "watchdog still running" kill -0 "$WD_PID"
it_check "/healthz 200 after the table" it_http_ok "$BASE/healthz"
state_hashes >"$IT_DIR/state.after"
grep -E '/(windows|alerts|pending)\.' "$IT_DIR/state.after" >"$IT_DIR/stores.after"
it_check "windows.*, alerts.*, pending.* byte-identical to before the table" \
    cmp "$IT_DIR/stores.before" "$IT_DIR/stores.after"
sha256sum <"$ST/evidence.jsonl" >"$IT_DIR/evidence.after"
it_check "evidence log unchanged" cmp "$IT_DIR/evidence.before" "$IT_DIR/evidence.after"
it_check "no file added to or removed from the state directory" \
    cmp "$IT_DIR/state.before" "$IT_DIR/state.after"
no_window() {
    [ "$(it_json "$BASE/api/v1/status" \
        'sum(c["window_open"] for b in d["bots"] for c in b["conditions"].values())')" = 0 ]
}
it_check "status: no bot has an open window" no_window

# ---- the counters match the table
$CLIENT metrics "$PORT" "$IT_DIR/metrics.before" "$IT_DIR/expected.json" >"$IT_DIR/metrics.out" 2>&1
report "$IT_DIR/metrics.out"

# ---- and the daemon still works: one valid webhook opens alpha's window
$CLIENT valid "$PORT" "$TOKEN" "$SAMPLES" >"$IT_DIR/valid.out" 2>&1
report "$IT_DIR/valid.out"
alpha_open() {
    [ "$(it_json "$BASE/api/v1/status?bot=alpha" 'd["bots"][0]["conditions"]["p0_alert"]["window_open"]')" = True ]
}
it_check "status: alpha's p0_alert window is open" it_wait_for 5 alpha_open
state_hashes >"$IT_DIR/state.valid"
if cmp -s "$IT_DIR/state.after" "$IT_DIR/state.valid"; then
    it_bad "the valid webhook changed the state directory (the hash check can see changes)"
else
    it_ok "the valid webhook changed the state directory (the hash check can see changes)"
fi
ev_grew() { [ -s "$ST/evidence.jsonl" ] && ! sha256sum <"$ST/evidence.jsonl" | cmp -s - "$IT_DIR/evidence.after"; }
it_check "the valid webhook wrote evidence" ev_grew
$CLIENT metrics "$PORT" "$IT_DIR/metrics.before" "$IT_DIR/expected.json" webhook.accepted=1 \
    | grep 'outcome="accepted"' >"$IT_DIR/metrics2.out"
report "$IT_DIR/metrics2.out"

if grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$IT_DIR/watchdog.log"; then
    it_bad "sanitizer report in the watchdog log"
    cat "$IT_DIR/watchdog.log"
fi
it_finish
