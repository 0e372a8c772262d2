/* Alertmanager matchers, webhook payloads and /api/v2/alerts responses.
 * The samples in tests/samples/alertmanager/ are real captures from
 * Alertmanager 0.25 (see the README there). */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "feeds/alertmanager.h"
#include "tests/unit/harness.h"
#include "tests/unit/jsongen.h"

#define SAMPLES "tests/samples/alertmanager/"

static char *read_sample(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, SAMPLES "%s", name);
    _cleanup_fclose_ FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    if (!buf)
        return NULL;
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    return buf;
}

static int64_t T(const char *s) {
    int64_t us = 0;
    if (rt_time_parse(s, &us) < 0)
        abort();
    return us;
}

/* The default configuration: severity="P0", bot id in label "bot". */
struct cfg {
    struct rt_am_matchers m;
    struct rt_am_config c;
};

static bool cfg_init(struct cfg *cfg, const char *matchers, const char *bot_label) {
    char err[RT_AM_ERR_MAX];
    if (rt_am_matchers_parse(matchers, &cfg->m, err, sizeof err) < 0) {
        fprintf(stderr, "    matchers: %s\n", err);
        return false;
    }
    cfg->c = (struct rt_am_config){.p0 = &cfg->m, .bot_label = bot_label};
    return true;
}

/* ----------------------------------------------------------- matchers */

struct labels {
    const char *k[4], *v[4];
};

static const char *lookup(const char *name, void *ud) {
    const struct labels *l = ud;
    for (int i = 0; i < 4 && l->k[i]; i++)
        if (strcmp(l->k[i], name) == 0)
            return l->v[i];
    return NULL;
}

static bool matches(const char *text, const char *value) {
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX];
    if (rt_am_matchers_parse(text, &m, err, sizeof err) < 0) {
        fprintf(stderr, "    %s: %s\n", text, err);
        return false;
    }
    struct labels l = {{"severity"}, {value}};
    bool r = rt_am_matchers_match(&m, lookup, &l); /* v[0] NULL: label absent */
    rt_am_matchers_free(&m);
    return r;
}

TEST(matcher_equal_and_not_equal) {
    CHECK(matches("severity=\"P0\"", "P0"));
    CHECK(!matches("severity=\"P0\"", "P1"));
    CHECK(!matches("severity=\"P0\"", "p0"));
    CHECK(!matches("severity=\"P0\"", NULL));
    CHECK(matches("severity!=\"P1\"", "P0"));
    CHECK(!matches("severity!=\"P1\"", "P1"));
    /* A missing label is the empty string, as in Prometheus. */
    CHECK(matches("severity!=\"P1\"", NULL));
    CHECK(matches("severity=\"\"", NULL));
    CHECK(matches("severity=P0", "P0"));
}

TEST(matcher_regex_is_anchored) {
    CHECK(matches("severity=~\"P0|critical\"", "P0"));
    CHECK(matches("severity=~\"P0|critical\"", "critical"));
    CHECK(!matches("severity=~\"P0|critical\"", "P0x"));
    CHECK(!matches("severity=~\"P0|critical\"", "xP0"));
    CHECK(!matches("severity=~\"P0|critical\"", "supercritical"));
    CHECK(!matches("severity=~\"P0|critical\"", "P0|critical"));
    CHECK(!matches("severity=~\"P0\"", "P00"));
    CHECK(matches("severity=~\"P.*\"", "P0"));
    CHECK(matches("severity=~\".*\"", NULL));
    CHECK(!matches("severity=~\".+\"", NULL));
    CHECK(matches("severity!~\"P[1-4]\"", "P0"));
    CHECK(!matches("severity!~\"P[1-4]\"", "P3"));
    CHECK(matches("severity!~\"P[1-4]\"", "P3x"));
    CHECK(matches("severity=~\"[[:digit:]]+\"", "42"));
    CHECK(matches("severity=~\"[]x]\"", "]"));
    CHECK(matches("severity=~\"a\\.b\"", "a.b"));
    CHECK(!matches("severity=~\"a\\.b\"", "axb"));
    CHECK(matches("severity=~\"(a|b)(c|d)\"", "bd"));
    CHECK(matches("severity=~\"\"", ""));
    CHECK(!matches("severity=~\"\"", "x"));
}

TEST(matcher_list_syntax) {
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX];
    REQUIRE(rt_am_matchers_parse(" { severity = \"P0\" , team!~\"test|dev\",env=prod, } ", &m, err, sizeof err) == 0);
    CHECK_EQ_INT(m.n, 3);
    CHECK_EQ_STR(m.m[0].name, "severity");
    CHECK_EQ_INT(m.m[0].op, RT_AM_MATCH_EQ);
    CHECK_EQ_STR(m.m[1].value, "test|dev");
    CHECK_EQ_INT(m.m[1].op, RT_AM_MATCH_NRE);
    CHECK_EQ_STR(m.m[2].value, "prod");
    struct labels ok = {{"severity", "team", "env"}, {"P0", "core", "prod"}};
    struct labels test_team = {{"severity", "team", "env"}, {"P0", "test", "prod"}};
    struct labels no_env = {{"severity", "team"}, {"P0", "core"}};
    CHECK(rt_am_matchers_match(&m, lookup, &ok));
    CHECK(!rt_am_matchers_match(&m, lookup, &test_team));
    CHECK(!rt_am_matchers_match(&m, lookup, &no_env));
    rt_am_matchers_free(&m);
    CHECK_EQ_INT(m.n, 0);
    rt_am_matchers_free(&m); /* idempotent */

    REQUIRE(rt_am_matchers_parse("a=\"x\\\"y\\\\z\\n\",b=~\"p\\\\.q\"", &m, err, sizeof err) == 0);
    CHECK_EQ_STR(m.m[0].value, "x\"y\\z\n");
    CHECK_EQ_STR(m.m[1].value, "p\\.q");
    char buf[64];
    CHECK(rt_am_matcher_format(&m.m[0], buf, sizeof buf) > 0);
    CHECK_EQ_STR(buf, "a=\"x\\\"y\\\\z\\n\"");
    CHECK(rt_am_matcher_format(&m.m[1], buf, sizeof buf) > 0);
    CHECK_EQ_STR(buf, "b=~\"p\\\\.q\"");
    CHECK_EQ_INT(rt_am_matcher_format(&m.m[0], buf, 5), -ENOBUFS);
    rt_am_matchers_free(&m);

    /* The canonical text parses back to the same matcher. */
    REQUIRE(rt_am_matchers_parse("severity!~\"P[1-4]|\\\"x\\\"\"", &m, err, sizeof err) == 0);
    REQUIRE(rt_am_matcher_format(&m.m[0], buf, sizeof buf) > 0);
    struct rt_am_matchers again;
    REQUIRE(rt_am_matchers_parse(buf, &again, err, sizeof err) == 0);
    CHECK_EQ_STR(again.m[0].value, m.m[0].value);
    CHECK_EQ_INT(again.m[0].op, m.m[0].op);
    rt_am_matchers_free(&again);
    rt_am_matchers_free(&m);

    char eight[256] = "";
    for (int i = 0; i < 8; i++)
        snprintf(eight + strlen(eight), sizeof eight - strlen(eight), "%sl%d=~\"v|w\"", i ? "," : "", i);
    REQUIRE(rt_am_matchers_parse(eight, &m, err, sizeof err) == 0);
    CHECK_EQ_INT(m.n, 8);
    rt_am_matchers_free(&m);
}

TEST(matcher_errors) {
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "empty matcher list"},
        {"  ", "empty matcher list"},
        {"{}", "empty matcher list"},
        {"severity", "matcher 1: expected =, !=, =~ or !~ after \"severity\""},
        {"severity<\"P0\"", "expected =, !=, =~ or !~"},
        {"severity=\"P0", "matcher 1: unterminated quoted value"},
        {"1abc=\"x\"", "matcher 1: expected a label name at offset 0"},
        {"a=\"x\",=\"y\"", "matcher 2: expected a label name"},
        {"{severity=\"P0\"", "missing closing '}'"},
        {"severity=\"P0\"}", "unexpected '}'"},
        {"severity=\"P0\" team=\"x\"", "matcher 1: expected ',' after the value"},
        {"severity=P\"0\"", "unexpected '\"' in an unquoted value"},
        {"{a=\"x\"} b", "unexpected text after the matcher list"},
        {"a=~\"(\"", "matcher 1: regex has an unbalanced ("},
        {"a=~\"x)|(y\"", "matcher 1: regex has an unbalanced )"},
        {"a=~\"\\\\d+\"", "regex escape \\d is not POSIX ERE"},
        {"a=~\"(?i)p0\"", "(?...) groups and flags are not POSIX ERE"},
        {"a=~\"[\\\\d]\"", "backslash inside [...]"},
        {"a=~\"[abc\"", "unterminated ["},
        {"a=~\"x\\\\\"", "regex ends with a backslash"},
        {"a=~\"a{2,1}\"", "matcher 1: invalid regex"},
        {"a=~\"*\"", "matcher 1: invalid regex"},
        {"l0=a,l1=a,l2=a,l3=a,l4=a,l5=a,l6=a,l7=a,l8=a", "more than 8 matchers"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct rt_am_matchers m;
        char err[RT_AM_ERR_MAX] = "";
        int r = rt_am_matchers_parse(cases[i].text, &m, err, sizeof err);
        if (r != -EINVAL || !strstr(err, cases[i].msg)) {
            fprintf(stderr, "    case %zu %s: r=%d err=\"%s\"\n", i, cases[i].text, r, err);
            rt_test_failed = 1;
        }
        CHECK_EQ_INT(m.n, 0);
    }
    /* Limits on names, values and the whole text. */
    char big[RT_AM_MATCHERS_TEXT_MAX + 16];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX] = "";
    CHECK_EQ_INT(rt_am_matchers_parse(big, &m, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "longer than 2048 bytes") != NULL);
    memcpy(big, "a=\"", 3);
    big[3 + RT_AM_MATCHER_VALUE_MAX + 1] = '"';
    big[3 + RT_AM_MATCHER_VALUE_MAX + 2] = '\0';
    CHECK_EQ_INT(rt_am_matchers_parse(big, &m, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "value longer than 512 bytes") != NULL);
    memset(big, 'n', RT_AM_LABEL_NAME_MAX + 1);
    strcpy(big + RT_AM_LABEL_NAME_MAX + 1, "=x");
    CHECK_EQ_INT(rt_am_matchers_parse(big, &m, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "label name longer than 128 bytes") != NULL);
    CHECK_EQ_INT(rt_am_matchers_parse(NULL, &m, err, sizeof err), -EINVAL);
    /* An error after a compiled regex frees it (ASan checks the leak). */
    CHECK_EQ_INT(rt_am_matchers_parse("a=~\"x|y\",b=~\"(\"", &m, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "matcher 2:") != NULL);
}

TEST(label_name_and_fingerprint_validity) {
    CHECK(rt_am_label_name_valid("severity"));
    CHECK(rt_am_label_name_valid("_x:y9"));
    CHECK(!rt_am_label_name_valid("9x"));
    CHECK(!rt_am_label_name_valid(""));
    CHECK(!rt_am_label_name_valid("a-b"));
    CHECK(rt_am_fingerprint_valid("e7d558e15c1e5566"));
    CHECK(rt_am_fingerprint_valid("A"));
    CHECK(!rt_am_fingerprint_valid(""));
    CHECK(!rt_am_fingerprint_valid("xyz"));
    CHECK(rt_am_fingerprint_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK(!rt_am_fingerprint_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
}

/* ------------------------------------------------------ real webhooks */

struct webhook_sample {
    const char *file;
    int rc;
    size_t n_alerts, n_received, not_p0, no_bot;
    const char *fp0, *bot0, *name0;
    bool firing0;
    const char *starts0, *ends0; /* ends0 NULL: none */
};

static const struct webhook_sample webhook_samples[] = {
    {"webhook-firing.json", 0, 1, 1, 0, 0, "e7d558e15c1e5566", "alpha", "P0Down", true,
     "2026-11-24T09:02:22.537583544Z", NULL},
    {"webhook-firing-two.json", 0, 2, 2, 0, 0, "e7d558e15c1e5566", "alpha", "P0Down", true,
     "2026-11-24T09:02:22.537583544Z", NULL},
    {"webhook-one-resolved-one-firing.json", 0, 2, 2, 0, 0, "e7d558e15c1e5566", "alpha", "P0Down", true,
     "2026-11-24T09:02:22.537583544Z", NULL},
    {"webhook-resolved.json", 0, 1, 1, 0, 0, "e7d558e15c1e5566", "alpha", "P0Down", false,
     "2026-11-24T09:02:22.537583544Z", "2026-11-24T09:02:52Z"},
    {"webhook-truncated.json", 0, 1, 1, 0, 0, "4243b779ee41d01a", "epsilon", "P0Down", true,
     "2026-11-24T09:03:03.281449511Z", NULL},
    {"webhook-prometheus-firing.json", 0, 1, 1, 0, 0, "fbc8c76a7515b66f", "mm-eth-01", "BotOrderRejectsHigh", true,
     "2026-11-24T09:03:12.292Z", NULL},
    {"webhook-prometheus-resolved.json", 0, 1, 1, 0, 0, "fbc8c76a7515b66f", "mm-eth-01", "BotOrderRejectsHigh",
     false, "2026-11-24T09:03:12.292Z", "2026-11-24T09:07:39.292Z"},
    {"webhook-uninhibited.json", 0, 1, 2, 1, 0, "cdc1a8e561f56fc9", "gamma", "P0Down", true,
     "2026-11-24T09:02:36.387516796Z", NULL},
    {"webhook-resolved-timeout.json", 0, 1, 1, 0, 0, "cdc1a8e561f56fc9", "gamma", "P0Down", false,
     "2026-11-24T09:02:36.387516796Z", "2026-11-24T09:07:36.387516796Z"},
    {"webhook-not-p0.json", RT_AM_EUNUSABLE, 0, 1, 1, 0, NULL, NULL, NULL, false, NULL, NULL},
    {"webhook-info-alert.json", RT_AM_EUNUSABLE, 0, 1, 1, 0, NULL, NULL, NULL, false, NULL, NULL},
    {"webhook-no-bot.json", RT_AM_EUNUSABLE, 0, 1, 0, 1, NULL, NULL, NULL, false, NULL, NULL},
    {"webhook-resolved-no-bot.json", RT_AM_EUNUSABLE, 0, 1, 0, 1, NULL, NULL, NULL, false, NULL, NULL},
};

TEST(webhook_real_captures) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    for (size_t i = 0; i < ELEMENTSOF(webhook_samples); i++) {
        const struct webhook_sample *s = &webhook_samples[i];
        size_t len;
        _cleanup_free_ char *body = read_sample(s->file, &len);
        REQUIRE(body);
        struct rt_am_webhook w;
        char err[RT_AM_ERR_MAX];
        int r = rt_am_webhook_parse(body, len, &cfg.c, &w, err, sizeof err);
        if (r != s->rc)
            fprintf(stderr, "    %s: %d %s\n", s->file, r, err);
        CHECK_EQ_INT(r, s->rc);
        CHECK_EQ_INT(w.version, 4);
        CHECK_EQ_INT(w.list.n_alerts, s->n_alerts);
        CHECK_EQ_INT(w.list.n_received, s->n_received);
        CHECK_EQ_INT(w.list.ignored[RT_AM_IGN_NOT_P0], s->not_p0);
        CHECK_EQ_INT(w.list.ignored[RT_AM_IGN_NO_BOT], s->no_bot);
        CHECK_EQ_INT(w.list.n_ignored, s->not_p0 + s->no_bot);
        if (s->rc == RT_AM_EUNUSABLE)
            CHECK(strstr(err, "no usable alert: 1 received") != NULL);
        if (s->n_alerts > 0) {
            const struct rt_am_alert *a = &w.list.alerts[0];
            CHECK_EQ_STR(a->fingerprint, s->fp0);
            CHECK_EQ_STR(a->bot, s->bot0);
            CHECK_EQ_STR(a->alertname, s->name0);
            CHECK_EQ_INT(a->firing, s->firing0);
            CHECK_EQ_INT(a->starts_at_us, T(s->starts0));
            CHECK_EQ_INT(a->has_ends_at, s->ends0 != NULL);
            if (s->ends0)
                CHECK_EQ_INT(a->ends_at_us, T(s->ends0));
            CHECK_EQ_INT(a->state, RT_AM_STATE_NONE);
        }
        rt_am_webhook_free(&w);
    }
    rt_am_matchers_free(&cfg.m);
}

TEST(webhook_top_level_fields) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    size_t len;
    _cleanup_free_ char *body = read_sample("webhook-truncated.json", &len);
    REQUIRE(body);
    struct rt_am_webhook w;
    char err[RT_AM_ERR_MAX];
    REQUIRE(rt_am_webhook_parse(body, len, &cfg.c, &w, err, sizeof err) == 0);
    CHECK_EQ_STR(w.receiver, "wd-trunc");
    CHECK_EQ_STR(w.group_key, "{}/{bot=\"epsilon\"}:{bot=\"epsilon\"}");
    CHECK_EQ_INT(w.truncated_alerts, 2);
    CHECK(w.firing);
    rt_am_webhook_free(&w);

    _cleanup_free_ char *two = read_sample("webhook-one-resolved-one-firing.json", &len);
    REQUIRE(two);
    REQUIRE(rt_am_webhook_parse(two, len, &cfg.c, &w, err, sizeof err) == 0);
    REQUIRE(w.list.n_alerts == 2);
    CHECK(w.list.alerts[0].firing);
    CHECK(!w.list.alerts[0].has_ends_at);
    CHECK(!w.list.alerts[1].firing);
    CHECK_EQ_STR(w.list.alerts[1].fingerprint, "6894cc34137d06e2");
    CHECK_EQ_INT(w.list.alerts[1].ends_at_us, T("2026-11-24T09:02:48Z"));
    rt_am_webhook_free(&w);
    rt_am_matchers_free(&cfg.m);
}

TEST(webhook_regex_matcher_and_other_bot_label) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=~\"P0|info\",alertname!=\"Watchdog\"", "bot"));
    size_t len;
    _cleanup_free_ char *body = read_sample("webhook-info-alert.json", &len);
    REQUIRE(body);
    struct rt_am_webhook w;
    char err[RT_AM_ERR_MAX];
    CHECK_EQ_INT(rt_am_webhook_parse(body, len, &cfg.c, &w, err, sizeof err), 0);
    CHECK_EQ_INT(w.list.n_alerts, 1);
    rt_am_webhook_free(&w);
    rt_am_matchers_free(&cfg.m);

    /* The bot id may live in another label; "cluster" holds "eu1" here. */
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "cluster"));
    _cleanup_free_ char *nobot = read_sample("webhook-no-bot.json", &len);
    REQUIRE(nobot);
    CHECK_EQ_INT(rt_am_webhook_parse(nobot, len, &cfg.c, &w, err, sizeof err), 0);
    REQUIRE(w.list.n_alerts == 1);
    CHECK_EQ_STR(w.list.alerts[0].bot, "eu1");
    CHECK_EQ_STR(w.list.alerts[0].alertname, "ClusterDown");
    rt_am_webhook_free(&w);
    rt_am_matchers_free(&cfg.m);
}

/* --------------------------------------------------- malformed webhooks */

#define ALERT_OK                                                                                     \
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"P0Down\",\"bot\":\"alpha\",\"severity\":\"P0\"}," \
    "\"annotations\":{\"summary\":\"s\"},\"startsAt\":\"2026-11-23T20:29:43.421899993Z\","           \
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"\",\"fingerprint\":\"e7d558e15c1e5566\"}"
#define TOP_OK                                                                                       \
    "{\"receiver\":\"wd\",\"status\":\"firing\",\"alerts\":[" ALERT_OK "],\"groupLabels\":{\"bot\":\"alpha\"}," \
    "\"commonLabels\":{},\"commonAnnotations\":{},\"externalURL\":\"http://vm:19093\",\"version\":\"4\","  \
    "\"groupKey\":\"{}:{bot=\\\"alpha\\\"}\",\"truncatedAlerts\":0}"

/* TOP_OK with one member of the payload (where == NULL) or of alerts[0]
 * replaced by the JSON text value, or removed when value is NULL. */
static char *variant(const char *where, const char *key, const char *value) {
    json_error_t jerr;
    json_t *root = json_loads(TOP_OK, 0, &jerr);
    if (!root)
        abort();
    json_t *obj = where ? json_array_get(json_object_get(root, "alerts"), 0) : root;
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
        if (!v)
            abort(); /* a broken test case, not a parser result */
        json_object_set_new(obj, key, v);
    } else
        json_object_del(obj, key);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

struct bad_case {
    const char *name;
    const char *where; /* NULL: top level; "a": alerts[0] */
    const char *key, *value;
    const char *raw;   /* used instead of a variant when set */
    int rc;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {"empty body", NULL, NULL, NULL, "", RT_AM_EBADREQ, "invalid JSON at line 1"},
    {"not JSON", NULL, NULL, NULL, "hello", RT_AM_EBADREQ, "invalid JSON"},
    {"top-level array", NULL, NULL, NULL, "[]", RT_AM_EBADREQ, "payload: expected an object, got an array"},
    {"trailing garbage", NULL, NULL, NULL, TOP_OK "x", RT_AM_EBADREQ, "invalid JSON"},
    {"missing version", NULL, "version", NULL, NULL, RT_AM_EBADREQ, "version: missing"},
    {"version 3", NULL, "version", "\"3\"", NULL, RT_AM_EBADREQ, "version: unsupported \"3\""},
    {"version number", NULL, "version", "4", NULL, RT_AM_EBADREQ, "version: expected a string, got an integer"},
    {"status number", NULL, "status", "1", NULL, RT_AM_EBADREQ, "status: expected a string, got an integer"},
    {"status pending", NULL, "status", "\"pending\"", NULL, RT_AM_EBADREQ, "status: expected \"firing\" or"},
    {"receiver number", NULL, "receiver", "7", NULL, RT_AM_EBADREQ, "receiver: expected a string"},
    {"groupKey array", NULL, "groupKey", "[]", NULL, RT_AM_EBADREQ, "groupKey: expected a string, got an array"},
    {"externalURL null", NULL, "externalURL", "null", NULL, RT_AM_EBADREQ, "externalURL: expected a string, got null"},
    {"groupLabels array", NULL, "groupLabels", "[]", NULL, RT_AM_EBADREQ, "groupLabels: expected an object"},
    {"commonLabels value", NULL, "commonLabels", "{\"a\":1}", NULL, RT_AM_EBADREQ,
     "commonLabels.a: expected a string, got an integer"},
    {"commonAnnotations", NULL, "commonAnnotations", "\"x\"", NULL, RT_AM_EBADREQ, "commonAnnotations: expected an object"},
    {"truncatedAlerts string", NULL, "truncatedAlerts", "\"0\"", NULL, RT_AM_EBADREQ,
     "truncatedAlerts: expected an integer, got a string"},
    {"truncatedAlerts real", NULL, "truncatedAlerts", "1.5", NULL, RT_AM_EBADREQ, "truncatedAlerts: expected an integer"},
    {"truncatedAlerts negative", NULL, "truncatedAlerts", "-1", NULL, RT_AM_EBADREQ, "truncatedAlerts: negative"},
    {"alerts missing", NULL, "alerts", NULL, NULL, RT_AM_EBADREQ, "alerts: missing"},
    {"alerts object", NULL, "alerts", "{}", NULL, RT_AM_EBADREQ, "alerts: expected an array, got an object"},
    {"alert not object", NULL, "alerts", "[\"x\"]", NULL, RT_AM_EBADREQ, "alerts[0]: expected an object, got a string"},
    {"alert status missing", "a", "status", NULL, NULL, RT_AM_EBADREQ, "alerts[0].status: missing"},
    {"alert status pending", "a", "status", "\"pending\"", NULL, RT_AM_EBADREQ, "alerts[0].status: expected \"firing\""},
    {"alert status bool", "a", "status", "true", NULL, RT_AM_EBADREQ, "alerts[0].status: expected a string, got true"},
    {"labels missing", "a", "labels", NULL, NULL, RT_AM_EBADREQ, "alerts[0].labels: missing"},
    {"labels array", "a", "labels", "[]", NULL, RT_AM_EBADREQ, "alerts[0].labels: expected an object, got an array"},
    {"label value number", "a", "labels", "{\"bot\":5,\"severity\":\"P0\"}", NULL, RT_AM_EBADREQ,
     "alerts[0].labels.bot: expected a string, got an integer"},
    {"annotations array", "a", "annotations", "[]", NULL, RT_AM_EBADREQ, "alerts[0].annotations: expected an object"},
    {"annotation value null", "a", "annotations", "{\"summary\":null}", NULL, RT_AM_EBADREQ,
     "alerts[0].annotations.summary: expected a string, got null"},
    {"startsAt missing", "a", "startsAt", NULL, NULL, RT_AM_EBADREQ, "alerts[0].startsAt: missing"},
    {"startsAt words", "a", "startsAt", "\"yesterday\"", NULL, RT_AM_EBADREQ, "alerts[0].startsAt: not an RFC 3339 time"},
    {"startsAt no zone", "a", "startsAt", "\"2026-11-23T20:29:43\"", NULL, RT_AM_EBADREQ,
     "alerts[0].startsAt: not an RFC 3339 time"},
    {"startsAt number", "a", "startsAt", "1732400000", NULL, RT_AM_EBADREQ,
     "alerts[0].startsAt: expected a string, got an integer"},
    {"startsAt zero", "a", "startsAt", "\"0001-01-01T00:00:00Z\"", NULL, RT_AM_EBADREQ, "alerts[0].startsAt: zero time"},
    {"endsAt missing", "a", "endsAt", NULL, NULL, RT_AM_EBADREQ, "alerts[0].endsAt: missing"},
    {"endsAt month 13", "a", "endsAt", "\"2026-13-01T00:00:00Z\"", NULL, RT_AM_EBADREQ,
     "alerts[0].endsAt: not an RFC 3339 time"},
    {"generatorURL number", "a", "generatorURL", "5", NULL, RT_AM_EBADREQ, "alerts[0].generatorURL: expected a string"},
    {"fingerprint missing", "a", "fingerprint", NULL, NULL, RT_AM_EBADREQ, "alerts[0].fingerprint: missing"},
    {"fingerprint not hex", "a", "fingerprint", "\"xyz\"", NULL, RT_AM_EBADREQ,
     "alerts[0].fingerprint: expected 1 to 64 hex digits"},
    {"fingerprint empty", "a", "fingerprint", "\"\"", NULL, RT_AM_EBADREQ, "alerts[0].fingerprint: expected 1 to 64"},
    {"fingerprint 65", "a", "fingerprint",
     "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\"", NULL, RT_AM_EBADREQ,
     "alerts[0].fingerprint: expected 1 to 64 hex digits"},
    {"fingerprint null", "a", "fingerprint", "null", NULL, RT_AM_EBADREQ,
     "alerts[0].fingerprint: expected a string, got null"},
    {"invalid UTF-8", NULL, NULL, NULL,
     "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[],\"receiver\":\"w\xff\xfe\"}", RT_AM_EBADREQ,
     "invalid JSON"},
    {"overlong UTF-8", NULL, NULL, NULL, "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"\xc0\xaf\",\"alerts\":[]}",
     RT_AM_EBADREQ, "invalid JSON"},
    {"NUL escape", NULL, NULL, NULL, "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"a\\u0000b\",\"alerts\":[]}",
     RT_AM_EBADREQ, "invalid JSON"},
    {"duplicate key", NULL, NULL, NULL, "{\"version\":\"4\",\"version\":\"4\",\"status\":\"firing\",\"alerts\":[]}",
     RT_AM_EBADREQ, "duplicate object key"},
    {"number overflow", NULL, "truncatedAlerts", NULL,
     "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[],\"truncatedAlerts\":1e999}", RT_AM_EBADREQ,
     "invalid JSON"},
    {"non-ASCII key in message", NULL, "commonLabels", "{\"\u00e9t\u00e9\\n\":1}", NULL, RT_AM_EBADREQ,
     "commonLabels.??t???: expected a string"},
    {"control character in version", NULL, "version", "\"4\\n\"", NULL, RT_AM_EBADREQ, "unsupported \"4?\""},
    {"nested deep in annotations", "a", "annotations", "{\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}", NULL,
     RT_AM_EBADREQ, "alerts[0].annotations.x: expected a string, got an array"},
    {"no alerts", NULL, "alerts", "[]", NULL, RT_AM_EUNUSABLE, "no usable alert: the payload has no alerts"},
    {"not P0", "a", "labels", "{\"bot\":\"alpha\",\"severity\":\"P1\"}", NULL, RT_AM_EUNUSABLE,
     "no usable alert: 1 received, 1 not P0, 0 without"},
    {"no severity", "a", "labels", "{\"bot\":\"alpha\"}", NULL, RT_AM_EUNUSABLE, "1 not P0"},
    {"no bot label", "a", "labels", "{\"severity\":\"P0\"}", NULL, RT_AM_EUNUSABLE, "1 without a \"bot\" label"},
    {"empty bot label", "a", "labels", "{\"bot\":\"\",\"severity\":\"P0\"}", NULL, RT_AM_EUNUSABLE,
     "1 without a \"bot\" label"},
    {"invalid bot id", "a", "labels", "{\"bot\":\"-alpha\",\"severity\":\"P0\"}", NULL, RT_AM_EUNUSABLE,
     "1 with an invalid bot id"},
    {"bot id too long", "a", "labels",
     "{\"bot\":\"b1234567890123456789012345678901234567890123456789012345678901234\",\"severity\":\"P0\"}", NULL,
     RT_AM_EUNUSABLE, "1 with an invalid bot id"},
};

TEST(webhook_malformed_table) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    CHECK(ELEMENTSOF(bad_cases) >= 20);
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        _cleanup_free_ char *owned = c->raw ? NULL : variant(c->where, c->key, c->value);
        const char *body = c->raw ? c->raw : owned;
        REQUIRE(body);
        struct rt_am_webhook w;
        char err[RT_AM_ERR_MAX] = "";
        int r = rt_am_webhook_parse(body, strlen(body), &cfg.c, &w, err, sizeof err);
        if (r != c->rc || !strstr(err, c->msg)) {
            fprintf(stderr, "    case \"%s\": rc %d (want %d), err \"%s\" (want \"%s\")\n", c->name, r, c->rc, err,
                    c->msg);
            rt_test_failed = 1;
        }
        CHECK_EQ_INT(rt_am_http_status(r), c->rc == RT_AM_EBADREQ ? 400 : 422);
        CHECK(w.list.n_alerts == 0);
        rt_am_webhook_free(&w);
    }
    /* The unmodified template is accepted, so every case above fails for its own reason. */
    _cleanup_free_ char *ok = variant(NULL, "receiver", "\"wd\"");
    struct rt_am_webhook w;
    char err[RT_AM_ERR_MAX];
    CHECK_EQ_INT(rt_am_webhook_parse(ok, strlen(ok), &cfg.c, &w, err, sizeof err), 0);
    CHECK_EQ_INT(w.list.n_alerts, 1);
    rt_am_webhook_free(&w);
    rt_am_matchers_free(&cfg.m);
}

TEST(webhook_truncated_json_every_prefix) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    size_t len;
    _cleanup_free_ char *body = read_sample("webhook-firing-two.json", &len);
    REQUIRE(body);
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == ' '))
        len--; /* Alertmanager ends the body with a newline */
    for (size_t cut = 0; cut < len; cut++) {
        struct rt_am_webhook w;
        char err[RT_AM_ERR_MAX] = "";
        int r = rt_am_webhook_parse(body, cut, &cfg.c, &w, err, sizeof err);
        if (r != RT_AM_EBADREQ || !strstr(err, "invalid JSON")) {
            fprintf(stderr, "    cut %zu: %d %s\n", cut, r, err);
            rt_test_failed = 1;
        }
        rt_am_webhook_free(&w);
    }
    rt_am_matchers_free(&cfg.m);
}

/* Builds {"version":"4","status":"firing","alerts":[ALERT x n]}. */
static char *many_alerts(size_t n) {
    size_t one = strlen(ALERT_OK) + 1, cap = 64 + n * one;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t pos = (size_t)snprintf(s, cap, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[");
    for (size_t i = 0; i < n; i++)
        pos += (size_t)snprintf(s + pos, cap - pos, "%s" ALERT_OK, i ? "," : "");
    snprintf(s + pos, cap - pos, "]}");
    return s;
}

TEST(webhook_limits) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    struct rt_am_webhook w;
    char err[RT_AM_ERR_MAX] = "";

    _cleanup_free_ char *max = many_alerts(RT_AM_MAX_ALERTS);
    REQUIRE(max);
    CHECK_EQ_INT(rt_am_webhook_parse(max, strlen(max), &cfg.c, &w, err, sizeof err), 0);
    CHECK_EQ_INT(w.list.n_alerts, RT_AM_MAX_ALERTS);
    rt_am_webhook_free(&w);

    _cleanup_free_ char *over = many_alerts(RT_AM_MAX_ALERTS + 1);
    REQUIRE(over);
    CHECK_EQ_INT(rt_am_webhook_parse(over, strlen(over), &cfg.c, &w, err, sizeof err), RT_AM_EBADREQ);
    CHECK_EQ_STR(err, "alerts: more than 10000 alerts");
    rt_am_webhook_free(&w);

    /* Nesting deeper than jansson's limit is refused while parsing. */
    size_t depth = 5000;
    _cleanup_free_ char *deep = malloc(2 * depth + 128);
    REQUIRE(deep);
    size_t pos = (size_t)sprintf(deep, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":");
    memset(deep + pos, '[', depth);
    memset(deep + pos + depth, ']', depth);
    strcpy(deep + pos + 2 * depth, "}");
    CHECK_EQ_INT(rt_am_webhook_parse(deep, strlen(deep), &cfg.c, &w, err, sizeof err), RT_AM_EBADREQ);
    CHECK(strstr(err, "maximum parsing depth") != NULL);
    rt_am_webhook_free(&w);

    /* Bodies above RT_AM_MAX_BODY are refused before parsing. */
    size_t big = RT_AM_MAX_BODY + 1;
    _cleanup_free_ char *huge = calloc(1, big);
    REQUIRE(huge);
    CHECK_EQ_INT(rt_am_webhook_parse(huge, big, &cfg.c, &w, err, sizeof err), RT_AM_ETOOLARGE);
    CHECK_EQ_INT(rt_am_http_status(RT_AM_ETOOLARGE), 413);
    rt_am_webhook_free(&w);

    /* Errors in later alerts name their index. */
    _cleanup_free_ char *three = many_alerts(3);
    REQUIRE(three);
    char *second = strstr(strstr(strstr(three, "startsAt") + 1, "startsAt"), "2026-11-23T20");
    REQUIRE(second);
    memcpy(second, "2026-11-23X20", 13);
    CHECK_EQ_INT(rt_am_webhook_parse(three, strlen(three), &cfg.c, &w, err, sizeof err), RT_AM_EBADREQ);
    CHECK_EQ_STR(err, "alerts[1].startsAt: not an RFC 3339 time");
    rt_am_webhook_free(&w);
    rt_am_matchers_free(&cfg.m);
}

TEST(webhook_field_normalisation) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    /* 127 ASCII bytes then a 2-byte character: cut before the character. */
    char name[160];
    memset(name, 'n', 127);
    strcpy(name + 127, "\xc3\xa9tail");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
             "\"labels\":{\"alertname\":\"%s\",\"bot\":\"alpha\",\"severity\":\"P0\"},"
             "\"startsAt\":\"2026-11-23T20:29:43+02:00\",\"endsAt\":\"0001-01-01T00:00:00Z\","
             "\"fingerprint\":\"E7D558E15C1E5566\"}]}",
             name);
    struct rt_am_webhook w;
    char err[RT_AM_ERR_MAX];
    REQUIRE(rt_am_webhook_parse(body, strlen(body), &cfg.c, &w, err, sizeof err) == 0);
    CHECK_EQ_INT(strlen(w.list.alerts[0].alertname), 127);
    CHECK_EQ_STR(w.list.alerts[0].fingerprint, "e7d558e15c1e5566");
    CHECK_EQ_INT(w.list.alerts[0].starts_at_us, T("2026-11-23T18:29:43Z"));
    CHECK_EQ_STR(w.receiver, "");
    rt_am_webhook_free(&w);
    rt_am_matchers_free(&cfg.m);
}

/* ------------------------------------ scanner and jansson path agree */


/* Blanks between tokens: usually none, as Alertmanager writes. */
static void gen_ws(struct rt_strbuf *b) {
    static const char *const ws[] = {" ", "\n", "\t", "\r\n  ", "  "};
    if (rt_gen_below(8) == 0)
        rt_sb_puts(b, RT_GEN_PICK(ws));
}

/* String texts (with their quotes): plain, escaped, non-ASCII, broken. */
static const char *const strings[] = {
    "\"alpha\"", "\"\"", "\"P0\"", "\"x\"", "\"a\\\"b\"", "\"a\\\\b\"", "\"a\\/b\"", "\"\\b\\f\\n\\r\\t\"",
    "\"\\u0041\"", "\"\\u00e9\"", "\"\\u20AC\"", "\"\\u0000\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\x\"",
    "\"\\u12\"", "\"caf\xc3\xa9\"", "\"\xff\"", "\"\xc0\xaf\"", "\"a\tb\"", "\"http://h/g?x=1\\u0026y=2\"",
    "\"{}:{bot=\\\"alpha\\\"}\"",
};
static const char *const bots[] = {"\"alpha\"", "\"beta-2\"", "\"-bad\"", "\"\"", "\"al\\u0070ha\"",
                                   "\"b1234567890123456789012345678901234567890123456789012345678901234\""};
static const char *const severities[] = {"\"P0\"", "\"P1\"", "\"critical\"", "\"P\\u0030\"", "\"\""};
static const char *const times[] = {
    "\"2026-11-23T20:29:43.421899993Z\"", "\"2026-11-23T20:29:43+02:00\"", "\"0001-01-01T00:00:00Z\"",
    "\"2026-11-23T20:29:43\"", "\"yesterday\"", "\"2026-13-01T00:00:00Z\"", "\"2026-11-23T20:29:43.5Z\"", "1"};
static const char *const fingerprints[] = {"\"e7d558e15c1e5566\"", "\"E7D558E15C1E5566\"", "\"xyz\"", "\"\"",
                                           "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
                                           "\"\\u0061bc\"", "null"};
static const char *const statuses[] = {"\"firing\"", "\"resolved\"", "\"pending\"", "\"fir\\u0069ng\"", "true"};
static const char *const other_values[] = {"null", "1", "[]", "{}", "{\"a\":1}", "1.5", "-1", "true"};
static const char *const counts[] = {"0", "7", "-1", "1.5", "01", "1e2", "123456789012345678", "1234567890123456789",
                                     "99999999999999999999", "-0", "0.0"};
static const char *const label_names[] = {"alertname", "bot", "severity", "team", "instance", "b\\u006ft", "",
                                          "\xc3\xa9t\xc3\xa9"};

/* A value for a member: usually the first (usual) one, else another of the
 * expected kind, sometimes anything. */
static const char *maybe(const char *const *good, size_t n) {
    unsigned r = rt_gen_below(64);
    return r < 56 ? good[0] : r < 63 ? rt_gen_pick(good, n) : RT_GEN_PICK(other_values);
}
#define MAYBE(arr) maybe(arr, ELEMENTSOF(arr))

static void gen_member(struct rt_strbuf *b, bool *first, const char *key, const char *value) {
    rt_sb_printf(b, "%s", *first ? "" : ",");
    gen_ws(b);
    rt_sb_printf(b, "\"%s\"", key);
    gen_ws(b);
    rt_sb_puts(b, ":");
    gen_ws(b);
    rt_sb_puts(b, value);
    gen_ws(b);
    *first = false;
}

static void gen_labels(struct rt_strbuf *b) {
    rt_sb_puts(b, "{");
    bool first = true;
    if (rt_gen_below(8))
        gen_member(b, &first, "alertname", rt_gen_below(4) ? "\"P0Down\"" : MAYBE(strings));
    if (rt_gen_below(8))
        gen_member(b, &first, "bot", MAYBE(bots));
    if (rt_gen_below(8))
        gen_member(b, &first, "severity", MAYBE(severities));
    static const char *const extra[] = {"team", "instance", "job"};
    for (unsigned n = rt_gen_below(4) == 0 ? rt_gen_below(4) : 0; n > 0; n--)
        gen_member(b, &first, rt_gen_below(8) ? extra[n - 1] : RT_GEN_PICK(label_names), MAYBE(strings));
    if (rt_gen_below(20) == 0)
        gen_member(b, &first, "bot", "\"alpha\""); /* maybe a duplicate */
    rt_sb_puts(b, "}");
}

static void gen_map(struct rt_strbuf *b) {
    if (rt_gen_below(12) == 0) {
        rt_sb_puts(b, RT_GEN_PICK(other_values));
        return;
    }
    rt_sb_puts(b, "{");
    bool first = true;
    static const char *const names[] = {"summary", "description", "runbook"};
    for (unsigned n = rt_gen_below(4); n > 0; n--)
        gen_member(b, &first, rt_gen_below(8) ? names[n - 1] : RT_GEN_PICK(label_names), MAYBE(strings));
    rt_sb_puts(b, "}");
}


static void gen_alert(struct rt_strbuf *b) {
    rt_sb_puts(b, "{");
    bool first = true;
    unsigned order = rt_gen_below(2);
    if (rt_gen_below(30))
        gen_member(b, &first, "status", rt_gen_below(3) ? "\"firing\"" : MAYBE(statuses));
    if (rt_gen_below(30)) {
        struct rt_strbuf l = {0};
        if (rt_gen_below(12))
            gen_labels(&l);
        else
            rt_sb_puts(&l, RT_GEN_PICK(other_values));
        gen_member(b, &first, "labels", l.s ? l.s : "{}");
        rt_sb_free(&l);
    }
    if (rt_gen_below(3)) {
        struct rt_strbuf m = {0};
        gen_map(&m);
        gen_member(b, &first, "annotations", m.s ? m.s : "{}");
        rt_sb_free(&m);
    }
    if (order)
        gen_member(b, &first, "fingerprint", rt_gen_below(3) ? "\"e7d558e15c1e5566\"" : MAYBE(fingerprints));
    if (rt_gen_below(30))
        gen_member(b, &first, "startsAt", MAYBE(times));
    if (rt_gen_below(30))
        gen_member(b, &first, "endsAt", rt_gen_below(3) ? times[2] : MAYBE(times));
    if (rt_gen_below(2))
        gen_member(b, &first, "generatorURL", MAYBE(strings));
    if (!order && rt_gen_below(30))
        gen_member(b, &first, "fingerprint", rt_gen_below(3) ? "\"e7d558e15c1e5566\"" : MAYBE(fingerprints));
    if (rt_gen_below(30) == 0)
        gen_member(b, &first, rt_gen_below(2) ? "status" : "extra", "\"resolved\"");
    rt_sb_puts(b, "}");
}

static void gen_webhook(struct rt_strbuf *b) {
    gen_ws(b);
    rt_sb_puts(b, "{");
    bool first = true;
    if (rt_gen_below(2))
        gen_member(b, &first, "receiver", MAYBE(strings));
    if (rt_gen_below(30))
        gen_member(b, &first, "status", rt_gen_below(3) ? "\"firing\"" : MAYBE(statuses));
    if (rt_gen_below(30)) {
        struct rt_strbuf a = {0};
        rt_sb_puts(&a, "[");
        for (unsigned n = rt_gen_below(5), i = 0; i < n; i++) {
            if (i)
                rt_sb_puts(&a, ",");
            gen_ws(&a);
            gen_alert(&a);
        }
        rt_sb_puts(&a, "]");
        gen_member(b, &first, "alerts", rt_gen_below(20) ? a.s : RT_GEN_PICK(other_values));
        rt_sb_free(&a);
    }
    static const char *const maps[] = {"groupLabels", "commonLabels", "commonAnnotations"};
    for (size_t i = 0; i < ELEMENTSOF(maps); i++)
        if (rt_gen_below(2)) {
            struct rt_strbuf m = {0};
            gen_map(&m);
            gen_member(b, &first, maps[i], m.s ? m.s : "{}");
            rt_sb_free(&m);
        }
    if (rt_gen_below(2))
        gen_member(b, &first, "externalURL", MAYBE(strings));
    if (rt_gen_below(30))
        gen_member(b, &first, "version", rt_gen_below(8) ? "\"4\"" : rt_gen_below(2) ? "\"3\"" : "4");
    if (rt_gen_below(2))
        gen_member(b, &first, "groupKey", MAYBE(strings));
    if (rt_gen_below(2))
        gen_member(b, &first, "truncatedAlerts", rt_gen_below(3) ? "0" : RT_GEN_PICK(counts));
    if (rt_gen_below(30) == 0)
        gen_member(b, &first, rt_gen_below(2) ? "version" : "unknown", "\"4\"");
    rt_sb_puts(b, "}");
    gen_ws(b);
}

/* What mutations insert: JSON structure, escapes, digits, and bytes outside
 * the scanner's subset. */
static const char mutation_bytes[] = "{}[]\":,\\ 0019aeEfu-.+\n\x7f\x80\xc3\xa9";

static bool same_alert(const struct rt_am_alert *a, const struct rt_am_alert *b) {
    return strcmp(a->fingerprint, b->fingerprint) == 0 && strcmp(a->bot, b->bot) == 0 &&
           strcmp(a->alertname, b->alertname) == 0 && a->firing == b->firing && a->starts_at_us == b->starts_at_us &&
           a->has_ends_at == b->has_ends_at && a->ends_at_us == b->ends_at_us && a->state == b->state &&
           a->silenced == b->silenced && a->inhibited == b->inhibited && a->has_updated_at == b->has_updated_at &&
           a->updated_at_us == b->updated_at_us;
}

static bool same_webhook(const struct rt_am_webhook *a, const struct rt_am_webhook *b) {
    const struct rt_am_alert_list *x = &a->list, *y = &b->list;
    if (strcmp(a->receiver, b->receiver) != 0 || a->firing != b->firing || a->version != b->version ||
        strcmp(a->group_key, b->group_key) != 0 || a->truncated_alerts != b->truncated_alerts ||
        x->n_alerts != y->n_alerts || x->n_received != y->n_received || x->n_ignored != y->n_ignored)
        return false;
    for (size_t i = 0; i < RT_AM_IGN_COUNT; i++)
        if (x->ignored[i] != y->ignored[i])
            return false;
    for (size_t i = 0; i < x->n_alerts; i++)
        if (!same_alert(&x->alerts[i], &y->alerts[i]))
            return false;
    return true;
}

static size_t agree_ok; /* bodies both paths accepted */

static bool webhook_paths_agree(const char *body, size_t len, const struct rt_am_config *cfg) {
    struct rt_am_webhook w, ref;
    char err[RT_AM_ERR_MAX], ref_err[RT_AM_ERR_MAX];
    int r = rt_am_webhook_parse(body, len, cfg, &w, err, sizeof err);
    int rr = rt_am_webhook_parse_jansson(body, len, cfg, &ref, ref_err, sizeof ref_err);
    bool same = r == rr && strcmp(err, ref_err) == 0 && same_webhook(&w, &ref);
    if (!same)
        fprintf(stderr, "    paths differ on \"%.*s\": %d \"%s\" vs jansson %d \"%s\"\n", (int)(len < 300 ? len : 300),
                body, r, err, rr, ref_err);
    agree_ok += r == 0;
    rt_am_webhook_free(&w);
    rt_am_webhook_free(&ref);
    return same;
}

TEST(webhook_scanner_and_jansson_agree) {
    rt_gen_seed(0x9e3779b97f4a7c15u);
    struct cfg p0, re;
    REQUIRE(cfg_init(&p0, "severity=\"P0\"", "bot"));
    REQUIRE(cfg_init(&re, "{severity=~\"P0|critical\", team!=\"test\"}", "bot"));
    struct rt_am_config all = {.p0 = NULL, .bot_label = "alertname"}; /* every alert is P0 */
    const struct rt_am_config *cfgs[] = {&p0.c, &re.c, &all};
    int bad = 0;
    size_t bodies = 0;
    agree_ok = 0;
    for (int i = 0; i < 20000 && bad < 5; i++) {
        struct rt_strbuf b = {0};
        gen_webhook(&b);
        REQUIRE(!b.oom);
        char buf[8192];
        size_t len = b.len < sizeof buf ? b.len : sizeof buf - 1;
        memcpy(buf, b.s, len);
        rt_sb_free(&b);
        for (int m = 0; m < 3 && bad < 5; m++) {
            for (size_t c = 0; c < ELEMENTSOF(cfgs); c++)
                bad += !webhook_paths_agree(buf, len, cfgs[c]);
            bodies++;
            for (unsigned k = rt_gen_below(3) + 1; k > 0; k--)
                len = rt_gen_mutate(buf, len, sizeof buf, mutation_bytes);
        }
    }
    CHECK(bad == 0);
    CHECK(bodies >= 60000);
    if (agree_ok < 4000)
        fprintf(stderr, "    only %zu accepted bodies\n", agree_ok);
    CHECK(agree_ok >= 4000); /* the generator makes enough valid payloads */
    rt_am_matchers_free(&p0.m);
    rt_am_matchers_free(&re.m);
}

/* The captures and the limit cases through both paths. */
TEST(webhook_scanner_and_jansson_agree_on_samples) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    static const char *const files[] = {
        "webhook-firing.json", "webhook-firing-two.json", "webhook-info-alert.json", "webhook-no-bot.json",
        "webhook-not-p0.json", "webhook-one-resolved-one-firing.json", "webhook-prometheus-firing.json",
        "webhook-prometheus-resolved.json", "webhook-resolved-no-bot.json", "webhook-resolved-timeout.json",
        "webhook-resolved.json", "webhook-truncated.json", "webhook-uninhibited.json"};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        size_t len;
        _cleanup_free_ char *body = read_sample(files[i], &len);
        REQUIRE(body);
        CHECK(webhook_paths_agree(body, len, &cfg.c));
    }
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        _cleanup_free_ char *owned = c->raw ? NULL : variant(c->where, c->key, c->value);
        const char *body = c->raw ? c->raw : owned;
        REQUIRE(body);
        CHECK(webhook_paths_agree(body, strlen(body), &cfg.c));
    }
    static const size_t sizes[] = {1, 200, 10000, 10001};
    for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
        _cleanup_free_ char *body = many_alerts(sizes[i]);
        REQUIRE(body);
        CHECK(webhook_paths_agree(body, strlen(body), &cfg.c));
    }
    rt_am_matchers_free(&cfg.m);
}

/* The usual payload never reaches jansson. */
static size_t jansson_allocs;
static void *counting_malloc(size_t n) {
    jansson_allocs++;
    return malloc(n);
}

TEST(usual_webhook_skips_jansson) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    static const char *const files[] = {"webhook-firing.json", "webhook-firing-two.json", "webhook-resolved.json",
                                        "webhook-prometheus-firing.json", "webhook-not-p0.json"};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        size_t len;
        _cleanup_free_ char *body = read_sample(files[i], &len);
        REQUIRE(body);
        struct rt_am_webhook w;
        char err[RT_AM_ERR_MAX];
        jansson_allocs = 0;
        json_set_alloc_funcs(counting_malloc, free);
        int r = rt_am_webhook_parse(body, len, &cfg.c, &w, err, sizeof err);
        json_set_alloc_funcs(malloc, free);
        CHECK(r == 0 || r == RT_AM_EUNUSABLE);
        if (jansson_allocs != 0) {
            fprintf(stderr, "    %s: %zu jansson allocations\n", files[i], jansson_allocs);
            rt_test_failed = 1;
        }
        rt_am_webhook_free(&w);
    }
    rt_am_matchers_free(&cfg.m);
}

/* ------------------------------------------------------ /api/v2/alerts */

TEST(api_real_capture_with_silenced_and_inhibited) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    size_t len;
    _cleanup_free_ char *body = read_sample("api-alerts-p0-filter.json", &len);
    REQUIRE(body);
    struct rt_am_alert_list l;
    char err[RT_AM_ERR_MAX];
    REQUIRE(rt_am_alerts_parse(body, len, &cfg.c, &l, err, sizeof err) == 0);
    CHECK_EQ_INT(l.n_received, 5);
    CHECK_EQ_INT(l.n_alerts, 4);
    CHECK_EQ_INT(l.ignored[RT_AM_IGN_NO_BOT], 1); /* ClusterDown has no bot label */
    int seen = 0;
    for (size_t i = 0; i < l.n_alerts; i++) {
        const struct rt_am_alert *a = &l.alerts[i];
        CHECK(a->firing);
        CHECK(a->has_ends_at);
        CHECK(a->has_updated_at);
        if (strcmp(a->bot, "delta") == 0) {
            seen |= 1;
            CHECK(a->silenced);
            CHECK(!a->inhibited);
            CHECK_EQ_INT(a->state, RT_AM_STATE_SUPPRESSED);
            CHECK_EQ_STR(a->fingerprint, "43d299576ebdb814");
        } else if (strcmp(a->bot, "gamma") == 0) {
            seen |= 2;
            CHECK(!a->silenced);
            CHECK(a->inhibited);
            CHECK_EQ_INT(a->state, RT_AM_STATE_SUPPRESSED);
        } else if (strcmp(a->fingerprint, "e7d558e15c1e5566") == 0) {
            seen |= 4;
            CHECK_EQ_STR(a->bot, "alpha");
            CHECK_EQ_INT(a->state, RT_AM_STATE_ACTIVE);
            CHECK_EQ_INT(a->starts_at_us, T("2026-11-24T09:02:22.537999Z")); /* the millisecond's end */
            CHECK_EQ_INT(a->ends_at_us, T("2026-11-24T09:07:22.537Z"));
            CHECK(!a->silenced && !a->inhibited);
        }
    }
    CHECK_EQ_INT(seen, 7);
    rt_am_alert_list_free(&l);
    rt_am_matchers_free(&cfg.m);
}

TEST(api_other_real_captures) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    static const struct {
        const char *file;
        size_t received, usable, not_p0, no_bot;
    } cases[] = {
        {"api-alerts-all.json", 7, 4, 2, 1},
        {"api-alerts-prometheus.json", 4, 4, 0, 0},
        {"api-alerts-empty.json", 0, 0, 0, 0},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        size_t len;
        _cleanup_free_ char *body = read_sample(cases[i].file, &len);
        REQUIRE(body);
        struct rt_am_alert_list l;
        char err[RT_AM_ERR_MAX];
        int r = rt_am_alerts_parse(body, len, &cfg.c, &l, err, sizeof err);
        CHECK_EQ_INT(r, 0);
        CHECK_EQ_INT(l.n_received, cases[i].received);
        CHECK_EQ_INT(l.n_alerts, cases[i].usable);
        CHECK_EQ_INT(l.ignored[RT_AM_IGN_NOT_P0], cases[i].not_p0);
        CHECK_EQ_INT(l.ignored[RT_AM_IGN_NO_BOT], cases[i].no_bot);
        rt_am_alert_list_free(&l);
    }
    rt_am_matchers_free(&cfg.m);
}

#define API_OK                                                                                          \
    "{\"annotations\":{},\"endsAt\":\"2026-11-24T09:07:33.357Z\",\"fingerprint\":\"43d299576ebdb814\","   \
    "\"receivers\":[{\"name\":\"wd\"}],\"startsAt\":\"2026-11-24T09:02:33.357Z\",\"status\":{\"inhibitedBy\":[]," \
    "\"silencedBy\":[\"ff097953\"],\"state\":\"suppressed\"},\"updatedAt\":\"2026-11-24T09:02:33.357Z\","   \
    "\"labels\":{\"alertname\":\"P0Down\",\"bot\":\"delta\",\"severity\":\"P0\"}}"

TEST(api_malformed) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"{}", "response: expected an array, got an object"},
        {"[1]", "[0]: expected an object, got an integer"},
        {"[" API_OK ",{}]", "[1].labels: missing"},
        {"[{\"labels\":{},\"startsAt\":\"x\"}]", "[0].startsAt: not an RFC 3339 time"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"ab\"}]",
         "[0].status: missing"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"ab\",\"status\":{\"state\":\"resolved\",\"silencedBy\":[],\"inhibitedBy\":[]}}]",
         "[0].status.state: expected active, suppressed or unprocessed"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"ab\",\"status\":{\"state\":\"active\",\"silencedBy\":{},\"inhibitedBy\":[]}}]",
         "[0].status.silencedBy: expected an array, got an object"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"ab\",\"status\":{\"state\":\"active\",\"silencedBy\":[],\"inhibitedBy\":[3]}}]",
         "[0].status.inhibitedBy[0]: expected a string, got an integer"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"ab\",\"status\":{\"state\":\"active\",\"silencedBy\":[]}}]",
         "[0].status.inhibitedBy: missing"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"zz\"}]",
         "[0].fingerprint: expected 1 to 64 hex digits"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"updatedAt\":5,\"fingerprint\":\"ab\"}]",
         "[0].updatedAt: expected a string, got an integer"},
        {"[{\"labels\":{},\"startsAt\":\"2026-11-24T09:02:33Z\",\"endsAt\":\"2026-11-24T09:02:33Z\","
         "\"fingerprint\":\"ab\",\"receivers\":{},\"status\":{\"state\":\"active\",\"silencedBy\":[],"
         "\"inhibitedBy\":[]}}]",
         "[0].receivers: expected an array, got an object"},
        {"[" API_OK, "invalid JSON"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct rt_am_alert_list l;
        char err[RT_AM_ERR_MAX] = "";
        int r = rt_am_alerts_parse(cases[i].body, strlen(cases[i].body), &cfg.c, &l, err, sizeof err);
        if (r != RT_AM_EBADREQ || !strstr(err, cases[i].msg)) {
            fprintf(stderr, "    case %zu: rc %d err \"%s\" (want \"%s\")\n", i, r, err, cases[i].msg);
            rt_test_failed = 1;
        }
        rt_am_alert_list_free(&l);
    }
    /* The valid element alone parses; a list with nothing usable is fine. */
    struct rt_am_alert_list l;
    char err[RT_AM_ERR_MAX];
    CHECK_EQ_INT(rt_am_alerts_parse("[" API_OK "]", strlen("[" API_OK "]"), &cfg.c, &l, err, sizeof err), 0);
    CHECK_EQ_INT(l.n_alerts, 1);
    rt_am_alert_list_free(&l);
    rt_am_matchers_free(&cfg.m);
    REQUIRE(cfg_init(&cfg, "severity=\"P1\"", "bot"));
    CHECK_EQ_INT(rt_am_alerts_parse("[" API_OK "]", strlen("[" API_OK "]"), &cfg.c, &l, err, sizeof err), 0);
    CHECK_EQ_INT(l.n_alerts, 0);
    CHECK_EQ_INT(l.ignored[RT_AM_IGN_NOT_P0], 1);
    rt_am_alert_list_free(&l);
    rt_am_matchers_free(&cfg.m);
}

/* The API truncates times to the millisecond. A poll takes the last
 * microsecond a startsAt allows, so that a window it opens never starts
 * before the alert did: chaos/1-watchdog-crash.sh found a demotion 0.4 ms
 * early when the poll, not the webhook, brought the alert. */
TEST(api_starts_at_latest_instant) {
    struct cfg cfg;
    REQUIRE(cfg_init(&cfg, "severity=\"P0\"", "bot"));
    static const struct {
        const char *starts, *want;
    } cases[] = {
        {"2026-11-24T09:02:33.357Z", "2026-11-24T09:02:33.357999Z"},
        {"2026-11-24T09:02:33Z", "2026-11-24T09:02:33.999999Z"},
        {"2026-11-24T09:02:33.5+01:00", "2026-11-24T08:02:33.599999Z"},
        {"2026-11-24T09:02:33.357123Z", "2026-11-24T09:02:33.357123Z"},
        {"2026-11-24T09:02:33.357123999Z", "2026-11-24T09:02:33.357123Z"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "[{\"annotations\":{},\"endsAt\":\"2026-11-24T09:07:33.357Z\",\"fingerprint\":\"43d2\","
                 "\"startsAt\":\"%s\",\"status\":{\"inhibitedBy\":[],\"silencedBy\":[],\"state\":\"active\"},"
                 "\"labels\":{\"alertname\":\"P0Down\",\"bot\":\"delta\",\"severity\":\"P0\"}}]",
                 cases[i].starts);
        struct rt_am_alert_list l;
        char err[RT_AM_ERR_MAX] = "";
        CHECK_EQ_INT(rt_am_alerts_parse(body, strlen(body), &cfg.c, &l, err, sizeof err), 0);
        CHECK_EQ_INT(l.n_alerts, 1);
        if (l.n_alerts == 1)
            CHECK_EQ_INT(l.alerts[0].starts_at_us, T(cases[i].want));
        rt_am_alert_list_free(&l);
    }
    rt_am_matchers_free(&cfg.m);
}

/* GET /api/v2/status: "uptime" is when Alertmanager started (sources.c
 * uses it to tell a restart that forgot its alerts from resolves). */
TEST(api_status_start_time) {
    size_t len;
    _cleanup_free_ char *body = read_sample("api-status.json", &len);
    REQUIRE(body);
    int64_t started = 1, want = 0;
    char err[RT_AM_ERR_MAX] = "";
    REQUIRE(rt_time_parse("2026-11-24T15:34:01.163Z", &want) == 0);
    CHECK_EQ_INT(rt_am_status_parse(body, len, &started, err, sizeof err), 0);
    CHECK_EQ_INT(started, want);
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"[]", "response: expected an object, got an array"},
        {"{}", "uptime: missing"},
        {"{\"uptime\":3}", "uptime: expected a string, got an integer"},
        {"{\"uptime\":\"5h3m\"}", "uptime: not an RFC 3339 time"},
        {"{\"uptime\":\"0001-01-01T00:00:00Z\"}", "uptime: zero time"},
        {"{\"uptime\":\"2026-11-24T15:34:01Z\",\"uptime\":\"2026-11-24T15:34:01Z\"}", "invalid JSON"},
        {"{\"uptime\":\"2026-11-24T15:34:01Z\"", "invalid JSON"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        err[0] = '\0';
        int r = rt_am_status_parse(cases[i].body, strlen(cases[i].body), &started, err, sizeof err);
        if (r != RT_AM_EBADREQ || !strstr(err, cases[i].msg) || started != 0) {
            fprintf(stderr, "    case %zu: rc %d err \"%s\" (want \"%s\")\n", i, r, err, cases[i].msg);
            rt_test_failed = 1;
        }
    }
}

TEST(names_and_status_codes) {
    CHECK_EQ_STR(rt_am_ignore_name(RT_AM_IGN_NOT_P0), "not_p0");
    CHECK_EQ_STR(rt_am_ignore_name(RT_AM_IGN_NO_BOT), "no_bot");
    CHECK_EQ_STR(rt_am_ignore_name(RT_AM_IGN_BAD_BOT), "bad_bot");
    CHECK_EQ_STR(rt_am_state_name(RT_AM_STATE_SUPPRESSED), "suppressed");
    CHECK_EQ_STR(rt_am_state_name(RT_AM_STATE_UNPROCESSED), "unprocessed");
    CHECK_EQ_INT(rt_am_http_status(0), 200);
    CHECK_EQ_INT(rt_am_http_status(RT_AM_EBADREQ), 400);
    CHECK_EQ_INT(rt_am_http_status(RT_AM_EUNUSABLE), 422);
    CHECK_EQ_INT(rt_am_http_status(-ENOMEM), 500);
}

TEST_MAIN()
