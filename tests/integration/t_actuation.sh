#!/bin/sh
# Actuation with both real daemons and a control-plane stand-in
# (tests/integration/controlplane.py, which verifies every pushed line with
# the openssl CLI as docs/log-format.md says):
#  - a demotion's signed record is pushed; the stand-in's first two answers
#    are 500 and are retried; after the 2xx exactly one "actuated" record
#    names the demote record, and `ratchetctl log verify` accepts the log;
#  - a restarted watchdog does not push an acknowledged record again;
#  - the enforcer refuses an ACTUATED for a seq that is not a demote record
#    (closes the connection, writes nothing) and answers a repeated one as a
#    duplicate (writes nothing).
. tests/integration/lib.sh
IT_BUILD=${1:-build}
it_setup
trap 'chattr -a "$IT_DIR"/enf/* 2>/dev/null; it_cleanup' EXIT
d=$IT_DIR
port=$(it_port)
cp_port=$(it_port)
WD=http://127.0.0.1:$port
origin=it.ratchet.invalid/commands

openssl genpkey -algorithm ed25519 -out "$d/key.pem" 2>/dev/null && chmod 400 "$d/key.pem"
openssl pkey -in "$d/key.pem" -pubout -out "$d/key.pub"
mkdir -m 700 "$d/enf" "$d/wd" "$d/cp"
printf 'tok\n' >"$d/token" && chmod 600 "$d/token"
printf 'cp-secret\n' >"$d/cp-token" && chmod 600 "$d/cp-token"
cat >"$d/policy.json" <<EOF
{"version":1,"conditions":{"p0_alert":{"window":"5s","max_evidence_age":"1m"}}}
EOF
cat >"$d/bots.json" <<EOF
{"version":1,"bots":[{"id":"alpha","readiness":"general_live"},{"id":"beta","readiness":"general_live"}]}
EOF
cat >"$d/enf.json" <<EOF
{"version":1,"socket":"$d/enf.sock","allowed_peers":{"uids":[$(id -u)]},"state_dir":"$d/enf",
 "origin":"$origin","key":{"file":"$d/key.pem"},"key_name":"it-key",
 "policy_file":"$d/policy.json","checkpoint_interval":"1h","watchdog_silence":"1h"}
EOF
cat >"$d/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$port}],"auth":{"bearer_token_file":"$d/token"},
 "policy_file":"$d/policy.json","state_dir":"$d/wd","bots":{"file":"$d/bots.json"},
 "enforcer":{"socket":"$d/enf.sock"},
 "control_plane":{"url":"http://127.0.0.1:$cp_port/records?tenant=it","auth":{"bearer_token_file":"$d/cp-token"},
                  "log_dir":"$d/enf"}}
EOF

fire() { # fire BOT FINGERPRINT: a P0 alert that started 10 s ago (its 5 s window is already complete)
    started=$(date -u -d '-10 seconds' +%Y-%m-%dT%H:%M:%SZ)
    curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok' -H 'Content-Type: application/json' \
        --data '{"receiver":"r","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0","bot":"'"$1"'","severity":"P0"},"annotations":{},"startsAt":"'"$started"'","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"'"$2"'"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"x","version":"4","groupKey":"{}","truncatedAlerts":0}' \
        "$WD/webhook/alertmanager"
}
log=$d/enf/commands.log
# The seq of BOT's demote record, and how many actuated records name SEQ.
demote_seq() { grep "\"type\":\"demote\".*\"bot\":\"$1\"" "$log" | sed 's/^{"v":1,"seq":\([0-9]*\),.*/\1/'; }
actuated_for() { grep -c "\"type\":\"actuated\",.*\"for_seq\":$1," "$log"; }
actuated_is() { test "$(actuated_for "$1")" = "$2"; }
# Pushes of SEQ the stand-in saw, by answer ("500", "200", or "" for all).
pushes_of() { python3 - "$d/cp/requests.jsonl" "$1" "$2" <<'PY'
import json, sys
path, seq, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = 0
for line in open(path):
    r = json.loads(line)
    if r["seq"] == seq and (not status or str(r["status"]) == status):
        n += 1
print(n)
PY
}
metric() { curl -fsS "$WD/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
status_field() { it_json "$WD/api/v1/status" "$1"; }
wd_scanned_all() { test "$(status_field 'd["control_plane"]["log_present"] and d["control_plane"]["pending"] == 0')" = True; }

it_bg controlplane python3 tests/integration/controlplane.py --port "$cp_port" --pubkey "$d/key.pub" \
    --key-name it-key --origin "$origin" --dir "$d/cp" --fail-first 2 --bearer-token-file "$d/cp-token"
it_check "control plane stand-in listening" it_wait_for 10 grep -q listening "$d/controlplane.log"
it_bg enforcer "$IT_BUILD/ratchet-enforcer" --config "$d/enf.json"
it_check "enforcer listening" it_wait_for 10 test -S "$d/enf.sock"
it_bg watchdog "$IT_BUILD/ratchet-watchdog" --config "$d/wd.json"
wd_pid=$IT_LAST_PID
it_check "watchdog up" it_wait_for 10 it_http_ok "$WD/healthz"

# 1. A demotion is pushed, retried through two 500s, and marked actuated once.
it_check "webhook for alpha accepted" test "$(fire alpha 0000000000000001)" = 200
it_check "alpha's demote record is in the log" it_wait_for 20 sh -c "grep -q '\"bot\":\"alpha\"' '$log'"
a=$(demote_seq alpha)
it_check "an actuated record for alpha's record $a appears" it_wait_for 30 actuated_is "$a" 1
it_check "the stand-in answered 500 twice" test "$(pushes_of "$a" 500)" = 2
it_check "... one 200" test "$(pushes_of "$a" 200)" = 1
it_check "... and it accepted exactly that line" sh -c "grep -F -x -q \"\$(sed -n '$((a + 1))p' '$log')\" '$d/cp/accepted.log'"
it_check "the actuated record names the target without its query" \
    grep -q "\"for_seq\":$a,\"target\":\"http://127.0.0.1:$cp_port/records\",\"http_status\":200" "$log"
it_check "metrics count the pushes by outcome" \
    sh -c "test \"\$(curl -fsS '$WD/metrics' | grep -c '^ratchet_control_plane_pushes_total{outcome=\"http_error\"} 2\$\|^ratchet_control_plane_pushes_total{outcome=\"ok\"} 1\$')\" = 2"
it_check "status shows nothing pending" it_wait_for 10 wd_scanned_all
it_check "exactly one actuated record per demote record" \
    test "$(grep -c '"type":"actuated"' "$log")" = "$(grep -c '"type":"demote"' "$log")"
it_check "ratchetctl log verify accepts the log" "$IT_BUILD/ratchetctl" log verify --log "$log" --pubkey "$d/key.pub"

# 2. A restarted watchdog pushes a new demotion, but not the acknowledged one.
kill "$wd_pid"
it_check "watchdog stopped" it_wait_for 10 sh -c "! kill -0 $wd_pid"
it_bg watchdog2 "$IT_BUILD/ratchet-watchdog" --config "$d/wd.json"
it_check "watchdog up again" it_wait_for 10 it_http_ok "$WD/healthz"
it_check "it read the log and found nothing open" it_wait_for 10 wd_scanned_all
it_check "webhook for beta accepted" test "$(fire beta 0000000000000002)" = 200
it_check "beta's demote record is in the log" it_wait_for 20 sh -c "grep -q '\"bot\":\"beta\"' '$log'"
b=$(demote_seq beta)
it_check "beta's record $b is pushed and marked actuated" it_wait_for 30 actuated_is "$b" 1
it_check "alpha's record was not pushed again" test "$(pushes_of "$a" "")" = 3
it_check "still one actuated record for alpha's" actuated_is "$a" 1
it_check "ratchetctl log verify still accepts the log" "$IT_BUILD/ratchetctl" log verify --log "$log" --pubkey "$d/key.pub"

# 3. The enforcer checks ACTUATED against its log.
lines=$(wc -l <"$log")
actuate_raw() { # actuate_raw FOR_SEQ: HELLO, then ACTUATED; prints the answer
    python3 - "$d/enf.sock" "$1" <<'PY'
import socket, struct, sys
def frame(t, payload):
    return b"RTC1" + bytes([t, 0, 0, 0]) + struct.pack("<I", len(payload)) + payload
def recv_frame(s):
    head = b""
    while len(head) < 12:
        chunk = s.recv(12 - len(head))
        if not chunk:
            return None, None
        head += chunk
    n = struct.unpack("<I", head[8:12])[0]
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None, None
        body += chunk
    return head[4], body
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
peer = b"it-actuate"
s.sendall(frame(1, struct.pack("<H", 1) + struct.pack("<H", len(peer)) + peer))
t, _ = recv_frame(s)
assert t == 2, t
target = b"http://cp.invalid/records"
s.sendall(frame(10, struct.pack("<QH", int(sys.argv[2]), 200) + struct.pack("<H", len(target)) + target))
t, body = recv_frame(s)
if t is None:
    print("closed")
else:
    for_seq, status, seq = struct.unpack("<QBQ", body)
    print("ack", for_seq, status, seq)
PY
}
actuate_raw 0 >"$d/act0.out" 2>&1
it_check "ACTUATED for the genesis record: closed without an answer" grep -qx closed "$d/act0.out"
actuate_raw "$lines" >"$d/act-next.out" 2>&1
it_check "ACTUATED for a record not yet written: closed" grep -qx closed "$d/act-next.out"
act_a=$(grep "\"type\":\"actuated\",.*\"for_seq\":$a," "$log" | sed 's/^{"v":1,"seq":\([0-9]*\),.*/\1/')
actuate_raw "$act_a" >"$d/act-act.out" 2>&1
it_check "ACTUATED for an actuated record: closed" grep -qx closed "$d/act-act.out"
it_check "... counted as invalid requests by the enforcer" it_wait_for 5 sh -c "test \$(grep -c 'invalid_request' '$d/enforcer.log') -ge 3"
actuate_raw "$a" >"$d/act-dup.out" 2>&1
it_check "ACTUATED repeated for alpha's record: a duplicate ACK naming the first record" \
    grep -qx "ack $a 2 $act_a" "$d/act-dup.out"
it_check "nothing was written" test "$(wc -l <"$log")" = "$lines"
it_check "ratchetctl log verify accepts the final log" "$IT_BUILD/ratchetctl" log verify --log "$log" --pubkey "$d/key.pub"
it_finish
