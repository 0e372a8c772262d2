# Helpers for the benchmark sections (POSIX sh; sourced by bench/run.sh after
# tests/integration/lib.sh, whose it_setup/it_bg/it_port/it_wait_for start,
# track and clean up the processes).

# bench_quick: true under BENCH_QUICK=1 (short durations, for development).
bench_quick() { [ "${BENCH_QUICK:-0}" = 1 ]; }
# bench_dur FULL QUICK: the duration (or count) for this run.
bench_dur() { if bench_quick; then echo "$2"; else echo "$1"; fi; }

# bench_row METRIC RATCHET ANCHOR TARGET VERDICT: one line of the final
# table. VERDICT is met, missed, or "-" for a figure without a target.
bench_row() {
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$BENCH_RESULTS"
    echo "  => $1: $2 | anchor: $3 | target: $4 | $5"
}
# bench_verdict EXPR: "met" if the awk expression is true, else "missed".
bench_verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo missed; fi; }
# bench_calc EXPR [FORMAT]: the awk expression, printed with FORMAT (%.2f).
bench_calc() { awk "BEGIN { printf \"${2:-%.2f}\", ($1) }"; }

# bench_kv LINE KEY: the value of KEY=value in a line a bench tool printed.
bench_kv() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }

# bench_stop PID...: SIGTERM, then wait (up to 10 s) for each to exit, then
# SIGKILL. Sections stop what they started so the next one has the CPUs.
bench_stop() {
    for bs_pid in "$@"; do kill -TERM "$bs_pid" 2>/dev/null; done
    for bs_pid in "$@"; do
        it_wait_for 10 sh -c "! kill -0 $bs_pid 2>/dev/null" || kill -9 "$bs_pid" 2>/dev/null
        wait "$bs_pid" 2>/dev/null
    done
    return 0
}

# bench_metric URL SERIES: one series of a Prometheus text page, or "".
bench_metric() {
    curl -fsS --max-time 30 "$1" 2>/dev/null | awk -v s="$2" '$1 == s { print $2; exit }'
}

# bench_ms_since NS: milliseconds from the wall clock NS (date +%s%N) to now.
bench_now_ns() { date +%s%N; }

# bench_status_kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in kB.
bench_status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# bench_token DIR: writes DIR/token (mode 0600) and prints the token.
bench_token() {
    echo "bench-token-$$" >"$1/token"
    chmod 600 "$1/token"
    echo "bench-token-$$"
}
