/* The P0 tracker: webhook deliveries and polls in, p0_alert observations out
 * (docs/alertmanager.md, "The tracker"). */
#include <errno.h>
#include <string.h>

#include "common/rtime.h"
#include "common/util.h"
#include "feeds/alertmanager.h"
#include "feeds/p0track.h"
#include "policy/engine.h"
#include "tests/unit/harness.h"

static int64_t T(const char *s) {
    int64_t us = 0;
    if (rt_time_parse(s, &us) < 0)
        abort();
    return us;
}

/* ---- recorders ---- */

struct rec {
    size_t n;
    struct {
        char bot[RT_BOT_ID_MAX + 1];
        int64_t ts;
        bool active;
    } o[512];
    size_t n_changes;
    char changed[64][RT_BOT_ID_MAX + 1];
};

static void on_obs(const struct rt_obs *obs, void *ud) {
    struct rec *r = ud;
    if (obs->cond != RT_COND_P0_ALERT || !obs->known || (obs->value != 0 && obs->value != 1))
        abort();
    if (r->n < ELEMENTSOF(r->o)) {
        rt_strlcpy(r->o[r->n].bot, obs->bot, sizeof r->o[r->n].bot);
        r->o[r->n].ts = obs->ts_us;
        r->o[r->n].active = obs->value == 1;
    }
    r->n++;
}

static void on_change(const char *bot, void *ud) {
    struct rec *r = ud;
    if (r->n_changes < ELEMENTSOF(r->changed))
        rt_strlcpy(r->changed[r->n_changes], bot, sizeof r->changed[0]);
    r->n_changes++;
}

static bool has_obs(const struct rec *r, const char *bot, bool active, int64_t ts) {
    for (size_t i = 0; i < r->n && i < ELEMENTSOF(r->o); i++)
        if (strcmp(r->o[i].bot, bot) == 0 && r->o[i].active == active && r->o[i].ts == ts)
            return true;
    return false;
}

static size_t count_obs(const struct rec *r, const char *bot) {
    size_t n = 0;
    for (size_t i = 0; i < r->n && i < ELEMENTSOF(r->o); i++)
        n += strcmp(r->o[i].bot, bot) == 0;
    return n;
}

static struct rt_am_alert firing(const char *bot, const char *fp, int64_t starts) {
    struct rt_am_alert a = {.firing = true, .starts_at_us = starts};
    rt_strlcpy(a.bot, bot, sizeof a.bot);
    rt_strlcpy(a.fingerprint, fp, sizeof a.fingerprint);
    rt_strlcpy(a.alertname, "P0Down", sizeof a.alertname);
    return a;
}

static struct rt_am_alert resolved(const char *bot, const char *fp, int64_t starts, int64_t ends) {
    struct rt_am_alert a = firing(bot, fp, starts);
    a.firing = false;
    a.has_ends_at = true;
    a.ends_at_us = ends;
    return a;
}

static int hook(struct rt_p0track *t, struct rec *r, struct rt_am_alert a) {
    return rt_p0track_webhook(t, &a, 1, on_obs, r, NULL);
}

static bool bot_active(const struct rt_p0track *t, const char *bot) {
    struct rt_p0_bot_status st;
    return rt_p0track_bot_status(t, bot, &st) == 0 && st.active;
}

#define S0 T("2026-11-23T10:00:00Z")
#define MIN (60 * RT_USEC_PER_SEC)

/* ---- webhook rules ---- */

TEST(fire_then_resolve) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    rt_p0track_set_change_hook(t, on_change, &r);
    struct rt_p0_counts c;
    struct rt_am_alert a = firing("alpha", "e7d558e15c1e5566", S0);
    CHECK_EQ_INT(rt_p0track_webhook(t, &a, 1, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.added, 1);
    CHECK_EQ_INT(c.emitted, 1);
    CHECK_EQ_INT(r.n, 1);
    CHECK(has_obs(&r, "alpha", true, S0));
    CHECK_EQ_INT(r.n_changes, 1);
    CHECK_EQ_STR(r.changed[0], "alpha");
    CHECK(bot_active(t, "alpha"));
    CHECK_EQ_INT(rt_p0track_alert_count(t), 1);

    struct rt_am_alert b = resolved("alpha", "e7d558e15c1e5566", S0, S0 + 90 * MIN);
    CHECK_EQ_INT(rt_p0track_webhook(t, &b, 1, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.removed, 1);
    CHECK_EQ_INT(r.n, 2);
    CHECK(has_obs(&r, "alpha", false, S0 + 90 * MIN));
    CHECK_EQ_INT(r.n_changes, 2);
    CHECK(!bot_active(t, "alpha"));
    CHECK_EQ_INT(rt_p0track_alert_count(t), 0);
    rt_p0track_free(t);
}

TEST(duplicate_delivery_is_idempotent) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    rt_p0track_set_change_hook(t, on_change, &r);
    struct rt_am_alert a = firing("alpha", "e7d558e15c1e5566", S0);
    struct rt_p0_counts c;
    CHECK_EQ_INT(hook(t, &r, a), 0);
    /* The HA peer delivers the same notification. */
    CHECK_EQ_INT(rt_p0track_webhook(t, &a, 1, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.unchanged, 1);
    CHECK_EQ_INT(c.added, 0);
    CHECK_EQ_INT(c.emitted, 0);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.n_changes, 1);
    /* The same alert twice in one payload. */
    struct rt_am_alert two[2] = {a, a};
    CHECK_EQ_INT(rt_p0track_webhook(t, two, 2, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.unchanged, 2);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(rt_p0track_alert_count(t), 1);

    struct rt_am_alert b = resolved("alpha", "e7d558e15c1e5566", S0, S0 + 5 * MIN);
    CHECK_EQ_INT(hook(t, &r, b), 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.n_changes, 2);
    /* The peer's resolve: nothing left to remove, and obs(false, endsAt)
     * would not be newer than the one already emitted. */
    CHECK_EQ_INT(rt_p0track_webhook(t, &b, 1, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.unchanged, 1);
    CHECK_EQ_INT(c.emitted, 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.n_changes, 2);
    rt_p0track_free(t);
}

TEST(resolve_for_unknown_fingerprint) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    /* Never seen bot: it has no active alert, so the resolve says so. */
    CHECK_EQ_INT(hook(t, &r, resolved("beta", "aa", S0, S0 + MIN)), 0);
    CHECK_EQ_INT(r.n, 1);
    CHECK(has_obs(&r, "beta", false, S0 + MIN));
    /* A bot with another active alert stays active: no observation. */
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "01", S0)), 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "02", S0, S0 + MIN)), 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK(bot_active(t, "alpha"));
    /* Known bot without active alerts: obs(false, endsAt) when it is newer. */
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "01", S0, S0 + 2 * MIN)), 0);
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "03", S0, S0 + 3 * MIN)), 0);
    CHECK_EQ_INT(r.n, 4);
    CHECK(has_obs(&r, "alpha", false, S0 + 3 * MIN));
    rt_p0track_free(t);
}

TEST(two_alerts_on_one_bot) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    struct rt_am_alert both[2] = {firing("alpha", "e7d558e15c1e5566", S0),
                                  firing("alpha", "6894cc34137d06e2", S0 + 3 * MIN)};
    CHECK_EQ_INT(rt_p0track_webhook(t, both, 2, on_obs, &r, NULL), 0);
    CHECK(has_obs(&r, "alpha", true, S0));
    CHECK(has_obs(&r, "alpha", true, S0 + 3 * MIN));
    CHECK_EQ_INT(r.n, 2);
    struct rt_p0_bot_status st;
    REQUIRE(rt_p0track_bot_status(t, "alpha", &st) == 0);
    CHECK_EQ_INT(st.n_active, 2);
    CHECK_EQ_INT(st.first_start_us, S0);

    /* Resolving one keeps the bot active. */
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "6894cc34137d06e2", S0 + 3 * MIN, S0 + 10 * MIN)), 0);
    CHECK_EQ_INT(r.n, 2);
    CHECK(bot_active(t, "alpha"));
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "e7d558e15c1e5566", S0, S0 + 20 * MIN)), 0);
    CHECK_EQ_INT(r.n, 3);
    CHECK(has_obs(&r, "alpha", false, S0 + 20 * MIN));
    CHECK(!bot_active(t, "alpha"));
    rt_p0track_free(t);
}

TEST(real_webhooks_fire_and_resolve) {
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX];
    REQUIRE(rt_am_matchers_parse("severity=\"P0\"", &m, err, sizeof err) == 0);
    struct rt_am_config cfg = {.p0 = &m, .bot_label = "bot"};
    static const char *const files[] = {
        "webhook-firing.json", "webhook-firing-two.json", "webhook-one-resolved-one-firing.json",
        "webhook-resolved.json"};
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/samples/alertmanager/%s", files[i]);
        _cleanup_fclose_ FILE *f = fopen(path, "rb");
        REQUIRE(f);
        char body[4096];
        size_t len = fread(body, 1, sizeof body, f);
        struct rt_am_webhook w;
        REQUIRE(rt_am_webhook_parse(body, len, &cfg, &w, err, sizeof err) == 0);
        CHECK_EQ_INT(rt_p0track_webhook(t, w.list.alerts, w.list.n_alerts, on_obs, &r, NULL), 0);
        rt_am_webhook_free(&w);
    }
    /* P0Down fired (obs true), P0Latency joined (true at its start), P0Latency
     * resolved (alpha still active), P0Down resolved (false at its endsAt). */
    CHECK_EQ_INT(r.n, 3);
    CHECK(has_obs(&r, "alpha", true, T("2026-11-24T09:02:22.537583Z")));
    CHECK(has_obs(&r, "alpha", true, T("2026-11-24T09:02:25.558165Z")));
    CHECK(has_obs(&r, "alpha", false, T("2026-11-24T09:02:52Z")));
    CHECK(!bot_active(t, "alpha"));
    rt_p0track_free(t);
    rt_am_matchers_free(&m);
}

/* ---- polls ---- */

TEST(lost_resolve_corrected_by_poll) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    rt_p0track_set_change_hook(t, on_change, &r);
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "e7d558e15c1e5566", S0)), 0);
    CHECK_EQ_INT(hook(t, &r, firing("beta", "0b", S0)), 0);
    /* The resolve of alpha never came; the API lists only beta's alert. */
    struct rt_am_alert listed = firing("beta", "0b", S0);
    struct rt_p0_counts c;
    int64_t now = S0 + 60 * MIN;
    r.n_changes = 0;
    CHECK_EQ_INT(rt_p0track_poll(t, &listed, 1, now, NULL, 0, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.removed, 1);
    CHECK_EQ_INT(c.unchanged, 1);
    CHECK(has_obs(&r, "alpha", false, now));
    CHECK(has_obs(&r, "beta", true, now)); /* re-asserted: evidence stays fresh */
    CHECK(!bot_active(t, "alpha"));
    CHECK(bot_active(t, "beta"));
    CHECK_EQ_INT(r.n_changes, 1);
    CHECK_EQ_STR(r.changed[0], "alpha");
    rt_p0track_free(t);
}

TEST(alert_seen_only_by_poll) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    struct rt_am_alert listed = firing("gamma", "cdc1a8e561f56fc9", S0);
    struct rt_p0_counts c;
    CHECK_EQ_INT(rt_p0track_poll(t, &listed, 1, S0 + 7 * MIN, NULL, 0, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.added, 1);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.o[0].ts, S0); /* the window starts when the alert did */
    CHECK(r.o[0].active);
    CHECK_EQ_INT(r.o[1].ts, S0 + 7 * MIN);
    CHECK(r.o[1].active);
    /* The next poll only re-asserts. */
    CHECK_EQ_INT(rt_p0track_poll(t, &listed, 1, S0 + 8 * MIN, NULL, 0, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.added, 0);
    CHECK_EQ_INT(c.unchanged, 1);
    CHECK_EQ_INT(r.n, 3);
    CHECK(has_obs(&r, "gamma", true, S0 + 8 * MIN));
    /* Its webhook arriving late changes nothing. */
    CHECK_EQ_INT(hook(t, &r, listed), 0);
    CHECK_EQ_INT(r.n, 3);
    rt_p0track_free(t);
}

TEST(silenced_and_inhibited_alerts_still_count) {
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX];
    REQUIRE(rt_am_matchers_parse("severity=\"P0\"", &m, err, sizeof err) == 0);
    struct rt_am_config cfg = {.p0 = &m, .bot_label = "bot"};
    _cleanup_fclose_ FILE *f = fopen("tests/samples/alertmanager/api-alerts-p0-filter.json", "rb");
    REQUIRE(f);
    char body[8192];
    size_t len = fread(body, 1, sizeof body, f);
    struct rt_am_alert_list l;
    REQUIRE(rt_am_alerts_parse(body, len, &cfg, &l, err, sizeof err) == 0);

    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    int64_t now = T("2026-11-24T09:03:00Z");
    CHECK_EQ_INT(rt_p0track_poll(t, l.alerts, l.n_alerts, now, NULL, 0, on_obs, &r, NULL), 0);
    struct rt_p0_bot_status st;
    REQUIRE(rt_p0track_bot_status(t, "delta", &st) == 0);
    CHECK(st.active);
    CHECK_EQ_INT(st.n_active, 1);
    CHECK_EQ_INT(st.n_silenced, 1);
    CHECK(has_obs(&r, "delta", true, T("2026-11-24T09:02:33.357999Z"))); /* the API's millisecond, its end */
    CHECK(has_obs(&r, "delta", true, now));
    REQUIRE(rt_p0track_bot_status(t, "gamma", &st) == 0);
    CHECK(st.active);
    CHECK_EQ_INT(st.n_inhibited, 1);
    CHECK(has_obs(&r, "gamma", true, now));
    REQUIRE(rt_p0track_bot_status(t, "alpha", &st) == 0);
    CHECK_EQ_INT(st.n_active, 2);
    CHECK_EQ_INT(st.n_silenced, 0);
    CHECK_EQ_INT(rt_p0track_alert_count(t), 4);

    /* The silence ends and Alertmanager delivers the alert: no longer silenced, no new obs. */
    size_t before = r.n;
    struct rt_am_alert d = firing("delta", "43d299576ebdb814", T("2026-11-24T09:02:33.357Z"));
    CHECK_EQ_INT(hook(t, &r, d), 0);
    CHECK_EQ_INT(r.n, before);
    REQUIRE(rt_p0track_bot_status(t, "delta", &st) == 0);
    CHECK_EQ_INT(st.n_silenced, 0);
    CHECK(st.active);
    rt_am_alert_list_free(&l);
    rt_am_matchers_free(&m);
    rt_p0track_free(t);
}

TEST(poll_reasserts_inactive_bots_and_extra_bots) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "01", S0)), 0);
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "01", S0, S0 + MIN)), 0);
    r.n = 0;
    static const char *const bots[] = {"alpha", "omega", "-invalid", "omega"};
    int64_t now = S0 + 30 * MIN;
    CHECK_EQ_INT(rt_p0track_poll(t, NULL, 0, now, bots, ELEMENTSOF(bots), on_obs, &r, NULL), 0);
    CHECK(has_obs(&r, "alpha", false, now));
    CHECK_EQ_INT(count_obs(&r, "alpha"), 1); /* tracked bot: once, not again from the list */
    CHECK(has_obs(&r, "omega", false, now));
    CHECK_EQ_INT(count_obs(&r, "-invalid"), 0);
    CHECK_EQ_INT(rt_p0track_bot_status(t, "omega", &(struct rt_p0_bot_status){0}), -ENOENT);
    rt_p0track_free(t);
}

TEST(state_changes_are_never_stamped_before_earlier_observations) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "01", S0)), 0);
    int64_t poll = S0 + 10 * MIN;
    struct rt_am_alert listed = firing("alpha", "01", S0);
    CHECK_EQ_INT(rt_p0track_poll(t, &listed, 1, poll, NULL, 0, on_obs, &r, NULL), 0);
    CHECK(has_obs(&r, "alpha", true, poll));
    /* Resolved at 09:09 by Alertmanager's clock, delivered after the 10:00
     * re-assertion: an obs(false, endsAt) would be dropped by the engine as
     * late and leave the window open, so it is stamped just after. */
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "01", S0, poll - MIN)), 0);
    CHECK(has_obs(&r, "alpha", false, poll + 1));
    CHECK(!bot_active(t, "alpha"));
    /* Likewise a new alert whose startsAt predates the last observation. */
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "02", poll - 2 * MIN)), 0);
    CHECK(has_obs(&r, "alpha", true, poll + 2));
    struct rt_p0_bot_status st;
    REQUIRE(rt_p0track_bot_status(t, "alpha", &st) == 0);
    CHECK(st.has_last_obs);
    CHECK_EQ_INT(st.last_obs_us, poll + 2);
    rt_p0track_free(t);
}

TEST(poll_in_flight_does_not_undo_newer_webhooks) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "01", S0)), 0);
    uint64_t token = rt_p0track_poll_begin(t);
    /* While the request is in flight: beta fires, alpha resolves. */
    CHECK_EQ_INT(hook(t, &r, firing("beta", "02", S0 + MIN)), 0);
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "01", S0, S0 + 2 * MIN)), 0);
    CHECK(has_obs(&r, "alpha", false, S0 + 2 * MIN));
    /* The snapshot predates both: it lists alpha's alert, not beta's. */
    struct rt_am_alert listed = firing("alpha", "01", S0);
    r.n = 0;
    struct rt_p0_counts c;
    CHECK_EQ_INT(rt_p0track_poll_end(t, token, &listed, 1, S0 + MIN, NULL, 0, on_obs, &r, &c), 0);
    CHECK(!bot_active(t, "alpha"));
    CHECK(bot_active(t, "beta"));
    CHECK_EQ_INT(c.removed, 0);
    CHECK_EQ_INT(c.added, 0);
    CHECK(!has_obs(&r, "alpha", true, S0));
    CHECK(!has_obs(&r, "beta", false, S0 + MIN));
    CHECK_EQ_INT(rt_p0track_alert_count(t), 1);
    /* A later poll that no longer lists beta removes it. */
    CHECK_EQ_INT(rt_p0track_poll(t, NULL, 0, S0 + 5 * MIN, NULL, 0, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.removed, 1);
    CHECK(has_obs(&r, "beta", false, S0 + 5 * MIN));
    rt_p0track_free(t);
}

/* Alertmanager keeps alerts in memory only: right after a restart it lists
 * none until its clients re-send them. A partial poll must not take that for
 * a resolve (the window would restart), and must not re-assert the unlisted
 * alerts either (they are unconfirmed: the evidence goes stale). What the
 * restarted instance has listed once is authoritative again. */
TEST(partial_poll_after_alertmanager_restart_resolves_nothing) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "01", S0)), 0);
    CHECK_EQ_INT(hook(t, &r, firing("beta", "02", S0)), 0);
    CHECK_EQ_INT(hook(t, &r, firing("beta", "03", S0)), 0);
    const char *bots[] = {"alpha", "beta", "gamma"};
    /* The restarted Alertmanager has had only beta's "02" re-sent so far. */
    struct rt_am_alert listed = firing("beta", "02", S0);
    uint64_t first = rt_p0track_poll_begin(t);
    rt_p0track_poll_partial(t, first + 1, first); /* another token: no effect */
    rt_p0track_poll_partial(t, first, first);
    r.n = 0;
    struct rt_p0_counts c;
    CHECK_EQ_INT(rt_p0track_poll_end(t, first, &listed, 1, S0 + MIN, bots, 3, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.removed, 0);
    CHECK_EQ_INT(rt_p0track_alert_count(t), 3);
    CHECK(bot_active(t, "alpha"));
    CHECK_EQ_INT(count_obs(&r, "alpha"), 0);       /* unconfirmed: no evidence */
    CHECK(has_obs(&r, "beta", true, S0 + MIN));    /* confirmed by "02" */
    CHECK(has_obs(&r, "gamma", false, S0 + MIN));  /* no alert before, none now */
    CHECK_EQ_INT(r.n, 2);
    /* Still in the grace: "01" and "03" are kept; "02", which this instance
     * listed, is gone now: that is a resolve. */
    uint64_t token = rt_p0track_poll_begin(t);
    rt_p0track_poll_partial(t, token, first);
    r.n = 0;
    CHECK_EQ_INT(rt_p0track_poll_end(t, token, NULL, 0, S0 + 2 * MIN, bots, 3, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.removed, 1);
    CHECK_EQ_INT(rt_p0track_alert_count(t), 2);
    CHECK_EQ_INT(r.n, 1);
    CHECK(has_obs(&r, "gamma", false, S0 + 2 * MIN));
    /* After the grace (no partial): the alerts never re-sent were resolved
     * while Alertmanager was down; now they are taken as such. */
    r.n = 0;
    CHECK_EQ_INT(rt_p0track_poll(t, NULL, 0, S0 + 3 * MIN, bots, 3, on_obs, &r, &c), 0);
    CHECK_EQ_INT(c.removed, 2);
    CHECK(has_obs(&r, "alpha", false, S0 + 3 * MIN));
    CHECK(has_obs(&r, "beta", false, S0 + 3 * MIN));
    CHECK_EQ_INT(rt_p0track_alert_count(t), 0);
    /* A webhook resolve applies during a partial poll as usual. */
    CHECK_EQ_INT(hook(t, &r, firing("beta", "04", S0 + 3 * MIN)), 0);
    token = rt_p0track_poll_begin(t);
    rt_p0track_poll_partial(t, token, token);
    CHECK_EQ_INT(hook(t, &r, resolved("beta", "04", S0 + 3 * MIN, S0 + 4 * MIN)), 0);
    CHECK(has_obs(&r, "beta", false, S0 + 4 * MIN));
    r.n = 0;
    CHECK_EQ_INT(rt_p0track_poll_end(t, token, NULL, 0, S0 + 5 * MIN, bots, 3, on_obs, &r, &c), 0);
    CHECK(!bot_active(t, "beta"));
    CHECK(has_obs(&r, "beta", false, S0 + 5 * MIN));
    CHECK_EQ_INT(rt_p0track_alert_count(t), 0);
    rt_p0track_free(t);
}

TEST(failed_or_superseded_poll_emits_nothing) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    CHECK_EQ_INT(hook(t, &r, firing("alpha", "01", S0)), 0);
    uint64_t first = rt_p0track_poll_begin(t);
    uint64_t second = rt_p0track_poll_begin(t);
    CHECK(second != first);
    r.n = 0;
    CHECK_EQ_INT(rt_p0track_poll_end(t, first, NULL, 0, S0 + MIN, NULL, 0, on_obs, &r, NULL), -ESTALE);
    CHECK_EQ_INT(r.n, 0);
    /* During the flight a resolve leaves a tombstone; the abort clears it. */
    CHECK_EQ_INT(hook(t, &r, resolved("alpha", "01", S0, S0 + 2 * MIN)), 0);
    CHECK_EQ_INT(r.n, 1);
    rt_p0track_poll_abort(t, second);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(rt_p0track_poll_end(t, second, NULL, 0, S0 + 3 * MIN, NULL, 0, on_obs, &r, NULL), -ESTALE);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(rt_p0track_alert_count(t), 0);
    CHECK(!bot_active(t, "alpha"));
    rt_p0track_free(t);
}

TEST(invalid_input_applies_nothing) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    struct rt_am_alert batch[2] = {firing("alpha", "01", S0), firing("-bad", "02", S0)};
    CHECK_EQ_INT(rt_p0track_webhook(t, batch, 2, on_obs, &r, NULL), -EINVAL);
    batch[1] = firing("beta", "0G", S0);
    CHECK_EQ_INT(rt_p0track_webhook(t, batch, 2, on_obs, &r, NULL), -EINVAL);
    batch[1] = firing("beta", "AB", S0); /* parsers lower-case fingerprints */
    CHECK_EQ_INT(rt_p0track_webhook(t, batch, 2, on_obs, &r, NULL), -EINVAL);
    batch[1] = firing("beta", "ab", S0);
    batch[1].firing = false; /* resolved without endsAt */
    CHECK_EQ_INT(rt_p0track_webhook(t, batch, 2, on_obs, &r, NULL), -EINVAL);
    CHECK_EQ_INT(rt_p0track_poll(t, batch, 2, S0, NULL, 0, on_obs, &r, NULL), -EINVAL);
    CHECK_EQ_INT(r.n, 0);
    CHECK_EQ_INT(rt_p0track_bot_count(t), 0);
    CHECK_EQ_INT(rt_p0track_alert_count(t), 0);
    rt_p0track_free(t);
}

/* ---- persistence ---- */

struct alert_names {
    size_t n;
    char fp[8][RT_AM_FINGERPRINT_MAX + 1];
    bool silenced[8];
};

static void collect(const struct rt_am_alert *a, void *ud) {
    struct alert_names *l = ud;
    if (l->n < 8) {
        rt_strlcpy(l->fp[l->n], a->fingerprint, sizeof l->fp[0]);
        l->silenced[l->n] = a->silenced;
    }
    l->n++;
}

TEST(encode_decode_round_trip) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    struct rt_am_alert listed[3] = {firing("alpha", "ff01", S0), firing("alpha", "0a", S0 + MIN),
                                    firing("alpha", "7c", S0 + 2 * MIN)};
    listed[1].silenced = true;
    listed[2].inhibited = true;
    rt_strlcpy(listed[2].alertname, "Latency \xc3\xa9", sizeof listed[2].alertname);
    CHECK_EQ_INT(rt_p0track_poll(t, listed, 3, S0 + 5 * MIN, NULL, 0, on_obs, &r, NULL), 0);
    uint8_t buf[RT_P0_RECORD_MAX], again[RT_P0_RECORD_MAX];
    int n = rt_p0track_encode_bot(t, "alpha", buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK_EQ_INT(rt_p0track_encode_bot(t, "alpha", buf, (size_t)n - 1), -ENOBUFS);
    CHECK_EQ_INT(rt_p0track_encode_bot(t, "nobody", buf, sizeof buf), -ENOENT);
    REQUIRE(rt_p0track_encode_bot(t, "alpha", buf, sizeof buf) == n);

    struct rt_p0track *u = rt_p0track_new();
    REQUIRE(u);
    struct rec ru = {0};
    rt_p0track_set_change_hook(u, on_change, &ru);
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", buf, (size_t)n), 0);
    CHECK_EQ_INT(ru.n_changes, 0);
    CHECK_EQ_INT(rt_p0track_encode_bot(u, "alpha", again, sizeof again), n);
    CHECK(memcmp(buf, again, (size_t)n) == 0);
    struct rt_p0_bot_status a, b;
    REQUIRE(rt_p0track_bot_status(t, "alpha", &a) == 0);
    REQUIRE(rt_p0track_bot_status(u, "alpha", &b) == 0);
    CHECK_EQ_INT(b.n_active, 3);
    CHECK_EQ_INT(b.n_silenced, 1);
    CHECK_EQ_INT(b.n_inhibited, 1);
    CHECK_EQ_INT(b.first_start_us, a.first_start_us);
    CHECK(b.active);
    struct alert_names names = {0};
    CHECK_EQ_INT(rt_p0track_foreach_alert(u, "alpha", collect, &names), 0);
    CHECK_EQ_INT(names.n, 3);
    CHECK_EQ_STR(names.fp[0], "0a");
    CHECK_EQ_STR(names.fp[1], "7c");
    CHECK_EQ_STR(names.fp[2], "ff01");
    CHECK(names.silenced[0]);
    /* Restored state behaves: resolving everything yields false. */
    struct rt_am_alert res[3] = {resolved("alpha", "ff01", S0, S0 + 9 * MIN), resolved("alpha", "0a", S0, S0 + 9 * MIN),
                                 resolved("alpha", "7c", S0, S0 + 9 * MIN)};
    CHECK_EQ_INT(rt_p0track_webhook(u, res, 3, on_obs, &ru, NULL), 0);
    CHECK_EQ_INT(ru.n, 1);
    CHECK(has_obs(&ru, "alpha", false, S0 + 9 * MIN));
    /* Decoding replaces the set. */
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", buf, (size_t)n), 0);
    CHECK_EQ_INT(rt_p0track_alert_count(u), 3);
    /* An emptied bot round-trips too. */
    CHECK_EQ_INT(rt_p0track_poll(t, NULL, 0, S0 + 10 * MIN, NULL, 0, on_obs, &r, NULL), 0);
    n = rt_p0track_encode_bot(t, "alpha", buf, sizeof buf);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", buf, (size_t)n), 0);
    CHECK_EQ_INT(rt_p0track_alert_count(u), 0);
    CHECK(!bot_active(u, "alpha"));
    rt_p0track_free(t);
    rt_p0track_free(u);
}

TEST(decode_rejects_malformed_records) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    struct rt_am_alert two[2] = {firing("alpha", "01", S0), firing("alpha", "02", S0)};
    CHECK_EQ_INT(rt_p0track_webhook(t, two, 2, on_obs, &r, NULL), 0);
    uint8_t buf[512];
    int n = rt_p0track_encode_bot(t, "alpha", buf, sizeof buf);
    REQUIRE(n > 0);
    struct rt_p0track *u = rt_p0track_new();
    REQUIRE(u);
    for (int cut = 0; cut < n; cut++)
        CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", buf, (size_t)cut), -EBADMSG);
    uint8_t bad[512];
    memcpy(bad, buf, (size_t)n);
    bad[n] = 0;
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", bad, (size_t)n + 1), -EBADMSG); /* trailing byte */
    bad[0] = 9;
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", bad, (size_t)n), -EBADMSG);     /* version */
    memcpy(bad, buf, (size_t)n);
    bad[1] = 0x80;
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", bad, (size_t)n), -EBADMSG);     /* flags */
    memcpy(bad, buf, (size_t)n);
    bad[5] = 'G';
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", bad, (size_t)n), -EBADMSG);     /* fingerprint */
    memcpy(bad, buf, (size_t)n);
    size_t second_fp = 4 + 1 + 2 + 8 + 1 + 1 + strlen("P0Down") + 1;
    memcpy(bad + second_fp, "01", 2);
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", bad, (size_t)n), -EBADMSG);     /* duplicate */
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "-alpha", buf, (size_t)n), -EBADMSG);    /* bot id */
    CHECK_EQ_INT(rt_p0track_bot_count(u), 0);
    CHECK_EQ_INT(rt_p0track_decode_bot(u, "alpha", buf, (size_t)n), 0);
    CHECK_EQ_INT(rt_p0track_alert_count(u), 2);
    rt_p0track_free(t);
    rt_p0track_free(u);
}

/* ---- limits ---- */

static void fp_of(char out[17], unsigned i) { snprintf(out, 17, "%016x", i); }

TEST(per_bot_limit_and_overflow) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rec r = {0};
    struct rt_am_alert *many = calloc(RT_P0_MAX_ALERTS_PER_BOT + 1, sizeof *many);
    REQUIRE(many);
    char fp[17];
    for (unsigned i = 0; i <= RT_P0_MAX_ALERTS_PER_BOT; i++) {
        fp_of(fp, i);
        many[i] = firing("alpha", fp, S0 + i);
    }
    struct rt_p0_counts c;
    CHECK_EQ_INT(rt_p0track_webhook(t, many, RT_P0_MAX_ALERTS_PER_BOT + 1, on_obs, &r, &c), -ENOSPC);
    CHECK_EQ_INT(c.added, RT_P0_MAX_ALERTS_PER_BOT);
    CHECK_EQ_INT(c.refused, 1);
    struct rt_p0_bot_status st;
    REQUIRE(rt_p0track_bot_status(t, "alpha", &st) == 0);
    CHECK(st.overflow);
    CHECK_EQ_INT(st.n_active, RT_P0_MAX_ALERTS_PER_BOT);
    uint8_t buf[RT_P0_RECORD_MAX];
    CHECK(rt_p0track_encode_bot(t, "alpha", buf, sizeof buf) > 0);

    /* All tracked ones resolve: the refused one may still fire, so the bot stays active. */
    for (unsigned i = 0; i < RT_P0_MAX_ALERTS_PER_BOT; i++) {
        many[i].firing = false;
        many[i].has_ends_at = true;
        many[i].ends_at_us = S0 + 60 * MIN;
    }
    size_t before = r.n;
    CHECK_EQ_INT(rt_p0track_webhook(t, many, RT_P0_MAX_ALERTS_PER_BOT, on_obs, &r, NULL), 0);
    CHECK_EQ_INT(r.n, before);
    CHECK(bot_active(t, "alpha"));
    /* A poll that fits settles it. */
    CHECK_EQ_INT(rt_p0track_poll(t, &many[RT_P0_MAX_ALERTS_PER_BOT], 1, S0 + 61 * MIN, NULL, 0, on_obs, &r, NULL), 0);
    REQUIRE(rt_p0track_bot_status(t, "alpha", &st) == 0);
    CHECK(!st.overflow);
    CHECK_EQ_INT(st.n_active, 1);
    CHECK_EQ_INT(rt_p0track_poll(t, NULL, 0, S0 + 62 * MIN, NULL, 0, on_obs, &r, NULL), 0);
    CHECK(has_obs(&r, "alpha", false, S0 + 62 * MIN));
    CHECK(!bot_active(t, "alpha"));
    free(many);
    rt_p0track_free(t);
}

TEST(total_limit) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    struct rt_am_alert *batch = calloc(RT_P0_MAX_ALERTS_PER_BOT, sizeof *batch);
    REQUIRE(batch);
    char fp[17], bot[16];
    unsigned made = 0;
    for (unsigned b = 0; made < RT_P0_MAX_ALERTS; b++) {
        snprintf(bot, sizeof bot, "bot%u", b);
        size_t n = 0;
        for (; n < RT_P0_MAX_ALERTS_PER_BOT && made < RT_P0_MAX_ALERTS; n++, made++) {
            fp_of(fp, made);
            batch[n] = firing(bot, fp, S0);
        }
        REQUIRE(rt_p0track_webhook(t, batch, n, NULL, NULL, NULL) == 0);
    }
    CHECK_EQ_INT(rt_p0track_alert_count(t), RT_P0_MAX_ALERTS);
    struct rec r = {0};
    struct rt_p0_counts c;
    struct rt_am_alert one = firing("newbot", "abc", S0);
    CHECK_EQ_INT(rt_p0track_webhook(t, &one, 1, on_obs, &r, &c), -ENOSPC);
    CHECK_EQ_INT(c.refused, 1);
    CHECK_EQ_INT(rt_p0track_alert_count(t), RT_P0_MAX_ALERTS);
    /* Not tracked, but the bot is known to have an active P0. */
    CHECK(bot_active(t, "newbot"));
    CHECK(has_obs(&r, "newbot", true, S0));
    /* A decode that would exceed the total is refused too. */
    struct rt_p0track *small = rt_p0track_new();
    REQUIRE(small);
    struct rt_am_alert x = firing("x", "01", S0);
    REQUIRE(rt_p0track_webhook(small, &x, 1, NULL, NULL, NULL) == 0);
    uint8_t buf[256];
    int n = rt_p0track_encode_bot(small, "x", buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK_EQ_INT(rt_p0track_decode_bot(t, "x", buf, (size_t)n), -ENOSPC);
    rt_p0track_free(small);
    free(batch);
    rt_p0track_free(t);
}

static void count_bot(const char *bot, void *ud) {
    (void)bot;
    (*(size_t *)ud)++;
}

TEST(bot_table_evicts_empty_bots_at_its_limit) {
    struct rt_p0track *t = rt_p0track_new();
    REQUIRE(t);
    char bot[16];
    for (unsigned b = 0; b < RT_P0_MAX_BOTS; b++) {
        snprintf(bot, sizeof bot, "b%u", b);
        struct rt_am_alert a[2] = {firing(bot, "01", S0), firing(bot, "01", S0)};
        if (b % 2 == 0) { /* even bots end up empty */
            a[1].firing = false;
            a[1].has_ends_at = true;
            a[1].ends_at_us = S0 + MIN;
        }
        REQUIRE(rt_p0track_webhook(t, a, 2, NULL, NULL, NULL) == 0);
    }
    CHECK_EQ_INT(rt_p0track_bot_count(t), RT_P0_MAX_BOTS);
    enum { NEWCOMERS = 2000 };
    for (unsigned i = 0; i < NEWCOMERS; i++) {
        snprintf(bot, sizeof bot, "new%u", i);
        struct rt_am_alert extra = firing(bot, "02", S0);
        CHECK_EQ_INT(rt_p0track_webhook(t, &extra, 1, NULL, NULL, NULL), 0);
    }
    CHECK_EQ_INT(rt_p0track_bot_count(t), RT_P0_MAX_BOTS);
    for (unsigned i = 0; i < NEWCOMERS; i++) {
        snprintf(bot, sizeof bot, "new%u", i);
        CHECK(bot_active(t, bot));
    }
    /* Exactly that many empty bots were forgotten; every other bot is still found. */
    size_t missing = 0, active = 0;
    for (unsigned b = 0; b < RT_P0_MAX_BOTS; b++) {
        snprintf(bot, sizeof bot, "b%u", b);
        struct rt_p0_bot_status st;
        int r = rt_p0track_bot_status(t, bot, &st);
        if (r == -ENOENT) {
            missing++;
            CHECK(b % 2 == 0);
        } else {
            active += st.active;
            CHECK_EQ_INT(st.active, b % 2 == 1);
        }
    }
    CHECK_EQ_INT(missing, NEWCOMERS);
    CHECK_EQ_INT(active, RT_P0_MAX_BOTS / 2);
    size_t listed = 0;
    rt_p0track_foreach_bot(t, count_bot, &listed);
    CHECK_EQ_INT(listed, RT_P0_MAX_BOTS);
    rt_p0track_free(t);
}

/* ---- with the engine ---- */

struct decisions {
    size_t n;
    int64_t ts;
};

static void on_decision(const struct rt_decision *d, void *ud) {
    struct decisions *ds = ud;
    ds->n++;
    ds->ts = d->ts_us;
}

struct feed {
    struct rt_engine *e;
    struct rt_now now;
    struct decisions *ds;
};

static void to_engine(const struct rt_obs *obs, void *ud) {
    struct feed *f = ud;
    if (rt_engine_observe(f->e, obs, f->now, on_decision, f->ds) < 0)
        abort();
}

/* P0 firing from S0; polls every 5 minutes until S0 + hours; the alert is
 * listed by polls while `listed` says so. Returns the decisions. */
static struct decisions run_with_engine(bool resolve_lost_at_2h, bool silenced) {
    struct rt_policy *p = NULL;
    struct decisions ds = {0};
    if (rt_policy_default(&p) < 0)
        abort();
    struct rt_engine *e = rt_engine_new(p);
    struct rt_p0track *t = rt_p0track_new();
    if (!e || !t)
        abort();
    struct feed f = {.e = e, .ds = &ds};
    struct rt_am_alert a = firing("alpha", "e7d558e15c1e5566", S0);
    a.silenced = silenced;
    f.now = (struct rt_now){S0 + MIN, S0 + MIN};
    if (!silenced) /* silenced alerts are never delivered: only polls see them */
        rt_p0track_webhook(t, &a, 1, to_engine, &f, NULL);
    for (int64_t ts = S0 + 5 * MIN; ts <= S0 + 25 * 60 * MIN; ts += 5 * MIN) {
        f.now = (struct rt_now){ts, ts};
        bool listed = !(resolve_lost_at_2h && ts >= S0 + 120 * MIN);
        rt_p0track_poll(t, &a, listed ? 1 : 0, ts, NULL, 0, to_engine, &f, NULL);
        rt_engine_advance(e, f.now, on_decision, &ds);
    }
    rt_p0track_free(t);
    rt_engine_free(e);
    rt_policy_free(p);
    return ds;
}

TEST(engine_demotes_after_24h_of_fresh_p0_evidence) {
    struct decisions ds = run_with_engine(false, false);
    CHECK_EQ_INT(ds.n, 1);
    CHECK_EQ_INT(ds.ts, S0 + 24 * 60 * MIN);
    /* A silenced alert counts the same. */
    ds = run_with_engine(false, true);
    CHECK_EQ_INT(ds.n, 1);
    CHECK_EQ_INT(ds.ts, S0 + 24 * 60 * MIN);
    /* A lost resolve, corrected by the poll at 2h: the window closes. */
    ds = run_with_engine(true, false);
    CHECK_EQ_INT(ds.n, 0);
}

TEST_MAIN()
