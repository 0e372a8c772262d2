#!/usr/bin/env python3
"""A stand-in for the firm's control plane (it has no Debian package), for
tests/integration/t_actuation.sh. Python standard library and the openssl
CLI only. It verifies each pushed record line as docs/log-format.md ("A
control plane verifying a single pushed record") tells a control plane to:

  1. the body is one record line without its LF: <body> TAB <signature>,
     the signature canonical base64 of 64 bytes;
  2. the record's key_id is the id of the log's key (first 4 bytes of
     SHA-256(key name || LF || 0x01 || 32-byte public key)), and the
     Ed25519 signature over "ratchet-command-log-v1" LF origin LF body
     verifies with that key (openssl pkeyutl -verify -rawin);
  3. it is a "demote" record; seqs increase (pushes come in log order, with
     gaps: only demote records are pushed); a seq already accepted with the
     same bytes is answered 200 again (pushes are at least once), with other
     bytes 409 (two histories).

Usage: controlplane.py --port P --pubkey KEY.pub --key-name NAME --origin O
                       --dir DIR [--fail-first N] [--bearer-token-file F]
Answers POST /records (any query). The first N pushes get 500 before any
check (fault injection). DIR/requests.jsonl gets one line per push
({"seq", "status", "reason"}), DIR/accepted.log every accepted line.
GET /stats returns {"requests": N, "accepted": [seq...], "duplicates": N}.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTEXT = b"ratchet-command-log-v1"
MAX_BODY = 16384  # a record line is at most 16384 bytes


class State:
    def __init__(self, args, key_raw):
        self.args = args
        self.key_raw = key_raw
        self.key_id = hashlib.sha256(args.key_name.encode() + b"\n\x01" + key_raw).hexdigest()[:8]
        self.lock = threading.Lock()
        self.requests = 0
        self.accepted = {}  # seq -> line
        self.last_seq = -1
        self.duplicates = 0


def public_key_raw(path):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", path, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return der[-32:]


def verify_signature(pubkey_path, message, signature):
    with tempfile.TemporaryDirectory() as tmp:
        msg, sig = os.path.join(tmp, "msg.bin"), os.path.join(tmp, "sig.bin")
        with open(msg, "wb") as f:
            f.write(message)
        with open(sig, "wb") as f:
            f.write(signature)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubkey_path, "-rawin",
                            "-in", msg, "-sigfile", sig], capture_output=True)
        return r.returncode == 0


def check_line(state, line):
    """Returns (seq, None) for a valid demote record, or (seq or None, why)."""
    if b"\n" in line or line.count(b"\t") != 1:
        return None, "not one record line"
    body, sig_b64 = line.split(b"\t")
    try:
        sig = base64.b64decode(sig_b64, validate=True)
    except ValueError:
        return None, "signature is not base64"
    if len(sig) != 64 or base64.b64encode(sig) != sig_b64:
        return None, "signature is not the canonical base64 of 64 bytes"
    try:
        rec = json.loads(body)
    except ValueError:
        return None, "body is not JSON"
    seq = rec.get("seq")
    if not isinstance(seq, int):
        return None, "no seq"
    if rec.get("key_id") != state.key_id:
        return seq, "key_id is not the log's key"
    message = CONTEXT + b"\n" + state.args.origin.encode() + b"\n" + body
    if not verify_signature(state.args.pubkey, message, sig):
        return seq, "signature does not verify"
    if rec.get("type") != "demote":
        return seq, "not a demote record"
    if not re.fullmatch(r"[0-9a-f]{64}", rec.get("prev", "")):
        return seq, "bad prev"
    return seq, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def reply(self, code, text):
        data = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st = self.server.state
        if self.path != "/stats":
            self.reply(404, "no such path")
            return
        with st.lock:
            body = json.dumps({"requests": st.requests, "accepted": sorted(st.accepted),
                               "duplicates": st.duplicates})
        self.reply(200, body)

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length", "-1"))
        if not 0 <= length <= MAX_BODY:
            self.reply(413, "too large")
            return
        line = self.rfile.read(length)
        with st.lock:
            st.requests += 1
            n = st.requests
        status, seq, why = self.decide(st, n, line)
        if seq is None:  # for the record of requests, also when refused before the checks
            m = re.match(rb'\{"v":1,"seq":([0-9]+),', line)
            seq = int(m.group(1)) if m else None
        with st.lock:
            with open(os.path.join(st.args.dir, "requests.jsonl"), "a") as f:
                f.write(json.dumps({"seq": seq, "status": status, "reason": why}) + "\n")
        self.reply(status, why or "accepted")

    def decide(self, st, n, line):
        if not self.path.startswith("/records"):
            return 404, None, "no such path"
        if n <= st.args.fail_first:
            return 500, None, "fault injection"
        if st.token is not None and self.headers.get("Authorization", "") != "Bearer " + st.token:
            return 401, None, "unauthorized"
        if self.headers.get("Content-Type") != "application/x-ratchet-record":
            return 415, None, "content type"
        seq, why = check_line(st, line)
        if why:
            return 422, seq, why
        with st.lock:
            if seq in st.accepted:
                if st.accepted[seq] != line:
                    return 409, seq, "another record with this seq: two histories"
                st.duplicates += 1
                return 200, seq, "already accepted"
            if seq <= st.last_seq:
                return 409, seq, "older than the last accepted record"
            st.accepted[seq] = line
            st.last_seq = seq
            with open(os.path.join(st.args.dir, "accepted.log"), "ab") as f:
                f.write(line + b"\n")
        return 200, seq, None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pubkey", required=True)
    p.add_argument("--key-name", required=True)
    p.add_argument("--origin", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--bearer-token-file")
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args, public_key_raw(args.pubkey))
    server.state.token = None
    if args.bearer_token_file:
        with open(args.bearer_token_file) as f:
            server.state.token = f.read().rstrip("\n")
    print("listening on", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
