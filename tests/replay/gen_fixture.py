#!/usr/bin/env python3
"""Generate the replay fixture: a week of synthetic evidence for ~20 bots and
the decisions ratchet must take on it.

Each bot follows one scenario. The scenario describes what its feeds say and,
separately, what must happen, computed with plain arithmetic from the
scenario's own parameters ("breach opened at X, never interrupted, evidence
fresh at X+24h, so demoted at X+24h"). Nothing here models the engine: the
expectations come from docs/policy.md applied by hand, so a bug in the engine
cannot leak into the expected output.

Outputs (all checked in; the generator is deterministic):
  evidence.jsonl          the stream, in arrival order
  expected.jsonl          `ratchetctl replay --json` output, default policy
  policy-lenient.json     error_rate threshold 0.025 instead of 0.01
  expected-lenient.jsonl  `replay --json --policy policy-lenient.json`
  scenarios.md            one line per bot: what it does, what must happen
  bad/*.jsonl, bad/*.err  malformed streams and the error each must produce

Usage: gen_fixture.py [OUTPUT_DIR]   (default: the directory of this script)
Python 3 standard library only.
"""

import json
import os
import random
import sys
import zlib
from datetime import datetime, timezone

# ---------------------------------------------------------------- time ----

US = 1
SEC = 1_000_000 * US
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

WINDOW = 24 * HOUR          # default policy: every condition
MAX_AGE = 15 * MIN          # default policy: max_evidence_age
ERROR_THRESHOLD = 0.01      # default policy
CVSS_THRESHOLD = 7.0        # default policy
LENIENT_ERROR_THRESHOLD = 0.025

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def at(text):
    """'2026-11-03T09:17:30.250' (UTC) -> microseconds since the epoch."""
    if "." in text:
        main, frac = text.split(".")
        frac_us = int((frac + "000000")[:6])
    else:
        main, frac_us = text, 0
    dt = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return (int((dt - EPOCH).total_seconds()) * SEC) + frac_us


def fmt_time(us):
    """RFC 3339 UTC as ratchet prints it: 'Z', '.mmm' or '.uuuuuu' only when
    the sub-second part is non-zero."""
    secs, frac = divmod(us, SEC)
    dt = datetime.fromtimestamp(secs, tz=timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        return base + "Z"
    if frac % 1000 == 0:
        return "%s.%03dZ" % (base, frac // 1000)
    return "%s.%06dZ" % (base, frac)


def fmt_seconds(us):
    """Seconds field: an integer when whole, else up to 6 decimals."""
    if us % SEC == 0:
        return str(us // SEC)
    return ("%.6f" % (us / SEC)).rstrip("0")


def fmt_number(v):
    """The fewest significant digits (1..17) that read back as the same
    double; plain notation when 1e-4 <= |v| < 1e15 ("250", "0.02", "-412.5"),
    else exponent notation as C's %g writes it ("1e-05", "1e+15")."""
    v = float(v)
    if v == 0:
        return "0"
    for prec in range(1, 18):
        e = "%.*e" % (prec - 1, v)
        if float(e) == v:
            break
    exp = int(e.split("e")[1])
    if -4 <= exp < 15:
        return "%.*f" % (max(0, prec - 1 - exp), v)
    return "%.*g" % (prec, v)


START = at("2026-11-02T00:00:00")   # Monday
END = START + 7 * DAY               # feeds run over [START, END)

P0_POLL = 10 * MIN       # the watchdog re-asserts the Alertmanager state
DRIFT_EVERY = 5 * MIN
CVSS_EVERY = HOUR
ERROR_EVERY = 5 * MIN    # most bots; scenarios that need minute precision use 1m

COND_ORDER = ["p0_alert", "error_rate", "recon_drift", "cvss"]
PRIO = {"readiness": 0, "p0_alert": 1, "error_rate": 2, "recon_drift": 3, "cvss": 4}
LATE = 9                 # extra deliveries go after the regular items at the same time

ABSENT = object()        # no line at all (scraper down, gap in the data)


def floor_to(t, step, offset=0):
    """The last grid point (START + offset + k*step) at or before t."""
    return START + offset + (t - START - offset) // step * step


# ------------------------------------------------------------ scenario ----

class Segment:
    def __init__(self, start, end, value):
        self.start, self.end, self.value = start, end, value


class Bot:
    """Feeds and expectations of one bot. Segments override the healthy
    background value in [start, end); the first matching segment wins."""

    def __init__(self, bot, does, must):
        self.bot = bot
        self.does = does
        self.must = must
        self.error_every = ERROR_EVERY
        self.error = []
        self.drift = []
        self.drift_offset = 0
        self.tolerance = 250           # carried in every drift line; None: omitted
        self.cvss = []
        self.cvss_healthy = 5.3
        self.p0_firing = []            # (start, end): alert active
        self.p0_null = []              # (start, end): Alertmanager poll failed
        self.p0_event_ts = {}          # start -> ts text to write instead of UTC
        self.readiness = []            # (ts, state)
        self.extra = []                # (delivery_ts, prio, line dict)
        self.reprio = {}               # (condition, ts) -> prio
        self.p0_delivery = {}          # event ts -> (delivery ts, prio)
        self.backlog = None            # (from, to, delivered at): error_rate re-sent
        self.expected = []             # decisions, default policy
        self.lenient_drops = set()     # expected decisions that need threshold 0.01

    def demote(self, cond, ts, window_start, unknown_us, evidence_ts, value, threshold,
               needs_one_percent=False):
        d = {
            "ts": ts, "bot": self.bot, "condition": cond, "window_start": window_start,
            "unknown": unknown_us, "evidence_ts": evidence_ts, "value": value,
            "threshold": threshold,
        }
        self.expected.append(d)
        if needs_one_percent:
            self.lenient_drops.add(id(d))


def scenarios():
    bots = []

    def new(bot, does, must):
        b = Bot(bot, does, must)
        bots.append(b)
        return b

    # 1. Nothing happens.
    b = new("mm-btc-01", "healthy all week; its lines also exercise parser corner cases "
            "(a line padded to exactly 4096 bytes, keys out of order, an integer value, "
            "lower-case 't'/'z', a -05:00 offset, comments and blank lines)",
            "no decision")
    b.cvss_healthy = 0

    # 2. P0 for 30h from day 2; the start is written with a +01:00 offset and ms.
    b = new("mm-eth-01", "P0 alert active for 30h from 2026-11-03T09:17:30.250Z "
            "(startsAt written as 10:17:30.25+01:00), re-asserted every 10 min",
            "demoted at start+24h = 2026-11-04T09:17:30.250Z; evidence is the 09:10 "
            "re-assertion (7.5 min old, fresh)")
    x = at("2026-11-03T09:17:30.250")
    b.p0_firing = [(x, x + 30 * HOUR)]
    b.p0_event_ts[x] = "2026-11-03T10:17:30.25+01:00"
    b.demote("p0_alert", x + WINDOW, x, 0, floor_to(x + WINDOW, P0_POLL), True, None)

    # 3. P0 resolved one hour short of the window.
    b = new("mm-sol-01", "P0 alert active 23h (2026-11-03T14:00Z to 2026-11-04T13:00Z)",
            "no decision (window closed by the resolve before 24h)")
    x = at("2026-11-03T14:00:00")
    b.p0_firing = [(x, x + 23 * HOUR)]

    # 4. Error rate with one healthy scrape at hour 20.
    b = new("arb-btc-01", "error rate 2% from 2026-11-03T06:00Z, scraped every minute; one "
            "healthy scrape (0.4%) at hour 20; 2% again from the next minute until "
            "2026-11-05T06:00Z",
            "window restarts at hour 20 + 1m = 2026-11-04T02:01Z; demoted 24h later, "
            "2026-11-05T02:01Z")
    x = at("2026-11-03T06:00:00")
    b.error_every = MIN
    ok_at = x + 20 * HOUR
    b.error = [Segment(x, ok_at, 0.02), Segment(ok_at, ok_at + MIN, 0.004),
               Segment(ok_at + MIN, at("2026-11-05T06:00:00"), 0.02)]
    restart = ok_at + MIN
    b.demote("error_rate", restart + WINDOW, restart, 0, restart + WINDOW, 0.02,
             ERROR_THRESHOLD, needs_one_percent=True)

    # 5. Prometheus outage (null samples) inside the window, on_unknown=hold.
    b = new("arb-eth-01", "error rate 2% from 2026-11-02T10:00Z every minute; Prometheus "
            "down (null samples) 12:00-14:00; 2% until 2026-11-03T12:00Z",
            "hold: demoted on schedule 2026-11-03T10:00Z with unknown_seconds 7200")
    x = at("2026-11-02T10:00:00")
    b.error_every = MIN
    out_from, out_to = at("2026-11-02T12:00:00"), at("2026-11-02T14:00:00")
    b.error = [Segment(x, out_from, 0.02), Segment(out_from, out_to, None),
               Segment(out_to, at("2026-11-03T12:00:00"), 0.02)]
    b.demote("error_rate", x + WINDOW, x, out_to - out_from, x + WINDOW, 0.02,
             ERROR_THRESHOLD, needs_one_percent=True)

    # 6. Evidence stale across the deadline.
    b = new("arb-sol-01", "error rate 2% every minute from 2026-11-04T10:00Z until "
            "2026-11-05T09:40Z, then no data until 12:00Z, then 2% until 13:00Z",
            "stale from 09:55 so not demoted at 10:00; demoted 2026-11-05T12:00Z when "
            "fresh breach evidence returns, unknown_seconds 7500 (09:55-12:00)")
    x = at("2026-11-04T10:00:00")
    b.error_every = MIN
    last, back = at("2026-11-05T09:40:00"), at("2026-11-05T12:00:00")
    b.error = [Segment(x, last + MIN, 0.02), Segment(last + MIN, back, ABSENT),
               Segment(back, back + HOUR, 0.02)]
    b.demote("error_rate", back, x, back - (last + MAX_AGE), back, 0.02, ERROR_THRESHOLD,
             needs_one_percent=True)

    # 7. Exact boundary: the last breach is exactly max_evidence_age old at D.
    b = new("mm-doge-01", "error rate 2% every 5 min from 2026-11-06T08:00Z; last sample "
            "at 2026-11-07T07:45Z (D - 15m), then no data until 09:00Z, healthy after",
            "freshness is inclusive: demoted at D = 2026-11-07T08:00Z on the 07:45 "
            "evidence, unknown_seconds 0")
    x = at("2026-11-06T08:00:00")
    d = x + WINDOW
    b.error = [Segment(x, d - MAX_AGE + b.error_every, 0.02),
               Segment(d - MAX_AGE + b.error_every, at("2026-11-07T09:00:00"), ABSENT)]
    b.demote("error_rate", d, x, 0, d - MAX_AGE, 0.02, ERROR_THRESHOLD, needs_one_percent=True)

    # 8. Exact boundary, one second the other way.
    b = new("mm-doge-02", "same as mm-doge-01 but the last sample before the gap is at "
            "07:44:59Z (D - 15m - 1s, a late scrape after the 07:40 one); 2% again "
            "09:00-10:00Z",
            "stale at D (from 07:59:59), so not demoted at D; demoted at 09:00Z, "
            "unknown_seconds 3601")
    jitter = d - MAX_AGE - SEC
    b.error = [Segment(x, d - MAX_AGE, 0.02),
               Segment(d - MAX_AGE, at("2026-11-07T09:00:00"), ABSENT),
               Segment(at("2026-11-07T09:00:00"), at("2026-11-07T10:00:00"), 0.02)]
    b.extra.append((jitter, PRIO["error_rate"],
                    {"ts": fmt_time(jitter), "bot": b.bot, "condition": "error_rate",
                     "value": 0.02}))
    back = at("2026-11-07T09:00:00")
    b.demote("error_rate", back, x, back - (jitter + MAX_AGE), back, 0.02, ERROR_THRESHOLD,
             needs_one_percent=True)

    # 9. Exact boundary: an OK sample at exactly D.
    b = new("mm-ada-01", "error rate 2% every minute from 2026-11-02T02:00Z; one 0.5% "
            "sample at exactly D = 2026-11-03T02:00Z; 2% again from 02:01 until "
            "2026-11-04T06:00Z",
            "the OK at D wins over the deadline: no decision at D; window reopens at "
            "02:01, demoted 2026-11-04T02:01Z")
    x = at("2026-11-02T02:00:00")
    d = x + WINDOW
    b.error_every = MIN
    b.error = [Segment(x, d, 0.02), Segment(d, d + MIN, 0.005),
               Segment(d + MIN, at("2026-11-04T06:00:00"), 0.02)]
    b.demote("error_rate", d + MIN + WINDOW, d + MIN, 0, d + MIN + WINDOW, 0.02,
             ERROR_THRESHOLD, needs_one_percent=True)

    # 10. Drift outside tolerance for 25h; samples carry a microsecond offset.
    b = new("mm-xrp-01", "recon drift -412.5 (tolerance 250 in every sample) for 25h from "
            "2026-11-05T16:00:00.000250Z; drift samples every 5 min at +250us",
            "abs(-412.5) > 250: demoted 2026-11-06T16:00:00.000250Z, threshold 250")
    b.drift_offset = 250 * US
    x = at("2026-11-05T16:00:00.000250")
    b.drift = [Segment(x, x + 25 * HOUR, -412.5)]
    b.demote("recon_drift", x + WINDOW, x, 0, x + WINDOW, -412.5, 250)

    # 11. Drift without a tolerance anywhere is unknown.
    b = new("mm-ltc-01", "recon drift around 5000 all week, evidence carries no tolerance "
            "and the default policy has none",
            "unknown all week (hold): no decision")
    b.tolerance = None
    b.drift = [Segment(START, END, 5000.0)]

    # 12. Exactly at every threshold.
    b = new("mm-avax-01", "CVSS 7.0 all week; error rate exactly 0.01; drift exactly "
            "+/-250 with tolerance 250",
            "thresholds are strict: no decision")
    b.cvss = [Segment(START, END, 7.0)]
    b.error = [Segment(START, END, 0.01)]
    b.drift = [Segment(START, END, "pm250")]

    # 13. CVSS 7.1, hourly scanner: 45 min of every hour is stale.
    b = new("mm-dot-01", "CVSS 7.1 finding open 30h from 2026-11-04T13:00Z, scanner runs "
            "hourly",
            "demoted 2026-11-05T13:00Z, threshold 7; each hourly sample is stale after "
            "15 min, so unknown_seconds = 24 x 45 min = 64800")
    x = at("2026-11-04T13:00:00")
    b.cvss = [Segment(x, x + 30 * HOUR, 7.1)]
    b.demote("cvss", x + WINDOW, x, (WINDOW // CVSS_EVERY) * (CVSS_EVERY - MAX_AGE),
             x + WINDOW, 7.1, CVSS_THRESHOLD)

    # 14. Limited live bot.
    b = new("mm-bnb-01", "in Limited live all week; P0 active and error rate 5% for 48h "
            "from 2026-11-03T00:00Z",
            "no decision (only General live bots are demoted)")
    x = at("2026-11-03T00:00:00")
    b.readiness = [(START, "limited_live")]
    b.p0_firing = [(x, x + 48 * HOUR)]
    b.error = [Segment(x, x + 48 * HOUR, 0.05)]

    # 15. Earlier readiness state.
    b = new("mm-trx-01", "readiness 'other' (paper trading) all week; CVSS 9.8 all week",
            "no decision")
    b.readiness = [(START, "other")]
    b.cvss = [Segment(START, END, 9.8)]

    # 16. Promoted to General live while breaching.
    b = new("mm-link-01", "Limited live from the start; error rate 2% from "
            "2026-11-02T12:00Z to 2026-11-05T12:00Z; promoted to General live at "
            "2026-11-04T08:00Z",
            "no decision while limited; the open window restarts at the promotion: "
            "demoted 2026-11-05T08:00Z")
    x = at("2026-11-02T12:00:00")
    r = at("2026-11-04T08:00:00")
    b.readiness = [(START, "limited_live"), (r, "general_live")]
    b.error = [Segment(x, at("2026-11-05T12:00:00"), 0.02)]
    b.demote("error_rate", r + WINDOW, r, 0, r + WINDOW, 0.02, ERROR_THRESHOLD,
             needs_one_percent=True)

    # 17. Demoted, re-promoted while still breaching, demoted again.
    b = new("mm-uni-01", "P0 active from 2026-11-02T06:00Z to 2026-11-05T00:00Z; "
            "Alertmanager poll returns null 20:00-21:00 on day 1; re-promoted to General "
            "live at 2026-11-03T18:00Z",
            "demoted 2026-11-03T06:00Z (unknown_seconds 3600), then again 24h after the "
            "re-promotion, 2026-11-04T18:00Z (unknown_seconds 0)")
    x = at("2026-11-02T06:00:00")
    r = at("2026-11-03T18:00:00")
    null_from, null_to = at("2026-11-02T20:00:00"), at("2026-11-02T21:00:00")
    b.p0_firing = [(x, at("2026-11-05T00:00:00"))]
    b.p0_null = [(null_from, null_to)]
    b.readiness = [(r, "general_live")]
    b.demote("p0_alert", x + WINDOW, x, null_to - null_from, x + WINDOW, True, None)
    b.demote("p0_alert", r + WINDOW, r, 0, r + WINDOW, True, None)

    # 18. Duplicate and late P0 deliveries.
    b = new("arb-ada-01", "P0 episode 2026-11-03T20:00-21:00Z, then P0 active from "
            "2026-11-04T03:10Z to 2026-11-05T06:00Z; the HA peer re-delivers the 03:10 "
            "firing webhook 1m and 12h later, a stale 'resolved' (ts 04:10) arrives at "
            "05:10, and the first episode's resolve is re-delivered 10h later",
            "none of the re-deliveries is newer than the applied evidence: demoted on "
            "the original schedule, 2026-11-05T03:10Z")
    first = at("2026-11-03T20:00:00")
    x = at("2026-11-04T03:10:00")
    b.p0_firing = [(first, first + HOUR), (x, at("2026-11-05T06:00:00"))]
    firing = {"ts": fmt_time(x), "bot": b.bot, "condition": "p0_alert", "value": True,
              "source": "alertmanager-b", "detail": "P0 SettlementStuck (HA peer)"}
    b.extra += [
        (x + MIN, LATE, firing),
        (x + 12 * HOUR, LATE, firing),
        (x + 2 * HOUR, LATE, {"ts": fmt_time(x + HOUR), "bot": b.bot,
                              "condition": "p0_alert", "value": False,
                              "source": "alertmanager-b", "detail": "late resolve"}),
        (x + 10 * HOUR, LATE, {"ts": fmt_time(first + HOUR), "bot": b.bot,
                               "condition": "p0_alert", "value": False,
                               "source": "alertmanager-b",
                               "detail": "re-delivered resolve of the first episode"}),
    ]
    b.demote("p0_alert", x + WINDOW, x, 0, x + WINDOW, True, None)

    # 19. Late backlog of healthy error-rate samples.
    b = new("arb-link-01", "error rate 3% from 2026-11-05T10:00Z to 2026-11-06T14:00Z; at "
            "16:00Z a remote-write backlog re-delivers the healthy samples of 07:00-08:00Z, "
            "and at 15:00Z a conflicting duplicate (0.1%) of the 15:00 sample arrives",
            "late and duplicate samples change nothing: demoted 2026-11-05T10:00Z + 24h = "
            "2026-11-06T10:00Z")
    x = at("2026-11-05T10:00:00")
    b.error = [Segment(x, at("2026-11-06T14:00:00"), 0.03)]
    b.backlog = (x - 3 * HOUR, x - 2 * HOUR, x + 6 * HOUR)
    b.extra.append((x + 5 * HOUR, LATE, {"ts": fmt_time(x + 5 * HOUR), "bot": b.bot,
                                         "condition": "error_rate", "value": 0.001}))
    b.demote("error_rate", x + WINDOW, x, 0, x + WINDOW, 0.03, ERROR_THRESHOLD)

    # 20. Two conditions, the earlier one wins.
    b = new("mm-matic-01", "P0 from 2026-11-03T01:30Z to 2026-11-04T12:00Z; error rate 5% "
            "from 2026-11-03T04:00Z to 2026-11-05T00:00Z",
            "P0 completes first: demoted 2026-11-04T01:30Z for p0_alert; the error-rate "
            "window (due 04:00) gives no decision")
    p0 = at("2026-11-03T01:30:00")
    b.p0_firing = [(p0, at("2026-11-04T12:00:00"))]
    b.error = [Segment(at("2026-11-03T04:00:00"), at("2026-11-05T00:00:00"), 0.05)]
    b.demote("p0_alert", p0 + WINDOW, p0, 0, p0 + WINDOW, True, None)

    # 21. Two conditions completing at the same instant.
    b = new("mm-atom-01", "P0 and error rate 2% both from 2026-11-06T00:00Z to "
            "2026-11-07T06:00Z",
            "both complete at 2026-11-07T00:00Z; p0_alert comes first in the order: one "
            "p0_alert decision only")
    x = at("2026-11-06T00:00:00")
    b.p0_firing = [(x, at("2026-11-07T06:00:00"))]
    b.error = [Segment(x, at("2026-11-07T06:00:00"), 0.02)]
    b.demote("p0_alert", x + WINDOW, x, 0, x + WINDOW, True, None)

    # 22. No aggregation across conditions.
    b = new("mm-near-01", "P0 for 20h from 2026-11-02T06:00Z, then error rate 4% for 4h",
            "two incomplete windows, not one complete one: no decision")
    x = at("2026-11-02T06:00:00")
    b.p0_firing = [(x, x + 20 * HOUR)]
    b.error = [Segment(x + 20 * HOUR, x + 24 * HOUR, 0.04)]

    # 23. Webhook delivered after the bot's later evidence.
    b = new("mm-arb-01", "P0 startsAt 2026-11-05T02:06Z, delivered at 02:10 after the bot's "
            "02:10 error-rate and drift samples (before the 02:10 poll); active until "
            "2026-11-06T05:00Z",
            "the window starts at the event time 02:06: demoted 2026-11-06T02:06Z on the "
            "02:00 re-assertion")
    x = at("2026-11-05T02:06:00")
    b.p0_firing = [(x, at("2026-11-06T05:00:00"))]
    b.p0_delivery = {x: (x + 4 * MIN, PRIO["recon_drift"] + 0.5)}
    b.reprio[("p0_alert", x + 4 * MIN)] = PRIO["recon_drift"] + 0.6
    b.demote("p0_alert", x + WINDOW, x, 0, floor_to(x + WINDOW, P0_POLL), True, None)

    return bots


# ------------------------------------------------------------- emitters ----

def value_at(segments, t, healthy):
    for s in segments:
        if s.start <= t < s.end:
            return s.value
    return healthy


class Stream:
    def __init__(self):
        self.items = []   # (delivery_ts, bot, prio, seq, text)
        self.seq = 0
        self.sent = {}    # (bot, condition, ts) -> line dict, for re-deliveries

    def add(self, delivery, bot, prio, line, text=None):
        self.seq += 1
        if text is None:
            text = json.dumps(line, separators=(",", ":"), ensure_ascii=False)
        self.items.append((delivery, bot, prio, self.seq, text))


def obs(bot, ts, cond, value, **extra):
    line = {"ts": fmt_time(ts), "bot": bot, "condition": cond, "value": value}
    line.update(extra)
    return line


def emit_error(b, st, rng):
    t = START
    while t < END:
        healthy = round(rng.uniform(0.0005, 0.006), 4)
        v = value_at(b.error, t, healthy)
        if v is not ABSENT:
            line = obs(b.bot, t, "error_rate", v)
            st.sent[(b.bot, "error_rate", t)] = line
            st.add(t, b.bot, PRIO["error_rate"], line)
        t += b.error_every


def emit_drift(b, st, rng):
    t = START + b.drift_offset
    flip = 1
    while t < END:
        scale = b.tolerance if b.tolerance else 100
        healthy = round(rng.uniform(-0.4, 0.4) * scale, 1) or 0.0
        v = value_at(b.drift, t, healthy)
        if v == "pm250":
            v, flip = 250.0 * flip, -flip
        extra = {} if b.tolerance is None else {"tolerance": b.tolerance}
        st.add(t, b.bot, PRIO["recon_drift"], obs(b.bot, t, "recon_drift", v, **extra))
        t += DRIFT_EVERY


def emit_cvss(b, st):
    t = START
    while t < END:
        v = value_at(b.cvss, t, b.cvss_healthy)
        extra = {"source": "scanner"}
        if v > CVSS_THRESHOLD:
            extra["detail"] = "open: CVE-2026-41%03d" % (zlib.crc32(b.bot.encode()) % 1000)
        st.add(t, b.bot, PRIO["cvss"], obs(b.bot, t, "cvss", v, **extra))
        t += CVSS_EVERY


def p0_state(b, t):
    if any(s <= t < e for s, e in b.p0_null):
        return None
    return any(s <= t < e for s, e in b.p0_firing)


def emit_p0(b, st):
    events = {}
    for s, e in b.p0_firing:
        events[s] = obs(b.bot, s, "p0_alert", True, source="alertmanager-a",
                        detail="P0 \"OrderGatewayDown\" on gw-2 \u2014 paging the desk")
        if s in b.p0_event_ts:
            events[s]["ts"] = b.p0_event_ts[s]
        events[e] = obs(b.bot, e, "p0_alert", False, source="alertmanager-a",
                        detail="resolved")
    for ts, line in events.items():
        if START <= ts < END:
            d, prio = b.p0_delivery.get(ts, (ts, PRIO["p0_alert"]))
            st.add(d, b.bot, prio, line)
    t = START
    while t < END:
        if t not in events:
            prio = b.reprio.get(("p0_alert", t), PRIO["p0_alert"])
            st.add(t, b.bot, prio, obs(b.bot, t, "p0_alert", p0_state(b, t)))
        t += P0_POLL


def emit_bot(b, st):
    seed = zlib.crc32(b.bot.encode())
    for ts, state in b.readiness:
        st.add(ts, b.bot, PRIO["readiness"], {"ts": fmt_time(ts), "bot": b.bot, "readiness": state})
    emit_p0(b, st)
    emit_error(b, st, random.Random(seed))
    emit_drift(b, st, random.Random(seed + 1))
    emit_cvss(b, st)
    if b.backlog:
        lo, hi, when = b.backlog
        for t in range(lo, hi + 1, b.error_every):
            st.add(when, b.bot, LATE, st.sent[(b.bot, "error_rate", t)])
    for delivery, prio, line in b.extra:
        st.add(delivery, b.bot, prio, line)


def quirks(st):
    """Lines for the healthy bot that are valid but unusual. They replace
    nothing: each sits at its own time between the regular samples."""
    bot = "mm-btc-01"
    t = START + 2 * MIN
    base = '{"ts":"%s","bot":"%s","condition":"error_rate","value":0.003' % (fmt_time(t), bot)
    padded = base + " " * (4096 - len(base) - 1) + "}"
    assert len(padded.encode()) == 4096
    st.add(t, bot, PRIO["error_rate"], None, padded)
    t = START + 7 * MIN
    st.add(t, bot, PRIO["error_rate"], None,
           '{"value":0,"condition":"error_rate","bot":"%s","ts":"%s"}' % (bot, fmt_time(t)))
    t = START + 12 * MIN
    st.add(t, bot, PRIO["error_rate"], None,
           '{"ts":"%s","bot":"%s","condition":"error_rate","value":0.002}'
           % (fmt_time(t).replace("T", "t").replace("Z", "z"), bot))
    t = START + 17 * MIN
    local = datetime.fromtimestamp((t - 5 * HOUR) // SEC, tz=timezone.utc)
    st.add(t, bot, PRIO["error_rate"], None,
           '{"ts":"%s-05:00","bot":"%s","condition":"error_rate","value":0.001,'
           '"source":"prometheus","detail":""}' % (local.strftime("%Y-%m-%dT%H:%M:%S"), bot))


# ------------------------------------------------------------- outputs ----

def decision_line(d):
    if d["value"] is True:
        value = "true"
    else:
        value = fmt_number(d["value"])
    threshold = "null" if d["threshold"] is None else fmt_number(d["threshold"])
    return ('{"ts":"%s","bot":"%s","condition":"%s","action":"demote",'
            '"reason_code":"demote.%s","window_start":"%s","window_seconds":%s,'
            '"unknown_seconds":%s,"evidence_ts":"%s","evidence_value":%s,"threshold":%s}'
            % (fmt_time(d["ts"]), d["bot"], d["condition"], d["condition"],
               fmt_time(d["window_start"]), fmt_seconds(WINDOW), fmt_seconds(d["unknown"]),
               fmt_time(d["evidence_ts"]), value, threshold))


def sorted_decisions(ds):
    return sorted(ds, key=lambda d: (d["ts"], d["bot"], COND_ORDER.index(d["condition"])))


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_evidence(outdir, bots):
    st = Stream()
    for b in bots:
        emit_bot(b, st)
    quirks(st)
    st.items.sort(key=lambda i: (i[0], i[1], i[2], i[3]))
    lines = [
        "# ratchet replay fixture: generated by tests/replay/gen_fixture.py; do not edit.",
        "# One week from %s, %d bots; see scenarios.md." % (fmt_time(START), len(bots)),
        "",
    ]
    lines += [text for _, _, _, _, text in st.items]
    write(os.path.join(outdir, "evidence.jsonl"), "\n".join(lines) + "\n")
    return len(st.items)


def write_expected(outdir, bots):
    all_d = [d for b in bots for d in b.expected]
    drops = set().union(*(b.lenient_drops for b in bots))
    default = sorted_decisions(all_d)
    # Same decisions minus the 2% ones; the threshold in force changes too.
    lenient = sorted_decisions([
        dict(d, threshold=LENIENT_ERROR_THRESHOLD) if d["condition"] == "error_rate" else d
        for d in all_d if id(d) not in drops])
    write(os.path.join(outdir, "expected.jsonl"), "".join(decision_line(d) + "\n" for d in default))
    write(os.path.join(outdir, "expected-lenient.jsonl"),
          "".join(decision_line(d) + "\n" for d in lenient))
    write(os.path.join(outdir, "policy-lenient.json"), json.dumps({
        "version": 1,
        "conditions": {"error_rate": {"threshold": LENIENT_ERROR_THRESHOLD}},
    }, indent=2) + "\n")
    return default, lenient


def write_scenarios(outdir, bots, default, lenient):
    same = len(lenient)  # the lenient run only removes decisions
    out = [
        "# Replay scenarios",
        "",
        "Generated by `gen_fixture.py`; do not edit. One week of evidence from",
        "%s to %s, default policy (24h windows, `max_evidence_age` 15m," % (fmt_time(START), fmt_time(END)),
        "`on_unknown: hold`, error rate > 0.01, CVSS > 7.0, no policy drift tolerance).",
        "Feeds: P0 state re-asserted every 10 min plus on/off events at their event times;",
        "error rate every 5 min (every minute where a scenario needs minute precision);",
        "recon drift every 5 min (tolerance 250 in the evidence); CVSS every hour.",
        "",
        "Expected: %d decisions (`expected.jsonl`). With `policy-lenient.json` (error-rate" % len(default),
        "threshold %s) the 2%% error-rate scenarios are not demoted: %d decisions" % (
            fmt_number(LENIENT_ERROR_THRESHOLD), len(lenient)),
        "(`expected-lenient.jsonl`), and `--policy policy-lenient.json --against` the default",
        "agrees on %d of %d decisions (%.2f%%)." % (same, len(default), 100.0 * same / len(default)),
        "",
    ]
    for b in bots:
        out.append("- `%s`: %s. **Must:** %s." % (b.bot, b.does, b.must))
    write(os.path.join(outdir, "scenarios.md"), "\n".join(out) + "\n")


# ---------------------------------------------------- malformed streams ----

GOOD_PREFIX = [
    "# %s",
    '{"ts":"2026-11-02T00:00:00Z","bot":"mm-btc-01","condition":"p0_alert","value":true}',
    '{"ts":"2026-11-03T00:00:00Z","bot":"mm-btc-01","condition":"p0_alert","value":true}',
    "",
    '{"ts":"2026-11-03T00:05:00Z","bot":"mm-btc-01","condition":"p0_alert","value":true}',
]
GOOD_SUFFIX = '{"ts":"2026-11-03T00:10:00Z","bot":"mm-btc-01","condition":"p0_alert","value":true}'

# name -> (bad line, distinctive part of the message). The valid lines around
# the bad one would demote mm-btc-01 at 2026-11-03T00:00Z: the run must print
# nothing because one line is malformed.
BAD = {
    "bad-json": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert",',
                 "invalid JSON"),
    "not-object": ('["2026-11-03T00:06:00Z","mm-btc-01","p0_alert",true]', "object"),
    "wrong-type": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert","value":1}',
                   "value:"),
    "error-rate-string": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"error_rate",'
                          '"value":"0.02"}', "value:"),
    "negative-error-rate": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"error_rate",'
                            '"value":-0.5}', "value:"),
    "cvss-out-of-range": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"cvss",'
                          '"value":10.5}', "value:"),
    "bad-timestamp": ('{"ts":"2026-11-03 00:06:00","bot":"mm-btc-01","condition":"p0_alert","value":true}',
                      "ts:"),
    "bad-date": ('{"ts":"2026-02-30T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert","value":true}',
                 "ts:"),
    "unknown-condition": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"latency",'
                          '"value":0.5}', "condition:"),
    "invalid-bot-id": ('{"ts":"2026-11-03T00:06:00Z","bot":"-mm-btc-01","condition":"p0_alert",'
                       '"value":true}', "bot:"),
    "bot-id-too-long": ('{"ts":"2026-11-03T00:06:00Z","bot":"%s","condition":"p0_alert","value":true}'
                        % ("b" * 65), "bot:"),
    "unknown-key": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert",'
                    '"value":true,"severity":"P0"}', "severity:"),
    "missing-value": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert"}',
                      "value:"),
    "tolerance-not-drift": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"error_rate",'
                            '"value":0.02,"tolerance":5}', "tolerance:"),
    "negative-tolerance": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"recon_drift",'
                           '"value":10,"tolerance":-1}', "tolerance:"),
    "detail-too-long": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert",'
                        '"value":true,"detail":"%s"}' % ("x" * 1025), "detail:"),
    "source-too-long": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert",'
                        '"value":true,"source":"%s"}' % ("s" * 65), "source:"),
    "duplicate-key": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert",'
                      '"value":true,"value":false}', "duplicate"),
    "bad-readiness": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","readiness":"paused"}',
                      "readiness:"),
    "readiness-extra-key": ('{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","readiness":"other",'
                            '"condition":"p0_alert"}', "condition:"),
}


def oversize_line():
    """Valid JSON, but 4097 bytes: only the length limit rejects it."""
    base = '{"ts":"2026-11-03T00:06:00Z","bot":"mm-btc-01","condition":"p0_alert","value":true'
    line = base + " " * (4097 - len(base) - 1) + "}"
    assert len(line.encode()) == 4097
    return line


def write_bad(outdir):
    bad_dir = os.path.join(outdir, "bad")
    os.makedirs(bad_dir, exist_ok=True)
    cases = dict(BAD)
    cases["oversize-line"] = (oversize_line(), "4096")
    for name, (bad, needle) in sorted(cases.items()):
        lines = [GOOD_PREFIX[0] % ("malformed: " + name)] + GOOD_PREFIX[1:] + [bad, GOOD_SUFFIX]
        bad_lineno = len(GOOD_PREFIX) + 1
        write(os.path.join(bad_dir, name + ".jsonl"), "\n".join(lines) + "\n")
        write(os.path.join(bad_dir, name + ".err"), "%d:%s\n" % (bad_lineno, needle))
    return len(cases)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(outdir, exist_ok=True)
    bots = scenarios()
    n_lines = write_evidence(outdir, bots)
    default, lenient = write_expected(outdir, bots)
    write_scenarios(outdir, bots, default, lenient)
    n_bad = write_bad(outdir)
    print("gen_fixture: %d bots, %d evidence lines, %d decisions (%d lenient), %d bad streams"
          % (len(bots), n_lines, len(default), len(lenient), n_bad))


if __name__ == "__main__":
    main()
