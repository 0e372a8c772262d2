/* CVSS v3.0 / v3.1 base scores. The weights and equations are those of the
 * FIRST specification documents (v3.1 sections 7.1, 7.4 and Appendix A;
 * v3.0 sections 8.1 and 8.4); the base equations of the two versions are
 * identical, only Roundup differs.
 *
 * Floating-point note: the products and sums below are written one
 * operation per statement, in the same order as FIRST's reference
 * calculators, so that no compiler may fuse them into an FMA (clang does so
 * within one expression by default). v3.0's ceil-based Roundup would turn
 * such a one-ulp difference into a 0.1 difference. */
#include "feeds/cvss.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

struct metric_def {
    const char *name;
    const char *values; /* every letter allowed in a vector string */
};

/* Allowed values per the vector-string table (v3.1 Table 15, v3.0 Table 12).
 * Temporal and environmental metrics also take X, "Not Defined". */
static const struct metric_def metric_defs[RT_CVSS_METRIC_COUNT] = {
    [RT_CVSS_AV] = {"AV", "NALP"},   [RT_CVSS_AC] = {"AC", "LH"},
    [RT_CVSS_PR] = {"PR", "NLH"},    [RT_CVSS_UI] = {"UI", "NR"},
    [RT_CVSS_S] = {"S", "UC"},       [RT_CVSS_C] = {"C", "HLN"},
    [RT_CVSS_I] = {"I", "HLN"},      [RT_CVSS_A] = {"A", "HLN"},
    [RT_CVSS_E] = {"E", "XUPFH"},    [RT_CVSS_RL] = {"RL", "XOTWU"},
    [RT_CVSS_RC] = {"RC", "XURC"},   [RT_CVSS_CR] = {"CR", "XLMH"},
    [RT_CVSS_IR] = {"IR", "XLMH"},   [RT_CVSS_AR] = {"AR", "XLMH"},
    [RT_CVSS_MAV] = {"MAV", "XNALP"}, [RT_CVSS_MAC] = {"MAC", "XLH"},
    [RT_CVSS_MPR] = {"MPR", "XNLH"}, [RT_CVSS_MUI] = {"MUI", "XNR"},
    [RT_CVSS_MS] = {"MS", "XUC"},    [RT_CVSS_MC] = {"MC", "XNLH"},
    [RT_CVSS_MI] = {"MI", "XNLH"},   [RT_CVSS_MA] = {"MA", "XNLH"},
};

const char *rt_cvss_metric_name(enum rt_cvss_metric m) {
    return (unsigned)m < RT_CVSS_METRIC_COUNT ? metric_defs[m].name : "?";
}

const char *rt_cvss_version_name(enum rt_cvss_version v) {
    return v == RT_CVSS_V3_0 ? "3.0" : v == RT_CVSS_V3_1 ? "3.1" : "?";
}

/* ---- error reporting ---- */

_printf_(3, 4) static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Input text quoted in messages is bounded and made printable, so a hostile
 * vector cannot flood or corrupt a terminal or a log line. */
#define QUOTE_MAX 24
static void quote(char dst[QUOTE_MAX + 4], const char *s, size_t n) {
    size_t k = 0;
    for (; k < n && k < QUOTE_MAX; k++) {
        unsigned char ch = (unsigned char)s[k];
        dst[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (k < n) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = '\0';
}

/* ---- parsing ---- */

static int lookup_metric(const char *name, size_t n) {
    for (int m = 0; m < RT_CVSS_METRIC_COUNT; m++)
        if (strlen(metric_defs[m].name) == n && memcmp(metric_defs[m].name, name, n) == 0)
            return m;
    return -1;
}

static int parse_prefix(const char *vector, enum rt_cvss_version *version, const char **rest,
                        char *err, size_t errlen) {
    static const char label[] = "CVSS:";
    if (strncmp(vector, label, sizeof(label) - 1) != 0)
        return fail(err, errlen, "wrong prefix: expected 'CVSS:3.0/' or 'CVSS:3.1/'");
    const char *ver = vector + sizeof(label) - 1;
    size_t n = strcspn(ver, "/");
    if (n == 3 && memcmp(ver, "3.0", 3) == 0)
        *version = RT_CVSS_V3_0;
    else if (n == 3 && memcmp(ver, "3.1", 3) == 0)
        *version = RT_CVSS_V3_1;
    else {
        char q[QUOTE_MAX + 4];
        quote(q, ver, n);
        return fail(err, errlen, "unsupported CVSS version '%s' (expected 3.0 or 3.1)", q);
    }
    if (ver[n] == '\0' || ver[n + 1] == '\0')
        return fail(err, errlen, "no metrics after 'CVSS:%s/'", rt_cvss_version_name(*version));
    *rest = ver + n + 1;
    return 0;
}

/* One NAME:VALUE segment of length n (no '/' inside). */
static int parse_metric(const char *seg, size_t n, struct rt_cvss *out, char *err, size_t errlen) {
    char q[QUOTE_MAX + 4];
    const char *colon = memchr(seg, ':', n);
    if (!colon || colon == seg) {
        quote(q, seg, n);
        return fail(err, errlen, "malformed metric '%s' (expected NAME:VALUE)", q);
    }
    size_t name_len = (size_t)(colon - seg);
    int m = lookup_metric(seg, name_len);
    if (m < 0) {
        quote(q, seg, name_len);
        return fail(err, errlen, "unknown metric '%s'", q);
    }
    const char *name = metric_defs[m].name;
    if (out->value[m])
        return fail(err, errlen, "duplicate metric '%s'", name);
    const char *val = colon + 1;
    size_t val_len = n - name_len - 1;
    if (val_len == 0)
        return fail(err, errlen, "missing value for metric %s", name);
    if (!strchr(metric_defs[m].values, val[0])) { /* val[0] != '\0': segments stop at NUL */
        quote(q, val, val_len);
        return fail(err, errlen, "invalid value '%s' for metric %s (allowed: %s)", q, name,
                    metric_defs[m].values);
    }
    if (val_len > 1)
        return fail(err, errlen, "trailing junk after '%s:%c'", name, val[0]);
    out->value[m] = val[0];
    return 0;
}

int rt_cvss_parse(const char *vector, struct rt_cvss *out, char *err, size_t errlen) {
    if (err && errlen > 0)
        err[0] = '\0';
    if (!vector || !out)
        return fail(err, errlen, "no vector");
    size_t len = strnlen(vector, RT_CVSS_VECTOR_MAX + 1);
    if (len > RT_CVSS_VECTOR_MAX)
        return fail(err, errlen, "vector too long (more than %d bytes)", RT_CVSS_VECTOR_MAX);
    if (len == 0)
        return fail(err, errlen, "empty vector");

    struct rt_cvss v = {0};
    const char *p = NULL;
    int r = parse_prefix(vector, &v.version, &p, err, errlen);
    if (r < 0)
        return r;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0)
            return fail(err, errlen, p[0] == '\0' ? "trailing '/' at end of vector"
                                                  : "empty metric between '/' separators");
        r = parse_metric(p, n, &v, err, errlen);
        if (r < 0)
            return r;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    for (int m = 0; m < RT_CVSS_BASE_COUNT; m++)
        if (!v.value[m])
            return fail(err, errlen, "missing base metric %s", metric_defs[m].name);
    *out = v;
    return 0;
}

/* ---- scoring ---- */

double rt_cvss_roundup(enum rt_cvss_version version, double x) {
    if (!isfinite(x))
        return x;
    if (version == RT_CVSS_V3_0)
        return ceil(x * 10.0) / 10.0;
    /* v3.1 Appendix A, in integer steps (exact in a double below 2^53). */
    double int_input = round(x * 100000.0);
    if (fmod(int_input, 10000.0) == 0.0)
        return int_input / 100000.0;
    return (floor(int_input / 10000.0) + 1.0) / 10.0;
}

static double weight_av(char c) {
    switch (c) {
    case 'N': return 0.85;
    case 'A': return 0.62;
    case 'L': return 0.55;
    default: return 0.2; /* P */
    }
}

static double weight_ac(char c) { return c == 'L' ? 0.77 : 0.44; }
static double weight_ui(char c) { return c == 'N' ? 0.85 : 0.62; }

/* PR weighs more when the scope changes: the attacker's privileges matter
 * less once the impact reaches another authority. */
static double weight_pr(char c, bool scope_changed) {
    switch (c) {
    case 'N': return 0.85;
    case 'L': return scope_changed ? 0.68 : 0.62;
    default: return scope_changed ? 0.5 : 0.27; /* H */
    }
}

static double weight_cia(char c) {
    switch (c) {
    case 'H': return 0.56;
    case 'L': return 0.22;
    default: return 0.0; /* N */
    }
}

double rt_cvss_base_score(const struct rt_cvss *v) {
    const char *m = v->value;
    bool changed = m[RT_CVSS_S] == 'C';

    double keep = 1.0 - weight_cia(m[RT_CVSS_C]);
    keep = keep * (1.0 - weight_cia(m[RT_CVSS_I]));
    keep = keep * (1.0 - weight_cia(m[RT_CVSS_A]));
    double iss = 1.0 - keep;

    double impact;
    if (changed) {
        double linear = 7.52 * (iss - 0.029);
        double damp = 3.25 * pow(iss - 0.02, 15);
        impact = linear - damp;
    } else {
        impact = 6.42 * iss;
    }

    double expl = 8.22 * weight_av(m[RT_CVSS_AV]);
    expl = expl * weight_ac(m[RT_CVSS_AC]);
    expl = expl * weight_pr(m[RT_CVSS_PR], changed);
    expl = expl * weight_ui(m[RT_CVSS_UI]);

    if (impact <= 0.0)
        return 0.0;
    double sum = expl + impact;
    if (changed)
        sum = 1.08 * sum;
    return rt_cvss_roundup(v->version, fmin(sum, 10.0));
}

int rt_cvss_score(const char *vector, double *score, char *err, size_t errlen) {
    struct rt_cvss v;
    int r = rt_cvss_parse(vector, &v, err, errlen);
    if (r < 0)
        return r;
    *score = rt_cvss_base_score(&v);
    return 0;
}

const char *rt_cvss_severity(double score) {
    if (!(score >= 0.0 && score <= 10.0))
        return NULL;
    if (score == 0.0)
        return "None";
    if (score < 4.0)
        return "Low";
    if (score < 7.0)
        return "Medium";
    if (score < 9.0)
        return "High";
    return "Critical";
}
