#!/usr/bin/env python3
"""Helpers for chaos/5-disk-faults.sh that read the command log (they do not
verify signatures: `ratchetctl log verify` does that; these only count).

  lib_disk.py records LOG BOT         demote records of BOT (complete lines)
  lib_disk.py demotes LOG             all demote records
  lib_disk.py nextseq LOG             the seq the next record will get
  lib_disk.py tornlines LOG           lines covered by torn_tail records
  lib_disk.py torntail LOG OFF BYTES  exit 0 if a torn_tail record has that
                                      offset and size and the SHA-256 of
                                      those bytes of the log
  lib_disk.py acks LOG WATCHDOGLOG    exit 0 if every "acknowledged demotion
                                      of B (log record N" names a demote
                                      record of B at seq N
  lib_disk.py plan LOG LO HI ID...    print the pad bots (a subset of ID...)
                                      whose demote records bring the room
                                      left in the log's last 4 KiB page
                                      into [LO, HI]
"""
import hashlib
import itertools
import json
import re
import sys

PAGE = 4096


def records(path):
    """(record, line length with its LF) for each line that is a record."""
    data = open(path, "rb").read()
    out = []
    for line in data.split(b"\n")[:-1]:  # the last piece has no LF
        try:
            r = json.loads(line.split(b"\t")[0])
        except ValueError:
            continue  # torn bytes
        if isinstance(r, dict) and "seq" in r:
            out.append((r, len(line) + 1))
    return data, out


def plan(path, lo, hi, ids):
    data, recs = records(path)
    demotes = [(r, n) for r, n in recs if r.get("type") == "demote"]
    if not demotes:
        return None
    r, n = demotes[-1]
    base = n - len(r["bot"]) - len(str(r["seq"]))  # a demote line is base + bot + seq digits
    seq = recs[-1][0]["seq"] + 1
    slack = (-len(data)) % PAGE
    margin = 24  # a timestamp printed shorter, or an estimate a little off
    by_len = {}
    for b in ids:
        by_len.setdefault(len(b), []).append(b)
    # the fewest pads first; pads of one length are interchangeable
    for k in range(0, 7):
        for lens in itertools.combinations_with_replacement(sorted(by_len), k):
            if any(lens.count(n) > len(by_len[n]) for n in set(lens)):
                continue
            total = sum(base + n + len(str(seq + i)) for i, n in enumerate(lens))
            if lo + margin <= (slack - total) % PAGE <= hi - margin:
                return [by_len[n][lens[:i].count(n)] for i, n in enumerate(lens)]
    return None


def main(argv):
    cmd, path = argv[0], argv[1]
    if cmd == "records":
        _, recs = records(path)
        print(sum(1 for r, _ in recs if r.get("type") == "demote" and r.get("bot") == argv[2]))
    elif cmd == "demotes":
        _, recs = records(path)
        print(sum(1 for r, _ in recs if r.get("type") == "demote"))
    elif cmd == "nextseq":
        _, recs = records(path)
        print(recs[-1][0]["seq"] + 1 if recs else 0)
    elif cmd == "tornlines":
        data, recs = records(path)
        print(sum(data[r["offset"]:r["offset"] + r["torn_bytes"] + 1].count(b"\n")
                  for r, _ in recs if r.get("type") == "torn_tail"))
    elif cmd == "torntail":
        data, recs = records(path)
        off, k = int(argv[2]), int(argv[3])
        ok = any(r.get("type") == "torn_tail" and r["offset"] == off and r["torn_bytes"] == k
                 and r["torn_sha256"] == hashlib.sha256(data[off:off + k]).hexdigest() for r, _ in recs)
        return 0 if ok else 1
    elif cmd == "acks":
        _, recs = records(path)
        by_seq = {r["seq"]: r for r, _ in recs}
        acks = re.findall(r"acknowledged demotion of (\S+) \(log record (\d+)", open(argv[2]).read())
        bad = [(b, s) for b, s in acks
               if by_seq.get(int(s), {}).get("type") != "demote" or by_seq[int(s)].get("bot") != b]
        if bad or not acks:
            print("acknowledgements not matching a demote record of the bot:", bad or "none at all")
            return 1
    elif cmd == "plan":
        combo = plan(path, int(argv[2]), int(argv[3]), argv[4:])
        if combo is None:
            return 1
        print(" ".join(combo))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
