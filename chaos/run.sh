#!/bin/sh
# Runs every chaos scenario (chaos/N-*.sh) and prints one closing line.
# Usage: chaos/run.sh [BUILD]   (make chaos)
set -u
build=${1:-build}
pass=0 fail=0 failed=""
for s in chaos/[0-9]*.sh; do
    echo "=== $s"
    out=$(sh "$s" "$build" 2>&1)
    status=$?
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=$(printf '%s' "$last" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/')
    f=$(printf '%s' "$last" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/')
    [ -n "$last" ] || { p=0 f=1; }
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    pass=$((pass + p)) fail=$((fail + f))
    [ "$f" -gt 0 ] && failed="$failed $s"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "chaos: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
