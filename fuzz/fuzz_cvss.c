/* CVSS v3.0/v3.1 vectors (feeds/cvss.h rt_cvss_score, rt_cvss_parse).
 * Invariants: a score is within 0..10, never NaN, a whole number of tenths,
 * and has a severity; every base metric is set after a parse; the vector
 * rebuilt from the parsed metrics in the specification's order (the
 * canonical form) scores the same; Roundup never rounds down. */
#include <errno.h>
#include <math.h>

#include "feeds/cvss.h"
#include "fuzz/fuzz_common.h"

static void check_score(double s) {
    FZ_CHECK(!isnan(s) && s >= 0 && s <= 10);
    FZ_CHECK(fabs(s * 10 - round(s * 10)) < 1e-9);
    FZ_CHECK(rt_cvss_severity(s) != NULL);
}

/* "CVSS:3.x/AV:N/AC:L/..." with every metric that was given. */
static void canonical(const struct rt_cvss *v, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "CVSS:%s", rt_cvss_version_name(v->version));
    for (int m = 0; m < RT_CVSS_METRIC_COUNT; m++)
        if (v->value[m])
            n += (size_t)snprintf(buf + n, cap - n, "/%s:%c", rt_cvss_metric_name((enum rt_cvss_metric)m), v->value[m]);
    FZ_CHECK(n < cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 2 * RT_CVSS_VECTOR_MAX)
        return 0;
    char *vec = fz_cstr(data, size);
    char err[200];
    double score = -1;
    int r = rt_cvss_score(vec, &score, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EINVAL);
    FZ_CHECK(fz_terminated(err, sizeof err));
    struct rt_cvss v;
    int r2 = rt_cvss_parse(vec, &v, err, sizeof err);
    FZ_CHECK(r2 == r);
    if (r == 0) {
        check_score(score);
        for (int m = 0; m < RT_CVSS_BASE_COUNT; m++)
            FZ_CHECK(v.value[m] != 0);
        FZ_CHECK(rt_cvss_base_score(&v) == score);
        char canon[RT_CVSS_VECTOR_MAX + 1];
        canonical(&v, canon, sizeof canon);
        double again = -1;
        FZ_CHECK(rt_cvss_score(canon, &again, err, sizeof err) == 0);
        FZ_CHECK(again == score);
    }
    free(vec);

    /* Roundup over doubles taken from the input */
    if (size >= 8) {
        double x;
        memcpy(&x, data, sizeof x);
        if (isfinite(x) && fabs(x) < 1e6)
            for (int ver = RT_CVSS_V3_0; ver <= RT_CVSS_V3_1; ver++) {
                double y = rt_cvss_roundup((enum rt_cvss_version)ver, x);
                FZ_CHECK(y >= x - 1e-5 && y - x < 0.1 + 1e-9);
            }
    }
    return 0;
}
