#!/usr/bin/env python3
"""Synthetic inputs for the scale benchmark (bench/scale.sh): N bots, and
evidence for each of the four conditions.

  scale_sources.py gen DIR N      DIR/bots.json (the registry) and
                                  DIR/cvss/<bot>.json (native scanner reports)
  scale_sources.py serve PORT N   an HTTP server standing in for Prometheus,
                                  the drift feed and Alertmanager

The server answers, with the current time in every sample, so that each
scrape is new evidence (a static file would repeat old timestamps, which the
engine ignores as duplicates):
  /api/v1/query                  a vector of N series {bot="bot-NNNNNN"}: the
                                 error ratio (one bot in 100 above 1%), with
                                 the 16-17 digits of a real ratio of rates
  /api/v1/query?query=..drift..  a vector of N series: the signed drift in
                                 USD (one bot in 100 beyond a 250 tolerance)
  /api/v1/query_range            the error ratios as a one-point matrix (backfill)
  /api/v1/status/runtimeinfo     startTime (asked before a backfill)
  /drift.json                    the same drift as a drift feed document, N
                                 entries with a tolerance (the URL form)
  /api/v2/alerts                 active P0 alerts for one bot in 100
  /api/v2/status                 Alertmanager's status (uptime: when it started)
Each body is rendered once with a placeholder for the time, which is
substituted per request. Bodies are what Prometheus 2.42 and Alertmanager
0.25 send for such data (tests/samples/), with only the bot label."""
import datetime
import http.server
import json
import os
import sys
import time


def bot(i):
    return "bot-%06d" % i


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def gen(d, n):
    os.makedirs(os.path.join(d, "cvss"), exist_ok=True)
    bots = [{"id": bot(i), "readiness": "general_live"} for i in range(n)]
    with open(os.path.join(d, "bots.json"), "w") as f:
        json.dump({"version": 1, "bots": bots}, f, separators=(",", ":"))
    high = '{"findings":[{"id":"CVE-2021-44228","score":10.0,"status":"open","source":"nvd"}]}\n'
    low = '{"findings":[{"id":"CVE-2019-1551","score":5.3,"status":"open","source":"nvd"}]}\n'
    for i in range(n):
        with open(os.path.join(d, "cvss", bot(i) + ".json"), "w") as f:
            f.write(high if i % 100 == 3 else low)


TS = "@TS@"      # unix seconds with milliseconds
NOW = "@NOW@"    # RFC 3339


def render(n, started):
    # error ratios as Prometheus prints them (a ratio of rates: 16-17 digits)
    series = ",".join('{"metric":{"bot":"%s"},"value":[%s,"%r"]}' % (
        bot(i), TS, (50 + i % 7) / 1000 / 3 if i % 100 == 0 else (i % 89 + 1) / 13000) for i in range(n))
    vector = '{"status":"success","data":{"resultType":"vector","result":[%s]}}' % series
    drift_series = ",".join('{"metric":{"bot":"%s"},"value":[%s,"%s"]}' % (
        bot(i), TS, "-412.5" if i % 100 == 1 else "%.2f" % ((i % 997) / 7.0 - 70)) for i in range(n))
    drift_vector = '{"status":"success","data":{"resultType":"vector","result":[%s]}}' % drift_series
    matrix = vector.replace('"vector"', '"matrix"').replace('"value":[' + TS, '"values":[[' + TS).replace(
        '"]}', '"]]}')
    drift = '{"generated_at":"%s","bots":[%s]}' % (NOW, ",".join(
        '{"bot":"%s","drift":%s,"tolerance":250,"unit":"USD"}' % (bot(i), "-412.5" if i % 100 == 1 else "12.25")
        for i in range(n)))
    alerts = "[%s]" % ",".join(
        '{"annotations":{},"endsAt":"%s","fingerprint":"%016x","receivers":[{"name":"ratchet"}],'
        '"startsAt":"%s","status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"%s",'
        '"labels":{"alertname":"P0Down","bot":"%s","severity":"P0"}}' % (NOW, i, rfc3339(started), NOW, bot(i))
        for i in range(2, n, 100))
    runtime = '{"status":"success","data":{"startTime":"%s","CWD":"/","reloadConfigSuccess":true}}' % rfc3339(started)
    am_status = ('{"cluster":{"name":"","peers":[],"status":"disabled"},"config":{"original":""},"uptime":"%s",'
                 '"versionInfo":{"version":"0.25.0"}}' % rfc3339(started))
    return {"/api/v1/query": vector, "drift": drift_vector, "/api/v1/query_range": matrix, "/drift.json": drift,
            "/api/v2/alerts": alerts, "/api/v2/status": am_status, "/api/v1/status/runtimeinfo": runtime}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies = {}

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/v1/query" and "drift" in self.path:
            path = "drift"  # the drift query (the watchdog's prometheus_query form)
        tmpl = self.bodies.get(path)
        if tmpl is None:
            self.send_error(404)
            return
        now = time.time()
        body = tmpl.replace(TS, "%.3f" % now).replace(NOW, rfc3339(now)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def serve(port, n):
    Handler.bodies = render(n, time.time() - 60)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("serving %d bots on 127.0.0.1:%d" % (n, port), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("gen", "serve"):
        sys.exit(__doc__)
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
    else:
        serve(int(sys.argv[2]), int(sys.argv[3]))
