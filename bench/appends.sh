# Section "appends" (sourced by bench/run.sh): durable signed appends to the
# command log, against the fdatasync floor of the same file system measured
# in the same run (bench/fsync_floor: ~300-byte appends, each fdatasync'd,
# the physical limit of one record per fdatasync; measured before and after,
# the better of the two counts).
#   append:   rt_logw_append(), each record signed, written, fdatasync'd;
#   group:    the same, 32 records per fdatasync (rt_logw_defer_sync/_sync);
#   enforcer: enf_core_demote(), the enforcer's whole path per demotion
#             (append, signed checkpoint, readiness view), each a new bot;
#   batch:    the same in batches of 32 (enf_core_batch_begin/end), as the
#             daemon does with the DEMOTEs of one read.
# Everything runs in the bench directory's file system (see the machine).

bench_appends() {
    APP=$IT_DIR/appends
    secs=$(bench_dur 5 2)
    mkdir -p "$APP"
    openssl genpkey -algorithm ed25519 -out "$APP/key.pem" 2>/dev/null && chmod 400 "$APP/key.pem" || return 1
    # the floor before and after the appends; the better one is the limit
    # (a shared disk only ever makes it look lower)
    floor1=$("$IT_BUILD/bench/fsync_floor" "$APP" "$secs") || return 1
    echo "  $floor1"
    out=$("$IT_BUILD/bench/append_bench" "$APP" "$APP/key.pem" "$secs") || { echo "  $out"; return 1; }
    echo "$out" | sed 's/^/  /'
    floor2=$("$IT_BUILD/bench/fsync_floor" "$APP" "$secs") || return 1
    echo "  $floor2"
    floor=$floor1
    awk "BEGIN { exit !($(bench_kv "$floor2" ops_per_s) > $(bench_kv "$floor1" ops_per_s)) }" && floor=$floor2
    f=$(bench_kv "$floor" ops_per_s)
    [ -n "$f" ] || return 1
    f=$(bench_calc "$f" "%.0f")
    bench_row "fdatasync floor, ~300 B appends/s" "-" "$f/s (p50 $(bench_kv "$floor" p50_ms) ms)" "physical limit" "-"
    for m in "append|signed appends/s, each fdatasync'd" "group|signed appends/s, group commit of 32" \
        "enforcer|enforcer demotions/s, one at a time" "batch|enforcer demotions/s, batches of 32"; do
        line=$(echo "$out" | grep "^${m%%|*} ")
        rate=$(bench_kv "$line" per_s)
        [ -n "$rate" ] || return 1
        rate=$(bench_calc "$rate" "%.0f")
        bench_row "${m#*|}" "$rate/s (p50 $(bench_kv "$line" p50_ms) ms)" "floor $f/s" "report" \
            "- ($(bench_calc "$rate / $f")x floor)"
    done
    rm -rf "$APP"
}
