#!/bin/sh
# Regenerates the seed corpora fuzz/corpus/<name>/ from the repository's real
# samples (tests/samples, tests/policy, tests/config, tests/enforcer-config,
# tests/cvss, tests/replay, tests/cmdlog/fixtures, examples, policy/) plus a
# few hand-written inputs, and the binary seeds that fuzz/seedgen.c writes.
# Usage: sh fuzz/make-seeds.sh [BUILD]   (from the repository root; builds
# BUILD/fuzz/seedgen with make if needed). Deterministic: running it again
# gives the same files.
set -eu
build=${1:-build}
out=fuzz/corpus

fresh() { rm -rf "${out:?}/${1:?}"; mkdir -p "$out/$1"; }
# copy NAME PREFIX FILE...: each file as PREFIX-<basename>
copy() {
    name=$1 prefix=$2; shift 2
    for f in "$@"; do
        [ -f "$f" ] && cp "$f" "$out/$name/$prefix-$(basename "$f")"
    done
    return 0
}
# text NAME FILE STRING: one hand-written input
text() { printf '%s' "$3" >"$out/$1/$2"; }
# lines NAME PREFIX FILE: every non-comment line of FILE as its own input
lines() {
    i=0
    grep -v '^#' "$3" | grep -v '^$' | while IFS= read -r l; do
        i=$((i + 1))
        printf '%s' "$l" >"$out/$1/$2-$i"
    done
}

make --no-print-directory BUILD="$build" "$build/fuzz/seedgen" >/dev/null

# ---- Alertmanager ----
fresh am_webhook
copy am_webhook sample tests/samples/alertmanager/webhook-*.json
text am_webhook blanks-resolved-bad-bot.json ' { "version" : "4" , "status" : "resolved" , "alerts" : [ { "status" : "resolved" , "labels" : { "bot" : "beta-2" , "severity" : "P0" } , "startsAt" : "2026-11-23T20:29:43+02:00" , "endsAt" : "2026-11-23T20:39:43.5Z" , "fingerprint" : "0a" } , { "status" : "firing" , "labels" : { "bot" : "-bad" , "severity" : "P0" } , "startsAt" : "2026-11-23T20:29:43Z" , "endsAt" : "0001-01-01T00:00:00Z" , "fingerprint" : "ff" } ] , "truncatedAlerts" : 123456789012345678 }
'
text am_webhook escaped-key-unknown-member.json '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"bot":"alpha","severity":"P0","b\u006ft":"x"},"startsAt":"2026-11-23T20:29:43Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"ab","extra":1}],"truncatedAlerts":1e2}'
text am_webhook escapes-unicode.json '{"receiver":"w\u00e9b","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"P0 \"down\" \\ \/\t","bot":"alpha","severity":"P\u0030"},"annotations":{"summary":"caf\u00e9 \u20ac \ud83d\ude00"},"startsAt":"2026-11-24T09:02:22.537583544Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p/graph?g0.expr=up\u0026g0.tab=1","fingerprint":"E7D558E15C1E5566"}],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://vm:19580","version":"4","groupKey":"{}:{bot=\"alpha\"}","truncatedAlerts":3}'
fresh am_alerts
copy am_alerts sample tests/samples/alertmanager/api-*.json
text am_alerts status '{"cluster":{"name":"01J","peers":[],"status":"ready"},"config":{"original":""},"uptime":"2026-11-24T09:00:00.123Z","versionInfo":{"version":"0.25.0"}}'
fresh am_matchers
text am_matchers default 'severity="P0"'
text am_matchers regex 'severity=~"P0|critical"'
text am_matchers braces '{severity=~"P0|critical", team!="sandbox", env!~"dev|test"}'
text am_matchers blanks ' { severity = "P0" , team!~"test|dev",env=prod, } '
text am_matchers escapes 'a="x\"y\\z\n",b=~"p\\.q"'
text am_matchers bracket 'severity!~"P[1-4]|\"x\""'
text am_matchers config 'priority=~"P0|critical"'
text am_matchers classes 'job=~"[[:alpha:]_]+-[0-9]{1,3}",bot!~".*test.*"'
text am_matchers eight 'a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8'

# ---- Prometheus, drift, scanners, registry ----
fresh prometheus
copy prometheus sample tests/samples/prometheus/*.json tests/samples/prometheus/*.txt
text prometheus runtimeinfo '{"status":"success","data":{"startTime":"2026-11-24T09:00:00.123456789Z","CWD":"/","reloadConfigSuccess":true}}'
# the vector scanner's forms (feeds/prometheus.c) and near misses it leaves to jansson
text prometheus scanner-vector-forms.json '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"x","bot":"bot-1","instance":"h:9090"},"value":[1700000000.123,"0.0007692307692307692"]},{"value":[1700000000,"NaN"],"metric":{"bot":"bot-0"}},{"metric":{},"value":[1700000000.5,"+Inf"]},{"metric":{"bot":"a b"},"value":[1,"1e-07"]}]}}'
text prometheus scanner-near-misses.json '{"status":"success","data":{"resultType":"vector","result":[ { "metric" : { "bot" : "z" , "job" : "j" } , "value" : [ 1700000000.000001 , "-412.5" ] } ,
{"metric":{"bot":"y"},"value":[01,"1"]},{"metric":{"bot":"y","bot":"x"},"value":[1,"1"]}]}}'
fresh drift
copy drift sample tests/samples/drift/*.json
copy drift prom tests/samples/prometheus/vector-drift-two-venues.json tests/samples/prometheus/matrix-drift-two-venues.json \
    tests/samples/prometheus/vector-gauge-nan.json
fresh scan
copy scan sample tests/samples/scan/*.json
fresh cvss
grep -v '^#' tests/cvss/vectors.tsv | cut -f1 | grep . | head -40 | {
    i=0
    while IFS= read -r v; do i=$((i + 1)); printf '%s' "$v" >"$out/cvss/vector-$i"; done
}
text cvss temporal 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:H/IR:X/AR:L/MAV:A/MAC:H/MPR:L/MUI:R/MS:C/MC:N/MI:L/MA:H'
text cvss v30-order 'CVSS:3.0/S:C/AV:L/AC:H/PR:H/UI:R/C:L/I:N/A:N'
fresh registry
text registry two '{"version":1,"bots":[{"id":"zeta","readiness":"general_live"},{"id":"alpha","readiness":"limited_live","since":"2026-11-01T00:00:00Z"}]}'
text registry other '{"version": 1, "bots": [{"id": "mm-eth-01", "readiness": "other"}]}'
text registry empty '{"version":1,"bots":[]}'
text registry pretty '{
  "bots": [
    {"readiness": "other", "id": "mm-eth-01", "since": "2026-11-01T00:00:00.25+01:00"},
    {"id": "arb-btc-02", "readiness": "limited_live"}
  ],
  "version": 1
}'
text registry bad-entry '{"version":1,"bots":[{"id":"a","readiness":"other"},{"id":"b","readiness":"shadow","x":null}]}'

# ---- policy and configuration files ----
fresh policy
copy policy good tests/policy/good/*.json
copy policy bad tests/policy/bad/*.json
copy policy default policy/default-policy.json
copy policy replay tests/replay/policy-lenient.json
fresh wd_config
copy wd_config good tests/config/good/*.json
copy wd_config bad tests/config/bad/*.json
copy wd_config example examples/watchdog.json examples/watchdog.systemd.json
fresh enf_config
copy enf_config good tests/enforcer-config/good/*.json
copy enf_config bad tests/enforcer-config/bad/*.json
copy enf_config example examples/enforcer.json examples/enforcer.systemd.json

# ---- the enforcer's channel ----
fresh proto
"$build/fuzz/seedgen" proto "$out/proto"

# ---- the command log ----
fresh log_record
lines log_record fixture tests/cmdlog/fixtures/commands.log
fresh checkpoint
copy checkpoint fixture tests/cmdlog/fixtures/checkpoint
awk -v dir="$out/checkpoint" 'BEGIN { RS = ""; n = 0 } { n++; printf "%s\n", $0 > (dir "/history-" n) }' \
    tests/cmdlog/fixtures/checkpoints
fresh log_verify
"$build/fuzz/seedgen" log_verify "$out/log_verify"

# ---- evidence and replay ----
fresh evidence
# one line of each kind from the replay fixture, and the refused ones
for pat in '"p0_alert","value":true' '"p0_alert","value":false' '"error_rate","value":0' '"value":null' \
    '"recon_drift"' '"tolerance"' '"cvss"' '"readiness"' '"source"' '"detail"'; do
    l=$(grep -m1 -F "$pat" tests/replay/evidence.jsonl || true)
    [ -n "$l" ] && printf '%s' "$l" >"$out/evidence/fixture-$(printf '%s' "$pat" | tr -c 'a-z0-9_' '-')"
done
for f in tests/replay/bad/*.jsonl; do
    lines evidence "bad-$(basename "$f" .jsonl)" "$f"
done
fresh replay
# slices of the week-long fixture around readiness changes, and the bad streams
grep -v '^#' tests/replay/evidence.jsonl | head -n 120 >"$out/replay/fixture-start"
grep -n '"readiness"' tests/replay/evidence.jsonl | head -n 3 | cut -d: -f1 | while read -r n; do
    sed -n "$((n > 60 ? n - 60 : 1)),$((n + 60))p" tests/replay/evidence.jsonl >"$out/replay/fixture-around-$n"
done
copy replay bad tests/replay/bad/*.jsonl
printf '%s\n' \
    '{"ts":"2026-11-02T00:00:00Z","bot":"alpha","condition":"cvss","value":9.8}' \
    '{"ts":"2026-11-02T00:00:02Z","bot":"alpha","condition":"cvss","value":null}' \
    '{"ts":"2026-11-02T00:00:04Z","bot":"alpha","condition":"cvss","value":9.8}' \
    '{"ts":"2026-11-02T00:00:06Z","bot":"alpha","readiness":"general_live"}' \
    '{"ts":"2026-11-02T00:00:07Z","bot":"beta","condition":"recon_drift","value":-120,"tolerance":100}' \
    '{"ts":"2026-11-02T00:00:12Z","bot":"beta","condition":"recon_drift","value":-130}' \
    '{"ts":"2026-11-02T00:00:20Z","bot":"beta","condition":"error_rate","value":0.5}' \
    '{"ts":"2026-11-02T00:00:31Z","bot":"beta","condition":"error_rate","value":0.5}' \
    >"$out/replay/small-windows"

# ---- the engine against the reference model (harness programs) ----
fresh engine_model
# 1 bot; every condition 10 s windows, 5 s evidence age, hold; no overrides;
# then breaches of each condition one second apart, a readiness change, more
printf '\000\011\004\000\011\004\000\001\011\004\001\002\011\004\002\000\000\000''\144\040\144\041\006\144\042\004\144\043\004\000\144\040''\144\040\144\040\144\040\144\040\004\000\144\040\144\040\144\040' \
    >"$out/engine_model/one-bot-breaches"
# 3 bots with per-bot overrides, late and unknown observations
printf '\002\031\011\001\004\003\002\035\035\000\001\013\014\002\007\017\011\001\003\005''\001\100\007\101\142\041\005\102\052\003\043\000\044\021\140\077\141\040''\042\001\143\044\202\010\040\140\141\142\000\002\140\141\142\143' \
    >"$out/engine_model/three-bots"

# ---- the watchdog's state files ----
fresh statestore
"$build/fuzz/seedgen" statestore "$out/statestore"

# ---- small decoders ----
fresh codecs
text codecs time '2026-11-24T09:02:22.537583544Z'
text codecs time-offset '2026-11-24T10:58:00+01:00'
text codecs time-leap '2016-12-31T23:59:60Z'
text codecs go-zero '0001-01-01T00:00:00Z'
text codecs duration '1h30m'
text codecs duration-ms '500ms'
text codecs duration-week '1w2d'
text codecs base64 'dXNlcjpwYXNzd29yZA=='
text codecs base64-pad1 'YWI='
text codecs hex '0123456789abcdef'

for d in "$out"/*/; do
    printf '%s: %s\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
