#!/bin/sh
# The auditor's recipe: verify a ratchet command log with nothing but the
# openssl CLI, coreutils and a POSIX shell (docs/log-format.md, section
# "Auditor's recipe", explains every step; this is the same text).
#
#   sh auditor-recipe.sh LOG GENESIS_KEY.pub [CHECKPOINT]
#
# Checks every record's Ed25519 signature over
#   "ratchet-command-log-v1" LF origin LF body
# with the log's current key (the genesis key, then each key announced by a
# key_rotation record signed by the previous key), that seq counts 0, 1, 2...
# and prev is the SHA-256 of the previous record's line, that bytes which are
# not a valid record are immediately followed by a torn_tail record that
# describes them exactly, and, given a checkpoint, that a key of the log
# signed it for this origin and that its root is the RFC 6962 root of the
# log's first <size> records. Exit 0 valid, 1 not (naming the first bad
# seq), 2 usage. Lines holding NUL bytes cannot pass through the shell and
# fail here; `ratchetctl log verify` checks those logs.
set -u
LC_ALL=C # ${#line} counts bytes; patterns match bytes
export LC_ALL
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 LOG GENESIS_KEY.pub [CHECKPOINT]" >&2
    exit 2
fi
log=$1 anchor=$2 cp=${3:-}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

ZERO=0000000000000000000000000000000000000000000000000000000000000000
fail() { echo "FAIL: $*"; exit 1; }
hex() { od -An -v -tx1 | tr -d ' \n'; }           # bytes -> lower-case hex
sha256() { openssl dgst -sha256 -binary | hex; }   # SHA-256 of stdin, hex
piece() { printf '%s' "$1" | cut -d, -f"$2"; }     # n-th comma-separated piece of a body
# The value in a piece "name":value or "name":"value" (a last piece ends in "}").
value() {
    case $1 in "\"$2\":"*) ;; *) return 1 ;; esac
    v=${1#\""$2"\":}
    v=${v%\}}
    v=${v#\"}
    v=${v%\"}
    printf '%s' "$v"
}
# Key id of (name, base64 raw public key): SHA-256(name LF 0x01 key)[0:4].
key_id() { { printf '%s\n\001' "$1"; printf '%s' "$2" | base64 -d; } | openssl dgst -sha256 -binary | head -c 4 | hex; }
# PEM public key from a base64 raw Ed25519 key: the fixed 12-byte DER
# SubjectPublicKeyInfo prefix 302a300506032b6570032100, then the key.
raw_to_pem() {
    { printf '\060\052\060\005\006\003\053\145\160\003\041\000'; printf '%s' "$1" | base64 -d; } >"$tmp/k.der"
    openssl pkey -pubin -inform DER -in "$tmp/k.der" -out "$2" 2>/dev/null
}
# Ed25519 verification of file $2 (message) against base64 signature $3 with PEM key $1.
ed25519_verify() {
    printf '%s' "$3" | base64 -d >"$tmp/sig.bin" 2>/dev/null || return 1
    [ "$(base64 -w0 <"$tmp/sig.bin")" = "$3" ] || return 1   # one spelling only
    [ "$(wc -c <"$tmp/sig.bin")" -eq 64 ] || return 1
    openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2" -sigfile "$tmp/sig.bin" >/dev/null 2>&1
}

anchor_raw=$(openssl pkey -pubin -in "$anchor" -outform DER 2>/dev/null | tail -c 32 | base64 -w0)
[ ${#anchor_raw} -eq 44 ] || fail "$anchor is not an Ed25519 public key"

# check_line: sets ok=1 for a record that verifies and fits the chain;
# ok=0 with why=... for a line that is not a valid record (maybe torn);
# exits for a genuine (signed) record in the wrong place.
check_line() {
    ok=0
    case $line in *"	"*) ;; *) why="no TAB: unsigned or damaged line"; return ;; esac
    body=$(printf '%s' "$line" | cut -f1)
    sig=$(printf '%s' "$line" | cut -f2-)
    seq_f=$(value "$(piece "$body" 2)" seq) || { why="not a record"; return; }
    type=$(value "$(piece "$body" 4)" type) || { why="not a record"; return; }
    prev_f=$(value "$(piece "$body" 5)" prev) || { why="not a record"; return; }
    kid_f=$(value "$(piece "$body" 6)" key_id) || { why="not a record"; return; }
    if [ "$seq" -eq 0 ] && [ "$type" = genesis ]; then
        origin=$(value "$(piece "$body" 8)" origin) || { why="bad genesis"; return; }
        key_name=$(value "$(piece "$body" 9)" key_name) || { why="bad genesis"; return; }
        key_raw=$(value "$(piece "$body" 10)" public_key) || { why="bad genesis"; return; }
        [ "$key_raw" = "$anchor_raw" ] || fail "seq 0: the genesis key is not $anchor"
        cp "$anchor" "$tmp/key.pem"
        key_hex=$(key_id "$key_name" "$key_raw")
        echo "$key_name $key_hex $tmp/key0.pem" >>"$tmp/keys"
        cp "$anchor" "$tmp/key0.pem"
    fi
    [ -n "$origin" ] || fail "seq 0: the first record is not a genesis record"
    printf 'ratchet-command-log-v1\n%s\n%s' "$origin" "$body" >"$tmp/msg.bin"
    ed25519_verify "$tmp/key.pem" "$tmp/msg.bin" "$sig" || { why="signature does not verify"; return; }
    # A signed record: it must be exactly the next one.
    [ "$seq_f" = "$seq" ] || fail "seq $seq: the record here says seq $seq_f (missing, duplicated or out of order)"
    [ "$prev_f" = "$prev" ] || fail "seq $seq: prev does not match seq $((seq - 1))"
    [ "$kid_f" = "$key_hex" ] || fail "seq $seq: key_id $kid_f is not the log's current key $key_hex"
    ok=1
}

seq=0 prev=$ZERO off=0 bad_from= why= origin= key_hex= rotations=0 torn=0
: >"$tmp/leaves"
: >"$tmp/keys"
exec 3<"$log" || fail "cannot read $log"
while :; do
    if IFS= read -r line <&3; then lf=1; elif [ -n "$line" ]; then lf=0; else break; fi
    if [ $lf -eq 1 ]; then check_line; else ok=0 why="incomplete last line (torn write)"; fi
    if [ $ok -eq 1 ]; then
        if [ -n "$bad_from" ]; then
            # The bytes from bad_from up to this line's LF-1 must be a torn write
            # that this torn_tail record describes: length, SHA-256, offset.
            [ "$type" = torn_tail ] || fail "seq $seq: $bad_why (bytes at offset $bad_from)"
            t_bytes=$(value "$(piece "$body" 8)" torn_bytes)
            t_sha=$(value "$(piece "$body" 9)" torn_sha256)
            t_off=$(value "$(piece "$body" 10)" offset)
            [ "$t_off" = "$bad_from" ] && [ "$t_bytes" = $((off - 1 - bad_from)) ] ||
                fail "seq $seq: torn_tail does not describe the bytes before it"
            [ "$(tail -c +$((bad_from + 1)) "$log" | head -c "$t_bytes" | sha256)" = "$t_sha" ] ||
                fail "seq $seq: torn bytes do not match torn_sha256"
            bad_from= torn=$((torn + 1))
        elif [ "$type" = torn_tail ]; then
            fail "seq $seq: torn_tail record with no torn bytes before it"
        fi
        prev=$(printf '%s' "$line" | sha256)
        { printf '\000'; printf '%s' "$line"; } | sha256 >>"$tmp/leaves"
        echo >>"$tmp/leaves"
        if [ "$type" = key_rotation ]; then
            # Signed by the old key (checked above); later records use the new key.
            key_name=$(value "$(piece "$body" 8)" new_key_name)
            new_raw=$(value "$(piece "$body" 9)" new_public_key)
            new_id=$(value "$(piece "$body" 10)" new_key_id)
            key_hex=$(key_id "$key_name" "$new_raw")
            [ "$key_hex" = "$new_id" ] || fail "seq $seq: new_key_id is not the id of the new key"
            rotations=$((rotations + 1))
            raw_to_pem "$new_raw" "$tmp/key$rotations.pem" || fail "seq $seq: bad new_public_key"
            cp "$tmp/key$rotations.pem" "$tmp/key.pem"
            echo "$key_name $key_hex $tmp/key$rotations.pem" >>"$tmp/keys"
        fi
        seq=$((seq + 1))
    elif [ -z "$bad_from" ]; then
        bad_from=$off bad_why=$why
    fi
    off=$((off + ${#line} + 1))
    [ $lf -eq 1 ] || break
done
[ -z "$bad_from" ] || fail "seq $seq: $bad_why (bytes at offset $bad_from, no torn_tail record after them)"
[ "$seq" -gt 0 ] || fail "seq 0: no genesis record"
echo "records: $seq verified (signatures, seq, prev, keys; $rotations key rotation(s), $torn torn tail(s))"

[ -n "$cp" ] || { echo "ok (no checkpoint given: a truncated tail cannot be detected)"; exit 0; }

# ---- checkpoint: C2SP signed note ----
exec 4<"$cp" || fail "cannot read $cp"
IFS= read -r c_origin <&4; IFS= read -r c_size <&4; IFS= read -r c_root <&4; IFS= read -r c_ts <&4
IFS= read -r c_blank <&4 || c_blank=x
[ -z "$c_blank" ] || fail "checkpoint: not origin, size, root, ts, blank line, signatures"
case $c_ts in "ts "*) ;; *) fail "checkpoint: no ts line" ;; esac
case $c_size in '' | *[!0-9]*) fail "checkpoint: bad size" ;; esac
[ "$c_origin" = "$origin" ] || fail "checkpoint is for origin \"$c_origin\", not \"$origin\""
printf '%s\n%s\n%s\n%s\n' "$c_origin" "$c_size" "$c_root" "$c_ts" >"$tmp/note.bin" # the signed bytes
signed=0
while IFS= read -r s <&4; do
    rest=${s#"— "}
    [ "$rest" != "$s" ] || fail "checkpoint: malformed signature line"
    name=${rest%% *} blob=${rest#* }
    printf '%s' "$blob" | base64 -d >"$tmp/blob" 2>/dev/null || fail "checkpoint: bad signature encoding"
    [ "$(wc -c <"$tmp/blob")" -eq 68 ] || continue # not Ed25519: ignore
    id=$(head -c 4 "$tmp/blob" | hex)
    pem=$(while read -r n i p; do [ "$n $i" = "$name $id" ] && echo "$p"; done <"$tmp/keys" | tail -n 1)
    [ -n "$pem" ] || continue # a key we do not know (a witness): ignore
    tail -c 64 "$tmp/blob" | base64 -w0 >"$tmp/sig64"
    ed25519_verify "$pem" "$tmp/note.bin" "$(cat "$tmp/sig64")" || fail "checkpoint: signature by $name does not verify"
    signed=1
done
[ $signed -eq 1 ] || fail "checkpoint: not signed by any key of this log"
[ "$c_size" -le "$seq" ] || fail "log has $seq records but checkpoint says $c_size: truncated or rolled back"

# RFC 6962 root of the first c_size leaves: a stack of complete subtrees
# (binary counter), then folded from the right.
node() { { printf '\001'; printf '%s%s' "$1" "$2" | xxd -r -p; } | sha256; }
stack= i=0
while [ "$i" -lt "$c_size" ] && read -r h; do
    m=$i
    while [ $((m % 2)) -eq 1 ]; do
        top=${stack##* } stack=${stack% *}
        h=$(node "$top" "$h")
        m=$((m / 2))
    done
    stack="$stack $h" i=$((i + 1))
done <"$tmp/leaves"
if [ -z "$stack" ]; then
    root=$(printf '' | sha256)
else
    root=${stack##* } stack=${stack% *}
    while [ -n "$stack" ]; do
        root=$(node "${stack##* }" "$root")
        stack=${stack% *}
    done
fi
[ "$(printf '%s' "$c_root" | base64 -d | hex)" = "$root" ] ||
    fail "checkpoint root for size $c_size does not match the log's first $c_size records (split view or rollback)"
echo "checkpoint: signed by a key of the log, size $c_size, root matches"
echo "ok"
