/* feeds/drift.c: the drift feed document (tests/samples/drift/), a table of
 * bad documents with the errors they must produce, and drift through a
 * Prometheus response (tests/samples/prometheus/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "feeds/drift.h"
#include "tests/unit/harness.h"

static char *read_file(const char *path, size_t *len) {
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

static int parse_file(const char *path, struct rt_drift_feed *out, struct rt_drift_errors *errs) {
    size_t len = 0;
    _cleanup_free_ char *body = read_file(path, &len);
    if (!body) {
        fprintf(stderr, "    cannot read %s\n", path);
        memset(out, 0, sizeof *out);
        return -ENOENT;
    }
    return rt_drift_parse(body, len, out, errs);
}

static int parse_str(const char *body, struct rt_drift_feed *out, struct rt_drift_errors *errs) {
    return rt_drift_parse(body, strlen(body), out, errs);
}

/* 2026-11-24T09:00:00Z */
#define GEN_US INT64_C(1795510800000000)

TEST(good_feed) {
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    REQUIRE(parse_file("tests/samples/drift/feed.json", &f, &errs) == 0);
    CHECK_EQ_INT(errs.n, 0);
    CHECK_EQ_INT(f.generated_at_us, GEN_US);
    REQUIRE(f.n_entries == 5);

    const struct rt_drift_entry *e = &f.entries[0];
    CHECK_EQ_STR(e->bot, "mm-eth-01");
    CHECK(e->known && e->drift == -412.5);
    CHECK(e->has_tolerance && e->tolerance == 250);
    CHECK_EQ_INT(e->ts_us, GEN_US); /* no ts: generated_at */
    CHECK_EQ_STR(e->unit, "USD");

    e = &f.entries[1];
    CHECK_EQ_STR(e->bot, "arb-btc-02");
    CHECK(e->known && e->drift == 0);
    CHECK(e->has_tolerance && e->tolerance == 0);
    CHECK_EQ_INT(e->ts_us, GEN_US - 29750000); /* 08:59:30.25Z */
    CHECK_EQ_STR(e->unit, "");

    e = &f.entries[2];
    CHECK_EQ_STR(e->bot, "mm-sol-03");
    CHECK(!e->known); /* null drift is unknown */
    CHECK(e->has_tolerance && e->tolerance == 1000.5);
    CHECK_EQ_INT(e->ts_us, GEN_US - 120000000); /* 09:58+01:00 = 08:58Z */

    e = &f.entries[3];
    CHECK(e->known && e->drift == 1e-3);
    CHECK(!e->has_tolerance); /* null tolerance: none, the policy's applies */

    e = &f.entries[4];
    CHECK(e->known && e->drift == 7);
    CHECK(!e->has_tolerance);
}

TEST(empty_feed) {
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    CHECK_EQ_INT(parse_file("tests/samples/drift/feed-empty.json", &f, &errs), 0);
    CHECK_EQ_INT(f.n_entries, 0);
    CHECK_EQ_INT(f.generated_at_us, GEN_US + 1);
}

TEST(duplicate_bot_file) {
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    CHECK_EQ_INT(parse_file("tests/samples/drift/bad-duplicate-bot.json", &f, &errs), -EINVAL);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].index, 2);
    CHECK_EQ_STR(errs.e[0].text, "bots[2].bot: duplicate of bots[0] (\"mm-eth-01\")");
    CHECK(f.entries == NULL && f.n_entries == 0);
}

TEST(all_errors_reported_in_index_order) {
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    CHECK_EQ_INT(parse_file("tests/samples/drift/bad-many.json", &f, &errs), -EINVAL);
    static const struct { long index; const char *text; } want[] = {
        {-1, "version: unknown key"},
        {-1, "generated_at: not an RFC 3339 time: \"2026-11-24 09:00:00\""},
        {0, "bots[0].bot: invalid bot id \"-mm-eth-01\" (1 to 64 characters of A-Z a-z 0-9 . _ : -, "
            "starting with a letter or digit)"},
        {1, "bots[1].drift: expected a number or null"},
        {1, "bots[1].tolerance: expected a number >= 0"},
        {2, "bots[2].severity: unknown key"},
    };
    REQUIRE(errs.n == ELEMENTSOF(want));
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        CHECK_EQ_INT(errs.e[i].index, want[i].index);
        CHECK_EQ_STR(errs.e[i].text, want[i].text);
    }
}

#define GEN "\"generated_at\":\"2026-11-24T09:00:00Z\""

TEST(bad_documents) {
    static const struct { const char *body; long index; const char *text; } cases[] = {
        {"", -1, "invalid JSON at line 1 column 0: '[' or '{' expected near end of file"},
        {"{" GEN ",\"bots\":[", -1, "invalid JSON"},
        {"{" GEN ",\"bots\":[],\"bots\":[]}", -1, "invalid JSON"},
        {"[]", -1, "expected a JSON object"},
        {"{\"bots\":[]}", -1, "generated_at: missing"},
        {"{\"generated_at\":5,\"bots\":[]}", -1, "generated_at: expected an RFC 3339 time string"},
        {"{" GEN "}", -1, "bots: missing"},
        {"{" GEN ",\"bots\":{}}", -1, "bots: expected an array"},
        {"{" GEN ",\"bots\":[5]}", 0, "bots[0]: expected an object"},
        {"{" GEN ",\"bots\":[{\"drift\":1}]}", 0, "bots[0].bot: missing"},
        {"{" GEN ",\"bots\":[{\"bot\":5,\"drift\":1}]}", 0, "bots[0].bot: expected a string"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a b\",\"drift\":1}]}", 0, "bots[0].bot: invalid bot id \"a b\""},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\"}]}", 0, "bots[0].drift: missing (use null for unknown)"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":\"12\"}]}", 0, "bots[0].drift: expected a number or null"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":true}]}", 0, "bots[0].drift: expected a number or null"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1e999}]}", -1, "invalid JSON"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"tolerance\":-0.5}]}", 0, "bots[0].tolerance: expected a number >= 0"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"tolerance\":\"5\"}]}", 0, "bots[0].tolerance: expected a number >= 0"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"ts\":\"2026-13-01T00:00:00Z\"}]}", 0, "bots[0].ts: not an RFC 3339 time"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"ts\":1795510800}]}", 0, "bots[0].ts: expected an RFC 3339 time string"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"unit\":5}]}", 0, "bots[0].unit: expected a string"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"unit\":\"123456789012345678901234567890123\"}]}", 0, "bots[0].unit: longer than 32 bytes"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"unit\":\"U\\nSD\"}]}", 0, "bots[0].unit: contains a control character"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"Drift\":1}]}", 0, "bots[0].Drift: unknown key"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1},{\"bot\":\"b\",\"drift\":null},{\"bot\":\"b\",\"drift\":2}]}", 2, "bots[2].bot: duplicate of bots[1] (\"b\")"},
        {"{" GEN ",\"bots\":[{\"bot\":\"a\",\"drift\":1,\"drift\":2}]}", -1, "invalid JSON"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
        struct rt_drift_errors errs;
        int rc = parse_str(cases[i].body, &f, &errs);
        bool ok = rc == -EINVAL && errs.n == 1 && errs.e[0].index == cases[i].index &&
                  strncmp(errs.e[0].text, cases[i].text, strlen(cases[i].text)) == 0 &&
                  f.entries == NULL && f.n_entries == 0;
        if (!ok) {
            fprintf(stderr, "    case %zu: rc %d, %zu errors, first [%ld] %s\n", i, rc, errs.n,
                    errs.n ? errs.e[0].index : -2, errs.n ? errs.e[0].text : "");
            rt_test_failed = 1;
        }
    }
}

TEST(too_many_errors) {
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof body, "{" GEN ",\"bots\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"bot\":\"b%d\",\"drift\":\"x\"}", i ? "," : "", i);
    snprintf(body + n, sizeof body - n, "]}");
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    CHECK_EQ_INT(parse_str(body, &f, &errs), -EINVAL);
    CHECK_EQ_INT(errs.n, RT_DRIFT_MAX_ERRORS);
    CHECK_EQ_STR(errs.e[0].text, "bots[0].drift: expected a number or null");
    CHECK_EQ_STR(errs.e[RT_DRIFT_MAX_ERRORS - 2].text, "bots[30].drift: expected a number or null");
    CHECK_EQ_STR(errs.e[RT_DRIFT_MAX_ERRORS - 1].text, "too many errors: 9 more not shown");
}

TEST(bot_limit) {
    size_t count = RT_DRIFT_MAX_BOTS + 1, cap = count * 2 + 64;
    _cleanup_free_ char *body = malloc(cap);
    REQUIRE(body);
    size_t n = (size_t)snprintf(body, cap, "{" GEN ",\"bots\":[");
    for (size_t i = 0; i < count; i++) {
        body[n++] = '0';
        body[n++] = i + 1 < count ? ',' : ']';
    }
    body[n++] = '}';
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    CHECK_EQ_INT(rt_drift_parse(body, n, &f, &errs), -EINVAL);
    REQUIRE(errs.n == 1);
    CHECK_EQ_STR(errs.e[0].text, "bots: more than 100000 entries");
}

TEST(many_bots_no_false_duplicates) {
    enum { N = 5000 };
    size_t cap = (size_t)N * 40 + 64;
    _cleanup_free_ char *body = malloc(cap);
    REQUIRE(body);
    size_t n = (size_t)snprintf(body, cap, "{" GEN ",\"bots\":[");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s{\"bot\":\"bot-%d\",\"drift\":%d}", i ? "," : "", i, i);
    n += (size_t)snprintf(body + n, cap - n, "]}");
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    struct rt_drift_errors errs;
    REQUIRE(rt_drift_parse(body, n, &f, &errs) == 0);
    CHECK_EQ_INT(f.n_entries, N);
    CHECK_EQ_STR(f.entries[N - 1].bot, "bot-4999");
    CHECK(f.entries[4321].drift == 4321);
}

/* ---- drift from Prometheus ---- */

TEST(prometheus_vector_two_venues) {
    size_t len = 0;
    _cleanup_free_ char *body = read_file("tests/samples/prometheus/vector-drift-two-venues.json", &len);
    REQUIRE(body);
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result prom = {0};
    REQUIRE(rt_drift_parse_prom(body, len, NULL, &f, &prom) == 0);
    REQUIRE(f.n_entries == 2);
    CHECK_EQ_INT(prom.duplicates, 1);
    CHECK_EQ_INT(f.generated_at_us, INT64_C(1795511014000000));
    CHECK_EQ_STR(f.entries[0].bot, "arb-btc-02");
    CHECK(f.entries[0].known && f.entries[0].drift == 0);
    CHECK_EQ_STR(f.entries[1].bot, "mm-eth-01");
    CHECK(f.entries[1].known && f.entries[1].drift == -412.5); /* larger magnitude than 120.25 */
    CHECK(!f.entries[0].has_tolerance && !f.entries[1].has_tolerance);
    CHECK_EQ_INT(f.entries[1].ts_us, INT64_C(1795511014000000));
}

TEST(prometheus_matrix_and_errors) {
    size_t len = 0;
    _cleanup_free_ char *body = read_file("tests/samples/prometheus/matrix-drift-two-venues.json", &len);
    REQUIRE(body);
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed f = {0};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result prom = {0};
    REQUIRE(rt_drift_parse_prom(body, len, "bot", &f, &prom) == 0);
    CHECK_EQ_INT(f.n_entries, 6);
    CHECK_EQ_INT(f.entries[3].ts_us, INT64_C(1795511010000000));
    CHECK(f.entries[3].drift == -412.5);

    _cleanup_free_ char *err = read_file("tests/samples/prometheus/error-timeout.json", &len);
    REQUIRE(err);
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed g = {0};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result perr = {0};
    CHECK_EQ_INT(rt_drift_parse_prom(err, len, NULL, &g, &perr), -EREMOTEIO);
    CHECK_EQ_STR(perr.error_type, "timeout");
    CHECK(g.entries == NULL && g.n_entries == 0);

    /* NaN drift is unknown, as null is in the feed document. */
    static const char nan_body[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                                   "[{\"metric\":{\"bot\":\"a\"},\"value\":[1700000000,\"NaN\"]}]}}";
    _cleanup_(rt_drift_feed_clear) struct rt_drift_feed h = {0};
    _cleanup_(rt_prom_result_clear) struct rt_prom_result pnan = {0};
    REQUIRE(rt_drift_parse_prom(nan_body, strlen(nan_body), NULL, &h, &pnan) == 0);
    REQUIRE(h.n_entries == 1);
    CHECK(!h.entries[0].known);
}

TEST_MAIN()
