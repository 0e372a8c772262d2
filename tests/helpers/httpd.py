#!/usr/bin/env python3
"""Scripted HTTP server for fault injection in the fetch tests (not a
stand-in for Prometheus or Alertmanager). Standard library only.

Usage: httpd.py [PORT]   (default 0: pick a free port)
Listens on 127.0.0.1 and prints the port on its first stdout line. Exits
when stdin reaches end of file, so it cannot outlive a test that dies.

Paths (numbers are decimal; seconds may have a fraction):
  /status/CODE[?body=TEXT][&keepalive=1]
                                answer CODE with TEXT (default "hello");
                                keepalive: leave the connection open (every
                                other answer closes it)
  /hang/SECONDS                 wait, then answer 200 "late"
  /big/BYTES[?nolength=1|gzip=1]
                                200 with BYTES of "x"; nolength: no
                                Content-Length, the body ends at close; gzip:
                                Content-Encoding gzip (Content-Length is the
                                compressed size)
  /truncated-json               200, well-framed, but the JSON is cut short
  /close-mid-body               promise 1000 bytes, send 100, close
  /drip/BYTES/SECONDS           send BYTES one at a time, SECONDS apart
  /auth/bearer/TOKEN            200 if "Authorization: Bearer TOKEN", else 401
  /auth/basic/USER/PASSWORD     200 if the Basic credentials match, else 401
  /redirect                     302 to /status/200
  /headers                      200, body "UA=<User-Agent>"
  POST /echo                    200 with "CT=<Content-Type> EXPECT=<Expect> LEN=<n>" and a
                                newline, then the request body as received
  POST /sink/KEY[?fail=N]       a control-plane stand-in: record the body and
                                Content-Type under KEY; answer 500 to the
                                first N posts to KEY, then 200
  GET /sink/KEY                 [{"status": S, "content_type": T, "body": B}, ...]
                                of every post to KEY, in order
  POST to any other path        read the body, then answer as GET would
  /stats                        {"requests": N, "current": N, "max_concurrent": N,
                                 "connections": N} over every request (and
                                connection) except /stats and /reset
  /reset                        zero the statistics
"""
import base64
import gzip
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BYTES = 64 * 1024 * 1024
MAX_POST_BYTES = 4 * 1024 * 1024
MAX_SECONDS = 600.0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.connections = 0
        self.current = 0
        self.max_concurrent = 0

    def enter(self):
        with self.lock:
            self.requests += 1
            self.current += 1
            self.max_concurrent = max(self.max_concurrent, self.current)

    def leave(self, handler):
        # Once per request, and before its answer goes out: a client can
        # only start its next request after that, so limits measure exactly.
        if getattr(handler, "in_flight", False):
            handler.in_flight = False
            with self.lock:
                self.current -= 1

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "current": self.current,
                    "max_concurrent": self.max_concurrent,
                    "connections": self.connections}


STATS = Stats()
SINKS = {}  # KEY -> list of posts
SINKS_LOCK = threading.Lock()


def number(text, limit):
    value = float(text)
    if not 0 <= value <= limit:
        raise ValueError(text)
    return value


class Handler(BaseHTTPRequestHandler):
    server_version = "ratchet-test-httpd"
    protocol_version = "HTTP/1.1"  # so that keep-alive can be asked for

    def handle_one_request(self):
        super().handle_one_request()
        # Counted once per connection, after its first request, so that a
        # connection used only for /stats does not count.
        if not getattr(self, "counted", False) and self.path_is_counted():
            self.counted = True
            with STATS.lock:
                STATS.connections += 1

    def path_is_counted(self):
        path = getattr(self, "path", "")
        return bool(path) and not path.startswith(("/stats", "/reset"))

    def log_message(self, format, *args):  # quiet: the test prints what matters
        pass

    def reply(self, code, body, content_type="text/plain", length=True, keepalive=False, encoding=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if length:
            self.send_header("Content-Length", str(len(data)))
        if not keepalive:
            self.send_header("Connection", "close")
        STATS.leave(self)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        query = urllib.parse.parse_qs(url.query)
        if parts[:1] in (["stats"], ["reset"]):
            if parts[0] == "reset":
                with STATS.lock:
                    STATS.reset()
            self.reply(200, json.dumps(STATS.snapshot()), "application/json")
            return
        STATS.enter()
        self.in_flight = True
        try:
            self.route(parts, query)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts, aborts): expected here
        except (ValueError, IndexError):
            self.reply(400, "bad request\n")
        finally:
            STATS.leave(self)

    def do_POST(self):
        STATS.enter()
        self.in_flight = True
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 <= length <= MAX_POST_BYTES:
                raise ValueError("Content-Length")
            body = self.rfile.read(length)
            url = urllib.parse.urlsplit(self.path)
            parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
            if parts[:1] == ["sink"] and len(parts) == 2:
                self.sink_post(parts[1], urllib.parse.parse_qs(url.query), body)
            elif parts[:1] == ["echo"]:
                head = "CT=%s EXPECT=%s LEN=%d\n" % (self.headers.get("Content-Type", ""),
                                                     self.headers.get("Expect", ""), len(body))
                self.reply(200, head.encode() + body)
            else:
                self.route(parts, urllib.parse.parse_qs(url.query))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except (ValueError, IndexError):
            self.reply(400, "bad request\n")
        finally:
            STATS.leave(self)

    def sink_post(self, key, query, body):
        fail = int(query.get("fail", ["0"])[0])
        with SINKS_LOCK:
            posts = SINKS.setdefault(key, [])
            status = 500 if len(posts) < fail else 200
            posts.append({"status": status, "content_type": self.headers.get("Content-Type", ""),
                          "body": body.decode("utf-8", "replace")})
        self.reply(status, "fail\n" if status == 500 else "ok\n")

    def route(self, parts, query):
        name = parts[0] if parts else ""
        if name == "status":
            self.reply(int(parts[1]), query.get("body", ["hello"])[0],
                       keepalive="keepalive" in query)
        elif name == "hang":
            time.sleep(number(parts[1], MAX_SECONDS))
            self.reply(200, "late")
        elif name == "big":
            size = int(number(parts[1], MAX_BYTES))
            if "gzip" in query:
                self.reply(200, gzip.compress(b"x" * size), encoding="gzip")
            else:
                self.reply(200, b"x" * size, length="nolength" not in query)
        elif name == "truncated-json":
            self.reply(200, '{"status":"success","data":{"resultType":"vec',
                       "application/json")
        elif name == "close-mid-body":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"y" * 100)
            self.wfile.flush()
            self.close_connection = True
        elif name == "drip":
            self.drip(int(number(parts[1], 100000)), number(parts[2], MAX_SECONDS))
        elif name == "auth":
            self.check_auth(parts[1:])
        elif name == "redirect":
            self.send_response(302)
            self.send_header("Location", "/status/200")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
        elif name == "sink":
            with SINKS_LOCK:
                posts = list(SINKS.get(parts[1], []))
            self.reply(200, json.dumps(posts), "application/json")
        elif name == "headers":
            self.reply(200, "UA=" + self.headers.get("User-Agent", ""))
        else:
            self.reply(404, "no such path\n")

    def drip(self, size, interval):
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(size):
            self.wfile.write(b"d")
            self.wfile.flush()
            time.sleep(interval)

    def check_auth(self, args):
        if args[0] == "bearer" and len(args) == 2:
            expected = "Bearer " + args[1]
        elif args[0] == "basic" and len(args) == 3:
            pair = (args[1] + ":" + args[2]).encode()
            expected = "Basic " + base64.b64encode(pair).decode()
        else:
            raise ValueError("auth kind")
        got = self.headers.get("Authorization", "")
        if got == expected:
            self.reply(200, "authorized")
        else:
            self.reply(401, "got Authorization: " + got)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen() backlog: many clients connect at once


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = Server(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
