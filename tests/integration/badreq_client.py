#!/usr/bin/env python3
"""Raw-socket HTTP client for tests/integration/t_badrequests.sh.

Subcommands (each prints one result line per check, "ok<TAB>name" or
"FAIL<TAB>name<TAB>detail", which the shell script counts):

  table    PORT TOKEN SAMPLES EXPECTED_OUT   the table of bad requests; writes
                                             the counter deltas they must cause
  slow     PORT TOKEN OUTDIR                 slow clients (idle, dripping body,
                                             dripping headers) + a parallel /healthz
  metrics  PORT BASELINE EXPECTED [K=V...]   compare /metrics with BASELINE + EXPECTED
  snapshot PORT OUT                          save /metrics counters to OUT (JSON)
  valid    PORT TOKEN SAMPLES                one valid webhook for "alpha" (must be 200)

Requests are written byte by byte as given (no automatic headers), so that
malformed framing, odd Authorization values and missing Content-Type can be
sent exactly. Every read has a deadline; nothing waits by sleeping.
"""
import base64
import datetime
import json
import os
import re
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
WEBHOOK = "/webhook/alertmanager"
MAX_BODY = 1024 * 1024  # the watchdog's default max_body_bytes
IO_TIMEOUT = 10.0       # watchdog/httpd.h RT_HTTPD_DEFAULT_IO_TIMEOUT_MS
DEADLINE = 30.0         # watchdog/httpd.h RT_HTTPD_DEFAULT_DEADLINE_MS
READ_TIMEOUT = 5.0


def result(ok, name, detail=""):
    line = ("ok\t%s" if ok else "FAIL\t%s") % name
    if not ok and detail:
        line += "\t" + detail.replace("\n", " ")[:400]
    print(line, flush=True)
    return ok


# ---------------------------------------------------------------- HTTP I/O

class Response:
    def __init__(self, status, headers, body, error=None):
        self.status, self.headers, self.body, self.error = status, headers, body, error

    def header(self, name):
        return self.headers.get(name.lower())

    def describe(self):
        if self.error:
            return "no response (%s)" % self.error
        return "%s %r" % (self.status, self.body[:200])


def parse_response(raw):
    """The first final (>= 200) response in raw bytes, skipping 1xx."""
    while True:
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            return None, raw
        head = raw[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
        if not m:
            return Response(None, {}, b"", "bad status line %r" % head[0]), b""
        status = int(m.group(1))
        headers = {}
        for h in head[1:]:
            k, _, v = h.partition(":")
            headers.setdefault(k.strip().lower(), v.strip())
        rest = raw[end + 4:]
        if status < 200:
            raw = rest
            continue
        n = int(headers.get("content-length", "-1"))
        if n < 0 or len(rest) < n:
            return None, raw
        return Response(status, headers, rest[:n]), rest[n:]


def read_response(sock, deadline=READ_TIMEOUT):
    sock.settimeout(deadline)
    raw = b""
    end = time.monotonic() + deadline
    while True:
        resp, _ = parse_response(raw)
        if resp:
            return resp
        try:
            sock.settimeout(max(0.01, end - time.monotonic()))
            chunk = sock.recv(65536)
        except socket.timeout:
            return Response(None, {}, b"", "timeout after %.1f s, got %r" % (deadline, raw[:100]))
        except OSError as e:
            return Response(None, {}, b"", "%s, got %r" % (e, raw[:100]))
        if not chunk:
            resp, _ = parse_response(raw)
            return resp or Response(None, {}, b"", "connection closed, got %r" % raw[:100])
        raw += chunk


def exchange(port, data, body_parts=(), deadline=READ_TIMEOUT):
    """Sends data, then each of body_parts (stopping quietly if the server
    has closed), and reads one response."""
    with socket.create_connection((HOST, port), timeout=deadline) as s:
        s.sendall(data)
        for part in body_parts:
            try:
                s.sendall(part)
            except OSError:
                break
        return read_response(s, deadline)


def request_bytes(method, path, headers, body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % HOST, "Connection: close"]
    lines += ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_get(port, path):
    return exchange(port, request_bytes("GET", path, []))


# ------------------------------------------------------------- payloads

def load_sample(samples, name):
    with open(os.path.join(samples, name), "rb") as f:
        return f.read()


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fresh_alpha(samples, fingerprint):
    """The real firing sample for bot alpha, restamped to now: the webhook
    the daemon must accept (200) and that opens alpha's p0_alert window."""
    d = json.loads(load_sample(samples, "webhook-firing.json"))
    d["alerts"][0]["startsAt"] = rfc3339(time.time() - 2)
    d["alerts"][0]["fingerprint"] = fingerprint
    return d


def dumps(d):
    return json.dumps(d, separators=(",", ":")).encode()


def mutate(base, fn):
    d = json.loads(json.dumps(base))
    fn(d)
    return dumps(d)


def with_bot(base, bot):
    def fn(d):
        d["alerts"][0]["labels"]["bot"] = bot
        d["groupLabels"]["bot"] = bot
        d["commonLabels"]["bot"] = bot
    return mutate(base, fn)


# ---------------------------------------------------------------- table

class Row:
    """One bad request and what the daemon must answer.

    http: the ratchet_http_requests_total outcome it adds to (None: handled,
    not counted here); webhook: the ratchet_webhook_requests_total outcome
    (None: the handler does not run); auth: the auth failure reason."""

    def __init__(self, name, status, send, http=None, webhook=None, auth=None, message=None, header=None):
        self.name, self.status, self.send = name, status, send
        self.http, self.webhook, self.auth = http, webhook, auth
        self.message, self.header = message, header


def build_table(port, token, samples):
    firing = load_sample(samples, "webhook-firing.json")
    firing_two = load_sample(samples, "webhook-firing-two.json")
    alpha = fresh_alpha(samples, "badbad0000000001")
    alpha_b = dumps(alpha)
    bearer = ("Authorization", "Bearer " + token)
    ctype = ("Content-Type", "application/json")

    def post(body, headers=None, method="POST", path=WEBHOOK):
        hs = [bearer, ctype] if headers is None else headers
        hs = hs + [("Content-Length", str(len(body)))]
        return lambda: exchange(port, request_bytes(method, path, hs, body))

    def raw(data, *parts):
        return lambda: exchange(port, data, parts)

    def get(path, headers=()):
        return lambda: exchange(port, request_bytes("GET", path, list(headers)))

    rows = []

    def bad(name, body, message=None):  # handler runs, parser refuses: 400
        rows.append(Row(name, 400, post(body), webhook="bad_request", message=message))

    def unusable(name, body, message=None, headers=None):
        rows.append(Row(name, 422, post(body, headers), webhook="unusable", message=message))

    # -- malformed and truncated JSON
    bad("malformed JSON (bare word)", b'{"version":"4","status":firing,"alerts":[]}', "invalid JSON")
    bad("not JSON at all", b"hello, watchdog", "invalid JSON")
    bad("empty body", b"", "invalid JSON")
    body = firing.rstrip(b"\n")
    for cut in (1, len(body) // 4, len(body) // 2, 3 * len(body) // 4, len(body) - 1):
        bad("truncated webhook-firing.json at byte %d/%d" % (cut, len(body)), body[:cut], "invalid JSON")
    mid = firing_two.index(b'"startsAt":"') + 20  # inside a time string
    bad("truncated webhook-firing-two.json inside a string (byte %d)" % mid, firing_two[:mid], "invalid JSON")
    bad("trailing garbage after the object", body + b"}", "invalid JSON")
    bad("duplicate key \"status\"", body[:-1] + b',"status":"firing"}', "invalid JSON")
    # -- nesting
    bad("100000 unclosed '['", b"[" * 100000, "invalid JSON")
    bad("balanced nesting 5000 deep inside an alert label",
        body.replace(b'"summary":"alpha down"', b'"summary":' + b"[" * 5000 + b"]" * 5000, 1), "invalid JSON")
    # -- size of the alerts array (checked before the elements)
    bad("10001 alerts", b'{"version":"4","status":"firing","alerts":[' + b",".join([b"{}"] * 10001) + b"]}",
        "more than 10000")
    # -- wrong types
    bad("version as number", mutate(alpha, lambda d: d.update(version=4)), "version")
    bad("alerts as object", mutate(alpha, lambda d: d.update(alerts=d["alerts"][0])), "alerts")
    bad("alerts null", mutate(alpha, lambda d: d.update(alerts=None)), "alerts")
    bad("startsAt as number", mutate(alpha, lambda d: d["alerts"][0].update(startsAt=1764000000)), "startsAt")
    bad("labels as array", mutate(alpha, lambda d: d["alerts"][0].update(labels=["bot", "alpha"])), "labels")
    bad("label value as number", mutate(alpha, lambda d: d["alerts"][0]["labels"].update(severity=0)), "labels")
    bad("status as boolean", mutate(alpha, lambda d: d.update(status=True)), "status")
    bad("truncatedAlerts as string", mutate(alpha, lambda d: d.update(truncatedAlerts="2")), "truncatedAlerts")
    bad("payload is an array", b"[" + alpha_b + b"]", "payload")
    # -- invalid values
    bad("startsAt not a time", mutate(alpha, lambda d: d["alerts"][0].update(startsAt="yesterday")), "startsAt")
    bad("startsAt Go zero time",
        mutate(alpha, lambda d: d["alerts"][0].update(startsAt="0001-01-01T00:00:00Z")), "startsAt")
    bad("fingerprint not hex", mutate(alpha, lambda d: d["alerts"][0].update(fingerprint="xyz")), "fingerprint")
    bad("resolved alert without endsAt", mutate(alpha, lambda d: d["alerts"][0].update(status="resolved")), "endsAt")
    # -- UTF-8
    bad("invalid UTF-8 byte 0xff in a string", alpha_b.replace(b"alpha down", b"alpha \xff down", 1))
    bad("overlong UTF-8 (0xc0 0xaf)", alpha_b.replace(b"alpha down", b"alpha \xc0\xaf down", 1))
    bad("truncated UTF-8 sequence in a key", alpha_b.replace(b'"summary"', b'"summ\xe2\x82"', 1))
    bad("lone surrogate escape", alpha_b.replace(b"alpha down", b"alpha \\ud800 down", 1))
    bad("\\u0000 in a string", alpha_b.replace(b"alpha down", b"alpha \\u0000 down", 1))
    # -- version
    bad("missing version", mutate(alpha, lambda d: d.pop("version")), "version")
    bad('version "3"', mutate(alpha, lambda d: d.update(version="3")), "unsupported")
    bad('version ""', mutate(alpha, lambda d: d.update(version="")), "version")
    # -- valid payloads without a usable alert: 422
    unusable("valid P0 payload for a bot not in the registry", with_bot(alpha, "zeta"), "registry")
    unusable("P0 alert with an invalid bot id", with_bot(alpha, "../etc"), "invalid bot id")
    unusable("real webhook-not-p0.json (beta, P2)", load_sample(samples, "webhook-not-p0.json"), "not P0")
    unusable("real webhook-info-alert.json (gamma, info)", load_sample(samples, "webhook-info-alert.json"), "not P0")
    unusable("real webhook-no-bot.json", load_sample(samples, "webhook-no-bot.json"), "without")
    unusable("empty alerts array", mutate(alpha, lambda d: d.update(alerts=[])), "no alerts")

    # -- authentication (all with the payload that would be accepted)
    def unauth(name, auth_value, reason, headers_extra=()):
        hs = ([("Authorization", auth_value)] if auth_value is not None else []) + [ctype] + list(headers_extra)
        rows.append(Row(name, 401, post(alpha_b, hs), http="unauthorized", auth=reason,
                        message="credentials", header=("WWW-Authenticate", "Bearer")))

    unauth("wrong token", "Bearer not-the-token", "invalid")
    unauth("token with one character changed", "Bearer " + token[:-1] + chr(ord(token[-1]) ^ 1), "invalid")
    unauth("token prefix only", "Bearer " + token[:-1], "invalid")
    unauth("missing Authorization", None, "missing")
    unauth("Basic scheme instead of Bearer",
           "Basic " + base64.b64encode(("ratchet:" + token).encode()).decode(), "missing")
    unauth("token with a space inside", "Bearer " + token[:3] + " " + token[3:], "invalid")
    unauth("token followed by whitespace and junk", "Bearer " + token + " x", "invalid")
    unauth("scheme without a token", "Bearer", "invalid")
    unauth("token without a scheme", token, "missing")
    # Whitespace that RFC 6750 (1*SP) and RFC 7230 (trailing OWS) allow is
    # not an auth failure: these pass auth and reach the parser (not-P0: 422).
    not_p0 = load_sample(samples, "webhook-not-p0.json")
    unusable("auth ok: two spaces after Bearer (RFC 6750 1*SP)", not_p0, "not P0",
             [("Authorization", "Bearer  " + token), ctype])
    unusable("auth ok: trailing space (optional whitespace)", not_p0, "not P0",
             [("Authorization", "Bearer " + token + " "), ctype])

    # -- body size (default max_body_bytes 1 MiB)
    too_large = dict(http="too_large", message="over %d bytes" % MAX_BODY)
    hs = [bearer, ctype]
    rows.append(Row("Content-Length over the limit (1 MiB + 1)", 413,
                    raw(request_bytes("POST", WEBHOOK, hs + [("Content-Length", str(MAX_BODY + 1))]),
                        b" " * 65536), **too_large))
    rows.append(Row("Content-Length 2 GB", 413,
                    raw(request_bytes("POST", WEBHOOK, hs + [("Content-Length", "2000000000")]), b" " * 4096),
                    **too_large))
    rows.append(Row("Expect: 100-continue with Content-Length over the limit", 413,
                    raw(request_bytes("POST", WEBHOOK, hs + [("Content-Length", str(4 * MAX_BODY)),
                                                             ("Expect", "100-continue")])), **too_large))
    chunk = b"%x\r\n%s\r\n" % (MAX_BODY // 4, b" " * (MAX_BODY // 4))
    rows.append(Row("chunked body over the limit (4 x 256 KiB + 1 byte)", 413,
                    raw(request_bytes("POST", WEBHOOK, hs + [("Transfer-Encoding", "chunked")]),
                        chunk, chunk, chunk, chunk, b"1\r\n \r\n0\r\n\r\n"), **too_large))
    pad = b'{"version":"3","pad":"' + b"x" * (MAX_BODY - 24) + b'"}'
    assert len(pad) == MAX_BODY
    rows.append(Row("body of exactly 1 MiB reaches the parser (version \"3\")", 400, post(pad),
                    webhook="bad_request", message="unsupported"))
    rows.append(Row("chunked body within the limit, not P0", 422,
                    raw(request_bytes("POST", WEBHOOK, hs + [("Transfer-Encoding", "chunked")]),
                        b"%x\r\n%s\r\n0\r\n\r\n" % (len(not_p0), not_p0)), webhook="unusable", message="not P0"))

    # -- Content-Type (checked after auth, before the handler)
    def media(name, headers):
        rows.append(Row(name, 415, post(alpha_b, headers), http="unsupported_media_type",
                        message="application/json"))

    media("Content-Type text/plain", [bearer, ("Content-Type", "text/plain")])
    media("missing Content-Type", [bearer])
    media("Content-Type application/jsonx", [bearer, ("Content-Type", "application/jsonx")])
    media("Content-Type application/x-www-form-urlencoded",
          [bearer, ("Content-Type", "application/x-www-form-urlencoded")])
    unusable("Content-Type with charset parameter is accepted", not_p0, "not P0",
             [bearer, ("Content-Type", "application/json; charset=utf-8")])
    rows.append(Row("wrong token and text/plain: auth is checked first", 401,
                    post(alpha_b, [("Authorization", "Bearer nope"), ("Content-Type", "text/plain")]),
                    http="unauthorized", auth="invalid", message="credentials"))

    # -- methods and paths
    allow = ("Allow", "POST")
    rows.append(Row("GET on the webhook path", 405, get(WEBHOOK, [bearer]), http="method_not_allowed",
                    message="not allowed", header=allow))
    rows.append(Row("PUT on the webhook path", 405, post(alpha_b, method="PUT"), http="method_not_allowed",
                    header=allow))
    rows.append(Row("DELETE on the webhook path", 405,
                    raw(request_bytes("DELETE", WEBHOOK, [bearer])), http="method_not_allowed", header=allow))
    rows.append(Row("POST on /healthz", 405, post(alpha_b, path="/healthz"), http="method_not_allowed",
                    header=("Allow", "GET")))
    rows.append(Row("unknown path /nope", 404, get("/nope"), http="not_found"))
    rows.append(Row("webhook path with a trailing slash", 404, post(alpha_b, path=WEBHOOK + "/"), http="not_found"))
    rows.append(Row("webhook path in another case", 404, post(alpha_b, path="/Webhook/Alertmanager"),
                    http="not_found"))
    rows.append(Row("/api/v1/status/ with a trailing slash", 404, get("/api/v1/status/"), http="not_found"))

    # -- status endpoint parameters
    def status_row(name, query, code):
        rows.append(Row(name, code, get("/api/v1/status?" + query),
                        message="bot" if code == 404 else "bot=<id>"))

    status_row("status: empty bot parameter", "bot=", 400)
    status_row("status: bot id with a slash", "bot=../etc", 400)
    status_row("status: bot id of 65 characters", "bot=" + "a" * 65, 400)
    status_row("status: unknown parameter", "robot=alpha", 400)
    status_row("status: a second parameter", "bot=alpha&x=1", 400)
    status_row("status: bot id starting with '-'", "bot=-alpha", 400)
    status_row("status: unknown bot", "bot=zeta", 404)

    # -- protocol errors (evhttp answers these; httpd.c rewrites them as JSON)
    proto = dict(http="bad_request", message="malformed request")
    rows.append(Row("garbage request line", 400, raw(b"GARBAGE\r\n\r\n"), **proto))
    rows.append(Row("request headers over 8 KiB", 400,
                    raw(request_bytes("GET", "/healthz", [("X-Big", "a" * 9000)])), **proto))
    rows.append(Row("non-numeric Content-Length", 400,
                    raw(request_bytes("POST", WEBHOOK, [bearer, ctype, ("Content-Length", "abc")]) + b"{}"),
                    **proto))
    rows.append(Row("invalid chunk size", 400,
                    raw(request_bytes("POST", WEBHOOK, [bearer, ctype, ("Transfer-Encoding", "chunked")])
                        + b"zz\r\n{}\r\n0\r\n\r\n"), **proto))
    rows.append(Row("malformed trailer after a 2-byte chunked body", 400,
                    raw(request_bytes("POST", WEBHOOK, [bearer, ctype, ("Transfer-Encoding", "chunked")])
                        + b"2\r\n{}\r\n0\r\nno colon here\r\n\r\n"), **proto))
    return rows


def check_row(row):
    t0 = time.monotonic()
    resp = row.send()
    took = time.monotonic() - t0
    problems = []
    if resp.status != row.status:
        problems.append("expected %d, got %s" % (row.status, resp.describe()))
    elif (resp.header("content-type") or "").split(";")[0].strip().lower() != "application/json":
        problems.append("Content-Type %r" % resp.header("content-type"))
    else:
        try:
            doc = json.loads(resp.body)
        except ValueError as e:
            doc = None
            problems.append("body is not JSON (%s): %r" % (e, resp.body[:200]))
        if doc is not None:
            if not isinstance(doc, dict) or not isinstance(doc.get("error"), str) or not doc["error"]:
                problems.append("no \"error\" string in %r" % resp.body[:200])
            elif not isinstance(doc.get("message"), str):
                problems.append("no \"message\" string in %r" % resp.body[:200])
            elif row.message and row.message.lower() not in doc["message"].lower():
                problems.append("message %r lacks %r" % (doc["message"], row.message))
    if not problems and row.header:
        name, want = row.header
        got = resp.header(name) or ""
        if want not in got:
            problems.append("header %s: %r, expected %r" % (name, got, want))
    if not problems and took > 3.0:
        problems.append("answer took %.1f s" % took)
    return result(not problems, "%d %s" % (row.status, row.name), "; ".join(problems))


def cmd_table(port, token, samples, expected_out):
    port = int(port)
    rows = build_table(port, token, samples)
    expected = {"http": {}, "webhook": {}, "auth": {}}
    for row in rows:
        check_row(row)
        for kind in ("http", "webhook", "auth"):
            key = getattr(row, kind)
            if key:
                expected[kind][key] = expected[kind].get(key, 0) + 1
    expected["rows"] = len(rows)
    with open(expected_out, "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    return 0


# -------------------------------------------------------------- metrics

METRIC_RE = re.compile(r'^(ratchet_http_requests_total|ratchet_http_auth_failures_total|'
                       r'ratchet_webhook_requests_total)\{(outcome|reason)="([a-z_]+)"\} (\d+)$')
KIND = {"ratchet_http_requests_total": "http", "ratchet_http_auth_failures_total": "auth",
        "ratchet_webhook_requests_total": "webhook"}


def scrape(port):
    resp = http_get(int(port), "/metrics")
    if resp.status != 200:
        raise RuntimeError("/metrics: %s" % resp.describe())
    out = {"http": {}, "webhook": {}, "auth": {}}
    for line in resp.body.decode().splitlines():
        m = METRIC_RE.match(line)
        if m:
            out[KIND[m.group(1)]][m.group(3)] = int(m.group(4))
    return out


def cmd_snapshot(port, out):
    with open(out, "w") as f:
        json.dump(scrape(port), f)
    return 0


def cmd_metrics(port, baseline, expected, *overrides):
    """Every counter of the three families must have moved by exactly the
    expected amount (0 where nothing is expected), except http "handled",
    which the test's own GETs also move. overrides: kind.name=N."""
    with open(baseline) as f:
        base = json.load(f)
    with open(expected) as f:
        exp = json.load(f)
    for o in overrides:
        k, _, v = o.partition("=")
        kind, _, name = k.partition(".")
        exp.setdefault(kind, {})[name] = int(v)
    now = scrape(port)
    labels = {"http": ["not_found", "method_not_allowed", "unauthorized", "too_large", "unsupported_media_type",
                       "bad_request"],
              "auth": ["missing", "invalid"],
              "webhook": ["accepted", "bad_request", "too_large", "unusable", "unavailable"]}
    names = {"http": "ratchet_http_requests_total{outcome=\"%s\"}",
             "auth": "ratchet_http_auth_failures_total{reason=\"%s\"}",
             "webhook": "ratchet_webhook_requests_total{outcome=\"%s\"}"}
    for kind, keys in labels.items():
        for key in keys:
            want = exp.get(kind, {}).get(key, 0)
            if key not in now[kind]:
                result(False, "metric " + names[kind] % key, "not exported")
                continue
            got = now[kind][key] - base.get(kind, {}).get(key, 0)
            result(got == want, "metric %s moved by %d" % (names[kind] % key, want), "moved by %d" % got)
    return 0


# -------------------------------------------------------- slow clients

def cmd_slow(port, token, outdir):
    """Three slow clients at once: one that sends nothing, one that sends
    its headers and then drips the body (a byte every 300 ms, so it could
    never finish in time), one that drips its headers. Each must be cut off
    by the server (EOF or reset, and never a 2xx); while all three are
    connected, /healthz must answer at once. Writes OUTDIR/slow.ready when
    the clients are connected and OUTDIR/slow.out (result lines) at the end."""
    port = int(port)
    head = request_bytes("POST", WEBHOOK, [("Authorization", "Bearer " + token),
                                          ("Content-Type", "application/json"), ("Content-Length", "1000")])
    clients = {
        "idle connection (sends nothing)": (b"", b""),
        "body dripped a byte every 300 ms": (head, b'{"version":"4","status":"firing","alerts":[' + b" " * 2000),
        "headers dripped a byte every 300 ms": (b"", head),
    }
    limits = {"idle connection (sends nothing)": IO_TIMEOUT + 5,
              "body dripped a byte every 300 ms": DEADLINE + 5,
              "headers dripped a byte every 300 ms": DEADLINE + 5}
    socks, outcome, lock = {}, {}, threading.Lock()
    start = time.monotonic()
    for name in clients:
        socks[name] = socket.create_connection((HOST, port), timeout=5)

    def run(name):
        s = socks[name]
        first, drip = clients[name]
        got, how = b"", None
        try:
            if first:
                s.sendall(first)
            i = 0
            while time.monotonic() - start < DEADLINE + 15:
                if drip and i < len(drip):
                    s.send(drip[i:i + 1])
                    i += 1
                s.settimeout(0.3)
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    how = "closed"
                    break
                got += chunk
        except OSError as e:
            how = "closed (%s)" % e.__class__.__name__
        with lock:
            outcome[name] = (how, time.monotonic() - start, got)
        s.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in clients]
    for t in threads:
        t.start()
    lines = []

    def res(ok, name, detail=""):
        lines.append(("ok\t%s" % name) if ok else ("FAIL\t%s\t%s" % (name, detail)))

    with open(os.path.join(outdir, "slow.ready"), "w") as f:
        f.write("connected\n")
    # /healthz while the three are connected (none has been cut yet).
    for i in range(3):
        t0 = time.monotonic()
        r = http_get(port, "/healthz")
        took = time.monotonic() - t0
        with lock:
            still = len(clients) - len(outcome)
        res(r.status == 200 and took < 1.0 and still == len(clients),
            "/healthz answers within 1 s while %d slow clients are connected (probe %d)" % (len(clients), i + 1),
            "status %s after %.2f s, %d still connected" % (r.status, took, still))
    for t in threads:
        t.join()
    for name in clients:
        how, when, got = outcome[name]
        status = re.match(rb"HTTP/1\.[01] (\d{3})", got)
        ok = how is not None and when <= limits[name] and not (status and status.group(1).startswith(b"2"))
        res(ok, "slow client cut off: %s (after %.1f s, limit %.0f s)" % (name, when, limits[name]),
            "outcome %s after %.1f s, received %r" % (how or "still open", when, got[:120]))
    with open(os.path.join(outdir, "slow.out.tmp"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(os.path.join(outdir, "slow.out.tmp"), os.path.join(outdir, "slow.out"))
    return 0


# ---------------------------------------------------------------- valid

def cmd_valid(port, token, samples):
    body = dumps(fresh_alpha(samples, "600d000000000001"))
    hs = [("Authorization", "Bearer " + token), ("Content-Type", "application/json"),
          ("User-Agent", "Alertmanager/0.25.0"), ("Content-Length", str(len(body)))]
    resp = exchange(int(port), request_bytes("POST", WEBHOOK, hs, body))
    ok = resp.status == 200
    detail = resp.describe()
    if ok:
        try:
            doc = json.loads(resp.body)
            ok = doc.get("status") == "ok" and doc.get("applied") == 1
        except ValueError:
            ok = False
    result(ok, "200 valid webhook for alpha is accepted and applied", detail)
    return 0


def main(argv):
    cmds = {"table": cmd_table, "slow": cmd_slow, "metrics": cmd_metrics, "snapshot": cmd_snapshot,
            "valid": cmd_valid}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write("usage: %s table|slow|metrics|snapshot|valid ARGS...\n" % argv[0])
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
