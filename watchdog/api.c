/* HTTP handlers; see api.h. Status codes follow Alertmanager's retry rule:
 * 4xx for input that will never be acceptable, 503 only when ratchet itself
 * could not persist the result (Alertmanager retries 5xx, never 4xx). */
#include "watchdog/api.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "feeds/alertmanager.h"

static void count(struct wd_api *api, enum wd_webhook_outcome o) { api->webhook[o]++; }

static void reject(struct wd_api *api, struct rt_httpd_req *req, int status, const char *code, const char *msg) {
    enum wd_webhook_outcome o = status == 400 ? WD_WEBHOOK_BAD_REQUEST
                                : status == 413 ? WD_WEBHOOK_TOO_LARGE
                                : status == 422 ? WD_WEBHOOK_UNUSABLE
                                                : WD_WEBHOOK_UNAVAILABLE;
    count(api, o);
    rt_log(LOG_WARNING, RT_MSGID_WEBHOOK_REJECTED, NULL, NULL, "webhook from %s refused (%d %s): %s", req->peer,
           status, code, msg);
    if (status == 503)
        rt_httpd_add_header(req, "Retry-After", "10");
    rt_httpd_reply_error(req, status, code, "%s", msg);
}

/* Keeps only alerts for bots in the registry; returns how many remain. */
static size_t keep_known(const struct wd_core *c, struct rt_am_alert_list *l, size_t *unknown) {
    size_t n = 0;
    for (size_t i = 0; i < l->n_alerts; i++)
        if (wd_core_bot_known(c, l->alerts[i].bot))
            l->alerts[n++] = l->alerts[i];
    *unknown = l->n_alerts - n;
    l->n_alerts = n;
    return n;
}

static void webhook(struct rt_httpd_req *req, void *ud) {
    struct wd_api *api = ud;
    struct rt_am_webhook wh = {0};
    char err[RT_AM_ERR_MAX] = "";
    int r = rt_am_webhook_parse(req->body, req->body_len, wd_sources_am_config(api->sources), &wh, err, sizeof(err));
    int status = rt_am_http_status(r);
    size_t unknown = 0;
    if (r == 0 && keep_known(api->core, &wh.list, &unknown) == 0) {
        status = 422;
        snprintf(err, sizeof(err), "no P0 alert for a bot in the registry (%zu for unknown bots)", unknown);
    }
    if (status != 200) {
        reject(api, req, status == 500 ? 503 : status,
               status == 400 ? "bad_request" : status == 413 ? "too_large" : status == 422 ? "unusable" : "unavailable",
               err[0] ? err : "cannot process the payload now");
        rt_am_webhook_free(&wh);
        return;
    }
    struct rt_now now = wd_now();
    r = wd_core_p0_webhook(api->core, wh.list.alerts, wh.list.n_alerts, now);
    if (r == 0)
        r = wd_core_commit(api->core);
    if (r < 0) {
        reject(api, req, 503, "unavailable", "ratchet could not persist the alerts; retry");
        rt_am_webhook_free(&wh);
        return;
    }
    if (wh.truncated_alerts > 0) /* Alertmanager left alerts out: ask it for all of them */
        wd_sources_reconcile_now(api->sources);
    count(api, WD_WEBHOOK_ACCEPTED);
    /* On the stack: every accepted webhook answers, and four counters fit. */
    char body[160];
    int n = snprintf(body, sizeof body,
                     "{\"status\":\"ok\",\"received\":%zu,\"applied\":%zu,\"unknown_bot\":%zu,\"ignored\":%zu}",
                     wh.list.n_received, wh.list.n_alerts, unknown, wh.list.n_ignored);
    rt_httpd_reply(req, 200, "application/json", body, n > 0 && (size_t)n < sizeof body ? (size_t)n : 0);
    rt_am_webhook_free(&wh);
}

struct wd_view wd_api_view(const struct wd_api *api) {
    return (struct wd_view){.core = api->core, .health = wd_sources_health(api->sources),
                            .webhook = api->webhook, .httpd = api->httpd, .actuate = api->actuate,
                            .started_us = api->started_us};
}

/* ?bot=ID (the only parameter). Returns 0, 1 if absent, -EINVAL. */
static int query_bot(const char *query, char bot[RT_BOT_ID_MAX + 1]) {
    if (!query || !*query)
        return 1;
    if (strncmp(query, "bot=", 4) != 0 || !rt_strlcpy(bot, query + 4, RT_BOT_ID_MAX + 1) || !rt_bot_id_valid(bot))
        return -EINVAL;
    return 0;
}

static void status(struct rt_httpd_req *req, void *ud) {
    struct wd_api *api = ud;
    char bot[RT_BOT_ID_MAX + 1];
    int q = query_bot(req->query, bot);
    if (q < 0) {
        rt_httpd_reply_error(req, 400, "bad_request", "the only parameter is bot=<id>");
        return;
    }
    struct wd_view v = wd_api_view(api);
    struct rt_strbuf b = {0};
    int r = wd_status_json(&v, wd_now(), q == 0 ? bot : NULL, &b);
    if (r == -ENOENT)
        rt_httpd_reply_error(req, 404, "unknown_bot", "bot %s is not tracked", bot);
    else if (r < 0)
        rt_httpd_reply_error(req, 500, "internal", "%s", strerror(-r));
    else
        rt_httpd_reply_strbuf(req, 200, "application/json", &b);
    rt_sb_free(&b);
}

static void metrics(struct rt_httpd_req *req, void *ud) {
    struct wd_api *api = ud;
    struct wd_view v = wd_api_view(api);
    struct rt_strbuf b = {0};
    if (wd_metrics_text(&v, wd_now(), &b) < 0)
        rt_httpd_reply_error(req, 500, "internal", "out of memory");
    else
        rt_httpd_reply_strbuf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    rt_sb_free(&b);
}

static void healthz(struct rt_httpd_req *req, void *ud) {
    struct wd_api *api = ud;
    if (api->core->failed) {
        rt_httpd_reply_error(req, 503, "store_failed", "the state store failed; the watchdog is restarting");
        return;
    }
    static const char ok[] = "{\"status\":\"ok\"}";
    rt_httpd_reply(req, 200, "application/json", ok, sizeof(ok) - 1);
}

int wd_api_register(struct wd_api *api) {
    int r = rt_httpd_route(api->httpd, "POST", "/webhook/alertmanager", webhook, api, true);
    if (r == 0)
        r = rt_httpd_route_content_type(api->httpd, "POST", "/webhook/alertmanager", "application/json");
    if (r == 0)
        r = rt_httpd_route(api->httpd, "GET", "/api/v1/status", status, api, false);
    if (r == 0)
        r = rt_httpd_route(api->httpd, "GET", "/metrics", metrics, api, false);
    if (r == 0)
        r = rt_httpd_route(api->httpd, "GET", "/healthz", healthz, api, false);
    return r;
}
