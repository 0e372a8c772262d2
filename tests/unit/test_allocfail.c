/* Allocation-failure tests (SQLite's "malloc test"): for each pure parser and
 * the engine, run one operation once to count its allocations, then run it
 * again failing the 1st, the 2nd, ... the Nth allocation. Every run must
 * return the normal result or -ENOMEM (never a wrong answer such as "bad
 * input", which would turn a retryable failure into a lost delivery), must
 * not crash, and must free everything it allocated.
 *
 * How allocations are failed: this binary is linked with
 * -Wl,--wrap=malloc,... (see the Makefile), so every call from ratchet's own
 * code goes through the __wrap_ functions below; jansson's allocations come
 * through json_set_alloc_funcs() and are counted, not failed (see
 * af_json_malloc). Leaks are checked twice: by counting live blocks here,
 * and under ASan by LeakSanitizer after every run. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/record.h"
#include "cmdlog/verify.h"
#include "cmdlog/writer.h"
#include "common/jsoncheck.h"
#include "common/proto.h"
#include "common/util.h"
#include "enforcer/config.h"
#include "feeds/alertmanager.h"
#include "feeds/cvss.h"
#include "feeds/drift.h"
#include "feeds/p0track.h"
#include "feeds/prometheus.h"
#include "feeds/registry.h"
#include "feeds/scan.h"
#include "policy/engine.h"
#include "policy/evidence.h"
#include "policy/policy.h"
#include "policy/replay.h"
#include "tests/unit/harness.h"
#include "watchdog/config.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define AF_LSAN 1
#else
#define AF_LSAN 0
#endif

/* ------------------------------------------------------------ the wrappers */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_reallocarray(void *p, size_t n, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strdup(const char *s);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap) _printf_(2, 0);
int __wrap_asprintf(char **out, const char *fmt, ...) _printf_(2, 3);
void __wrap_free(void *p);

static long af_fail_at; /* 0: never fail; N: fail the Nth allocation after arming */
static long af_count;   /* allocations attempted since arming */
static long af_live;    /* blocks handed out by the wrappers and not yet freed */
static bool af_failed;  /* the armed failure happened */

static bool af_should_fail(void) {
    af_count++;
    if (af_fail_at > 0 && af_count == af_fail_at) {
        af_failed = true;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n) {
    if (af_should_fail())
        return NULL;
    void *p = __real_malloc(n);
    af_live += p != NULL;
    return p;
}

void *__wrap_calloc(size_t n, size_t size) {
    if (af_should_fail())
        return NULL;
    void *p = __real_calloc(n, size);
    af_live += p != NULL;
    return p;
}

/* A failed realloc leaves the old block alone, as the real one does. */
void *__wrap_realloc(void *p, size_t n) {
    if (af_should_fail())
        return NULL;
    void *q = __real_realloc(p, n);
    if (!p && q)
        af_live++;
    return q;
}

void *__wrap_reallocarray(void *p, size_t n, size_t size) {
    if (af_should_fail())
        return NULL;
    void *q = __real_reallocarray(p, n, size);
    if (!p && q)
        af_live++;
    return q;
}

char *__wrap_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap) {
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    *out = n < 0 ? NULL : __wrap_malloc((size_t)n + 1);
    if (!*out)
        return -1;
    return vsnprintf(*out, (size_t)n + 1, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = __wrap_vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

void __wrap_free(void *p) {
    af_live -= p != NULL;
    __real_free(p);
}

static void af_arm(long fail_at) {
    af_fail_at = fail_at;
    af_count = 0;
    af_failed = false;
    af_live = 0;
}

/* ------------------------------------------------------------- the driver */

/* One operation: does its work, frees everything, returns its result. */
typedef int (*af_op_fn)(const void *ctx);

struct af_totals {
    long ops, runs;
};
static struct af_totals af_totals;

/* Fails each allocation of op in turn; returns the number of allocations. */
static long af_every_allocation(const char *name, af_op_fn op, const void *ctx) {
    af_arm(0);
    int normal = op(ctx);
    long total = af_count;
    if (af_live != 0)
        fprintf(stderr, "    %s: %ld blocks live after a normal run\n", name, af_live);
    CHECK(af_live == 0);
    CHECK(normal != -ENOMEM);
    long bad = 0;
    for (long n = 1; n <= total; n++) {
        af_arm(n);
        int r = op(ctx);
        long live = af_live;
        bool failed = af_failed;
        af_arm(0);
        if (!failed || (r != normal && r != -ENOMEM) || live != 0) {
            if (bad++ == 0) /* the first one says enough; the count says how widespread */
                fprintf(stderr, "    %s: allocation %ld of %ld failed=%d: result %d (normal %d), %ld blocks live\n",
                        name, n, total, failed, r, normal, live);
            rt_test_failed = 1;
        }
#if AF_LSAN
        CHECK(__lsan_do_recoverable_leak_check() == 0);
#endif
    }
    if (bad > 1)
        fprintf(stderr, "    %s: %ld of %ld failed allocations handled wrongly\n", name, bad, total);
    af_totals.ops++;
    af_totals.runs += total + 1;
    return total;
}

/* jansson's own allocations are counted (a json_t that ratchet forgets to
 * release shows up as a live block) but never failed: jansson 2.14's lexer
 * ignores a failed buffer growth and goes on with a string missing a byte,
 * which can assert() or read past the buffer (load.c, lex_save). The daemons
 * therefore abort on a failed jansson allocation (rt_json_alloc_init()), and
 * systemd restarts them. */
static void *af_json_malloc(size_t n) {
    void *p = __real_malloc(n);
    af_live += p != NULL;
    return p;
}
static void af_json_free(void *p) { __wrap_free(p); }

/* ------------------------------------------------------------- inputs */

struct af_text {
    char *text;
    size_t len;
    const char *name;
};

static char *af_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = __real_malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Calls fn for every file in dir whose name starts with prefix and ends with
 * suffix; returns how many. */
static int af_each_file(const char *dir, const char *prefix, const char *suffix,
                        void (*fn)(const struct af_text *t, const void *ud), const void *ud) {
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || l < sl || strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct af_text t = {.name = de->d_name};
        t.text = af_read(path, &t.len);
        if (!t.text)
            continue;
        fn(&t, ud);
        __real_free(t.text);
        n++;
    }
    closedir(d);
    return n;
}

/* ------------------------------------------------------------- operations */

static struct rt_am_matchers af_p0;

static int op_webhook(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_am_config cfg = {.p0 = &af_p0, .bot_label = "bot"};
    struct rt_am_webhook w;
    char err[256];
    int r = rt_am_webhook_parse(t->text, t->len, &cfg, &w, err, sizeof err);
    if (r == 0 || r == RT_AM_EUNUSABLE)
        rt_am_webhook_free(&w);
    return r;
}

static int op_am_alerts(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_am_config cfg = {.p0 = &af_p0, .bot_label = "bot"};
    struct rt_am_alert_list l;
    char err[256];
    int r = rt_am_alerts_parse(t->text, t->len, &cfg, &l, err, sizeof err);
    if (r == 0)
        rt_am_alert_list_free(&l);
    return r;
}

static int op_prom(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_prom_opts opts = {.bot_label = "bot"};
    struct rt_prom_result res;
    memset(&res, 0, sizeof res);
    int r = rt_prom_parse(t->text, t->len, &opts, &res);
    rt_prom_result_clear(&res);
    return r;
}

static int op_drift(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_drift_feed f;
    struct rt_drift_errors errs;
    memset(&f, 0, sizeof f);
    int r = rt_drift_parse(t->text, t->len, &f, &errs);
    rt_drift_feed_clear(&f);
    return r;
}

static int op_drift_prom(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_drift_feed f;
    struct rt_prom_result res;
    memset(&f, 0, sizeof f);
    memset(&res, 0, sizeof res);
    int r = rt_drift_parse_prom(t->text, t->len, NULL, &f, &res);
    rt_drift_feed_clear(&f);
    rt_prom_result_clear(&res);
    return r;
}

static int op_scan(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_scan_options opt = {.format = RT_SCAN_AUTO, .threshold = 7.0};
    struct rt_scan_result res;
    char err[256];
    return rt_scan_parse(t->text, t->len, &opt, &res, err, sizeof err);
}

static int op_policy(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs;
    int r = rt_policy_parse(t->text, t->len, &p, &errs);
    rt_policy_free(p);
    return r;
}

static int op_wd_config(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs;
    int r = rt_wd_config_parse(t->text, t->len, &c, &errs);
    rt_wd_config_free(c);
    return r;
}

static int op_enf_config(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_enf_config *c = NULL;
    struct rt_policy_errors errs;
    int r = rt_enf_config_parse(t->text, t->len, &c, &errs);
    rt_enf_config_free(c);
    return r;
}

static int op_registry(const void *ctx) {
    const struct af_text *t = ctx;
    struct rt_registry reg;
    char err[256];
    int r = rt_registry_parse(t->text, t->len, &reg, err, sizeof err);
    if (r == 0)
        rt_registry_free(&reg);
    return r;
}

/* A small evidence stream: every condition breaches for a whole 1h window
 * on some bot, with unknowns, readiness changes and a late duplicate. */
static const char *const af_evidence[] = {
    "{\"ts\":\"2026-11-02T00:00:00Z\",\"bot\":\"a\",\"condition\":\"p0_alert\",\"value\":true}",
    "{\"ts\":\"2026-11-02T00:00:00Z\",\"bot\":\"b\",\"condition\":\"error_rate\",\"value\":0.02}",
    "{\"ts\":\"2026-11-02T00:00:00Z\",\"bot\":\"c\",\"condition\":\"recon_drift\",\"value\":-900.5,\"tolerance\":250}",
    "{\"ts\":\"2026-11-02T00:00:00Z\",\"bot\":\"d\",\"condition\":\"cvss\",\"value\":9.8,\"source\":\"scanner\",\"detail\":\"CVE-1\"}",
    "{\"ts\":\"2026-11-02T00:00:00Z\",\"bot\":\"e\",\"readiness\":\"limited_live\"}",
    "{\"ts\":\"2026-11-02T00:10:00Z\",\"bot\":\"b\",\"condition\":\"error_rate\",\"value\":null}",
    "{\"ts\":\"2026-11-02T00:20:00Z\",\"bot\":\"a\",\"condition\":\"p0_alert\",\"value\":true}",
    "{\"ts\":\"2026-11-02T00:05:00Z\",\"bot\":\"a\",\"condition\":\"p0_alert\",\"value\":false}",
    "{\"ts\":\"2026-11-02T00:30:00Z\",\"bot\":\"b\",\"condition\":\"error_rate\",\"value\":0.03}",
    "{\"ts\":\"2026-11-02T00:40:00Z\",\"bot\":\"c\",\"condition\":\"recon_drift\",\"value\":-901,\"tolerance\":250}",
    "{\"ts\":\"2026-11-02T00:50:00Z\",\"bot\":\"d\",\"condition\":\"cvss\",\"value\":9.8}",
    "{\"ts\":\"2026-11-02T01:00:00Z\",\"bot\":\"a\",\"condition\":\"p0_alert\",\"value\":true}",
    "{\"ts\":\"2026-11-02T01:00:01Z\",\"bot\":\"b\",\"condition\":\"error_rate\",\"value\":0.05}",
    "{\"ts\":\"2026-11-02T01:00:02Z\",\"bot\":\"c\",\"condition\":\"recon_drift\",\"value\":-950,\"tolerance\":250}",
    "{\"ts\":\"2026-11-02T01:00:03Z\",\"bot\":\"d\",\"condition\":\"cvss\",\"value\":9.9}",
    "{\"ts\":\"2026-11-02T01:00:04Z\",\"bot\":\"e\",\"condition\":\"p0_alert\",\"value\":true}",
};
#define AF_COND_1H(c) "\"" c "\":{\"window\":\"1h\",\"max_evidence_age\":\"30m\"}"
#define AF_POLICY_1H                                                                                       \
    "{\"version\":1,\"conditions\":{" AF_COND_1H("p0_alert") "," AF_COND_1H("error_rate") "," AF_COND_1H( \
        "recon_drift") "," AF_COND_1H("cvss") "}}"

static struct rt_policy *af_policy_1h;

static int af_parse_evidence(struct rt_evidence *items, size_t *n) {
    *n = 0;
    for (size_t i = 0; i < ELEMENTSOF(af_evidence); i++) {
        char err[256];
        int r = rt_evidence_parse(af_evidence[i], strlen(af_evidence[i]), &items[(*n)++], err, sizeof err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int op_evidence_replay(const void *ctx) {
    (void)ctx;
    struct rt_evidence items[ELEMENTSOF(af_evidence)];
    size_t n;
    int r = af_parse_evidence(items, &n);
    if (r < 0)
        return r;
    struct rt_decision_list out = {0};
    r = rt_replay(af_policy_1h, items, n, &out);
    if (r == 0 && out.n != 4)
        r = -EPROTO; /* four windows complete: a, b, c, d (e is limited) */
    rt_decision_list_free(&out);
    return r;
}

static void af_count_decision(const struct rt_decision *d, void *ud) {
    (void)d;
    (*(int *)ud)++;
}

/* The engine as the watchdog drives it: observations that complete windows,
 * then one bot's state encoded and decoded into a second engine. Returns the
 * number of decisions. */
static int af_engine_run(struct rt_engine *e, struct rt_engine *copy, const struct rt_evidence *items, size_t n) {
    int r = 0, decisions = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        struct rt_now now = {items[i].ts_us, items[i].ts_us};
        if (items[i].kind == RT_EVIDENCE_READINESS) {
            r = rt_engine_set_readiness(e, items[i].bot, items[i].readiness, items[i].ts_us, now,
                                        af_count_decision, &decisions);
            continue;
        }
        struct rt_obs obs;
        rt_evidence_to_obs(&items[i], &obs);
        r = rt_engine_observe(e, &obs, now, af_count_decision, &decisions);
    }
    uint8_t buf[4096];
    if (r >= 0)
        r = rt_engine_encode_bot(e, "c", buf, sizeof buf);
    if (r >= 0)
        r = rt_engine_decode_bot(copy, "c", buf, (size_t)r);
    return r < 0 ? r : decisions;
}

static int op_engine(const void *ctx) {
    (void)ctx;
    struct rt_evidence items[ELEMENTSOF(af_evidence)];
    size_t n;
    int r = af_parse_evidence(items, &n);
    if (r < 0)
        return r;
    struct rt_engine *e = rt_engine_new(af_policy_1h), *copy = rt_engine_new(af_policy_1h);
    if (e && copy)
        r = af_engine_run(e, copy, items, n);
    else
        r = -ENOMEM;
    rt_engine_free(e);
    rt_engine_free(copy);
    return r;
}

/* The P0 tracker: a webhook delivery, a poll that drops one alert, and one
 * bot's record encoded and decoded into a second tracker. */
static struct rt_am_alert af_alert(const char *fp, const char *bot, bool firing) {
    struct rt_am_alert a;
    memset(&a, 0, sizeof a);
    rt_strlcpy(a.fingerprint, fp, sizeof a.fingerprint);
    rt_strlcpy(a.bot, bot, sizeof a.bot);
    rt_strlcpy(a.alertname, "BotDown", sizeof a.alertname);
    a.firing = firing;
    a.starts_at_us = INT64_C(1790000000000000);
    return a;
}

static void af_ignore_obs(const struct rt_obs *obs, void *ud) { (void)obs, (void)ud; }

static int af_p0track_run(struct rt_p0track *t, struct rt_p0track *copy) {
    struct rt_am_alert alerts[] = {af_alert("00000000000000a1", "a", true), af_alert("00000000000000a2", "a", true),
                                   af_alert("00000000000000b1", "b", true)};
    int r = rt_p0track_webhook(t, alerts, ELEMENTSOF(alerts), af_ignore_obs, NULL, NULL);
    const char *const bots[] = {"a", "b", "c"};
    if (r == 0)
        r = rt_p0track_poll(t, alerts, 2, alerts[0].starts_at_us + 60000000, bots, ELEMENTSOF(bots), af_ignore_obs,
                            NULL, NULL);
    uint8_t buf[4096];
    if (r == 0)
        r = rt_p0track_encode_bot(t, "a", buf, sizeof buf);
    if (r >= 0)
        r = rt_p0track_decode_bot(copy, "a", buf, (size_t)r);
    return r < 0 ? r : (int)rt_p0track_alert_count(t);
}

static int op_p0track(const void *ctx) {
    (void)ctx;
    struct rt_p0track *t = rt_p0track_new(), *copy = rt_p0track_new();
    int r = t && copy ? af_p0track_run(t, copy) : -ENOMEM;
    rt_p0track_free(t);
    rt_p0track_free(copy);
    return r;
}

/* The command-log verifier over a small log the writer made. */
struct af_log {
    char *text;
    size_t len;
    struct rt_log_pubkey *pub;
};

static int op_log_verify(const void *ctx) {
    const struct af_log *l = ctx;
    const struct rt_log_pubkey *trusted[] = {l->pub};
    struct rt_log_verify_opts o = {.trusted = trusted, .n_trusted = 1, .no_history_file = true, .threads = 1};
    struct rt_log_verify_result res;
    int r = rt_log_verify_buffer(l->text, l->len, &o, &res);
    return r == 0 ? (int)res.records : r;
}

static int af_make_log(const char *dir, const struct rt_log_key *key) {
    static const uint8_t policy_hash[32] = {7};
    struct rt_logw *w = NULL;
    int r = rt_logw_open(dir, "test.ratchet.invalid/allocfail", key, policy_hash, NULL, NULL, &w, NULL);
    for (int i = 0; i < 6 && r == 0; i++) {
        struct rt_log_record rec;
        memset(&rec, 0, sizeof rec);
        uint64_t seq = 0;
        rec.type = RT_LOG_DEMOTE;
        struct rt_msg_demote *d = &rec.u.demote;
        d->request_id[0] = (uint8_t)(i + 1);
        snprintf(d->bot, sizeof d->bot, "bot-%d", i);
        d->cond = (enum rt_cond)(i % RT_COND_COUNT);
        snprintf(d->reason_code, sizeof d->reason_code, "demote.%s", rt_cond_name(d->cond));
        d->window_start_us = INT64_C(1790000000000000) + i;
        d->window_us = INT64_C(86400000000);
        d->decided_at_us = d->window_start_us + d->window_us;
        d->evidence_ts_us = d->decided_at_us;
        snprintf(d->summary, sizeof d->summary, "window complete #%d", i);
        r = rt_logw_append(w, &rec, &seq);
        if (r == 0 && i % 2 == 0)
            r = rt_logw_checkpoint(w, d->decided_at_us);
    }
    if (w)
        rt_logw_close(w);
    return r;
}

/* ------------------------------------------------------------- the tests */

struct af_file_case {
    af_op_fn op;
    const char *label;
    long allocs; /* over every file: the parser really allocates */
};

static void af_file(const struct af_text *t, const void *ud) {
    struct af_file_case *c = (struct af_file_case *)ud;
    char name[256];
    snprintf(name, sizeof name, "%s %s", c->label, t->name);
    c->allocs += af_every_allocation(name, c->op, t);
}

static void af_dir(const char *dir, const char *prefix, const char *suffix, af_op_fn op, const char *label,
                   int min_files) {
    struct af_file_case c = {op, label, 0};
    int n = af_each_file(dir, prefix, suffix, af_file, &c);
    if (n < min_files || c.allocs == 0)
        fprintf(stderr, "    %s: %d files in %s (want >= %d), %ld allocations\n", label, n, dir, min_files, c.allocs);
    CHECK(n >= min_files);
    CHECK(c.allocs > 0);
}

TEST(alertmanager_webhook_payloads) {
    af_dir("tests/samples/alertmanager", "webhook-", ".json", op_webhook, "webhook", 10);
}

TEST(alertmanager_api_alerts) {
    af_dir("tests/samples/alertmanager", "api-alerts-", ".json", op_am_alerts, "api/v2/alerts", 3);
}

TEST(prometheus_responses) {
    af_dir("tests/samples/prometheus", "", ".json", op_prom, "prometheus", 10);
}

TEST(drift_feeds) {
    af_dir("tests/samples/drift", "", ".json", op_drift, "drift", 3);
    af_dir("tests/samples/prometheus", "vector-drift", ".json", op_drift_prom, "drift/prometheus", 1);
}

TEST(cvss_reports) {
    af_dir("tests/samples/scan", "", ".json", op_scan, "scan", 8);
}

TEST(policy_files) {
    af_dir("tests/policy/good", "", ".json", op_policy, "policy", 3);
    af_dir("tests/policy/bad", "", ".json", op_policy, "policy (bad)", 3);
}

TEST(configuration_files) {
    af_dir("tests/config/good", "", ".json", op_wd_config, "watchdog config", 2);
    af_dir("tests/config/bad", "", ".json", op_wd_config, "watchdog config (bad)", 2);
    af_dir("tests/enforcer-config/good", "", ".json", op_enf_config, "enforcer config", 2);
    af_dir("tests/enforcer-config/bad", "", ".json", op_enf_config, "enforcer config (bad)", 2);
}

TEST(bot_registry) {
    static const char reg[] = "{\"version\":1,\"bots\":[{\"id\":\"mm-eth-01\",\"readiness\":\"general_live\"},"
                              "{\"id\":\"arb-btc-02\",\"readiness\":\"limited_live\"}]}";
    struct af_text t = {(char *)reg, sizeof reg - 1, "registry"};
    CHECK(af_every_allocation("registry", op_registry, &t) > 0);
}

TEST(evidence_stream_and_replay) {
    CHECK(af_every_allocation("evidence+replay", op_evidence_replay, NULL) > 0);
}

TEST(engine) {
    CHECK(af_every_allocation("engine", op_engine, NULL) > 0);
}

TEST(p0_tracker) {
    CHECK(af_every_allocation("p0track", op_p0track, NULL) > 0);
}

TEST(log_verifier) {
    char dir[] = "/tmp/ratchet-allocfail.XXXXXX";
    REQUIRE(mkdtemp(dir));
    struct rt_log_key *key = NULL;
    struct af_log l = {0};
    REQUIRE(rt_log_key_generate("allocfail", &key) == 0);
    CHECK(rt_log_pubkey_from_raw("allocfail", rt_log_key_pub(key), &l.pub) == 0);
    CHECK(af_make_log(dir, key) == 0);
    char path[128];
    snprintf(path, sizeof path, "%s/commands.log", dir);
    l.text = af_read(path, &l.len);
    if (l.text && l.pub)
        CHECK(af_every_allocation("log verify", op_log_verify, &l) > 0);
    CHECK(l.text && op_log_verify(&l) == 7); /* genesis + 6 demotions */
    /* The same log with a torn last line: invalid, and never "out of memory"
     * turned into a different fault. */
    static const char torn[] = "{\"v\":1,\"seq\":7,\"ts\":\"2026-";
    struct af_log t = l;
    t.text = l.text ? __real_malloc(l.len + sizeof torn) : NULL;
    if (t.text) {
        memcpy(t.text, l.text, l.len);
        memcpy(t.text + l.len, torn, sizeof torn);
        t.len = l.len + sizeof torn - 1;
        CHECK(af_every_allocation("log verify (torn tail)", op_log_verify, &t) > 0);
        CHECK(op_log_verify(&t) == -EBADMSG);
        __real_free(t.text);
    }
    __real_free(l.text);
    rt_log_pubkey_free(l.pub);
    rt_log_key_free(key);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* The daemons' hook: a failed jansson allocation ends the process at once
 * (rather than letting jansson go on with a damaged string). */
TEST(daemon_json_hook_aborts_on_a_failed_allocation) {
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        rt_json_alloc_init();
        af_arm(1);
        json_t *j = json_loads("{\"bot\":\"mm-eth-01\"}", 0, NULL);
        _exit(j ? 0 : 1); /* reached only if the hook did not abort */
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static int af_main(int argc, char **argv) {
    json_set_alloc_funcs(af_json_malloc, af_json_free);
    char err[256];
    if (rt_am_matchers_parse("severity=\"P0\"", &af_p0, err, sizeof err) < 0)
        return 2;
    struct rt_policy_errors errs;
    if (rt_policy_parse(AF_POLICY_1H, strlen(AF_POLICY_1H), &af_policy_1h, &errs) < 0)
        return 2;
    int r = rt_test_main(argc, argv);
    printf("allocation-failure figures: %ld operations, %ld runs\n", af_totals.ops, af_totals.runs);
    rt_policy_free(af_policy_1h);
    rt_am_matchers_free(&af_p0);
    return r;
}

int main(int argc, char **argv) { return af_main(argc, argv); }
