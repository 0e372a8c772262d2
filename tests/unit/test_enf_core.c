/* The enforcer's decisions: policy justification, one record per (bot,
 * window), no second demotion of a limited bot, the readiness view, and the
 * watchdog-silence records; state rebuilt from the log after a restart. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdlog/logkey.h"
#include "cmdlog/verify.h"
#include "common/rtime.h"
#include "common/util.h"
#include "enforcer/core.h"
#include "feeds/registry.h"
#include "tests/unit/harness.h"

#define S(x) ((int64_t)(x) * RT_USEC_PER_SEC)
#define T0 S(1795000000)
#define DAY S(86400)

struct env {
    char dir[64], view[128];
    struct rt_policy *policy;
    struct rt_log_key *key;
    struct enf_core *core;
};

static int open_core_with(struct env *e, int64_t now, const struct rt_logw_ops *ops) {
    struct enf_core_options o = {.state_dir = e->dir, .origin = "ratchet.test/commands", .key = e->key,
                                 .policy = e->policy, .readiness_view = e->view,
                                 .watchdog_silence_us = S(120), .log_ops = ops};
    char err[512] = "";
    int r = enf_core_open(&o, now, now, &e->core, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "    enf_core_open: %s\n", err);
    return r;
}

static int open_core(struct env *e, int64_t now) { return open_core_with(e, now, NULL); }

static bool setup(struct env *e) {
    memset(e, 0, sizeof(*e));
    strcpy(e->dir, "/tmp/ratchet-enf-XXXXXX");
    if (!mkdtemp(e->dir))
        return false;
    snprintf(e->view, sizeof(e->view), "%s/readiness.json", e->dir);
    return rt_policy_default(&e->policy) == 0 && rt_log_key_generate("ratchet.test", &e->key) == 0 &&
           open_core(e, T0) == 0;
}

static void teardown(struct env *e) {
    enf_core_close(e->core);
    rt_log_key_free(e->key);
    rt_policy_free(e->policy);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "chattr -a '%s'/* 2>/dev/null; rm -rf '%s'", e->dir, e->dir);
    CHECK(system(cmd) == 0);
}

static struct rt_msg_demote request(const char *bot, enum rt_cond c, int64_t ws) {
    struct rt_msg_demote d = {.cond = c, .window_start_us = ws, .decided_at_us = ws + DAY, .window_us = DAY,
                              .evidence_ts_us = ws + DAY - S(60), .evidence_known = true};
    strcpy(d.bot, bot);
    snprintf(d.reason_code, sizeof(d.reason_code), "demote.%s", rt_cond_name(c));
    memset(d.request_id, 0x42, sizeof(d.request_id));
    d.evidence_value = c == RT_COND_P0_ALERT ? 1 : c == RT_COND_ERROR_RATE ? 0.05 : c == RT_COND_CVSS ? 9.8 : 500;
    d.has_threshold = c != RT_COND_P0_ALERT;
    d.threshold = c == RT_COND_ERROR_RATE ? 0.01 : c == RT_COND_CVSS ? 7.0 : 250;
    strcpy(d.summary, "test");
    return d;
}

static int demote(struct env *e, const struct rt_msg_demote *d, struct rt_msg *reply) {
    memset(reply, 0, sizeof(*reply));
    return enf_core_demote(e->core, d, d->decided_at_us + S(1), reply);
}

TEST(records_once_per_bot_and_window) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    struct rt_msg_demote d = request("alpha", RT_COND_P0_ALERT, T0);
    REQUIRE(demote(&e, &d, &reply) == 0);
    CHECK_EQ_INT(reply.type, RT_MSG_DEMOTE_ACK);
    CHECK_EQ_INT(reply.u.demote_ack.status, RT_DEMOTE_RECORDED);
    uint64_t seq = reply.u.demote_ack.seq;
    CHECK_EQ_INT(seq, 1); /* after genesis */
    REQUIRE(demote(&e, &d, &reply) == 0); /* the watchdog's retry */
    CHECK_EQ_INT(reply.u.demote_ack.status, RT_DEMOTE_DUPLICATE);
    CHECK_EQ_INT(reply.u.demote_ack.seq, seq);
    /* another condition whose window was open when the bot was demoted */
    struct rt_msg_demote other = request("alpha", RT_COND_CVSS, T0 + S(3600));
    other.decided_at_us = T0 + DAY + S(3600);
    other.window_start_us = T0 - S(10);
    REQUIRE(demote(&e, &other, &reply) == 0);
    CHECK_EQ_INT(reply.u.demote_ack.status, RT_DEMOTE_ALREADY_LIMITED);
    CHECK_EQ_INT(reply.u.demote_ack.seq, seq);
    struct enf_core_stats st;
    enf_core_get_stats(e.core, &st);
    CHECK_EQ_INT(st.demotions, 1);
    CHECK_EQ_INT(st.duplicates, 1);
    CHECK_EQ_INT(st.already_limited, 1);
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 2);
    /* a window that opened after the demotion: the gates re-promoted the bot */
    struct rt_msg_demote later = request("alpha", RT_COND_P0_ALERT, T0 + 2 * DAY);
    REQUIRE(demote(&e, &later, &reply) == 0);
    CHECK_EQ_INT(reply.u.demote_ack.status, RT_DEMOTE_RECORDED);
    teardown(&e);
}

TEST(state_is_rebuilt_from_the_log_after_a_restart) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    struct rt_msg_demote d = request("beta", RT_COND_ERROR_RATE, T0);
    REQUIRE(demote(&e, &d, &reply) == 0);
    enf_core_close(e.core);
    e.core = NULL;
    REQUIRE(open_core(&e, T0 + DAY + S(5)) == 0);
    REQUIRE(demote(&e, &d, &reply) == 0);
    CHECK_EQ_INT(reply.u.demote_ack.status, RT_DEMOTE_DUPLICATE);
    struct rt_msg_readiness rd = {0};
    REQUIRE(enf_core_readiness(e.core, "beta", &rd) == 0);
    CHECK_EQ_INT(rd.readiness, 1);
    CHECK_EQ_INT(rd.since_us, d.decided_at_us);
    REQUIRE(enf_core_readiness(e.core, "gamma", &rd) == 0);
    CHECK_EQ_INT(rd.readiness, 0);
    teardown(&e);
}

TEST(readiness_view_lists_demoted_bots_in_registry_format) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    struct rt_msg_demote a = request("alpha", RT_COND_P0_ALERT, T0), b = request("beta", RT_COND_CVSS, T0);
    REQUIRE(demote(&e, &a, &reply) == 0 && demote(&e, &b, &reply) == 0);
    FILE *f = fopen(e.view, "r");
    REQUIRE(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    struct rt_registry reg;
    char err[256] = "";
    REQUIRE(rt_registry_parse(buf, n, &reg, err, sizeof(err)) == 0);
    CHECK_EQ_INT(reg.n, 2);
    const struct rt_registry_entry *x = rt_registry_find(&reg, "alpha");
    REQUIRE(x != NULL);
    CHECK_EQ_INT(x->readiness, RT_READY_LIMITED_LIVE);
    CHECK(x->has_since && x->since_us == a.decided_at_us);
    CHECK(rt_registry_find(&reg, "beta") != NULL);
    rt_registry_free(&reg);
    teardown(&e);
}

static size_t view_bots(const struct env *e) {
    FILE *f = fopen(e->view, "r");
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    struct rt_registry reg;
    char err[256] = "";
    if (rt_registry_parse(buf, n, &reg, err, sizeof(err)) < 0)
        return (size_t)-1;
    size_t bots = reg.n;
    rt_registry_free(&reg);
    return bots;
}

static long file_size(const char *dir, const char *name) {
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (f)
        fclose(f);
    return n;
}

/* Group commit: inside a batch each record is written when
 * enf_core_demote() returns; one fdatasync, one checkpoint and one view
 * cover them all at the batch's end (the server sends the acknowledgements
 * after it). */
TEST(a_batch_of_demotions_is_checkpointed_once_at_its_end) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    long cps = file_size(e.dir, RT_LOGW_HISTORY);
    enf_core_batch_begin(e.core);
    char bot[16];
    for (int i = 0; i < 3; i++) {
        snprintf(bot, sizeof(bot), "bot-%d", i);
        struct rt_msg_demote d = request(bot, RT_COND_ERROR_RATE, T0);
        REQUIRE(demote(&e, &d, &reply) == 0);
        CHECK_EQ_INT(reply.u.demote_ack.status, RT_DEMOTE_RECORDED);
    }
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 4); /* genesis and three records, written */
    CHECK_EQ_INT(file_size(e.dir, RT_LOGW_HISTORY), cps); /* no checkpoint yet */
    CHECK_EQ_INT(view_bots(&e), 0);
    REQUIRE(enf_core_batch_end(e.core, T0 + DAY + S(2)) == 0);
    CHECK(file_size(e.dir, RT_LOGW_HISTORY) > cps); /* one checkpoint for the batch */
    CHECK_EQ_INT(view_bots(&e), 3);
    long after = file_size(e.dir, RT_LOGW_HISTORY);
    REQUIRE(enf_core_batch_end(e.core, T0 + DAY + S(3)) == 0); /* an empty batch writes nothing */
    CHECK_EQ_INT(file_size(e.dir, RT_LOGW_HISTORY), after);
    struct rt_msg_demote d = request("delta", RT_COND_ERROR_RATE, T0); /* outside a batch: at once */
    REQUIRE(demote(&e, &d, &reply) == 0);
    CHECK(file_size(e.dir, RT_LOGW_HISTORY) > after);
    CHECK_EQ_INT(view_bots(&e), 4);
    teardown(&e);
}

TEST(never_signs_what_the_policy_does_not_justify) {
    struct env e;
    REQUIRE(setup(&e));
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"short window", "shorter than"},
        {"claimed window but short span", "shorter than"},
        {"wrong reason code", "does not match"},
        {"evidence does not breach", "does not breach"},
        {"cvss exactly 7.0", "does not breach"},
        {"unknown evidence under hold", "on_unknown"},
        {"decided in the future", "future"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt_msg_demote d = request("gamma", RT_COND_ERROR_RATE, T0);
        switch (i) {
        case 0: d.window_us = DAY / 2; d.decided_at_us = d.window_start_us + DAY / 2; break;
        case 1: d.decided_at_us = d.window_start_us + DAY - S(1); break;
        case 2: strcpy(d.reason_code, "demote.cvss"); break;
        case 3: d.evidence_value = 0.01; break;
        case 4: d = request("gamma", RT_COND_CVSS, T0); d.evidence_value = 7.0; break;
        case 5: d.evidence_known = false; d.evidence_value = 0; break;
        case 6: d.window_start_us = T0 + 10 * DAY; d.decided_at_us = d.window_start_us + DAY; break;
        }
        struct rt_msg reply = {0};
        REQUIRE(enf_core_demote(e.core, &d, i == 6 ? T0 + 2 * DAY : d.decided_at_us + S(1), &reply) == 0);
        if (reply.type != RT_MSG_DEMOTE_REFUSED || !strstr(reply.u.demote_refused.reason, cases[i].why))
            fprintf(stderr, "    %s: type %d reason \"%s\"\n", cases[i].name, reply.type, reply.u.demote_refused.reason);
        CHECK(reply.type == RT_MSG_DEMOTE_REFUSED && strstr(reply.u.demote_refused.reason, cases[i].why));
    }
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 1); /* nothing signed but genesis */
    teardown(&e);
}

TEST(watchdog_silence_and_return_are_recorded) {
    struct env e;
    REQUIRE(setup(&e));
    CHECK_EQ_INT(enf_core_tick(e.core, T0 + S(100), T0 + S(100), false), 0);
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 1);
    CHECK_EQ_INT(enf_core_tick(e.core, T0 + S(121), T0 + S(121), false), 0); /* 120 s bound passed */
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 2);
    struct enf_core_stats st;
    enf_core_get_stats(e.core, &st);
    CHECK(st.watchdog_silent);
    CHECK_EQ_INT(enf_core_tick(e.core, T0 + S(500), T0 + S(500), false), 0); /* recorded once */
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 2);
    CHECK_EQ_INT(enf_core_watchdog_seen(e.core, T0 + S(600), T0 + S(600)), 0);
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 3);
    enf_core_get_stats(e.core, &st);
    CHECK(!st.watchdog_silent);
    teardown(&e);
}

/* ---- actuation ---- */

static struct rt_msg_actuated actuated(uint64_t for_seq) {
    struct rt_msg_actuated a = {.for_seq = for_seq, .http_status = 202};
    strcpy(a.target, "https://cp.example/records");
    return a;
}

/* The log as an auditor sees it: valid, and how many actuated records name seq. */
static int actuated_records_for(struct env *e, uint64_t seq) {
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", e->dir, RT_LOGW_FILE);
    const struct rt_log_pubkey *trusted[] = {rt_log_key_public(e->key)};
    struct rt_log_verify_opts vo = {.trusted = trusted, .n_trusted = 1, .threads = 1};
    struct rt_log_verify_result res;
    if (rt_log_verify_file(path, &vo, &res) < 0) {
        fprintf(stderr, "    log verify: %s\n", res.reason);
        return -1;
    }
    char *data = NULL;
    size_t len = 0;
    if (rt_log_read_file(path, RT_LOG_MAX_BYTES, &data, &len) < 0)
        return -1;
    int n = 0;
    for (char *line = data; line < data + len;) {
        char *lf = memchr(line, '\n', (size_t)(data + len - line));
        if (!lf)
            break;
        struct rt_log_record rec;
        uint8_t sig[RT_LOG_SIG_LEN];
        char err[RT_LOG_ERR_MAX];
        if (rt_log_line_parse(line, (size_t)(lf - line), &rec, sig, err, sizeof(err)) == 0 &&
            rec.type == RT_LOG_ACTUATED && rec.u.actuated.for_seq == seq) {
            n++;
            if (strcmp(rec.u.actuated.target, "https://cp.example/records") != 0 || rec.u.actuated.http_status != 202)
                n = -100; /* the fields must be the request's */
        }
        line = lf + 1;
    }
    free(data);
    return n;
}

TEST(one_actuated_record_per_demote_record) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    struct rt_msg_demote d = request("alpha", RT_COND_P0_ALERT, T0);
    REQUIRE(demote(&e, &d, &reply) == 0);
    uint64_t demote_seq = reply.u.demote_ack.seq;
    struct rt_msg_actuated a = actuated(demote_seq);
    struct rt_msg_actuated_ack ack = {0};
    REQUIRE(enf_core_actuated(e.core, &a, T0 + DAY + S(2), &ack) == 0);
    CHECK_EQ_INT(ack.for_seq, demote_seq);
    CHECK_EQ_INT(ack.status, RT_ACTUATED_RECORDED);
    CHECK_EQ_INT(ack.seq, demote_seq + 1);
    uint64_t actuated_seq = ack.seq;
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 3);
    /* the watchdog's retry: acknowledged again, nothing written */
    memset(&ack, 0, sizeof(ack));
    REQUIRE(enf_core_actuated(e.core, &a, T0 + DAY + S(3), &ack) == 0);
    CHECK_EQ_INT(ack.status, RT_ACTUATED_DUPLICATE);
    CHECK_EQ_INT(ack.seq, actuated_seq);
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 3);
    CHECK_EQ_INT(actuated_records_for(&e, demote_seq), 1);
    /* also after a restart, from the log alone */
    enf_core_close(e.core);
    e.core = NULL;
    REQUIRE(open_core(&e, T0 + DAY + S(10)) == 0);
    memset(&ack, 0, sizeof(ack));
    REQUIRE(enf_core_actuated(e.core, &a, T0 + DAY + S(11), &ack) == 0);
    CHECK_EQ_INT(ack.status, RT_ACTUATED_DUPLICATE);
    CHECK_EQ_INT(ack.seq, actuated_seq);
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), 3);
    CHECK_EQ_INT(actuated_records_for(&e, demote_seq), 1);
    struct enf_core_stats st;
    enf_core_get_stats(e.core, &st);
    CHECK_EQ_INT(st.actuated, 1);
    CHECK_EQ_INT(st.actuated_duplicates, 1);
    teardown(&e);
}

TEST(actuated_for_anything_but_a_demote_record_is_refused) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    struct rt_msg_demote d = request("beta", RT_COND_CVSS, T0);
    REQUIRE(demote(&e, &d, &reply) == 0);
    uint64_t demote_seq = reply.u.demote_ack.seq;
    /* a watchdog_silent record */
    REQUIRE(enf_core_tick(e.core, T0 + S(1000), T0 + S(1000), false) == 0);
    uint64_t silent_seq = rt_logw_size(enf_core_log(e.core)) - 1;
    struct rt_msg_actuated_ack ack = {0};
    struct rt_msg_actuated good = actuated(demote_seq);
    REQUIRE(enf_core_actuated(e.core, &good, T0 + S(1001), &ack) == 0);
    uint64_t actuated_seq = ack.seq;
    uint64_t size = rt_logw_size(enf_core_log(e.core));
    const uint64_t bad[] = {0 /* genesis */, silent_seq, actuated_seq, size /* not yet written */, UINT64_MAX};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct rt_msg_actuated a = actuated(bad[i]);
        memset(&ack, 0, sizeof(ack));
        CHECK_EQ_INT(enf_core_actuated(e.core, &a, T0 + S(1002), &ack), -EINVAL);
        CHECK_EQ_INT(ack.seq, 0); /* no reply */
    }
    /* a status that is not a success (the decoder refuses it already) */
    struct rt_msg_actuated a = actuated(demote_seq);
    a.http_status = 500;
    CHECK_EQ_INT(enf_core_actuated(e.core, &a, T0 + S(1003), &ack), -EINVAL);
    CHECK_EQ_INT(rt_logw_size(enf_core_log(e.core)), size); /* nothing written */
    struct enf_core_stats st;
    enf_core_get_stats(e.core, &st);
    CHECK_EQ_INT(st.actuated_invalid, ELEMENTSOF(bad) + 1);
    teardown(&e);
}

static int failing_fdatasync(void *ctx, int fd) {
    (void)fd;
    return --*(int *)ctx < 0 ? -EIO : 0;
}

TEST(a_failed_log_write_is_not_acknowledged) {
    struct env e;
    REQUIRE(setup(&e));
    struct rt_msg reply;
    struct rt_msg_demote d = request("gamma", RT_COND_P0_ALERT, T0);
    REQUIRE(demote(&e, &d, &reply) == 0);
    uint64_t demote_seq = reply.u.demote_ack.seq;
    enf_core_close(e.core);
    e.core = NULL;
    int syncs_left = 1000; /* the open's writes succeed */
    struct rt_logw_ops ops = {.fdatasync_fn = failing_fdatasync, .ctx = &syncs_left};
    REQUIRE(open_core_with(&e, T0 + DAY + S(5), &ops) == 0);
    syncs_left = 0;
    struct rt_msg_actuated a = actuated(demote_seq);
    struct rt_msg_actuated_ack ack = {0};
    CHECK_EQ_INT(enf_core_actuated(e.core, &a, T0 + DAY + S(6), &ack), -EIO);
    CHECK_EQ_INT(ack.seq, 0);
    enf_core_close(e.core);
    e.core = NULL;
    /* the next start finds the record (written, its fsync failed) or a torn tail; never two */
    REQUIRE(open_core(&e, T0 + DAY + S(7)) == 0);
    memset(&ack, 0, sizeof(ack));
    REQUIRE(enf_core_actuated(e.core, &a, T0 + DAY + S(8), &ack) == 0);
    CHECK_EQ_INT(actuated_records_for(&e, demote_seq), 1);
    teardown(&e);
}

TEST_MAIN()
