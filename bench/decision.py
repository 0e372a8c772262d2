#!/usr/bin/env python3
"""Inputs and figures for the decision-latency benchmark (bench/decision.sh).

  decision.py payload FIRST N WINDOW DELAY SPREAD
      An Alertmanager v4 webhook payload with N firing P0 alerts for bots
      bot-FIRST .. bot-(FIRST+N-1). Alert i started WINDOW - DELAY - i*SPREAD/N
      seconds ago, so its window (WINDOW s) completes DELAY + i*SPREAD/N s
      from now: spread evenly over SPREAD s (SPREAD 0: all at once).
  decision.py log COMMANDS_LOG FIRST N
      From the enforcer's signed log, for the demote records of those bots:
      ts (when the enforcer signed and wrote the record) minus decided_at
      (when the window completed), in ms: "n=.. p50_ms=.. p99_ms=.. max_ms=.."
  decision.py hist METRICS_BEFORE METRICS_AFTER NAME
      The observations a Prometheus histogram gained between two scrapes:
      "n=.. le_0.05=.. le_0.2=.. mean_ms=.." (fractions of n within 50 and
      200 ms)."""
import datetime
import json
import sys
import time


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload(first, n, window, delay, spread):
    now = time.time()
    alerts = []
    for i in range(n):
        bot = "bot-%04d" % (first + i)
        started = now - window + delay + (i * spread / n if n else 0)
        alerts.append({"status": "firing", "labels": {"alertname": "P0Down", "bot": bot, "severity": "P0"},
                       "annotations": {}, "startsAt": rfc3339(started), "endsAt": "0001-01-01T00:00:00Z",
                       "generatorURL": "", "fingerprint": "%016x" % (0xbe000000 + first + i)})
    print(json.dumps({"receiver": "ratchet", "status": "firing", "alerts": alerts, "groupLabels": {},
                      "commonLabels": {"alertname": "P0Down", "severity": "P0"}, "commonAnnotations": {},
                      "externalURL": "http://bench", "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0}))


def ts_us(s):
    t = datetime.datetime.strptime(s.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1e6 + 0.5)


def pct(v, q):
    return v[min(len(v) - 1, int(q * len(v)))]


def log(path, first, n):
    bots = {"bot-%04d" % (first + i) for i in range(n)}
    lat = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line.split("\t", 1)[0])
            if rec.get("type") == "demote" and rec["bot"] in bots:
                lat.append((ts_us(rec["ts"]) - ts_us(rec["decided_at"])) / 1000)
    lat.sort()
    if not lat:
        print("n=0")
        return
    print("n=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f" % (len(lat), pct(lat, 0.5), pct(lat, 0.99), lat[-1]))


def buckets(path, name):
    b = {}
    with open(path) as f:
        for line in f:
            if line.startswith(name + "_bucket{le=\""):
                le = line.split("\"")[1]
                b[le] = float(line.split()[-1])
            elif line.startswith(name + "_sum "):
                b["sum"] = float(line.split()[-1])
    return b


def hist(before, after, name):
    b0, b1 = buckets(before, name), buckets(after, name)
    d = {k: b1[k] - b0.get(k, 0) for k in b1}
    n = d.get("+Inf", 0)
    if not n:
        print("n=0")
        return
    print("n=%d le_0.05=%.3f le_0.2=%.3f mean_ms=%.1f" % (n, d["0.05"] / n, d["0.2"] / n, d["sum"] / n * 1000))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["payload"] and len(a) == 6:
        payload(int(a[1]), int(a[2]), float(a[3]), float(a[4]), float(a[5]))
    elif a[:1] == ["log"] and len(a) == 4:
        log(a[1], int(a[2]), int(a[3]))
    elif a[:1] == ["hist"] and len(a) == 4:
        hist(a[1], a[2], a[3])
    else:
        sys.exit(__doc__)
