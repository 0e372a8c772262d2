#!/bin/sh
# The watchdog -> enforcer path with both real daemons:
#  - a demotion arrives in the signed log, the readiness view and status;
#  - kill -9 of the enforcer after it wrote the record but before it
#    acknowledged it (a gdb breakpoint right after the append), then a
#    restart and the watchdog's retry: exactly one record;
#  - a client with a uid the enforcer does not allow is refused and writes
#    nothing; a malformed frame writes nothing.
. tests/integration/lib.sh
IT_BUILD=${1:-build}
it_setup
trap 'chattr -a "$IT_DIR"/enf/* 2>/dev/null; it_cleanup' EXIT
d=$IT_DIR
chmod 711 "$d" # so that another uid can reach the socket: SO_PEERCRED must refuse it
port=$(it_port)
WD=http://127.0.0.1:$port

openssl genpkey -algorithm ed25519 -out "$d/key.pem" 2>/dev/null && chmod 400 "$d/key.pem"
openssl pkey -in "$d/key.pem" -pubout -out "$d/key.pub"
mkdir -m 700 "$d/enf" "$d/wd"
printf 'tok\n' >"$d/token" && chmod 600 "$d/token"
cat >"$d/policy.json" <<EOF
{"version":1,"conditions":{"p0_alert":{"window":"5s","max_evidence_age":"1m"}}}
EOF
cat >"$d/bots.json" <<EOF
{"version":1,"bots":[{"id":"alpha","readiness":"general_live"},{"id":"beta","readiness":"general_live"}]}
EOF
cat >"$d/enf.json" <<EOF
{"version":1,"socket":"$d/enf.sock","socket_group":65534,"allowed_peers":{"uids":[$(id -u)]},"state_dir":"$d/enf",
 "origin":"it.ratchet.invalid/commands","key":{"file":"$d/key.pem"},"key_name":"it-key",
 "policy_file":"$d/policy.json","checkpoint_interval":"1h","watchdog_silence":"1h"}
EOF
cat >"$d/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$port}],"auth":{"bearer_token_file":"$d/token"},
 "policy_file":"$d/policy.json","state_dir":"$d/wd","bots":{"file":"$d/bots.json"},
 "enforcer":{"socket":"$d/enf.sock"}}
EOF

fire() { # fire BOT FINGERPRINT: a P0 alert that started 10 s ago (its 5 s window is already complete)
    started=$(date -u -d '-10 seconds' +%Y-%m-%dT%H:%M:%SZ)
    curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok' -H 'Content-Type: application/json' \
        --data '{"receiver":"r","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0","bot":"'"$1"'","severity":"P0"},"annotations":{},"startsAt":"'"$started"'","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"'"$2"'"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"x","version":"4","groupKey":"{}","truncatedAlerts":0}' \
        "$WD/webhook/alertmanager"
}
demote_records() { grep -c "\"type\":\"demote\".*\"bot\":\"$1\"" "$d/enf/commands.log"; }
pending() { curl -fsS "$WD/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["enforcer"]["pending"])'; }
# Predicates re-evaluated by it_wait_for on every try.
pending_is() { test "$(pending)" = "$1"; }
records_are() { test "$(demote_records "$1")" = "$2"; }

# 1. The enforcer runs under gdb, stopped right after the append of the
#    first demotion (the second call of rt_logw_checkpoint: the first is at
#    start-up), and killed there: written and fdatasync'd, never acknowledged.
it_bg gdb gdb -q -batch -ex 'set pagination off' -ex 'break rt_logw_checkpoint' -ex run -ex continue \
    -ex 'echo CRASH-POINT-REACHED\n' -ex kill --args "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
it_check "enforcer (under gdb) listening" it_wait_for 30 test -S "$d/enf.sock"
it_bg watchdog "$IT_BUILD/ratchet-watchdog" --config "$d/wd.json"
it_check "watchdog up" it_wait_for 10 it_http_ok "$WD/healthz"
it_check "webhook for alpha accepted" test "$(fire alpha 0000000000000001)" = 200
it_check "enforcer killed between its write and its acknowledgement" \
    it_wait_for 30 grep -q CRASH-POINT-REACHED "$d/gdb.log"
it_check "the record was durable before the crash" it_wait_for 10 records_are alpha 1
it_check "the watchdog still has it pending (no acknowledgement came)" pending_is 1

# 2. Restart normally: the watchdog reconnects and re-sends; the enforcer
#    answers "duplicate" and writes nothing new.
it_bg enforcer "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
it_check "after the restart the watchdog's retry is acknowledged" it_wait_for 30 pending_is 0
it_check "exactly one record for alpha" records_are alpha 1
it_check "the enforcer logged the duplicate, not a second demotion" \
    sh -c "! grep -q 'signed record' '$d/enforcer.log'"
it_check "alpha is limited in the readiness view" grep -q '"id":"alpha","readiness":"limited_live"' "$d/enf/readiness.json"
it_check "status shows alpha limited_live" \
    sh -c "curl -fsS '$WD/api/v1/status?bot=alpha' | grep -q '\"readiness\":\"limited_live\"'"

# 3. A second bot goes straight through.
it_check "webhook for beta accepted" test "$(fire beta 0000000000000002)" = 200
it_check "beta recorded" it_wait_for 20 records_are beta 1
it_check "beta acknowledged" it_wait_for 20 pending_is 0
it_check "beta recorded once" records_are beta 1

# 4. Channel discipline against the real daemon.
lines=$(wc -l <"$d/enf/commands.log")
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    py=$(command -v /usr/bin/python3 || command -v python3)
    setpriv --reuid=65534 --regid=65534 --clear-groups "$py" - "$d/enf.sock" >"$d/peer.out" 2>&1 <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect refused:", e); sys.exit(0)
hello = b"RTC1" + bytes([1, 0, 0, 0]) + struct.pack("<I", 2 + 2 + 6) + struct.pack("<H", 1) + struct.pack("<H", 6) + b"intrud"
try:
    s.sendall(hello)
    print("closed" if s.recv(64) == b"" else "answered")
except OSError:
    print("closed")
PY
    # the socket's group lets it connect; SO_PEERCRED is what refuses it
    it_check "a uid the enforcer does not allow is closed without an answer" grep -qx "closed" "$d/peer.out"
    it_check "... and is logged as refused" it_wait_for 5 grep -q "uid 65534" "$d/enforcer.log"
fi
python3 - "$d/enf.sock" >"$d/bad.out" 2>&1 <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"RTC1\x03\x00\x00\x00\x05\x00\x00\x00garbage-garbage")  # DEMOTE before HELLO, bad payload
print("closed" if s.recv(64) == b"" else "answered")
PY
it_check "a malformed frame closes the connection" grep -q closed "$d/bad.out"
it_check "nothing was written by the refused and malformed clients" test "$(wc -l <"$d/enf/commands.log")" = "$lines"
it_finish
