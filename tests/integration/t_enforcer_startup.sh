#!/bin/sh
# ratchet-enforcer refuses to start in an unsafe setup, and says why:
# a private key readable by group or other, a state directory writable by
# others, an existing log that fails verification (fail closed). It reads
# its key from a path or from a systemd credential ($CREDENTIALS_DIRECTORY),
# and rotates its signing key at start-up (docs/enforcer.md).
. tests/integration/lib.sh
IT_BUILD=${1:-build}
it_setup
trap 'chattr -a "$IT_DIR"/*/* 2>/dev/null; it_cleanup' EXIT
d=$IT_DIR
enf="$IT_BUILD/ratchet-enforcer"

openssl genpkey -algorithm ed25519 -out "$d/key.pem" 2>/dev/null && chmod 400 "$d/key.pem"
config() { # config NAME STATE_DIR KEY_JSON [MORE_JSON_MEMBERS]
    cat >"$d/$1.json" <<EOF
{"version":1,"socket":"$d/$1.sock","allowed_peers":{"uids":[$(id -u)]},"state_dir":"$2",
 "origin":"it.ratchet.invalid/commands","key":$3,"key_name":"it-key",
 "checkpoint_interval":"1h","watchdog_silence":"1h"${4:+,$4}}
EOF
}
# starts NAME: run the enforcer until its socket appears (then stop it) or it exits.
starts() {
    "$enf" --config "$d/$1.json" >"$d/$1.log" 2>&1 &
    pid=$!
    if it_wait_for 10 sh -c "test -S '$d/$1.sock' || ! kill -0 $pid 2>/dev/null" && test -S "$d/$1.sock"; then
        kill "$pid"; wait "$pid"; return 0
    fi
    wait "$pid"; return 1
}

mkdir -m 700 "$d/good"
config good "$d/good" "{\"file\":\"$d/key.pem\"}"
it_check "a safe setup starts" starts good
it_check "--check-config accepts it" "$enf" --config "$d/good.json" --check-config

cp "$d/key.pem" "$d/loose.pem" && chmod 440 "$d/loose.pem"
mkdir -m 700 "$d/loose"
config loose "$d/loose" "{\"file\":\"$d/loose.pem\"}"
it_check "a group-readable key is refused" sh -c "! '$enf' --config '$d/loose.json' >'$d/loose.log' 2>&1"
it_check "... with a reason" grep -qi "group\|permission\|readable" "$d/loose.log"

mkdir -m 770 "$d/open"
config open "$d/open" "{\"file\":\"$d/key.pem\"}"
it_check "a state directory writable by the group is refused" sh -c "! '$enf' --config '$d/open.json' >'$d/open.log' 2>&1"
it_check "... with a reason" grep -q "writable by nobody else" "$d/open.log"

# a verified log, then one byte changed in it: fail closed
chattr -a "$d/good/commands.log" 2>/dev/null
sed -i '1s/"seq":0/"seq":7/' "$d/good/commands.log"
it_check "a log that fails verification is refused (fail closed)" sh -c "! '$enf' --config '$d/good.json' >'$d/bad.log' 2>&1"
it_check "... naming the record and the reason" grep -q "refusing to start: command log" "$d/bad.log"

mkdir -m 700 "$d/cred" "$d/creds"
cp "$d/key.pem" "$d/creds/signing-key" && chmod 400 "$d/creds/signing-key"
config cred "$d/cred" '{"credential":"signing-key"}'
export CREDENTIALS_DIRECTORY="$d/creds"
it_check "the key from \$CREDENTIALS_DIRECTORY (LoadCredential=)" starts cred
unset CREDENTIALS_DIRECTORY
it_check "no \$CREDENTIALS_DIRECTORY: refused" sh -c "! env -u CREDENTIALS_DIRECTORY '$enf' --config '$d/cred.json' >'$d/nocred.log' 2>&1"
it_check "... with a reason" grep -q "CREDENTIALS_DIRECTORY" "$d/nocred.log"

# Key rotation: the old key signs the hand-over, auditors need only the
# genesis public key (ratchetctl, and the openssl-only recipe).
openssl genpkey -algorithm ed25519 -out "$d/key2.pem" 2>/dev/null && chmod 400 "$d/key2.pem"
openssl pkey -in "$d/key.pem" -pubout -out "$d/genesis.pub"
mkdir -m 700 "$d/rot"
config rot1 "$d/rot" "{\"file\":\"$d/key.pem\"}"
it_check "rotation: a log is started with the genesis key" starts rot1
config rot2 "$d/rot" "{\"file\":\"$d/key2.pem\"}" "\"previous_key\":{\"file\":\"$d/key.pem\"}"
it_check "rotation: the enforcer starts with the new key and the previous one" starts rot2
it_check "... and logs the signed hand-over" grep -q "key rotation recorded as signed record" "$d/rot2.log"
verify_rot() { "$IT_BUILD/ratchetctl" log verify --log "$d/rot/commands.log" --pubkey "$d/genesis.pub" >"$d/verify.out" 2>&1; }
it_check "rotation: ratchetctl log verify accepts it with the genesis key alone" verify_rot
it_check "... and counts one rotation" grep -q "1 key rotation(s)" "$d/verify.out"
it_check "rotation: the openssl-only auditor recipe accepts it" \
    sh tests/cmdlog/auditor-recipe.sh "$d/rot/commands.log" "$d/genesis.pub" "$d/rot/checkpoint"
it_check "rotation: starting again with both keys rotates nothing" starts rot2
it_check "... and says previous_key is no longer needed" grep -q "is not needed any more" "$d/rot2.log"
one_rotation() { "$IT_BUILD/ratchetctl" log show --log "$d/rot/commands.log" | grep -c "from here on signed by key" | grep -qx 1; }
it_check "... still one rotation in the log" one_rotation
config rot3 "$d/rot" "{\"file\":\"$d/key2.pem\"}"
it_check "rotation: the new key without the genesis key as anchor is refused" sh -c "! '$enf' --config '$d/rot3.json' >'$d/rot3.log' 2>&1"
it_check "... with a reason" grep -q "not a trusted key" "$d/rot3.log"
config rot4 "$d/rot" "{\"file\":\"$d/key2.pem\"}" "\"trusted_keys\":[\"$d/genesis.pub\"]"
it_check "rotation: the new key with the genesis public key in trusted_keys starts" starts rot4
it_check "rotation: the old key alone may no longer sign" sh -c "! '$enf' --config '$d/rot1.json' >'$d/rot1b.log' 2>&1"
it_check "... with a reason" grep -q "use the log's current key" "$d/rot1b.log"
it_finish
