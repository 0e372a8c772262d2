/* CVSS v3.x parsing and base scores. The expected scores come from
 * tests/cvss/vectors.tsv, which holds published scores only (FIRST examples
 * documents, NVD); run from the repository root. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "feeds/cvss.h"
#include "tests/unit/harness.h"

#define VECTORS_TSV "tests/cvss/vectors.tsv"

/* Splits "vector\tscore\tsource\n" in place; false if the line is malformed. */
static bool split_row(char *line, char **vector, char **score, char **source) {
    line[strcspn(line, "\r\n")] = '\0';
    char *t1 = strchr(line, '\t');
    if (!t1)
        return false;
    char *t2 = strchr(t1 + 1, '\t');
    if (!t2)
        return false;
    *t1 = *t2 = '\0';
    *vector = line;
    *score = t1 + 1;
    *source = t2 + 1;
    return **vector && **score && **source;
}

TEST(published_vectors_score_as_published) {
    _cleanup_fclose_ FILE *f = fopen(VECTORS_TSV, "re");
    REQUIRE(f);
    char line[1024];
    int rows = 0, lineno = 0, v30 = 0, v31 = 0, scope_changed = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        REQUIRE(strchr(line, '\n') || feof(f)); /* no line longer than the buffer */
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        char *vector, *score_text, *source;
        if (!split_row(line, &vector, &score_text, &source)) {
            fprintf(stderr, "    %s:%d: malformed row\n", VECTORS_TSV, lineno);
            CHECK(false);
            continue;
        }
        char *end;
        double expected = strtod(score_text, &end);
        CHECK(*end == '\0' && expected >= 0.0 && expected <= 10.0);

        double got = -1.0;
        char err[128];
        int r = rt_cvss_score(vector, &got, err, sizeof(err));
        if (r != 0 || fabs(got - expected) > 1e-9)
            fprintf(stderr, "    %s:%d: %s: expected %s, got %.1f (%s)\n", VECTORS_TSV, lineno,
                    vector, score_text, got, r ? err : "ok");
        CHECK_EQ_INT(r, 0);
        CHECK_NEAR(got, expected, 1e-9);
        CHECK(rt_cvss_severity(got) != NULL);

        rows++;
        v30 += strncmp(vector, "CVSS:3.0/", 9) == 0;
        v31 += strncmp(vector, "CVSS:3.1/", 9) == 0;
        scope_changed += strstr(vector, "/S:C") != NULL;
    }
    CHECK(!ferror(f));
    CHECK(rows >= 50);
    CHECK(v30 >= 10);
    CHECK(v31 >= 10);
    CHECK(scope_changed >= 10);
}

struct bad_vector {
    const char *vector;
    const char *error; /* expected substring of the message */
};

static const struct bad_vector bad_vectors[] = {
    {"", "empty vector"},
    {"AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "wrong prefix"},
    {"cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "wrong prefix"},
    {" CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "wrong prefix"},
    {"CVSS3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "wrong prefix"},
    {"CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "unsupported CVSS version '2.0'"},
    {"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "unsupported CVSS version '4.0'"},
    {"CVSS:3.10/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "unsupported CVSS version '3.10'"},
    {"CVSS:3.1", "no metrics"},
    {"CVSS:3.1/", "no metrics"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "missing base metric A"},
    {"CVSS:3.1/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "missing base metric AV"},
    {"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H", "missing base metric S"},
    {"CVSS:3.1/E:F/RL:O/RC:C", "missing base metric AV"},
    {"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "duplicate metric 'AV'"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/E:X", "duplicate metric 'E'"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:N", "unknown metric 'XX'"},
    {"CVSS:3.1/av:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "unknown metric 'av'"},
    {"CVSS:3.1/AV:N/AC:L/Au:N/PR:N/UI:N/S:U/C:H/I:H/A:H", "unknown metric 'Au'"},
    {"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "invalid value 'X' for metric AV"},
    {"CVSS:3.1/AV:n/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "invalid value 'n' for metric AV"},
    {"CVSS:3.1/AV:N/AC:M/PR:N/UI:N/S:U/C:H/I:H/A:H", "invalid value 'M' for metric AC"},
    /* FIRST's calculator regex lets PR:U through; it is not a PR value. */
    {"CVSS:3.1/AV:N/AC:L/PR:U/UI:N/S:U/C:H/I:H/A:H", "invalid value 'U' for metric PR"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H", "invalid value 'X' for metric S"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:P/I:H/A:H", "invalid value 'P' for metric C"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:Z", "invalid value 'Z' for metric E"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MPR:U", "invalid value 'U' for metric MPR"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:N", "invalid value 'N' for metric CR"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", "trailing '/'"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H ", "trailing junk after 'A:H'"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n", "trailing junk after 'A:H'"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:HIGH", "trailing junk after 'A:H'"},
    {"CVSS:3.1/AV:N:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "trailing junk after 'AV:N'"},
    {"CVSS:3.1/AV:N//AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "empty metric"},
    {"CVSS:3.1/AV/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "malformed metric 'AV'"},
    {"CVSS:3.1/:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "malformed metric ':N'"},
    {"CVSS:3.1/AV:/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "missing value for metric AV"},
};

TEST(invalid_vectors_are_rejected_with_a_clear_message) {
    for (size_t k = 0; k < ELEMENTSOF(bad_vectors); k++) {
        const struct bad_vector *b = &bad_vectors[k];
        char err[160] = "unset";
        double score = 42.0;
        int r = rt_cvss_score(b->vector, &score, err, sizeof(err));
        if (r != -EINVAL || !strstr(err, b->error))
            fprintf(stderr, "    \"%s\": r=%d err=\"%s\", want \"%s\"\n", b->vector, r, err, b->error);
        CHECK_EQ_INT(r, -EINVAL);
        CHECK(strstr(err, b->error) != NULL);
        CHECK(score == 42.0); /* untouched on failure */
    }
}

TEST(null_input_is_rejected) {
    char err[64];
    struct rt_cvss v;
    CHECK_EQ_INT(rt_cvss_parse(NULL, &v, err, sizeof(err)), -EINVAL);
    CHECK(err[0] != '\0');
}

TEST(length_limit_is_256_bytes) {
    char buf[RT_CVSS_VECTOR_MAX + 2];
    char err[128];
    double score;

    memset(buf, 'A', RT_CVSS_VECTOR_MAX + 1);
    buf[RT_CVSS_VECTOR_MAX + 1] = '\0'; /* 257 bytes */
    CHECK_EQ_INT(rt_cvss_score(buf, &score, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "too long") != NULL);

    buf[RT_CVSS_VECTOR_MAX] = '\0'; /* 256 bytes: within the limit, fails for another reason */
    CHECK_EQ_INT(rt_cvss_score(buf, &score, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "too long") == NULL);
    CHECK(strstr(err, "wrong prefix") != NULL);

    /* A valid vector padded past the limit is still refused up front. */
    const char *valid = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    size_t n = strlen(valid);
    memcpy(buf, valid, n);
    memset(buf + n, 'X', RT_CVSS_VECTOR_MAX + 1 - n);
    buf[RT_CVSS_VECTOR_MAX + 1] = '\0';
    CHECK_EQ_INT(rt_cvss_score(buf, &score, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "too long") != NULL);
}

TEST(messages_quote_input_safely) {
    char err[160];
    double score;
    /* A long, non-printable unknown metric name is shortened and made printable. */
    char vec[200] = "CVSS:3.1/";
    size_t n = strlen(vec);
    memset(vec + n, 'Z', 60);
    vec[n + 5] = '\x1b';
    memcpy(vec + n + 60, ":N", 3);
    CHECK_EQ_INT(rt_cvss_score(vec, &score, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "unknown metric 'ZZZZZ?") != NULL);
    CHECK(strstr(err, "...'") != NULL);
    CHECK(strchr(err, '\x1b') == NULL);
    CHECK(strlen(err) < 60);

    /* A tiny buffer is truncated, never overrun; no buffer at all is fine. */
    char small[8];
    CHECK_EQ_INT(rt_cvss_score("CVSS:3.1/XX:N", &score, small, sizeof(small)), -EINVAL);
    CHECK_EQ_INT((int)strlen(small), 7);
    CHECK_EQ_INT(rt_cvss_score("CVSS:3.1/XX:N", &score, NULL, 0), -EINVAL);
}

TEST(parse_records_version_and_values) {
    struct rt_cvss v;
    char err[128];
    REQUIRE(rt_cvss_parse("CVSS:3.0/AV:A/AC:H/PR:L/UI:R/S:C/C:L/I:N/A:H/E:F/RL:X/MAV:P", &v, err,
                          sizeof(err)) == 0);
    CHECK_EQ_INT(v.version, RT_CVSS_V3_0);
    CHECK_EQ_INT(v.value[RT_CVSS_AV], 'A');
    CHECK_EQ_INT(v.value[RT_CVSS_S], 'C');
    CHECK_EQ_INT(v.value[RT_CVSS_A], 'H');
    CHECK_EQ_INT(v.value[RT_CVSS_E], 'F');
    CHECK_EQ_INT(v.value[RT_CVSS_RL], 'X');
    CHECK_EQ_INT(v.value[RT_CVSS_MAV], 'P');
    CHECK_EQ_INT(v.value[RT_CVSS_RC], 0);
    CHECK_EQ_STR(rt_cvss_version_name(v.version), "3.0");
    CHECK_EQ_STR(rt_cvss_metric_name(RT_CVSS_MPR), "MPR");
    CHECK_EQ_STR(rt_cvss_metric_name(RT_CVSS_S), "S");

    struct rt_cvss untouched = v;
    CHECK_EQ_INT(rt_cvss_parse("CVSS:3.1/AV:N", &v, err, sizeof(err)), -EINVAL);
    CHECK(memcmp(&v, &untouched, sizeof(v)) == 0);
}

static double score_of(const char *vector) {
    double s = -1.0;
    char err[128];
    if (rt_cvss_score(vector, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "    %s: %s\n", vector, err);
        return -1.0;
    }
    return s;
}

TEST(metric_order_and_non_base_metrics_do_not_change_the_base_score) {
    /* The out-of-order example vector string of the v3.x specifications. */
    double canonical = score_of("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:N");
    CHECK(canonical > 0.0);
    CHECK(score_of("CVSS:3.1/S:U/AV:N/AC:L/PR:H/UI:N/C:L/I:L/A:N/E:F/RL:X") == canonical);

    double base = score_of("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N");
    CHECK(base > 0.0);
    CHECK(score_of("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N/E:U/RL:O/RC:U/CR:L/IR:L/AR:L/"
                   "MAV:P/MAC:H/MPR:H/MUI:R/MS:U/MC:N/MI:N/MA:N") == base);
    CHECK(score_of("CVSS:3.1/A:N/I:L/C:L/S:C/UI:N/PR:L/AC:L/AV:N/E:X/RL:X/RC:X/CR:X/IR:X/AR:X/"
                   "MAV:X/MAC:X/MPR:X/MUI:X/MS:X/MC:X/MI:X/MA:X") == base);
}

TEST(no_impact_scores_zero) {
    /* Spec: if the Impact sub score is <= 0 the base score is 0, whatever
     * the exploitability; for S:C the impact formula goes negative. */
    CHECK(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N") == 0.0);
    CHECK(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:N/A:N") == 0.0);
    CHECK(score_of("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:N/A:N") == 0.0);
    CHECK_EQ_STR(rt_cvss_severity(0.0), "None");
}

TEST(roundup_follows_each_version) {
    for (int ver = RT_CVSS_V3_0; ver <= RT_CVSS_V3_1; ver++) {
        /* The specifications' own examples. */
        CHECK(rt_cvss_roundup(ver, 4.02) == 4.1);
        CHECK(rt_cvss_roundup(ver, 4.00) == 4.0);
        CHECK(rt_cvss_roundup(ver, 0.0) == 0.0);
        CHECK(rt_cvss_roundup(ver, 10.0) == 10.0);
        CHECK(rt_cvss_roundup(ver, 9.91) == 10.0);
    }
    /* Float noise just above a boundary: v3.0's ceil() rounds it up, v3.1's
     * integer Roundup (Appendix A) does not. 0.1 + 0.2 is 0.30000000000000004. */
    double noisy = 0.1 + 0.2;
    CHECK(noisy > 0.3);
    CHECK(rt_cvss_roundup(RT_CVSS_V3_0, noisy) == 0.4);
    CHECK(rt_cvss_roundup(RT_CVSS_V3_1, noisy) == 0.3);
    CHECK(rt_cvss_roundup(RT_CVSS_V3_0, 4.000000000000001) == 4.1);
    CHECK(rt_cvss_roundup(RT_CVSS_V3_1, 4.000000000000001) == 4.0);
    /* FIRST's reference implementation notes: 0.000001 rounds to 0.0 but
     * 0.000009 to 0.1 (the input is first rounded to 5 decimals). */
    CHECK(rt_cvss_roundup(RT_CVSS_V3_1, 0.000001) == 0.0);
    CHECK(rt_cvss_roundup(RT_CVSS_V3_1, 0.000009) == 0.1);
    CHECK(rt_cvss_roundup(RT_CVSS_V3_0, 0.000001) == 0.1);
}

/* Every combination of base metric values: the score is exactly k/10 in
 * range, and (see the note in vectors.tsv) v3.0 and v3.1 agree. */
TEST(v30_and_v31_base_scores_agree) {
    static const char *const values[RT_CVSS_BASE_COUNT] = {"NALP", "LH", "NLH", "NR", "UC", "HLN", "HLN", "HLN"};
    int idx[RT_CVSS_BASE_COUNT] = {0};
    int combos = 0, differing = 0;
    for (;;) {
        char v30[64], v31[64], tail[48];
        snprintf(tail, sizeof(tail), "AV:%c/AC:%c/PR:%c/UI:%c/S:%c/C:%c/I:%c/A:%c", values[0][idx[0]],
                 values[1][idx[1]], values[2][idx[2]], values[3][idx[3]], values[4][idx[4]],
                 values[5][idx[5]], values[6][idx[6]], values[7][idx[7]]);
        snprintf(v30, sizeof(v30), "CVSS:3.0/%s", tail);
        snprintf(v31, sizeof(v31), "CVSS:3.1/%s", tail);
        double s30 = score_of(v30), s31 = score_of(v31);
        CHECK(s31 >= 0.0 && s31 <= 10.0);
        CHECK(s31 == round(s31 * 10.0) / 10.0);
        CHECK(rt_cvss_severity(s31) != NULL);
        if (s30 != s31) {
            fprintf(stderr, "    %s: v3.0 %.1f, v3.1 %.1f\n", tail, s30, s31);
            differing++;
        }
        combos++;
        int k = RT_CVSS_BASE_COUNT - 1;
        while (k >= 0 && values[k][++idx[k]] == '\0')
            idx[k--] = 0;
        if (k < 0)
            break;
    }
    CHECK_EQ_INT(combos, 2592);
    CHECK_EQ_INT(differing, 0);
}

TEST(severity_bands_and_the_demotion_threshold) {
    CHECK_EQ_STR(rt_cvss_severity(0.0), "None");
    CHECK_EQ_STR(rt_cvss_severity(0.1), "Low");
    CHECK_EQ_STR(rt_cvss_severity(3.9), "Low");
    CHECK_EQ_STR(rt_cvss_severity(4.0), "Medium");
    CHECK_EQ_STR(rt_cvss_severity(6.9), "Medium");
    CHECK_EQ_STR(rt_cvss_severity(7.0), "High");
    CHECK_EQ_STR(rt_cvss_severity(8.9), "High");
    CHECK_EQ_STR(rt_cvss_severity(9.0), "Critical");
    CHECK_EQ_STR(rt_cvss_severity(10.0), "Critical");
    CHECK(rt_cvss_severity(NAN) == NULL);
    CHECK(rt_cvss_severity(-0.1) == NULL);
    CHECK(rt_cvss_severity(10.1) == NULL);

    /* NVD's CVE-2016-5195 vector scores exactly 7.0: High, yet not a
     * "CVSS > 7.0" finding. 7.2 (FIRST example CVE-2012-0384) is. */
    double seven = score_of("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H");
    CHECK(seven == 7.0);
    CHECK(!(seven > 7.0));
    CHECK_EQ_STR(rt_cvss_severity(seven), "High");
    double above = score_of("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H");
    CHECK(above > 7.0);
}

TEST_MAIN()
