/* Windows survive restarts through the journal; corruption is reported. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rtime.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "policy/winstore.h"
#include "tests/unit/harness.h"

#define S(x) ((int64_t)(x) * RT_USEC_PER_SEC)
#define BASE S(1795000000)

static const char POLICY[] = "{\"version\":1,\"conditions\":{\"p0_alert\":{\"window\":\"100s\","
                             "\"max_evidence_age\":\"30s\"},\"error_rate\":{\"window\":\"100s\","
                             "\"max_evidence_age\":\"30s\"}}}";

struct decisions {
    int n;
    int64_t ts[8], ws[8];
};

static void record(const struct rt_decision *d, void *ud) {
    struct decisions *x = ud;
    if (x->n < 8) {
        x->ts[x->n] = d->ts_us;
        x->ws[x->n] = d->window_start_us;
    }
    x->n++;
}

static struct rt_now at(int64_t s) { return (struct rt_now){BASE + S(s), BASE + S(s)}; }

static void observe(struct rt_engine *e, const char *bot, enum rt_cond c, int64_t t, double v,
                    struct decisions *d) {
    struct rt_obs o = {.bot = bot, .cond = c, .ts_us = BASE + S(t), .known = true, .value = v};
    rt_engine_observe(e, &o, at(t), record, d);
}

static char *make_dir(void) {
    char tmpl[] = "/tmp/ratchet-winstore-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void remove_dir(char *dir) {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(dir);
}

static struct rt_policy *policy(void) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    return rt_policy_parse(POLICY, strlen(POLICY), &p, &errs) == 0 ? p : NULL;
}

TEST(restart_mid_window_keeps_the_original_schedule) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct decisions d = {0};
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(0), NULL, &w, &rep) == 0);
    CHECK(!rep.existed);
    for (int64_t t = 0; t <= 50; t += 10) {
        observe(e, "alpha", RT_COND_P0_ALERT, t, 1, &d);
        observe(e, "beta", RT_COND_ERROR_RATE, t, t == 30 ? 0.0 : 0.5, &d);
    }
    REQUIRE(rt_winstore_commit(w) == 0);
    rt_winstore_close(w); /* as after kill -9: nothing else is written */
    rt_engine_free(e);

    e = rt_engine_new(p);
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(70), NULL, &w, &rep) == 0);
    CHECK(rep.existed);
    CHECK_EQ_INT(rt_engine_bot_count(e), 2);
    for (int64_t t = 80; t <= 150; t += 10) {
        observe(e, "alpha", RT_COND_P0_ALERT, t, 1, &d);
        observe(e, "beta", RT_COND_ERROR_RATE, t, 0.5, &d);
    }
    rt_engine_advance(e, at(150), record, &d);
    REQUIRE(d.n == 2);
    CHECK_EQ_INT(d.ws[0], BASE);          /* alpha: window from 0, downtime counted */
    CHECK_EQ_INT(d.ts[0], BASE + S(100));
    CHECK_EQ_INT(d.ws[1], BASE + S(40));  /* beta: reopened after the healthy sample at 30 */
    CHECK_EQ_INT(d.ts[1], BASE + S(140));
    REQUIRE(rt_winstore_commit(w) == 0);
    rt_winstore_close(w);
    rt_engine_free(e);

    /* the decisions themselves are persisted: no second demotion after restart */
    e = rt_engine_new(p);
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(160), NULL, &w, &rep) == 0);
    CHECK_EQ_INT(rt_engine_readiness(e, "alpha"), RT_READY_LIMITED_LIVE);
    struct decisions again = {0};
    rt_engine_advance(e, at(200), record, &again);
    CHECK_EQ_INT(again.n, 0);
    rt_winstore_close(w);
    rt_engine_free(e);
    rt_policy_free(p);
    remove_dir(dir);
}

TEST(compaction_then_restart_restores_everything) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct decisions d = {0};
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(0), NULL, &w, &rep) == 0);
    char bot[32];
    for (int i = 0; i < 500; i++) {
        snprintf(bot, sizeof(bot), "bot-%03d", i);
        observe(e, bot, RT_COND_P0_ALERT, i % 50, 1, &d);
    }
    REQUIRE(rt_winstore_commit(w) == 0);
    REQUIRE(rt_winstore_compact(w) == 0);
    struct rt_journal_stats st;
    rt_winstore_get_stats(w, &st);
    CHECK_EQ_INT(st.snapshot_records, 501); /* 500 bots + the clock */
    rt_winstore_close(w);
    rt_engine_free(e);

    e = rt_engine_new(p);
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(60), NULL, &w, &rep) == 0);
    CHECK_EQ_INT(rt_engine_bot_count(e), 500);
    struct rt_cond_status cs;
    REQUIRE(rt_engine_cond_status(e, "bot-123", RT_COND_P0_ALERT, at(60), &cs) == 0);
    CHECK(cs.window_open);
    CHECK_EQ_INT(cs.window_start_us, BASE + S(23));
    rt_winstore_close(w);
    rt_engine_free(e);
    rt_policy_free(p);
    remove_dir(dir);
}

/* A store saved under boot1 and opened again under boot2 after a reboot:
 * the monotonic clock restarted, the windows keep their wall times. */
static void check_rebase_after_reboot(const char *boot1, const char *boot2) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct decisions d = {0};
    struct rt_now before = {BASE, S(5000)}; /* mono far from wall */
    REQUIRE(rt_winstore_open(dir, e, boot1, before, NULL, &w, &rep) == 0);
    struct rt_obs o = {.bot = "a", .cond = RT_COND_P0_ALERT, .ts_us = BASE, .known = true, .value = 1};
    REQUIRE(rt_engine_observe(e, &o, before, record, &d) == 0);
    REQUIRE(rt_winstore_commit(w) == 0);
    rt_winstore_close(w);
    rt_engine_free(e);

    e = rt_engine_new(p); /* rebooted: mono restarted at 10 s, wall moved on 30 s */
    struct rt_now after = {BASE + S(30), S(10)};
    REQUIRE(rt_winstore_open(dir, e, boot2, after, NULL, &w, &rep) == 0);
    struct rt_cond_status cs;
    REQUIRE(rt_engine_cond_status(e, "a", RT_COND_P0_ALERT, after, &cs) == 0);
    CHECK_EQ_INT(cs.window_start_us, BASE);
    CHECK_EQ_INT(cs.demote_in_us, S(70));
    rt_winstore_close(w);
    rt_engine_free(e);
    rt_policy_free(p);
    remove_dir(dir);
}

TEST(new_boot_rebases_onto_wall_clock) { check_rebase_after_reboot("boot-1", "boot-2"); }

/* Without /proc/sys/kernel/random/boot_id the store cannot tell a reboot
 * from a restart: it rebases every time, which is right after a reboot and
 * harmless after a restart (wall times are kept either way). */
TEST(unknown_boot_id_always_rebases) { check_rebase_after_reboot("", ""); }

static int flip_byte_in(const char *dir, const char *prefix, long from_end) {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "f=$(ls %s/%s* | head -n1); sz=$(stat -c %%s \"$f\"); "
             "printf '\\377' | dd of=\"$f\" bs=1 seek=$((sz - %ld)) conv=notrunc status=none",
             dir, prefix, from_end);
    return system(cmd);
}

TEST(corrupt_store_is_reported_never_treated_as_empty) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct decisions d = {0};
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(0), NULL, &w, &rep) == 0);
    observe(e, "a", RT_COND_P0_ALERT, 0, 1, &d);
    REQUIRE(rt_winstore_commit(w) == 0);
    REQUIRE(rt_winstore_compact(w) == 0);
    rt_winstore_close(w);
    rt_engine_free(e);
    REQUIRE(flip_byte_in(dir, "windows.snap", 20) == 0);
    e = rt_engine_new(p);
    memset(&rep, 0, sizeof(rep));
    CHECK_EQ_INT(rt_winstore_open(dir, e, "boot-1", at(10), NULL, &w, &rep), -EBADMSG);
    CHECK(strlen(rep.message) > 0);
    rt_engine_free(e);
    rt_policy_free(p);
    remove_dir(dir);
}

/* A batch touching many bots is committed in parts of about 4 MiB (the
 * first poll of a large fleet would otherwise buffer it all), and nothing
 * of it is lost across a restart. */
TEST(large_batch_is_committed_in_parts) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct rt_journal_stats st0, st;
    struct decisions d = {0};
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(0), NULL, &w, &rep) == 0);
    rt_winstore_get_stats(w, &st0);
    enum { BOTS = 40000 };
    char bot[32];
    for (int i = 0; i < BOTS; i++) {
        snprintf(bot, sizeof(bot), "bot-%06d", i);
        observe(e, bot, RT_COND_ERROR_RATE, 1, 0.5, &d);
    }
    rt_winstore_get_stats(w, &st);
    CHECK(st.commits >= st0.commits + 2);      /* more than 8 MiB were put */
    CHECK(st.pending_bytes < (4u << 20) + 1024); /* never more than a part buffered */
    REQUIRE(rt_winstore_commit(w) == 0);
    rt_winstore_close(w);
    rt_engine_free(e);
    e = rt_engine_new(p);
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(2), NULL, &w, &rep) == 0);
    CHECK_EQ_INT(rt_engine_bot_count(e), BOTS);
    struct rt_cond_status cs;
    REQUIRE(rt_engine_cond_status(e, "bot-039999", RT_COND_ERROR_RATE, at(2), &cs) == 0);
    CHECK(cs.window_open);
    rt_winstore_close(w);
    rt_engine_free(e);
    rt_policy_free(p);
    remove_dir(dir);
}

struct hook {
    struct rt_winstore *w;
    int calls, fail_at;
    uint64_t commits_seen[8];
};

static int pre_commit(void *ud) {
    struct hook *h = ud;
    struct rt_journal_stats st;
    rt_winstore_get_stats(h->w, &st);
    if (h->calls < 8)
        h->commits_seen[h->calls] = st.commits;
    return ++h->calls == h->fail_at ? -EIO : 0;
}

/* The pre-commit hook runs before every commit, the partial ones of a large
 * batch included, and its failure fails the commit. */
TEST(pre_commit_hook_runs_before_every_commit) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct decisions d = {0};
    REQUIRE(rt_winstore_open(dir, e, "boot-1", at(0), NULL, &w, &rep) == 0);
    struct hook h = {.w = w};
    rt_winstore_set_pre_commit(w, pre_commit, &h);
    char bot[32];
    for (int i = 0; i < 40000; i++) {
        snprintf(bot, sizeof(bot), "bot-%06d", i);
        observe(e, bot, RT_COND_ERROR_RATE, 1, 0.5, &d);
    }
    struct rt_journal_stats st;
    rt_winstore_get_stats(w, &st);
    CHECK(h.calls >= 2 && (uint64_t)h.calls == st.commits - h.commits_seen[0]); /* one call per commit */
    for (int i = 1; i < h.calls && i < 8; i++)
        CHECK_EQ_INT(h.commits_seen[i], h.commits_seen[i - 1] + 1); /* each before its own commit */
    REQUIRE(rt_winstore_commit(w) == 0);
    observe(e, "late", RT_COND_ERROR_RATE, 2, 0.5, &d);
    h.fail_at = h.calls + 1;
    CHECK_EQ_INT(rt_winstore_commit(w), -EIO);
    rt_winstore_get_stats(w, &st);
    CHECK_EQ_INT(st.pending_records, 1); /* not committed */
    rt_winstore_close(w);
    rt_engine_free(e);
    rt_policy_free(p);
    remove_dir(dir);
}

TEST(engine_must_be_empty_and_boot_id_bounded) {
    char *dir = make_dir();
    struct rt_policy *p = policy();
    REQUIRE(dir && p);
    struct rt_engine *e = rt_engine_new(p);
    struct rt_winstore *w = NULL;
    struct rt_journal_load_report rep;
    struct decisions d = {0};
    observe(e, "a", RT_COND_P0_ALERT, 0, 1, &d);
    CHECK_EQ_INT(rt_winstore_open(dir, e, "boot-1", at(0), NULL, &w, &rep), -EINVAL);
    char long_id[200];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    struct rt_engine *e2 = rt_engine_new(p);
    CHECK_EQ_INT(rt_winstore_open(dir, e2, long_id, at(0), NULL, &w, &rep), -EINVAL);
    char boot[RT_BOOT_ID_MAX + 1];
    CHECK_EQ_INT(rt_boot_id(boot), 0);
    CHECK_EQ_INT(strlen(boot), 36);
    rt_engine_free(e);
    rt_engine_free(e2);
    rt_policy_free(p);
    remove_dir(dir);
}

TEST_MAIN()
