/* Synthetic command-log records for the benchmark tools (gen_log.c,
 * append_bench.c): what a production log holds, a demote record per
 * demotion and an actuated record once the control plane took it. */
#ifndef RATCHET_BENCH_RECORDS_H
#define RATCHET_BENCH_RECORDS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmdlog/writer.h"
#include "common/util.h"

#define BENCH_T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define BENCH_BOTS 100000

/* Record i (from 1): odd i a demote of bot i/2, even i the actuated record
 * of the demote just before it (seq *last_demote). */
static inline int bench_append_nth(struct rt_logw *w, uint64_t i, uint64_t *last_demote) {
    struct rt_log_record r;
    memset(&r, 0, sizeof r);
    if (i % 2 == 0) {
        r.type = RT_LOG_ACTUATED;
        r.u.actuated.for_seq = *last_demote;
        rt_strlcpy(r.u.actuated.target, "https://control.trading.internal/api/v1/ratchet/records",
                   sizeof r.u.actuated.target);
        r.u.actuated.http_status = 200;
        return rt_logw_append(w, &r, NULL);
    }
    r.type = RT_LOG_DEMOTE;
    struct rt_msg_demote *d = &r.u.demote;
    for (int k = 0; k < RT_PROTO_REQUEST_ID; k++)
        d->request_id[k] = (uint8_t)((i >> (8 * (k % 8))) + (uint64_t)k);
    snprintf(d->bot, sizeof d->bot, "bot-%06u", (unsigned)(i / 2 % BENCH_BOTS));
    d->cond = (enum rt_cond)(i / 2 % RT_COND_COUNT);
    snprintf(d->reason_code, sizeof d->reason_code, "demote.%s", rt_cond_name(d->cond));
    d->window_start_us = BENCH_T0 + (int64_t)i * INT64_C(1000000);
    d->window_us = INT64_C(86400000000);
    d->unknown_us = 0;
    d->decided_at_us = d->window_start_us + d->window_us;
    d->evidence_ts_us = d->decided_at_us - 30000000;
    d->evidence_known = true;
    d->evidence_value = d->cond == RT_COND_CVSS ? 9.8 : 0.05;
    d->has_threshold = d->cond != RT_COND_P0_ALERT;
    d->threshold = d->cond == RT_COND_CVSS ? 7.0 : 0.01;
    snprintf(d->summary, sizeof d->summary, "%s in breach for 1d since the window start; last evidence %g",
             rt_cond_name(d->cond), d->evidence_value);
    return rt_logw_append(w, &r, last_demote);
}

#endif
