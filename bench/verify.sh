# Section "verify" (sourced by bench/run.sh): `ratchetctl log verify` over a
# 200,000-record signed log (bench/gen_log, the enforcer's writer) against
# `openssl speed -seconds 3 ed25519`'s single-core verify rate in the same
# run. The log is verified on every CPU (the default) and, in a full run, on
# one thread too; the figure is records/s against openssl verify/s x threads.

# bench_verify_run THREADS: prints "records/s threads seconds cpu_seconds",
# or the error. The CPU time (user + system, /usr/bin/time) tells how much of
# the machine the run actually had: on a shared machine threads x seconds can
# be far more than the CPU the threads got.
bench_verify_run() {
    set -- ${1:+--threads "$1"}
    /usr/bin/time -f "cpu %U %S" -o "$VER/time.out" "$IT_BUILD/ratchetctl" log verify --log "$VER/log/commands.log" \
        --pubkey "$VER/k.pub" "$@" >"$VER/verify.out" 2>&1 || { cat "$VER/verify.out"; return 0; }
    cpu=$(awk '$1 == "cpu" { print $2 + $3 }' "$VER/time.out")
    awk -v n="$VER_N" -v cpu="$cpu" '/checked in/ { for (i = 1; i <= NF; i++) if ($i == "in") s = $(i + 1);
        t = $(NF - 1); sub(/\(s\)/, "", t); printf "%.0f %s %s %s\n", n / s, t, s, cpu }' "$VER/verify.out"
}

bench_verify() {
    VER=$IT_DIR/verify
    VER_N=$(bench_dur 200000 50000)
    mkdir -p "$VER"
    openssl genpkey -algorithm ed25519 -out "$VER/k.pem" 2>/dev/null && chmod 400 "$VER/k.pem" &&
        openssl pkey -in "$VER/k.pem" -pubout -out "$VER/k.pub" || return 1
    gen=$("$IT_BUILD/bench/gen_log" --dir "$VER/log" --key "$VER/k.pem" --name bench-key \
        --origin bench.ratchet.invalid/commands --records "$VER_N") || return 1
    echo "  $gen ($(du -m "$VER/log/commands.log" | cut -f1) MB)"
    ossl=$(openssl speed -seconds 3 ed25519 2>/dev/null | awk '/EdDSA \(Ed25519\)/ { print $NF }')
    [ -n "$ossl" ] || return 1
    echo "  openssl speed ed25519: $ossl verify/s (one core)"
    for t in "" $(bench_quick || echo 1); do
        out=$(bench_verify_run "$t")
        # shellcheck disable=SC2086 # four fields
        set -- $out
        [ $# -eq 4 ] || { echo "  $out"; return 1; }
        rate=$1 threads=$2
        per_cpu=$(bench_calc "$VER_N / $4" "%.0f")
        echo "  ratchetctl log verify${t:+ --threads $t}: $VER_N records in $3 s on $threads thread(s): $rate records/s;" \
            "$4 CPU-s used: $per_cpu records per CPU-second ($(bench_calc "$per_cpu / $ossl")x openssl's one core)"
        ratio=$(bench_calc "$rate / ($ossl * $threads)")
        bench_row "log verify, records/s ($threads thread$([ "$threads" = 1 ] || echo s), $VER_N records)" \
            "$rate ($per_cpu per CPU-s)" \
            "openssl $(bench_calc "$ossl * $threads" "%.0f") verify/s ($ossl x $threads)" ">= 0.85x openssl" \
            "$(bench_verdict "$ratio >= 0.85") (${ratio}x)"
    done
    rm -rf "$VER/log"
}
