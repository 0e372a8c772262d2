/* Scanner reports -> `cvss` evidence. See feeds/scan.h and docs/feeds.md.
 *
 * Every finding entry of a report becomes one occurrence: its id (pointing
 * into the JSON tree, which lives until the end of rt_scan_parse) and an
 * accumulator of its vendors' CVSS v3 scores. Occurrences are then sorted
 * and merged by id, so a CVE that a scanner lists once per affected package
 * is one finding, and the vendor preference is applied over everything the
 * report says about that id. */
#include "feeds/scan.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "feeds/cvss.h"

/* ---- names ---- */

static const char *const format_names[] = {
    [RT_SCAN_AUTO] = "auto",   [RT_SCAN_TRIVY] = "trivy",   [RT_SCAN_GRYPE] = "grype",
    [RT_SCAN_OSV] = "osv",     [RT_SCAN_NATIVE] = "native",
};

const char *rt_scan_format_name(enum rt_scan_format f) {
    return (unsigned)f < ELEMENTSOF(format_names) ? format_names[f] : "?";
}

int rt_scan_format_from_name(const char *name, enum rt_scan_format *out) {
    for (size_t i = 0; name && i < ELEMENTSOF(format_names); i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (enum rt_scan_format)i;
            return 0;
        }
    return -EINVAL;
}

/* ---- parse state ---- */

/* A vendor label: a slice of a JSON string or key, or a literal. */
struct src {
    const char *s;
    size_t n;
};

static const struct src SRC_NONE = {"", 0};
static const struct src SRC_NVD = {"nvd", 3};
static const struct src SRC_OSV = {"osv", 3};

/* What a finding's CVSS v3 entries say. */
struct acc {
    bool any;        /* at least one usable v3 score */
    double best;     /* highest v3 score, any vendor */
    struct src best_src;
    bool has_nvd;
    double nvd;      /* highest v3 score from NVD */
    bool mismatch;   /* first entry whose stated score disagrees with its vector */
    double mm_reported, mm_computed;
    struct src mm_src;
};

struct occ {
    const char *id;
    size_t seq;      /* position in the report: makes the sort deterministic */
    struct acc a;
    /* filled after merging */
    double score;
    struct src src;
};

#define PATH_CAP 192
#define KEY_SHOWN_MAX 40

struct ctx {
    const struct rt_scan_options *opt;
    char *err;
    size_t errlen;
    char path[PATH_CAP]; /* of the value being read, for messages */
    size_t path_len;
    struct occ *occ;
    size_t n_occ, cap_occ;
    size_t n_entries, n_closed, n_non_v3;
};

/* ---- messages ---- */

_printf_(3, 4) static int failf(struct ctx *c, int r, const char *fmt, ...) {
    if (!c->err || c->errlen == 0)
        return r;
    int n = 0;
    if (c->path_len > 0)
        n = snprintf(c->err, c->errlen, "%s: ", c->path);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* After an snprintf of n bytes at the end of the path: a path too deep for
 * the buffer is cut (messages only need its start). */
static void path_advance(struct ctx *c, int n) {
    if (n < 0)
        c->path[c->path_len] = '\0';
    else if ((size_t)n >= PATH_CAP - c->path_len)
        c->path_len = PATH_CAP - 1;
    else
        c->path_len += (size_t)n;
}

/* Keys quoted in paths come from the report: bounded and printable. */
static void path_append_key(struct ctx *c, const char *key) {
    char shown[KEY_SHOWN_MAX + 4];
    size_t k = 0;
    for (; key[k] && k < KEY_SHOWN_MAX; k++) {
        unsigned char ch = (unsigned char)key[k];
        shown[k] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (key[k]) {
        memcpy(shown + k, "...", 3);
        k += 3;
    }
    shown[k] = '\0';
    path_advance(c, snprintf(c->path + c->path_len, PATH_CAP - c->path_len, "%s%s",
                             c->path_len ? "." : "", shown));
}

/* Each returns the previous length, for path_restore(). */
static size_t path_key(struct ctx *c, const char *key) {
    size_t mark = c->path_len;
    path_append_key(c, key);
    return mark;
}

static size_t path_index(struct ctx *c, size_t i) {
    size_t mark = c->path_len;
    path_advance(c, snprintf(c->path + c->path_len, PATH_CAP - c->path_len, "[%zu]", i));
    return mark;
}

static void path_restore(struct ctx *c, size_t mark) {
    c->path_len = mark;
    c->path[mark] = '\0';
}

_printf_(4, 5) static int field_fail(struct ctx *c, int r, const char *key, const char *fmt, ...) {
    size_t mark = path_key(c, key);
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    failf(c, r, "%s", msg);
    path_restore(c, mark);
    return r;
}

/* ---- typed field access (absent and null are the same for optional fields) ---- */

static int get_string(struct ctx *c, json_t *obj, const char *key, bool required, const char **out) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? field_fail(c, -EINVAL, key, "missing") : 0;
    if (!json_is_string(v))
        return field_fail(c, -EINVAL, key, "expected a string");
    *out = json_string_value(v);
    return 0;
}

/* An optional vector: "" means none (Go's encoders write empty strings). */
static int get_vector(struct ctx *c, json_t *obj, const char *key, const char **out) {
    int r = get_string(c, obj, key, false, out);
    if (r == 0 && *out && !**out)
        *out = NULL;
    return r;
}

static int get_container(struct ctx *c, json_t *obj, const char *key, bool required, bool array,
                         json_t **out) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? field_fail(c, -EINVAL, key, "missing") : 0;
    if (array ? !json_is_array(v) : !json_is_object(v))
        return field_fail(c, -EINVAL, key, array ? "expected an array" : "expected an object");
    *out = v;
    return 0;
}

static int get_array(struct ctx *c, json_t *obj, const char *key, bool required, json_t **out) {
    return get_container(c, obj, key, required, true, out);
}

static int get_object(struct ctx *c, json_t *obj, const char *key, bool required, json_t **out) {
    return get_container(c, obj, key, required, false, out);
}

static int get_score(struct ctx *c, json_t *obj, const char *key, bool *has, double *out) {
    json_t *v = json_object_get(obj, key);
    *has = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return field_fail(c, -EINVAL, key, "expected a number");
    double x = json_number_value(v);
    if (!(x >= 0.0 && x <= 10.0))
        return field_fail(c, -EINVAL, key, "a CVSS score is between 0 and 10, not %g", x);
    *has = true;
    *out = x;
    return 0;
}

static int get_id(struct ctx *c, json_t *obj, const char *key, const char **out) {
    int r = get_string(c, obj, key, true, out);
    if (r < 0)
        return r;
    size_t n = strnlen(*out, RT_SCAN_ID_MAX + 1);
    if (n == 0)
        return field_fail(c, -EINVAL, key, "empty id");
    if (n > RT_SCAN_ID_MAX)
        return field_fail(c, -EINVAL, key, "id longer than %d bytes", RT_SCAN_ID_MAX);
    for (const unsigned char *p = (const unsigned char *)*out; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return field_fail(c, -EINVAL, key, "id contains control characters");
    return 0;
}

static int expect_object(struct ctx *c, json_t *v) {
    return json_is_object(v) ? 0 : failf(c, -EINVAL, "expected an object");
}

/* ---- scores ---- */

static bool src_is_nvd(struct src s) {
    return s.n == 3 && strncasecmp(s.s, "nvd", 3) == 0;
}

static int src_cmp(struct src a, struct src b) {
    int r = memcmp(a.s, b.s, a.n < b.n ? a.n : b.n);
    return r ? r : (a.n > b.n) - (a.n < b.n);
}

/* On equal scores the label shown is NVD's, else the alphabetically first:
 * the result must not depend on the order of keys in the report. */
static bool src_preferred(struct src a, struct src b) {
    if (src_is_nvd(a) != src_is_nvd(b))
        return src_is_nvd(a);
    return src_cmp(a, b) < 0;
}

static void acc_fold(struct acc *a, struct src src, double score) {
    if (src_is_nvd(src)) {
        a->nvd = a->has_nvd ? fmax(a->nvd, score) : score;
        a->has_nvd = true;
    }
    if (!a->any || score > a->best || (score == a->best && src_preferred(src, a->best_src))) {
        a->best = score;
        a->best_src = src;
    }
    a->any = true;
}

/* One vendor's v3 data: a stated score, a vector, or both. The vector wins:
 * it is the evidence the score is derived from. */
static int add_v3(struct ctx *c, struct acc *a, struct src src, bool has_score, double score,
                  const char *vector, const char *vector_key) {
    double used = score;
    if (vector) {
        char msg[160];
        double computed = 0.0;
        if (rt_cvss_score(vector, &computed, msg, sizeof(msg)) < 0)
            return field_fail(c, -EINVAL, vector_key, "invalid CVSS v3 vector: %s", msg);
        if (has_score && fabs(score - computed) > RT_SCAN_MISMATCH_TOLERANCE + 1e-9 && !a->mismatch) {
            a->mismatch = true;
            a->mm_reported = score;
            a->mm_computed = computed;
            a->mm_src = src;
        }
        used = computed;
    }
    acc_fold(a, src, used);
    return 0;
}

/* ---- occurrences ---- */

static int begin_entry(struct ctx *c) {
    if (c->n_entries >= RT_SCAN_MAX_FINDINGS)
        return failf(c, -E2BIG, "more than %d findings in one report", RT_SCAN_MAX_FINDINGS);
    c->n_entries++;
    return 0;
}

static int add_occ(struct ctx *c, const char *id, const struct acc *a) {
    if (c->n_occ == c->cap_occ) {
        size_t cap = c->cap_occ ? c->cap_occ * 2 : 64;
        if (cap > RT_SCAN_MAX_FINDINGS)
            cap = RT_SCAN_MAX_FINDINGS;
        struct occ *p = reallocarray(c->occ, cap, sizeof(*p));
        if (!p)
            return failf(c, -ENOMEM, "out of memory");
        c->occ = p;
        c->cap_occ = cap;
    }
    c->occ[c->n_occ] = (struct occ){.id = id, .seq = c->n_occ, .a = *a};
    c->n_occ++;
    return 0;
}

/* Calls fn on every element of obj[key], an array (optional unless
 * `required`), with the path at "key[i]". ud is passed through. */
typedef int (*element_fn)(struct ctx *c, json_t *v, void *ud);

static int for_each_in(struct ctx *c, json_t *obj, const char *key, bool required, element_fn fn, void *ud) {
    json_t *arr;
    int r = get_array(c, obj, key, required, &arr);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        size_t mark = path_key(c, key);
        path_index(c, i);
        r = fn(c, v, ud);
        path_restore(c, mark);
        if (r < 0)
            return r;
    }
    return r;
}

/* ---- Trivy ---- */

static int trivy_cvss(struct ctx *c, json_t *cvss, struct acc *a) {
    const char *vendor;
    json_t *e;
    json_object_foreach(cvss, vendor, e) {
        size_t mark = path_key(c, vendor);
        bool has = false;
        double score = 0.0;
        const char *vec = NULL;
        int r = expect_object(c, e);
        if (r == 0)
            r = get_score(c, e, "V3Score", &has, &score);
        if (r == 0)
            r = get_vector(c, e, "V3Vector", &vec);
        if (r == 0 && (has || vec))
            r = add_v3(c, a, (struct src){vendor, strlen(vendor)}, has, score, vec, "V3Vector");
        else if (r == 0)
            c->n_non_v3++; /* V2* or V40* only */
        path_restore(c, mark);
        if (r < 0)
            return r;
    }
    return 0;
}

static int trivy_vuln(struct ctx *c, json_t *v, void *ud _unused_) {
    const char *id;
    json_t *cvss;
    struct acc a = {0};
    int r = expect_object(c, v);
    if (r == 0)
        r = begin_entry(c);
    if (r == 0)
        r = get_id(c, v, "VulnerabilityID", &id);
    if (r == 0)
        r = get_object(c, v, "CVSS", false, &cvss);
    if (r == 0 && cvss) {
        size_t mark = path_key(c, "CVSS");
        r = trivy_cvss(c, cvss, &a);
        path_restore(c, mark);
    }
    return r < 0 ? r : add_occ(c, id, &a);
}

static int trivy_result(struct ctx *c, json_t *res, void *ud _unused_) {
    int r = expect_object(c, res);
    return r < 0 ? r : for_each_in(c, res, "Vulnerabilities", false, trivy_vuln, NULL);
}

static int parse_trivy(struct ctx *c, json_t *root) {
    json_t *ver = json_object_get(root, "SchemaVersion");
    if (!ver)
        return field_fail(c, -EINVAL, "SchemaVersion", "missing (not a Trivy JSON report)");
    if (!json_is_integer(ver))
        return field_fail(c, -EINVAL, "SchemaVersion", "expected a number");
    if (json_integer_value(ver) != 2)
        return field_fail(c, -EINVAL, "SchemaVersion", "unsupported version %lld (expected 2)",
                          (long long)json_integer_value(ver));
    /* Trivy leaves Results out when it has nothing to report. */
    return for_each_in(c, root, "Results", false, trivy_result, NULL);
}

/* ---- Grype ---- */

/* Grype names the scorer in `source` ("nvd@nist.gov", a CNA's address) on
 * recent versions; older ones only have the record's namespace ("nvd",
 * "nvd:cpe", "debian:distro:debian:11"), whose first part names the feed. */
static struct src grype_src(const char *source, const char *ns) {
    if (source && *source)
        return strcasecmp(source, "nvd@nist.gov") == 0 ? SRC_NVD : (struct src){source, strlen(source)};
    if (ns && *ns)
        return (struct src){ns, strcspn(ns, ":")};
    return SRC_NONE;
}

struct grype_record_ctx {
    const char *ns;
    struct acc *a;
};

static int grype_cvss_entry(struct ctx *c, json_t *e, void *ud) {
    const struct grype_record_ctx *g = ud;
    const char *version, *vector, *source;
    json_t *metrics;
    bool has = false;
    double score = 0.0;
    int r = expect_object(c, e);
    if (r == 0)
        r = get_string(c, e, "version", false, &version);
    if (r == 0)
        r = get_vector(c, e, "vector", &vector);
    if (r == 0)
        r = get_string(c, e, "source", false, &source);
    if (r == 0)
        r = get_object(c, e, "metrics", false, &metrics);
    if (r == 0 && metrics) {
        size_t mark = path_key(c, "metrics");
        r = get_score(c, metrics, "baseScore", &has, &score);
        path_restore(c, mark);
    }
    if (r < 0)
        return r;
    bool v3 = version ? strncmp(version, "3.", 2) == 0 : vector && strncmp(vector, "CVSS:3.", 7) == 0;
    if (!v3 || !(has || vector)) {
        c->n_non_v3++;
        return 0;
    }
    return add_v3(c, g->a, grype_src(source, g->ns), has, score, vector, "vector");
}

/* A vulnerability record: the match's own, or one of its related records. */
static int grype_record(struct ctx *c, json_t *rec, void *ud) {
    struct grype_record_ctx g = {.a = ud};
    int r = expect_object(c, rec);
    if (r == 0)
        r = get_string(c, rec, "namespace", false, &g.ns);
    return r < 0 ? r : for_each_in(c, rec, "cvss", false, grype_cvss_entry, &g);
}

static int grype_match(struct ctx *c, json_t *m, void *ud _unused_) {
    const char *id = NULL;
    json_t *vuln;
    struct acc a = {0};
    int r = expect_object(c, m);
    if (r == 0)
        r = begin_entry(c);
    if (r == 0)
        r = get_object(c, m, "vulnerability", true, &vuln);
    if (r == 0) {
        size_t mark = path_key(c, "vulnerability");
        r = get_id(c, vuln, "id", &id);
        if (r == 0)
            r = grype_record(c, vuln, &a);
        path_restore(c, mark);
    }
    if (r == 0)
        r = for_each_in(c, m, "relatedVulnerabilities", false, grype_record, &a);
    return r < 0 ? r : add_occ(c, id, &a);
}

static int parse_grype(struct ctx *c, json_t *root) {
    return for_each_in(c, root, "matches", true, grype_match, NULL);
}

/* ---- OSV ---- */

static int osv_severity_entry(struct ctx *c, json_t *e, void *ud) {
    const char *type = NULL, *score = NULL;
    int r = expect_object(c, e);
    if (r == 0)
        r = get_string(c, e, "type", true, &type);
    if (r == 0)
        r = get_string(c, e, "score", true, &score);
    if (r < 0)
        return r;
    /* The score of a CVSS_V3 entry is a vector string, not a number. */
    if (strcmp(type, "CVSS_V3") == 0)
        return add_v3(c, ud, SRC_OSV, false, 0.0, score, "score");
    c->n_non_v3++;
    return 0;
}

/* Per-package severities (OSV schema 1.5+: affected[].severity). */
static int osv_affected(struct ctx *c, json_t *aff, void *ud) {
    int r = expect_object(c, aff);
    return r < 0 ? r : for_each_in(c, aff, "severity", false, osv_severity_entry, ud);
}

static int osv_record(struct ctx *c, json_t *rec, void *ud _unused_) {
    const char *id, *withdrawn;
    struct acc a = {0};
    int r = expect_object(c, rec);
    if (r == 0)
        r = begin_entry(c);
    if (r == 0)
        r = get_id(c, rec, "id", &id);
    if (r == 0)
        r = get_string(c, rec, "withdrawn", false, &withdrawn);
    if (r < 0)
        return r;
    if (withdrawn && *withdrawn) {
        c->n_closed++;
        return 0;
    }
    r = for_each_in(c, rec, "severity", false, osv_severity_entry, &a);
    if (r == 0)
        r = for_each_in(c, rec, "affected", false, osv_affected, &a);
    return r < 0 ? r : add_occ(c, id, &a);
}

static int osv_package(struct ctx *c, json_t *pkg, void *ud _unused_) {
    int r = expect_object(c, pkg);
    return r < 0 ? r : for_each_in(c, pkg, "vulnerabilities", false, osv_record, NULL);
}

static int osv_result(struct ctx *c, json_t *res, void *ud _unused_) {
    int r = expect_object(c, res);
    return r < 0 ? r : for_each_in(c, res, "packages", false, osv_package, NULL);
}

static int parse_osv(struct ctx *c, json_t *root) {
    if (json_is_array(root)) {
        size_t i;
        json_t *rec;
        json_array_foreach(root, i, rec) {
            size_t mark = path_index(c, i);
            int r = osv_record(c, rec, NULL);
            path_restore(c, mark);
            if (r < 0)
                return r;
        }
        return 0;
    }
    if (json_object_get(root, "results")) /* osv-scanner output */
        return for_each_in(c, root, "results", false, osv_result, NULL);
    return osv_record(c, root, NULL);
}

/* ---- native ---- */

static int native_keys(struct ctx *c, json_t *f) {
    static const char *const allowed[] = {"id", "score", "vector", "status", "source"};
    const char *key;
    json_t *v;
    json_object_foreach(f, key, v) {
        bool ok = false;
        for (size_t i = 0; i < ELEMENTSOF(allowed) && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return field_fail(c, -EINVAL, key, "unknown key (allowed: id, score, vector, status, source)");
    }
    return 0;
}

static int native_finding(struct ctx *c, json_t *f, void *ud _unused_) {
    const char *id, *vector, *status, *source;
    bool has = false;
    double score = 0.0;
    int r = expect_object(c, f);
    if (r == 0)
        r = native_keys(c, f);
    if (r == 0)
        r = begin_entry(c);
    if (r == 0)
        r = get_id(c, f, "id", &id);
    if (r == 0)
        r = get_score(c, f, "score", &has, &score);
    if (r == 0)
        r = get_vector(c, f, "vector", &vector);
    if (r == 0)
        r = get_string(c, f, "source", false, &source);
    if (r == 0)
        r = get_string(c, f, "status", false, &status);
    if (r < 0)
        return r;
    if (status && strcmp(status, "open") != 0 && strcmp(status, "fixed") != 0)
        return field_fail(c, -EINVAL, "status", "expected \"open\" or \"fixed\"");
    if (status && strcmp(status, "fixed") == 0) {
        c->n_closed++;
        return 0;
    }
    struct acc a = {0};
    struct src src = source ? (struct src){source, strlen(source)} : SRC_NONE;
    if (has || vector)
        r = add_v3(c, &a, src, has, score, vector, "vector");
    return r < 0 ? r : add_occ(c, id, &a);
}

static int parse_native(struct ctx *c, json_t *root) {
    return for_each_in(c, root, "findings", true, native_finding, NULL);
}

/* ---- format detection ---- */

static int detect(struct ctx *c, json_t *root, enum rt_scan_format *out) {
    static const struct {
        const char *key;
        enum rt_scan_format format;
    } markers[] = {
        {"SchemaVersion", RT_SCAN_TRIVY}, {"matches", RT_SCAN_GRYPE}, {"results", RT_SCAN_OSV},
        {"id", RT_SCAN_OSV},              {"findings", RT_SCAN_NATIVE},
    };
    if (json_is_array(root)) {
        json_t *first = json_array_get(root, 0);
        if (json_is_object(first) && json_object_get(first, "Target"))
            return failf(c, -EINVAL, "unsupported format: a Trivy report without SchemaVersion "
                                     "(trivy before 0.20); use a newer trivy");
        *out = RT_SCAN_OSV;
        return 0;
    }
    if (!json_is_object(root))
        return failf(c, -EINVAL, "unknown format: expected a JSON object or array");
    const char *found = NULL;
    *out = RT_SCAN_AUTO;
    for (size_t i = 0; i < ELEMENTSOF(markers); i++) {
        if (!json_object_get(root, markers[i].key))
            continue;
        if (found && *out != markers[i].format)
            return failf(c, -EINVAL, "ambiguous format: has both \"%s\" and \"%s\"; name the format",
                         found, markers[i].key);
        found = markers[i].key;
        *out = markers[i].format;
    }
    if (!found)
        return failf(c, -EINVAL, "unknown format: expected a Trivy (\"SchemaVersion\"), Grype "
                                 "(\"matches\"), OSV (\"id\", \"results\" or an array) or native "
                                 "(\"findings\") report");
    return 0;
}

/* ---- merging and the result ---- */

static int cmp_by_id(const void *x, const void *y) {
    const struct occ *a = x, *b = y;
    int r = strcmp(a->id, b->id);
    return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Scored before unscored, highest score first, then by id. */
static int cmp_by_score(const void *x, const void *y) {
    const struct occ *a = x, *b = y;
    if (a->a.any != b->a.any)
        return a->a.any ? -1 : 1;
    if (a->a.any && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

static void acc_merge(struct acc *into, const struct acc *from) {
    if (from->has_nvd)
        acc_fold(into, SRC_NVD, from->nvd);
    if (from->any)
        acc_fold(into, from->best_src, from->best);
    if (from->mismatch && !into->mismatch) {
        into->mismatch = true;
        into->mm_reported = from->mm_reported;
        into->mm_computed = from->mm_computed;
        into->mm_src = from->mm_src;
    }
}

/* Sorts by id and merges equal ids in place; returns the number of findings. */
static size_t merge_by_id(struct occ *occ, size_t n) {
    if (n == 0)
        return 0;
    qsort(occ, n, sizeof(*occ), cmp_by_id);
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(occ[i].id, occ[k].id) == 0)
            acc_merge(&occ[k].a, &occ[i].a);
        else
            occ[++k] = occ[i];
    }
    return k + 1;
}

static void choose_score(struct occ *o, enum rt_cvss_source policy) {
    if (policy == RT_CVSS_NVD_THEN_HIGHEST && o->a.has_nvd) {
        o->score = o->a.nvd;
        o->src = SRC_NVD;
    } else {
        o->score = o->a.best;
        o->src = o->a.best_src;
    }
}

static void copy_src(char dst[RT_SCAN_SOURCE_MAX + 1], struct src s) {
    size_t k = 0;
    for (; k < s.n && k < RT_SCAN_SOURCE_MAX; k++) {
        unsigned char ch = (unsigned char)s.s[k];
        dst[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[k] = '\0';
}

static void list_add(struct rt_scan_list *l, const char *id, struct src src, double score, double reported) {
    l->total++;
    if (l->n >= RT_SCAN_LIST_MAX)
        return;
    struct rt_scan_hit *h = &l->hit[l->n++];
    rt_strlcpy(h->id, id, sizeof(h->id));
    copy_src(h->source, src);
    h->score = score;
    h->reported = reported;
}

static void build_result(struct ctx *c, struct rt_scan_result *out) {
    size_t n = merge_by_id(c->occ, c->n_occ);
    double thr = c->opt->threshold;
    out->n_findings = n;
    for (size_t i = 0; i < n; i++) {
        struct occ *o = &c->occ[i];
        if (!o->a.any) {
            list_add(&out->unscored, o->id, SRC_NONE, 0.0, 0.0);
            continue;
        }
        choose_score(o, c->opt->source);
        out->max_score = fmax(out->max_score, o->score);
        if (o->a.mismatch)
            list_add(&out->mismatch, o->id, o->a.mm_src, o->a.mm_computed, o->a.mm_reported);
    }
    if (n > 0)
        qsort(c->occ, n, sizeof(*c->occ), cmp_by_score);
    for (size_t i = 0; i < n && c->occ[i].a.any; i++) {
        const struct occ *o = &c->occ[i];
        if (o->score == out->max_score)
            list_add(&out->top, o->id, o->src, o->score, 0.0);
        if (o->score > thr)
            list_add(&out->above, o->id, o->src, o->score, 0.0);
    }
    out->n_above = out->above.total;
}

static int check_options(const struct rt_scan_options *opt, char *err, size_t errlen) {
    const char *msg = NULL;
    if (!opt)
        msg = "no options";
    else if ((unsigned)opt->format > RT_SCAN_NATIVE)
        msg = "unknown report format";
    else if (opt->source != RT_CVSS_NVD_THEN_HIGHEST && opt->source != RT_CVSS_HIGHEST)
        msg = "unknown CVSS source preference";
    else if (!(opt->threshold >= 0.0 && opt->threshold <= 10.0))
        msg = "threshold: expected a number between 0 and 10";
    if (msg && err && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return msg ? -EINVAL : 0;
}

static int parse_root(struct ctx *c, json_t *root, enum rt_scan_format *format) {
    int r = 0;
    if (*format == RT_SCAN_AUTO)
        r = detect(c, root, format);
    if (r < 0)
        return r;
    if (*format != RT_SCAN_OSV && !json_is_object(root))
        return failf(c, -EINVAL, "expected a JSON object (a %s report)", rt_scan_format_name(*format));
    switch (*format) {
    case RT_SCAN_TRIVY: return parse_trivy(c, root);
    case RT_SCAN_GRYPE: return parse_grype(c, root);
    case RT_SCAN_NATIVE: return parse_native(c, root);
    default: return parse_osv(c, root);
    }
}

int rt_scan_parse(const char *text, size_t len, const struct rt_scan_options *opt,
                  struct rt_scan_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (err && errlen > 0)
        err[0] = '\0';
    int r = check_options(opt, err, errlen);
    if (r < 0)
        return r;
    struct ctx c = {.opt = opt, .err = err, .errlen = errlen};
    if (len > RT_SCAN_MAX_BYTES)
        return failf(&c, -E2BIG, "report larger than %d bytes", RT_SCAN_MAX_BYTES);
    json_error_t jerr;
    _cleanup_(json_decrefp) json_t *root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return failf(&c, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);

    enum rt_scan_format format = opt->format;
    r = parse_root(&c, root, &format);
    if (r == 0) {
        build_result(&c, out);
        out->format = format;
        out->threshold = opt->threshold;
        out->n_entries = c.n_entries;
        out->n_closed = c.n_closed;
        out->n_non_v3 = c.n_non_v3;
    }
    free(c.occ);
    if (r < 0)
        memset(out, 0, sizeof(*out));
    return r;
}

/* ---- detail text ---- */

struct text {
    char *buf;
    size_t len;
};

/* A later section (unscored, mismatches) keeps up to this much room, enough
 * for its heading, one item with a 128-byte id and "+N more". */
#define SECTION_SHARE 256
/* Room for ", +N more" after an item (N <= RT_SCAN_MAX_FINDINGS). */
#define MORE_RESERVE 16
#define ITEM_MAX (RT_SCAN_ID_MAX + RT_SCAN_SOURCE_MAX + 96)

/* Appends the piece only if it ends at or before `limit`; false if not. */
_printf_(3, 4) static bool put(struct text *t, size_t limit, const char *fmt, ...) {
    char piece[ITEM_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(piece, sizeof(piece), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(piece) || t->len + (size_t)n > limit)
        return false;
    memcpy(t->buf + t->len, piece, (size_t)n + 1);
    t->len += (size_t)n;
    return true;
}

/* One decimal for CVSS scores and thresholds, two when that would round. */
static const char *fmt_score(char buf[24], double x) {
    double tenths = x * 10.0;
    snprintf(buf, 24, fabs(tenths - nearbyint(tenths)) < 1e-6 ? "%.1f" : "%.2f", x);
    return buf;
}

enum item_style { ITEM_SCORED, ITEM_SOURCE_ONLY, ITEM_ID_ONLY, ITEM_MISMATCH };

static bool put_item(struct text *t, size_t limit, const struct rt_scan_hit *h, enum item_style style,
                     const char *sep) {
    char s[24], rep[24];
    const char *comma = h->source[0] ? ", " : "";
    switch (style) {
    case ITEM_SCORED:
        return put(t, limit, "%s%s (%s%s%s)", sep, h->id, fmt_score(s, h->score), comma, h->source);
    case ITEM_SOURCE_ONLY:
        return h->source[0] ? put(t, limit, "%s%s (%s)", sep, h->id, h->source)
                            : put(t, limit, "%s%s", sep, h->id);
    case ITEM_MISMATCH:
        return put(t, limit, "%s%s (reported %s, computed %s%s%s)", sep, h->id,
                   fmt_score(rep, h->reported), fmt_score(s, h->score), comma, h->source);
    default:
        return put(t, limit, "%s%s", sep, h->id);
    }
}

/* The heading, items while they fit (keeping room for "+N more"), then
 * "+N more" for the rest. */
static void put_section(struct text *t, size_t limit, const char *heading, const struct rt_scan_list *l,
                        enum item_style style) {
    if (!put(t, limit, "%s", heading))
        return;
    size_t shown = 0;
    for (; shown < l->n; shown++) {
        bool more_after = l->total > shown + 1;
        if (!put_item(t, limit - (more_after ? MORE_RESERVE : 0), &l->hit[shown], style,
                      shown ? ", " : ""))
            break;
    }
    if (shown < l->total)
        put(t, limit, "%s+%zu more", shown ? ", " : "", l->total - shown);
}

/* Room a later section keeps: all it needs, up to SECTION_SHARE. */
static size_t section_reserve(const char *heading, const struct rt_scan_list *l, enum item_style style) {
    if (!l->total)
        return 0;
    char scratch[RT_SCAN_LIST_MAX * ITEM_MAX + 64];
    struct text s = {scratch, 0};
    put_section(&s, sizeof(scratch) - 1, heading, l, style);
    return s.len < SECTION_SHARE ? s.len : SECTION_SHARE;
}

size_t rt_scan_detail(const struct rt_scan_result *r, char buf[RT_SCAN_DETAIL_MAX + 1]) {
    struct text t = {buf, 0};
    char thr[24], max[24], heading[64], unscored[48], mismatch[48];
    buf[0] = '\0';
    const char *name = rt_scan_format_name(r->format);
    if (r->n_findings == 0) {
        put(&t, RT_SCAN_DETAIL_MAX, "%s: no open findings", name);
        return t.len;
    }
    snprintf(unscored, sizeof(unscored), "; %zu unscored: ", r->unscored.total);
    snprintf(mismatch, sizeof(mismatch), "; %zu score mismatch%s: ", r->mismatch.total,
             r->mismatch.total == 1 ? "" : "es");
    size_t keep_mismatch = section_reserve(mismatch, &r->mismatch, ITEM_MISMATCH);
    size_t keep_unscored = section_reserve(unscored, &r->unscored, ITEM_ID_ONLY);
    size_t limit = RT_SCAN_DETAIL_MAX - keep_mismatch - keep_unscored;

    put(&t, limit, "%s: %zu of %zu findings > %s", name, r->n_above, r->n_findings,
        fmt_score(thr, r->threshold));
    if (r->above.total) {
        put_section(&t, limit, ": ", &r->above, ITEM_SCORED);
    } else if (r->top.total) {
        snprintf(heading, sizeof(heading), "; max %s: ", fmt_score(max, r->max_score));
        put_section(&t, limit, heading, &r->top, ITEM_SOURCE_ONLY);
    }
    if (r->unscored.total)
        put_section(&t, RT_SCAN_DETAIL_MAX - keep_mismatch, unscored, &r->unscored, ITEM_ID_ONLY);
    if (r->mismatch.total)
        put_section(&t, RT_SCAN_DETAIL_MAX, mismatch, &r->mismatch, ITEM_MISMATCH);
    return t.len;
}
