#!/usr/bin/env python3
"""Follows the scale benchmark's watchdog through its poll cycles without
loading it: every 0.5 s it reads the status of one bot (small), and when the
error-rate evidence of that bot is new (a Prometheus poll was applied), it
reads /metrics once (4 MB at 100,000 bots) for ratchet_source_apply_seconds.

  scale_watch.py URL BOT CYCLES TIMEOUT

Prints one line per cycle, "cycle N prometheus=S drift=S", and exits 0
after CYCLES cycles, 1 on timeout."""
import json
import sys
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def apply_seconds(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("ratchet_source_apply_seconds{"):
            name, value = line.split()
            out[name.split('"')[1]] = float(value)
    return out


def main(url, bot, cycles, timeout):
    end = time.time() + timeout
    last, n = None, 0
    while time.time() < end:
        try:
            st = json.loads(get("%s/api/v1/status?bot=%s" % (url, bot)))
            ts = st["bots"][0]["conditions"]["error_rate"].get("last_evidence", {}).get("ts")
        except (OSError, ValueError, KeyError, IndexError):
            ts = None
        if ts and ts != last:
            if last is not None:
                n += 1
                a = apply_seconds(get(url + "/metrics"))
                print("cycle %d prometheus=%s drift=%s" % (n, a.get("prometheus", ""), a.get("drift", "")), flush=True)
                if n >= cycles:
                    return 0
            last = ts
        time.sleep(0.5)
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
