# Section "scale" (sourced by bench/run.sh): 100,000 bots x 4 conditions in
# one watchdog. bench/scale_sources.py generates the registry (bots.json) and
# one native scanner report per bot (cvss dir), and serves, with the current
# time in every sample: two vectors of 100,000 series (Prometheus
# /api/v1/query), the error ratio and the drift (the watchdog's
# prometheus_query form of the drift source, with the tolerance in the
# policy), and the active P0 alerts (Alertmanager /api/v2/alerts, one bot in
# 100). Prometheus, drift and Alertmanager are polled every 3 s; the scanner
# reports are read at start-up (interval 1h).
# Measured:
#  - VmRSS after the cycles, the largest VmRSS sampled every 0.5 s, VmHWM;
#  - ratchet_source_apply_seconds{source="prometheus"}: the time the daemon
#    took to parse and apply one 100,000-series vector, commit included,
#    read after each cycle (bench/scale_watch.py); the median of the cycles
#    after the first (which opens every window at once);
#  - restart with full state: SIGTERM, then exec with NOTIFY_SOCKET to
#    READY=1 (bench/notify_listen.py), several times;
#  - the state directory after the cycles: the evidence log (rotated at
#    max_bytes 16 MiB, keep 2), the window store (compacted).

# bench_scale_start NAME: starts the watchdog (SC_WD); SC_READY_MS is the time
# from exec to READY=1, or "" if it never came. Not in $(...): it_bg must run
# in this shell to record the process.
bench_scale_start() {
    SC_READY_MS=
    lines=$(grep -c READY=1 "$SC/notify.log" 2>/dev/null)
    t0=$(date +%s%N)
    NOTIFY_SOCKET=$SC/notify.sock
    export NOTIFY_SOCKET
    it_bg "$1" "$IT_BUILD/ratchet-watchdog" --config "$SC/wd.json"
    unset NOTIFY_SOCKET
    SC_WD=$IT_LAST_PID
    it_wait_for 60 sh -c "[ \$(grep -c READY=1 '$SC/notify.log') -gt $lines ]" || return 0
    t1=$(grep READY=1 "$SC/notify.log" | tail -1 | cut -d' ' -f1)
    SC_READY_MS=$(bench_calc "($t1 - $t0) / 1e6" "%.0f")
}

bench_scale() {
    SC=$IT_DIR/scale
    n=100000
    mkdir -p "$SC"
    # The inputs (the registry and 100,000 report files) go to a tmpfs when
    # there is one: only the state directory is measured on the bench disk,
    # and 100,000 files are slow to create and delete on a busy disk.
    if SC_IN=$(mktemp -d /dev/shm/ratchet-bench.XXXXXX 2>/dev/null); then
        # shellcheck disable=SC2034 # removed at exit by run.sh
        BENCH_SHM=$SC_IN
    else
        SC_IN=$SC/inputs
        mkdir -p "$SC_IN"
    fi
    t=$(date +%s%N)
    python3 bench/scale_sources.py gen "$SC_IN" "$n" || return 1
    echo "  generated the registry and $n scanner reports in $(bench_calc "($(date +%s%N) - $t) / 1e9") s"
    sp=$(it_port) wp=$(it_port)
    SC_MET=http://127.0.0.1:$wp/metrics
    it_bg scale-sources python3 bench/scale_sources.py serve "$sp" "$n"
    src_pid=$IT_LAST_PID
    it_bg notify python3 bench/notify_listen.py "$SC/notify.sock"
    ntf_pid=$IT_LAST_PID
    it_wait_for 30 grep -q listening "$IT_DIR/notify.log" || return 1
    ln -sf "$IT_DIR/notify.log" "$SC/notify.log"
    it_wait_for 60 curl -fsS -o /dev/null "http://127.0.0.1:$sp/api/v1/status/runtimeinfo" || return 1
    echo '{"version":1,"conditions":{"recon_drift":{"tolerance":250}}}' >"$SC/policy.json"
    cat >"$SC/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$wp}],"auth":"none","policy_file":"$SC/policy.json",
 "state_dir":"$SC/state","evidence_log":{"max_bytes":16777216,"keep":2},
 "bots":{"file":"$SC_IN/bots.json"},"enforcer":{"socket":"$SC/no-enforcer.sock"},
 "alertmanager":{"url":"http://127.0.0.1:$sp","poll_interval":"3s"},
 "prometheus":{"url":"http://127.0.0.1:$sp","interval":"3s",
   "error_rate_query":"sum by (bot) (rate(orders_failed_total[5m])) / sum by (bot) (rate(orders_total[5m]))"},
 "drift":{"prometheus_query":"sum by (bot) (recon_drift_usd)","interval":"3s"},
 "cvss":{"dir":"$SC_IN/cvss","interval":"1h"},
 "http_client":{"timeout":"30s"}}
EOF
    bench_scale_start watchdog-scale
    [ -n "$SC_READY_MS" ] || return 1
    echo "  first start (empty state, $n bots): READY=1 after $SC_READY_MS ms"
    it_bg rss sh -c "while kill -0 $SC_WD 2>/dev/null; do awk '\$1 == \"VmRSS:\" { print \$2 }' /proc/$SC_WD/status; sleep 0.5; done"
    rss_pid=$IT_LAST_PID
    cycles=$(bench_dur 8 3)
    t=$(date +%s)
    # the first poll after the start is skipped: it opens 100,000 x 4 windows at once
    python3 bench/scale_watch.py "http://127.0.0.1:$wp" bot-000000 $((cycles + 1)) $((60 + cycles * 30)) \
        >"$SC/cycles" || { cat "$SC/cycles"; return 1; }
    sed 1d "$SC/cycles" >"$SC/cycles.steady"
    echo "  $cycles poll cycles in $(($(date +%s) - t)) s; ratchet_source_apply_seconds per cycle (s):" \
        "$(awk '{ sub("prometheus=", "", $3); printf "%s ", $3 }' "$SC/cycles.steady")"
    apply=$(awk '{ sub("prometheus=", "", $3); print $3 * 1000 }' "$SC/cycles.steady" | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    apply_min=$(awk '{ sub("prometheus=", "", $3); print $3 * 1000 }' "$SC/cycles.steady" | sort -n | head -1)
    metrics=$(curl -fsS --max-time 30 "$SC_MET")
    for src in drift registry; do
        echo "  ratchet_source_apply_seconds{source=\"$src\"}: $(printf '%s\n' "$metrics" |
            awk -v s="ratchet_source_apply_seconds{source=\"$src\"}" '$1 == s { print $2 }') s"
    done
    echo "  sources up: $(printf '%s\n' "$metrics" | awk '/^ratchet_source_up/ { printf "%s ", $0 }')"
    rss=$(bench_status_kb "$SC_WD" VmRSS) hwm=$(bench_status_kb "$SC_WD" VmHWM)
    max_rss=$(sort -n "$IT_DIR/rss.log" | tail -1)
    echo "  VmRSS $rss kB now, at most $max_rss kB sampled; VmHWM $hwm kB"
    bench_row "scale: resident memory, $n bots x 4 conditions" \
        "VmRSS $((rss / 1024)) MiB (max sampled $((max_rss / 1024)), VmHWM $((hwm / 1024)))" "-" "<= 64 MiB" \
        "$(bench_verdict "$hwm <= 65536") (VmHWM)"
    bench_row "scale: parse+apply one 100k-series vector (median of $cycles)" \
        "$(bench_calc "$apply" "%.0f") ms (best $(bench_calc "$apply_min" "%.0f"))" "-" "<= 150 ms" \
        "$(bench_verdict "$apply <= 150")"

    echo "  state directory after the cycles:"
    for f in "$SC/state"/*; do
        [ -s "$f" ] && printf '    %-22s %10d\n' "$(basename "$f")" "$(stat -c %s "$f")"
    done
    ev=$(du -cb "$SC/state"/evidence.jsonl* | tail -1 | cut -f1)
    ws=$(du -cb "$SC/state"/windows.* | tail -1 | cut -f1)
    snap=$(stat -c %s "$SC/state/windows.snap")
    comp=$(printf '%s\n' "$metrics" | awk '$1 == "ratchet_state_store_compactions_total" { print $2 }')
    evmax=$((16777216 * 3))
    bench_row "scale: evidence log on disk after $cycles cycles" "$((ev / 1048576)) MiB" "-" \
        "<= $((evmax / 1048576)) MiB (16 MiB x 3 files)" "$(bench_verdict "$ev <= $evmax")"
    # compaction runs when the journal passes max(1 MiB, snapshot): the store is at most ~2 snapshots
    bench_row "scale: window store on disk ($comp compactions)" "$((ws / 1048576)) MiB" "snapshot $((snap / 1048576)) MiB" \
        "<= 2x snapshot + 1 MiB" "$(bench_verdict "$ws <= 2 * $snap + 1048576")"

    restarts=$(bench_dur 3 1)
    i=0
    : >"$SC/restarts"
    while [ "$i" -lt "$restarts" ]; do
        i=$((i + 1))
        bench_stop "$SC_WD"
        bench_scale_start "watchdog-scale-$i"
        ms=$SC_READY_MS
        [ -n "$ms" ] || return 1
        echo "$ms" >>"$SC/restarts"
        echo "  restart $i: READY=1 after $ms ms"
        it_wait_for 30 it_http_ok "http://127.0.0.1:$wp/healthz" || return 1
    done
    med=$(sort -n "$SC/restarts" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    worst=$(sort -n "$SC/restarts" | tail -1)
    bench_row "scale: restart with full state to READY=1 (median of $restarts)" "$med ms (worst $worst)" "-" "<= 1000 ms" \
        "$(bench_verdict "$med <= 1000")"
    bench_stop "$SC_WD" "$rss_pid" "$src_pid" "$ntf_pid"
    rm -rf "$SC_IN"
}
