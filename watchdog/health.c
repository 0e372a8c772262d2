#include "watchdog/health.h"

#include "common/log.h"
#include "common/util.h"

static const char *const names[WD_SRC_COUNT] = {"alertmanager", "prometheus", "drift", "cvss", "registry"};

const char *wd_source_name(enum wd_source s) {
    return (unsigned)s < WD_SRC_COUNT ? names[s] : "invalid";
}

enum wd_source wd_source_of(enum rt_cond c) {
    switch (c) {
    case RT_COND_P0_ALERT: return WD_SRC_ALERTMANAGER;
    case RT_COND_ERROR_RATE: return WD_SRC_PROMETHEUS;
    case RT_COND_RECON_DRIFT: return WD_SRC_DRIFT;
    case RT_COND_CVSS:
    default: return WD_SRC_CVSS;
    }
}

void wd_health_record(struct wd_source_health *h, enum wd_source s, bool ok, int64_t wall_us,
                      const char *error) {
    bool was_up = h->up, first = h->last_attempt_us == 0;
    h->last_attempt_us = wall_us;
    if (ok) {
        h->up = true;
        h->successes++;
        h->last_success_us = wall_us;
        h->last_error[0] = '\0';
        if (!was_up)
            rt_log(LOG_NOTICE, RT_MSGID_SOURCE_UP, NULL, NULL, "source %s is up", names[s]);
        return;
    }
    h->up = false;
    h->failures++;
    rt_strlcpy(h->last_error, error ? error : "failed", sizeof(h->last_error));
    if (was_up || first)
        rt_log(LOG_WARNING, RT_MSGID_SOURCE_DOWN, NULL, NULL,
               "source %s is down: %s (its evidence goes stale; open windows are held, not reset)",
               names[s], h->last_error);
}
