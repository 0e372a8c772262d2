# Section "decision" (sourced by bench/run.sh): decision latency, from the
# completion of a window to the enforcer's acknowledgement of the signed,
# fdatasync'd record, with both real daemons. The evidence is fresh P0 alerts
# posted as one webhook (bench/decision.py payload), so each window completes
# at startsAt + window exactly and no scrape interval is involved.
#   spread: N bots whose windows complete one after another over S seconds;
#   burst:  N other bots whose windows all complete at the same instant.
# Figures: the watchdog's ratchet_demotion_latency_seconds histogram (window
# completion -> acknowledgement; the targets are read from its 50 ms and
# 200 ms buckets) and, exactly per record, the enforcer's signing time minus
# decided_at from the signed log (completion -> durable record).

bench_decision_acked() { # bench_decision_acked N: N acknowledged demotions
    v=$(bench_metric "$DEC_MET" 'ratchet_demotion_requests_total{outcome="acknowledged"}')
    [ -n "$v" ] && [ "${v%.*}" -ge "$1" ]
}

# bench_decision_run NAME FIRST N SPREAD: one batch; adds its rows.
bench_decision_run() {
    curl -fsS "$DEC_MET" >"$DEC/metrics-before-$1" || return 1
    python3 bench/decision.py payload "$2" "$3" "$DEC_WIN" 3 "$4" >"$DEC/hook-$1.json"
    code=$(curl -s -o "$DEC/hook-$1.out" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $DEC_TOKEN" --data-binary @"$DEC/hook-$1.json" "$DEC_WD/webhook/alertmanager")
    [ "$code" = 200 ] || { echo "  webhook: $code $(cat "$DEC/hook-$1.out")"; return 1; }
    DEC_ACKED=$((DEC_ACKED + $3))
    it_wait_for $((DEC_WIN + 60)) bench_decision_acked "$DEC_ACKED" || {
        echo "  only $(bench_metric "$DEC_MET" 'ratchet_demotion_requests_total{outcome="acknowledged"}') of $DEC_ACKED acknowledged"
        return 1
    }
    curl -fsS "$DEC_MET" >"$DEC/metrics-after-$1" || return 1
    h=$(python3 bench/decision.py hist "$DEC/metrics-before-$1" "$DEC/metrics-after-$1" ratchet_demotion_latency_seconds)
    hd=$(python3 bench/decision.py hist "$DEC/metrics-before-$1" "$DEC/metrics-after-$1" ratchet_demotion_handoff_seconds)
    l=$(python3 bench/decision.py log "$DEC/enf/commands.log" "$2" "$3")
    echo "  $1: completion -> ack (histogram): $h"
    echo "  $1: decision -> ack (histogram):   $hd"
    echo "  $1: completion -> signed record (log): $l"
    [ "$(bench_kv "$h" n)" = "$3" ] && [ "$(bench_kv "$l" n)" = "$3" ] || return 1
    le50=$(bench_kv "$h" le_0.05) le200=$(bench_kv "$h" le_0.2)
    what="$3 windows completing $([ "$4" = 0 ] && echo "at once" || echo "over $4 s")"
    bench_row "decision latency, median ($what)" "$(bench_kv "$l" p50_ms) ms; $(bench_calc "$le50 * 100" "%.0f")% acked <= 50 ms" \
        "decision -> ack mean $(bench_kv "$hd" mean_ms) ms" "<= 50 ms" "$(bench_verdict "$le50 >= 0.5")"
    bench_row "decision latency, p99 ($what)" "$(bench_kv "$l" p99_ms) ms; $(bench_calc "$le200 * 100" "%.1f")% acked <= 200 ms" \
        "-" "<= 200 ms" "$(bench_verdict "$le200 >= 0.99")"
}

bench_decision() {
    DEC=$IT_DIR/decision
    DEC_WIN=20
    n=$(bench_dur 200 50) spread=$(bench_dur 10 4)
    mkdir -p "$DEC/enf" "$DEC/wd"
    chmod 700 "$DEC/enf" "$DEC/wd"
    openssl genpkey -algorithm ed25519 -out "$DEC/key.pem" 2>/dev/null && chmod 400 "$DEC/key.pem" || return 1
    DEC_TOKEN=$(bench_token "$DEC")
    bots=$(awk -v n="$((2 * n))" 'BEGIN { for (i = 0; i < n; i++) printf "%s{\"id\":\"bot-%04d\",\"readiness\":\"general_live\"}", i ? "," : "", i }')
    echo "{\"version\":1,\"bots\":[$bots]}" >"$DEC/bots.json"
    echo "{\"version\":1,\"conditions\":{\"p0_alert\":{\"window\":\"${DEC_WIN}s\",\"max_evidence_age\":\"1h\"}}}" >"$DEC/policy.json"
    cat >"$DEC/enf.json" <<EOF
{"version":1,"socket":"$DEC/enf.sock","allowed_peers":{"uids":[$(id -u)]},"state_dir":"$DEC/enf",
 "origin":"bench.ratchet.invalid/commands","key":{"file":"$DEC/key.pem"},"key_name":"bench-key",
 "policy_file":"$DEC/policy.json","checkpoint_interval":"1h","watchdog_silence":"1h"}
EOF
    wp=$(it_port)
    DEC_WD=http://127.0.0.1:$wp
    DEC_MET=$DEC_WD/metrics
    cat >"$DEC/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$wp}],"auth":{"bearer_token_file":"$DEC/token"},
 "policy_file":"$DEC/policy.json","state_dir":"$DEC/wd","bots":{"file":"$DEC/bots.json"},
 "enforcer":{"socket":"$DEC/enf.sock"}}
EOF
    it_bg enforcer "$IT_BUILD/ratchet-enforcer" --config "$DEC/enf.json"
    enf_pid=$IT_LAST_PID
    it_wait_for 30 test -S "$DEC/enf.sock" || return 1
    it_bg watchdog-decision "$IT_BUILD/ratchet-watchdog" --config "$DEC/wd.json" --log-level warning
    wd_pid=$IT_LAST_PID
    it_wait_for 15 it_http_ok "$DEC_WD/healthz" || return 1
    it_wait_for 15 sh -c "curl -fsS '$DEC_MET' | grep -qx 'ratchet_enforcer_connected 1'" || return 1
    DEC_ACKED=0
    bench_decision_run spread 0 "$n" "$spread" || return 1
    bench_decision_run burst "$n" "$n" 0 || return 1
    bench_stop "$wd_pid" "$enf_pid"
}
