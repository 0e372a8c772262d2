/* Unit tests of the window engine: one or more per rule of docs/policy.md. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/rtime.h"
#include "gen/reason_codes.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "tests/unit/harness.h"

#define S(x) ((int64_t)(x) * RT_USEC_PER_SEC)
#define BASE S(1795000000) /* 2026-11-19, an arbitrary fixed epoch */

/* window 100s, max_evidence_age 30s unless a test says otherwise */
static const char *const POLICY_FMT =
    "{\"version\":1,\"conditions\":{"
    "\"p0_alert\":{\"window\":\"100s\",\"max_evidence_age\":\"30s\",\"on_unknown\":\"%s\"},"
    "\"error_rate\":{\"window\":\"100s\",\"max_evidence_age\":\"30s\",\"on_unknown\":\"%s\"},"
    "\"recon_drift\":{\"window\":\"100s\",\"max_evidence_age\":\"30s\",\"tolerance\":%s},"
    "\"cvss\":{\"window\":\"100s\",\"max_evidence_age\":\"30s\"}}}";

struct fixture {
    struct rt_policy *policy;
    struct rt_engine *e;
    struct rt_decision got[16];
    char bots[16][RT_BOT_ID_MAX + 1];
    int n;
};

static void record(const struct rt_decision *d, void *ud) {
    struct fixture *f = ud;
    if (f->n < 16) {
        f->got[f->n] = *d;
        strcpy(f->bots[f->n], d->bot);
        f->got[f->n].bot = f->bots[f->n];
    }
    f->n++;
}

static bool setup_with(struct fixture *f, const char *unknown, const char *tolerance) {
    char json[1024];
    snprintf(json, sizeof(json), POLICY_FMT, unknown, unknown, tolerance);
    struct rt_policy_errors errs = {0};
    memset(f, 0, sizeof(*f));
    if (rt_policy_parse(json, strlen(json), &f->policy, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "policy %d:%d: %s\n", errs.e[i].line, errs.e[i].column, errs.e[i].text);
        return false;
    }
    f->e = rt_engine_new(f->policy);
    return f->e != NULL;
}

static bool setup(struct fixture *f) { return setup_with(f, "hold", "null"); }

static void teardown(struct fixture *f) {
    rt_engine_free(f->e);
    rt_policy_free(f->policy);
}

static struct rt_now at(int64_t s) { return (struct rt_now){BASE + S(s), BASE + S(s)}; }

/* Observation with event time ts (seconds) arriving at now (seconds). */
static int obs_at(struct fixture *f, const char *bot, enum rt_cond c, int64_t ts, int64_t now,
                  bool known, double v) {
    struct rt_obs o = {.bot = bot, .cond = c, .ts_us = BASE + S(ts), .known = known, .value = v};
    return rt_engine_observe(f->e, &o, at(now), record, f);
}

static int obs(struct fixture *f, const char *bot, enum rt_cond c, int64_t ts, double v) {
    return obs_at(f, bot, c, ts, ts, true, v);
}

static void advance(struct fixture *f, int64_t s) { rt_engine_advance(f->e, at(s), record, f); }

/* Breach evidence every `step` seconds in [from, to]. */
static void breach_run(struct fixture *f, const char *bot, enum rt_cond c, int64_t from, int64_t to,
                       int64_t step, double v) {
    for (int64_t t = from; t <= to; t += step)
        obs(f, bot, c, t, v);
}

TEST(full_window_demotes_exactly_at_deadline) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "alpha", RT_COND_P0_ALERT, 0, 90, 10, 1);
    advance(&f, 99);
    CHECK_EQ_INT(f.n, 0); /* never early */
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_STR(f.got[0].bot, "alpha");
    CHECK_EQ_INT(f.got[0].cond, RT_COND_P0_ALERT);
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(100));
    CHECK_EQ_INT(f.got[0].window_start_us, BASE);
    CHECK_EQ_INT(f.got[0].unknown_us, 0);
    CHECK_EQ_INT(f.got[0].evidence_ts_us, BASE + S(90));
    CHECK_EQ_STR(f.got[0].reason_code, RT_REASON_DEMOTE_P0_ALERT);
    CHECK_EQ_INT(rt_engine_readiness(f.e, "alpha"), RT_READY_LIMITED_LIVE);
    CHECK_EQ_INT(rt_engine_readiness_since(f.e, "alpha"), BASE + S(100));
    CHECK_EQ_INT(rt_engine_readiness_since(f.e, "nobody"), INT64_MIN);
    advance(&f, 500);
    CHECK_EQ_INT(f.n, 1); /* a demoted bot is not demoted twice */
    teardown(&f);
}

/* rt_engine_next_fire_mono: when to evaluate next so that a completion is
 * reported when it happens. With fresh evidence the window completes at
 * D = start + window; with stale evidence (hold), at the breach observation
 * that arrives after D; none once fired. */
TEST(next_fire_is_the_earliest_pending_completion) {
    struct fixture f;
    REQUIRE(setup(&f));
    CHECK_EQ_INT(rt_engine_next_fire_mono(f.e), INT64_MAX);
    obs(&f, "alpha", RT_COND_P0_ALERT, 0, 1);
    obs(&f, "bravo", RT_COND_ERROR_RATE, 20, 0.5);
    obs(&f, "alpha", RT_COND_P0_ALERT, 80, 1); /* fresh at D = 100 */
    CHECK_EQ_INT(rt_engine_next_fire_mono(f.e), BASE + S(100));
    advance(&f, 50);
    CHECK_EQ_INT(rt_engine_next_fire_mono(f.e), BASE + S(100)); /* bravo is stale by 120: no completion */
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(rt_engine_next_fire_mono(f.e), INT64_MAX);
    obs_at(&f, "bravo", RT_COND_ERROR_RATE, 130, 130, true, 0.5); /* breach after D = 120, stale evidence */
    CHECK_EQ_INT(rt_engine_next_fire_mono(f.e), BASE + S(130));
    CHECK_EQ_INT(f.n, 1); /* reported at the next evaluation, not by the observation */
    advance(&f, 131);
    CHECK_EQ_INT(f.n, 2);
    CHECK_EQ_INT(f.got[1].ts_us, BASE + S(130));
    CHECK_EQ_INT(rt_engine_next_fire_mono(f.e), INT64_MAX);
    teardown(&f);
}

TEST(ok_observation_closes_window_and_breach_reopens_from_zero) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_ERROR_RATE, 0, 40, 10, 0.02);
    obs(&f, "a", RT_COND_ERROR_RATE, 50, 0.001);
    breach_run(&f, "a", RT_COND_ERROR_RATE, 60, 150, 10, 0.02);
    advance(&f, 159);
    CHECK_EQ_INT(f.n, 0);
    advance(&f, 160);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE + S(60));
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(160));
    teardown(&f);
}

TEST(duplicates_and_late_evidence_change_nothing) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs(&f, "a", RT_COND_P0_ALERT, 0, 1);
    obs(&f, "a", RT_COND_P0_ALERT, 0, 1);            /* HA duplicate */
    obs(&f, "a", RT_COND_P0_ALERT, 50, 1);
    obs_at(&f, "a", RT_COND_P0_ALERT, 40, 55, true, 0); /* late resolve: older than 50 */
    obs(&f, "a", RT_COND_P0_ALERT, 50, 0);           /* same ts, first applied wins */
    breach_run(&f, "a", RT_COND_P0_ALERT, 80, 100, 10, 1);
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE);
    teardown(&f);
}

TEST(window_starts_at_event_time_not_arrival) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs_at(&f, "a", RT_COND_P0_ALERT, 0, 25, true, 1); /* webhook delivered 25s late */
    breach_run(&f, "a", RT_COND_P0_ALERT, 30, 90, 20, 1);
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE);
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(100));
    teardown(&f);
}

TEST(unknown_hold_neither_closes_nor_completes_and_is_counted) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_ERROR_RATE, 0, 20, 10, 0.5);
    obs_at(&f, "a", RT_COND_ERROR_RATE, 30, 30, false, 0);
    obs_at(&f, "a", RT_COND_ERROR_RATE, 50, 50, false, 0);
    breach_run(&f, "a", RT_COND_ERROR_RATE, 70, 90, 10, 0.5);
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE);
    CHECK_EQ_INT(f.got[0].unknown_us, S(40));
    teardown(&f);

    REQUIRE(setup(&f)); /* unknown at the deadline does not complete the window */
    breach_run(&f, "a", RT_COND_ERROR_RATE, 0, 90, 10, 0.5);
    obs_at(&f, "a", RT_COND_ERROR_RATE, 95, 95, false, 0);
    advance(&f, 200);
    CHECK_EQ_INT(f.n, 0);
    obs(&f, "a", RT_COND_ERROR_RATE, 210, 0.5); /* fresh breach completes it at its own time */
    advance(&f, 210);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(210));
    CHECK_EQ_INT(f.got[0].unknown_us, S(115));
    teardown(&f);
}

TEST(unknown_reset_closes_window) {
    struct fixture f;
    REQUIRE(setup_with(&f, "reset", "null"));
    breach_run(&f, "a", RT_COND_P0_ALERT, 0, 20, 10, 1);
    obs_at(&f, "a", RT_COND_P0_ALERT, 30, 30, false, 0);
    breach_run(&f, "a", RT_COND_P0_ALERT, 40, 130, 10, 1);
    advance(&f, 139);
    CHECK_EQ_INT(f.n, 0);
    advance(&f, 140);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE + S(40));
    teardown(&f);
}

TEST(unknown_breach_opens_and_completes_without_fresh_evidence) {
    struct fixture f;
    REQUIRE(setup_with(&f, "breach", "null"));
    obs_at(&f, "a", RT_COND_ERROR_RATE, 0, 0, false, 0);
    advance(&f, 99);
    CHECK_EQ_INT(f.n, 0);
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE);
    CHECK_EQ_INT(f.got[0].unknown_us, S(100));
    CHECK(!f.got[0].evidence_known);
    teardown(&f);
}

TEST(stale_evidence_is_unknown_and_delays_demotion_under_hold) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_ERROR_RATE, 0, 60, 10, 0.5); /* stale from 90 */
    advance(&f, 140);
    CHECK_EQ_INT(f.n, 0);
    struct rt_cond_status st;
    REQUIRE(rt_engine_cond_status(f.e, "a", RT_COND_ERROR_RATE, at(140), &st) == 0);
    CHECK_EQ_INT(st.state, RT_CLASS_UNKNOWN);
    CHECK(st.window_open);
    CHECK_EQ_INT(st.last_age_us, S(80));
    obs(&f, "a", RT_COND_ERROR_RATE, 150, 0.5);
    advance(&f, 150);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(150));
    CHECK_EQ_INT(f.got[0].unknown_us, S(60)); /* 90..150 */
    teardown(&f);
}

TEST(stale_under_reset_closes_at_staleness) {
    struct fixture f;
    REQUIRE(setup_with(&f, "reset", "null"));
    breach_run(&f, "a", RT_COND_ERROR_RATE, 0, 60, 10, 0.5);
    advance(&f, 95); /* stale at 90: the window closed */
    breach_run(&f, "a", RT_COND_ERROR_RATE, 100, 200, 10, 0.5);
    advance(&f, 199);
    CHECK_EQ_INT(f.n, 0);
    advance(&f, 200);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE + S(100));
    teardown(&f);
}

TEST(freshness_is_inclusive_at_deadline) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs(&f, "a", RT_COND_CVSS, 0, 9.8);
    obs(&f, "a", RT_COND_CVSS, 70, 9.8); /* fresh until exactly 100 = D */
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(100));
    teardown(&f);

    REQUIRE(setup(&f));
    obs(&f, "a", RT_COND_CVSS, 0, 9.8);
    obs(&f, "a", RT_COND_CVSS, 69, 9.8); /* stale at 99 < D */
    advance(&f, 100);
    CHECK_EQ_INT(f.n, 0);
    teardown(&f);
}

TEST(ok_at_exactly_the_deadline_prevents_demotion) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_P0_ALERT, 0, 90, 10, 1);
    obs(&f, "a", RT_COND_P0_ALERT, 100, 0);
    advance(&f, 300);
    CHECK_EQ_INT(f.n, 0);
    teardown(&f);
}

TEST(thresholds_are_strict) {
    struct fixture f;
    REQUIRE(setup_with(&f, "hold", "4"));
    breach_run(&f, "er-eq", RT_COND_ERROR_RATE, 0, 100, 10, 0.01);
    breach_run(&f, "er-above", RT_COND_ERROR_RATE, 0, 100, 10, 0.0100001);
    breach_run(&f, "cvss-7", RT_COND_CVSS, 0, 100, 10, 7.0);
    breach_run(&f, "cvss-7.1", RT_COND_CVSS, 0, 100, 10, 7.1);
    breach_run(&f, "drift-neg", RT_COND_RECON_DRIFT, 0, 100, 10, -5);
    breach_run(&f, "drift-eq", RT_COND_RECON_DRIFT, 0, 100, 10, 4);
    advance(&f, 100);
    REQUIRE(f.n == 3);
    bool seen_er = false, seen_cvss = false, seen_drift = false;
    for (int i = 0; i < 3; i++) {
        seen_er |= strcmp(f.got[i].bot, "er-above") == 0;
        seen_cvss |= strcmp(f.got[i].bot, "cvss-7.1") == 0;
        seen_drift |= strcmp(f.got[i].bot, "drift-neg") == 0;
    }
    CHECK(seen_er && seen_cvss && seen_drift);
    teardown(&f);
}

TEST(drift_tolerance_comes_from_evidence_then_policy_else_unknown) {
    struct fixture f;
    REQUIRE(setup(&f)); /* policy tolerance null */
    for (int64_t t = 0; t <= 100; t += 10) {
        struct rt_obs o = {.bot = "with-tol", .cond = RT_COND_RECON_DRIFT, .ts_us = BASE + S(t),
                           .known = true, .value = 12, .has_tolerance = true, .tolerance = 10};
        rt_engine_observe(f.e, &o, at(t), record, &f);
        obs(&f, "no-tol", RT_COND_RECON_DRIFT, t, 1e9);
    }
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_STR(f.got[0].bot, "with-tol");
    struct rt_cond_status st;
    REQUIRE(rt_engine_cond_status(f.e, "no-tol", RT_COND_RECON_DRIFT, at(100), &st) == 0);
    CHECK_EQ_INT(st.state, RT_CLASS_UNKNOWN);
    CHECK(!st.window_open);
    teardown(&f);
}

TEST(limited_live_bot_gets_no_decision_and_repromotion_restarts_window) {
    struct fixture f;
    REQUIRE(setup(&f));
    REQUIRE(rt_engine_set_readiness(f.e, "a", RT_READY_LIMITED_LIVE, BASE, at(0), record, &f) == 0);
    breach_run(&f, "a", RT_COND_P0_ALERT, 0, 150, 10, 1);
    advance(&f, 150);
    CHECK_EQ_INT(f.n, 0);
    struct rt_cond_status st;
    REQUIRE(rt_engine_cond_status(f.e, "a", RT_COND_P0_ALERT, at(150), &st) == 0);
    CHECK(st.window_open);
    CHECK_EQ_INT(st.demote_in_us, -1);
    REQUIRE(rt_engine_set_readiness(f.e, "a", RT_READY_GENERAL_LIVE, BASE + S(150), at(150), record, &f) == 0);
    CHECK_EQ_INT(f.n, 0);
    breach_run(&f, "a", RT_COND_P0_ALERT, 160, 250, 10, 1);
    advance(&f, 249);
    CHECK_EQ_INT(f.n, 0);
    advance(&f, 250);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE + S(150));
    teardown(&f);
}

TEST(decision_due_before_a_readiness_change_is_reported) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_P0_ALERT, 0, 90, 10, 1);
    REQUIRE(rt_engine_set_readiness(f.e, "a", RT_READY_LIMITED_LIVE, BASE + S(120), at(120), record, &f) == 0);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(100));
    teardown(&f);
}

TEST(earliest_condition_wins_and_ties_go_in_condition_order) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_CVSS, 0, 200, 10, 9);
    breach_run(&f, "a", RT_COND_ERROR_RATE, 10, 200, 10, 0.9);
    advance(&f, 300);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].cond, RT_COND_CVSS);
    teardown(&f);

    REQUIRE(setup(&f));
    for (int64_t t = 0; t <= 100; t += 10) {
        obs(&f, "b", RT_COND_CVSS, t, 9);
        obs(&f, "b", RT_COND_P0_ALERT, t, 1);
    }
    advance(&f, 100);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].cond, RT_COND_P0_ALERT);
    teardown(&f);
}

TEST(bots_are_independent) {
    struct fixture f;
    REQUIRE(setup(&f));
    breach_run(&f, "a", RT_COND_P0_ALERT, 0, 100, 10, 1);
    breach_run(&f, "b", RT_COND_P0_ALERT, 50, 100, 10, 1);
    obs(&f, "b", RT_COND_P0_ALERT, 110, 0);
    advance(&f, 200);
    REQUIRE(f.n == 1);
    CHECK_EQ_STR(f.got[0].bot, "a");
    CHECK_EQ_INT(rt_engine_readiness(f.e, "b"), RT_READY_GENERAL_LIVE);
    teardown(&f);
}

TEST(invalid_observations_are_refused) {
    struct fixture f;
    REQUIRE(setup(&f));
    CHECK_EQ_INT(obs(&f, "a", RT_COND_ERROR_RATE, 0, NAN), -EINVAL);
    CHECK_EQ_INT(obs(&f, "a", RT_COND_ERROR_RATE, 0, INFINITY), -EINVAL);
    CHECK_EQ_INT(obs(&f, "bad bot", RT_COND_ERROR_RATE, 0, 0.5), -EINVAL);
    CHECK_EQ_INT(obs(&f, "", RT_COND_ERROR_RATE, 0, 0.5), -EINVAL);
    CHECK_EQ_INT(obs(&f, "a", (enum rt_cond)7, 0, 0.5), -EINVAL);
    struct rt_obs o = {.bot = "a", .cond = RT_COND_RECON_DRIFT, .ts_us = BASE, .known = true,
                       .value = 1, .has_tolerance = true, .tolerance = -1};
    CHECK_EQ_INT(rt_engine_observe(f.e, &o, at(0), record, &f), -EINVAL);
    CHECK_EQ_INT(rt_engine_bot_count(f.e), 0);
    teardown(&f);
}

TEST(status_reports_time_to_demotion) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs(&f, "a", RT_COND_P0_ALERT, 0, 1);
    obs(&f, "a", RT_COND_P0_ALERT, 20, 1);
    struct rt_cond_status st;
    REQUIRE(rt_engine_cond_status(f.e, "a", RT_COND_P0_ALERT, at(25), &st) == 0);
    CHECK_EQ_INT(st.state, RT_CLASS_BREACH);
    CHECK(st.window_open);
    CHECK_EQ_INT(st.window_start_us, BASE);
    CHECK_EQ_INT(st.demote_in_us, S(75));
    CHECK_EQ_INT(st.last_ts_us, BASE + S(20));
    CHECK_EQ_INT(st.last_age_us, S(5));
    CHECK_EQ_INT(rt_engine_cond_status(f.e, "nobody", RT_COND_P0_ALERT, at(25), &st), -ENOENT);
    REQUIRE(rt_engine_cond_status(f.e, "a", RT_COND_CVSS, at(25), &st) == 0);
    CHECK_EQ_INT(st.state, RT_CLASS_NONE);
    CHECK_EQ_INT(st.demote_in_us, -1);
    teardown(&f);
}

/* ---- clocks: wall and monotonic differ ---- */

static int64_t mono0 = S(1000);

static struct rt_now clk(int64_t mono_s, int64_t wall_shift_s) {
    return (struct rt_now){BASE + S(mono_s) + S(wall_shift_s), mono0 + S(mono_s)};
}

static void obs_clk(struct fixture *f, int64_t ts_wall_s, struct rt_now now, double v) {
    struct rt_obs o = {.bot = "a", .cond = RT_COND_P0_ALERT, .ts_us = BASE + S(ts_wall_s),
                       .known = true, .value = v};
    rt_engine_observe(f->e, &o, now, record, f);
}

TEST(forward_clock_step_never_demotes_early) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs_clk(&f, 0, clk(0, 0), 1);
    obs_clk(&f, 20, clk(20, 0), 1);
    /* wall clock jumps +2h at mono 30; evidence stamped before the step arrives after it */
    rt_engine_advance(f.e, clk(30, 7200), record, &f);
    CHECK_EQ_INT(f.n, 0);
    for (int64_t m = 40; m <= 90; m += 10)
        obs_clk(&f, 7200 + m, clk(m, 7200), 1);
    rt_engine_advance(f.e, clk(99, 7200), record, &f);
    CHECK_EQ_INT(f.n, 0); /* wall says 2h passed; only 99 real seconds did */
    rt_engine_advance(f.e, clk(100, 7200), record, &f);
    REQUIRE(f.n == 1);
    teardown(&f);

    REQUIRE(setup(&f)); /* a first observation stamped before a step is placed at the step */
    rt_engine_advance(f.e, clk(0, 0), record, &f);
    rt_engine_advance(f.e, clk(10, 7200), record, &f); /* step detected at mono 10 */
    obs_clk(&f, 5, clk(12, 7200), 1);                  /* stamped 2h+ "ago" by the new clock */
    for (int64_t m = 20; m <= 110; m += 10)
        obs_clk(&f, 7200 + m, clk(m, 7200), 1);
    rt_engine_advance(f.e, clk(109, 7200), record, &f);
    CHECK_EQ_INT(f.n, 0);
    rt_engine_advance(f.e, clk(110, 7200), record, &f);
    REQUIRE(f.n == 1);
    teardown(&f);
}

TEST(backward_clock_step_keeps_the_monotonic_deadline) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs_clk(&f, 0, clk(0, 0), 1);
    obs_clk(&f, 20, clk(20, 0), 1);
    rt_engine_advance(f.e, clk(30, -7200), record, &f); /* wall clock back 2h */
    for (int64_t m = 40; m <= 100; m += 10)
        obs_clk(&f, m - 7200, clk(m, -7200), 1);
    rt_engine_advance(f.e, clk(99, -7200), record, &f);
    CHECK_EQ_INT(f.n, 0);
    rt_engine_advance(f.e, clk(100, -7200), record, &f);
    REQUIRE(f.n == 1);
    /* reported wall times use the current clock */
    CHECK_EQ_INT(f.got[0].ts_us, BASE + S(100) - S(7200));
    teardown(&f);
}

TEST(small_offset_drift_is_followed_not_a_step) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs_clk(&f, 0, clk(0, 0), 1);
    struct rt_now slewed = {BASE + S(50) + 500000, mono0 + S(50)}; /* +0.5 s */
    struct rt_obs o = {.bot = "a", .cond = RT_COND_P0_ALERT, .ts_us = BASE + S(50), .known = true, .value = 1};
    rt_engine_observe(f.e, &o, slewed, record, &f);
    o.ts_us = BASE + S(90);
    rt_engine_observe(f.e, &o, (struct rt_now){BASE + S(90) + 500000, mono0 + S(90)}, record, &f);
    rt_engine_advance(f.e, (struct rt_now){BASE + S(100) + 500000, mono0 + S(100)}, record, &f);
    REQUIRE(f.n == 1);
    CHECK_EQ_INT(f.got[0].window_start_us, BASE + 500000); /* shown in the slewed clock */
    teardown(&f);
}

/* ---- persistence ---- */

TEST(encode_decode_round_trip_preserves_schedule) {
    struct fixture f, g;
    REQUIRE(setup(&f));
    REQUIRE(setup(&g));
    breach_run(&f, "a", RT_COND_P0_ALERT, 0, 40, 10, 1);
    obs_at(&f, "a", RT_COND_ERROR_RATE, 10, 40, false, 0);
    obs(&f, "a", RT_COND_CVSS, 5, 9.1);
    uint8_t buf[RT_BOT_RECORD_MAX], clock[64];
    int n = rt_engine_encode_bot(f.e, "a", buf, sizeof(buf));
    REQUIRE(n > 0);
    int m = rt_engine_encode_clock(f.e, clock, sizeof(clock));
    REQUIRE(m > 0);
    REQUIRE(rt_engine_decode_clock(g.e, clock, (size_t)m) == 0);
    REQUIRE(rt_engine_decode_bot(g.e, "a", buf, (size_t)n) == 0);
    uint8_t again[RT_BOT_RECORD_MAX];
    CHECK_EQ_INT(rt_engine_encode_bot(g.e, "a", again, sizeof(again)), n);
    CHECK(memcmp(buf, again, (size_t)n) == 0);
    /* both engines now see the same future */
    breach_run(&f, "a", RT_COND_P0_ALERT, 50, 100, 10, 1);
    breach_run(&g, "a", RT_COND_P0_ALERT, 50, 100, 10, 1);
    advance(&f, 100);
    advance(&g, 100);
    REQUIRE(f.n == 1 && g.n == 1);
    CHECK_EQ_INT(f.got[0].ts_us, g.got[0].ts_us);
    CHECK_EQ_INT(f.got[0].window_start_us, g.got[0].window_start_us);
    teardown(&f);
    teardown(&g);
}

TEST(decode_refuses_malformed_records) {
    struct fixture f;
    REQUIRE(setup(&f));
    obs(&f, "a", RT_COND_P0_ALERT, 0, 1);
    uint8_t buf[RT_BOT_RECORD_MAX];
    int n = rt_engine_encode_bot(f.e, "a", buf, sizeof(buf));
    REQUIRE(n > 2);
    for (int len = 0; len < n; len++)
        CHECK_EQ_INT(rt_engine_decode_bot(f.e, "b", buf, (size_t)len), -EBADMSG);
    uint8_t bad[RT_BOT_RECORD_MAX];
    memcpy(bad, buf, (size_t)n);
    bad[0] = 99; /* version */
    CHECK_EQ_INT(rt_engine_decode_bot(f.e, "b", bad, (size_t)n), -EBADMSG);
    memcpy(bad, buf, (size_t)n);
    bad[1] = 9; /* readiness */
    CHECK_EQ_INT(rt_engine_decode_bot(f.e, "b", bad, (size_t)n), -EBADMSG);
    memcpy(bad, buf, (size_t)n);
    bad[18] = 0xFF; /* flags of the first condition */
    CHECK_EQ_INT(rt_engine_decode_bot(f.e, "b", bad, (size_t)n), -EBADMSG);
    CHECK_EQ_INT(rt_engine_decode_bot(f.e, "bad id", buf, (size_t)n), -EBADMSG);
    CHECK_EQ_INT(rt_engine_bot_count(f.e), 1); /* nothing half-restored */
    CHECK_EQ_INT(rt_engine_encode_bot(f.e, "a", buf, 10), -ENOBUFS);
    teardown(&f);
}

TEST(rebase_after_reboot_keeps_wall_schedule) {
    struct fixture f, g;
    REQUIRE(setup(&f));
    REQUIRE(setup(&g));
    obs_clk(&f, 0, clk(0, 0), 1);
    obs_clk(&f, 30, clk(30, 0), 1);
    uint8_t buf[RT_BOT_RECORD_MAX], clock[64];
    int n = rt_engine_encode_bot(f.e, "a", buf, sizeof(buf));
    int m = rt_engine_encode_clock(f.e, clock, sizeof(clock));
    REQUIRE(n > 0 && m > 0);
    REQUIRE(rt_engine_decode_clock(g.e, clock, (size_t)m) == 0);
    REQUIRE(rt_engine_decode_bot(g.e, "a", buf, (size_t)n) == 0);
    /* reboot: monotonic restarted near 0 while wall kept going (downtime 20 s) */
    struct rt_now boot = {BASE + S(50), S(5)};
    rt_engine_rebase(g.e, boot);
    for (int64_t w = 60; w <= 100; w += 10) {
        struct rt_obs o = {.bot = "a", .cond = RT_COND_P0_ALERT, .ts_us = BASE + S(w), .known = true, .value = 1};
        rt_engine_observe(g.e, &o, (struct rt_now){BASE + S(w), S(w - 45)}, record, &g);
    }
    rt_engine_advance(g.e, (struct rt_now){BASE + S(99), S(54)}, record, &g);
    CHECK_EQ_INT(g.n, 0);
    rt_engine_advance(g.e, (struct rt_now){BASE + S(100), S(55)}, record, &g);
    REQUIRE(g.n == 1);
    CHECK_EQ_INT(g.got[0].window_start_us, BASE);
    CHECK_EQ_INT(g.got[0].ts_us, BASE + S(100));
    teardown(&f);
    teardown(&g);
}

static void count(const char *bot, void *ud) {
    (void)bot;
    (*(int *)ud)++;
}

TEST(change_hook_fires_on_transitions_not_on_every_observation) {
    struct fixture f;
    REQUIRE(setup(&f));
    int changes = 0;
    rt_engine_set_change_hook(f.e, count, &changes);
    obs(&f, "a", RT_COND_ERROR_RATE, 0, 0.5); /* first evidence + window opens */
    int after_open = changes;
    CHECK(after_open >= 1);
    breach_run(&f, "a", RT_COND_ERROR_RATE, 10, 50, 10, 0.5); /* no transitions */
    CHECK_EQ_INT(changes, after_open);
    obs(&f, "a", RT_COND_ERROR_RATE, 60, 0.001); /* closes */
    CHECK(changes > after_open);
    teardown(&f);
}

TEST(every_condition_has_a_registered_demotion_code) {
    for (int k = 0; k < RT_COND_COUNT; k++) {
        const char *code = rt_reason_demote_code(k);
        REQUIRE(code != NULL);
        const struct rt_reason_info *info = rt_reason_find(code);
        REQUIRE(info != NULL);
        CHECK(strlen(info->user_message) > 20);
    }
    CHECK(rt_reason_demote_code(RT_COND_COUNT) == NULL);
}

TEST_MAIN()
