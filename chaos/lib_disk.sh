# Helpers for chaos/5-disk-faults.sh (POSIX sh; sourced after lib.sh and
# lib_peers.sh). They use the script's globals: d (the test dir), ENF (the
# enforcer's state dir, a tmpfs), LOG, WD (the watchdog's URL), IT_BUILD.
# shellcheck disable=SC2154 # d, ENF, LOG and WD are the script's

DK_SUP="" DK_MOUNT=""

# dk_cleanup: stop the restart loop and its enforcer, unmount the tmpfs, then
# the usual it_cleanup (which also prints the logs on failure).
dk_cleanup() {
    : >"$d/sup.stop"
    dk_i=0
    while [ -n "$DK_SUP" ] && kill -0 "$DK_SUP" 2>/dev/null && [ $dk_i -lt 50 ]; do
        [ -s "$d/enf.pid" ] && kill -9 "$(cat "$d/enf.pid")" 2>/dev/null
        sleep 0.1
        dk_i=$((dk_i + 1))
    done
    [ -n "$DK_SUP" ] && kill -9 "$DK_SUP" 2>/dev/null
    [ -s "$d/enf.pid" ] && kill -9 "$(cat "$d/enf.pid")" 2>/dev/null
    if [ -n "$DK_MOUNT" ]; then
        umount "$DK_MOUNT" 2>/dev/null || umount -l "$DK_MOUNT"
    fi
    it_cleanup
}

# dk_supervise CMD...: run CMD under libfiu's POSIX preload, again 0.3 s after
# each exit (systemd's Restart=always), until $d/sup.stop exists. A fault
# named in $d/fiu.cmds is enabled from the start of every run, so that it
# outlasts restarts. Prints "supervisor: start N" and "supervisor: exit
# status S" (its own lines: they survive a fault that fails the daemon's
# writes to stderr).
dk_supervise() {
    dk_n=0
    while [ ! -e "$d/sup.stop" ]; do
        dk_n=$((dk_n + 1))
        echo "supervisor: start $dk_n"
        if [ -s "$d/fiu.cmds" ]; then
            fiu-run -x -f "$d/fiu" -c "$(cat "$d/fiu.cmds")" "$@" &
        else
            fiu-run -x -f "$d/fiu" "$@" &
        fi
        echo $! >"$d/enf.pid"
        wait $!
        echo "supervisor: exit status $?"
        sleep 0.3
    done
}
dk_starts() { grep -c '^supervisor: start' "$d/supervisor.log"; }
dk_exits() { grep -c '^supervisor: exit status' "$d/supervisor.log"; }
dk_exits_at_least() { test "$(dk_exits)" -ge "$1"; }
# dk_exits_since N STATUS: every exit after the first N had STATUS.
dk_exits_since() {
    grep '^supervisor: exit status' "$d/supervisor.log" | tail -n +$(($1 + 1)) | grep -vqx "supervisor: exit status $2" &&
        return 1
    return 0
}
dk_ready_count() { grep -c 'ready: log verified' "$d/supervisor.log"; }
dk_ready_count_is() { test "$(dk_ready_count)" = "$1"; }
dk_failed_count() { grep -c 'the command log failed; exiting' "$d/supervisor.log"; }

DK_PY="python3 chaos/lib_disk.py"

# dk_fire BOT...: one webhook with a P0 alert per BOT, each started 10 s ago
# (its 5 s window is already complete); prints the HTTP status.
dk_fire() {
    dk_started=$(date -u -d '-10 seconds' +%Y-%m-%dT%H:%M:%SZ)
    dk_alerts="" dk_sep=""
    for dk_b in "$@"; do
        dk_fp=$(printf '%016x' "$(echo "$dk_b" | cksum | cut -d' ' -f1)")
        dk_alerts="$dk_alerts$dk_sep"'{"status":"firing","labels":{"alertname":"P0","bot":"'"$dk_b"'","severity":"P0"},"annotations":{},"startsAt":"'"$dk_started"'","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"'"$dk_fp"'"}'
        dk_sep=,
    done
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Authorization: Bearer tok' \
        -H 'Content-Type: application/json' \
        --data '{"receiver":"r","status":"firing","alerts":['"$dk_alerts"'],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"x","version":"4","groupKey":"{}","truncatedAlerts":0}' \
        "$WD/webhook/alertmanager"
}
# dk_records_are BOT N: N demote records of BOT (complete lines; a torn
# prefix of a record is not one).
dk_records_are() { test "$($DK_PY records "$LOG" "$1")" = "$2"; }
dk_demote_count() { $DK_PY demotes "$LOG"; }
dk_next_seq() { $DK_PY nextseq "$LOG"; }
dk_pending() { pq "$WD/api/v1/status?bot=base" 'd["enforcer"]["pending"]'; }
dk_pending_is() { test "$(dk_pending)" = "$1"; }

# dk_slack: bytes left in the last page of the log (tmpfs allocates pages).
dk_slack() { echo $(((4096 - $(stat -c %s "$LOG") % 4096) % 4096)); }
# dk_fill: take every free page of the tmpfs; dk_unfill gives them back.
dk_fill() {
    dd if=/dev/zero of="$ENF/filler" bs=4096 2>/dev/null
    test "$(df -B1 --output=avail "$ENF" | tail -n 1 | tr -d ' ')" = 0
}
dk_unfill() { rm -f "$ENF/filler"; }

# dk_fiu CMD: enable a libfiu fault in the running enforcer (fiu-ctrl) and in
# every restart (fiu.cmds). dk_fiu_off: restarts run without it (the running
# enforcer, failing, exits by itself).
dk_fiu() {
    printf '%s\n' "$1" >"$d/fiu.cmds"
    dk_out=$(timeout 10 fiu-ctrl -f "$d/fiu" -c "$1" "$(cat "$d/enf.pid")" 2>&1)
    [ -z "$dk_out" ] || echo "     fiu-ctrl: $dk_out"
}
dk_fiu_off() { rm -f "$d/fiu.cmds"; }

dk_verify() { "$IT_BUILD/ratchetctl" log verify --log "$LOG" --pubkey "$d/key.pub"; }
dk_verify_summary() { dk_verify 2>&1 | head -n 1 | sed "s|^$LOG: ||"; }
# dk_verify_no_partial: log verify either accepts the log with every
# complete line a record (the torn lines a torn_tail record covers
# excepted), or rejects it because of an incomplete last line of exactly the
# bytes after the last LF. Never a partial line counted as a record.
dk_verify_no_partial() {
    dk_out=$(dk_verify 2>&1)
    dk_st=$?
    dk_lines=$(wc -l <"$LOG")
    if [ $dk_st = 0 ]; then
        dk_n=$(printf '%s\n' "$dk_out" | sed -n 's/.*: valid: \([0-9]*\) records.*/\1/p')
        dk_lines_are "$dk_lines" && test "$dk_n" = $((dk_lines - $($DK_PY tornlines "$LOG")))
    else
        dk_tail=$(($(stat -c %s "$LOG") - $(head -n "$dk_lines" "$LOG" | wc -c)))
        printf '%s\n' "$dk_out" |
            grep -q "INVALID: seq [0-9]*: incomplete last line ($dk_tail bytes without newline: a torn write)"
    fi
}
# dk_torn_tail_is OFFSET BYTES: the log verifies, and a torn_tail record
# has that offset and size and the SHA-256 of those bytes.
dk_torn_tail_is() { dk_verify >/dev/null 2>&1 && $DK_PY torntail "$LOG" "$1" "$2"; }
# dk_acks_in_log: every acknowledgement in the watchdog's log names a demote
# record of that bot at that seq (nothing acknowledged that is not there).
dk_acks_in_log() { $DK_PY acks "$LOG" "$d/watchdog.log"; }
# dk_lines_are N: the log has N complete lines and ends with a LF.
dk_lines_are() {
    test "$(wc -l <"$LOG")" = "$1" && test "$(tail -c 1 "$LOG" | od -An -tx1 | tr -d ' ')" = 0a
}
# dk_verify_torn K: log verify rejects the log for its last K bytes (torn).
dk_verify_torn() {
    ! dk_verify >"$d/verify.out" 2>&1 && grep -q "incomplete last line ($1 bytes without newline" "$d/verify.out"
}
