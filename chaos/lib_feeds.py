#!/usr/bin/env python3
"""Helpers for chaos/4-delivery-faults.sh (standard library only).

  lib_feeds.py payload AM_URL BOT firing|resolved OUT
      Write the webhook payload (version "4", as Alertmanager sends it) for
      BOT's P0 alert as Alertmanager lists it now (GET /api/v2/alerts):
      same labels, fingerprint and startsAt. "resolved" sets endsAt to now.
  lib_feeds.py post URL TOKEN FILE...
      POST each file in order to URL with the bearer token; print the codes.
  lib_feeds.py sample URL STOPFILE TIMEOUT
      GET URL every 100 ms with a TIMEOUT-second limit until STOPFILE
      exists (or its directory is gone); print "ok=N failed=N max_ms=N" (failures: errors, timeouts and
      answers other than 200).
"""
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload(am, bot, status, out):
    with urllib.request.urlopen(am + "/api/v2/alerts?filter=severity%3D%22P0%22", timeout=10) as r:
        alerts = [a for a in json.load(r) if a["labels"].get("bot") == bot]
    if len(alerts) != 1:
        print("expected one P0 alert for %s, got %d" % (bot, len(alerts)), file=sys.stderr)
        return 1
    a = alerts[0]
    item = {"status": status, "labels": a["labels"], "annotations": a.get("annotations", {}),
            "startsAt": a["startsAt"],
            "endsAt": now_rfc3339() if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": a.get("generatorURL", ""), "fingerprint": a["fingerprint"]}
    doc = {"receiver": "wd", "status": status, "alerts": [item], "groupLabels": {"bot": bot},
           "commonLabels": a["labels"], "commonAnnotations": item["annotations"], "externalURL": am,
           "version": "4", "groupKey": '{}:{bot="%s"}' % bot, "truncatedAlerts": 0}
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    return 0


def post(url, token, files):
    codes = []
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                              "Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as e:
            codes.append(e.code)
    print(" ".join(str(c) for c in codes))
    return 0 if all(c == 200 for c in codes) else 1


def sample(url, stop, timeout):
    ok = failed = 0
    worst = 0.0
    while not os.path.exists(stop) and os.path.isdir(os.path.dirname(stop) or "."):
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                r.read()
                good = r.status == 200
        except Exception:  # noqa: BLE001 (any failure counts)
            good = False
        worst = max(worst, time.monotonic() - t0)
        ok, failed = ok + good, failed + (not good)
        time.sleep(0.1)
    print("ok=%d failed=%d max_ms=%d" % (ok, failed, worst * 1000))
    return 0


def main(argv):
    if len(argv) == 5 and argv[0] == "payload":
        return payload(argv[1].rstrip("/"), argv[2], argv[3], argv[4])
    if len(argv) >= 4 and argv[0] == "post":
        return post(argv[1], argv[2], argv[3:])
    if len(argv) == 4 and argv[0] == "sample":
        return sample(argv[1], argv[2], float(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
