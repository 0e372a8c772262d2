#!/usr/bin/env python3
"""Helpers for the integration tests that run ratchet-watchdog against real
peers (Alertmanager, Prometheus, static feed servers). Used by lib_peers.sh.

  peers.py q URL EXPR       print EXPR evaluated on the JSON at URL
  peers.py ok URL EXPR      exit 0 if EXPR is true (for it_wait_for)
  peers.py watch URL COND WINDOW TIMEOUT BOT...
      Sample the watchdog's status every 100 ms until every BOT is in
      Limited live with a pending demotion, or TIMEOUT seconds pass.
      Prints one line per bot:
        bot=B decided=T since=S ws=W early=N before=N cond=C
      decided: decided_at of the bot's pending demotion (epoch seconds, or
      "none"); since: its readiness_since; ws: the last window_start of COND
      seen while the window was open; before: status samples generated
      before ws + WINDOW; early: those of them that already showed the bot
      demoted (must be 0).

In EXPR: d is the document; ts(s) turns an RFC 3339 string into epoch
seconds; bot(b), cond(b, c) and pend(b) pick a bot, one of its conditions
and its pending demotion (None if none) out of a status document; find(o, k)
lists every value of key k anywhere inside o; gen is
the status document's generated_at; now is the current time.
"""
import json
import sys
import time
import urllib.request
from datetime import datetime


def ts(s):
    """RFC 3339 (as the watchdog and Alertmanager write it) to epoch seconds."""
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    # Python before 3.11 accepts at most 6 fraction digits: cut nanoseconds.
    if "." in s:
        head, rest = s.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        s = head + "." + (rest[:i] + "000000")[:6] + rest[i:]
    return datetime.fromisoformat(s).timestamp()


def fetch(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def namespace(d):
    def bot(b):
        for x in d.get("bots", []):
            if x.get("bot") == b:
                return x
        raise KeyError("bot %s not in status" % b)

    def cond(b, c):
        return bot(b)["conditions"][c]

    def pend(b):
        for p in d.get("pending_demotions", []):
            if p.get("bot") == b:
                return p
        return None

    def find(obj, key):
        """Every value of KEY anywhere inside obj."""
        out = []
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k == key:
                    out.append(v)
                out += find(v, key)
        elif isinstance(obj, list):
            for v in obj:
                out += find(v, key)
        return out

    gen = ts(d["generated_at"]) if isinstance(d, dict) and "generated_at" in d else None
    # One dict used as globals, so that comprehensions in EXPR see the helpers.
    return {"__builtins__": {}, "d": d, "ts": ts, "bot": bot, "cond": cond, "pend": pend, "gen": gen,
            "find": find, "now": time.time(), "abs": abs, "len": len, "min": min, "max": max, "all": all,
            "any": any, "float": float, "sorted": sorted}


def evaluate(url, expr):
    d = fetch(url)
    return eval(expr, namespace(d))  # noqa: S307 (test input)


def watch(url, cond, window, timeout, bots):
    info = {b: {"decided": None, "since": None, "ws": None, "early": 0, "before": 0, "cond": None}
            for b in bots}
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            d = fetch(url, timeout=2)
        except Exception:  # restarting or busy: just sample again
            time.sleep(0.1)
            continue
        ns = namespace(d)
        gen = ns["gen"]
        for b in bots:
            i = info[b]
            try:
                st = ns["bot"](b)
            except KeyError:
                continue
            c = st["conditions"][cond]
            if c.get("window_open") and "window_start" in c:
                i["ws"] = ts(c["window_start"])
            p = ns["pend"](b)
            demoted = st.get("readiness") == "limited_live" or p is not None
            if i["ws"] is not None and gen < i["ws"] + window:
                i["before"] += 1
                if demoted:
                    i["early"] += 1
            if demoted and p is not None and st.get("readiness") == "limited_live" and i["decided"] is None:
                i["decided"] = ts(p["decided_at"])
                i["since"] = ts(st["readiness_since"]) if "readiness_since" in st else None
                i["cond"] = p.get("condition")
        if all(info[b]["decided"] is not None for b in bots):
            break
        time.sleep(0.1)
    for b in bots:
        i = info[b]
        fmt = lambda v: "none" if v is None else ("%.6f" % v if isinstance(v, float) else str(v))
        print("bot=%s decided=%s since=%s ws=%s early=%d before=%d cond=%s" % (
            b, fmt(i["decided"]), fmt(i["since"]), fmt(i["ws"]), i["early"], i["before"], fmt(i["cond"])))
    return 0 if all(info[b]["decided"] is not None for b in bots) else 1


def main(argv):
    if len(argv) >= 3 and argv[0] in ("q", "ok"):
        try:
            v = evaluate(argv[1], argv[2])
        except Exception as e:  # a failed request or a missing key is "false"
            print("error: %s" % e, file=sys.stderr)
            return 1
        if argv[0] == "q":
            print(v)
            return 0
        return 0 if v else 1
    if len(argv) >= 6 and argv[0] == "watch":
        return watch(argv[1], argv[2], float(argv[3]), float(argv[4]), argv[5:])
    if len(argv) == 2 and argv[0] == "ts":
        print("%.6f" % ts(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
