/* Scanner report parsing (feeds/scan.h). Samples live in tests/samples/scan/
 * (see the README there); run from the repository root. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "feeds/scan.h"
#include "tests/unit/harness.h"

#define SAMPLES "tests/samples/scan/"

static char *slurp(const char *path, size_t *len) {
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    if (!buf)
        return NULL;
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    return buf;
}

static struct rt_scan_options opts(enum rt_scan_format f, enum rt_cvss_source s, double thr) {
    return (struct rt_scan_options){.format = f, .source = s, .threshold = thr};
}

static const struct rt_scan_options DEFAULT_OPTS = {RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, 7.0};

/* Parses a sample file; returns rt_scan_parse's result (or -ENOENT). */
static int parse_sample(const char *name, const struct rt_scan_options *o, struct rt_scan_result *res,
                        char *err, size_t errlen) {
    char path[256];
    snprintf(path, sizeof(path), SAMPLES "%s", name);
    size_t len = 0;
    _cleanup_free_ char *text = slurp(path, &len);
    if (!text) {
        fprintf(stderr, "    cannot read %s\n", path);
        return -ENOENT;
    }
    int r = rt_scan_parse(text, len, o, res, err, errlen);
    if (r < 0)
        fprintf(stderr, "    %s: %s\n", path, err);
    return r;
}

static int parse_text(const char *text, const struct rt_scan_options *o, struct rt_scan_result *res,
                      char *err, size_t errlen) {
    return rt_scan_parse(text, strlen(text), o, res, err, errlen);
}

static bool list_has(const struct rt_scan_list *l, const char *id) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->hit[i].id, id) == 0)
            return true;
    return false;
}

/* ---- samples, one per format and scenario ---- */

TEST(trivy_sample_above_threshold) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("trivy-above.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.format, RT_SCAN_TRIVY);
    CHECK_EQ_INT(res.n_entries, 5);
    CHECK_EQ_INT(res.n_findings, 4); /* CVE-2019-1549 is listed for two packages */
    CHECK_NEAR(res.max_score, 10.0, 1e-9);
    CHECK_EQ_INT(res.n_above, 2);
    REQUIRE(res.above.n == 2);
    CHECK_EQ_STR(res.above.hit[0].id, "CVE-2021-44228");
    CHECK_EQ_STR(res.above.hit[0].source, "nvd");
    CHECK_EQ_STR(res.above.hit[1].id, "CVE-2021-45046");
    CHECK_NEAR(res.above.hit[1].score, 9.0, 1e-9);
    CHECK_EQ_INT(res.top.total, 1);
    CHECK_EQ_STR(res.top.hit[0].id, "CVE-2021-44228");
    CHECK_EQ_INT(res.unscored.total, 0);
    CHECK_EQ_INT(res.mismatch.total, 0);
    CHECK_EQ_INT(res.n_closed, 0);
}

TEST(trivy_sample_exactly_7_does_not_count) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("trivy-exactly-7.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_findings, 3);
    CHECK_NEAR(res.max_score, 7.0, 1e-12);
    CHECK_EQ_INT(res.n_above, 0);
    CHECK_EQ_INT(res.above.total, 0);
    CHECK_EQ_INT(res.top.total, 1);
    CHECK_EQ_STR(res.top.hit[0].id, "CVE-2016-5195");
    CHECK_EQ_INT(res.unscored.total, 1);
    CHECK_EQ_STR(res.unscored.hit[0].id, "TEMP-0841856-B18BAF");

    /* The same report with a lower threshold does count it. */
    struct rt_scan_options o = opts(RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, 6.9);
    REQUIRE(parse_sample("trivy-exactly-7.json", &o, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_above, 1);
    CHECK(list_has(&res.above, "CVE-2016-5195"));
}

TEST(grype_sample_above_threshold) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("grype-above.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.format, RT_SCAN_GRYPE);
    CHECK_EQ_INT(res.n_entries, 4);
    CHECK_EQ_INT(res.n_findings, 3);
    CHECK_NEAR(res.max_score, 9.8, 1e-9);
    CHECK_EQ_INT(res.n_above, 2);
    REQUIRE(res.above.n == 2);
    CHECK_EQ_STR(res.above.hit[0].id, "CVE-2021-33574"); /* from the related NVD record */
    CHECK_EQ_STR(res.above.hit[0].source, "nvd");
    CHECK_EQ_STR(res.above.hit[1].id, "CVE-2021-32626");
    CHECK_NEAR(res.above.hit[1].score, 8.8, 1e-9);
    CHECK_EQ_STR(res.above.hit[1].source, "nvd"); /* old-style namespace "nvd" */
    CHECK_EQ_INT(res.unscored.total, 1);
    CHECK_EQ_STR(res.unscored.hit[0].id, "CVE-2004-0971"); /* NVD has only CVSS v2 */
    CHECK_EQ_INT(res.n_non_v3, 3);
    CHECK_EQ_INT(res.mismatch.total, 0);
}

TEST(grype_sample_exactly_7_does_not_count) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("grype-exactly-7.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 7.0, 1e-12);
    CHECK_EQ_INT(res.n_above, 0);
    CHECK_EQ_STR(res.top.hit[0].id, "CVE-2016-5195");
    CHECK_EQ_STR(res.top.hit[0].source, "nvd");
    CHECK_EQ_INT(res.unscored.total, 1);
}

TEST(osv_scanner_sample_above_threshold) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("osv-scanner-above.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.format, RT_SCAN_OSV);
    CHECK_EQ_INT(res.n_findings, 3);
    CHECK_NEAR(res.max_score, 8.6, 1e-9); /* computed from the vector: OSV states no number */
    CHECK_EQ_INT(res.n_above, 1);
    CHECK_EQ_STR(res.above.hit[0].id, "GHSA-c3h9-896r-86jm");
    CHECK_EQ_STR(res.above.hit[0].source, "osv");
    CHECK_EQ_INT(res.unscored.total, 2);
    CHECK(list_has(&res.unscored, "GO-2021-0053"));
    CHECK(list_has(&res.unscored, "MAL-2023-1035"));
}

TEST(osv_sample_exactly_7_does_not_count) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("osv-exactly-7.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.format, RT_SCAN_OSV);
    CHECK_EQ_INT(res.n_entries, 3);
    CHECK_EQ_INT(res.n_closed, 1); /* the withdrawn 7.5 advisory */
    CHECK_EQ_INT(res.n_findings, 2);
    CHECK_NEAR(res.max_score, 7.0, 1e-12);
    CHECK_EQ_INT(res.n_above, 0);
    CHECK_EQ_STR(res.top.hit[0].id, "CVE-2016-5195");
}

TEST(native_samples) {
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_sample("native-above.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.format, RT_SCAN_NATIVE);
    CHECK_EQ_INT(res.n_entries, 4);
    CHECK_EQ_INT(res.n_closed, 1);
    CHECK_EQ_INT(res.n_findings, 3);
    CHECK_NEAR(res.max_score, 10.0, 1e-9);
    CHECK_EQ_INT(res.n_above, 2);
    CHECK(list_has(&res.above, "CVE-2021-33574")); /* vector only: 9.8 computed */
    CHECK(!list_has(&res.above, "CVE-2021-45046")); /* fixed */

    REQUIRE(parse_sample("native-exactly-7.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 7.0, 1e-12);
    CHECK_EQ_INT(res.n_above, 0);
    CHECK_EQ_INT(res.n_closed, 1);
}

TEST(forced_format) {
    struct rt_scan_result res;
    char err[256];
    struct rt_scan_options o = opts(RT_SCAN_TRIVY, RT_CVSS_NVD_THEN_HIGHEST, 7.0);
    REQUIRE(parse_sample("trivy-above.json", &o, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.format, RT_SCAN_TRIVY);
    CHECK_NEAR(res.max_score, 10.0, 1e-9);

    o.format = RT_SCAN_GRYPE;
    char path[] = SAMPLES "trivy-above.json";
    size_t len = 0;
    _cleanup_free_ char *text = slurp(path, &len);
    REQUIRE(text);
    CHECK_EQ_INT(rt_scan_parse(text, len, &o, &res, err, sizeof(err)), -EINVAL);
    CHECK_EQ_STR(err, "matches: missing");

    o.format = RT_SCAN_OSV; /* a single OSV record, forced */
    CHECK_EQ_INT(parse_text("{\"id\":\"X-1\",\"severity\":[{\"type\":\"CVSS_V3\",\"score\":"
                            "\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}]}",
                            &o, &res, err, sizeof(err)),
                 0);
    CHECK_NEAR(res.max_score, 9.8, 1e-9);
}

TEST(format_names) {
    enum rt_scan_format f;
    for (int i = RT_SCAN_AUTO; i <= RT_SCAN_NATIVE; i++) {
        CHECK_EQ_INT(rt_scan_format_from_name(rt_scan_format_name((enum rt_scan_format)i), &f), 0);
        CHECK_EQ_INT(f, i);
    }
    CHECK_EQ_INT(rt_scan_format_from_name("sarif", &f), -EINVAL);
    CHECK_EQ_STR(rt_scan_format_name(RT_SCAN_GRYPE), "grype");
}

/* ---- vendor preference ---- */

/* NVD says 7.0, another vendor 7.8 (an illustration, not a real record). */
static const char trivy_two_vendors[] =
    "{\"SchemaVersion\":2,\"Results\":[{\"Target\":\"t\",\"Vulnerabilities\":[{"
    "\"VulnerabilityID\":\"CVE-2016-5195\",\"CVSS\":{"
    "\"redhat\":{\"V3Vector\":\"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H\",\"V3Score\":7.8},"
    "\"nvd\":{\"V3Vector\":\"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H\",\"V3Score\":7}}}]}]}";

TEST(vendor_preference_trivy) {
    struct rt_scan_result res;
    char err[256];
    struct rt_scan_options o = opts(RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, 7.0);
    REQUIRE(parse_text(trivy_two_vendors, &o, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 7.0, 1e-12);
    CHECK_EQ_INT(res.n_above, 0);
    CHECK_EQ_STR(res.top.hit[0].source, "nvd");

    o.source = RT_CVSS_HIGHEST;
    REQUIRE(parse_text(trivy_two_vendors, &o, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 7.8, 1e-9);
    CHECK_EQ_INT(res.n_above, 1);
    CHECK_EQ_STR(res.above.hit[0].source, "redhat");

    /* Without NVD, both preferences take the highest vendor. */
    static const char no_nvd[] =
        "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":\"GHSA-1\","
        "\"CVSS\":{\"redhat\":{\"V3Score\":6.5},\"ghsa\":{\"V3Score\":8.1}}}]}]}";
    o.source = RT_CVSS_NVD_THEN_HIGHEST;
    REQUIRE(parse_text(no_nvd, &o, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 8.1, 1e-9);
    CHECK_EQ_STR(res.top.hit[0].source, "ghsa");
}

TEST(vendor_preference_grype) {
    /* A GHSA match (8.1, GitHub as the source) whose related NVD record says 7.0. */
    static const char grype[] =
        "{\"matches\":[{\"vulnerability\":{\"id\":\"GHSA-aaaa-bbbb-cccc\","
        "\"namespace\":\"github:language:python\",\"cvss\":[{\"source\":"
        "\"security-advisories@github.com\",\"type\":\"Secondary\",\"version\":\"3.1\","
        "\"vector\":\"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H\",\"metrics\":{\"baseScore\":8.1}}]},"
        "\"relatedVulnerabilities\":[{\"id\":\"CVE-2000-0001\",\"namespace\":\"nvd:cpe\",\"cvss\":[{"
        "\"version\":\"3.1\",\"vector\":\"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H\","
        "\"metrics\":{\"baseScore\":7.0}}]}]}]}";
    struct rt_scan_result res;
    char err[256];
    struct rt_scan_options o = opts(RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, 7.0);
    REQUIRE(parse_text(grype, &o, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 7.0, 1e-12);
    CHECK_EQ_INT(res.n_above, 0);
    CHECK_EQ_STR(res.top.hit[0].id, "GHSA-aaaa-bbbb-cccc");
    CHECK_EQ_STR(res.top.hit[0].source, "nvd");

    o.source = RT_CVSS_HIGHEST;
    REQUIRE(parse_text(grype, &o, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 8.1, 1e-9);
    CHECK_EQ_INT(res.n_above, 1);
    CHECK_EQ_STR(res.above.hit[0].source, "security-advisories@github.com");
}

TEST(equal_scores_label_does_not_depend_on_key_order) {
    static const char a[] = "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":"
                            "\"C-1\",\"CVSS\":{\"redhat\":{\"V3Score\":8},\"ghsa\":{\"V3Score\":8}}}]}]}";
    static const char b[] = "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":"
                            "\"C-1\",\"CVSS\":{\"ghsa\":{\"V3Score\":8},\"redhat\":{\"V3Score\":8}}}]}]}";
    struct rt_scan_result ra, rb;
    char err[256];
    struct rt_scan_options o = opts(RT_SCAN_AUTO, RT_CVSS_HIGHEST, 7.0);
    REQUIRE(parse_text(a, &o, &ra, err, sizeof(err)) == 0);
    REQUIRE(parse_text(b, &o, &rb, err, sizeof(err)) == 0);
    CHECK_EQ_STR(ra.top.hit[0].source, "ghsa");
    CHECK_EQ_STR(rb.top.hit[0].source, "ghsa");
}

/* ---- scores, vectors and mismatches ---- */

TEST(mismatch_uses_the_computed_score) {
    /* Stated 9.8 over a 7.5 vector, and stated 6.5 over a 9.8 vector. */
    static const char text[] =
        "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":["
        "{\"VulnerabilityID\":\"CVE-A\",\"CVSS\":{\"nvd\":{\"V3Score\":9.8,"
        "\"V3Vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\"}}},"
        "{\"VulnerabilityID\":\"CVE-B\",\"CVSS\":{\"nvd\":{\"V3Score\":6.5,"
        "\"V3Vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}}},"
        "{\"VulnerabilityID\":\"CVE-C\",\"CVSS\":{\"nvd\":{\"V3Score\":5.34,"
        "\"V3Vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N\"}}},"
        "{\"VulnerabilityID\":\"CVE-D\",\"CVSS\":{\"nvd\":{\"V3Score\":5.36,"
        "\"V3Vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N\"}}}]}]}";
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_text(text, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 9.8, 1e-9);
    CHECK_EQ_INT(res.n_above, 2);
    REQUIRE(res.above.n == 2);
    CHECK_EQ_STR(res.above.hit[0].id, "CVE-B");
    CHECK_NEAR(res.above.hit[1].score, 7.5, 1e-9);
    /* 5.34 vs 5.3 is within 0.05; 5.36 is not. */
    CHECK_EQ_INT(res.mismatch.total, 3);
    REQUIRE(res.mismatch.n == 3);
    CHECK_EQ_STR(res.mismatch.hit[0].id, "CVE-A");
    CHECK_NEAR(res.mismatch.hit[0].reported, 9.8, 1e-9);
    CHECK_NEAR(res.mismatch.hit[0].score, 7.5, 1e-9);
    CHECK_EQ_STR(res.mismatch.hit[0].source, "nvd");
    CHECK_EQ_STR(res.mismatch.hit[1].id, "CVE-B");
    CHECK_EQ_STR(res.mismatch.hit[2].id, "CVE-D");
    CHECK(!list_has(&res.mismatch, "CVE-C"));
}

TEST(vector_only_and_score_only) {
    static const char text[] =
        "{\"findings\":[{\"id\":\"V\",\"vector\":\"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H\"},"
        "{\"id\":\"S\",\"score\":7.1},{\"id\":\"N\"},{\"id\":\"E\",\"vector\":\"\",\"score\":2.0}]}";
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_text(text, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_findings, 4);
    CHECK_NEAR(res.max_score, 10.0, 1e-9);
    CHECK_EQ_INT(res.n_above, 2);
    CHECK(list_has(&res.above, "S"));
    CHECK_EQ_INT(res.unscored.total, 1);
    CHECK_EQ_STR(res.unscored.hit[0].id, "N");
    CHECK_EQ_INT(res.mismatch.total, 0);

    /* Trivy vector without V3Score, Grype v3 entry without metrics. */
    static const char trivy[] = "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":"
                                "\"T\",\"CVSS\":{\"nvd\":{\"V3Vector\":"
                                "\"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H\"}}}]}]}";
    REQUIRE(parse_text(trivy, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 8.8, 1e-9);
    static const char grype[] = "{\"matches\":[{\"vulnerability\":{\"id\":\"G\",\"cvss\":[{\"version\":\"3.1\","
                                "\"vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N\"}]}}]}";
    REQUIRE(parse_text(grype, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_NEAR(res.max_score, 5.3, 1e-9);
}

TEST(fixed_findings_are_ignored) {
    static const char text[] = "{\"findings\":[{\"id\":\"A\",\"score\":9.8,\"status\":\"fixed\"},"
                               "{\"id\":\"B\",\"score\":5.0,\"status\":\"open\"},"
                               "{\"id\":\"C\",\"score\":8.0,\"status\":\"fixed\"},"
                               "{\"id\":\"C\",\"score\":4.0}]}";
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_text(text, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_entries, 4);
    CHECK_EQ_INT(res.n_closed, 2);
    CHECK_EQ_INT(res.n_findings, 2); /* B, and C's open entry */
    CHECK_NEAR(res.max_score, 5.0, 1e-9);
    CHECK_EQ_INT(res.n_above, 0);

    static const char all_fixed[] = "{\"findings\":[{\"id\":\"A\",\"score\":9.8,\"status\":\"fixed\"}]}";
    REQUIRE(parse_text(all_fixed, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_findings, 0);
    CHECK(res.max_score == 0.0);
    CHECK_EQ_INT(res.top.total, 0);
}

TEST(osv_other_versions_are_counted_not_used) {
    static const char v2_v4_only[] =
        "{\"id\":\"GHSA-x\",\"severity\":[{\"type\":\"CVSS_V2\",\"score\":\"AV:N/AC:L/Au:N/C:C/I:C/A:C\"},"
        "{\"type\":\"CVSS_V4\",\"score\":\"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N\"}]}";
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_text(v2_v4_only, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_findings, 1);
    CHECK_EQ_INT(res.n_non_v3, 2);
    CHECK_EQ_INT(res.unscored.total, 1);
    CHECK(res.max_score == 0.0);

    /* v3 next to v4 (top level), and a per-package severity under affected[]. */
    static const char mixed[] =
        "[{\"id\":\"A\",\"severity\":[{\"type\":\"CVSS_V4\",\"score\":\"CVSS:4.0/AV:N\"},"
        "{\"type\":\"CVSS_V3\",\"score\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N\"}]},"
        "{\"id\":\"B\",\"affected\":[{\"severity\":[{\"type\":\"CVSS_V3\","
        "\"score\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\"}]}]}]";
    REQUIRE(parse_text(mixed, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_non_v3, 1);
    CHECK_EQ_INT(res.unscored.total, 0);
    CHECK_NEAR(res.max_score, 7.5, 1e-9);
    CHECK_EQ_STR(res.top.hit[0].id, "B");
}

TEST(empty_reports) {
    struct rt_scan_result res;
    char err[256];
    static const char *const empty[] = {
        "{\"SchemaVersion\":2}", /* trivy omits Results when there is nothing to report */
        "{\"SchemaVersion\":2,\"Results\":[{\"Target\":\"x\",\"Vulnerabilities\":null}]}",
        "{\"matches\":[]}",
        "{\"results\":[]}",
        "[]",
        "{\"findings\":[]}",
    };
    for (size_t i = 0; i < ELEMENTSOF(empty); i++) {
        int r = parse_text(empty[i], &DEFAULT_OPTS, &res, err, sizeof(err));
        if (r != 0)
            fprintf(stderr, "    %s: %s\n", empty[i], err);
        CHECK_EQ_INT(r, 0);
        CHECK_EQ_INT(res.n_findings, 0);
        CHECK(res.max_score == 0.0);
    }
}

/* ---- malformed input ---- */

struct bad_case {
    const char *text;
    enum rt_scan_format format;
    int error;
    const char *message; /* exact when it starts with '=', else a substring */
};

static const struct bad_case bad_cases[] = {
    {"", RT_SCAN_AUTO, -EINVAL, "invalid JSON at line"},
    {"{", RT_SCAN_AUTO, -EINVAL, "invalid JSON"},
    {"42", RT_SCAN_AUTO, -EINVAL, "invalid JSON"},
    {"{\"findings\":[],\"findings\":[]}", RT_SCAN_AUTO, -EINVAL, "duplicate"},
    {"{\"a\":1}", RT_SCAN_AUTO, -EINVAL, "unknown format"},
    {"{\"matches\":[],\"findings\":[]}", RT_SCAN_AUTO, -EINVAL, "ambiguous format"},
    {"[{\"Target\":\"x\",\"Vulnerabilities\":[]}]", RT_SCAN_AUTO, -EINVAL, "without SchemaVersion"},
    {"[]", RT_SCAN_NATIVE, -EINVAL, "=expected a JSON object (a native report)"},
    /* Trivy */
    {"{\"SchemaVersion\":\"2\"}", RT_SCAN_AUTO, -EINVAL, "=SchemaVersion: expected a number"},
    {"{\"SchemaVersion\":1}", RT_SCAN_AUTO, -EINVAL, "=SchemaVersion: unsupported version 1 (expected 2)"},
    {"{\"SchemaVersion\":2,\"Results\":{}}", RT_SCAN_AUTO, -EINVAL, "=Results: expected an array"},
    {"{\"SchemaVersion\":2,\"Results\":[{},{},{\"Vulnerabilities\":[{\"VulnerabilityID\":\"C\","
     "\"CVSS\":{\"nvd\":{\"V3Score\":\"9.8\"}}}]}]}",
     RT_SCAN_AUTO, -EINVAL, "=Results[2].Vulnerabilities[0].CVSS.nvd.V3Score: expected a number"},
    {"{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":\"C\","
     "\"CVSS\":{\"nvd\":{\"V3Score\":11}}}]}]}",
     RT_SCAN_AUTO, -EINVAL, "V3Score: a CVSS score is between 0 and 10"},
    {"{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":\"C\","
     "\"CVSS\":{\"nvd\":{\"V3Vector\":7}}}]}]}",
     RT_SCAN_AUTO, -EINVAL, "=Results[0].Vulnerabilities[0].CVSS.nvd.V3Vector: expected a string"},
    {"{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":\"C\","
     "\"CVSS\":{\"nvd\":{\"V3Vector\":\"CVSS:3.1/AV:N/AC:L\"}}}]}]}",
     RT_SCAN_AUTO, -EINVAL, "CVSS.nvd.V3Vector: invalid CVSS v3 vector: missing base metric PR"},
    {"{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"CVSS\":{}}]}]}", RT_SCAN_AUTO, -EINVAL,
     "=Results[0].Vulnerabilities[0].VulnerabilityID: missing"},
    {"{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":\"C\","
     "\"CVSS\":{\"nvd\":[]}}]}]}",
     RT_SCAN_AUTO, -EINVAL, "=Results[0].Vulnerabilities[0].CVSS.nvd: expected an object"},
    {"{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[7]}]}", RT_SCAN_AUTO, -EINVAL,
     "=Results[0].Vulnerabilities[0]: expected an object"},
    /* Grype */
    {"{\"matches\":{}}", RT_SCAN_AUTO, -EINVAL, "=matches: expected an array"},
    {"{\"matches\":[{}]}", RT_SCAN_AUTO, -EINVAL, "=matches[0].vulnerability: missing"},
    {"{\"matches\":[{\"vulnerability\":{\"id\":\"C\",\"cvss\":[{\"version\":\"3.1\",\"metrics\":"
     "{\"baseScore\":\"high\"}}]}}]}",
     RT_SCAN_AUTO, -EINVAL, "=matches[0].vulnerability.cvss[0].metrics.baseScore: expected a number"},
    {"{\"matches\":[{\"vulnerability\":{\"id\":\"C\"},\"relatedVulnerabilities\":[{\"cvss\":[{"
     "\"version\":\"3.0\",\"vector\":\"another vector\",\"metrics\":{\"baseScore\":4}}]}]}]}",
     RT_SCAN_AUTO, -EINVAL, "matches[0].relatedVulnerabilities[0].cvss[0].vector: invalid CVSS v3 vector"},
    {"{\"matches\":[{\"vulnerability\":{\"id\":5}}]}", RT_SCAN_AUTO, -EINVAL,
     "=matches[0].vulnerability.id: expected a string"},
    /* OSV */
    {"{\"id\":\"G\",\"severity\":[{\"type\":\"CVSS_V3\",\"score\":7.5}]}", RT_SCAN_AUTO, -EINVAL,
     "=severity[0].score: expected a string"},
    {"{\"id\":\"G\",\"severity\":[{\"type\":\"CVSS_V3\",\"score\":\"7.5\"}]}", RT_SCAN_AUTO, -EINVAL,
     "severity[0].score: invalid CVSS v3 vector: wrong prefix"},
    {"{\"id\":\"G\",\"severity\":[{\"score\":\"CVSS:3.1/AV:N\"}]}", RT_SCAN_AUTO, -EINVAL,
     "=severity[0].type: missing"},
    {"{\"results\":[{\"packages\":[{\"vulnerabilities\":[{\"summary\":\"x\"}]}]}]}", RT_SCAN_AUTO,
     -EINVAL, "=results[0].packages[0].vulnerabilities[0].id: missing"},
    {"[{\"id\":\"A\"},3]", RT_SCAN_AUTO, -EINVAL, "=[1]: expected an object"},
    {"{\"id\":\"A\",\"affected\":[{\"severity\":{}}]}", RT_SCAN_AUTO, -EINVAL,
     "=affected[0].severity: expected an array"},
    /* native */
    {"{\"findings\":{}}", RT_SCAN_AUTO, -EINVAL, "=findings: expected an array"},
    {"{\"findings\":[{\"id\":\"A\",\"status\":\"closed\"}]}", RT_SCAN_AUTO, -EINVAL,
     "=findings[0].status: expected \"open\" or \"fixed\""},
    {"{\"findings\":[{\"id\":\"A\",\"scroe\":9}]}", RT_SCAN_AUTO, -EINVAL, "=findings[0].scroe: unknown key (allowed: id, score, vector, status, source)"},
    {"{\"findings\":[{\"id\":\"\"}]}", RT_SCAN_AUTO, -EINVAL, "=findings[0].id: empty id"},
    {"{\"findings\":[{\"id\":\"A\\u0001\"}]}", RT_SCAN_AUTO, -EINVAL, "=findings[0].id: id contains control characters"},
    {"{\"findings\":[{\"id\":\"A\",\"score\":-1}]}", RT_SCAN_AUTO, -EINVAL, "findings[0].score: a CVSS score is between 0 and 10"},
    {"{\"findings\":[{\"id\":\"A\",\"score\":true}]}", RT_SCAN_AUTO, -EINVAL, "=findings[0].score: expected a number"},
    {"{\"findings\":[{\"id\":\"A\",\"score\":9.8,\"vector\":\"CVSS:4.0/AV:N\"}]}", RT_SCAN_AUTO,
     -EINVAL, "findings[0].vector: invalid CVSS v3 vector: unsupported CVSS version '4.0'"},
    {"{\"findings\":[{\"id\":\"A\",\"source\":[]}]}", RT_SCAN_AUTO, -EINVAL, "=findings[0].source: expected a string"},
};

TEST(malformed_inputs_table) {
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        const struct bad_case *b = &bad_cases[i];
        struct rt_scan_result res;
        memset(&res, 0x5a, sizeof(res));
        char err[256] = "";
        struct rt_scan_options o = opts(b->format, RT_CVSS_NVD_THEN_HIGHEST, 7.0);
        int r = parse_text(b->text, &o, &res, err, sizeof(err));
        bool exact = b->message[0] == '=';
        bool ok = r == b->error && (exact ? strcmp(err, b->message + 1) == 0 : strstr(err, b->message) != NULL);
        if (!ok)
            fprintf(stderr, "    case %zu %s: got %d \"%s\", want %d \"%s\"\n", i, b->text, r, err,
                    b->error, b->message);
        CHECK(ok);
        CHECK(res.n_findings == 0 && res.max_score == 0.0 && res.top.n == 0); /* zeroed on failure */
    }
}

TEST(bad_options) {
    struct rt_scan_result res;
    char err[256];
    struct rt_scan_options o = opts(RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, NAN);
    CHECK_EQ_INT(parse_text("{\"findings\":[]}", &o, &res, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "threshold") != NULL);
    o.threshold = 10.5;
    CHECK_EQ_INT(parse_text("{\"findings\":[]}", &o, &res, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(parse_text("{\"findings\":[]}", NULL, &res, err, sizeof(err)), -EINVAL);
    o = opts((enum rt_scan_format)9, RT_CVSS_HIGHEST, 7.0);
    CHECK_EQ_INT(parse_text("{\"findings\":[]}", &o, &res, err, sizeof(err)), -EINVAL);
    /* No error buffer: still a clean failure. */
    CHECK_EQ_INT(parse_text("{", &DEFAULT_OPTS, &res, NULL, 0), -EINVAL);
}

/* ---- limits ---- */

/* A native report with n findings "F<i>" scored 7.5 (ids padded to idlen). */
static char *native_report(size_t n, size_t idlen, size_t *len) {
    size_t per = idlen + 40;
    char *buf = malloc(n * per + 64);
    if (!buf)
        return NULL;
    size_t k = (size_t)sprintf(buf, "{\"findings\":[");
    for (size_t i = 0; i < n; i++) {
        k += (size_t)sprintf(buf + k, "%s{\"id\":\"F%0*zu\",\"score\":7.5}", i ? "," : "",
                             (int)(idlen - 1), i);
    }
    k += (size_t)sprintf(buf + k, "]}");
    *len = k;
    return buf;
}

TEST(limit_findings) {
    struct rt_scan_result res;
    char err[256];
    size_t len = 0;
    _cleanup_free_ char *ok = native_report(RT_SCAN_MAX_FINDINGS, 8, &len);
    REQUIRE(ok);
    REQUIRE(rt_scan_parse(ok, len, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_findings, RT_SCAN_MAX_FINDINGS);
    CHECK_EQ_INT(res.n_above, RT_SCAN_MAX_FINDINGS);
    CHECK_EQ_INT(res.above.n, RT_SCAN_LIST_MAX);
    CHECK_EQ_STR(res.above.hit[0].id, "F0000000"); /* equal scores: by id */
    CHECK_EQ_STR(res.above.hit[RT_SCAN_LIST_MAX - 1].id, "F0000015");

    _cleanup_free_ char *too_many = native_report(RT_SCAN_MAX_FINDINGS + 1, 8, &len);
    REQUIRE(too_many);
    CHECK_EQ_INT(rt_scan_parse(too_many, len, &DEFAULT_OPTS, &res, err, sizeof(err)), -E2BIG);
    CHECK(strstr(err, "more than 100000 findings") != NULL);
}

TEST(limit_id_length) {
    struct rt_scan_result res;
    char err[256];
    size_t len = 0;
    _cleanup_free_ char *ok = native_report(2, RT_SCAN_ID_MAX, &len);
    REQUIRE(ok);
    REQUIRE(rt_scan_parse(ok, len, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(strlen(res.above.hit[0].id), RT_SCAN_ID_MAX);

    _cleanup_free_ char *long_id = native_report(2, RT_SCAN_ID_MAX + 1, &len);
    REQUIRE(long_id);
    CHECK_EQ_INT(rt_scan_parse(long_id, len, &DEFAULT_OPTS, &res, err, sizeof(err)), -EINVAL);
    CHECK_EQ_STR(err, "findings[0].id: id longer than 128 bytes");
}

TEST(limit_report_size) {
    struct rt_scan_result res;
    char err[256];
    size_t len = (size_t)RT_SCAN_MAX_BYTES + 1;
    _cleanup_free_ char *big = malloc(len);
    REQUIRE(big);
    memset(big, ' ', len);
    big[0] = '[';
    big[len - 1] = ']';
    CHECK_EQ_INT(rt_scan_parse(big, len, &DEFAULT_OPTS, &res, err, sizeof(err)), -E2BIG);
    CHECK(strstr(err, "larger than") != NULL);
}

TEST(lists_are_bounded_and_sorted) {
    /* 40 findings with scores 7.1 .. 9.5 (ids in reverse order of score). */
    char text[8192];
    size_t k = (size_t)sprintf(text, "{\"findings\":[");
    for (int i = 0; i < 40; i++)
        k += (size_t)sprintf(text + k, "%s{\"id\":\"X%02d\",\"score\":%.1f}", i ? "," : "", 39 - i,
                             7.1 + 0.1 * (double)(i % 25));
    sprintf(text + k, "]}");
    struct rt_scan_result res;
    char err[256];
    REQUIRE(parse_text(text, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.above.total, 40);
    CHECK_EQ_INT(res.above.n, RT_SCAN_LIST_MAX);
    for (size_t i = 1; i < res.above.n; i++) {
        const struct rt_scan_hit *a = &res.above.hit[i - 1], *b = &res.above.hit[i];
        CHECK(a->score > b->score || (a->score == b->score && strcmp(a->id, b->id) < 0));
    }
    CHECK_NEAR(res.above.hit[0].score, 9.5, 1e-9);
    CHECK_EQ_INT(res.top.total, 1); /* only i == 24 has 9.5 */
    CHECK_EQ_STR(res.top.hit[0].id, "X15");
}

/* ---- detail text ---- */

TEST(detail_text) {
    struct rt_scan_result res;
    char err[256], d[RT_SCAN_DETAIL_MAX + 1];
    REQUIRE(parse_sample("trivy-above.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    size_t n = rt_scan_detail(&res, d);
    CHECK_EQ_STR(d, "trivy: 2 of 4 findings > 7.0: CVE-2021-44228 (10.0, nvd), CVE-2021-45046 (9.0, nvd)");
    CHECK_EQ_INT(n, strlen(d));

    REQUIRE(parse_sample("trivy-exactly-7.json", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    rt_scan_detail(&res, d);
    CHECK_EQ_STR(d, "trivy: 0 of 3 findings > 7.0; max 7.0: CVE-2016-5195 (nvd); 1 unscored: TEMP-0841856-B18BAF");

    static const char mm[] = "{\"findings\":[{\"id\":\"CVE-A\",\"score\":9.8,\"source\":\"nvd\","
                             "\"vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\"}]}";
    REQUIRE(parse_text(mm, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    rt_scan_detail(&res, d);
    CHECK_EQ_STR(d, "native: 1 of 1 findings > 7.0: CVE-A (7.5, nvd); "
                    "1 score mismatch: CVE-A (reported 9.8, computed 7.5, nvd)");

    REQUIRE(parse_text("{\"matches\":[]}", &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    rt_scan_detail(&res, d);
    CHECK_EQ_STR(d, "grype: no open findings");

    struct rt_scan_options o = opts(RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, 7.25);
    REQUIRE(parse_text("{\"findings\":[{\"id\":\"A\",\"score\":7.3}]}", &o, &res, err, sizeof(err)) == 0);
    rt_scan_detail(&res, d);
    CHECK_EQ_STR(d, "native: 1 of 1 findings > 7.25: A (7.3)");
}

TEST(detail_text_is_bounded) {
    /* 60 scored findings with 128-byte ids, 30 unscored, 20 mismatches. */
    _cleanup_free_ char *text = malloc(64 * 1024);
    REQUIRE(text);
    size_t k = (size_t)sprintf(text, "{\"findings\":[");
    for (int i = 0; i < 110; i++) {
        k += (size_t)sprintf(text + k, "%s{\"id\":\"%c%0127d\"", i ? "," : "", i < 60 ? 'S' : i < 90 ? 'U' : 'M', i);
        if (i < 60)
            k += (size_t)sprintf(text + k, ",\"score\":8.0}");
        else if (i < 90)
            k += (size_t)sprintf(text + k, "}");
        else
            k += (size_t)sprintf(text + k, ",\"score\":1.0,\"vector\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\"}");
    }
    sprintf(text + k, "]}");
    struct rt_scan_result res;
    char err[256], d[RT_SCAN_DETAIL_MAX + 1];
    REQUIRE(parse_text(text, &DEFAULT_OPTS, &res, err, sizeof(err)) == 0);
    CHECK_EQ_INT(res.n_above, 80);
    CHECK_EQ_INT(res.unscored.total, 30);
    CHECK_EQ_INT(res.mismatch.total, 20);
    size_t n = rt_scan_detail(&res, d);
    CHECK(n <= RT_SCAN_DETAIL_MAX);
    CHECK_EQ_INT(n, strlen(d));
    CHECK(strncmp(d, "native: 80 of 110 findings > 7.0: S", 35) == 0); /* 8.0 before 7.5 */
    CHECK(strstr(d, " more; 30 unscored: ") != NULL);
    CHECK(strstr(d, "; 20 score mismatches: ") != NULL);
    CHECK(strcmp(d + n - 5, " more") == 0);
    /* The first "+N more" accounts for exactly the items not shown before it. */
    const char *more = strchr(d, '+');
    REQUIRE(more);
    size_t rest = strtoul(more + 1, NULL, 10);
    size_t items = 0;
    for (const char *p = d; (p = strstr(p, "), ")) && p < more; p++)
        items++;
    CHECK(items >= 1);
    CHECK_EQ_INT(items + rest, 80);
    CHECK_EQ_INT(items + rest, 80);
}

TEST_MAIN()
