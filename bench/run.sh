#!/bin/sh
# make bench: ratchet measured against anchors taken in the same run on the
# same machine, printed as one table at the end (docs/performance.md says
# how each figure is measured). Benchmarks never fail for being slow: the
# exit status is 0 unless something is broken (a tool missing, a daemon that
# does not start, a figure that could not be measured).
#
#   sh bench/run.sh [BUILD]          (BUILD defaults to build; make bench builds it)
#   BENCH_QUICK=1                    short durations, for development
#   BENCH_ONLY="ingest decision"     some sections only, in that order
#   IT_KEEP=1                        keep the temporary directory
# Sections: ingest (webhooks vs nginx), verify (log verification vs openssl),
# scale (100,000 bots), decision (decision latency), appends (signed appends
# vs the fdatasync floor).
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. bench/lib.sh

for tool in wrk /usr/sbin/nginx openssl curl python3; do
    command -v "$tool" >/dev/null || { echo "make bench: $tool is missing (apt-get install wrk nginx-light openssl curl python3)"; exit 1; }
done
for bin in ratchet-watchdog ratchet-enforcer ratchetctl bench/pace bench/gen_log bench/append_bench bench/fsync_floor; do
    [ -x "$IT_BUILD/$bin" ] || { echo "make bench: $IT_BUILD/$bin is not built (run make bench)"; exit 1; }
done

it_setup
# the enforcer makes its log append-only (chattr +a): undo that so the
# temporary directory (and the scale inputs, on a tmpfs) can be removed
BENCH_SHM=
trap 'chattr -a "$IT_DIR"/decision/enf/* 2>/dev/null; [ -n "$BENCH_SHM" ] && rm -rf "$BENCH_SHM"; it_cleanup' EXIT
BENCH_RESULTS=$IT_DIR/results.tsv
: >"$BENCH_RESULTS"
BENCH_BROKEN=0
bench_broken() { BENCH_BROKEN=1; echo "  BROKEN: $*"; }

echo "== machine"
echo "  cpu:    $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs online"
echo "  memory: $(free -m | awk '/^Mem:/ { print $2 " MiB" }')"
echo "  kernel: $(uname -sr)"
echo "  disk:   $(df -T "$IT_DIR" | awk 'NR == 2 { print $2 " on " $1 }') (the bench directory $IT_DIR)"
echo "  load:   $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
bench_quick && echo "  BENCH_QUICK=1: short durations; the figures are indicative only"

BENCH_T0=$(date +%s)
for section in ${BENCH_ONLY:-ingest verify scale decision appends}; do
    [ -f "bench/$section.sh" ] || { echo "make bench: no section \"$section\""; exit 1; }
    echo "== $section"
    # shellcheck source=/dev/null
    . "bench/$section.sh"
    "bench_$section" || bench_broken "section $section failed"
done

echo
echo "== results ($(($(date +%s) - BENCH_T0)) s; load at end $(cut -d' ' -f1-3 /proc/loadavg))"
awk -F'\t' '
    { for (i = 1; i <= 5; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
    END {
        split("metric|ratchet|anchor (same run)|target|verdict", h, "|")
        for (i = 1; i <= 5; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
        fmt = "%-" w[1] "s | %-" w[2] "s | %-" w[3] "s | %-" w[4] "s | %s\n"
        printf fmt, h[1], h[2], h[3], h[4], h[5]
        sep = ""; for (i = 1; i <= 5; i++) { s = ""; for (j = 0; j < w[i]; j++) s = s "-"; sep = sep s (i < 5 ? "-|-" : "") }
        print sep
        for (r = 1; r <= NR; r++) printf fmt, c[r, 1], c[r, 2], c[r, 3], c[r, 4], c[r, 5]
    }' "$BENCH_RESULTS"
if [ "$BENCH_BROKEN" -ne 0 ]; then
    echo "make bench: some figures could not be measured (see BROKEN above)"
    # shellcheck disable=SC2034 # it_cleanup prints the processes' logs
    IT_FAIL=1
    exit 1
fi
exit 0
