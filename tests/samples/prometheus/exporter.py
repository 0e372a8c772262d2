# Tiny exporter for capturing real Prometheus API responses: a request and
# error counter per bot (errors grow at a fixed ratio per bot), an idle bot
# whose counters never move (rate 0/0 = NaN), a bot with errors but no
# requests (x/0 = +Inf), a NaN gauge, reconciliation drift gauges.
import http.server, sys, threading

lock = threading.Lock()
n = 0
RATIOS = {"mm-eth-01": 0.02, "arb-btc-02": 0.005, "mm-sol-03": 0.0000001}

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global n
        with lock:
            n += 1
            k = n
        lines = ["# TYPE bot_requests_total counter"]
        for bot in RATIOS:
            lines.append('bot_requests_total{bot="%s"} %d' % (bot, k * 1000))
        lines.append('bot_requests_total{bot="mm-idle-04"} 500')
        lines.append('bot_requests_total{bot="mm-broken-05"} 100')
        lines.append('bot_requests_total{bot="-bad id"} %d' % (k * 10))
        lines.append('bot_requests_total{service="gateway"} %d' % (k * 10))
        lines.append("# TYPE bot_errors_total counter")
        for bot, r in RATIOS.items():
            lines.append('bot_errors_total{bot="%s"} %r' % (bot, k * 1000 * r))
        lines.append('bot_errors_total{bot="mm-idle-04"} 3')
        lines.append('bot_errors_total{bot="mm-broken-05"} %d' % k)
        lines.append('bot_errors_total{bot="-bad id"} %d' % k)
        lines.append('bot_errors_total{service="gateway"} %d' % k)
        lines.append("# TYPE bot_error_ratio_gauge gauge")
        lines.append('bot_error_ratio_gauge{bot="mm-eth-01"} NaN')
        lines.append('bot_error_ratio_gauge{bot="arb-btc-02"} 1e-07')
        lines.append('bot_error_ratio_gauge{bot="mm-sol-03"} -Inf')
        lines.append("# TYPE bot_recon_drift gauge")
        lines.append('bot_recon_drift{bot="mm-eth-01",venue="binance"} -412.5')
        lines.append('bot_recon_drift{bot="mm-eth-01",venue="kraken"} 120.25')
        lines.append('bot_recon_drift{bot="arb-btc-02",venue="binance"} 0')
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
