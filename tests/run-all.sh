#!/bin/sh
# Runs every test suite and prints one closing "N passed, N failed" line.
# Usage: tests/run-all.sh BUILD_DIR   (called by `make test`)
# Each suite prints its own "N passed, N failed" as its last such line; a
# suite that dies before printing one counts as one failure.
set -u
build=${1:-build}
total_pass=0 total_fail=0
failed_suites=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_suite() {
    name=$1; shift
    start=$(date +%s)
    echo "=== $name"
    "$@" >"$log" 2>&1
    status=$?
    cat "$log"
    counts=$(grep -E '^([A-Za-z0-9_.-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 |
             sed -E 's/^[A-Za-z0-9_.-]+: //; s/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
    if [ -z "$counts" ]; then
        counts="0 1"
        echo "$name: died without a summary (exit $status)"
    fi
    p=${counts% *}; f=${counts#* }
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "$name: exit status $status"
    fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$f" -gt 0 ] && failed_suites="$failed_suites $name"
    echo "--- $name: $p passed, $f failed ($(( $(date +%s) - start ))s)"
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
done
for t in "$build"/asan/tests/test_*; do
    [ -x "$t" ] && run_suite "asan/$(basename "$t")" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$t"
done
run_suite lint-reasons sh tests/lint-reasons.sh "$build"
for s in tests/cli/*.sh tests/replay/run.sh tests/cmdlog/t_recipe.sh; do
    [ -f "$s" ] && run_suite "$s" sh "$s" "$build"
done

for s in tests/systemd/t_*.sh; do
    [ -f "$s" ] && run_suite "$s" sh "$s" "$build"
done
# A short fuzzing pass (corpora, regressions, then ~10 s per harness; make
# fuzz runs longer), run alone like every other suite.
[ -f fuzz/run.sh ] && run_suite fuzz sh fuzz/run.sh "$build" "${RATCHET_FUZZ_SECONDS:-10}"

# Timing-sensitive suites run alone.
for s in tests/integration/t_*.sh chaos/[0-9]*.sh; do
    [ -f "$s" ] && run_suite "$s" sh "$s" "$build"
done

echo
[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
