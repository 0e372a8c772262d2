/* Reference model of the demotion policy, written from docs/policy.md
 * ("Window semantics" rules 1-4, 6, 7 and "Reconciliation tolerance") and
 * NOT from policy/engine.c, so that the property test can check one against
 * the other. It is deliberately naive: integer seconds, and for every second x
 * from 0 to the last ts it decides the effective state of each (bot,
 * condition) at x. Simulated time only: wall == monotonic, no clock steps.
 *
 * Domain: the model covers streams whose applied items arrive in time order.
 * An item whose ts is older than an earlier item's ts is accepted only if it
 * is an observation that rule 2 ignores (not newer than the newest applied
 * observation of its bot and condition). Anything else is refused with
 * -EINVAL: for such items docs/policy.md (rule 8) does not say how an item in
 * the past interacts with what was already decided. */
#ifndef RATCHET_TEST_REFMODEL_H
#define RATCHET_TEST_REFMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/engine.h"
#include "policy/policy.h"

#define RM_MAX_BOTS 8
#define RM_MAX_ITEMS 4096
/* Bounds the per-second scan: 30 days of seconds. */
#define RM_MAX_TS (INT64_C(30) * 86400)

/* One condition's effective policy for one bot, in seconds. */
struct rm_cond_policy {
    int64_t window_s;
    int64_t max_age_s;
    enum rt_on_unknown on_unknown;
    /* error_rate, cvss: threshold; recon_drift: the policy tolerance, if any. */
    bool has_threshold;
    double threshold;
};

/* Per-bot policies, already merged (bot index -> conditions). */
struct rm_policy {
    size_t n_bots;
    struct rm_cond_policy cond[RM_MAX_BOTS][RT_COND_COUNT];
};

struct rm_item {
    bool is_readiness; /* else an observation */
    unsigned bot;      /* index into rm_policy */
    int64_t ts;        /* event time, seconds */
    /* observation */
    enum rt_cond cond;
    bool known;
    double value; /* p0_alert: 1 active, 0 not */
    bool has_tolerance;
    double tolerance;
    /* readiness change */
    enum rt_readiness readiness;
};

struct rm_decision {
    unsigned bot;
    enum rt_cond cond;
    int64_t ts;           /* T */
    int64_t window_start; /* start of the window that completed */
    int64_t window_s;
    int64_t unknown_s;    /* unknown seconds inside [window_start, T) */
};

/* Runs items (arrival order) and writes the decisions, sorted by (ts, bot
 * index, condition), to out. If noop_promotion is not NULL it must have n
 * entries; entry i is set when item i is a general_live change that found its
 * bot already in General live (the doc does not say whether that restarts the
 * bot's windows; the model treats it as no change).
 * Returns 0, -EINVAL (bad index, ts outside [0, RM_MAX_TS], non-positive
 * duration, too many items, or an item outside the model's domain, see
 * above) or -ENOBUFS (more than cap decisions). */
int rm_run(const struct rm_policy *p, const struct rm_item *items, size_t n,
           struct rm_decision *out, size_t cap, size_t *n_out, bool *noop_promotion);

/* Classification of one observation under a bot's condition policy. */
enum rt_class rm_classify(const struct rm_cond_policy *cp, const struct rm_item *obs);

#endif
