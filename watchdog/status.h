/* GET /api/v1/status (JSON for on-call and ratchetctl status) and
 * GET /metrics (Prometheus text exposition). */
#ifndef RATCHET_WD_STATUS_H
#define RATCHET_WD_STATUS_H

#include "common/strbuf.h"
#include "watchdog/actuate.h"
#include "watchdog/core.h"
#include "watchdog/health.h"

#include "watchdog/httpd.h"

/* Outcomes of webhook deliveries that reached the handler (auth, size and
 * content-type refusals are counted by the HTTP layer). */
enum wd_webhook_outcome {
    WD_WEBHOOK_ACCEPTED = 0, /* 200 */
    WD_WEBHOOK_BAD_REQUEST,  /* 400 */
    WD_WEBHOOK_TOO_LARGE,    /* 413 */
    WD_WEBHOOK_UNUSABLE,     /* 422 */
    WD_WEBHOOK_UNAVAILABLE,  /* 503: ratchet could not persist; Alertmanager retries */
    WD_WEBHOOK_OUTCOME_COUNT
};

struct wd_view {
    const struct wd_core *core;
    const struct wd_source_health *health; /* [WD_SRC_COUNT] */
    const uint64_t *webhook;               /* [WD_WEBHOOK_OUTCOME_COUNT] */
    const struct rt_httpd *httpd;          /* NULL in tests without a server */
    const struct wd_actuate *actuate;      /* NULL: no control plane configured */
    int64_t started_us;
};

const char *wd_webhook_outcome_name(enum wd_webhook_outcome o);

/* only_bot: NULL for every bot. -ENOENT if only_bot is not tracked. */
int wd_status_json(const struct wd_view *v, struct rt_now now, const char *only_bot, struct rt_strbuf *out);
int wd_metrics_text(const struct wd_view *v, struct rt_now now, struct rt_strbuf *out);

#endif
