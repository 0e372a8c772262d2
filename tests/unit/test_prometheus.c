/* feeds/prometheus.c: real Prometheus 2.42 responses captured on this
 * machine (tests/samples/prometheus/, see its README.md), a table of
 * malformed bodies, merging of duplicate series, limits, the check that
 * the streaming path and the whole-document path agree, and a differential
 * test of the vector scanner against jansson. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/util.h"
#include "feeds/prometheus.h"
#include "tests/unit/harness.h"
#include "tests/unit/jsongen.h"

#define SAMPLES "tests/samples/prometheus/"
/* Sample time of the captured responses (see the README). */
#define T0 INT64_C(1795511014)
#define US(sec, ms) ((INT64_C(sec)) * 1000000 + (ms) * 1000)

static char *read_sample(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, SAMPLES "%s", name);
    _cleanup_fclose_ FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    if (!buf)
        return NULL;
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    return buf;
}

static int parse_sample(const char *name, const struct rt_prom_opts *opts, struct rt_prom_result *res) {
    size_t len = 0;
    _cleanup_free_ char *body = read_sample(name, &len);
    if (!body) {
        fprintf(stderr, "    cannot read %s\n", name);
        memset(res, 0, sizeof *res);
        return -ENOENT;
    }
    return rt_prom_parse(body, len, opts, res);
}

static int parse_str(const char *body, const struct rt_prom_opts *opts, struct rt_prom_result *res) {
    return rt_prom_parse(body, strlen(body), opts, res);
}

static const struct rt_prom_sample *find(const struct rt_prom_result *r, const char *bot, int64_t ts) {
    for (size_t i = 0; i < r->n_samples; i++)
        if (strcmp(r->samples[i].bot, bot) == 0 && r->samples[i].ts_us == ts)
            return &r->samples[i];
    return NULL;
}

static void check_known(const struct rt_prom_result *r, const char *bot, int64_t ts, double v) {
    const struct rt_prom_sample *s = find(r, bot, ts);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "    no sample for %s at %lld\n", bot, (long long)ts);
        return;
    }
    CHECK(s->known);
    if (s->value != v) {
        fprintf(stderr, "    %s: %.17g != %.17g\n", bot, s->value, v);
        rt_test_failed = 1;
    }
}

static void check_unknown(const struct rt_prom_result *r, const char *bot, int64_t ts) {
    const struct rt_prom_sample *s = find(r, bot, ts);
    CHECK(s != NULL);
    if (s)
        CHECK(!s->known);
}

static bool sorted(const struct rt_prom_result *r) {
    for (size_t i = 1; i < r->n_samples; i++) {
        int c = strcmp(r->samples[i - 1].bot, r->samples[i].bot);
        if (c > 0 || (c == 0 && r->samples[i - 1].ts_us >= r->samples[i].ts_us))
            return false;
    }
    return true;
}

/* ---- real responses ---- */

TEST(vector_error_ratio) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    REQUIRE(parse_sample("vector-error-ratio.json", NULL, &r) == 0);
    CHECK_EQ_INT(r.type, RT_PROM_TYPE_VECTOR);
    CHECK_EQ_INT(r.n_series, 7);
    CHECK_EQ_INT(r.no_bot, 1);      /* {} after sum by (bot) over a series without it */
    CHECK_EQ_INT(r.invalid_bot, 1); /* bot="-bad id" */
    CHECK_EQ_INT(r.bad_series, 0);
    CHECK_EQ_INT(r.duplicates, 0);
    CHECK_EQ_INT(r.n_samples, 5);
    CHECK(sorted(&r));
    int64_t ts = US(1795511014, 123);
    check_known(&r, "arb-btc-02", ts, 0.004999999999999999);
    check_known(&r, "mm-eth-01", ts, 0.019999999999999997);
    check_known(&r, "mm-sol-03", ts, 9.999999999999997e-08);
    check_unknown(&r, "mm-broken-05", ts); /* "+Inf": errors with no requests */
    check_unknown(&r, "mm-idle-04", ts);   /* "NaN": 0/0 */
    CHECK(strstr(r.message, "-bad id") != NULL);
    CHECK_EQ_INT(r.n_warnings, 0);
}

TEST(vector_gauge_nan_and_exponent) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    REQUIRE(parse_sample("vector-gauge-nan.json", NULL, &r) == 0);
    CHECK_EQ_INT(r.n_samples, 3);
    int64_t ts = US(1795511014, 500);
    check_known(&r, "arb-btc-02", ts, 1e-07);
    check_unknown(&r, "mm-eth-01", ts);
    check_unknown(&r, "mm-sol-03", ts); /* "-Inf" */
    for (size_t i = 0; i < r.n_samples; i++)
        if (!r.samples[i].known)
            CHECK(r.samples[i].value == 0);
}

TEST(vector_duplicate_bot_keeps_worst) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    REQUIRE(parse_sample("vector-drift-two-venues.json", NULL, &r) == 0);
    CHECK_EQ_INT(r.n_series, 3);
    CHECK_EQ_INT(r.n_samples, 2);
    CHECK_EQ_INT(r.duplicates, 1);
    check_known(&r, "arb-btc-02", T0 * 1000000, 0);
    check_known(&r, "mm-eth-01", T0 * 1000000, 120.25); /* highest of -412.5, 120.25 */

    _cleanup_(rt_prom_result_clear) struct rt_prom_result a = {0};
    struct rt_prom_opts opts = {.merge = RT_PROM_MERGE_MAX_ABS};
    REQUIRE(parse_sample("vector-drift-two-venues.json", &opts, &a) == 0);
    CHECK_EQ_INT(a.duplicates, 1);
    check_known(&a, "mm-eth-01", T0 * 1000000, -412.5); /* largest magnitude */
}

TEST(empty_results) {
    static const char *const names[] = {"vector-empty.json", "matrix-empty.json"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
        CHECK_EQ_INT(parse_sample(names[i], NULL, &r), 0);
        CHECK_EQ_INT(r.n_samples, 0);
        CHECK_EQ_INT(r.n_series, 0);
        CHECK_EQ_INT(r.type, i == 0 ? RT_PROM_TYPE_VECTOR : RT_PROM_TYPE_MATRIX);
        CHECK_EQ_STR(r.message, "");
    }
}

TEST(error_envelopes) {
    static const struct {
        const char *file, *type, *text;
        bool retry;
    } cases[] = {
        {"error-bad-data.json", "bad_data", "parse error: unclosed left parenthesis", false},
        {"error-execution.json", "execution", "many-to-many matching not allowed", false},
        {"error-timeout.json", "timeout", "query timed out in expression evaluation", true},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
        CHECK_EQ_INT(parse_sample(cases[i].file, NULL, &r), -EREMOTEIO);
        CHECK_EQ_STR(r.error_type, cases[i].type);
        CHECK(strstr(r.error, cases[i].text) != NULL);
        CHECK(strstr(r.message, cases[i].type) != NULL);
        CHECK(rt_prom_error_retryable(r.error_type) == cases[i].retry);
        CHECK_EQ_INT(r.n_samples, 0);
        CHECK(r.samples == NULL);
    }
}

TEST(matrix_error_ratio) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    REQUIRE(parse_sample("matrix-error-ratio.json", NULL, &r) == 0);
    CHECK_EQ_INT(r.type, RT_PROM_TYPE_MATRIX);
    CHECK_EQ_INT(r.n_series, 7);
    CHECK_EQ_INT(r.no_bot, 1);
    CHECK_EQ_INT(r.invalid_bot, 1);
    CHECK_EQ_INT(r.n_samples, 20); /* 5 bots x 4 steps */
    CHECK(sorted(&r));
    for (int k = 0; k < 4; k++) {
        int64_t ts = US(1795511008, 250) + k * INT64_C(2000000);
        check_known(&r, "mm-eth-01", ts, 0.019999999999999997);
        check_unknown(&r, "mm-idle-04", ts);
        check_unknown(&r, "mm-broken-05", ts);
    }
    check_known(&r, "mm-sol-03", US(1795511012, 250), 1.0000000000000006e-07);
    check_known(&r, "mm-sol-03", US(1795511014, 250), 9.999999999999997e-08);
    CHECK_EQ_STR(r.samples[0].bot, "arb-btc-02");
    CHECK_EQ_INT(r.samples[0].ts_us, US(1795511008, 250));
}

TEST(matrix_nan_timestamps_to_the_microsecond) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    REQUIRE(parse_sample("matrix-gauge-nan.json", NULL, &r) == 0);
    CHECK_EQ_INT(r.n_samples, 9);
    for (int k = 0; k < 3; k++) {
        int64_t ts = US(1795511012, 1) + k * INT64_C(1000000);
        check_known(&r, "arb-btc-02", ts, 1e-07);
        check_unknown(&r, "mm-eth-01", ts);
        check_unknown(&r, "mm-sol-03", ts);
    }
    CHECK_EQ_INT(r.samples[0].ts_us, INT64_C(1795511012001000));
}

TEST(matrix_duplicate_series_merge_per_timestamp) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    struct rt_prom_opts opts = {.merge = RT_PROM_MERGE_MAX_ABS};
    REQUIRE(parse_sample("matrix-drift-two-venues.json", &opts, &r) == 0);
    CHECK_EQ_INT(r.n_samples, 6);
    CHECK_EQ_INT(r.duplicates, 3);
    CHECK(sorted(&r));
    for (int k = 0; k < 3; k++)
        check_known(&r, "mm-eth-01", (T0 - 4 + 2 * k) * 1000000, -412.5);
}

TEST(scalar_and_string_results) {
    static const struct { const char *file; enum rt_prom_type type; } cases[] = {
        {"scalar.json", RT_PROM_TYPE_SCALAR},
        {"string.json", RT_PROM_TYPE_STRING},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
        CHECK_EQ_INT(parse_sample(cases[i].file, NULL, &r), -EMEDIUMTYPE);
        CHECK_EQ_INT(r.type, cases[i].type);
        CHECK(strstr(r.message, "query must return one series per bot") != NULL);
        CHECK_EQ_INT(r.n_samples, 0);
    }
}

TEST(not_json_404_page) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    CHECK_EQ_INT(parse_sample("not-json-404.txt", NULL, &r), -EBADMSG);
    CHECK(strncmp(r.message, "invalid JSON", 12) == 0);
}

TEST(custom_bot_label) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result v = {0};
    struct rt_prom_opts opts = {.bot_label = "venue", .merge = RT_PROM_MERGE_MAX_ABS};
    REQUIRE(parse_sample("vector-drift-two-venues.json", &opts, &v) == 0);
    CHECK_EQ_INT(v.n_samples, 2);
    check_known(&v, "binance", T0 * 1000000, -412.5);
    check_known(&v, "kraken", T0 * 1000000, 120.25);

    /* The error-ratio query keeps only "bot": every series lacks "job". */
    _cleanup_(rt_prom_result_clear) struct rt_prom_result j = {0};
    opts.bot_label = "job";
    REQUIRE(parse_sample("vector-error-ratio.json", &opts, &j) == 0);
    CHECK_EQ_INT(j.no_bot, 7);
    CHECK_EQ_INT(j.n_samples, 0);
    CHECK_EQ_STR(j.message, "result[0]: no \"job\" label");

    static const char *const bad[] = {"", "bad-label", "1bot", "bot name"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(rt_prom_result_clear) struct rt_prom_result b = {0};
        opts.bot_label = bad[i];
        CHECK_EQ_INT(parse_sample("vector-empty.json", &opts, &b), -EINVAL);
    }
}

/* ---- malformed bodies ---- */

#define VEC(items) "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[" items "]}}"
#define MAT(items) "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[" items "]}}"
#define OK_ITEM "{\"metric\":{\"bot\":\"ok-1\"},\"value\":[1700000000.5,\"0.25\"]}"

struct bad_case {
    const char *name;
    const char *body;
    int rc;
    size_t bad_series; /* when rc == 0 */
    size_t n_samples;
};

static const struct bad_case bad_cases[] = {
    {"empty body", "", -EBADMSG, 0, 0},
    {"top-level array", "[]", -EBADMSG, 0, 0},
    {"top-level scalar", "\"success\"", -EBADMSG, 0, 0},
    {"truncated envelope", "{\"status\":\"succ", -EBADMSG, 0, 0},
    {"truncated in result", "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[" OK_ITEM ",{\"metric\":{\"bot\":\"x\"},\"val", -EBADMSG, 0, 0},
    {"truncated after result", "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[" OK_ITEM "]", -EBADMSG, 0, 0},
    {"trailing garbage", VEC(OK_ITEM) "x", -EBADMSG, 0, 0},
    {"missing comma between series", VEC(OK_ITEM " " OK_ITEM), -EBADMSG, 0, 0},
    {"trailing comma", VEC(OK_ITEM ","), -EBADMSG, 0, 0},
    {"leading comma", VEC("," OK_ITEM), -EBADMSG, 0, 0},
    {"broken series JSON", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1,\"1\"]]"), -EBADMSG, 0, 0},
    {"duplicate key in envelope", "{\"status\":\"success\",\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", -EBADMSG, 0, 0},
    {"duplicate result key", "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[],\"result\":[]}}", -EBADMSG, 0, 0},
    {"duplicate label", VEC("{\"metric\":{\"bot\":\"a\",\"bot\":\"b\"},\"value\":[1,\"1\"]}"), -EBADMSG, 0, 0},
    {"status missing", "{\"data\":{\"resultType\":\"vector\",\"result\":[]}}", -EBADMSG, 0, 0},
    {"status not a string", "{\"status\":true,\"data\":{\"resultType\":\"vector\",\"result\":[]}}", -EBADMSG, 0, 0},
    {"status unknown", "{\"status\":\"ok\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", -EBADMSG, 0, 0},
    {"data missing", "{\"status\":\"success\"}", -EBADMSG, 0, 0},
    {"data not an object", "{\"status\":\"success\",\"data\":[]}", -EBADMSG, 0, 0},
    {"resultType missing", "{\"status\":\"success\",\"data\":{\"result\":[]}}", -EBADMSG, 0, 0},
    {"resultType not a string", "{\"status\":\"success\",\"data\":{\"resultType\":1,\"result\":[]}}", -EBADMSG, 0, 0},
    {"resultType unknown", "{\"status\":\"success\",\"data\":{\"resultType\":\"histogram\",\"result\":[]}}", -EBADMSG, 0, 0},
    {"result missing", "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\"}}", -EBADMSG, 0, 0},
    {"result not an array", "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":{}}}", -EBADMSG, 0, 0},
    {"error without details", "{\"status\":\"error\"}", -EREMOTEIO, 0, 0},
    {"error with broken JSON in data", "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":\"x\",\"data\":{\"result\":[{\"a\":}]}}", -EBADMSG, 0, 0},
    /* Per-series protocol errors: the series is skipped, the rest stays. */
    {"value not a string", VEC(OK_ITEM ",{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,0.5]}"), 0, 1, 1},
    {"value abc", VEC(OK_ITEM ",{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,\"abc\"]}"), 0, 1, 1},
    {"value empty", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,\"\"]}"), 0, 1, 0},
    {"value hex", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,\"0x10\"]}"), 0, 1, 0},
    {"value overflows", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,\"1e999\"]}"), 0, 1, 0},
    {"value null", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,null]}"), 0, 1, 0},
    {"timestamp a string", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[\"1700000000\",\"1\"]}"), 0, 1, 0},
    {"timestamp negative", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[-1,\"1\"]}"), 0, 1, 0},
    {"timestamp after 9999", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1e13,\"1\"]}"), 0, 1, 0},
    {"value of three", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1,\"1\",\"2\"]}"), 0, 1, 0},
    {"value an object", VEC("{\"metric\":{\"bot\":\"a\"},\"value\":{\"ts\":1}}"), 0, 1, 0},
    {"value missing", VEC("{\"metric\":{\"bot\":\"a\"}}"), 0, 1, 0},
    {"matrix values in a vector", VEC("{\"metric\":{\"bot\":\"a\"},\"values\":[[1,\"1\"]]}"), 0, 1, 0},
    {"native histogram", VEC("{\"metric\":{\"bot\":\"a\"},\"histogram\":[1,{\"count\":\"1\"}]}"), 0, 1, 0},
    {"metric missing", VEC("{\"value\":[1,\"1\"]}"), 0, 1, 0},
    {"metric not an object", VEC("{\"metric\":[],\"value\":[1,\"1\"]}"), 0, 1, 0},
    {"series not an object", VEC("5," OK_ITEM), 0, 1, 1},
    {"bot label not a string", VEC("{\"metric\":{\"bot\":7},\"value\":[1,\"1\"]}"), 0, 1, 0},
    {"matrix point bad", MAT("{\"metric\":{\"bot\":\"a\"},\"values\":[[1,\"1\"],[2,\"x\"]]},{\"metric\":{\"bot\":\"b\"},\"values\":[[1,\"1\"]]}"), 0, 1, 1},
    {"matrix values not an array", MAT("{\"metric\":{\"bot\":\"a\"},\"values\":\"1\"}"), 0, 1, 0},
    {"matrix point not a pair", MAT("{\"metric\":{\"bot\":\"a\"},\"values\":[1,\"1\"]}"), 0, 1, 0},
};

TEST(malformed_bodies) {
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
        int rc = parse_str(c->body, NULL, &r);
        if (rc != c->rc || (rc == 0 && (r.bad_series != c->bad_series || r.n_samples != c->n_samples))) {
            fprintf(stderr, "    %s: rc %d (want %d), bad_series %zu, samples %zu: %s\n", c->name,
                    rc, c->rc, r.bad_series, r.n_samples, r.message);
            rt_test_failed = 1;
        }
        if (rc != 0 || c->bad_series > 0)
            CHECK(r.message[0] != '\0');
        if (rc < 0)
            CHECK(r.samples == NULL && r.n_samples == 0);
    }
}

TEST(series_error_messages) {
    static const struct { const char *body, *message; } cases[] = {
        {VEC("{\"metric\":{\"bot\":\"a\"},\"value\":[1,\"abc\"]}"), "result[0].value: value is not a number"},
        {VEC(OK_ITEM ",{\"metric\":{\"bot\":\"a\"},\"value\":[\"1\",\"1\"]}"),
         "result[1].value: timestamp is not a number of seconds between 1970 and 9999"},
        {MAT("{\"metric\":{\"bot\":\"a\"},\"values\":[[1,\"1\"],[2,3]]}"), "result[0].values[1]: value is not a string"},
        {VEC("{\"metric\":{\"bot\":\"a\"},\"histogram\":[1,{}]}"), "result[0]: native histogram samples are not supported"},
        {VEC("{\"metric\":{},\"value\":[1,\"1\"]}"), "result[0]: no \"bot\" label"},
        {VEC("{\"metric\":{\"bot\":\"a b\"},\"value\":[1,\"1\"]}"), "result[0]: bot label \"a b\" is not a valid bot id"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
        CHECK_EQ_INT(parse_str(cases[i].body, NULL, &r), 0);
        CHECK_EQ_STR(r.message, cases[i].message);
    }
}

TEST(error_text_truncated_at_utf8_boundary) {
    char body[2048];
    int n = snprintf(body, sizeof body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"");
    for (int i = 0; i < 400; i++) /* 400 x "é" = 800 bytes */
        n += snprintf(body + n, sizeof body - (size_t)n, "\xc3\xa9");
    snprintf(body + n, sizeof body - (size_t)n, "\"}");
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    CHECK_EQ_INT(parse_str(body, NULL, &r), -EREMOTEIO);
    size_t len = strlen(r.error);
    CHECK(len > 500 && len < sizeof r.error);
    CHECK(len % 2 == 0); /* whole two-byte characters only */
    CHECK(((unsigned char)r.error[len - 1] & 0xC0) == 0x80);
    size_t mlen = strlen(r.message);
    CHECK(mlen < sizeof r.message);
    CHECK(((unsigned char)r.message[mlen - 1] & 0xC0) != 0xC0); /* no dangling lead byte */
}

TEST(warnings_are_reported) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    CHECK_EQ_INT(parse_str("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[" OK_ITEM
                           "]},\"warnings\":[\"remote read partial\",\"second\"]}", NULL, &r), 0);
    CHECK_EQ_INT(r.n_warnings, 2);
    CHECK_EQ_STR(r.warning, "remote read partial");
    CHECK_EQ_INT(r.n_samples, 1);
    check_known(&r, "ok-1", INT64_C(1700000000500000), 0.25);
}

/* ---- merging, order, limits ---- */

TEST(merge_is_order_independent) {
    static const struct {
        const char *a, *b, *c;
        enum rt_prom_merge merge;
        bool known;
        double want;
    } cases[] = {
        {"NaN", "0.5", "0.2", RT_PROM_MERGE_MAX, true, 0.5},
        {"NaN", "+Inf", "-Inf", RT_PROM_MERGE_MAX, false, 0},
        {"-3", "3", "NaN", RT_PROM_MERGE_MAX_ABS, true, 3},
        {"-5", "3", "4.5", RT_PROM_MERGE_MAX_ABS, true, -5},
        {"-5", "3", "4.5", RT_PROM_MERGE_MAX, true, 4.5},
    };
    static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const char *v[3] = {cases[i].a, cases[i].b, cases[i].c};
        for (size_t o = 0; o < ELEMENTSOF(orders); o++) {
            char body[1024];
            snprintf(body, sizeof body,
                     VEC("{\"metric\":{\"bot\":\"z\"},\"value\":[5,\"1\"]},"
                         "{\"metric\":{\"bot\":\"a\",\"k\":\"1\"},\"value\":[5,\"%s\"]},"
                         "{\"metric\":{\"bot\":\"a\",\"k\":\"2\"},\"value\":[5,\"%s\"]},"
                         "{\"metric\":{\"bot\":\"a\",\"k\":\"3\"},\"value\":[5,\"%s\"]}"),
                     v[orders[o][0]], v[orders[o][1]], v[orders[o][2]]);
            struct rt_prom_opts opts = {.merge = cases[i].merge};
            _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
            REQUIRE(parse_str(body, &opts, &r) == 0);
            CHECK_EQ_INT(r.n_samples, 2);
            CHECK_EQ_INT(r.duplicates, 2);
            CHECK_EQ_STR(r.samples[0].bot, "a");
            CHECK_EQ_STR(r.samples[1].bot, "z");
            CHECK(r.samples[0].known == cases[i].known);
            CHECK(r.samples[0].value == cases[i].want);
        }
    }
}

TEST(sample_limit) {
    struct rt_prom_opts opts = {.max_samples = 8};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    CHECK_EQ_INT(parse_sample("matrix-gauge-nan.json", &opts, &r), -E2BIG); /* 9 points */
    CHECK(strstr(r.message, "more than 8 samples") != NULL);
    CHECK(r.samples == NULL);
    _cleanup_(rt_prom_result_clear) struct rt_prom_result ok = {0};
    opts.max_samples = 9;
    CHECK_EQ_INT(parse_sample("matrix-gauge-nan.json", &opts, &ok), 0);
    CHECK_EQ_INT(ok.n_samples, 9);
}

TEST(many_series_unsorted) {
    enum { N = 20000 };
    size_t cap = (size_t)N * 80 + 200, n = 0;
    _cleanup_free_ char *body = malloc(cap);
    REQUIRE(body);
    n += (size_t)snprintf(body + n, cap - n, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
    for (int i = N - 1; i >= 0; i--) /* reverse order: the parser must sort */
        n += (size_t)snprintf(body + n, cap - n, "%s{\"metric\":{\"bot\":\"bot-%05d\"},\"value\":[1700000000.001,\"%d.5e-3\"]}",
                              i == N - 1 ? "" : ",", i, i);
    n += (size_t)snprintf(body + n, cap - n, "]}}");
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    REQUIRE(rt_prom_parse(body, n, NULL, &r) == 0);
    CHECK_EQ_INT(r.n_samples, N);
    CHECK(sorted(&r));
    CHECK_EQ_STR(r.samples[0].bot, "bot-00000");
    CHECK_EQ_STR(r.samples[N - 1].bot, "bot-19999");
    CHECK(r.samples[1234].value == 1234.5e-3);
    CHECK_EQ_INT(r.samples[N - 1].ts_us, INT64_C(1700000000001000));
}

/* Keys written with escapes cannot be found by the streaming path, so the
 * whole document is loaded instead: both must give the same answer. */
static char *escape_data_key(const char *body, size_t len, size_t *out_len) {
    const char *at = memmem(body, len, "\"data\"", 6);
    if (!at)
        return NULL;
    char *out = malloc(len + 16);
    if (!out)
        return NULL;
    size_t pre = (size_t)(at - body);
    memcpy(out, body, pre);
    memcpy(out + pre, "\"\\u0064ata\"", 11);
    memcpy(out + pre + 11, at + 6, len - pre - 6);
    *out_len = len + 5;
    return out;
}

static void check_same(const char *name, const char *body, size_t len) {
    size_t elen = 0;
    _cleanup_free_ char *esc = escape_data_key(body, len, &elen);
    if (!esc)
        return; /* no data key: only one path exists */
    struct rt_prom_opts opts = {.merge = RT_PROM_MERGE_MAX_ABS};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result a = {0};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result b = {0};
    int ra = rt_prom_parse(body, len, &opts, &a);
    int rb = rt_prom_parse(esc, elen, &opts, &b);
    bool same = ra == rb && a.type == b.type && a.n_samples == b.n_samples && a.n_series == b.n_series &&
                a.no_bot == b.no_bot && a.invalid_bot == b.invalid_bot && a.bad_series == b.bad_series &&
                a.duplicates == b.duplicates && strcmp(a.error_type, b.error_type) == 0;
    for (size_t i = 0; same && i < a.n_samples; i++)
        same = strcmp(a.samples[i].bot, b.samples[i].bot) == 0 && a.samples[i].ts_us == b.samples[i].ts_us &&
               a.samples[i].known == b.samples[i].known && a.samples[i].value == b.samples[i].value;
    if (ra == 0 && rb == 0)
        same = same && strcmp(a.message, b.message) == 0;
    if (!same) {
        fprintf(stderr, "    %s: streaming %d (%s) vs whole %d (%s)\n", name, ra, a.message, rb, b.message);
        rt_test_failed = 1;
    }
}

TEST(streaming_and_whole_document_agree) {
    static const char *const files[] = {
        "vector-error-ratio.json", "vector-gauge-nan.json", "vector-drift-two-venues.json",
        "vector-empty.json", "matrix-error-ratio.json", "matrix-gauge-nan.json",
        "matrix-drift-two-venues.json", "matrix-empty.json", "scalar.json", "string.json",
    };
    size_t checked = 0;
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        size_t len = 0;
        _cleanup_free_ char *body = read_sample(files[i], &len);
        REQUIRE(body);
        check_same(files[i], body, len);
        checked++;
    }
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        check_same(bad_cases[i].name, bad_cases[i].body, strlen(bad_cases[i].body));
        checked++;
    }
    CHECK(checked > 50);
}

/* ---- the scanner for vector series against jansson ----
 *
 * rt_prom_parse() reads the usual vector series with a hand-written scanner
 * and leaves the rest to jansson; rt_prom_parse_jansson() loads every series
 * with jansson. Both must give the same answer, field for field, for
 * generated responses (the forms the scanner takes, and the near misses it
 * must leave to jansson) and for random mutations of them. */


static bool same_result(int ra, const struct rt_prom_result *a, int rb, const struct rt_prom_result *b) {
    bool same = ra == rb && a->type == b->type && a->n_samples == b->n_samples && a->n_series == b->n_series &&
                a->no_bot == b->no_bot && a->invalid_bot == b->invalid_bot && a->bad_series == b->bad_series &&
                a->duplicates == b->duplicates && a->n_warnings == b->n_warnings &&
                strcmp(a->warning, b->warning) == 0 && strcmp(a->error_type, b->error_type) == 0 &&
                strcmp(a->error, b->error) == 0 && strcmp(a->message, b->message) == 0;
    for (size_t i = 0; same && i < a->n_samples; i++)
        same = strcmp(a->samples[i].bot, b->samples[i].bot) == 0 && a->samples[i].ts_us == b->samples[i].ts_us &&
               a->samples[i].known == b->samples[i].known &&
               memcmp(&a->samples[i].value, &b->samples[i].value, sizeof(double)) == 0;
    return same;
}

/* Both parsers on one body with one option set; false (and a report) if
 * they differ. */
static bool paths_agree(const char *body, size_t len, const struct rt_prom_opts *opts) {
    _cleanup_(rt_prom_result_clear) struct rt_prom_result a = {0};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result b = {0};
    int ra = rt_prom_parse(body, len, opts, &a);
    int rb = rt_prom_parse_jansson(body, len, opts, &b);
    if (same_result(ra, &a, rb, &b))
        return true;
    fprintf(stderr, "    differ on %.*s\n      scanner %d (%zu samples, %s), jansson %d (%zu samples, %s)\n",
            (int)(len < 400 ? len : 400), body, ra, a.n_samples, a.message, rb, b.n_samples, b.message);
    return false;
}

static void gen_ws(struct rt_strbuf *b) {
    static const char *const ws[] = {"", "", "", "", " ", "\n", "\t", "\r\n  "};
    rt_sb_puts(b, rt_gen_pick(ws, ELEMENTSOF(ws)));
}

static void gen_timestamp(struct rt_strbuf *b) {
    static const char *const odd[] = {
        "0", "00", "01", "1.", "1.5e3", "1E3", "-1", "-0", "1e13", "9999999999999999999", "99999999999999999999",
        "253402300799", "253402300800", "253402300799.999999", "1700000000.1234567", "1700000000.12345678",
        "0.0000001", "1700000000.000", "\"1700000000\"", "null", "true", "[1]", "1.0e0", "17e8",
        "123456789012345678", "1234567890123456789", "0.5", "-1700000000.5", "1700000000.5x", "1700000000 5",
    };
    switch (rt_gen_below(5)) {
    case 0: rt_sb_printf(b, "%u", 1700000000u + rt_gen_below(1000)); break;
    case 1: rt_sb_printf(b, "%u.%0*u", 1700000000u + rt_gen_below(1000), (int)rt_gen_below(4) + 1, rt_gen_below(1000)); break;
    case 2: rt_sb_printf(b, "%u.%u", rt_gen_below(2000000000), rt_gen_below(100000000)); break;
    case 3: rt_sb_printf(b, "%u.%06u5", rt_gen_below(100000), rt_gen_below(1000000)); break; /* half microseconds */
    default: rt_sb_puts(b, rt_gen_pick(odd, ELEMENTSOF(odd)));
    }
}

static void gen_value(struct rt_strbuf *b) {
    static const char *const odd[] = {
        "\"NaN\"", "\"+Inf\"", "\"-Inf\"", "\"inf\"", "\"Infinity\"", "\"abc\"", "\"\"", "\"1e999\"", "\"0x10\"",
        "\".5\"", "\"+2\"", "\"1e-400\"", "\"-0\"", "0.5", "null", "\"1\\u0030\"", "\"\\\"1\\\"\"", "\"5\xc3\xa9\"",
        "\"1111111111111111111111111111111111111111111111111111111111111111111\"",
        "\"0.11111111111111111111111111111111111111111111111111111111111111\"", "\"nan\"", "\" 1\"", "\"1\x01\"",
    };
    switch (rt_gen_below(4)) {
    case 0: rt_sb_printf(b, "\"%.17g\"", (double)rt_gen_below(1000000) / (double)(rt_gen_below(999) + 1)); break;
    case 1: rt_sb_printf(b, "\"%u\"", rt_gen_below(100)); break;
    case 2: rt_sb_printf(b, "\"%ue-%u\"", rt_gen_below(1000), rt_gen_below(12)); break;
    default: rt_sb_puts(b, rt_gen_pick(odd, ELEMENTSOF(odd)));
    }
}

static void gen_label_value(struct rt_strbuf *b) {
    static const char *const odd[] = {
        "\"a b\"", "\"-bad\"", "\"\"", "7", "null", "{}", "\"b\\u006ft\"", "\"caf\xc3\xa9\"", "\"x\\\"y\"",
        "\"\xff\"", "\"tab\there\"",
        "\"a123456789012345678901234567890123456789012345678901234567890123456789\"",
    };
    if (rt_gen_below(6) == 0)
        rt_sb_puts(b, rt_gen_pick(odd, ELEMENTSOF(odd)));
    else
        rt_sb_printf(b, "\"bot-%u\"", rt_gen_below(50));
}

static void gen_metric(struct rt_strbuf *b) {
    static const char *const names[] = {"bot", "instance", "job", "__name__", "bot", "b\\u006ft", "Bot", "bo"};
    rt_sb_putn(b, "{", 1);
    gen_ws(b);
    unsigned n = rt_gen_below(5);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            rt_sb_putn(b, ",", 1), gen_ws(b);
        rt_sb_printf(b, "\"%s\"", i == 0 && rt_gen_below(4) ? "bot" : rt_gen_pick(names, ELEMENTSOF(names)));
        gen_ws(b), rt_sb_putn(b, ":", 1), gen_ws(b);
        if (rt_gen_below(2))
            gen_label_value(b);
        else
            rt_sb_printf(b, "\"host-%u:9090\"", rt_gen_below(10));
        gen_ws(b);
    }
    rt_sb_putn(b, "}", 1);
}

static void gen_point(struct rt_strbuf *b) {
    if (rt_gen_below(30) == 0) {
        static const char *const odd[] = {"[1,\"1\",\"2\"]", "[1]", "[]", "{\"ts\":1}", "\"1\"", "[[1,\"1\"]]"};
        rt_sb_puts(b, rt_gen_pick(odd, ELEMENTSOF(odd)));
        return;
    }
    rt_sb_putn(b, "[", 1), gen_ws(b);
    gen_timestamp(b);
    gen_ws(b), rt_sb_putn(b, ",", 1), gen_ws(b);
    gen_value(b);
    gen_ws(b), rt_sb_putn(b, "]", 1);
}

static void gen_series(struct rt_strbuf *b) {
    static const char *const extra[] = {"\"histogram\":[1,{}]", "\"values\":[[1,\"1\"]]", "\"metric\":{}",
                                        "\"value\":[1,\"1\"]", "\"x\":1"};
    rt_sb_putn(b, "{", 1), gen_ws(b);
    bool value_first = rt_gen_below(5) == 0;
    for (int k = 0; k < 2; k++) {
        if (k)
            rt_sb_putn(b, ",", 1), gen_ws(b);
        if ((k == 0) != value_first) {
            rt_sb_puts(b, "\"metric\""), gen_ws(b), rt_sb_putn(b, ":", 1), gen_ws(b);
            gen_metric(b);
        } else if (rt_gen_below(40)) {
            rt_sb_puts(b, "\"value\""), gen_ws(b), rt_sb_putn(b, ":", 1), gen_ws(b);
            gen_point(b);
        } else {
            rt_sb_puts(b, "\"valu\\u0065\":[1,\"1\"]");
        }
        gen_ws(b);
    }
    if (rt_gen_below(20) == 0)
        rt_sb_putn(b, ",", 1), rt_sb_puts(b, rt_gen_pick(extra, ELEMENTSOF(extra)));
    rt_sb_putn(b, "}", 1);
}

static void gen_body(struct rt_strbuf *b) {
    static const char *const types[] = {"vector", "vector", "vector", "vector", "matrix", "scalar"};
    rt_sb_printf(b, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":[",
                 rt_gen_pick(types, ELEMENTSOF(types)));
    gen_ws(b);
    unsigned n = rt_gen_below(8);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            rt_sb_putn(b, ",", 1), gen_ws(b);
        gen_series(b);
        gen_ws(b);
    }
    rt_sb_puts(b, rt_gen_below(10) ? "]}}" : "]},\"warnings\":[\"w\"]}");
}

/* What mutations insert: JSON structure, digits, the letters of the
 * literals, and bytes outside the scanner's subset. */
static const char mutation_bytes[] = "{}[]\",:\\ 0123456789.eE-+nabotvlu\x80\xc3\x01";

TEST(scanner_and_jansson_agree) {
    rt_gen_seed(0x2545F4914F6CDD1Du);
    static const struct rt_prom_opts opts[] = {
        {.bot_label = NULL, .merge = RT_PROM_MERGE_MAX},
        {.bot_label = "instance", .merge = RT_PROM_MERGE_MAX_ABS},
        {.bot_label = "bot", .merge = RT_PROM_MERGE_MAX, .max_samples = 3},
    };
    int bad = 0;
    size_t bodies = 0;
    for (int i = 0; i < 20000 && bad < 5; i++) {
        struct rt_strbuf b = {0};
        gen_body(&b);
        REQUIRE(!b.oom);
        char buf[8192];
        size_t len = b.len < sizeof buf ? b.len : sizeof buf - 1;
        memcpy(buf, b.s, len);
        rt_sb_free(&b);
        for (int m = 0; m < 3 && bad < 5; m++) {
            for (size_t o = 0; o < ELEMENTSOF(opts); o++)
                bad += !paths_agree(buf, len, &opts[o]);
            bodies++;
            for (unsigned k = rt_gen_below(3) + 1; k > 0; k--)
                len = rt_gen_mutate(buf, len, sizeof buf, mutation_bytes);
        }
    }
    CHECK(bad == 0);
    CHECK(bodies >= 60000);
}

/* The scanner is what reads a usual vector: jansson allocates only for the
 * envelope, not per series. */
static size_t jansson_allocs;
static void *counting_malloc(size_t n) {
    jansson_allocs++;
    return malloc(n);
}

TEST(usual_vector_series_skip_jansson) {
    struct rt_strbuf b = {0};
    rt_sb_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
    for (int i = 0; i < 1000; i++)
        rt_sb_printf(&b, "%s{\"metric\":{\"bot\":\"bot-%04d\",\"instance\":\"h:9090\"},\"value\":[1700000000.123,\"%.17g\"]}",
                     i ? "," : "", i, i / 7.0);
    rt_sb_puts(&b, "]}}");
    REQUIRE(!b.oom);
    json_set_alloc_funcs(counting_malloc, free);
    _cleanup_(rt_prom_result_clear) struct rt_prom_result r = {0};
    int rc = rt_prom_parse(b.s, b.len, NULL, &r);
    json_set_alloc_funcs(malloc, free);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.n_samples, 1000);
    CHECK(jansson_allocs < 100);
    CHECK(paths_agree(b.s, b.len, NULL));
    rt_sb_free(&b);
}

/* ---- values, retry classes, arguments ---- */

TEST(parse_value_table) {
    static const struct { const char *s; int rc; bool known; double v; } cases[] = {
        {"0.5", 0, true, 0.5}, {"1e-07", 0, true, 1e-07}, {"-412.5", 0, true, -412.5},
        {"0", 0, true, 0}, {"1E5", 0, true, 1e5}, {"+2", 0, true, 2}, {".5", 0, true, 0.5},
        {"9.999999999999997e-08", 0, true, 9.999999999999997e-08}, {"1e-400", 0, true, 0},
        {"NaN", 0, false, 0}, {"nan", 0, false, 0}, {"+Inf", 0, false, 0}, {"-Inf", 0, false, 0},
        {"Inf", 0, false, 0}, {"infinity", 0, false, 0},
        {"", -EINVAL, false, 0}, {"abc", -EINVAL, false, 0}, {" 1", -EINVAL, false, 0},
        {"1 ", -EINVAL, false, 0}, {"0x1p3", -EINVAL, false, 0}, {"1e", -EINVAL, false, 0},
        {"e5", -EINVAL, false, 0}, {"+", -EINVAL, false, 0}, {".", -EINVAL, false, 0},
        {"1e999", -EINVAL, false, 0}, {"-1e999", -EINVAL, false, 0}, {"nan(1)", -EINVAL, false, 0},
        {"--1", -EINVAL, false, 0}, {"1_000", -EINVAL, false, 0}, {"1.2.3", -EINVAL, false, 0},
        {"1111111111111111111111111111111111111111111111111111111111111111111", -EINVAL, false, 0},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        bool known = !cases[i].known;
        double v = -1;
        int rc = rt_prom_parse_value(cases[i].s, &known, &v);
        if (rc != cases[i].rc || (rc == 0 && (known != cases[i].known || v != cases[i].v))) {
            fprintf(stderr, "    \"%s\": rc %d known %d value %.17g\n", cases[i].s, rc, known, v);
            rt_test_failed = 1;
        }
    }
}

TEST(retryable_error_types) {
    static const struct { const char *type; bool retry; } cases[] = {
        {"bad_data", false}, {"execution", false}, {"not_found", false},
        {"timeout", true}, {"canceled", true}, {"unavailable", true}, {"internal", true},
        {"", true}, {"something_new", true}, {NULL, true},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        CHECK(rt_prom_error_retryable(cases[i].type) == cases[i].retry);
}

TEST(arguments_and_reuse) {
    struct rt_prom_result r;
    CHECK_EQ_INT(rt_prom_parse(NULL, 5, NULL, &r), -EINVAL);
    rt_prom_result_clear(&r);
    CHECK_EQ_INT(rt_prom_parse(NULL, 0, NULL, &r), -EBADMSG);
    rt_prom_result_clear(&r);
    CHECK_EQ_INT(rt_prom_parse("{}", 2, NULL, NULL), -EINVAL);
    struct rt_prom_opts bad_merge = {.merge = (enum rt_prom_merge)7};
    CHECK_EQ_INT(parse_str(VEC(OK_ITEM), &bad_merge, &r), -EINVAL);
    rt_prom_result_clear(&r);
    /* A cleared result can be parsed into again. */
    CHECK_EQ_INT(parse_str(VEC(OK_ITEM), NULL, &r), 0);
    CHECK_EQ_INT(r.n_samples, 1);
    rt_prom_result_clear(&r);
    CHECK(r.samples == NULL && r.n_samples == 0 && r.names_ == NULL);
    CHECK_EQ_STR(rt_prom_type_name(RT_PROM_TYPE_MATRIX), "matrix");
    CHECK_EQ_STR(rt_prom_type_name(RT_PROM_TYPE_NONE), "none");
}

TEST_MAIN()
