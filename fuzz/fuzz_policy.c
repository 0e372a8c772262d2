/* Policy files (policy/policy.h rt_policy_parse), then a short engine run
 * under the parsed policy.
 * Invariants: 0 with a policy, or -EINVAL with 1..RT_POLICY_MAX_ERRORS
 * errors sorted by position (-ENOMEM aside); an accepted policy has windows
 * and evidence ages in 1 us .. RT_POLICY_MAX_DURATION_US, finite
 * thresholds, per-bot entries sorted by id with valid ids, and
 * rt_policy_cond() finds each one; the engine never reports a decision
 * before window_start + window, for any accepted window length. */
#include <errno.h>
#include <math.h>

#include "fuzz/fuzz_common.h"
#include "policy/engine.h"
#include "policy/policy.h"

#define T0 INT64_C(1795000000000000)

static void check_cond(const struct rt_cond_policy *c) {
    FZ_CHECK(c->window_us >= 1 && c->window_us <= RT_POLICY_MAX_DURATION_US);
    FZ_CHECK(c->max_evidence_age_us >= 1 && c->max_evidence_age_us <= RT_POLICY_MAX_DURATION_US);
    FZ_CHECK(!c->has_threshold || isfinite(c->threshold));
    FZ_CHECK(c->on_unknown <= RT_ON_UNKNOWN_BREACH);
}

static void on_decision(const struct rt_decision *d, void *ud) {
    (void)ud;
    FZ_CHECK(d->ts_us >= d->window_start_us + d->window_us);
    FZ_CHECK(d->reason_code != NULL);
}

/* Breach evidence at T0 for every condition, then time passes. */
static void run_engine(const struct rt_policy *p, const char *bot) {
    static const double breach[RT_COND_COUNT] = {1, 1, 1e12, 10};
    struct rt_engine *e = rt_engine_new(p);
    FZ_CHECK(e != NULL);
    for (int c = 0; c < RT_COND_COUNT; c++) {
        struct rt_obs o = {.bot = bot, .cond = (enum rt_cond)c, .ts_us = T0, .known = true, .value = breach[c],
                           .has_tolerance = c == RT_COND_RECON_DRIFT, .tolerance = 0};
        FZ_CHECK(rt_engine_observe(e, &o, (struct rt_now){T0, T0}, on_decision, NULL) == 0);
    }
    static const int64_t steps[] = {1, 1000000, INT64_C(86400000000), RT_POLICY_MAX_DURATION_US,
                                    2 * RT_POLICY_MAX_DURATION_US};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        FZ_CHECK(rt_engine_advance(e, (struct rt_now){T0 + steps[i], T0 + steps[i]}, on_decision, NULL) == 0);
    rt_engine_free(e);
}

/* The parse call again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs;
    if (rt_policy_parse((const char *)data, size, &p, &errs) == 0)
        rt_policy_free(p);
}

static void check(const uint8_t *data, size_t size) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs;
    int r = rt_policy_parse((const char *)data, size, &p, &errs);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r == -EINVAL) {
        FZ_CHECK(p == NULL && errs.n >= 1 && errs.n <= RT_POLICY_MAX_ERRORS);
        for (size_t i = 0; i < errs.n; i++) {
            const struct rt_policy_error *e = &errs.e[i];
            FZ_CHECK(fz_terminated(e->text, sizeof e->text) && e->text[0]);
            FZ_CHECK(e->line >= 0 && (e->line == 0 || e->column >= 1));
            if (i > 0 && e->line > 0 && errs.e[i - 1].line > 0)
                FZ_CHECK(errs.e[i - 1].line < e->line || (errs.e[i - 1].line == e->line && errs.e[i - 1].column <= e->column));
        }
    }
    if (r != 0)
        return;
    FZ_CHECK(p != NULL && p->n_bots <= RT_POLICY_MAX_BOTS);
    for (int c = 0; c < RT_COND_COUNT; c++)
        check_cond(&p->cond[c]);
    for (size_t i = 0; i < p->n_bots; i++) {
        const struct rt_bot_policy *b = &p->bots[i];
        FZ_CHECK(fz_terminated(b->bot, sizeof b->bot) && rt_bot_id_valid(b->bot));
        FZ_CHECK(i == 0 || strcmp(p->bots[i - 1].bot, b->bot) < 0);
        for (int c = 0; c < RT_COND_COUNT; c++) {
            check_cond(&b->cond[c]);
            FZ_CHECK(rt_policy_cond(p, b->bot, (enum rt_cond)c) == &b->cond[c]);
        }
    }
    run_engine(p, p->n_bots ? p->bots[0].bot : "alpha");
    rt_policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
