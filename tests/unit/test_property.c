/* Property test: the engine (through rt_replay) against the reference model
 * in tests/unit/refmodel.c, over seeded random evidence streams, plus
 * engine-only invariants. The first tests pin the model itself to the
 * examples and rules of docs/policy.md, so that a wrong model cannot pass
 * unnoticed together with a wrong engine.
 *
 * Reproduce: the run prints its base seed; RATCHET_PROP_SEED=<seed> overrides
 * it and RATCHET_PROP_N=<count> the number of cases. Case i uses seed
 * base + i * 0x9e3779b97f4a7c15, so a failing case's printed seed with
 * RATCHET_PROP_N=1 replays that case alone. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "policy/engine.h"
#include "policy/evidence.h"
#include "policy/policy.h"
#include "policy/replay.h"
#include "tests/unit/harness.h"
#include "tests/unit/refmodel.h"

#define PROP_DEFAULT_SEED UINT64_C(0x7261746368657431)
#define PROP_DEFAULT_N 10000
#define PROP_MAX_N 100000000UL
#define CASE_SEED_STEP UINT64_C(0x9e3779b97f4a7c15)

#define GEN_MAX_BOTS 3
#define GEN_MAX_ITEMS 160
#define GEN_TS_MAX 400
#define SEQ_MAX (GEN_MAX_ITEMS + 2)  /* a generated stream plus a duplicate or pad item */
#define DEC_MAX (RM_MAX_BOTS + RM_MAX_ITEMS)
#define SEC RT_USEC_PER_SEC

/* Sorted, so that bot index order is the replay's bot order. */
static const char *const bot_names[GEN_MAX_BOTS] = {"arb-btc-2", "mm-eth-01", "mm.sol:3"};
/* Only used to carry simulated time to the end of a one-bot replay. */
static const char pad_bot[] = "pad-0";

/* ---------------------------------------------------------------- shared */

static void default_model_policy(struct rm_policy *mp, size_t n_bots) {
    memset(mp, 0, sizeof(*mp));
    mp->n_bots = n_bots;
    for (size_t b = 0; b < n_bots; b++)
        for (int c = 0; c < RT_COND_COUNT; c++) {
            struct rm_cond_policy *cp = &mp->cond[b][c];
            cp->window_s = 86400;
            cp->max_age_s = 900;
            cp->on_unknown = RT_ON_UNKNOWN_HOLD;
            cp->has_threshold = c != RT_COND_RECON_DRIFT && c != RT_COND_P0_ALERT;
            cp->threshold = c == RT_COND_CVSS ? 7.0 : 0.01;
        }
}

static void to_evidence(const struct rm_item *it, const char *const *names, struct rt_evidence *ev) {
    memset(ev, 0, sizeof(*ev));
    ev->kind = it->is_readiness ? RT_EVIDENCE_READINESS : RT_EVIDENCE_OBS;
    ev->ts_us = it->ts * SEC;
    rt_strlcpy(ev->bot, names[it->bot], sizeof(ev->bot));
    ev->cond = it->cond;
    ev->known = it->known;
    ev->value = it->known ? it->value : 0.0;
    ev->has_tolerance = it->has_tolerance;
    ev->tolerance = it->tolerance;
    ev->readiness = it->readiness;
}

static bool same_decision(const struct rt_decision_rec *a, const struct rt_decision_rec *b) {
    return strcmp(a->bot, b->bot) == 0 && a->cond == b->cond && a->ts_us == b->ts_us &&
           a->window_start_us == b->window_start_us && a->window_us == b->window_us &&
           a->unknown_us == b->unknown_us;
}

static bool engine_equals_model(const struct rt_decision_list *eng, const struct rm_decision *m,
                                size_t n_m, const char *const *names) {
    if (eng->n != n_m)
        return false;
    for (size_t i = 0; i < n_m; i++) {
        struct rt_decision_rec want = {
            .cond = m[i].cond,
            .ts_us = m[i].ts * SEC,
            .window_start_us = m[i].window_start * SEC,
            .window_us = m[i].window_s * SEC,
            .unknown_us = m[i].unknown_s * SEC,
        };
        rt_strlcpy(want.bot, names[m[i].bot], sizeof(want.bot));
        if (!same_decision(&eng->v[i], &want))
            return false;
    }
    return true;
}

static void print_items(const struct rm_item *items, size_t n, const char *const *names) {
    fprintf(stderr, "  items (arrival order):\n");
    for (size_t i = 0; i < n; i++) {
        const struct rm_item *it = &items[i];
        if (it->is_readiness) {
            fprintf(stderr, "    [%zu] t=%" PRId64 " %s readiness %s\n", i, it->ts, names[it->bot],
                    rt_readiness_name(it->readiness));
            continue;
        }
        fprintf(stderr, "    [%zu] t=%" PRId64 " %s %s ", i, it->ts, names[it->bot], rt_cond_name(it->cond));
        if (it->known)
            fprintf(stderr, "value=%g", it->value);
        else
            fprintf(stderr, "value=null");
        if (it->has_tolerance)
            fprintf(stderr, " tolerance=%g", it->tolerance);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "  the same as evidence lines:\n");
    for (size_t i = 0; i < n; i++) {
        struct rt_evidence ev;
        char line[RT_EVIDENCE_LINE_MAX];
        to_evidence(&items[i], names, &ev);
        if (rt_evidence_format(&ev, line, sizeof(line)) >= 0)
            fprintf(stderr, "    %s\n", line);
    }
}

static void print_model_decisions(const struct rm_decision *m, size_t n, const char *const *names) {
    fprintf(stderr, "  model decisions (%zu):\n", n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "    t=%" PRId64 " %s %s window_start=%" PRId64 " window=%" PRId64
                        "s unknown=%" PRId64 "s\n",
                m[i].ts, names[m[i].bot], rt_cond_name(m[i].cond), m[i].window_start, m[i].window_s,
                m[i].unknown_s);
}

static void print_engine_decisions(const char *what, const struct rt_decision_list *l) {
    fprintf(stderr, "  %s (%zu):\n", what, l->n);
    for (size_t i = 0; i < l->n; i++) {
        const struct rt_decision_rec *d = &l->v[i];
        fprintf(stderr, "    t=%g %s %s window_start=%g window=%gs unknown=%gs\n",
                (double)d->ts_us / SEC, d->bot, rt_cond_name(d->cond),
                (double)d->window_start_us / SEC, (double)d->window_us / SEC,
                (double)d->unknown_us / SEC);
    }
}

/* Runs the engine over model items; returns rt_replay's result. */
static int engine_run(const struct rt_policy *pol, const struct rm_item *items, size_t n,
                      const char *const *names, struct rt_evidence *ev, struct rt_decision_list *out) {
    for (size_t i = 0; i < n; i++)
        to_evidence(&items[i], names, &ev[i]);
    return rt_replay(pol, ev, n, out);
}

/* ------------------------------------------------ the model vs the doc */

/* A hand-written stream (examples use real 24h windows: up to a few
 * thousand items). */
struct seq {
    struct rm_item v[RM_MAX_ITEMS];
    size_t n;
};

static void seq_obs(struct seq *s, unsigned bot, enum rt_cond c, int64_t ts, bool known, double value) {
    if (s->n < RM_MAX_ITEMS)
        s->v[s->n++] = (struct rm_item){.bot = bot, .cond = c, .ts = ts, .known = known, .value = value};
}

static void seq_drift(struct seq *s, int64_t ts, double value, bool has_tol, double tol) {
    seq_obs(s, 0, RT_COND_RECON_DRIFT, ts, true, value);
    s->v[s->n - 1].has_tolerance = has_tol;
    s->v[s->n - 1].tolerance = tol;
}

/* Every `step` seconds from `from` to `to` inclusive. */
static void seq_every(struct seq *s, unsigned bot, enum rt_cond c, int64_t from, int64_t to,
                      int64_t step, bool known, double value) {
    for (int64_t t = from; t <= to; t += step)
        seq_obs(s, bot, c, t, known, value);
}

static void seq_ready(struct seq *s, unsigned bot, int64_t ts, enum rt_readiness r) {
    if (s->n < RM_MAX_ITEMS)
        s->v[s->n++] = (struct rm_item){.is_readiness = true, .bot = bot, .ts = ts, .readiness = r};
}

struct expect {
    unsigned bot;
    enum rt_cond cond;
    int64_t ts, window_start, unknown_s;
};

/* The model must give exactly `want` (derived by hand from docs/policy.md),
 * and the engine must agree with the model. */
static void check_example(const char *name, const char *policy_json, const struct rm_policy *mp,
                          const struct seq *s, const struct expect *want, size_t n_want) {
    _cleanup_free_ struct rm_decision *got = calloc(DEC_MAX, sizeof(*got));
    size_t n_got = 0;
    REQUIRE(got != NULL);
    int r = rm_run(mp, s->v, s->n, got, DEC_MAX, &n_got, NULL);
    CHECK_EQ_INT(r, 0);
    bool model_ok = r == 0 && n_got == n_want;
    for (size_t i = 0; model_ok && i < n_want; i++)
        model_ok = got[i].bot == want[i].bot && got[i].cond == want[i].cond &&
                   got[i].ts == want[i].ts && got[i].window_start == want[i].window_start &&
                   got[i].unknown_s == want[i].unknown_s;
    if (!model_ok) {
        fprintf(stderr, "  example \"%s\": the model disagrees with the doc\n", name);
        for (size_t i = 0; i < n_want; i++)
            fprintf(stderr, "    want t=%" PRId64 " %s window_start=%" PRId64 " unknown=%" PRId64 "s\n",
                    want[i].ts, rt_cond_name(want[i].cond), want[i].window_start, want[i].unknown_s);
        print_model_decisions(got, n_got, bot_names);
        CHECK(model_ok);
        return;
    }

    struct rt_policy *pol = NULL;
    struct rt_policy_errors errs = {0};
    r = policy_json ? rt_policy_parse(policy_json, strlen(policy_json), &pol, &errs)
                    : rt_policy_default(&pol);
    CHECK_EQ_INT(r, 0);
    if (r < 0)
        return;
    struct rt_evidence *ev = calloc(s->n ? s->n : 1, sizeof(*ev));
    struct rt_decision_list eng = {0};
    CHECK(ev != NULL);
    if (ev) {
        r = engine_run(pol, s->v, s->n, bot_names, ev, &eng);
        CHECK_EQ_INT(r, 0);
        bool same = r == 0 && engine_equals_model(&eng, got, n_got, bot_names);
        if (!same) {
            fprintf(stderr, "  example \"%s\": the engine disagrees with the model\n", name);
            print_model_decisions(got, n_got, bot_names);
            print_engine_decisions("engine decisions", &eng);
        }
        CHECK(same);
    }
    rt_decision_list_free(&eng);
    free(ev);
    rt_policy_free(pol);
}

/* Monday 00:00 is t=0 in the examples. */
#define MON(h, m) (INT64_C(3600) * (h) + INT64_C(60) * (m))
#define TUE(h, m) (INT64_C(86400) + MON(h, m))

/* docs/policy.md, "Examples": window 24h, max_evidence_age 15m, hold,
 * error-rate threshold 0.01, scrapes every minute. */
TEST(model_and_engine_follow_doc_examples) {
    struct rm_policy mp;
    default_model_policy(&mp, 1);
    struct seq *s = calloc(1, sizeof(*s));
    REQUIRE(s != NULL);
    const enum rt_cond er = RT_COND_ERROR_RATE;

    /* 0.02 from Mon 10:00 to Tue 10:00: demoted Tue 10:00. */
    s->n = 0;
    seq_every(s, 0, er, MON(10, 0), TUE(10, 0), 60, true, 0.02);
    check_example("steady breach", NULL, &mp, s,
                  (struct expect[]){{0, er, TUE(10, 0), MON(10, 0), 0}}, 1);

    /* One 0.005 at Mon 18:00: reopens 18:01, demoted Tue 18:01. */
    s->n = 0;
    seq_every(s, 0, er, MON(10, 0), MON(17, 59), 60, true, 0.02);
    seq_obs(s, 0, er, MON(18, 0), true, 0.005);
    seq_every(s, 0, er, MON(18, 1), TUE(18, 1), 60, true, 0.02);
    check_example("one OK reopens", NULL, &mp, s,
                  (struct expect[]){{0, er, TUE(18, 1), MON(18, 1), 0}}, 1);

    /* NaN Mon 12:00-14:00 under hold: Tue 10:00 with 7200 unknown seconds. */
    s->n = 0;
    seq_every(s, 0, er, MON(10, 0), MON(11, 59), 60, true, 0.02);
    seq_every(s, 0, er, MON(12, 0), MON(13, 59), 60, false, 0);
    seq_every(s, 0, er, MON(14, 0), TUE(14, 0), 60, true, 0.02);
    check_example("NaN under hold", NULL, &mp, s,
                  (struct expect[]){{0, er, TUE(10, 0), MON(10, 0), 7200}}, 1);
    /* The same under reset: closes 12:00, reopens 14:00, demoted Tue 14:00. */
    mp.cond[0][er].on_unknown = RT_ON_UNKNOWN_RESET;
    check_example("NaN under reset",
                  "{\"version\":1,\"conditions\":{\"error_rate\":{\"on_unknown\":\"reset\"}}}", &mp, s,
                  (struct expect[]){{0, er, TUE(14, 0), MON(14, 0), 0}}, 1);
    mp.cond[0][er].on_unknown = RT_ON_UNKNOWN_HOLD;

    /* Breach until Tue 09:50, then no data: fresh until 10:05, demoted 10:00.
     * (A CVSS all-clear at Tue 11:00 carries the replay past 10:00.) */
    s->n = 0;
    seq_every(s, 0, er, MON(10, 0), TUE(9, 50), 60, true, 0.02);
    seq_obs(s, 0, RT_COND_CVSS, TUE(11, 0), true, 0);
    check_example("fresh at D", NULL, &mp, s,
                  (struct expect[]){{0, er, TUE(10, 0), MON(10, 0), 0}}, 1);

    /* Breach until Tue 09:40, nothing until 12:00: stale from 09:55,
     * demoted at 12:00; the stale 2h05m are unknown time (rule 3). */
    s->n = 0;
    seq_every(s, 0, er, MON(10, 0), TUE(9, 40), 60, true, 0.02);
    seq_obs(s, 0, er, TUE(12, 0), true, 0.02);
    check_example("stale at D", NULL, &mp, s,
                  (struct expect[]){{0, er, TUE(12, 0), MON(10, 0), 7500}}, 1);

    /* P0 firing from Mon 10:00, resolved Tue 09:59: not demoted. */
    s->n = 0;
    seq_every(s, 0, RT_COND_P0_ALERT, MON(10, 0), TUE(9, 58), 60, true, 1);
    seq_obs(s, 0, RT_COND_P0_ALERT, TUE(9, 59), true, 0);
    seq_obs(s, 0, RT_COND_CVSS, TUE(10, 30), true, 0);
    check_example("P0 resolved", NULL, &mp, s, NULL, 0);

    /* CVSS 7.0 for a week: never (7.0 is not above 7.0). */
    s->n = 0;
    seq_every(s, 0, RT_COND_CVSS, 0, 7 * 86400, 600, true, 7.0);
    check_example("CVSS 7.0", NULL, &mp, s, NULL, 0);

    /* CVSS 7.1 for 24h: demoted in General live, no decision in Limited live. */
    s->n = 0;
    seq_every(s, 0, RT_COND_CVSS, MON(10, 0), TUE(10, 30), 60, true, 7.1);
    check_example("CVSS 7.1", NULL, &mp, s,
                  (struct expect[]){{0, RT_COND_CVSS, TUE(10, 0), MON(10, 0), 0}}, 1);
    s->n = 0;
    seq_ready(s, 0, 0, RT_READY_LIMITED_LIVE);
    seq_every(s, 0, RT_COND_CVSS, MON(10, 0), TUE(10, 30), 60, true, 7.1);
    check_example("CVSS 7.1 in Limited live", NULL, &mp, s, NULL, 0);
    free(s);
}

/* Small windows: window 10 s, max_evidence_age 5 s for every condition. */
static const char small_policy[] =
    "{\"version\":1,\"conditions\":{"
    "\"p0_alert\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\"},"
    "\"error_rate\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\"},"
    "\"recon_drift\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\"},"
    "\"cvss\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\"}}}";

static void small_model_policy(struct rm_policy *mp, size_t n_bots) {
    default_model_policy(mp, n_bots);
    for (size_t b = 0; b < n_bots; b++)
        for (int c = 0; c < RT_COND_COUNT; c++) {
            mp->cond[b][c].window_s = 10;
            mp->cond[b][c].max_age_s = 5;
        }
}

/* small_policy with extra keys (`extra`, JSON members) for one condition. */
static void small_policy_with(char *buf, size_t cap, enum rt_cond which, const char *extra) {
    size_t len = (size_t)snprintf(buf, cap, "{\"version\":1,\"conditions\":{");
    for (int c = 0; c < RT_COND_COUNT && len < cap; c++)
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s\"%s\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\"%s%s}",
                                c ? "," : "", rt_cond_name((enum rt_cond)c), c == (int)which ? "," : "",
                                c == (int)which ? extra : "");
    if (len < cap)
        snprintf(buf + len, cap - len, "}}");
}

TEST(model_and_engine_follow_window_rules) {
    struct rm_policy mp;
    struct seq *s = calloc(1, sizeof(*s));
    REQUIRE(s != NULL);
    char pj[1024];
    const enum rt_cond p0 = RT_COND_P0_ALERT;
    small_model_policy(&mp, 1);

    /* Rule 4: an OK at exactly D prevents the demotion. */
    s->n = 0;
    seq_obs(s, 0, p0, 0, true, 1);
    seq_obs(s, 0, p0, 5, true, 1);
    seq_obs(s, 0, p0, 10, true, 0);
    seq_obs(s, 0, RT_COND_CVSS, 20, true, 0);
    check_example("OK at D", small_policy, &mp, s, NULL, 0);

    /* Rule 4: freshness is inclusive (evidence at 5 is fresh at 10 = D). */
    s->n = 0;
    seq_obs(s, 0, p0, 0, true, 1);
    seq_obs(s, 0, p0, 5, true, 1);
    seq_obs(s, 0, RT_COND_CVSS, 20, true, 0);
    check_example("fresh inclusive", small_policy, &mp, s, (struct expect[]){{0, p0, 10, 0, 0}}, 1);

    /* Rule 4: stale at D (evidence at 4 is stale from 9): T is the next
     * breach, 12, with the stale seconds 9, 10, 11 as unknown time. */
    s->n = 0;
    seq_obs(s, 0, p0, 0, true, 1);
    seq_obs(s, 0, p0, 4, true, 1);
    seq_obs(s, 0, p0, 12, true, 1);
    check_example("stale then breach", small_policy, &mp, s, (struct expect[]){{0, p0, 12, 0, 3}}, 1);

    /* Rules 3+4 under reset, D == ts + max_evidence_age: the model's reading
     * is that inclusive freshness lets the window complete before it closes. */
    mp.cond[0][p0].on_unknown = RT_ON_UNKNOWN_RESET;
    small_policy_with(pj, sizeof(pj), p0, "\"on_unknown\":\"reset\"");
    /* (stale from 9 closes the window; the breach at 12 opens a new one) */
    check_example("reset closes a stale window", pj, &mp, s, NULL, 0);
    s->n = 0;
    seq_obs(s, 0, p0, 0, true, 1);
    seq_obs(s, 0, p0, 5, true, 1);
    seq_obs(s, 0, RT_COND_CVSS, 20, true, 0);
    check_example("reset, fresh inclusive", pj, &mp, s, (struct expect[]){{0, p0, 10, 0, 0}}, 1);

    /* Rule 3 breach: an OK that goes stale at 5 opens a window there. */
    mp.cond[0][p0].on_unknown = RT_ON_UNKNOWN_BREACH;
    small_policy_with(pj, sizeof(pj), p0, "\"on_unknown\":\"breach\"");
    s->n = 0;
    seq_obs(s, 0, p0, 0, true, 0);
    seq_obs(s, 0, RT_COND_CVSS, 20, true, 0);
    check_example("stale counts as breach", pj, &mp, s, (struct expect[]){{0, p0, 15, 5, 10}}, 1);
    mp.cond[0][p0].on_unknown = RT_ON_UNKNOWN_HOLD;

    /* Rule 2: duplicates at equal ts (first wins) and late items are ignored. */
    s->n = 0;
    seq_obs(s, 0, p0, 0, true, 1);
    seq_obs(s, 0, p0, 5, true, 1);
    seq_obs(s, 0, p0, 5, true, 0);
    seq_obs(s, 0, p0, 3, true, 0);
    seq_obs(s, 0, RT_COND_CVSS, 20, true, 0);
    check_example("late and duplicate", small_policy, &mp, s, (struct expect[]){{0, p0, 10, 0, 0}}, 1);

    /* Rule 7: equal T, p0_alert before error_rate; only one decision. */
    s->n = 0;
    for (int64_t t = 0; t <= 10; t += 5) {
        seq_obs(s, 0, RT_COND_ERROR_RATE, t, true, 0.02);
        seq_obs(s, 0, p0, t, true, 1);
    }
    seq_obs(s, 0, RT_COND_CVSS, 11, true, 0);
    check_example("equal T", small_policy, &mp, s, (struct expect[]){{0, p0, 10, 0, 0}}, 1);

    /* Rule 6: Limited live at 3, back at 8: the window restarts at 8 and
     * completes at 18; back again at 25 (after the demotion): 35. */
    s->n = 0;
    for (int64_t t = 0; t <= 36; t += 2) {
        if (t == 4)
            seq_ready(s, 0, 3, RT_READY_LIMITED_LIVE);
        if (t == 8)
            seq_ready(s, 0, 8, RT_READY_GENERAL_LIVE);
        if (t == 26)
            seq_ready(s, 0, 25, RT_READY_GENERAL_LIVE);
        seq_obs(s, 0, p0, t, true, 1);
    }
    check_example("re-promotion", small_policy, &mp, s,
                  (struct expect[]){{0, p0, 18, 8, 0}, {0, p0, 35, 25, 0}}, 2);

    /* Rule 8: a demotion due before a readiness change is decided (and
     * reported) before the change applies, whatever the change is. */
    s->n = 0;
    seq_every(s, 0, p0, 0, 10, 5, true, 1);
    seq_ready(s, 0, 12, RT_READY_LIMITED_LIVE);
    check_example("due before limited_live", small_policy, &mp, s,
                  (struct expect[]){{0, p0, 10, 0, 0}}, 1);
    s->n = 0;
    seq_every(s, 0, p0, 0, 10, 5, true, 1);
    seq_ready(s, 0, 12, RT_READY_GENERAL_LIVE); /* a real re-promotion: restarts at 12 */
    seq_every(s, 0, p0, 20, 22, 2, true, 1);    /* stale 15..19: 5 unknown seconds */
    check_example("due before general_live", small_policy, &mp, s,
                  (struct expect[]){{0, p0, 10, 0, 0}, {0, p0, 22, 12, 5}}, 2);

    /* Reconciliation tolerance: evidence's own first, else the policy's. */
    mp.cond[0][RT_COND_RECON_DRIFT].has_threshold = true;
    mp.cond[0][RT_COND_RECON_DRIFT].threshold = 100;
    small_policy_with(pj, sizeof(pj), RT_COND_RECON_DRIFT, "\"tolerance\":100");
    s->n = 0;
    seq_drift(s, 0, 150, true, 200);  /* OK by its own tolerance */
    seq_drift(s, 1, 150, false, 0);   /* breach by the policy's */
    seq_drift(s, 6, -100.5, false, 0);
    seq_drift(s, 11, 100, true, 50);
    check_example("tolerance order", pj, &mp, s,
                  (struct expect[]){{0, RT_COND_RECON_DRIFT, 11, 1, 0}}, 1);
    s->n = 0;
    seq_drift(s, 0, 150, false, 0);
    seq_drift(s, 5, 100, false, 0);  /* equal to the tolerance: OK */
    seq_drift(s, 11, 150, false, 0);
    check_example("tolerance is not breached", pj, &mp, s, NULL, 0);

    /* No tolerance anywhere: drift is unknown; hold never fires, breach does. */
    small_model_policy(&mp, 1);
    s->n = 0;
    for (int64_t t = 0; t <= 30; t += 2)
        seq_drift(s, t, 1000, false, 0);
    check_example("no tolerance, hold", small_policy, &mp, s, NULL, 0);
    mp.cond[0][RT_COND_RECON_DRIFT].on_unknown = RT_ON_UNKNOWN_BREACH;
    small_policy_with(pj, sizeof(pj), RT_COND_RECON_DRIFT, "\"on_unknown\":\"breach\"");
    check_example("no tolerance, breach", pj, &mp, s,
                  (struct expect[]){{0, RT_COND_RECON_DRIFT, 10, 0, 10}}, 1);
    free(s);
}

TEST(model_refuses_items_outside_its_domain) {
    struct rm_policy mp;
    small_model_policy(&mp, 2);
    struct rm_decision out[8];
    size_t n_out;
    /* A first observation for a condition, older than an earlier item. */
    struct rm_item past[] = {
        {.bot = 0, .cond = RT_COND_P0_ALERT, .ts = 10, .known = true, .value = 1},
        {.bot = 0, .cond = RT_COND_CVSS, .ts = 5, .known = true, .value = 9},
    };
    CHECK_EQ_INT(rm_run(&mp, past, 2, out, 8, &n_out, NULL), -EINVAL);
    /* A readiness change older than an earlier item. */
    struct rm_item ready[] = {
        {.bot = 1, .cond = RT_COND_P0_ALERT, .ts = 10, .known = true, .value = 1},
        {.is_readiness = true, .bot = 0, .ts = 9, .readiness = RT_READY_LIMITED_LIVE},
    };
    CHECK_EQ_INT(rm_run(&mp, ready, 2, out, 8, &n_out, NULL), -EINVAL);
    /* An ignored late observation is fine; so is a no-op promotion, flagged. */
    struct rm_item fine[] = {
        {.bot = 0, .cond = RT_COND_P0_ALERT, .ts = 10, .known = true, .value = 1},
        {.bot = 0, .cond = RT_COND_P0_ALERT, .ts = 4, .known = true, .value = 0},
        {.is_readiness = true, .bot = 0, .ts = 10, .readiness = RT_READY_GENERAL_LIVE},
    };
    bool noop[3];
    CHECK_EQ_INT(rm_run(&mp, fine, 3, out, 8, &n_out, noop), 0);
    CHECK(!noop[0] && !noop[1] && noop[2]);
    struct rm_item bad_bot[] = {{.bot = 2, .cond = RT_COND_P0_ALERT, .ts = 0, .known = true}};
    CHECK_EQ_INT(rm_run(&mp, bad_bot, 1, out, 8, &n_out, NULL), -EINVAL);
    /* Decisions beyond cap. */
    struct rm_item two[] = {
        {.bot = 0, .cond = RT_COND_P0_ALERT, .ts = 0, .known = true, .value = 1},
        {.bot = 1, .cond = RT_COND_P0_ALERT, .ts = 0, .known = true, .value = 1},
        {.bot = 0, .cond = RT_COND_P0_ALERT, .ts = 10, .known = true, .value = 1},
        {.bot = 1, .cond = RT_COND_P0_ALERT, .ts = 10, .known = true, .value = 1},
    };
    CHECK_EQ_INT(rm_run(&mp, two, 4, out, 1, &n_out, NULL), -ENOBUFS);
    CHECK_EQ_INT(rm_run(&mp, two, 4, out, 8, &n_out, NULL), 0);
    CHECK_EQ_INT(n_out, 2);
}

/* ------------------------------------------------------------ generator */

struct rng {
    uint64_t state;
};

static uint64_t rng_next(struct rng *r) { /* splitmix64 */
    uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Case seeds are base + i * the splitmix increment, so the state must be
 * scrambled first or case i+1 would replay case i's stream shifted by one. */
static struct rng rng_seeded(uint64_t seed) {
    uint64_t z = seed ^ UINT64_C(0x6a09e667f3bcc909);
    z = (z ^ (z >> 33)) * UINT64_C(0xff51afd7ed558ccd);
    z = (z ^ (z >> 33)) * UINT64_C(0xc4ceb9fe1a85ec53);
    return (struct rng){z ^ (z >> 33)};
}

static unsigned rng_below(struct rng *r, unsigned n) {
    return (unsigned)(rng_next(r) % n);
}

static int64_t rng_between(struct rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static bool rng_percent(struct rng *r, unsigned pct) {
    return rng_below(r, 100) < pct;
}

#define PICK(r, arr) ((arr)[rng_below((r), (unsigned)ELEMENTSOF(arr))])

static const double er_values[] = {0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.5, 0.6, 1.0};
static const double er_thresholds[] = {0, 0.01, 0.02, 0.5};
static const double cvss_values[] = {0, 3.5, 5.0, 6.9, 7.0, 7.1, 9.0, 9.8, 10.0};
static const double cvss_thresholds[] = {0, 5.0, 7.0, 9.0};
static const double drift_magnitudes[] = {0, 50, 100, 250, 260, 1000};
static const double tolerances[] = {0, 100, 250};

/* One condition's keys in the policy file; unset keys inherit. */
struct cond_spec {
    bool has_window, has_age, has_unknown;
    int64_t window_s, age_s;
    enum rt_on_unknown on_unknown;
    enum { THR_OMIT = 0, THR_NULL, THR_VALUE } thr;
    double threshold;
};

struct gen_case {
    uint64_t seed;
    size_t n_bots;
    const char *names[GEN_MAX_BOTS];
    struct rm_policy policy; /* merged, the model's view */
    struct rt_strbuf json;   /* the same policy as a file */
    size_t n;
    struct rm_item items[SEQ_MAX];
};

static void gen_cond_spec(struct rng *r, enum rt_cond c, bool global, struct cond_spec *cs) {
    memset(cs, 0, sizeof(*cs));
    cs->has_window = global || rng_percent(r, 40);
    cs->window_s = rng_between(r, 5, 60);
    cs->has_age = global || rng_percent(r, 40);
    cs->age_s = rng_between(r, 2, 30);
    unsigned u = rng_below(r, global ? 4 : 8);
    cs->has_unknown = u < 3;
    cs->on_unknown = (enum rt_on_unknown)(u % 3);
    unsigned t = rng_below(r, 100);
    switch (c) {
    case RT_COND_ERROR_RATE:
        cs->thr = t < (global ? 75u : 35u) ? THR_VALUE : THR_OMIT;
        cs->threshold = PICK(r, er_thresholds);
        break;
    case RT_COND_CVSS:
        cs->thr = t < (global ? 75u : 35u) ? THR_VALUE : THR_OMIT;
        cs->threshold = PICK(r, cvss_thresholds);
        break;
    case RT_COND_RECON_DRIFT:
        cs->thr = t < (global ? 55u : 30u) ? THR_VALUE : t < 80 ? THR_NULL : THR_OMIT;
        cs->threshold = PICK(r, tolerances);
        break;
    default:
        break;
    }
}

static void merge_spec(const struct cond_spec *cs, struct rm_cond_policy *cp) {
    if (cs->has_window)
        cp->window_s = cs->window_s;
    if (cs->has_age)
        cp->max_age_s = cs->age_s;
    if (cs->has_unknown)
        cp->on_unknown = cs->on_unknown;
    if (cs->thr == THR_VALUE) {
        cp->has_threshold = true;
        cp->threshold = cs->threshold;
    } else if (cs->thr == THR_NULL) {
        cp->has_threshold = false;
    }
}

static void write_spec(struct rt_strbuf *b, enum rt_cond c, const struct cond_spec *cs) {
    const char *sep = "";
    rt_sb_printf(b, "\"%s\":{", rt_cond_name(c));
    if (cs->has_window) {
        rt_sb_printf(b, "\"window\":\"%" PRId64 "s\"", cs->window_s);
        sep = ",";
    }
    if (cs->has_age) {
        rt_sb_printf(b, "%s\"max_evidence_age\":\"%" PRId64 "s\"", sep, cs->age_s);
        sep = ",";
    }
    if (cs->has_unknown) {
        rt_sb_printf(b, "%s\"on_unknown\":\"%s\"", sep, rt_on_unknown_name(cs->on_unknown));
        sep = ",";
    }
    const char *key = c == RT_COND_RECON_DRIFT ? "tolerance" : "threshold";
    if (cs->thr == THR_NULL) {
        rt_sb_printf(b, "%s\"%s\":null", sep, key);
    } else if (cs->thr == THR_VALUE) {
        rt_sb_printf(b, "%s\"%s\":", sep, key);
        rt_sb_json_num(b, cs->threshold);
    }
    rt_sb_puts(b, "}");
}

static void gen_policy(struct rng *r, struct gen_case *gc) {
    default_model_policy(&gc->policy, gc->n_bots);
    rt_sb_reset(&gc->json);
    rt_sb_puts(&gc->json, "{\"version\":1,\"conditions\":{");
    struct cond_spec global[RT_COND_COUNT];
    for (int c = 0; c < RT_COND_COUNT; c++) {
        gen_cond_spec(r, (enum rt_cond)c, true, &global[c]);
        for (size_t b = 0; b < gc->n_bots; b++)
            merge_spec(&global[c], &gc->policy.cond[b][c]);
        if (c)
            rt_sb_puts(&gc->json, ",");
        write_spec(&gc->json, (enum rt_cond)c, &global[c]);
    }
    rt_sb_puts(&gc->json, "},\"bots\":{");
    const char *bot_sep = "";
    for (size_t b = 0; b < gc->n_bots; b++) {
        if (!rng_percent(r, 35))
            continue;
        rt_sb_printf(&gc->json, "%s\"%s\":{", bot_sep, gc->names[b]);
        bot_sep = ",";
        const char *sep = "";
        for (int c = 0; c < RT_COND_COUNT; c++) {
            if (!rng_percent(r, 40))
                continue;
            struct cond_spec cs;
            gen_cond_spec(r, (enum rt_cond)c, false, &cs);
            merge_spec(&cs, &gc->policy.cond[b][c]);
            rt_sb_puts(&gc->json, sep);
            write_spec(&gc->json, (enum rt_cond)c, &cs);
            sep = ",";
        }
        rt_sb_puts(&gc->json, "}");
    }
    rt_sb_puts(&gc->json, "}}");
}

/* A value from `values` that is above the threshold (breach) or not; when
 * not, the threshold itself half of the time. */
static double value_for(struct rng *r, const double *values, size_t n, double threshold, bool breach) {
    if (!breach && rng_percent(r, 50))
        return threshold;
    double ok[16];
    size_t n_ok = 0;
    for (size_t i = 0; i < n && n_ok < ELEMENTSOF(ok); i++)
        if ((values[i] > threshold) == breach)
            ok[n_ok++] = values[i];
    return n_ok ? ok[rng_below(r, (unsigned)n_ok)] : threshold;
}

/* An observation aiming at class `want` (the model classifies it itself). */
static struct rm_item gen_observation(struct rng *r, const struct gen_case *gc, unsigned bot,
                                      enum rt_cond c, int64_t ts, enum rt_class want) {
    const struct rm_cond_policy *cp = &gc->policy.cond[bot][c];
    struct rm_item it = {.bot = bot, .cond = c, .ts = ts, .known = true};
    if (want == RT_CLASS_UNKNOWN && rng_percent(r, 85)) {
        it.known = false;
        return it;
    }
    bool breach = want == RT_CLASS_BREACH;
    switch (c) {
    case RT_COND_P0_ALERT:
        it.value = breach ? 1 : 0;
        break;
    case RT_COND_ERROR_RATE:
        it.value = value_for(r, er_values, ELEMENTSOF(er_values), cp->threshold, breach);
        break;
    case RT_COND_CVSS:
        it.value = value_for(r, cvss_values, ELEMENTSOF(cvss_values), cp->threshold, breach);
        break;
    default: {
        it.has_tolerance = rng_percent(r, 35);
        it.tolerance = PICK(r, tolerances);
        bool any_tolerance = it.has_tolerance || cp->has_threshold;
        double tol = it.has_tolerance ? it.tolerance : cp->threshold;
        double mag = any_tolerance ? value_for(r, drift_magnitudes, ELEMENTSOF(drift_magnitudes), tol, breach)
                                   : PICK(r, drift_magnitudes);
        it.value = rng_percent(r, 50) ? mag : -mag;
        break;
    }
    }
    return it;
}

/* breach_pct varies per case so that some streams rarely breach. */
static enum rt_class random_class(struct rng *r, unsigned breach_pct) {
    unsigned x = rng_below(r, 100);
    return x < breach_pct ? RT_CLASS_BREACH : x < 85 ? RT_CLASS_OK : RT_CLASS_UNKNOWN;
}

static int64_t random_step(struct rng *r) {
    unsigned x = rng_below(r, 100);
    if (x < 20)
        return 0;
    if (x < 65)
        return rng_between(r, 1, 3);
    if (x < 90)
        return rng_between(r, 4, 10);
    return rng_between(r, 11, 35);
}

/* Streams in which applied items come in time order (the model's domain):
 * the only items older than an earlier one are late observations that rule 2
 * ignores (not newer than their condition's newest). */
static void gen_items(struct rng *r, struct gen_case *gc) {
    enum rt_class target[GEN_MAX_BOTS][RT_COND_COUNT];
    bool active[GEN_MAX_BOTS][RT_COND_COUNT];
    int64_t newest[GEN_MAX_BOTS][RT_COND_COUNT];
    unsigned n_active = 0;
    static const unsigned breach_pcts[] = {5, 20, 40, 60};
    unsigned breach_pct = PICK(r, breach_pcts);
    for (size_t b = 0; b < gc->n_bots; b++)
        for (int c = 0; c < RT_COND_COUNT; c++) {
            target[b][c] = random_class(r, breach_pct);
            active[b][c] = rng_percent(r, 55);
            n_active += active[b][c];
            newest[b][c] = -1;
        }
    if (!n_active)
        active[0][rng_below(r, RT_COND_COUNT)] = true;
    unsigned switch_pct = (unsigned)rng_between(r, 3, 30);
    unsigned late_pct = rng_percent(r, 70) ? 8 : 0;
    unsigned ready_pct = rng_percent(r, 60) ? (unsigned)rng_between(r, 3, 12) : 0;
    size_t want = (size_t)rng_between(r, 1, GEN_MAX_ITEMS);
    int64_t now = rng_between(r, 0, 20);

    gc->n = 0;
    while (gc->n < want && now <= GEN_TS_MAX) {
        unsigned bot = rng_below(r, (unsigned)gc->n_bots);
        unsigned x = rng_below(r, 100);
        if (x < ready_pct) {
            gc->items[gc->n++] = (struct rm_item){
                .is_readiness = true, .bot = bot, .ts = now,
                .readiness = rng_percent(r, 55)   ? RT_READY_GENERAL_LIVE
                             : rng_percent(r, 90) ? RT_READY_LIMITED_LIVE
                                                  : RT_READY_OTHER};
        } else if (x < ready_pct + late_pct) {
            enum rt_cond c = (enum rt_cond)rng_below(r, RT_COND_COUNT);
            if (newest[bot][c] < 0)
                continue;
            int64_t ts = newest[bot][c] - rng_between(r, 0, 25);
            enum rt_class want_class = random_class(r, breach_pct);
            gc->items[gc->n++] = gen_observation(r, gc, bot, c, ts < 0 ? 0 : ts, want_class);
            continue; /* does not move time */
        } else {
            enum rt_cond c = (enum rt_cond)rng_below(r, RT_COND_COUNT);
            if (!active[bot][c])
                continue;
            if (rng_percent(r, switch_pct))
                target[bot][c] = random_class(r, breach_pct);
            gc->items[gc->n++] = gen_observation(r, gc, bot, c, now, target[bot][c]);
            if (newest[bot][c] < now)
                newest[bot][c] = now;
        }
        now += random_step(r);
    }
}

/* Drops general_live changes that find the bot already in General live:
 * whether they restart its windows is not in the doc. Dropping a no-op can
 * only shorten the run, which cannot create new no-ops. */
static int drop_noop_promotions(struct gen_case *gc, size_t *dropped) {
    struct rm_decision *scratch = calloc(DEC_MAX, sizeof(*scratch));
    if (!scratch)
        return -ENOMEM;
    bool noop[SEQ_MAX];
    size_t n_dec;
    int r = rm_run(&gc->policy, gc->items, gc->n, scratch, DEC_MAX, &n_dec, noop);
    free(scratch);
    if (r < 0)
        return r;
    size_t k = 0;
    for (size_t i = 0; i < gc->n; i++)
        if (!noop[i])
            gc->items[k++] = gc->items[i];
    *dropped += gc->n - k;
    gc->n = k;
    return 0;
}

static int generate_case(uint64_t seed, struct gen_case *gc, size_t *dropped) {
    struct rng r = rng_seeded(seed);
    gc->seed = seed;
    gc->n_bots = 1 + rng_below(&r, GEN_MAX_BOTS);
    /* A random subset of the sorted names, kept in order: index order is
     * then bot id order, as in the replay's output. */
    bool use[GEN_MAX_BOTS] = {false};
    for (size_t k = 0; k < gc->n_bots;) {
        unsigned i = rng_below(&r, GEN_MAX_BOTS);
        k += !use[i];
        use[i] = true;
    }
    for (size_t i = 0, k = 0; i < GEN_MAX_BOTS; i++)
        if (use[i])
            gc->names[k++] = bot_names[i];
    gen_policy(&r, gc);
    if (gc->json.oom)
        return -ENOMEM;
    gen_items(&r, gc);
    return drop_noop_promotions(gc, dropped);
}

/* ------------------------------------------------------------- checks */

struct stats {
    size_t cases, cases_with_decision, decisions, with_unknown, after_due, promotions, late,
        dropped_noops, per_cond[RT_COND_COUNT];
};

struct prop_ctx {
    struct rt_evidence ev[SEQ_MAX];
    struct rm_item scratch[SEQ_MAX];
    struct rm_decision model[DEC_MAX];
    size_t n_model;
    int replay_err; /* of the last compare_once() */
    struct stats st;
    unsigned failures;
};

static void print_case_header(const struct gen_case *gc, const char *what) {
    fprintf(stderr, "  property case seed 0x%016" PRIx64 " (RATCHET_PROP_SEED=0x%016" PRIx64
                    " RATCHET_PROP_N=1): %s\n  policy: %s\n",
            gc->seed, gc->seed, what, gc->json.s);
}

/* 0: engine and model agree; 1: they differ or rt_replay failed (see
 * ctx->replay_err); <0: the case cannot be judged (outside the model's
 * domain, or a no-op promotion the doc leaves open). */
static int compare_once(struct prop_ctx *ctx, const struct rt_policy *pol, const struct gen_case *gc,
                        const struct rm_item *items, size_t n, struct rt_decision_list *eng) {
    bool noop[SEQ_MAX];
    int r = rm_run(&gc->policy, items, n, ctx->model, DEC_MAX, &ctx->n_model, noop);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (noop[i])
            return -EDOM;
    rt_decision_list_free(eng);
    ctx->replay_err = engine_run(pol, items, n, gc->names, ctx->ev, eng);
    if (ctx->replay_err < 0)
        return 1;
    return engine_equals_model(eng, ctx->model, ctx->n_model, gc->names) ? 0 : 1;
}

/* Greedy shrinking: drop items one at a time while the disagreement stays. */
static size_t shrink(struct prop_ctx *ctx, const struct rt_policy *pol, const struct gen_case *gc,
                     struct rm_item *items, size_t n) {
    struct rt_decision_list eng = {0};
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t drop = n; drop-- > 0;) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (i != drop)
                    ctx->scratch[k++] = items[i];
            if (compare_once(ctx, pol, gc, ctx->scratch, k, &eng) == 1) {
                memcpy(items, ctx->scratch, k * sizeof(*items));
                n = k;
                progress = true;
            }
        }
    }
    rt_decision_list_free(&eng);
    return n;
}

static void report_mismatch(struct prop_ctx *ctx, const struct rt_policy *pol, const struct gen_case *gc,
                            const struct rt_decision_list *eng, bool try_shrink) {
    print_case_header(gc, "engine and model disagree");
    if (ctx->replay_err < 0)
        fprintf(stderr, "  rt_replay failed: %s\n", strerror(-ctx->replay_err));
    print_items(gc->items, gc->n, gc->names);
    print_model_decisions(ctx->model, ctx->n_model, gc->names);
    print_engine_decisions("engine decisions", eng);
    if (!try_shrink)
        return;

    struct rm_item *small = malloc(sizeof(gc->items));
    if (!small)
        return;
    memcpy(small, gc->items, gc->n * sizeof(*small));
    size_t n = shrink(ctx, pol, gc, small, gc->n);
    struct rt_decision_list again = {0};
    compare_once(ctx, pol, gc, small, n, &again);
    fprintf(stderr, "  shrunk to %zu items:\n", n);
    print_items(small, n, gc->names);
    print_model_decisions(ctx->model, ctx->n_model, gc->names);
    print_engine_decisions("engine decisions", &again);
    rt_decision_list_free(&again);
    free(small);
}

static bool decision_before(const struct rt_decision_rec *a, const struct rt_decision_rec *b) {
    if (a->ts_us != b->ts_us)
        return a->ts_us < b->ts_us;
    int c = strcmp(a->bot, b->bot);
    if (c)
        return c < 0;
    return a->cond < b->cond;
}

static bool lists_equal(const struct rt_decision_list *a, const struct rt_decision_list *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!same_decision(&a->v[i], &b->v[i]))
            return false;
    return true;
}

/* Engine-only invariants: complete windows only, sorted output. */
static bool check_shape(const struct rt_policy *pol, const struct gen_case *gc,
                        const struct rt_decision_list *eng, bool verbose) {
    for (size_t i = 0; i < eng->n; i++) {
        const struct rt_decision_rec *d = &eng->v[i];
        const struct rt_cond_policy *cp = rt_policy_cond(pol, d->bot, d->cond);
        const char *what = NULL;
        if (!cp || d->ts_us - d->window_start_us < cp->window_us || d->window_us != cp->window_us)
            what = "a decision before its window completed";
        else if (i > 0 && !decision_before(&eng->v[i - 1], d))
            what = "decisions not sorted by (ts, bot, condition)";
        if (what) {
            print_case_header(gc, what);
            if (verbose)
                print_engine_decisions("engine decisions", eng);
            return false;
        }
    }
    return true;
}

/* Re-delivering an item right after itself changes nothing. */
static bool check_duplicate(struct prop_ctx *ctx, struct rng *r, const struct rt_policy *pol,
                            const struct gen_case *gc, const struct rt_decision_list *eng, bool verbose) {
    if (gc->n == 0)
        return true;
    size_t at = rng_below(r, (unsigned)gc->n);
    size_t k = 0;
    for (size_t i = 0; i < gc->n; i++) {
        ctx->scratch[k++] = gc->items[i];
        if (i == at)
            ctx->scratch[k++] = gc->items[i];
    }
    struct rt_decision_list dup = {0};
    int ret = engine_run(pol, ctx->scratch, k, gc->names, ctx->ev, &dup);
    bool ok = ret == 0 && lists_equal(eng, &dup);
    if (!ok) {
        char what[80];
        snprintf(what, sizeof(what), "duplicating item [%zu] changed the decisions", at);
        print_case_header(gc, what);
        if (verbose) {
            print_items(gc->items, gc->n, gc->names);
            print_engine_decisions("engine decisions", eng);
            print_engine_decisions("with the duplicate", &dup);
        }
    }
    rt_decision_list_free(&dup);
    return ok;
}

/* Bots are independent: one bot's items alone (with a pad item of another
 * bot carrying time to the same end) give that bot's decisions. */
static bool check_per_bot(struct prop_ctx *ctx, const struct rt_policy *pol, const struct gen_case *gc,
                          const struct rt_decision_list *eng, bool verbose) {
    int64_t end = -1;
    for (size_t i = 0; i < gc->n; i++)
        if (gc->items[i].ts > end)
            end = gc->items[i].ts;
    const char *names[GEN_MAX_BOTS + 1];
    memcpy(names, gc->names, sizeof(gc->names));
    names[GEN_MAX_BOTS] = pad_bot;
    bool ok = true;
    for (unsigned b = 0; b < gc->n_bots && ok; b++) {
        size_t k = 0;
        int64_t last = -1;
        for (size_t i = 0; i < gc->n; i++)
            if (gc->items[i].bot == b) {
                ctx->scratch[k++] = gc->items[i];
                if (gc->items[i].ts > last)
                    last = gc->items[i].ts;
            }
        if (k == 0)
            continue;
        if (last < end)
            ctx->scratch[k++] = (struct rm_item){
                .bot = GEN_MAX_BOTS, .cond = RT_COND_P0_ALERT, .ts = end, .known = true, .value = 0};
        struct rt_decision_list alone = {0}, want = {0};
        int ret = engine_run(pol, ctx->scratch, k, names, ctx->ev, &alone);
        for (size_t i = 0; i < eng->n; i++)
            if (strcmp(eng->v[i].bot, gc->names[b]) == 0) {
                if (want.n == want.cap) {
                    size_t cap = want.cap ? want.cap * 2 : 16;
                    struct rt_decision_rec *v = realloc(want.v, cap * sizeof(*v));
                    if (!v) {
                        ret = -ENOMEM;
                        break;
                    }
                    want.v = v;
                    want.cap = cap;
                }
                want.v[want.n++] = eng->v[i];
            }
        ok = ret == 0 && lists_equal(&want, &alone);
        if (!ok) {
            char what[120];
            snprintf(what, sizeof(what), "bot %s replayed alone decides differently", gc->names[b]);
            print_case_header(gc, what);
            if (verbose) {
                print_items(gc->items, gc->n, gc->names);
                print_engine_decisions("its decisions in the full replay", &want);
                print_engine_decisions("replayed alone", &alone);
            }
        }
        rt_decision_list_free(&alone);
        rt_decision_list_free(&want);
    }
    return ok;
}

static void count_stats(struct stats *st, const struct gen_case *gc, const struct rm_decision *m, size_t n) {
    st->cases++;
    st->cases_with_decision += n > 0;
    st->decisions += n;
    for (size_t i = 0; i < n; i++) {
        st->with_unknown += m[i].unknown_s > 0;
        st->after_due += m[i].ts > m[i].window_start + m[i].window_s;
        st->per_cond[m[i].cond]++;
    }
    int64_t seen = -1;
    for (size_t i = 0; i < gc->n; i++) {
        const struct rm_item *it = &gc->items[i];
        st->promotions += it->is_readiness && it->readiness == RT_READY_GENERAL_LIVE;
        st->late += it->ts < seen;
        if (it->ts > seen)
            seen = it->ts;
    }
}

/* One case: generate, compare with the model, check the invariants. */
static bool run_case(struct prop_ctx *ctx, struct gen_case *gc, uint64_t seed) {
    int r = generate_case(seed, gc, &ctx->st.dropped_noops);
    if (r < 0) {
        fprintf(stderr, "  seed 0x%016" PRIx64 ": generator or model failed: %s\n", seed, strerror(-r));
        return false;
    }
    struct rt_policy *pol = NULL;
    struct rt_policy_errors errs = {0};
    r = rt_policy_parse(gc->json.s, gc->json.len, &pol, &errs);
    if (r < 0) {
        print_case_header(gc, "the generated policy does not parse");
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "    %d:%d: %s\n", errs.e[i].line, errs.e[i].column, errs.e[i].text);
        return false;
    }
    struct rt_decision_list eng = {0};
    r = compare_once(ctx, pol, gc, gc->items, gc->n, &eng);
    bool ok = r == 0;
    /* Full reports for the first few failures, seeds only after that. */
    bool verbose = ctx->failures < 3;
    if (r < 0) {
        fprintf(stderr, "  seed 0x%016" PRIx64 ": the model refused a generated case: %s\n", seed,
                strerror(-r));
    } else {
        count_stats(&ctx->st, gc, ctx->model, ctx->n_model);
        if (r == 1 && verbose)
            report_mismatch(ctx, pol, gc, &eng, ctx->failures == 0);
        else if (r == 1 && ctx->failures < 20)
            print_case_header(gc, "engine and model disagree");
        /* The engine-only invariants hold whatever the model says. */
        struct rng inv = rng_seeded(~seed);
        if (!check_shape(pol, gc, &eng, verbose) || !check_duplicate(ctx, &inv, pol, gc, &eng, verbose) ||
            !check_per_bot(ctx, pol, gc, &eng, verbose))
            ok = false;
    }
    ctx->failures += !ok;
    rt_decision_list_free(&eng);
    rt_policy_free(pol);
    return ok;
}

static int env_u64(const char *name, uint64_t fallback, uint64_t max, uint64_t *out) {
    const char *s = getenv(name);
    *out = fallback;
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max || s[0] == '-')
        return -EINVAL;
    *out = v;
    return 0;
}

TEST(engine_matches_model_on_random_streams) {
    uint64_t base, n_cases;
    REQUIRE(env_u64("RATCHET_PROP_SEED", PROP_DEFAULT_SEED, UINT64_MAX, &base) == 0);
    REQUIRE(env_u64("RATCHET_PROP_N", PROP_DEFAULT_N, PROP_MAX_N, &n_cases) == 0);
    printf("property: base seed 0x%016" PRIx64 ", %" PRIu64 " cases\n", base, n_cases);
    fflush(stdout);

    struct prop_ctx *ctx = calloc(1, sizeof(*ctx));
    struct gen_case *gc = calloc(1, sizeof(*gc));
    if (!ctx || !gc) {
        free(ctx);
        free(gc);
        REQUIRE(!"out of memory");
    }
    size_t failed = 0;
    for (uint64_t i = 0; i < n_cases; i++)
        failed += !run_case(ctx, gc, base + i * CASE_SEED_STEP);
    const struct stats *st = &ctx->st;
    printf("property: %zu/%zu cases with decisions, %zu decisions (p0 %zu, error_rate %zu, "
           "recon_drift %zu, cvss %zu; %zu after D, %zu with unknown time), "
           "%zu promotions, %zu late items, %zu no-op promotions dropped, %zu failed\n",
           st->cases_with_decision, st->cases, st->decisions, st->per_cond[0], st->per_cond[1],
           st->per_cond[2], st->per_cond[3], st->after_due, st->with_unknown, st->promotions, st->late,
           st->dropped_noops, failed);
    CHECK_EQ_INT(failed, 0);
    /* The generator must keep producing both outcomes and every feature;
     * otherwise the comparison above proves little. */
    if (n_cases >= 1000) {
        CHECK(st->cases_with_decision * 5 >= st->cases && st->cases_with_decision * 5 <= st->cases * 4);
        for (int c = 0; c < RT_COND_COUNT; c++)
            CHECK(st->per_cond[c] * 50 >= st->decisions);
        CHECK(st->after_due * 20 >= st->decisions);
        CHECK(st->with_unknown * 20 >= st->decisions);
        CHECK(st->promotions * 10 >= n_cases);
        CHECK(st->late * 2 >= n_cases);
    }
    rt_sb_free(&gc->json);
    free(gc);
    free(ctx);
}

TEST_MAIN()
