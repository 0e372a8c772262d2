# Shared helpers for integration tests (POSIX sh; sourced, not run).
# Each test script: . tests/integration/lib.sh; it_setup; ...; it_finish
# Every process a test starts is recorded and killed by it_cleanup (trap).
# Waiting is done by polling an observable condition with a deadline
# (it_wait_for), never by sleeping a fixed time and hoping.

IT_BUILD=${IT_BUILD:-build}
IT_PASS=0
IT_FAIL=0
IT_PIDS=""

it_setup() {
    IT_DIR=$(mktemp -d /tmp/ratchet-it.XXXXXX)
    trap it_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# The parent pid of a process (from /proc/PID/stat, after the command name).
it_ppid() { sed 's/.*) [A-Za-z] \([0-9]*\) .*/\1/' "/proc/$1/stat" 2>/dev/null; }

# Kills only what is still our child: a pid of ours that has been reaped may
# by now belong to another process.
it_cleanup() {
    for pid in $IT_PIDS; do [ "$(it_ppid "$pid")" = "$$" ] && kill -9 "$pid" 2>/dev/null; done
    for pid in $IT_PIDS; do wait "$pid" 2>/dev/null; done
    [ "$IT_FAIL" -gt 0 ] && it_dump_logs
    if [ "${IT_KEEP:-0}" = 1 ]; then echo "kept $IT_DIR"; else rm -rf "$IT_DIR"; fi
}

# On failure, the tail of every process log, so a CI run can be diagnosed.
it_dump_logs() {
    for f in "$IT_DIR"/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $(basename "$f")"
        tail -n 25 "$f" | sed 's/^/    /'
    done
}

# it_bg NAME CMD...: start CMD in the background, logging to $IT_DIR/NAME.log;
# sets IT_LAST_PID.
it_bg() {
    name=$1; shift
    "$@" >"$IT_DIR/$name.log" 2>&1 &
    IT_LAST_PID=$!
    IT_PIDS="$IT_PIDS $IT_LAST_PID"
}

it_ok()   { IT_PASS=$((IT_PASS + 1)); echo "ok   $*"; }
it_bad()  { IT_FAIL=$((IT_FAIL + 1)); echo "FAIL $*"; }
it_check() { # it_check NAME CMD...
    name=$1; shift
    if "$@" >/dev/null 2>&1; then it_ok "$name"; else it_bad "$name"; fi
}

# it_wait_for SECONDS CMD...: re-run CMD (every 100 ms) until it succeeds or
# SECONDS pass. Returns CMD's last status.
it_wait_for() {
    limit=$1; shift
    end=$(( $(date +%s%N) / 1000000 + limit * 1000 ))
    while ! "$@" >/dev/null 2>&1; do
        [ $(( $(date +%s%N) / 1000000 )) -ge "$end" ] && return 1
        sleep 0.1
    done
    return 0
}

# A free TCP port on 127.0.0.1 (the kernel picks one).
it_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

it_http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# it_json URL EXPR: print the Python expression EXPR evaluated on the JSON at URL (as d).
it_json() {
    curl -fsS --max-time 5 "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

it_finish() {
    echo "$(basename "$0" .sh): $IT_PASS passed, $IT_FAIL failed"
    [ "$IT_FAIL" -eq 0 ]
}
