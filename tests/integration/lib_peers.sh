# Helpers for the integration tests against real peers (POSIX sh; sourced
# after lib.sh). Status queries and the demotion watcher are in peers.py.

PEERS_PY="python3 tests/integration/peers.py"

# peers_setup: it_setup, and on INT/TERM exit at once (the EXIT trap cleans
# up) instead of running on after it_cleanup with the peers gone.
peers_setup() {
    it_setup
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# pq URL EXPR: print EXPR on the JSON at URL (see peers.py for the helpers).
pq() { $PEERS_PY q "$1" "$2"; }
# pok URL EXPR: succeeds if EXPR is true (for it_wait_for and it_check).
pok() { $PEERS_PY ok "$1" "$2"; }
# pts RFC3339: epoch seconds.
pts() { $PEERS_PY ts "$1"; }

# fok EXPR: succeeds if the awk expression (numbers) is true.
fok() { awk "BEGIN { exit !($1) }"; }

# feq A B: equal to the microsecond (times printed by different tools).
feq() { fok "($1) - ($2) < 0.00001 && ($2) - ($1) < 0.00001"; }

now_s() { date +%s.%6N; }
# rfc3339 EPOCH: UTC RFC 3339 with microseconds.
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.%6NZ; }

# metric URL SERIES: the value of one exact series (name{labels} as printed).
metric() {
    curl -fsS --max-time 5 "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { exit !found }'
}
# metric_is URL SERIES VALUE: the series has exactly VALUE (numerically).
metric_is() {
    v=$(metric "$1" "$2") || return 1
    fok "$v == $3"
}

# watch_field FILE BOT KEY: one field of a line that `peers.py watch` printed.
watch_field() {
    awk -v b="bot=$2" -v k="$3=" '$1 == b { for (i = 2; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$1"
}

# wait_until EPOCH: wait (up to 120 s) until the wall clock passes EPOCH.
# Used to check that nothing happens by a given time, not to synchronise.
past() { fok "$(now_s) >= $1"; }
wait_until() { it_wait_for 120 past "$1"; }

# check_demotion NAME WATCHFILE BOT COND WINDOW SLACK: the checks every
# completed window must pass: demoted with a pending demotion for COND,
# readiness_since equal to decided_at, decided_at no earlier than
# window_start + WINDOW and at most SLACK seconds after it, status sampled
# before that time showing the bot still in General live.
# (lib.sh's helpers keep their state in global variables, hence the cd_ prefix.)
check_demotion() {
    cd_n=$1 cd_f=$2 cd_b=$3 cd_c=$4 cd_w=$5 cd_slack=$6
    cd_dec=$(watch_field "$cd_f" "$cd_b" decided) cd_ws=$(watch_field "$cd_f" "$cd_b" ws)
    cd_since=$(watch_field "$cd_f" "$cd_b" since) cd_early=$(watch_field "$cd_f" "$cd_b" early)
    cd_before=$(watch_field "$cd_f" "$cd_b" before) cd_cond=$(watch_field "$cd_f" "$cd_b" cond)
    if [ "$cd_dec" = none ] || [ "$cd_ws" = none ] || [ -z "$cd_dec" ]; then
        it_bad "$cd_n: $cd_b demoted (pending demotion, Limited live): $(grep "^bot=$cd_b " "$cd_f")"
        return 1
    fi
    echo "     $cd_b: window_start=$cd_ws decided_at=$cd_dec (+$(awk "BEGIN { printf \"%.3f\", $cd_dec - $cd_ws }") s)," \
        "status samples before D: $cd_before, early: $cd_early"
    it_ok "$cd_n: $cd_b demoted (pending demotion, Limited live)"
    it_check "$cd_n: $cd_b pending demotion names $cd_c" test "$cd_cond" = "$cd_c"
    it_check "$cd_n: $cd_b readiness_since equals decided_at" fok "$cd_since - $cd_dec < 0.0005 && $cd_dec - $cd_since < 0.0005"
    it_check "$cd_n: $cd_b decided_at >= window_start + $cd_w s (never early)" fok "$cd_dec - $cd_ws >= $cd_w - 0.0005"
    it_check "$cd_n: $cd_b decided_at <= window_start + $cd_w s + $cd_slack s" fok "$cd_dec - $cd_ws <= $cd_w + $cd_slack"
    it_check "$cd_n: $cd_b status sampled before D showed General live ($cd_before samples)" fok "$cd_before > 0 && $cd_early == 0"
}

# Do not call these under it_check: it_bg and it_check share the global
# variable "name".
# start_watchdog NAME CONFIG PORT: start the watchdog and wait for /healthz.
# shellcheck disable=SC2034 # WD_PID and PROM_PID are for the callers
start_watchdog() {
    it_bg "$1" "$IT_BUILD/ratchet-watchdog" --config "$2"
    WD_PID=$IT_LAST_PID
    it_wait_for 15 it_http_ok "http://127.0.0.1:$3/healthz"
}

# start_prometheus NAME CONFIG DATA_DIR PORT: start Prometheus and wait until ready.
# shellcheck disable=SC2034
start_prometheus() {
    it_bg "$1" prometheus --config.file="$2" --storage.tsdb.path="$3" \
        --web.listen-address="127.0.0.1:$4" --log.level=warn
    PROM_PID=$IT_LAST_PID
    it_wait_for 30 it_http_ok "http://127.0.0.1:$4/-/ready"
}

# start_static NAME DIR PORT: a static file server (python3 -m http.server).
start_static() {
    it_bg "$1" python3 -m http.server --bind 127.0.0.1 --directory "$2" "$3"
    it_wait_for 15 curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$3/"
}

# write_atomic FILE: copy stdin to FILE by rename, so readers never see half.
write_atomic() { cat >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"; }
