#!/bin/sh
# Runs the libFuzzer harnesses built in BUILD/fuzz/ (make fuzz-build).
#   sh fuzz/run.sh BUILD SECONDS [run|regress]
# run (default): for each harness, first replay fuzz/regressions/<name>/ (any
#   crash, leak or violated invariant fails the harness), then fuzz for
#   SECONDS with the seeds of fuzz/corpus/<name>/ (read only) and the work
#   corpus BUILD/fuzz/work/<name>/corpus (where new units go).
# regress: replay the seed, work and regression inputs only.
# Two harnesses run at a time (FUZZ_JOBS). Per harness it prints the runs
# (executed units), exec/s, corpus size and peak RSS from libFuzzer's
# -print_final_stats, and at the end "fuzz: N passed, M failed". Crash
# inputs are kept in BUILD/fuzz/work/<name>/artifacts/.
set -u
build=${1:-build}
secs=${2:-60}
mode=${3:-run}
jobs=${FUZZ_JOBS:-2}
work=$build/fuzz/work
mkdir -p "$work"
rm -f "$work"/*.result
# The state-store harness keeps its files under TMPDIR: keep them in BUILD.
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

# Largest input per harness (bytes): a little above what the parser accepts
# or what exercises it, so time goes into inputs that matter.
max_len() {
    case $1 in
        cvss) echo 600 ;;
        codecs) echo 256 ;;
        am_matchers) echo 2200 ;;
        proto) echo 8400 ;;
        checkpoint) echo 8400 ;;
        evidence) echo 4200 ;;
        log_verify | statestore) echo 4096 ;;
        log_record) echo 16500 ;;
        *) echo 16384 ;;
    esac
}

# Seconds one input may take. The matchers' regexes get 2 s: glibc's regcomp
# can be made slow, and anything near that is already a finding.
unit_timeout() {
    case $1 in
        am_matchers) echo 2 ;;
        *) echo 10 ;;
    esac
}

# Prints "<ok|FAIL> name: details" into $work/<name>.result.
run_one() {
    name=$1
    bin=$build/fuzz/fuzz_$name
    dir=$work/$name
    log=$dir/log
    res=$work/$name.result
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin not built (make fuzz-build)" >"$res"
        return
    fi
    seeds=fuzz/corpus/$name
    regs=fuzz/regressions/$name
    opts="-rss_limit_mb=2048 -timeout=$(unit_timeout "$name") -max_len=$(max_len "$name") -print_final_stats=1 -artifact_prefix=$dir/artifacts/"
    [ -f "fuzz/dict/$name.dict" ] && opts="$opts -dict=fuzz/dict/$name.dict"
    nreg=0
    if [ -d "$regs" ] && [ -n "$(ls -A "$regs" 2>/dev/null)" ]; then
        nreg=$(find "$regs" -type f | wc -l)
        # shellcheck disable=SC2086
        if ! "$bin" $opts "$regs"/* >"$dir/regress.log" 2>&1; then
            echo "FAIL $name: a regression input fails again ($dir/regress.log)" >"$res"
            grep -m3 -E 'ERROR|invariant|runtime error' "$dir/regress.log" | sed 's/^/    /' >>"$res"
            return
        fi
    fi
    dirs="$dir/corpus"
    [ -d "$seeds" ] && dirs="$dirs $seeds"
    [ "$nreg" -gt 0 ] && dirs="$dirs $regs"
    if [ "$mode" = regress ]; then
        # shellcheck disable=SC2086
        "$bin" $opts -runs=0 $dirs >"$log" 2>&1
    else
        # shellcheck disable=SC2086
        "$bin" $opts -max_total_time="$secs" $dirs >"$log" 2>&1
    fi
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | sed 's/corp: //')
    details="runs ${execs:-?}, ${rate:-?} exec/s, corpus ${corp:-?}, peak RSS ${rss:-?} MB, ${nreg} regression inputs"
    if [ "$status" -ne 0 ]; then
        echo "FAIL $name: exit $status; $details; see $log" >"$res"
        grep -m3 -E 'ERROR|invariant|runtime error|Test unit written' "$log" | sed 's/^/    /' >>"$res"
    else
        echo "ok   $name: $details" >"$res"
    fi
}

names=$(for f in fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)
total=$(echo "$names" | wc -l)
echo "fuzz: $total harnesses, mode $mode$([ "$mode" = run ] && echo ", ${secs}s each"), $jobs at a time"
start=$(date +%s)

# $jobs queues, round robin, each running its harnesses one after another.
q=0
while [ "$q" -lt "$jobs" ]; do
    (
        i=0
        for n in $names; do
            [ $((i % jobs)) -eq "$q" ] && run_one "$n"
            i=$((i + 1))
        done
    ) &
    q=$((q + 1))
done
wait

pass=0 fail=0
for n in $names; do
    if [ -f "$work/$n.result" ]; then
        cat "$work/$n.result"
        read -r verdict _ <"$work/$n.result"
        case $verdict in ok) pass=$((pass + 1)) ;; *) fail=$((fail + 1)) ;; esac
        rm -f "$work/$n.result"
    else
        echo "FAIL $n: no result"
        fail=$((fail + 1))
    fi
done
echo "fuzz: took $(( $(date +%s) - start ))s"
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
