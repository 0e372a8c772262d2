#!/bin/sh
# Chaos scenario 6: clock steps. Real ratchet-watchdog and ratchet-enforcer,
# both under libfaketime (LD_PRELOAD of libfaketimeMT.so.1) with a runtime-
# changeable offset: FAKETIME_TIMESTAMP_FILE names a file this script
# rewrites (by rename) from "+0" to "+2h" and back, and FAKETIME_NO_CACHE=1
# makes every clock read see the change at once. That is the host's clock
# stepping under both daemons (the enforcer must share the watchdog's clock:
# it refuses a decided_at in its future).
#
# Two runs, fresh daemons each:
#   excl  FAKETIME_DONT_FAKE_MONOTONIC=1, what `faketime --exclude-monotonic`
#         sets: only the wall clock steps; libfaketime 0.9.10 then leaves
#         CLOCK_MONOTONIC and CLOCK_BOOTTIME (the engine's timeline) real.
#   mono  the monotonic clock faked too (faketime's default): 0.9.10 fakes
#         CLOCK_MONOTONIC and CLOCK_BOOTTIME with the same offset, so every
#         clock the daemons read jumps together.
# Injects, in each run, window W = 8 s (p0_alert):
#   b1  window open (alert started at T1) when the wall clock steps +2h at T1+2
#   b2  an alert stamped before that step (T1+1.5), delivered after it
#   b3  window opened at T1+3 (on the +2h clock); the clock steps -2h at T1+5
#   b4  an alert stamped before the -2h step (on the +2h clock), delivered
#       after it: 2 h in the future of the new clock
#   (mono only) the clock steps +2h again, after b3's and b4's real deadlines
# Checks, against this script's own clock (never faked: lib_clock.py turns
# the daemons' faked record times back into real ones from the schedule of
# steps) and the signed records, as docs/policy.md "Clocks" says:
#   excl  b1 and b3 demoted at their original monotonic deadline (not at the
#         +2h step, 6 s early; not 2 h late after the -2h step); b2's window
#         placed at the step (not 2 h before it); b4's at its delivery (not 2 h
#         in the future); decided_at - window_start = W; a status sampler
#         (every 100 ms) never saw a bot demoted before its real deadline.
#   mono  the engine cannot tell a jump of every clock from elapsed time:
#         b1 and b2 complete at the first evaluation after the +2h jump (before
#         their real deadlines: docs/policy.md says so); after the -2h jump b3
#         and b4 wait, past their real deadlines, until the clocks come back,
#         then complete at the next evaluation (never early in real time;
#         the sampler's requests wake the watchdog's event loop, which would
#         otherwise sleep on); b4's window opens at its delivery.
#   both  one demote record per bot, the log verifies, nothing pending.
# Alertmanager is not used: evidence is posted to the watchdog's webhook with
# curl (as t_enforcer.sh does), stamped from the stepped clock. Alertmanager
# is a Go program, which reads the clock through the vDSO itself and so never
# sees libfaketime's clock (checked: run with libfaketime at +2h, its
# /api/v2/status "uptime" is the real time), so its startsAt would not step
# with the host's clock as they would on a real host.
# Needs faketime/libfaketime (0.9.10).
# Usage: sh chaos/6-clock-steps.sh [BUILD] (from the repo root)
set -u
IT_BUILD=${1:-build}
. tests/integration/lib.sh
. tests/integration/lib_peers.sh
. chaos/lib_clock.sh
peers_setup
d=$IT_DIR
# the enforcer (root here) sets chattr +a on its log: clear it so that it_cleanup can remove it
trap 'chattr -a "$d"/*/enf/commands.log "$d"/*/enf/checkpoints 2>/dev/null; it_cleanup' EXIT
W=8        # the p0_alert window (s)
SLACK=4    # a demotion may come this long after it is due (1 s evaluation tick, load)
S=7200     # the step: 2 h
openssl genpkey -algorithm ed25519 -out "$d/key.pem" 2>/dev/null && chmod 400 "$d/key.pem"
openssl pkey -in "$d/key.pem" -pubout -out "$d/key.pub"
[ -r "$CK_FTLIB" ] || { it_bad "libfaketime is installed ($CK_FTLIB)"; it_finish; exit 1; }

# ---- excl: only the wall clock steps ----------------------------------------
ck_start excl
T1=$(now_s)
ck_fire b1 "$T1"
wait_until "$(ck_add "$T1" 2)"
pre2=$(ck_add "$(now_s)" -0.5)
ck_step "+2h" $S; Ts1=$CK_T
ck_fire b2 "$pre2"; Td2=$(now_s)
wait_until "$(ck_add "$T1" 3)"
T3=$(now_s)
ck_fire b3 "$(ck_add "$T3" $S)"
wait_until "$(ck_add "$T1" 5)"
pre4=$(ck_add "$(now_s)" $((S - 1)).5)
ck_step "+0" 0; Ts2=$CK_T
ck_fire b4 "$pre4"; Td4=$(now_s)
for b in b1 b2 b3 b4; do
    it_check "excl: $b demoted (one demote record)" it_wait_for 40 ck_records_are "$b" 1
done
ck_stop_sampler
ck_load b1
ck_explain b1 "$T1" "window opened at T1; +2h step at $(ck_rel "$Ts1" "$T1")"
it_check "excl: b1 window_start is its alert's startsAt" ck_near "$CK_WS" "$T1" 0.002
it_check "excl: b1 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "excl: b1 demoted at its original monotonic deadline T1+W, not early (+2h step)" ck_ge "$CK_TS" "$(ck_add "$T1" $W)"
it_check "excl: ... and not delayed (at most $SLACK s late)" ck_le "$CK_TS" "$(ck_add "$T1" $((W + SLACK)))"
ck_check_sampler excl b1 "$(ck_add "$T1" $W)"

ck_load b2
ck_explain b2 "$T1" "stamped $(ck_rel "$pre2" "$T1") (before the +2h step), delivered at $(ck_rel "$Td2" "$T1")"
it_check "excl: b2 placed at the +2h step (window_start within [step, delivery])" \
    ck_between "$CK_WS" "$Ts1" "$Td2"
it_check "excl: b2 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "excl: b2 demoted no earlier than step + W" ck_ge "$CK_TS" "$(ck_add "$Ts1" $W)"
it_check "excl: ... and at most $SLACK s after window_start + W" ck_le "$CK_TS" "$(ck_add "$CK_WS" $((W + SLACK)))"
ck_check_sampler excl b2 "$(ck_add "$Ts1" $W)"

ck_load b3
ck_explain b3 "$T1" "window opened at $(ck_rel "$T3" "$T1") (on the +2h clock); -2h step at $(ck_rel "$Ts2" "$T1")"
it_check "excl: b3 window_start is its alert's startsAt" ck_near "$CK_WS" "$T3" 0.002
it_check "excl: b3 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "excl: b3 demoted at its original monotonic deadline, not early (-2h step)" ck_ge "$CK_TS" "$(ck_add "$T3" $W)"
it_check "excl: ... and not delayed by the -2h step (at most $SLACK s late)" ck_le "$CK_TS" "$(ck_add "$T3" $((W + SLACK)))"
ck_check_sampler excl b3 "$(ck_add "$T3" $W)"

ck_load b4
ck_explain b4 "$T1" "stamped $(ck_rel "$(ck_add "$pre4" -$S)" "$T1") on the +2h clock (2 h ahead of the clock after the -2h step), delivered at $(ck_rel "$Td4" "$T1")"
it_check "excl: b4 placed no later than its delivery (window_start within [step, delivery])" \
    ck_between "$CK_WS" "$Ts2" "$Td4"
it_check "excl: b4 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "excl: b4 demoted no earlier than window_start + W" ck_ge "$CK_TS" "$(ck_add "$CK_WS" $W)"
it_check "excl: ... and at most $SLACK s after it" ck_le "$CK_TS" "$(ck_add "$CK_WS" $((W + SLACK)))"
ck_check_sampler excl b4 "$(ck_add "$Ts2" $W)"
ck_finish_run excl

# ---- mono: every clock jumps (the monotonic and boot-time clocks too) -------
ck_start mono
T1=$(now_s)
ck_fire b1 "$T1"
wait_until "$(ck_add "$T1" 2)"
pre2=$(ck_add "$(now_s)" -0.5)
ck_step "+2h" $S; Ts1=$CK_T
ck_fire b2 "$pre2"; Td2=$(now_s)
it_check "mono: b1 demoted after the +2h jump" it_wait_for 30 ck_records_are b1 1
it_check "mono: b2 demoted after the +2h jump" it_wait_for 30 ck_records_are b2 1
ck_load b1
ck_explain b1 "$T1" "window opened at T1; every clock +2h at $(ck_rel "$Ts1" "$T1")"
it_check "mono: b1 window_start is its alert's startsAt" ck_near "$CK_WS" "$T1" 0.05
it_check "mono: b1 decided_at = window_start + W (on the engine's timeline, never early)" \
    ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "mono: b1 completed at the first evaluation after the jump (the 2 h counted as elapsed)" \
    ck_between "$CK_TS" "$Ts1" "$(ck_add "$Ts1" $SLACK)"
it_check "mono: ... which is before its real deadline T1+W (as docs/policy.md says)" ck_le "$CK_TS" "$(ck_add "$T1" $W)"
ck_load b2
ck_explain b2 "$T1" "stamped $(ck_rel "$pre2" "$T1") (before the jump), delivered at $(ck_rel "$Td2" "$T1")"
it_check "mono: b2 window_start is its stamp (no wall-clock step seen: not moved to the jump)" ck_near "$CK_WS" "$pre2" 0.05
it_check "mono: b2 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "mono: b2 completed right after its delivery" ck_between "$CK_TS" "$Ts1" "$(ck_add "$Td2" $SLACK)"

wait_until "$(ck_add "$T1" 3)"
T3=$(now_s)
ck_fire b3 "$(ck_add "$T3" $S)"
wait_until "$(ck_add "$T1" 5)"
pre4=$(ck_add "$(now_s)" $((S - 1)).5)
ck_step "+0" 0; Ts2=$CK_T
ck_fire b4 "$pre4"; Td4=$(now_s)
# past both real deadlines (and the slack), the -2h jump still holds them
wait_until "$(ck_add "$Td4" $((W + SLACK)))"
it_check "mono: b3 not demoted by its real deadline + $SLACK s (the -2h jump delays it)" ck_records_are b3 0
it_check "mono: b4 not demoted by its real deadline + $SLACK s" ck_records_are b4 0
it_check "mono: b3 and b4 still in General live with their windows open" \
    pok "$CK_WD/api/v1/status" 'all(bot(b)["readiness"] == "general_live" and cond(b, "p0_alert")["window_open"] for b in ("b3", "b4"))'
ck_step "+2h" $S; Ts3=$CK_T
it_check "mono: b3 demoted once the clocks are back" it_wait_for 30 ck_records_are b3 1
it_check "mono: b4 demoted once the clocks are back" it_wait_for 30 ck_records_are b4 1
ck_stop_sampler
ck_load b3
ck_explain b3 "$T1" "window opened at $(ck_rel "$T3" "$T1"); every clock -2h at $(ck_rel "$Ts2" "$T1"), +2h again at $(ck_rel "$Ts3" "$T1")"
it_check "mono: b3 window_start is its alert's startsAt (on the +2h clock)" ck_near "$CK_WS" "$(ck_add "$T3" $S)" 0.05
it_check "mono: b3 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "mono: b3 completed at the first evaluation after the clocks came back" \
    ck_between "$CK_TS" "$Ts3" "$(ck_add "$Ts3" $SLACK)"
it_check "mono: ... not early in real time (after T3+W)" ck_ge "$CK_TS" "$(ck_add "$T3" $W)"
ck_check_sampler mono b3 "$(ck_add "$T3" $W)"
ck_load b4
ck_explain b4 "$T1" "stamped 2 h ahead of the clock after the -2h jump, delivered at $(ck_rel "$Td4" "$T1")"
it_check "mono: b4 placed no later than its delivery" ck_between "$CK_WS" "$Ts2" "$(ck_add "$Td4" 0.05)"
it_check "mono: b4 decided_at = window_start + W" ck_near "$(ck_sub "$CK_DEC" "$CK_WS")" $W 0.001
it_check "mono: b4 completed at the first evaluation after the clocks came back" \
    ck_between "$CK_TS" "$Ts3" "$(ck_add "$Ts3" $SLACK)"
it_check "mono: ... not early in real time (after its delivery + W)" ck_ge "$CK_TS" "$(ck_add "$Td4" $W)"
ck_check_sampler mono b4 "$(ck_add "$Td4" $W)"
ck_finish_run mono
it_finish
