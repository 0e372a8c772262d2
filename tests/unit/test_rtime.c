/* RFC 3339 times and durations. */
#include <errno.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "tests/unit/harness.h"

TEST(parses_rfc3339_forms) {
    int64_t t;
    REQUIRE(rt_time_parse("1970-01-01T00:00:00Z", &t) == 0);
    CHECK_EQ_INT(t, 0);
    REQUIRE(rt_time_parse("2026-11-23T20:29:43.421899993Z", &t) == 0); /* Alertmanager */
    CHECK_EQ_INT(t, INT64_C(1795465783421899));
    REQUIRE(rt_time_parse("2026-11-23T21:29:43+01:00", &t) == 0);
    CHECK_EQ_INT(t, INT64_C(1795465783000000));
    REQUIRE(rt_time_parse("2026-11-23t20:29:43.5z", &t) == 0);
    CHECK_EQ_INT(t, INT64_C(1795465783500000));
    REQUIRE(rt_time_parse("0001-01-01T00:00:00Z", &t) == 0); /* firing alerts' endsAt */
    CHECK_EQ_INT(t, INT64_C(-62135596800000000));
    REQUIRE(rt_time_parse("2024-02-29T00:00:00Z", &t) == 0);
}

TEST(rejects_malformed_times) {
    static const char *const bad[] = {
        "", "2026-11-23", "2026-11-23T20:29:43", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T20:60:00Z", "2026-11-23T20:29:43.Z",
        "2026-11-23T20:29:43.1234567890Z", "2026-11-23T20:29:43Zjunk", "2026-11-23 20:29:43Z",
        "2026-11-23T20:29:43+0100", "x026-11-23T20:29:43Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t;
        int r = rt_time_parse(bad[i], &t);
        if (r != -EINVAL)
            fprintf(stderr, "    accepted: %s\n", bad[i]);
        CHECK_EQ_INT(r, -EINVAL);
    }
}

TEST(formats_round_trip) {
    static const char *const good[] = {"1970-01-01T00:00:00Z", "2026-11-23T20:29:43.421899Z",
                                       "2026-11-23T20:29:43.500Z", "1969-12-31T23:59:59.999999Z",
                                       "2400-02-29T12:00:00Z"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t t;
        char buf[RT_TIME_BUFSZ];
        REQUIRE(rt_time_parse(good[i], &t) == 0);
        rt_time_format(t, buf);
        CHECK_EQ_STR(buf, good[i]);
    }
}

/* The digits rt_time_format() writes by hand are printf's. */
TEST(format_writes_what_printf_would) {
    uint64_t x = 0x2545f4914f6cdd1du;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t us = (int64_t)(x % (INT64_C(253402300800) * RT_USEC_PER_SEC)); /* 1970..9999 */
        if (i % 3 == 0)
            us -= us % RT_USEC_PER_SEC;
        else if (i % 3 == 1)
            us -= us % 1000;
        char got[RT_TIME_BUFSZ], want[RT_TIME_BUFSZ];
        rt_time_format(us, got);
        struct tm tm;
        time_t secs = (time_t)(us / RT_USEC_PER_SEC);
        int frac = (int)(us % RT_USEC_PER_SEC);
        gmtime_r(&secs, &tm);
        int n = (int)strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof(want) - (size_t)n, frac == 0 ? "Z" : frac % 1000 == 0 ? ".%03dZ" : ".%06dZ",
                 frac % 1000 == 0 ? frac / 1000 : frac);
        if (strcmp(got, want) != 0) {
            CHECK_EQ_STR(got, want);
            return;
        }
    }
}

TEST(format_matches_days_from_civil_for_every_day_of_four_centuries) {
    for (int64_t d = -73049; d < 73049; d += 1) { /* 1770..2170 */
        char buf[RT_TIME_BUFSZ];
        int64_t t, us = d * 86400 * RT_USEC_PER_SEC;
        rt_time_format(us, buf);
        if (rt_time_parse(buf, &t) != 0 || t != us) {
            CHECK(0);
            fprintf(stderr, "    day %lld -> %s\n", (long long)d, buf);
            return;
        }
    }
}

TEST(durations) {
    int64_t d;
    REQUIRE(rt_duration_parse("24h", &d) == 0);
    CHECK_EQ_INT(d, INT64_C(86400000000));
    REQUIRE(rt_duration_parse("1h30m", &d) == 0);
    CHECK_EQ_INT(d, INT64_C(5400000000));
    REQUIRE(rt_duration_parse("500ms", &d) == 0);
    CHECK_EQ_INT(d, 500000);
    REQUIRE(rt_duration_parse("1w", &d) == 0);
    CHECK_EQ_INT(d, INT64_C(604800000000));
    CHECK_EQ_INT(rt_duration_parse("0s", &d), -ERANGE);
    CHECK_EQ_INT(rt_duration_parse("-5m", &d), -EINVAL);
    CHECK_EQ_INT(rt_duration_parse("5", &d), -EINVAL);
    CHECK_EQ_INT(rt_duration_parse("5y", &d), -EINVAL);
    CHECK_EQ_INT(rt_duration_parse("h", &d), -EINVAL);
    CHECK_EQ_INT(rt_duration_parse("", &d), -EINVAL);
    CHECK_EQ_INT(rt_duration_parse("99999999999999999999w", &d), -ERANGE);
    CHECK_EQ_INT(rt_duration_parse("10000000000w", &d), -ERANGE);
}

TEST(duration_format_is_readable) {
    char buf[RT_DURATION_BUFSZ];
    rt_duration_format(INT64_C(11520) * RT_USEC_PER_SEC, buf);
    CHECK_EQ_STR(buf, "3h12m");
    rt_duration_format(45 * RT_USEC_PER_SEC, buf);
    CHECK_EQ_STR(buf, "45s");
    rt_duration_format(INT64_C(100800) * RT_USEC_PER_SEC, buf);
    CHECK_EQ_STR(buf, "1d4h");
    rt_duration_format(0, buf);
    CHECK_EQ_STR(buf, "0s");
    rt_duration_format(-5, buf);
    CHECK_EQ_STR(buf, "0s");
    rt_duration_format(2500, buf);
    CHECK_EQ_STR(buf, "2ms");
    rt_duration_format(236371, buf);
    CHECK_EQ_STR(buf, "236ms");
    rt_duration_format(999, buf);
    CHECK_EQ_STR(buf, "999us");
    rt_duration_format(250000, buf);
    CHECK_EQ_STR(buf, "250ms");
    rt_duration_format(3600 * RT_USEC_PER_SEC, buf);
    CHECK_EQ_STR(buf, "1h");
}

TEST(json_numbers_are_shortest_round_trip) {
    struct rt_strbuf b = {0};
    rt_sb_json_num(&b, 0.02);
    rt_sb_puts(&b, " ");
    rt_sb_json_num(&b, 7.1);
    rt_sb_puts(&b, " ");
    rt_sb_json_num(&b, 1e-7);
    rt_sb_puts(&b, " ");
    rt_sb_json_num(&b, -0.0);
    rt_sb_puts(&b, " ");
    rt_sb_json_seconds(&b, 7200 * RT_USEC_PER_SEC);
    rt_sb_puts(&b, " ");
    rt_sb_json_seconds(&b, 1500000);
    REQUIRE(!b.oom);
    CHECK_EQ_STR(b.s, "0.02 7.1 1e-07 0 7200 1.5");
    rt_sb_free(&b);
}

/* rt_format_double() as it first was: the shortest "%.*g" that reads back
 * (strtod) as the same double, tried 1, 2, ... 17 digits in turn. */
static void format_double_linear(char buf[32], double v) {
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        snprintf(buf, 32, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static bool same_format(double v) {
    char a[32], b[32];
    rt_format_double(a, v);
    format_double_linear(b, v);
    if (strcmp(a, b) != 0)
        fprintf(stderr, "    %a: \"%s\", the linear search gives \"%s\"\n", v, a, b);
    return strcmp(a, b) == 0;
}

/* The signed log's canonical numbers use this function: its output must not
 * change with the digit algorithm (Ryu, common/shortest.c) that replaced the
 * search. Random bit patterns, short decimals at every scale and their
 * neighbours, ratios like Prometheus's, mantissas rich in factors of five
 * (exact halfway cases), large integers, every power of two, subnormals,
 * edges. (Outside the unit tests it was also run on 36 million values.) */
TEST(format_double_gives_the_linear_answer) {
    uint64_t x = 0x9e3779b97f4a7c15u;
    int bad = 0;
    for (int i = 0; i < 30000 && bad < 5; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof(v));
        bad += isfinite(v) && !same_format(v);
        bad += !same_format((double)(x % 100000) / pow(10, (double)(x >> 60)));
        bad += !same_format((double)(x % 1000 + 1) / (double)(x % 997 + 3));
        double d = (double)(x % 1000000) * pow(10, (double)((int)((x >> 50) % 80) - 40));
        bad += !same_format(d) + !same_format(nextafter(d, 0)) + !same_format(-nextafter(d, INFINITY));
        bad += !same_format(ldexp((double)(x >> 11), (int)(x % 2100) - 1100));
        bad += !same_format((double)(x >> (x % 40)));
        uint64_t p5 = 1;
        for (uint64_t t = x % 23; t > 0; t--)
            p5 *= 5;
        double m = (double)((x >> 20) % ((UINT64_C(1) << 53) / p5 + 1) * p5);
        bad += !same_format(ldexp(m, (int)((x >> 8) % 400))) + !same_format(ldexp(m, -(int)((x >> 8) % 80)));
    }
    for (int e = -1074; e <= 1023 && bad < 5; e++)
        bad += !same_format(ldexp(1, e)) + !same_format(-ldexp(1, e)) + !same_format(nextafter(ldexp(1, e), 0)) +
               !same_format(nextafter(ldexp(1, e), INFINITY));
    static const double edge[] = {0.1, 0.3, 1e15, 1e15 + 0.5, 9.96, 0.019999999999999997, 5e-324, 1.7976931348623157e308,
                                  -412.5, 2.2250738585072014e-308, 2.2250738585072009e-308, 1e-7, 123456789.123,
                                  0.0007692307692307692, 1e16, 9007199254740993.0, 1e21, 1e22, 1e23, 5e-5, 1e-4,
                                  0.0001234, 123456789012345680.0, -0.0, 0.0, -1.0, NAN, -NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        bad += !same_format(edge[i]);
    CHECK(bad == 0);
}

TEST(json_strings_are_escaped_and_valid_utf8) {
    struct rt_strbuf b = {0};
    rt_sb_json_str(&b, "a\"b\\c\n\x01 \xC3\xA9 \xFF \xED\xA0\x80");
    REQUIRE(!b.oom);
    CHECK_EQ_STR(b.s, "\"a\\\"b\\\\c\\u000a\\u0001 \xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    rt_sb_free(&b);
}

TEST_MAIN()
