#!/bin/sh
# Tests the auditor's recipe (tests/cmdlog/auditor-recipe.sh): logs written
# by the library must pass; tampered copies must fail naming the record.
# Usage: tests/cmdlog/t_recipe.sh BUILD_DIR   (needs BUILD_DIR/libratchet.a)
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
recipe="$here/auditor-recipe.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; sed 's/^/    /' "$tmp/out"; }
expect_pass() { # name, recipe arguments
    name=$1; shift
    if sh "$recipe" "$@" >"$tmp/out" 2>&1; then ok "$name"; else bad "$name"; fi
}
expect_fail() { # name, text the verdict must contain, recipe arguments
    name=$1 want=$2; shift 2
    sh "$recipe" "$@" >"$tmp/out" 2>&1
    st=$?
    if [ $st -eq 1 ] && grep -q -- "$want" "$tmp/out"; then ok "$name"; else bad "$name (exit $st, want \"$want\")"; fi
}
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

# Flips bit $3 of the byte at offset $2 of file $1.
flip() {
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $((b ^ (1 << $3))))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
line_start() { head -n "$2" "$1" | wc -c; } # offset of line $2 (0-based) of file $1

# ---- a generator linked with the library ----
if [ ! -f "$build/libratchet.a" ]; then
    echo "FAIL $build/libratchet.a not built"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! cc -std=c17 -D_GNU_SOURCE -I"$root" -I"$build" -O1 -o "$tmp/gen_log" "$here/gen_log.c" "$build/libratchet.a" \
    $(pkg-config --cflags --libs jansson libevent libevent_openssl libcurl libsystemd openssl 2>/dev/null) \
    -lpthread -lm >"$tmp/out" 2>&1; then
    bad "build tests/cmdlog/gen_log.c"
    finish
fi

for k in k1 k2 k3; do
    openssl genpkey -algorithm ed25519 -out "$tmp/$k.key" 2>/dev/null && chmod 0400 "$tmp/$k.key" &&
        openssl pkey -in "$tmp/$k.key" -pubout -out "$tmp/$k.pub" || { echo "FAIL openssl genpkey"; finish; }
done

# A log with a key rotation (at seq 7) and a torn write described by a torn_tail record.
"$tmp/gen_log" --dir "$tmp/a" --key "$tmp/k1.key" --name enforcer-1 --origin ratchet.test/commands \
    --records 12 --rotate-at 7 --new-key "$tmp/k2.key" --new-name enforcer-2 --torn >"$tmp/out" 2>&1 ||
    { bad "generate a log with rotation and torn tail"; finish; }
expect_pass "recipe accepts a log with a key rotation and a torn tail" "$tmp/a/commands.log" "$tmp/k1.pub" "$tmp/a/checkpoint"
grep -q "1 key rotation(s), 1 torn tail(s)" "$tmp/out" && ok "recipe followed the rotation and the torn tail" ||
    bad "recipe followed the rotation and the torn tail"

# A plain log for the tampering cases: line i is seq i.
"$tmp/gen_log" --dir "$tmp/b" --key "$tmp/k1.key" --name enforcer-1 --origin ratchet.test/commands \
    --records 9 --checkpoint-every 3 >"$tmp/out" 2>&1 || { bad "generate a plain log"; finish; }
log=$tmp/b/commands.log
expect_pass "recipe accepts the plain log and its checkpoint" "$log" "$tmp/k1.pub" "$tmp/b/checkpoint"
expect_pass "recipe accepts the plain log without a checkpoint" "$log" "$tmp/k1.pub"

cp "$log" "$tmp/t1"
flip "$tmp/t1" $(($(line_start "$log" 3) + 150)) 0
expect_fail "bit flip in a record fails at its seq" "seq 3:" "$tmp/t1" "$tmp/k1.pub"

cp "$log" "$tmp/t2"
flip "$tmp/t2" $(($(line_start "$log" 4) - 10)) 1 # inside the signature of seq 3
expect_fail "bit flip in a signature fails at its seq" "seq 3:" "$tmp/t2" "$tmp/k1.pub"

sed '5d' "$log" >"$tmp/t3"
expect_fail "deleted middle line fails" "seq 4:" "$tmp/t3" "$tmp/k1.pub"

{ sed -n '1,4p' "$log"; sed -n '6p' "$log"; sed -n '5p' "$log"; sed -n '7,$p' "$log"; } >"$tmp/t4"
expect_fail "reordered lines fail" "seq 4:" "$tmp/t4" "$tmp/k1.pub"

sed '6p' "$log" >"$tmp/t5"
expect_fail "duplicated record fails" "seq 6:" "$tmp/t5" "$tmp/k1.pub"

expect_fail "wrong key fails at genesis" "seq 0:" "$log" "$tmp/k3.pub"

sed '3s/	.*//' "$log" >"$tmp/t6"
expect_fail "unsigned line (downgrade) fails" "seq 2:" "$tmp/t6" "$tmp/k1.pub"

head -n 6 "$log" >"$tmp/t7"
expect_fail "truncated tail fails against the checkpoint" "truncated" "$tmp/t7" "$tmp/k1.pub" "$tmp/b/checkpoint"

cp "$tmp/b/checkpoint" "$tmp/cp1"
flip "$tmp/cp1" $(($(line_start "$tmp/cp1" 2) + 5)) 0 # the root line
expect_fail "checkpoint with a changed root fails" "checkpoint" "$log" "$tmp/k1.pub" "$tmp/cp1"

expect_fail "checkpoint of another log fails" "checkpoint: not signed by any key of this log" "$log" "$tmp/k1.pub" \
    "$tmp/a/checkpoint"

# The committed fixture (written by an earlier build) still verifies:
# the format is stable and the recipe reads it.
fx=$here/fixtures
expect_pass "recipe accepts the committed fixture" "$fx/commands.log" "$fx/genesis.pub" "$fx/checkpoint"

# ratchetctl agrees, once `log` and `keygen` are registered in it.
if [ -x "$build/ratchetctl" ] && "$build/ratchetctl" log --help >/dev/null 2>&1; then
    st() { "$@" >"$tmp/out" 2>&1; echo $?; }
    [ "$(st "$build/ratchetctl" keygen --out "$tmp/keys" --name auditor-test)" = 0 ] &&
        [ "$(stat -c %a "$tmp/keys/auditor-test.key")" = 400 ] && [ -f "$tmp/keys/auditor-test.pub" ] &&
        ok "ratchetctl keygen writes NAME.key (0400) and NAME.pub" || bad "ratchetctl keygen writes NAME.key (0400) and NAME.pub"
    [ "$(st "$build/ratchetctl" keygen --out "$tmp/keys" --name auditor-test)" = 1 ] && grep -q "refusing to overwrite" "$tmp/out" &&
        ok "ratchetctl keygen refuses to overwrite" || bad "ratchetctl keygen refuses to overwrite"
    "$tmp/gen_log" --dir "$tmp/c" --key "$tmp/keys/auditor-test.key" --name auditor-test --origin ratchet.test/c \
        --records 3 >/dev/null 2>&1 && sh "$recipe" "$tmp/c/commands.log" "$tmp/keys/auditor-test.pub" "$tmp/c/checkpoint" >"$tmp/out" 2>&1 &&
        ok "a keygen key signs a log the recipe accepts" || bad "a keygen key signs a log the recipe accepts"
    [ "$(st "$build/ratchetctl" log verify --log "$log")" = 2 ] && ok "log verify without --pubkey is a usage error (2)" ||
        bad "log verify without --pubkey is a usage error (2)"
    "$build/ratchetctl" log show --log "$log" >"$tmp/out" 2>&1 && grep -q "moved to Limited live because" "$tmp/out" &&
        ok "log show prints each demotion's user_message" || bad "log show prints each demotion's user_message"
    "$build/ratchetctl" log show --log "$log" --json --bot bot-1 >"$tmp/out" 2>&1 &&
        [ "$(grep -c '"bot":"bot-1".*"user_message":' "$tmp/out")" -ge 1 ] && ! grep -q '"bot":"bot-5"' "$tmp/out" &&
        ok "log show --json --bot filters and adds user_message" || bad "log show --json --bot filters and adds user_message"
    [ "$(st "$build/ratchetctl" log show --log "$tmp/t6")" = 1 ] && grep -q "line 3: not a record" "$tmp/out" &&
        ok "log show flags a damaged line (exit 1)" || bad "log show flags a damaged line (exit 1)"
    ctl() { "$build/ratchetctl" log verify --log "$1" --pubkey "$2" ${3:+--checkpoint "$3"} --no-history >"$tmp/out" 2>&1; }
    ctl "$tmp/a/commands.log" "$tmp/k1.pub" "$tmp/a/checkpoint" && ok "ratchetctl log verify agrees (valid)" ||
        bad "ratchetctl log verify agrees (valid)"
    ctl "$fx/commands.log" "$fx/genesis.pub" "$fx/checkpoint" && ok "ratchetctl log verify accepts the fixture" ||
        bad "ratchetctl log verify accepts the fixture"
    for t in t1:3 t2:3 t3:4 t4:4 t5:6 t6:2; do
        f=${t%:*} s=${t#*:}
        ctl "$tmp/$f" "$tmp/k1.pub"
        st=$?
        [ $st -eq 1 ] && grep -q "INVALID: seq $s:" "$tmp/out" && ok "ratchetctl log verify agrees on $f (seq $s)" ||
            bad "ratchetctl log verify agrees on $f (exit $st)"
    done
fi
finish
