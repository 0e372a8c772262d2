# Helpers shared by every chaos scenario (POSIX sh; sourced after
# tests/integration/lib.sh, from the repository root).

# chaos_enforcer_files: a signing key ($IT_DIR/key.pem, key.pub), the
# enforcer's configuration ($IT_DIR/enf.json) and its state directory
# ($IT_DIR/enf); the policy is $IT_DIR/policy.json, the socket
# $IT_DIR/enf.sock, the origin chaos.ratchet.invalid/commands.
chaos_enforcer_files() {
    openssl genpkey -algorithm ed25519 -out "$IT_DIR/key.pem" 2>/dev/null && chmod 400 "$IT_DIR/key.pem"
    openssl pkey -in "$IT_DIR/key.pem" -pubout -out "$IT_DIR/key.pub"
    mkdir -m 700 "$IT_DIR/enf"
    cat >"$IT_DIR/enf.json" <<EOF2
{"version":1,"socket":"$IT_DIR/enf.sock","allowed_peers":{"uids":[$(id -u)]},"state_dir":"$IT_DIR/enf",
 "origin":"chaos.ratchet.invalid/commands","key":{"file":"$IT_DIR/key.pem"},"key_name":"chaos-key",
 "policy_file":"$IT_DIR/policy.json","checkpoint_interval":"1h","watchdog_silence":"1h"}
EOF2
}

# chaos_bots_file FILE FORMAT N: a bot registry of N bots in General live,
# named by printf FORMAT from 1 to N (e.g. w%02d).
chaos_bots_file() {
    cb_i=1
    {
        printf '{"version":1,"bots":['
        while [ "$cb_i" -le "$3" ]; do
            [ "$cb_i" -gt 1 ] && printf ','
            printf "{\"id\":\"$2\",\"readiness\":\"general_live\"}" "$cb_i"
            cb_i=$((cb_i + 1))
        done
        printf ']}\n'
    } >"$1"
}
