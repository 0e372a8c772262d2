/* The watchdog's HTTP endpoints (docs/http-api.md):
 *   POST /webhook/alertmanager  Alertmanager webhook receiver (auth required)
 *   GET  /api/v1/status         bots, windows, time to demotion, sources
 *   GET  /metrics               Prometheus text exposition
 *   GET  /healthz               200 while the state store works */
#ifndef RATCHET_WD_API_H
#define RATCHET_WD_API_H

#include "watchdog/core.h"
#include "watchdog/httpd.h"
#include "watchdog/sources.h"
#include "watchdog/status.h"

struct wd_api {
    struct wd_core *core;
    struct wd_sources *sources;
    struct rt_httpd *httpd;
    struct wd_actuate *actuate; /* NULL: no control plane */
    uint64_t webhook[WD_WEBHOOK_OUTCOME_COUNT];
    int64_t started_us;
};

int wd_api_register(struct wd_api *api);
struct wd_view wd_api_view(const struct wd_api *api);

#endif
