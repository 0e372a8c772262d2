/* Health of each evidence source, for status and metrics. */
#ifndef RATCHET_WD_HEALTH_H
#define RATCHET_WD_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

enum wd_source {
    WD_SRC_ALERTMANAGER = 0,
    WD_SRC_PROMETHEUS,
    WD_SRC_DRIFT,
    WD_SRC_CVSS,
    WD_SRC_REGISTRY,
    WD_SRC_COUNT
};

struct wd_source_health {
    bool configured, up;
    int64_t last_success_us, last_attempt_us; /* wall clock, 0 if never */
    uint64_t successes, failures;
    int64_t last_apply_us; /* the last good response's parse + apply + commit time, 0 if none */
    char last_error[256];
};

const char *wd_source_name(enum wd_source s);
/* The source that provides a condition's evidence. */
enum wd_source wd_source_of(enum rt_cond c);
/* Records an attempt's outcome; logs up/down transitions. */
void wd_health_record(struct wd_source_health *h, enum wd_source s, bool ok, int64_t wall_us,
                      const char *error);

#endif
