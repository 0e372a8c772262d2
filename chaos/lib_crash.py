#!/usr/bin/env python3
"""Helpers for chaos/1-watchdog-crash.sh and chaos/2-enforcer-crash.sh
(Python standard library only). Timing-critical steps (a kill some
microseconds after an event) are done here, not in the shell.

  lib_crash.py plan1 SEED RUNS WINDOW
      The crash plan of scenario 1, one line per run:
        RUN RUN_SEED DOWNTIME1,... OFFSET1,...|- HANDOFF_US
      how long the watchdog stays down after each kill (s); the offsets
      after startsAt at which it is killed (s; 0: just before the alert is
      posted); HANDOFF_US: kill it that many microseconds after it logs its
      decision (-1: no such kill).
  lib_crash.py plan2 SEED RUNS [nostrace]
      The crash plan of scenario 2 (nostrace: timed runs only), one line
      per run:
        RUN RUN_SEED MODE ARG TORN
      MODE "timed": ARG is the delay (us) after the answer to the resolve
      (when the watchdog has handed the demotion over: see fire_kill);
      MODE "syscall": ARG is SYSCALL:N (strace kills at the Nth entry);
      TORN: bytes of a simulated torn write appended after the kill (0: none).
  lib_crash.py alert AM_URL BOT STARTS_EPOCH
      Post a firing P0 alert for BOT to Alertmanager's API, startsAt given
      (0: now, to the microsecond). Prints "STARTS http=CODE".
  lib_crash.py sleep_until EPOCH
  lib_crash.py fire_kill WD_URL TOKEN_FILE BOT FINGERPRINT PID DELAY_US
      Post to the watchdog a P0 webhook for BOT, firing since 10 s ago, then
      its resolve: the watchdog decides the demotion (5 s window) and hands
      it over while handling the resolve. SIGKILL PID DELAY_US microseconds
      after that answer (DELAY_US -1: no kill). Prints "http=CODE
      killed_after_us=N".
  lib_crash.py kill_at_line FILE TEXT PID EXE_NAME DELAY_US SECONDS
      Wait (up to SECONDS) until FILE holds a line containing TEXT, then
      SIGKILL PID (if it still runs EXE_NAME) DELAY_US microseconds later.
      Prints "killed_after_us=N", or "timeout" (exit 1).
  lib_crash.py wait_dead PID SECONDS
      Wait until the enforcer PID is dead (exit 0) or SECONDS pass (exit 1).
  lib_crash.py logstat LOG
      Count the log's well-formed records (body TAB 88-character signature,
      JSON body) and print key=value lines: records, size, ends_lf, torn
      (lines that are not records), torn_tails, demote_<bot>=N,
      demote_seq_<bot>=SEQ, actuated_<for_seq>=N, max_demote, max_actuated.
      Cryptographic checks are `ratchetctl log verify`'s job.
  lib_crash.py demotes LOG BOT
      BOT's well-formed demote records: "COUNT WINDOW_START DECIDED_AT TS"
      (epoch seconds, of the first one; "0 none none none" if none).
  lib_crash.py torn LOG NBYTES
      Append NBYTES of a plausible record line, without its LF (a write
      torn by a crash: the prefix of the next record), to LOG.
"""
import os
import signal
import sys
import time

# Every step of a run starts this script; importing only what a step needs
# keeps that cheap (json, re, random and calendar are imported where used).


def plan1(seed, runs, window):
    import random
    master = random.Random(seed)
    for run in range(1, runs + 1):
        rs = master.randrange(1 << 31)
        r = random.Random(rs)
        kills = r.choice([1, 1, 2, 2, 3])
        # A last kill 0-3 ms after the watchdog logs its decision: while it
        # journals the demotion, sends it to the enforcer or takes the ACK.
        handoff = r.randint(0, 3000) if r.random() < 0.3 else -1
        # The others inside the window, and up to 1.1 s past it (the
        # decision and the hand-off).
        limit = window if handoff >= 0 else window + 1.1
        offs = [r.uniform(0.0, limit) for _ in range(kills - (handoff >= 0))]
        if offs and r.random() < 0.3:
            offs[0] = 0.0  # down when Alertmanager delivers the alert
        offs = sorted(round(o, 3) for o in offs)
        downs = [round(r.uniform(0.0, 0.6), 3) for _ in range(kills)]
        print(run, rs, ",".join("%.3f" % d for d in downs), ",".join("%.3f" % o for o in offs) or "-", handoff)


# Write-path syscalls of the enforcer (strace -y shows them). A restarted
# enforcer makes (first, last) of each: first is the first one after its
# start-up (checkpoint, readiness.json, two lines on stderr; the "peer
# connected" line is write 6), last is about where an actuation ends after
# the demotion (the log's write + fdatasync, the checkpoint history's,
# checkpoint.tmp + rename + directory fsync, readiness.json likewise, a line
# on stderr, the ACK's writev).
SYSCALLS = [("write", 6, 15), ("write", 6, 15), ("fdatasync", 3, 8), ("fdatasync", 3, 8), ("fsync", 4, 7),
            ("rename", 3, 5), ("writev", 2, 3)]


def plan2(seed, runs, strace=True):
    import random
    master = random.Random(seed)
    for run in range(1, runs + 1):
        rs = master.randrange(1 << 31)
        r = random.Random(rs)
        torn = r.choice([0] * 7 + [r.randint(1, 700)])
        if r.random() < 0.3 and strace:
            # N counts from the enforcer's start (its start-up writes too).
            sc, first, last = r.choice(SYSCALLS)
            if r.random() < 0.2:
                first = 1  # maybe in start-up, maybe in the torn-tail recovery
            print(run, rs, "syscall", "%s:%d" % (sc, r.randint(first, last)), torn)
        else:
            # Log-uniform from 30 us to 1.2 s: the append, checkpoint and
            # ACK take a few milliseconds, the actuation comes up to a second
            # later.
            print(run, rs, "timed", int(30 * (40000 ** r.random())), torn)


def post(url, body, headers, timeout=10):
    """POST to an http://127.0.0.1:PORT/path URL; returns the status code
    (a raw HTTP/1.1 request: urllib alone takes longer to import than a run
    step should)."""
    import socket
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.partition(":")
    head = "POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        path, hostport, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    with socket.create_connection((host, int(port or 80)), timeout=timeout) as s:
        s.sendall(head.encode() + body)
        resp = b""
        while b"\r\n" not in resp:
            chunk = s.recv(4096)
            if not chunk:
                break
            resp += chunk
        # read the rest, so that the answer is complete when this returns
        while s.recv(65536):
            pass
    return int(resp.split(b" ", 2)[1])


def rfc3339(t):
    sec, us = divmod(int(round(t * 1e6)), 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%06dZ" % us


def alert(am, bot, starts):
    import json
    if starts <= 0:
        starts = round(time.time(), 6)
    body = json.dumps([{"labels": {"alertname": "P0Down", "bot": bot, "severity": "P0"},
                        "annotations": {"summary": bot + " down (chaos)"},
                        "startsAt": rfc3339(starts)}]).encode()
    code = post(am.rstrip("/") + "/api/v2/alerts", body, {"Content-Type": "application/json"})
    print("%.6f http=%d" % (starts, code))
    return 0 if code == 200 else 1


def sleep_until(t):
    while True:
        left = t - time.time()
        if left <= 0:
            return 0
        time.sleep(min(left, 0.05))


def spin_until(end):
    """Sleep most of the way to perf_counter() == end, spin the rest."""
    while True:
        left = end - time.perf_counter()
        if left <= 0:
            return
        if left > 0.002:
            time.sleep(left - 0.001)


def kill_if(pid, exe_name):
    """SIGKILL pid if it still runs exe_name: pids are reused quickly."""
    try:
        if os.readlink("/proc/%d/exe" % pid).endswith("/" + exe_name):
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def kill_at_line(path, text, pid, exe_name, delay_us, seconds):
    want = text.encode()
    end = time.time() + seconds
    pos, buf = 0, b""
    while time.time() < end:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        pos += len(data)
        buf = buf[-len(want):] + data
        if want in buf:
            t0 = time.perf_counter()
            spin_until(t0 + delay_us / 1e6)
            kill_if(pid, exe_name)
            print("killed_after_us=%d" % int((time.perf_counter() - t0) * 1e6))
            return 0
        time.sleep(0.0002)
    print("timeout")
    return 1


def fire_kill(wd, token_file, bot, fp, pid, delay_us):
    """A P0 alert that fired 10 s ago and resolves now: with a 5 s window the
    resolve settles the window, so the watchdog decides and hands the
    demotion to the enforcer while it handles that webhook."""
    import json
    with open(token_file) as f:
        token = f.read().strip()
    now = time.time()
    alert = {"status": "firing", "labels": {"alertname": "P0", "bot": bot, "severity": "P0"},
             "annotations": {}, "startsAt": rfc3339(now - 10), "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "", "fingerprint": fp}
    payload = {"receiver": "r", "status": "firing", "alerts": [alert], "groupLabels": {}, "commonLabels": {},
               "commonAnnotations": {}, "externalURL": "x", "version": "4", "groupKey": "{}",
               "truncatedAlerts": 0}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    url = wd.rstrip("/") + "/webhook/alertmanager"
    code = post(url, json.dumps(payload).encode(), headers)
    if code == 200:
        payload["status"] = alert["status"] = "resolved"
        alert["endsAt"] = rfc3339(time.time())
        code = post(url, json.dumps(payload).encode(), headers)
    t0 = time.perf_counter()
    after = -1
    if delay_us >= 0:
        spin_until(t0 + delay_us / 1e6)
        kill_if(pid, "ratchet-enforcer")
        after = int((time.perf_counter() - t0) * 1e6)
    print("http=%d killed_after_us=%d" % (code, after))
    return 0


def wait_dead(pid, seconds):
    """Until pid is no longer a live ratchet-enforcer (gone, a zombie, or the
    pid reused by another program)."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            if not os.readlink("/proc/%d/exe" % pid).endswith("/ratchet-enforcer"):
                return 0
        except OSError:  # gone, or a zombie (no exe)
            return 0
        time.sleep(0.002)
    return 1


def is_record(line):
    import json
    body, tab, sig = line.partition(b"\t")
    if not tab or len(sig) != 88 or not sig.endswith(b"=="):
        return None
    try:
        rec = json.loads(body)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("seq"), int) else None


def logstat(path):
    data = open(path, "rb").read()
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last LF: b"" when the file ends with one
    out = {"records": 0, "size": len(data), "ends_lf": int(data.endswith(b"\n") or not data), "torn": 0,
           "torn_tails": 0}
    demote, dseq, actuated = {}, {}, {}
    for line in lines + ([tail] if tail else []):
        rec = is_record(line)
        if rec is None:
            out["torn"] += 1
            continue
        out["records"] += 1
        t = rec.get("type")
        if t == "demote":
            demote[rec["bot"]] = demote.get(rec["bot"], 0) + 1
            dseq[rec["bot"]] = rec["seq"]
        elif t == "actuated":
            actuated[rec["for_seq"]] = actuated.get(rec["for_seq"], 0) + 1
        elif t == "torn_tail":
            out["torn_tails"] += 1
    out["max_demote"] = max(demote.values(), default=0)
    out["max_actuated"] = max(actuated.values(), default=0)
    out["demotes"] = sum(demote.values())
    out["actuateds"] = sum(actuated.values())
    out["unactuated"] = sum(1 for s in dseq.values() if s not in actuated)
    for k, v in sorted(out.items()):
        print("%s=%s" % (k, v))
    for b, n in sorted(demote.items()):
        print("demote_%s=%d" % (b, n))
        print("demote_seq_%s=%d" % (b, dseq[b]))
    for s, n in sorted(actuated.items()):
        print("actuated_%d=%d" % (s, n))
    return 0


def epoch(s):
    """RFC 3339 UTC as the log writes it to epoch seconds."""
    import calendar
    import re
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", s)
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return t + (int(m.group(2)) / 10 ** len(m.group(2)) if m.group(2) else 0)


def demotes(path, bot):
    recs = []
    for line in open(path, "rb").read().split(b"\n"):
        rec = is_record(line)
        if rec and rec.get("type") == "demote" and rec.get("bot") == bot:
            recs.append(rec)
    if not recs:
        print("0 none none none")
        return 0
    r = recs[0]
    print("%d %.6f %.6f %.6f" % (len(recs), epoch(r["window_start"]), epoch(r["decided_at"]), epoch(r["ts"])))
    return 0


def torn(path, nbytes):
    # The prefix of a record like the last one, as a crash mid-write leaves it.
    import re
    data = open(path, "rb").read()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    m = re.match(rb'\{"v":1,"seq":([0-9]+),', last)
    line = last.replace(m.group(0), b'{"v":1,"seq":%d,' % (int(m.group(1)) + 1), 1) if m else last
    prefix = line[:max(1, min(nbytes, len(line) - 1))]
    with open(path, "ab") as f:  # O_APPEND: allowed on a chattr +a file
        f.write(prefix)
    print(len(prefix))
    return 0


def main(a):
    cmd = a[0] if a else ""
    if cmd == "plan1" and len(a) == 4:
        return plan1(int(a[1]), int(a[2]), float(a[3]))
    if cmd == "plan2" and len(a) in (3, 4):
        return plan2(int(a[1]), int(a[2]), len(a) == 3 or a[3] != "nostrace")
    if cmd == "alert" and len(a) == 4:
        return alert(a[1], a[2], float(a[3]))
    if cmd == "sleep_until" and len(a) == 2:
        return sleep_until(float(a[1]))
    if cmd == "fire_kill" and len(a) == 7:
        return fire_kill(a[1], a[2], a[3], a[4], int(a[5]), int(a[6]))
    if cmd == "kill_at_line" and len(a) == 7:
        return kill_at_line(a[1], a[2], int(a[3]), a[4], int(a[5]), float(a[6]))
    if cmd == "wait_dead" and len(a) == 3:
        return wait_dead(int(a[1]), float(a[2]))
    if cmd == "logstat" and len(a) == 2:
        return logstat(a[1])
    if cmd == "demotes" and len(a) == 3:
        return demotes(a[1], a[2])
    if cmd == "torn" and len(a) == 3:
        return torn(a[1], int(a[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
