/* Polling of the evidence sources with libcurl multi on the daemon's event
 * loop: Alertmanager (reconciliation of P0 alerts), Prometheus (error rate,
 * with query_range backfill after a gap), the drift feed, CVSS reports, and
 * the bot registry. A failed poll produces no observation: the evidence goes
 * stale, which the engine treats as unknown (held by default). */
#ifndef RATCHET_WD_SOURCES_H
#define RATCHET_WD_SOURCES_H

#include <event2/event.h>

#include "feeds/alertmanager.h"
#include "watchdog/config.h"
#include "watchdog/core.h"
#include "watchdog/fetch.h"
#include "watchdog/health.h"

struct wd_sources;

int wd_sources_new(struct event_base *base, const struct rt_wd_config *cfg, struct wd_core *core,
                   struct wd_sources **out, char *err, size_t errlen);
/* Loads the registry synchronously (before READY) and schedules every poll. */
int wd_sources_start(struct wd_sources *s, char *err, size_t errlen);
/* Polls Alertmanager now (a webhook said alerts were truncated). */
void wd_sources_reconcile_now(struct wd_sources *s);
const struct wd_source_health *wd_sources_health(const struct wd_sources *s); /* [WD_SRC_COUNT] */
const struct rt_am_config *wd_sources_am_config(const struct wd_sources *s);
void wd_sources_free(struct wd_sources *s);

#endif
