/* Bugs the libFuzzer harnesses (fuzz/) found, each reproduced through the
 * normal build. The inputs that found them are in fuzz/regressions/<name>/
 * and are replayed by `make fuzz` and `make fuzz-regress`. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cmdlog/record.h"
#include "enforcer/config.h"
#include "feeds/alertmanager.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "tests/unit/harness.h"

#define T0 INT64_C(1795000000000000)

static void no_decision(const struct rt_decision *d, void *ud) { (void)d, (void)ud; }

static void put_i64(uint8_t *p, int64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

/* fuzz/regressions/statestore/rebase-overflow: a window-store record whose
 * times were far outside any real clock (CRC intact) was accepted, and the
 * rebase on the next boot overflowed int64 (undefined behaviour). Records
 * with such times are now corrupt (-EBADMSG). */
TEST(engine_refuses_restored_times_that_would_overflow) {
    struct rt_policy *p = NULL;
    REQUIRE(rt_policy_default(&p) == 0);
    struct rt_engine *e = rt_engine_new(p), *e2 = rt_engine_new(p);
    REQUIRE(e && e2);
    struct rt_obs o = {.bot = "alpha", .cond = RT_COND_P0_ALERT, .ts_us = T0, .known = true, .value = 1};
    struct rt_now now = {T0, INT64_C(3600000000)};
    REQUIRE(rt_engine_observe(e, &o, now, no_decision, NULL) == 0);
    uint8_t rec[RT_BOT_RECORD_MAX], clock[64];
    int n = rt_engine_encode_bot(e, "alpha", rec, sizeof rec);
    int m = rt_engine_encode_clock(e, clock, sizeof clock);
    REQUIRE(n == 218 && m == 18);
    CHECK_EQ_INT(rt_engine_decode_bot(e2, "alpha", rec, (size_t)n), 0); /* the real record is fine */
    CHECK_EQ_INT(rt_engine_decode_clock(e2, clock, (size_t)m), 0);

    /* cond 0's last_e (bytes 20..27) as in the fuzzer's input */
    uint8_t bad[RT_BOT_RECORD_MAX];
    memcpy(bad, rec, (size_t)n);
    put_i64(bad + 20, INT64_C(-9205357638345293825));
    int r = rt_engine_decode_bot(e2, "beta", bad, (size_t)n);
    CHECK_EQ_INT(r, -EBADMSG);
    if (r == 0) /* the old behaviour: the next start's rebase overflows */
        rt_engine_rebase(e2, (struct rt_now){T0, 1});
    memcpy(bad, rec, (size_t)n);
    put_i64(bad + 28, INT64_MAX); /* ws_e */
    CHECK_EQ_INT(rt_engine_decode_bot(e2, "beta", bad, (size_t)n), -EBADMSG);
    memcpy(bad, rec, (size_t)n);
    put_i64(bad + 2, INT64_MIN + 1); /* readiness_since */
    CHECK_EQ_INT(rt_engine_decode_bot(e2, "beta", bad, (size_t)n), -EBADMSG);

    uint8_t badclock[64];
    memcpy(badclock, clock, (size_t)m);
    put_i64(badclock + 2, INT64_MAX); /* wall - mono offset */
    CHECK_EQ_INT(rt_engine_decode_clock(e2, badclock, (size_t)m), -EBADMSG);
    rt_engine_free(e);
    rt_engine_free(e2);
    rt_policy_free(p);
}

/* fuzz/regressions/statestore/reopen-after-rebase: the limit above must
 * hold after a rebase too, or a store that opened once would be refused at
 * the next start: an extreme but accepted time is clamped when shifted. */
TEST(engine_rebase_keeps_restored_times_readable) {
    struct rt_policy *p = NULL;
    REQUIRE(rt_policy_default(&p) == 0);
    struct rt_engine *e = rt_engine_new(p), *e2 = rt_engine_new(p), *e3 = rt_engine_new(p);
    REQUIRE(e && e2 && e3);
    struct rt_obs o = {.bot = "alpha", .cond = RT_COND_P0_ALERT, .ts_us = T0, .known = true, .value = 1};
    REQUIRE(rt_engine_observe(e, &o, (struct rt_now){T0, 1000}, no_decision, NULL) == 0);
    uint8_t rec[RT_BOT_RECORD_MAX], clock[64];
    int n = rt_engine_encode_bot(e, "alpha", rec, sizeof rec);
    int m = rt_engine_encode_clock(e, clock, sizeof clock);
    REQUIRE(n == 218 && m == 18);
    const int64_t lim = INT64_C(1) << 60;
    put_i64(rec + 20, lim);  /* last_e */
    put_i64(rec + 28, lim);  /* ws_e */
    put_i64(clock + 2, lim); /* offset: the rebase shifts by about +2^60 */
    REQUIRE(rt_engine_decode_bot(e2, "alpha", rec, (size_t)n) == 0);
    REQUIRE(rt_engine_decode_clock(e2, clock, (size_t)m) == 0);
    rt_engine_rebase(e2, (struct rt_now){T0, 1000});
    n = rt_engine_encode_bot(e2, "alpha", rec, sizeof rec);
    m = rt_engine_encode_clock(e2, clock, sizeof clock);
    REQUIRE(n == 218 && m == 18);
    CHECK_EQ_INT(rt_engine_decode_bot(e3, "alpha", rec, (size_t)n), 0);
    CHECK_EQ_INT(rt_engine_decode_clock(e3, clock, (size_t)m), 0);
    rt_engine_free(e);
    rt_engine_free(e2);
    rt_engine_free(e3);
    rt_policy_free(p);
}

static int no_user(const char *name, uid_t *out, void *ud) {
    (void)name, (void)ud;
    *out = 0;
    return -ENOENT;
}

static int parse_enf(const char *origin, struct rt_policy_errors *errs) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"version\": 1, \"allowed_peers\": {\"uids\": [990]}, \"state_dir\": \"/s\", \"origin\": \"%s\","
             " \"key\": {\"file\": \"/k\"}, \"key_name\": \"k1\"}",
             origin);
    struct rt_enf_id_lookup lookup = {.user = no_user};
    struct rt_enf_config *c = NULL;
    memset(errs, 0, sizeof *errs);
    int r = rt_enf_config_parse_with(text, strlen(text), &lookup, &c, errs);
    if (r == 0)
        CHECK(rt_log_origin_valid(c->origin)); /* what the log writer will require */
    rt_enf_config_free(c);
    return r;
}

/* fuzz/regressions/enf_config/origin-plus: the enforcer's configuration
 * accepted any printable origin ("ratchet.example.com/commands+v2"), which
 * the command-log writer then refused at start-up. */
TEST(enforcer_config_origin_is_a_log_origin) {
    struct rt_policy_errors errs;
    CHECK_EQ_INT(parse_enf("ratchet.example.com/commands-v2", &errs), 0);
    CHECK_EQ_INT(parse_enf("host:8443/a_b.c", &errs), 0);
    static const char *const bad[] = {"ratchet.example.com/commands+v2", "a#b", "a\\\"b", "a,b", "a=b", "~x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(parse_enf(bad[i], &errs), -EINVAL);
        CHECK(errs.n == 1 && strstr(errs.e[0].text, "[A-Za-z0-9._:/-]") != NULL);
    }
}

/* fuzz/regressions/am_matchers/: glibc's regcomp copies a repeated part per
 * repetition, and its time grows steeply when a repeated part can be empty.
 * "x" followed by 45 "+" needed 2^45 nodes (regex-plus-chain-oom: the
 * fuzzer stopped it at 2 GB), "x??" followed by "+"s took minutes
 * (nullable-repeat-timeout; "x??++++" alone takes 3.5 s), "]{,32213}"
 * 16 GB (open-interval-timeout: glibc reads "{,m}" and "{\\,}" as
 * intervals, RE2 as text). Such regexes are now refused when the matchers
 * are parsed. */
TEST(matcher_regexes_that_explode_are_refused) {
    static const char *const refused[] = {
        "sy!~\"|\\\n-x-]|\n+++++++++++++++++++++++++++++++++++++++++++++\\\"x\\\"x\"",
        "vty!~\"\\\"??++++++++%++++++++++??\\\"\"",
        "a=~\"x??++++\"",
        "a=~\"(x?){0,1000}\"",
        "a=~\"((((x?)+)+)+)((((x?)+)+)+)((((x?)+)+)+)((((x?)+)+)+)\"",
        "a=~\"(a|)+\"",
        "a=~\"x++++++++++++++++++++++++++++++++++++++++\"",
        "a=~\"(((((x)+)+)+)+)+\"",
        "a=~\"((xy){1,20}){1,26}\"",
        "a=~\"a{0,32000}\"",
        "jo3=~\"]{,32213}\",b", /* open-interval-timeout: glibc reads {,m} as {0,m} (16 GB, 41 s) */
        "a=~\"]{\\\\,}{1,}{1,}{10,}\"", /* brace-escape-timeout: glibc reads {\,} as {,} (minutes) */
    };
    static const char *const accepted[] = {
        "a=~\"((xy){1,20}){1,25}\"",
        "a=~\"((25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\\\\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\"",
        "severity=~\"P0|crit.*\", team!~\"(sandbox|test)+\", bot=~\"[a-z]+(-[0-9]+)*\"",
        "a=~\"((((x)+)+)+)\"",
        "a=~\"(.*a){100}\"",
    };
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int r = rt_am_matchers_parse(refused[i], &m, err, sizeof err);
        CHECK_EQ_INT(r, -EINVAL);
        if (r == 0)
            rt_am_matchers_free(&m);
        else
            CHECK(strstr(err, "regex too costly") != NULL || strstr(err, "starts no interval") != NULL);
    }
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        int r = rt_am_matchers_parse(accepted[i], &m, err, sizeof err);
        if (r != 0)
            fprintf(stderr, "    %s: %s\n", accepted[i], err);
        CHECK_EQ_INT(r, 0);
        if (r == 0)
            rt_am_matchers_free(&m);
    }
}

TEST_MAIN()
