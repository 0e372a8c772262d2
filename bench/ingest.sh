# Section "ingest" (sourced by bench/run.sh): Alertmanager webhooks.
#  1. wrk (2 threads, 32 connections) POSTs a real Alertmanager v4 payload
#     (tests/samples/alertmanager/webhook-firing.json, bearer token) to
#     ratchet-watchdog, and the same request to nginx (one worker,
#     `return 204;`) on the same loopback; requests/s of each and the ratio.
#     Runs alternate nginx, ratchet, nginx, ratchet; the best of each counts
#     (the machine may be shared, and the best run is the least disturbed).
#  2. bench/pace (open loop) sends at half of ratchet's best rate, over 32
#     connections, and measures each request from when it was due to its
#     answer: p99 latency, ratchet and nginx at the same rate.

# bench_wrk NAME URL SECONDS: runs wrk, prints requests/s; "" if it failed.
bench_wrk() {
    wrk -t2 -c32 -d"$3s" -s "$ING/post.lua" "$2" >"$ING/wrk-$1.out" 2>&1 || return 0
    if grep -q "Non-2xx\|Socket errors" "$ING/wrk-$1.out"; then
        echo "  $1: $(grep "Non-2xx\|Socket errors" "$ING/wrk-$1.out" | tr '\n' ' ')" >&2
    fi
    awk '/^Requests\/sec:/ { print $2 }' "$ING/wrk-$1.out"
}

bench_ingest() {
    ING=$IT_DIR/ingest
    mkdir -p "$ING/nginx"
    BENCH_BODY=$PWD/tests/samples/alertmanager/webhook-firing.json
    BENCH_TOKEN=$(bench_token "$ING")
    export BENCH_BODY BENCH_TOKEN
    cat >"$ING/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
EOF
    np=$(it_port) wp=$(it_port)
    cat >"$ING/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log stderr;
pid $ING/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $ING/nginx/body;
    proxy_temp_path $ING/nginx/proxy;
    fastcgi_temp_path $ING/nginx/fastcgi;
    uwsgi_temp_path $ING/nginx/uwsgi;
    scgi_temp_path $ING/nginx/scgi;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$np;
        location / { return 204; }
    }
}
EOF
    echo '{"version":1,"bots":[{"id":"alpha","readiness":"general_live"}]}' >"$ING/bots.json"
    cat >"$ING/wd.json" <<EOF
{"version":1,"listen":[{"address":"127.0.0.1","port":$wp}],"auth":{"bearer_token_file":"$ING/token"},
 "state_dir":"$ING/state","bots":{"file":"$ING/bots.json"},"enforcer":{"socket":"$ING/no-enforcer.sock"}}
EOF
    it_bg nginx /usr/sbin/nginx -p "$ING/nginx" -c "$ING/nginx/nginx.conf"
    ng_pid=$IT_LAST_PID
    it_bg watchdog-ingest "$IT_BUILD/ratchet-watchdog" --config "$ING/wd.json"
    wd_pid=$IT_LAST_PID
    if ! it_wait_for 15 curl -fsS -o /dev/null -X POST "http://127.0.0.1:$np/" ||
        ! it_wait_for 15 it_http_ok "http://127.0.0.1:$wp/healthz"; then
        bench_stop "$ng_pid" "$wd_pid"
        return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $BENCH_TOKEN" --data-binary @"$BENCH_BODY" "http://127.0.0.1:$wp/webhook/alertmanager")
    [ "$code" = 200 ] || { echo "  the webhook answered $code, not 200"; bench_stop "$ng_pid" "$wd_pid"; return 1; }

    secs=$(bench_dur 10 3)
    rounds=$(bench_dur 2 1)
    best_ng=0 best_wd=0
    i=0
    while [ "$i" -lt "$rounds" ]; do
        i=$((i + 1))
        ng=$(bench_wrk "nginx-$i" "http://127.0.0.1:$np/webhook/alertmanager" "$secs")
        wd=$(bench_wrk "ratchet-$i" "http://127.0.0.1:$wp/webhook/alertmanager" "$secs")
        echo "  round $i: nginx ${ng:-?} req/s, ratchet ${wd:-?} req/s"
        [ -n "$ng" ] && best_ng=$(bench_calc "$ng > $best_ng ? $ng : $best_ng" "%.0f")
        [ -n "$wd" ] && best_wd=$(bench_calc "$wd > $best_wd ? $wd : $best_wd" "%.0f")
    done
    if [ "$best_ng" = 0 ] || [ "$best_wd" = 0 ]; then
        bench_stop "$ng_pid" "$wd_pid"
        return 1
    fi
    ratio=$(bench_calc "$best_wd / $best_ng")
    bench_row "webhook ingest, req/s (wrk, 32 conns)" "$best_wd" "nginx $best_ng" ">= 0.6x nginx" \
        "$(bench_verdict "$ratio >= 0.6") (${ratio}x)"

    rate=$(bench_calc "$best_wd / 2" "%.0f")
    pace() { # pace NAME PORT: the pace line
        "$IT_BUILD/bench/pace" --port "$2" --path /webhook/alertmanager --rate "$rate" --connections 32 \
            --seconds "$secs" --body "$BENCH_BODY" --header "Content-Type: application/json" \
            --header "Authorization: Bearer $BENCH_TOKEN" >"$ING/pace-$1.out" 2>&1
        cat "$ING/pace-$1.out"
    }
    pw=$(pace ratchet "$wp")
    pn=$(pace nginx "$np")
    echo "  ratchet: $pw"
    echo "  nginx:   $pn"
    p99=$(bench_kv "$pw" p99_ms) np99=$(bench_kv "$pn" p99_ms)
    if [ -z "$p99" ] || [ "$(bench_kv "$pw" errors)" != 0 ] || [ "$(bench_kv "$pw" non2xx)" != 0 ]; then
        bench_stop "$ng_pid" "$wd_pid"
        return 1
    fi
    bench_row "webhook p99 at half max ($rate req/s, open loop)" "${p99} ms (p50 $(bench_kv "$pw" p50_ms))" \
        "nginx ${np99} ms" "<= 2 ms" "$(bench_verdict "$p99 <= 2")"
    bench_stop "$ng_pid" "$wd_pid"
}
