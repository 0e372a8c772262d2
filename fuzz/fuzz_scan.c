/* Security scanner reports (feeds/scan.h rt_scan_parse) in every format:
 * auto-detection and each of Trivy, Grype, OSV and native forced, under
 * both vendor-score rules and several thresholds; then rt_scan_detail.
 * Invariants: documented return values only; failure leaves *out zeroed;
 * success: the parsed format is concrete (and the forced one), the maximum
 * score is within 0..10 (never NaN), counts are consistent, every kept list
 * is bounded by its total and RT_SCAN_LIST_MAX, `top` holds max-score
 * findings, `above` findings over the threshold in non-increasing score
 * order; the detail text is within RT_SCAN_DETAIL_MAX and NUL-terminated. */
#include <errno.h>
#include <math.h>

#include "feeds/scan.h"
#include "fuzz/fuzz_common.h"

static void check_list(const struct rt_scan_list *l) {
    FZ_CHECK(l->n <= RT_SCAN_LIST_MAX && l->n <= l->total);
    FZ_CHECK(l->n == l->total || l->n == RT_SCAN_LIST_MAX);
    for (size_t i = 0; i < l->n; i++) {
        const struct rt_scan_hit *h = &l->hit[i];
        FZ_CHECK(fz_terminated(h->id, sizeof h->id) && h->id[0]);
        FZ_CHECK(fz_terminated(h->source, sizeof h->source));
        FZ_CHECK(!isnan(h->score));
    }
}

static void check_ok(const struct rt_scan_result *r, const struct rt_scan_options *o) {
    FZ_CHECK(r->format != RT_SCAN_AUTO && r->format <= RT_SCAN_NATIVE);
    FZ_CHECK(o->format == RT_SCAN_AUTO || r->format == o->format);
    FZ_CHECK(r->max_score >= 0 && r->max_score <= 10);
    FZ_CHECK(r->threshold == o->threshold);
    FZ_CHECK(r->n_above <= r->n_findings && r->n_findings <= r->n_entries);
    FZ_CHECK(r->above.total == r->n_above);
    FZ_CHECK(r->n_above == 0 || r->max_score > r->threshold);
    check_list(&r->top);
    check_list(&r->above);
    check_list(&r->unscored);
    check_list(&r->mismatch);
    for (size_t i = 0; i < r->top.n; i++)
        FZ_CHECK(r->top.hit[i].score == r->max_score);
    for (size_t i = 0; i < r->above.n; i++) {
        FZ_CHECK(r->above.hit[i].score > r->threshold && r->above.hit[i].score <= r->max_score);
        FZ_CHECK(i == 0 || r->above.hit[i - 1].score >= r->above.hit[i].score);
    }
    char detail[RT_SCAN_DETAIL_MAX + 1];
    memset(detail, 'x', sizeof detail);
    size_t n = rt_scan_detail(r, detail);
    FZ_CHECK(n <= RT_SCAN_DETAIL_MAX && detail[n] == '\0' && strlen(detail) == n);
}

static void parse_as(const uint8_t *data, size_t size, enum rt_scan_format f, enum rt_cvss_source src, double thr) {
    static const struct rt_scan_result zero;
    struct rt_scan_options o = {.format = f, .source = src, .threshold = thr};
    struct rt_scan_result res;
    char err[256];
    err[0] = '\0';
    int r = rt_scan_parse((const char *)data, size, &o, &res, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG || r == -ENOMEM);
    FZ_CHECK(fz_terminated(err, sizeof err));
    if (r < 0)
        FZ_CHECK(memcmp(&res, &zero, sizeof res) == 0 && err[0]);
    else
        check_ok(&res, &o);
}

/* The parse calls again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    for (int f = RT_SCAN_AUTO; f <= RT_SCAN_NATIVE; f++) {
        struct rt_scan_options o = {.format = (enum rt_scan_format)f, .source = RT_CVSS_HIGHEST, .threshold = 7.0};
        struct rt_scan_result res;
        char err[256];
        rt_scan_parse((const char *)data, size, &o, &res, err, sizeof err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_as(data, size, RT_SCAN_AUTO, RT_CVSS_NVD_THEN_HIGHEST, 7.0);
    parse_as(data, size, RT_SCAN_AUTO, RT_CVSS_HIGHEST, 0.0);
    parse_as(data, size, RT_SCAN_TRIVY, RT_CVSS_NVD_THEN_HIGHEST, 7.0);
    parse_as(data, size, RT_SCAN_GRYPE, RT_CVSS_HIGHEST, 9.95);
    parse_as(data, size, RT_SCAN_OSV, RT_CVSS_NVD_THEN_HIGHEST, 4.0);
    parse_as(data, size, RT_SCAN_NATIVE, RT_CVSS_HIGHEST, 10.0);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
