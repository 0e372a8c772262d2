/* Policy parser (policy/policy.c) and JSON positions (common/jsonpos.c).
 * Runs from the repository root: it reads policy/default-policy.json and the
 * sample files under tests/policy/. Each tests/policy/bad/NAME.json has a
 * NAME.expected holding "LINE:COL: text" of its first error. */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/jsonpos.h"
#include "common/util.h"
#include "policy/policy.h"
#include "tests/unit/harness.h"
#include "tests/unit/samples.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define MIN_US (INT64_C(60) * 1000000)

/* ---- helpers ---- */

/* Test texts use ' for " so they stay readable; positions do not change. */
static char *dq(const char *s) {
    char *t = strdup(s);
    for (char *p = t; p && *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static int parse_q(const char *q, struct rt_policy **out, struct rt_policy_errors *errs) {
    _cleanup_free_ char *t = dq(q);
    if (!t)
        return -ENOMEM;
    return rt_policy_parse(t, strlen(t), out, errs);
}

static void print_errors(const char *what, int r, const struct rt_policy_errors *errs) {
    fprintf(stderr, "    text: %s\n    r=%d, %zu error(s)\n", what, r, errs->n);
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "    got %d:%d: %s\n", errs->e[i].line, errs->e[i].column, errs->e[i].text);
}

/* Exactly one error, at line:col, whose message contains want. */
static bool only_error(const char *q, int line, int col, const char *want) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q(q, &p, &errs);
    bool ok = r == -EINVAL && !p && errs.n == 1 && errs.e[0].line == line && errs.e[0].column == col &&
              strstr(errs.e[0].text, want) != NULL;
    if (!ok)
        print_errors(q, r, &errs);
    rt_policy_free(p);
    return ok;
}

static struct rt_policy *parse_ok(const char *q) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q(q, &p, &errs);
    if (r != 0)
        print_errors(q, r, &errs);
    return r == 0 ? p : NULL;
}

static bool cond_eq(const struct rt_cond_policy *a, const struct rt_cond_policy *b) {
    return a->enabled == b->enabled && a->has_threshold == b->has_threshold && a->threshold == b->threshold &&
           a->window_us == b->window_us && a->max_evidence_age_us == b->max_evidence_age_us &&
           a->on_unknown == b->on_unknown;
}

static void sha256_of(const void *data, size_t len, unsigned char out[32]) {
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        memset(out, 0, 32);
}

/* ---- names and ids ---- */

TEST(cond_names_round_trip) {
    static const char *const names[RT_COND_COUNT] = {"p0_alert", "error_rate", "recon_drift", "cvss"};
    for (int c = 0; c < RT_COND_COUNT; c++) {
        enum rt_cond back = RT_COND_COUNT;
        CHECK_EQ_STR(rt_cond_name((enum rt_cond)c), names[c]);
        CHECK_EQ_INT(rt_cond_from_name(names[c], &back), 0);
        CHECK_EQ_INT(back, c);
    }
    enum rt_cond out = RT_COND_CVSS;
    CHECK_EQ_INT(rt_cond_from_name("latency", &out), -EINVAL);
    CHECK_EQ_INT(rt_cond_from_name("CVSS", &out), -EINVAL);
    CHECK_EQ_INT(rt_cond_from_name(NULL, &out), -EINVAL);
    CHECK_EQ_INT(out, RT_COND_CVSS);
    CHECK_EQ_STR(rt_cond_name(RT_COND_COUNT), "invalid");
}

TEST(on_unknown_names) {
    CHECK_EQ_STR(rt_on_unknown_name(RT_ON_UNKNOWN_HOLD), "hold");
    CHECK_EQ_STR(rt_on_unknown_name(RT_ON_UNKNOWN_RESET), "reset");
    CHECK_EQ_STR(rt_on_unknown_name(RT_ON_UNKNOWN_BREACH), "breach");
    CHECK_EQ_STR(rt_on_unknown_name((enum rt_on_unknown)7), "invalid");
}

TEST(bot_id_rules) {
    char max[RT_BOT_ID_MAX + 2];
    memset(max, 'b', RT_BOT_ID_MAX);
    max[RT_BOT_ID_MAX] = '\0';
    CHECK(rt_bot_id_valid(max));
    max[RT_BOT_ID_MAX] = 'b';
    max[RT_BOT_ID_MAX + 1] = '\0';
    CHECK(!rt_bot_id_valid(max));
    CHECK(rt_bot_id_valid("a"));
    CHECK(rt_bot_id_valid("7"));
    CHECK(rt_bot_id_valid("mm-eth-01"));
    CHECK(rt_bot_id_valid("arb.BTC:usd_02"));
    CHECK(!rt_bot_id_valid(""));
    CHECK(!rt_bot_id_valid(NULL));
    CHECK(!rt_bot_id_valid("-lead"));
    CHECK(!rt_bot_id_valid(".lead"));
    CHECK(!rt_bot_id_valid("_lead"));
    CHECK(!rt_bot_id_valid("a b"));
    CHECK(!rt_bot_id_valid("a/b"));
    CHECK(!rt_bot_id_valid("a\nb"));
    CHECK(!rt_bot_id_valid("caf\xc3\xa9"));
}

/* ---- the embedded default ---- */

TEST(default_is_byte_identical_to_file) {
    _cleanup_free_ char *file = NULL;
    size_t len = 0;
    REQUIRE(rt_read_file_bounded("policy/default-policy.json", RT_POLICY_MAX_BYTES, &file, &len) == 0);
    CHECK_EQ_INT(len, strlen(rt_default_policy_json));
    CHECK(len == strlen(rt_default_policy_json) && memcmp(file, rt_default_policy_json, len) == 0);
}

TEST(default_matches_the_guide) {
    _cleanup_(rt_policy_freep) struct rt_policy *p = NULL;
    REQUIRE(rt_policy_default(&p) == 0);
    for (int c = 0; c < RT_COND_COUNT; c++) {
        CHECK(p->cond[c].enabled);
        CHECK_EQ_INT(p->cond[c].window_us, 24 * HOUR_US);
        CHECK_EQ_INT(p->cond[c].max_evidence_age_us, 15 * MIN_US);
        CHECK_EQ_INT(p->cond[c].on_unknown, RT_ON_UNKNOWN_HOLD);
    }
    CHECK(!p->cond[RT_COND_P0_ALERT].has_threshold);
    CHECK(p->cond[RT_COND_ERROR_RATE].has_threshold);
    CHECK(p->cond[RT_COND_ERROR_RATE].threshold == 0.01);
    CHECK(!p->cond[RT_COND_RECON_DRIFT].has_threshold); /* tolerance null */
    CHECK(p->cond[RT_COND_CVSS].has_threshold);
    CHECK(p->cond[RT_COND_CVSS].threshold == 7.0);
    CHECK_EQ_INT(p->cvss_source, RT_CVSS_NVD_THEN_HIGHEST);
    CHECK_EQ_INT(p->n_bots, 0);
}

TEST(default_sha256_is_of_its_text) {
    _cleanup_(rt_policy_freep) struct rt_policy *p = NULL;
    REQUIRE(rt_policy_default(&p) == 0);
    unsigned char want[32];
    sha256_of(rt_default_policy_json, strlen(rt_default_policy_json), want);
    CHECK(memcmp(p->sha256, want, 32) == 0);
    _cleanup_(rt_policy_freep) struct rt_policy *f = NULL;
    struct rt_policy_errors errs = {0};
    REQUIRE(rt_policy_load_file("policy/default-policy.json", &f, &errs) == 0);
    CHECK(memcmp(f->sha256, want, 32) == 0);
}

TEST(minimal_file_is_the_default) {
    _cleanup_(rt_policy_freep) struct rt_policy *d = NULL;
    _cleanup_(rt_policy_freep) struct rt_policy *p = parse_ok("{'version': 1}");
    REQUIRE(p);
    REQUIRE(rt_policy_default(&d) == 0);
    for (int c = 0; c < RT_COND_COUNT; c++)
        CHECK(cond_eq(&p->cond[c], &d->cond[c]));
    CHECK_EQ_INT(p->cvss_source, d->cvss_source);
}

/* ---- sha256 ---- */

TEST(sha256_follows_the_bytes) {
    const char *a = "{\"version\": 1}", *b = "{\"version\":1}";
    _cleanup_(rt_policy_freep) struct rt_policy *pa = NULL, *pa2 = NULL, *pb = NULL;
    REQUIRE(rt_policy_parse(a, strlen(a), &pa, NULL) == 0);
    REQUIRE(rt_policy_parse(a, strlen(a), &pa2, NULL) == 0);
    REQUIRE(rt_policy_parse(b, strlen(b), &pb, NULL) == 0);
    unsigned char want[32];
    sha256_of(a, strlen(a), want);
    CHECK(memcmp(pa->sha256, want, 32) == 0);
    CHECK(memcmp(pa->sha256, pa2->sha256, 32) == 0);
    CHECK(memcmp(pa->sha256, pb->sha256, 32) != 0); /* same policy, other bytes */
    CHECK(cond_eq(&pa->cond[RT_COND_CVSS], &pb->cond[RT_COND_CVSS]));
}

/* ---- inheritance ---- */

TEST(file_conditions_inherit_the_default) {
    _cleanup_(rt_policy_freep) struct rt_policy *p =
        parse_ok("{'version': 1, 'cvss_source': 'highest',"
                 " 'conditions': {'error_rate': {'threshold': 0.02},"
                 "                'cvss': {'enabled': false, 'on_unknown': 'breach'},"
                 "                'recon_drift': {'tolerance': 250, 'window': '1h30m'},"
                 "                'p0_alert': {'max_evidence_age': '90s', 'on_unknown': 'reset'}}}");
    REQUIRE(p);
    const struct rt_cond_policy *er = &p->cond[RT_COND_ERROR_RATE];
    CHECK(er->enabled && er->has_threshold && er->threshold == 0.02);
    CHECK_EQ_INT(er->window_us, 24 * HOUR_US);
    CHECK_EQ_INT(er->max_evidence_age_us, 15 * MIN_US);
    const struct rt_cond_policy *cv = &p->cond[RT_COND_CVSS];
    CHECK(!cv->enabled && cv->has_threshold && cv->threshold == 7.0);
    CHECK_EQ_INT(cv->on_unknown, RT_ON_UNKNOWN_BREACH);
    const struct rt_cond_policy *rd = &p->cond[RT_COND_RECON_DRIFT];
    CHECK(rd->has_threshold && rd->threshold == 250);
    CHECK_EQ_INT(rd->window_us, 90 * MIN_US);
    const struct rt_cond_policy *p0 = &p->cond[RT_COND_P0_ALERT];
    CHECK_EQ_INT(p0->max_evidence_age_us, 90 * 1000000);
    CHECK_EQ_INT(p0->on_unknown, RT_ON_UNKNOWN_RESET);
    CHECK(!p0->has_threshold);
    CHECK_EQ_INT(p->cvss_source, RT_CVSS_HIGHEST);
}

TEST(bots_inherit_the_file_conditions) {
    /* bots before conditions in the text: inheritance does not depend on order */
    _cleanup_(rt_policy_freep) struct rt_policy *p =
        parse_ok("{'version': 1,"
                 " 'bots': {'mm-eth-01': {'error_rate': {'threshold': 0.05},"
                 "                        'recon_drift': {'tolerance': null}},"
                 "          'zero-tol': {'recon_drift': {'tolerance': 0}}},"
                 " 'conditions': {'error_rate': {'window': '48h'}, 'recon_drift': {'tolerance': 250}}}");
    REQUIRE(p);
    REQUIRE(p->n_bots == 2);
    const struct rt_cond_policy *er = rt_policy_cond(p, "mm-eth-01", RT_COND_ERROR_RATE);
    REQUIRE(er);
    CHECK(er->threshold == 0.05);
    CHECK_EQ_INT(er->window_us, 48 * HOUR_US); /* from the file */
    CHECK(!rt_policy_cond(p, "mm-eth-01", RT_COND_RECON_DRIFT)->has_threshold); /* null overrides 250 */
    const struct rt_cond_policy *zt = rt_policy_cond(p, "zero-tol", RT_COND_RECON_DRIFT);
    CHECK(zt->has_threshold && zt->threshold == 0);
    CHECK(cond_eq(rt_policy_cond(p, "mm-eth-01", RT_COND_CVSS), &p->cond[RT_COND_CVSS]));
    CHECK(cond_eq(rt_policy_cond(p, "zero-tol", RT_COND_ERROR_RATE), &p->cond[RT_COND_ERROR_RATE]));
    /* bots without an entry, and no bot, get the file's conditions */
    CHECK(rt_policy_cond(p, "other", RT_COND_ERROR_RATE) == &p->cond[RT_COND_ERROR_RATE]);
    CHECK(rt_policy_cond(p, NULL, RT_COND_RECON_DRIFT) == &p->cond[RT_COND_RECON_DRIFT]);
    CHECK(p->cond[RT_COND_RECON_DRIFT].threshold == 250);
    CHECK(rt_policy_cond(p, "other", RT_COND_COUNT) == NULL);
}

TEST(bots_are_sorted_for_lookup) {
    _cleanup_(rt_policy_freep) struct rt_policy *p =
        parse_ok("{'version': 1, 'bots': {"
                 "'zeta': {'cvss': {'threshold': 9}},"
                 "'mid': {'cvss': {'threshold': 8}},"
                 "'Alpha': {'cvss': {'threshold': 1}},"
                 "'alpha': {'cvss': {'threshold': 2}}}}");
    REQUIRE(p);
    REQUIRE(p->n_bots == 4);
    for (size_t i = 1; i < p->n_bots; i++)
        CHECK(strcmp(p->bots[i - 1].bot, p->bots[i].bot) < 0);
    CHECK(rt_policy_cond(p, "zeta", RT_COND_CVSS)->threshold == 9);
    CHECK(rt_policy_cond(p, "mid", RT_COND_CVSS)->threshold == 8);
    CHECK(rt_policy_cond(p, "Alpha", RT_COND_CVSS)->threshold == 1);
    CHECK(rt_policy_cond(p, "alpha", RT_COND_CVSS)->threshold == 2);
    CHECK(rt_policy_cond(p, "ALPHA", RT_COND_CVSS)->threshold == 7.0);
}

TEST(boundaries_are_accepted) {
    const char *ok[] = {
        "{'version': 1, 'conditions': {'error_rate': {'threshold': 0}}}",
        "{'version': 1, 'conditions': {'error_rate': {'threshold': 1}}}",
        "{'version': 1, 'conditions': {'cvss': {'threshold': 0.0}}}",
        "{'version': 1, 'conditions': {'cvss': {'threshold': 10}}}",
        "{'version': 1, 'conditions': {'recon_drift': {'tolerance': 0}}}",
        "{'version': 1, 'conditions': {'p0_alert': {'window': '365d', 'max_evidence_age': '1ms'}}}",
        "{'version': 1, 'conditions': {}, 'bots': {}}",
        "{'version': 1, 'bots': {'b': {}}}",
    };
    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        struct rt_policy *p = parse_ok(ok[i]);
        CHECK(p != NULL);
        rt_policy_free(p);
    }
}

/* ---- validation: one rule each, exact position ---- */

TEST(error_syntax_uses_jansson_position) {
    CHECK(only_error("{\n  'version': 1,\n}", 3, 1, "string or '}' expected"));
    CHECK(only_error("{'version': 1} x", 1, 16, "end of file expected"));
    CHECK(only_error("", 1, 1, "unexpected token"));
    CHECK(only_error("{'version': 1, 'bots': {'a': {'cvss': {'threshold': 1e999}}}}", 1, 57, "overflow"));
    CHECK(only_error("{'version': '\\u0000'}", 1, 20, "\\u0000"));
}

TEST(error_duplicate_keys) {
    CHECK(only_error("{'version': 1,\n 'version': 1}", 2, 10, "duplicate object key"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '1h', 'window': '2h'}}}", 1, 63,
                     "duplicate"));
    CHECK(only_error("{'version': 1, 'bots': {'a': {}, 'a': {}}}", 1, 36, "duplicate"));
}

TEST(error_version) {
    CHECK(only_error("\n  {'conditions': {}}", 2, 3, "missing \"version\""));
    CHECK(only_error("{'version': 2}", 1, 13, "unsupported \"version\" 2"));
    CHECK(only_error("{'version': 0}", 1, 13, "unsupported"));
    CHECK(only_error("{'version': '1'}", 1, 13, "must be the integer 1, not a string"));
    CHECK(only_error("{'version': 1.0}", 1, 13, "must be the integer 1, not a number"));
    CHECK(only_error("{'version': null}", 1, 13, "not null"));
}

TEST(error_root_not_object) {
    CHECK(only_error("[]", 1, 1, "must be a JSON object, not an array"));
    CHECK(only_error("\n\n   42", 3, 4, "not an integer"));
}

TEST(error_unknown_keys_name_the_allowed_ones) {
    CHECK(only_error("{'version': 1, 'comment': 'x'}", 1, 16,
                     "unknown key \"comment\" (allowed: version, cvss_source, conditions, bots)"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'treshold': 7}}}", 1, 40,
                     "unknown key \"treshold\" in condition \"cvss\" (allowed: enabled, window, "
                     "max_evidence_age, on_unknown, threshold)"));
    CHECK(only_error("{'version': 1,\n 'conditions': {\n  'p0_alert': {'threshold': 1}}}", 3, 16,
                     "unknown key \"threshold\" in condition \"p0_alert\" (allowed: enabled, window, "
                     "max_evidence_age, on_unknown)"));
    CHECK(only_error("{'version': 1, 'conditions': {'recon_drift': {'threshold': 1}}}", 1, 47,
                     "(allowed: enabled, window, max_evidence_age, on_unknown, tolerance)"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'tolerance': 1}}}", 1, 40,
                     "unknown key \"tolerance\" in condition \"cvss\""));
    CHECK(only_error("{'version': 1, 'conditions': {'error_rate': {'tolerance': 1}}}", 1, 46,
                     "unknown key \"tolerance\" in condition \"error_rate\""));
    CHECK(only_error("{'version': 1, 'bots': {'b1': {'cvss': {'enable': true}}}}", 1, 41,
                     "unknown key \"enable\""));
}

TEST(error_unknown_key_column_counts_characters) {
    /* "é" is two bytes but one column, as in jansson's columns */
    CHECK(only_error("{'version': 1, '\xc3\xa9': 1}", 1, 16, "unknown key"));
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(parse_q("{'\xc3\xa9': 1, 'version': 1, 'x': 2}", &p, &errs), -EINVAL);
    REQUIRE(errs.n == 2);
    CHECK_EQ_INT(errs.e[0].column, 2);
    CHECK_EQ_INT(errs.e[1].column, 24);
}

TEST(error_unknown_conditions) {
    CHECK(only_error("{'version': 1, 'conditions': {'latency': {}}}", 1, 31,
                     "unknown condition \"latency\" (allowed: p0_alert, error_rate, recon_drift, cvss)"));
    CHECK(only_error("{'version': 1, 'bots': {'b1': {'P0_alert': {}}}}", 1, 32, "unknown condition \"P0_alert\""));
}

TEST(error_wrong_types) {
    CHECK(only_error("{'version': 1, 'conditions': []}", 1, 30, "\"conditions\" must be an object, not an array"));
    CHECK(only_error("{'version': 1, 'bots': 'all'}", 1, 24, "\"bots\" must be an object, not a string"));
    CHECK(only_error("{'version': 1, 'bots': {'b1': true}}", 1, 31, "entry of bot \"b1\" must be an object, not true"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': 7}}", 1, 39,
                     "condition \"cvss\" must be an object, not an integer"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'enabled': 1}}}", 1, 51,
                     "\"enabled\" must be true or false, not an integer"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': 24}}}", 1, 50,
                     "\"window\" must be a duration string"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'max_evidence_age': null}}}", 1, 60,
                     "\"max_evidence_age\" must be a duration string such as \"24h\" or \"15m\", not null"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'threshold': '7'}}}", 1, 53,
                     "\"threshold\" must be a number, not a string"));
    CHECK(only_error("{'version': 1, 'conditions': {'recon_drift': {'tolerance': false}}}", 1, 60,
                     "\"tolerance\" must be a number or null, not false"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'on_unknown': 0}}}", 1, 54,
                     "\"on_unknown\" must be \"hold\", \"reset\" or \"breach\", not an integer"));
    CHECK(only_error("{'version': 1, 'cvss_source': ['nvd']}", 1, 31, "\"cvss_source\" must be"));
}

TEST(error_durations) {
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '0s'}}}", 1, 50,
                     "duration \"0s\" must be greater than 0"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '0h0m'}}}", 1, 50, "greater than 0"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '-1h'}}}", 1, 50, "invalid duration \"-1h\""));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': ''}}}", 1, 50, "invalid duration \"\""));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '24'}}}", 1, 50, "invalid duration"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '366d'}}}", 1, 50, "at most 365d"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'window': '99999999999999999999h'}}}", 1, 50,
                     "at most 365d"));
    CHECK(only_error("{'version': 1, 'bots': {'b': {'p0_alert': {'max_evidence_age': '0ms'}}}}", 1, 64,
                     "\"max_evidence_age\": duration \"0ms\" must be greater than 0"));
}

TEST(error_thresholds_and_tolerance) {
    CHECK(only_error("{'version': 1, 'conditions': {'error_rate': {'threshold': -0.01}}}", 1, 59,
                     "\"threshold\" must not be negative"));
    CHECK(only_error("{'version': 1, 'conditions': {'error_rate': {'threshold': 1.0001}}}", 1, 59,
                     "ratio between 0 and 1"));
    CHECK(only_error("{'version': 1, 'conditions': {'error_rate': {'threshold': 5}}}", 1, 59, "not 5"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'threshold': 10.01}}}", 1, 53,
                     "\"threshold\" of cvss must be between 0 and 10"));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'threshold': -1}}}", 1, 53, "must not be negative"));
    CHECK(only_error("{'version': 1, 'conditions': {'recon_drift': {'tolerance': -0.5}}}", 1, 60,
                     "\"tolerance\" must not be negative"));
}

TEST(error_on_unknown_and_cvss_source_values) {
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'on_unknown': 'ignore'}}}", 1, 54,
                     "\"on_unknown\" must be \"hold\", \"reset\" or \"breach\", not \"ignore\""));
    CHECK(only_error("{'version': 1, 'conditions': {'cvss': {'on_unknown': 'HOLD'}}}", 1, 54, "not \"HOLD\""));
    CHECK(only_error("{'version': 1, 'cvss_source': 'lowest'}", 1, 31,
                     "\"cvss_source\" must be \"nvd_then_highest\" or \"highest\", not \"lowest\""));
}

TEST(error_bot_ids) {
    CHECK(only_error("{'version': 1, 'bots': {'-b': {}}}", 1, 25, "invalid bot id \"-b\""));
    CHECK(only_error("{'version': 1, 'bots': {'': {}}}", 1, 25, "invalid bot id \"\""));
    CHECK(only_error("{'version': 1, 'bots': {'ok': {},\n   'a b': {}}}", 2, 4, "invalid bot id \"a b\""));
    CHECK(only_error("{'version': 1, 'bots': {'a/b~c': {}}}", 1, 25, "invalid bot id"));
    /* control characters are not echoed into the terminal */
    CHECK(only_error("{'version': 1, 'bots': {'a\\u001bb': {}}}", 1, 25, "invalid bot id \"a?b\""));
    char text[200];
    snprintf(text, sizeof text, "{'version': 1, 'bots': {'%065d': {}}}", 0);
    CHECK(only_error(text, 1, 25, "invalid bot id \"0000000000000000000000000000000000000000...\""));
    snprintf(text, sizeof text, "{'version': 1, 'bots': {'%064d': {}}}", 0);
    struct rt_policy *p = parse_ok(text);
    CHECK(p && p->n_bots == 1 && strlen(p->bots[0].bot) == 64);
    rt_policy_free(p);
}

/* ---- several errors ---- */

TEST(all_errors_reported_in_document_order) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    const char *q = "{\n"
                    "  'bots': {'x': {'cvss': {'threshold': 'high'}}, '-y': {}},\n"
                    "  'version': '1',\n"
                    "  'conditions': {'error_rate': {'windw': '24h', 'threshold': 2}},\n"
                    "  'extra': 0\n"
                    "}";
    CHECK_EQ_INT(parse_q(q, &p, &errs), -EINVAL);
    CHECK(p == NULL);
    REQUIRE(errs.n == 6);
    const int want[6][2] = {{2, 40}, {2, 50}, {3, 14}, {4, 33}, {4, 62}, {5, 3}};
    for (size_t i = 0; i < 6; i++) {
        CHECK_EQ_INT(errs.e[i].line, want[i][0]);
        CHECK_EQ_INT(errs.e[i].column, want[i][1]);
    }
    CHECK(strstr(errs.e[1].text, "invalid bot id \"-y\""));
    CHECK(strstr(errs.e[3].text, "unknown key \"windw\""));
    CHECK(strstr(errs.e[5].text, "unknown key \"extra\""));
}

TEST(error_list_is_capped) {
    /* 40 unknown top-level keys */
    char text[1024] = "{'version': 1";
    for (int i = 0; i < 40; i++) {
        char k[24];
        snprintf(k, sizeof k, ", 'k%02d': 0", i);
        strcat(text, k);
    }
    strcat(text, "}");
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(parse_q(text, &p, &errs), -EINVAL);
    REQUIRE(errs.n == RT_POLICY_MAX_ERRORS);
    CHECK(strstr(errs.e[0].text, "\"k00\""));
    CHECK(strstr(errs.e[RT_POLICY_MAX_ERRORS - 2].text, "\"k30\""));
    CHECK_EQ_INT(errs.e[RT_POLICY_MAX_ERRORS - 1].line, 0);
    CHECK(strstr(errs.e[RT_POLICY_MAX_ERRORS - 1].text, "too many errors"));
}

/* ---- size limits ---- */

TEST(input_size_limit) {
    _cleanup_free_ char *text = malloc(RT_POLICY_MAX_BYTES + 1);
    REQUIRE(text);
    memset(text, ' ', RT_POLICY_MAX_BYTES + 1);
    memcpy(text, "{\"version\": 1}", 14);
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_policy_parse(text, RT_POLICY_MAX_BYTES, &p, &errs), 0);
    rt_policy_free(p);
    p = NULL;
    CHECK_EQ_INT(rt_policy_parse(text, RT_POLICY_MAX_BYTES + 1, &p, &errs), -EINVAL);
    CHECK(p == NULL);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].line, 0);
    CHECK(strstr(errs.e[0].text, "larger than 1048576 bytes"));
}

/* The i-th of 62^3 distinct 3-character bot ids. */
static void nth_bot_id(size_t i, char id[4]) {
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    id[0] = alnum[i / (62 * 62) % 62];
    id[1] = alnum[i / 62 % 62];
    id[2] = alnum[i % 62];
    id[3] = '\0';
}

/* {"version":1,"bots":{"000":{},"001":{},...}} with n bots. */
static char *many_bots(size_t n, size_t *len) {
    char *t = malloc(32 + n * 9);
    if (!t)
        return NULL;
    size_t k = (size_t)sprintf(t, "{\"version\":1,\"bots\":{");
    for (size_t i = 0; i < n; i++) {
        char id[4];
        nth_bot_id(i, id);
        k += (size_t)sprintf(t + k, "%s\"%s\":{}", i ? "," : "", id);
    }
    k += (size_t)sprintf(t + k, "}}");
    *len = k;
    return t;
}

TEST(per_bot_entry_limit) {
    size_t len;
    _cleanup_free_ char *over = many_bots(RT_POLICY_MAX_BOTS + 1, &len);
    REQUIRE(over);
    REQUIRE(len <= RT_POLICY_MAX_BYTES);
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_policy_parse(over, len, &p, &errs), -EINVAL);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].line, 1);
    CHECK_EQ_INT(errs.e[0].column, 21);
    CHECK(strstr(errs.e[0].text, "too many per-bot entries: 100001 (at most 100000)"));

    _cleanup_free_ char *at = many_bots(RT_POLICY_MAX_BOTS, &len);
    REQUIRE(at);
    _cleanup_(rt_policy_freep) struct rt_policy *ok = NULL;
    REQUIRE(rt_policy_parse(at, len, &ok, &errs) == 0);
    CHECK_EQ_INT(ok->n_bots, RT_POLICY_MAX_BOTS);
    char first[4], last[4], absent[4];
    nth_bot_id(0, first);
    nth_bot_id(RT_POLICY_MAX_BOTS - 1, last);
    nth_bot_id(RT_POLICY_MAX_BOTS, absent);
    CHECK(rt_policy_cond(ok, first, RT_COND_CVSS) == &ok->bots[0].cond[RT_COND_CVSS]);
    CHECK(rt_policy_cond(ok, last, RT_COND_CVSS) != &ok->cond[RT_COND_CVSS]);
    CHECK(rt_policy_cond(ok, absent, RT_COND_CVSS) == &ok->cond[RT_COND_CVSS]);
}

/* ---- files ---- */

static bool write_temp(char path[64], const void *data, size_t len) {
    snprintf(path, 64, "/tmp/test_policy.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    bool ok = rt_write_all(fd, data, len) == 0;
    close(fd);
    return ok;
}

TEST(load_file_reads_and_hashes) {
    const char *text = "{\"version\": 1, \"conditions\": {\"cvss\": {\"threshold\": 9}}}\n";
    char path[64];
    REQUIRE(write_temp(path, text, strlen(text)));
    _cleanup_(rt_policy_freep) struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    int r = rt_policy_load_file(path, &p, &errs);
    unlink(path);
    REQUIRE(r == 0);
    CHECK(p->cond[RT_COND_CVSS].threshold == 9);
    unsigned char want[32];
    sha256_of(text, strlen(text), want);
    CHECK(memcmp(p->sha256, want, 32) == 0);
}

TEST(load_file_errors_have_no_position) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_policy_load_file("tests/policy/does-not-exist.json", &p, &errs), -ENOENT);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].line, 0);
    CHECK(strstr(errs.e[0].text, "cannot read"));

    _cleanup_free_ char *big = malloc(RT_POLICY_MAX_BYTES + 1);
    REQUIRE(big);
    memset(big, ' ', RT_POLICY_MAX_BYTES + 1);
    memcpy(big, "{\"version\": 1}", 14);
    char path[64];
    REQUIRE(write_temp(path, big, RT_POLICY_MAX_BYTES + 1));
    int r = rt_policy_load_file(path, &p, &errs);
    unlink(path);
    CHECK(r < 0);
    CHECK(p == NULL);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].line, 0);
    CHECK(strstr(errs.e[0].text, "larger than"));
}

static int load_policy(const char *path, struct rt_policy_errors *errs) {
    struct rt_policy *p = NULL;
    int r = rt_policy_load_file(path, &p, errs);
    CHECK(r == 0 ? p != NULL : p == NULL);
    rt_policy_free(p);
    return r;
}

TEST(sample_good_files_parse) { CHECK(rt_check_good_samples("tests/policy/good", load_policy) >= 4); }

/* Each bad NAME.json fails with its first error as in NAME.expected. */
TEST(sample_bad_files_report_expected_first_error) {
    CHECK(rt_check_bad_samples("tests/policy/bad", load_policy) >= 15);
}

TEST(parse_rejects_null_text_and_out) {
    struct rt_policy *p = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_policy_parse(NULL, 5, &p, &errs), -EINVAL);
    CHECK_EQ_INT(errs.n, 1);
    CHECK_EQ_INT(rt_policy_parse(NULL, 0, &p, &errs), -EINVAL); /* empty text is a syntax error */
    CHECK_EQ_INT(errs.e[0].line, 1);
    CHECK_EQ_INT(rt_policy_parse("{}", 2, NULL, &errs), -EINVAL);
    CHECK(p == NULL);
}

/* ---- common/jsonpos ---- */

/* Line 2 has the nested values, line 3 an escaped key, line 4 a two-byte
 * character, line 5 a string full of brackets and a CRLF ending. */
static const char jdoc[] = "{\n"
                           "  \"a\": {\"b\": [10, {\"c\": \"x\"}, [1,2]]},\n"
                           "  \"k\\u0041\\\"/~\": true,\n"
                           "  \"\xc3\xa9\": {\"d\": null},\n"
                           "  \"s\": \"{[\\\"]}\", \"t\": 1\r\n"
                           "}";

static bool pos_is(const char *ptr, int kl, int kc, int vl, int vc) {
    struct rt_jsonpos k = {0}, v = {0};
    int r = rt_jsonpos_find_pointer(jdoc, sizeof jdoc - 1, ptr, &k, &v);
    bool ok = r == 0 && k.line == kl && k.column == kc && v.line == vl && v.column == vc;
    if (!ok)
        fprintf(stderr, "    %s: r=%d key %d:%d value %d:%d\n", ptr, r, k.line, k.column, v.line, v.column);
    return ok;
}

TEST(jsonpos_finds_keys_and_values) {
    CHECK(pos_is("", 1, 1, 1, 1));
    CHECK(pos_is("/a", 2, 3, 2, 8));
    CHECK(pos_is("/a/b", 2, 9, 2, 14));
    CHECK(pos_is("/a/b/0", 2, 15, 2, 15));
    CHECK(pos_is("/a/b/1", 2, 19, 2, 19));
    CHECK(pos_is("/a/b/1/c", 2, 20, 2, 25));
    CHECK(pos_is("/a/b/2/1", 2, 34, 2, 34));
    CHECK(pos_is("/\xc3\xa9", 4, 3, 4, 8));
    CHECK(pos_is("/\xc3\xa9/d", 4, 9, 4, 14));
    CHECK(pos_is("/s", 5, 3, 5, 8));
    CHECK(pos_is("/t", 5, 18, 5, 23));
}

TEST(jsonpos_decodes_keys_and_pointer_escapes) {
    CHECK(pos_is("/kA\"~1~0", 3, 3, 3, 18));
    const char *segs[] = {"kA\"/~"};
    struct rt_jsonpos k, v;
    REQUIRE(rt_jsonpos_find(jdoc, sizeof jdoc - 1, segs, 1, &k, &v) == 0);
    CHECK_EQ_INT(v.offset, (size_t)(strstr(jdoc, "true") - jdoc));
    const char surrogate[] = "{\"\\ud83d\\ude00\": 1, \"\\u00e9\": 2}";
    const char *emoji[] = {"\xf0\x9f\x98\x80"}, *e_acute[] = {"\xc3\xa9"};
    CHECK_EQ_INT(rt_jsonpos_find(surrogate, sizeof surrogate - 1, emoji, 1, NULL, &v), 0);
    CHECK_EQ_INT(v.column, 18);
    CHECK_EQ_INT(rt_jsonpos_find(surrogate, sizeof surrogate - 1, e_acute, 1, NULL, &v), 0);
    CHECK_EQ_INT(v.column, 31);
}

TEST(jsonpos_missing_and_malformed) {
    struct rt_jsonpos v;
    size_t n = sizeof jdoc - 1;
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/z", NULL, &v), -ENOENT);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/a/b/3", NULL, &v), -ENOENT);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/a/b/01", NULL, &v), -ENOENT);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/a/b/-", NULL, &v), -ENOENT);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/t/x", NULL, &v), -ENOENT); /* into a scalar */
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/k", NULL, &v), -ENOENT);   /* prefix of a key */
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "a", NULL, &v), -EINVAL);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, n, "/~2", NULL, &v), -EINVAL);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(jdoc, 20, "/z", NULL, &v), -EINVAL); /* truncated */
    CHECK_EQ_INT(rt_jsonpos_find_pointer("   ", 3, "", NULL, &v), -EINVAL);
    CHECK_EQ_INT(rt_jsonpos_find_pointer("{\"a\": \"x\"}", 10, "/a/0", NULL, &v), -ENOENT);
    CHECK_EQ_INT(rt_jsonpos_find_pointer("{\"a\": \"x", 8, "/a/0", NULL, &v), -EINVAL);
    CHECK_EQ_INT(rt_jsonpos_find_pointer("{\"a\": 1, \"b", 11, "/b", NULL, &v), -EINVAL);
}

TEST(jsonpos_depth_is_bounded) {
    char ptr[3 * (RT_JSONPOS_MAX_DEPTH + 1) + 1] = "";
    for (int i = 0; i <= RT_JSONPOS_MAX_DEPTH; i++)
        strcat(ptr, "/0");
    const char *segs[RT_JSONPOS_MAX_DEPTH + 1];
    for (int i = 0; i <= RT_JSONPOS_MAX_DEPTH; i++)
        segs[i] = "0";
    /* 65 nested arrays: within the limit up to 64 segments, refused beyond */
    char deep[2 * (RT_JSONPOS_MAX_DEPTH + 1) + 2];
    size_t n = 0;
    for (int i = 0; i <= RT_JSONPOS_MAX_DEPTH; i++)
        deep[n++] = '[';
    deep[n++] = '7';
    for (int i = 0; i <= RT_JSONPOS_MAX_DEPTH; i++)
        deep[n++] = ']';
    struct rt_jsonpos v;
    CHECK_EQ_INT(rt_jsonpos_find(deep, n, segs, RT_JSONPOS_MAX_DEPTH, NULL, &v), 0);
    CHECK_EQ_INT(v.column, RT_JSONPOS_MAX_DEPTH + 1);
    CHECK_EQ_INT(rt_jsonpos_find(deep, n, segs, RT_JSONPOS_MAX_DEPTH + 1, NULL, &v), -E2BIG);
    CHECK_EQ_INT(rt_jsonpos_find_pointer(deep, n, ptr, NULL, &v), -E2BIG);
}

TEST(jsonpos_last_duplicate_wins) {
    const char text[] = "{\"a\": 1, \"a\": {\"b\": 2}}";
    struct rt_jsonpos k, v;
    REQUIRE(rt_jsonpos_find_pointer(text, sizeof text - 1, "/a/b", &k, &v) == 0);
    CHECK_EQ_INT(k.column, 16);
    CHECK_EQ_INT(v.column, 21);
    REQUIRE(rt_jsonpos_find_pointer(text, sizeof text - 1, "/a", &k, &v) == 0);
    CHECK_EQ_INT(k.column, 10);
}

TEST(jsonpos_at_offset) {
    size_t off = (size_t)(strstr(jdoc, "null") - jdoc);
    struct rt_jsonpos p = rt_jsonpos_at_offset(jdoc, sizeof jdoc - 1, off);
    CHECK_EQ_INT(p.line, 4);
    CHECK_EQ_INT(p.column, 14);
    CHECK_EQ_INT(p.offset, off);
    p = rt_jsonpos_at_offset(jdoc, sizeof jdoc - 1, SIZE_MAX);
    CHECK_EQ_INT(p.offset, sizeof jdoc - 1);
    CHECK_EQ_INT(p.line, 6);
    CHECK_EQ_INT(p.column, 2);
}

TEST_MAIN()
