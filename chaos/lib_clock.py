#!/usr/bin/env python3
"""Helpers for chaos/6-clock-steps.sh. This process is never under
libfaketime: its clock is the real one.

  lib_clock.py sample URL OUT STOPFILE BOT...
      Every 100 ms until STOPFILE exists (at most 300 s), GET URL (the
      watchdog's status) and append one line to OUT:
        R0 R1 BOT=STATE ...
      R0/R1: real time before the request and after the answer; STATE: L if
      the bot is in Limited live or has a pending demotion, else G.
  lib_clock.py early OUT BOT DEADLINE
      Prints "BEFORE EARLY": samples answered before the real time DEADLINE,
      and how many of them already showed BOT demoted (must be 0).
  lib_clock.py record LOG BOT
      Prints "WS DECIDED TS" (epoch seconds) of BOT's demote record, or fails.
  lib_clock.py real SCHEDULE FAKE
      The real time of the faked time FAKE, from SCHEDULE (lines "REAL
      OFFSET_SECONDS": from REAL on, the fake clock is real + OFFSET). Fails if
      no segment or more than one segment could have shown FAKE.
"""
import json
import os
import sys
import time
import urllib.request
from datetime import datetime

TOL = 0.05  # a clock read racing the rename of the timestamp file


def ts(s):
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    if "." in s:
        head, rest = s.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        s = head + "." + (rest[:i] + "000000")[:6] + rest[i:]
    return datetime.fromisoformat(s).timestamp()


def sample(url, out, stop, bots):
    end = time.time() + 300
    with open(out, "a") as f:
        while not os.path.exists(stop) and time.time() < end:
            r0 = time.time()
            try:
                with urllib.request.urlopen(url, timeout=3) as r:
                    d = json.load(r)
            except Exception:  # busy: sample again
                time.sleep(0.1)
                continue
            r1 = time.time()
            pend = {p.get("bot") for p in d.get("pending_demotions", [])}
            state = {b.get("bot"): b.get("readiness") for b in d.get("bots", [])}
            cols = ["%s=%s" % (b, "L" if state.get(b) == "limited_live" or b in pend else "G") for b in bots]
            f.write("%.6f %.6f %s\n" % (r0, r1, " ".join(cols)))
            f.flush()
            time.sleep(0.1)


def early(out, bot, deadline):
    before = bad = 0
    for line in open(out):
        parts = line.split()
        r1 = float(parts[1])
        st = dict(p.split("=", 1) for p in parts[2:])
        if r1 < deadline:
            before += 1
            bad += st.get(bot) == "L"
    print(before, bad)


def record(log, bot):
    for line in open(log, "rb").read().split(b"\n"):
        try:
            r = json.loads(line.split(b"\t")[0])
        except ValueError:
            continue
        if r.get("type") == "demote" and r.get("bot") == bot:
            print("%.6f %.6f %.6f" % (ts(r["window_start"]), ts(r["decided_at"]), ts(r["ts"])))
            return 0
    return 1


def real(schedule, fake):
    seg = [tuple(float(x) for x in line.split()) for line in open(schedule) if line.strip()]
    hits = []
    for i, (start, off) in enumerate(seg):
        end = seg[i + 1][0] if i + 1 < len(seg) else float("inf")
        r = fake - off
        if start - TOL <= r < end + TOL:
            hits.append(r)
    if len(hits) != 1:
        print("no unique real time for %.6f: %s" % (fake, hits), file=sys.stderr)
        return 1
    print("%.6f" % hits[0])
    return 0


def main(a):
    if len(a) >= 4 and a[0] == "sample":
        sample(a[1], a[2], a[3], a[4:])
        return 0
    if len(a) == 4 and a[0] == "early":
        early(a[1], a[2], float(a[3]))
        return 0
    if len(a) == 3 and a[0] == "record":
        return record(a[1], a[2])
    if len(a) == 3 and a[0] == "real":
        return real(a[1], float(a[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
