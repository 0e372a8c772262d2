#!/usr/bin/env python3
"""Fault-injecting HTTP front for the chaos scenarios (standard library only).

It stands between ratchet-watchdog and one evidence source and answers
every GET according to its current mode, which the test switches at any
time. It injects only what a real server cannot be made to do on cue; in
mode "pass" it is transparent.

  faultproxy.py --upstream URL [--port P] [--parent PID] [--seed N]
      forward GET PATH?QUERY to URL/PATH?QUERY (a real Prometheus), and
      POST with its body, Content-Type and Authorization (webhooks); while
      the upstream is down, reset the client's connection without an answer
  faultproxy.py --dir DIR [--port P] [--parent PID] [--seed N]
      serve DIR/PATH; "@NOW@" in a file becomes the current UTC time in
      RFC 3339 (a feed whose documents are generated at request time)

Listens on 127.0.0.1:P (0: any free port) and prints the port on the
first stdout line. Exits when process PID (the test
shell) is gone, so it cannot outlive a test that dies.

Control (never passed through, never faulted):
  GET /_chaos/mode/pass            transparent (the default)
  GET /_chaos/mode/500             500 with a text body
  GET /_chaos/mode/hang?s=S        accept, send nothing for S seconds, close
  GET /_chaos/mode/drip?s=S        the real answer, its body spread over S seconds
  GET /_chaos/mode/garbage         200 application/json, seeded random bytes
  GET /_chaos/mode/truncated       200, the real JSON cut in half (well framed)
  GET /_chaos/mode/drop_resolved   POST: a webhook whose "status" is "resolved"
                                   is answered 200 and not forwarded (lost in
                                   transit); anything else is forwarded
  GET /_chaos/stats                {"mode": M, "served": {MODE: N, ..., "dropped": N}}
"""
import argparse
import datetime
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("pass", "500", "hang", "drip", "garbage", "truncated", "drop_resolved")


class State:
    def __init__(self, seed):
        self.lock = threading.Lock()
        self.mode = "pass"
        self.seconds = 0.0
        self.served = {m: 0 for m in MODES}
        self.served["dropped"] = 0  # resolved webhooks not forwarded
        self.rng = random.Random(seed)

    def take(self):
        """The mode for one request, counted."""
        with self.lock:
            self.served[self.mode] += 1
            return self.mode, self.seconds

    def garbage(self):
        with self.lock:
            n = self.rng.randint(16, 4096)
            return bytes(self.rng.getrandbits(8) for _ in range(n))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ratchet-chaos-faultproxy"

    def log_message(self, format, *args):  # quiet: the test prints what matters
        pass

    def send(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def control(self, url):
        st = self.server.state
        parts = url.path.split("/")[2:]
        if parts == ["stats"]:
            with st.lock:
                doc = {"mode": st.mode, "served": dict(st.served)}
            return self.send(200, json.dumps(doc).encode(), "application/json")
        if len(parts) == 2 and parts[0] == "mode" and parts[1] in MODES:
            q = urllib.parse.parse_qs(url.query)
            with st.lock:
                st.mode = parts[1]
                st.seconds = float(q.get("s", ["0"])[0])
            return self.send(200, b"ok\n")
        return self.send(404, b"no such control\n")

    def upstream(self, body=None):
        """(status, content type, body) of the real answer."""
        srv = self.server
        if srv.upstream:
            req = urllib.request.Request(srv.upstream + self.path, data=body)
            for h in ("Content-Type", "Authorization"):
                if body is not None and self.headers.get(h):
                    req.add_header(h, self.headers[h])
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.headers.get("Content-Type", "application/json"), r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers.get("Content-Type", "text/plain"), e.read()
            except OSError:  # the upstream is down: so is this front
                return None, None, None
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        path = os.path.realpath(os.path.join(srv.root, name))
        if not path.startswith(srv.root + os.sep) or not os.path.isfile(path):
            return 404, "text/plain", b"not found\n"
        with open(path, "rb") as f:
            body = f.read()
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return 200, "application/json", body.replace(b"@NOW@", now.encode())

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_chaos/"):
            return self.control(url)
        mode, secs = self.server.state.take()
        try:
            self.fault(mode, secs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): that is the point

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode, _ = self.server.state.take()
        try:
            if mode == "drop_resolved" and json.loads(body).get("status") == "resolved":
                with self.server.state.lock:
                    self.server.state.served["dropped"] += 1
                return self.send(200, b'{"status":"ok"}', "application/json")
            code, ctype, answer = self.upstream(body)
            if code is None:
                return self.reset()
            return self.send(code, answer, ctype)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def fault(self, mode, secs):
        if mode == "500":
            return self.send(500, b"Internal Server Error (injected)\n")
        if mode == "hang":
            time.sleep(secs)
            self.close_connection = True
            return None
        if mode == "garbage":
            return self.send(200, self.server.state.garbage(), "application/json")
        code, ctype, body = self.upstream()
        if code is None:
            return self.reset()
        if mode == "truncated":
            return self.send(code, body[: len(body) // 2], ctype)
        if mode == "drip":
            return self.drip(code, ctype, body, secs)
        return self.send(code, body, ctype)

    def reset(self):
        """Abort the connection (RST, no answer): what a client of a killed
        server sees, as near as a front that is still listening can get."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def drip(self, code, ctype, body, secs):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = max(1, min(len(body), 20))
        step = (len(body) + chunks - 1) // chunks
        for i in range(0, len(body), step):
            time.sleep(secs / chunks)
            self.wfile.write(body[i:i + step])
            self.wfile.flush()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--upstream")
    g.add_argument("--dir")
    ap.add_argument("--parent", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a.seed)
    srv.upstream = a.upstream.rstrip("/") if a.upstream else None
    srv.root = os.path.realpath(a.dir) if a.dir else None
    if a.parent:
        threading.Thread(target=watch_parent, args=(a.parent,), daemon=True).start()
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
