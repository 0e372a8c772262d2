# Helpers shared by chaos/3-source-faults.sh and chaos/4-delivery-faults.sh
# (POSIX sh; sourced after tests/integration/lib.sh and lib_peers.sh).
# Each function waits for an observable condition; none sleeps blindly.

. chaos/lib.sh

# cf_seed: CHAOS_SEED if given, else a fresh one; printed so that a failed
# run can be repeated with CHAOS_SEED=N.
cf_seed() {
    CF_SEED=${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    echo "seed: $CF_SEED (repeat with CHAOS_SEED=$CF_SEED)"
}

# cf_cleanup: the enforcer sets the append-only attribute on its files
# when it can; drop it so that it_cleanup can remove the directory.
cf_cleanup() {
    chattr -a "$IT_DIR"/enf/* 2>/dev/null
    it_cleanup
}

# cf_start_enforcer: start it and wait for its socket. Sets ENF_PID.
# shellcheck disable=SC2034 # ENF_PID, AM_PID and PROM_PID are for the callers
cf_start_enforcer() {
    it_bg enforcer "$IT_BUILD/ratchet-enforcer" --config "$IT_DIR/enf.json"
    ENF_PID=$IT_LAST_PID
    it_wait_for 20 test -S "$IT_DIR/enf.sock"
}

# demotes BOT: how many demote records for BOT the signed log holds.
demotes() { grep -c "\"type\":\"demote\".*\"bot\":\"$1\"" "$IT_DIR/enf/commands.log" 2>/dev/null; }
demotes_are() { test "$(demotes "$1")" = "$2"; }
# demoted_bots: the bots with a demote record, sorted, one line.
demoted_bots() {
    grep '"type":"demote"' "$IT_DIR/enf/commands.log" 2>/dev/null |
        sed 's/.*"bot":"\([^"]*\)".*/\1/' | sort | tr '\n' ' ' | sed 's/ $//'
}

# cf_start_am NAME CONFIG DATA_DIR PORT [ARGS...]: a real Alertmanager;
# waits until ready. Sets AM_PID.
# shellcheck disable=SC2034
cf_start_am() {
    am_n=$1 am_c=$2 am_d=$3 am_p=$4
    shift 4
    it_bg "$am_n" prometheus-alertmanager --config.file="$am_c" --storage.path="$am_d" \
        --web.listen-address="127.0.0.1:$am_p" --log.level=warn "$@"
    AM_PID=$IT_LAST_PID
    it_wait_for 30 it_http_ok "http://127.0.0.1:$am_p/-/ready"
}

# cf_start_prom NAME CONFIG DATA_DIR PORT: a real Prometheus that also
# evaluates rules and re-sends firing alerts every second (a client of
# Alertmanager as in production, with the resend delay cut from 1m).
# Sets PROM_PID.
# shellcheck disable=SC2034
cf_start_prom() {
    it_bg "$1" prometheus --config.file="$2" --storage.tsdb.path="$3" --web.listen-address="127.0.0.1:$4" \
        --rules.alert.resend-delay=1s --log.level=warn
    PROM_PID=$IT_LAST_PID
    it_wait_for 30 it_http_ok "http://127.0.0.1:$4/-/ready"
}

# cf_kill PID: kill -9 and reap.
cf_kill() {
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# proxy URL MODE [SECONDS]: switch a chaos/faultproxy.py to MODE.
proxy() { curl -fsS -o /dev/null --max-time 5 "$1/_chaos/mode/$2?s=${3:-0}"; }
# proxy_served URL MODE: how many requests the proxy answered in MODE.
proxy_served() { it_json "$1/_chaos/stats" "d['served']['$2']"; }
proxy_served_ge() { v=$(proxy_served "$1" "$2") && [ "$v" -ge "$3" ]; }

# hwm PID / rss PID: peak and current resident set size in KiB.
hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

# rec BOT EXPR: EXPR evaluated on BOT's demote record in the signed log (r;
# ts() turns an RFC 3339 time into epoch seconds). Fails without a record.
rec() {
    python3 - "$IT_DIR/enf/commands.log" "$1" "$2" <<'PY'
import json, sys
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, "tests/integration")
from peers import ts
path, bot, expr = sys.argv[1:4]
for line in open(path):
    r = json.loads(line.split("\t", 1)[0])
    if r.get("type") == "demote" and r.get("bot") == bot:
        print(eval(expr, {"__builtins__": {}, "r": r, "ts": ts, "abs": abs}))  # noqa: S307 (test input)
        sys.exit(0)
sys.exit(1)
PY
}
pok_rec() { test "$(rec "$1" "$2")" = True; }
