/* Strict parser for the demotion policy (docs/policy.md, "Policy file").
 *
 * jansson parses the text; this file walks the tree, applies every setting
 * over its base (file conditions over the embedded default, per-bot entries
 * over the merged file conditions) and records every problem it finds with
 * the position of the offending key or value, which common/jsonpos.c finds
 * by re-scanning the text. */
#include "policy/policy.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/jsonpos.h"
#include "common/rtime.h"
#include "common/util.h"

/* Must stay byte-identical to policy/default-policy.json (a unit test
 * compares them). */
const char rt_default_policy_json[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"cvss_source\": \"nvd_then_highest\",\n"
    "  \"conditions\": {\n"
    "    \"p0_alert\": {\n"
    "      \"enabled\": true,\n"
    "      \"window\": \"24h\",\n"
    "      \"max_evidence_age\": \"15m\",\n"
    "      \"on_unknown\": \"hold\"\n"
    "    },\n"
    "    \"error_rate\": {\n"
    "      \"enabled\": true,\n"
    "      \"threshold\": 0.01,\n"
    "      \"window\": \"24h\",\n"
    "      \"max_evidence_age\": \"15m\",\n"
    "      \"on_unknown\": \"hold\"\n"
    "    },\n"
    "    \"recon_drift\": {\n"
    "      \"enabled\": true,\n"
    "      \"tolerance\": null,\n"
    "      \"window\": \"24h\",\n"
    "      \"max_evidence_age\": \"15m\",\n"
    "      \"on_unknown\": \"hold\"\n"
    "    },\n"
    "    \"cvss\": {\n"
    "      \"enabled\": true,\n"
    "      \"threshold\": 7.0,\n"
    "      \"window\": \"24h\",\n"
    "      \"max_evidence_age\": \"15m\",\n"
    "      \"on_unknown\": \"hold\"\n"
    "    }\n"
    "  },\n"
    "  \"bots\": {}\n"
    "}\n";

static const char *const cond_names[RT_COND_COUNT] = {
    [RT_COND_P0_ALERT] = "p0_alert",
    [RT_COND_ERROR_RATE] = "error_rate",
    [RT_COND_RECON_DRIFT] = "recon_drift",
    [RT_COND_CVSS] = "cvss",
};

static const char *const on_unknown_names[] = {
    [RT_ON_UNKNOWN_HOLD] = "hold",
    [RT_ON_UNKNOWN_RESET] = "reset",
    [RT_ON_UNKNOWN_BREACH] = "breach",
};

static const char *const cvss_source_names[] = {
    [RT_CVSS_NVD_THEN_HIGHEST] = "nvd_then_highest",
    [RT_CVSS_HIGHEST] = "highest",
};

const char *rt_cond_name(enum rt_cond c) {
    return (unsigned)c < RT_COND_COUNT ? cond_names[c] : "invalid";
}

int rt_cond_from_name(const char *name, enum rt_cond *out) {
    for (size_t i = 0; name && i < RT_COND_COUNT; i++) {
        if (strcmp(name, cond_names[i]) == 0) {
            *out = (enum rt_cond)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *rt_on_unknown_name(enum rt_on_unknown u) {
    return (unsigned)u < ELEMENTSOF(on_unknown_names) ? on_unknown_names[u] : "invalid";
}

static bool is_ascii_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool rt_bot_id_valid(const char *bot) {
    if (!bot || !is_ascii_alnum(bot[0]))
        return false;
    for (size_t n = 0; bot[n]; n++) {
        char c = bot[n];
        if (n >= RT_BOT_ID_MAX)
            return false;
        if (!is_ascii_alnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
            return false;
    }
    return true;
}

/* ---- error collection ---- */

/* Where in the document a check is: at most bots/<id>/<cond>/<key>. */
#define PATH_MAX_SEGS 4
struct jpath {
    const char *seg[PATH_MAX_SEGS];
    size_t n;
};

static struct jpath jpath_child(const struct jpath *p, const char *seg) {
    struct jpath c = *p;
    if (c.n < PATH_MAX_SEGS)
        c.seg[c.n++] = seg;
    return c;
}

enum at { AT_KEY, AT_VALUE };

struct ctx {
    const char *text;
    size_t len;
    struct rt_policy_errors *errs;
    bool overflow; /* more errors than fit */
};

/* Keys and strings in messages come from the file: keep them short and free
 * of control characters. */
#define SHOW_MAX 40
struct shown {
    char s[SHOW_MAX + 4];
};

static struct shown show(const char *s) {
    struct shown out;
    size_t n = 0;
    for (; s[n] && n < SHOW_MAX; n++) {
        unsigned char c = (unsigned char)s[n];
        out.s[n] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
    }
    if (s[n]) {
        while (n > 0 && ((unsigned char)out.s[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
        memcpy(out.s + n, "...", 3);
        n += 3;
    }
    out.s[n] = '\0';
    return out;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

static void set_error(struct rt_policy_error *e, int line, int column, const char *fmt, va_list ap)
    _printf_(4, 0);
static void set_error(struct rt_policy_error *e, int line, int column, const char *fmt, va_list ap) {
    e->line = line;
    e->column = column;
    vsnprintf(e->text, sizeof e->text, fmt, ap);
}

static void errorf(struct ctx *c, const struct jpath *p, enum at where, const char *fmt, ...) _printf_(4, 5);
static void errorf(struct ctx *c, const struct jpath *p, enum at where, const char *fmt, ...) {
    if (c->errs->n >= RT_POLICY_MAX_ERRORS) {
        c->overflow = true;
        return;
    }
    struct rt_jsonpos key, value;
    int line = 0, column = 0;
    if (rt_jsonpos_find(c->text, c->len, p->seg, p->n, &key, &value) == 0) {
        line = where == AT_KEY ? key.line : value.line;
        column = where == AT_KEY ? key.column : value.column;
    }
    va_list ap;
    va_start(ap, fmt);
    set_error(&c->errs->e[c->errs->n++], line, column, fmt, ap);
    va_end(ap);
}

/* An error without position (size, I/O). */
static void errorf_nopos(struct rt_policy_errors *errs, const char *fmt, ...) _printf_(2, 3);
static void errorf_nopos(struct rt_policy_errors *errs, const char *fmt, ...) {
    if (errs->n >= RT_POLICY_MAX_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    set_error(&errs->e[errs->n++], 0, 0, fmt, ap);
    va_end(ap);
}

static void sort_errors(struct rt_policy_errors *errs) {
    /* Insertion sort: stable, and n is at most RT_POLICY_MAX_ERRORS. */
    for (size_t i = 1; i < errs->n; i++) {
        struct rt_policy_error e = errs->e[i];
        size_t j = i;
        while (j > 0 && (errs->e[j - 1].line > e.line ||
                         (errs->e[j - 1].line == e.line && errs->e[j - 1].column > e.column))) {
            errs->e[j] = errs->e[j - 1];
            j--;
        }
        errs->e[j] = e;
    }
}

static void finish_errors(struct ctx *c) {
    sort_errors(c->errs);
    if (c->overflow) {
        struct rt_policy_error *last = &c->errs->e[RT_POLICY_MAX_ERRORS - 1];
        last->line = last->column = 0;
        snprintf(last->text, sizeof last->text, "too many errors; only the first %d are shown",
                 RT_POLICY_MAX_ERRORS - 1);
    }
}

/* ---- one condition's settings ---- */

static bool cond_has_threshold_key(enum rt_cond which) {
    return which == RT_COND_ERROR_RATE || which == RT_COND_CVSS;
}

static const char *cond_allowed_keys(enum rt_cond which) {
    switch (which) {
    case RT_COND_ERROR_RATE:
    case RT_COND_CVSS: return "enabled, window, max_evidence_age, on_unknown, threshold";
    case RT_COND_RECON_DRIFT: return "enabled, window, max_evidence_age, on_unknown, tolerance";
    default: return "enabled, window, max_evidence_age, on_unknown";
    }
}

static void parse_duration(struct ctx *c, const struct jpath *p, const char *key, const json_t *v,
                           int64_t *out) {
    if (!json_is_string(v)) {
        errorf(c, p, AT_VALUE, "\"%s\" must be a duration string such as \"24h\" or \"15m\", not %s",
               key, type_name(v));
        return;
    }
    const char *s = json_string_value(v);
    int64_t us;
    int r = rt_duration_parse(s, &us);
    if (r == -EINVAL)
        errorf(c, p, AT_VALUE, "\"%s\": invalid duration \"%s\" (use e.g. 500ms, 90s, 15m, 24h, 1h30m, 7d)",
               key, show(s).s);
    else if (r < 0 || us > RT_POLICY_MAX_DURATION_US)
        errorf(c, p, AT_VALUE, "\"%s\": duration \"%s\" must be greater than 0 and at most 365d", key,
               show(s).s);
    else
        *out = us;
}

static void parse_on_unknown(struct ctx *c, const struct jpath *p, const json_t *v,
                             enum rt_on_unknown *out) {
    if (json_is_string(v)) {
        for (size_t i = 0; i < ELEMENTSOF(on_unknown_names); i++) {
            if (strcmp(json_string_value(v), on_unknown_names[i]) == 0) {
                *out = (enum rt_on_unknown)i;
                return;
            }
        }
        errorf(c, p, AT_VALUE, "\"on_unknown\" must be \"hold\", \"reset\" or \"breach\", not \"%s\"",
               show(json_string_value(v)).s);
        return;
    }
    errorf(c, p, AT_VALUE, "\"on_unknown\" must be \"hold\", \"reset\" or \"breach\", not %s",
           type_name(v));
}

/* Finite and not negative; the caller checks the upper bound. */
static bool parse_nonnegative(struct ctx *c, const struct jpath *p, const char *key, const json_t *v,
                              double *out) {
    if (!json_is_number(v)) {
        errorf(c, p, AT_VALUE, "\"%s\" must be a number, not %s", key, type_name(v));
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d)) {
        errorf(c, p, AT_VALUE, "\"%s\" must be a finite number", key);
        return false;
    }
    if (d < 0) {
        errorf(c, p, AT_VALUE, "\"%s\" must not be negative, not %g", key, d);
        return false;
    }
    *out = d;
    return true;
}

static void parse_threshold(struct ctx *c, const struct jpath *p, enum rt_cond which, const json_t *v,
                            struct rt_cond_policy *out) {
    double d;
    if (!parse_nonnegative(c, p, "threshold", v, &d))
        return;
    if (which == RT_COND_ERROR_RATE && d > 1) {
        errorf(c, p, AT_VALUE, "\"threshold\" of error_rate is a ratio between 0 and 1 (0.01 = 1%%), not %g", d);
        return;
    }
    if (which == RT_COND_CVSS && d > 10) {
        errorf(c, p, AT_VALUE, "\"threshold\" of cvss must be between 0 and 10, not %g", d);
        return;
    }
    out->has_threshold = true;
    out->threshold = d;
}

static void parse_tolerance(struct ctx *c, const struct jpath *p, const json_t *v,
                            struct rt_cond_policy *out) {
    if (json_is_null(v)) {
        /* No policy tolerance: drift evidence must carry its own. */
        out->has_threshold = false;
        out->threshold = 0;
        return;
    }
    if (!json_is_number(v)) {
        errorf(c, p, AT_VALUE, "\"tolerance\" must be a number or null, not %s", type_name(v));
        return;
    }
    double d;
    if (!parse_nonnegative(c, p, "tolerance", v, &d))
        return;
    out->has_threshold = true;
    out->threshold = d;
}

/* Applies the settings in v (a condition object) over *out. */
static void parse_cond(struct ctx *c, const struct jpath *p, enum rt_cond which, json_t *v,
                       struct rt_cond_policy *out) {
    if (!json_is_object(v)) {
        errorf(c, p, AT_VALUE, "condition \"%s\" must be an object, not %s", cond_names[which], type_name(v));
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        struct jpath kp = jpath_child(p, key);
        if (strcmp(key, "enabled") == 0) {
            if (json_is_boolean(val))
                out->enabled = json_is_true(val);
            else
                errorf(c, &kp, AT_VALUE, "\"enabled\" must be true or false, not %s", type_name(val));
        } else if (strcmp(key, "window") == 0) {
            parse_duration(c, &kp, key, val, &out->window_us);
        } else if (strcmp(key, "max_evidence_age") == 0) {
            parse_duration(c, &kp, key, val, &out->max_evidence_age_us);
        } else if (strcmp(key, "on_unknown") == 0) {
            parse_on_unknown(c, &kp, val, &out->on_unknown);
        } else if (strcmp(key, "threshold") == 0 && cond_has_threshold_key(which)) {
            parse_threshold(c, &kp, which, val, out);
        } else if (strcmp(key, "tolerance") == 0 && which == RT_COND_RECON_DRIFT) {
            parse_tolerance(c, &kp, val, out);
        } else {
            errorf(c, &kp, AT_KEY, "unknown key \"%s\" in condition \"%s\" (allowed: %s)", show(key).s,
                   cond_names[which], cond_allowed_keys(which));
        }
    }
}

/* A map of condition name -> settings, applied over conds[]. */
static void parse_conditions(struct ctx *c, const struct jpath *p, const char *what, json_t *v,
                             struct rt_cond_policy conds[RT_COND_COUNT]) {
    if (!json_is_object(v)) {
        errorf(c, p, AT_VALUE, "%s must be an object, not %s", what, type_name(v));
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        struct jpath kp = jpath_child(p, key);
        enum rt_cond which;
        if (rt_cond_from_name(key, &which) < 0) {
            errorf(c, &kp, AT_KEY,
                   "unknown condition \"%s\" (allowed: p0_alert, error_rate, recon_drift, cvss)",
                   show(key).s);
            continue;
        }
        parse_cond(c, &kp, which, val, &conds[which]);
    }
}

static int cmp_bot(const void *a, const void *b) {
    return strcmp(((const struct rt_bot_policy *)a)->bot, ((const struct rt_bot_policy *)b)->bot);
}

/* Per-bot entries inherit p->cond, which must already be final. */
static int parse_bots(struct ctx *c, const struct jpath *p, json_t *v, struct rt_policy *pol) {
    if (!json_is_object(v)) {
        errorf(c, p, AT_VALUE, "\"bots\" must be an object, not %s", type_name(v));
        return 0;
    }
    size_t n = json_object_size(v);
    if (n > RT_POLICY_MAX_BOTS) {
        errorf(c, p, AT_VALUE, "too many per-bot entries: %zu (at most %d)", n, RT_POLICY_MAX_BOTS);
        return 0;
    }
    if (n == 0)
        return 0;
    pol->bots = calloc(n, sizeof *pol->bots);
    if (!pol->bots)
        return -ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        struct jpath kp = jpath_child(p, key);
        struct rt_bot_policy *b = &pol->bots[pol->n_bots++];
        if (!rt_bot_id_valid(key))
            errorf(c, &kp, AT_KEY,
                   "invalid bot id \"%s\" (1-64 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit)",
                   show(key).s);
        rt_strlcpy(b->bot, key, sizeof b->bot);
        memcpy(b->cond, pol->cond, sizeof b->cond);
        char what[RT_BOT_ID_MAX + 32];
        snprintf(what, sizeof what, "the entry of bot \"%s\"", show(key).s);
        parse_conditions(c, &kp, what, val, b->cond);
    }
    qsort(pol->bots, pol->n_bots, sizeof *pol->bots, cmp_bot);
    return 0;
}

static void parse_version(struct ctx *c, const struct jpath *p, const json_t *v) {
    if (!json_is_integer(v))
        errorf(c, p, AT_VALUE, "\"version\" must be the integer 1, not %s", type_name(v));
    else if (json_integer_value(v) != 1)
        errorf(c, p, AT_VALUE, "unsupported \"version\" %" JSON_INTEGER_FORMAT " (this ratchet reads version 1)",
               json_integer_value(v));
}

static void parse_cvss_source(struct ctx *c, const struct jpath *p, const json_t *v,
                              enum rt_cvss_source *out) {
    for (size_t i = 0; json_is_string(v) && i < ELEMENTSOF(cvss_source_names); i++) {
        if (strcmp(json_string_value(v), cvss_source_names[i]) == 0) {
            *out = (enum rt_cvss_source)i;
            return;
        }
    }
    if (json_is_string(v))
        errorf(c, p, AT_VALUE, "\"cvss_source\" must be \"nvd_then_highest\" or \"highest\", not \"%s\"",
               show(json_string_value(v)).s);
    else
        errorf(c, p, AT_VALUE, "\"cvss_source\" must be \"nvd_then_highest\" or \"highest\", not %s",
               type_name(v));
}

static int parse_root(struct ctx *c, json_t *root, struct rt_policy *pol) {
    const struct jpath rootp = {.n = 0};
    if (!json_is_object(root)) {
        errorf(c, &rootp, AT_VALUE, "a policy must be a JSON object, not %s", type_name(root));
        return 0;
    }
    json_t *conditions = NULL, *bots = NULL;
    bool have_version = false;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        struct jpath kp = jpath_child(&rootp, key);
        if (strcmp(key, "version") == 0) {
            have_version = true;
            parse_version(c, &kp, val);
        } else if (strcmp(key, "cvss_source") == 0) {
            parse_cvss_source(c, &kp, val, &pol->cvss_source);
        } else if (strcmp(key, "conditions") == 0) {
            conditions = val;
        } else if (strcmp(key, "bots") == 0) {
            bots = val;
        } else {
            errorf(c, &kp, AT_KEY, "unknown key \"%s\" (allowed: version, cvss_source, conditions, bots)",
                   show(key).s);
        }
    }
    if (!have_version)
        errorf(c, &rootp, AT_VALUE, "missing \"version\": 1");
    /* Conditions first whatever the key order: bots inherit them. */
    if (conditions) {
        struct jpath cp = jpath_child(&rootp, "conditions");
        parse_conditions(c, &cp, "\"conditions\"", conditions, pol->cond);
    }
    if (bots) {
        struct jpath bp = jpath_child(&rootp, "bots");
        return parse_bots(c, &bp, bots, pol);
    }
    return 0;
}

void rt_policy_free(struct rt_policy *p) {
    if (!p)
        return;
    free(p->bots);
    free(p);
}

void rt_policy_freep(struct rt_policy **p) {
    rt_policy_free(*p);
    *p = NULL;
}

/* Parse text over base (NULL: all-zero settings, used for the embedded
 * default, which sets everything). */
static int parse_over(const char *text, size_t len, const struct rt_policy *base,
                      struct rt_policy **out, struct rt_policy_errors *errs) {
    errs->n = 0;
    if (!text && len > 0) {
        errorf_nopos(errs, "no policy text");
        return -EINVAL;
    }
    if (len > RT_POLICY_MAX_BYTES) {
        errorf_nopos(errs, "policy is larger than %d bytes", RT_POLICY_MAX_BYTES);
        return -EINVAL;
    }
    json_error_t jerr;
    _cleanup_(json_decrefp) json_t *root =
        json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        /* jansson stops at the first syntax error; its column is that of the
         * token's last character, and 0 at the very start of a line. */
        errs->e[0].line = jerr.line > 0 ? jerr.line : 1;
        errs->e[0].column = jerr.column > 0 ? jerr.column : 1;
        snprintf(errs->e[0].text, sizeof errs->e[0].text, "%s", jerr.text);
        for (char *t = errs->e[0].text; *t; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f)
                *t = '?';
        errs->n = 1;
        return -EINVAL;
    }
    _cleanup_(rt_policy_freep) struct rt_policy *pol = calloc(1, sizeof *pol);
    if (!pol)
        return -ENOMEM;
    if (base) {
        memcpy(pol->cond, base->cond, sizeof pol->cond);
        pol->cvss_source = base->cvss_source;
    }
    struct ctx c = {.text = text, .len = len, .errs = errs};
    int r = parse_root(&c, root, pol);
    if (r < 0)
        return r;
    if (errs->n > 0) {
        finish_errors(&c);
        return -EINVAL;
    }
    if (EVP_Digest(text ? text : "", len, pol->sha256, NULL, EVP_sha256(), NULL) != 1)
        return -EIO;
    *out = pol;
    pol = NULL;
    return 0;
}

int rt_policy_parse(const char *text, size_t len, struct rt_policy **out, struct rt_policy_errors *errs) {
    struct rt_policy_errors local;
    if (!errs)
        errs = &local;
    if (!out)
        return -EINVAL;
    _cleanup_(rt_policy_freep) struct rt_policy *def = NULL;
    int r = parse_over(rt_default_policy_json, sizeof rt_default_policy_json - 1, NULL, &def, errs);
    if (r < 0)
        return r;
    return parse_over(text, len, def, out, errs);
}

int rt_policy_default(struct rt_policy **out) {
    return rt_policy_parse(rt_default_policy_json, sizeof rt_default_policy_json - 1, out, NULL);
}

int rt_policy_load_file(const char *path, struct rt_policy **out, struct rt_policy_errors *errs) {
    struct rt_policy_errors local;
    if (!errs)
        errs = &local;
    errs->n = 0;
    if (!path || !out)
        return -EINVAL;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = rt_read_file_bounded(path, RT_POLICY_MAX_BYTES, &text, &len);
    if (r == -EFBIG) {
        errorf_nopos(errs, "policy is larger than %d bytes", RT_POLICY_MAX_BYTES);
        return r;
    }
    if (r < 0) {
        char buf[128];
        errorf_nopos(errs, "cannot read: %s", strerror_r(-r, buf, sizeof buf));
        return r;
    }
    return rt_policy_parse(text, len, out, errs);
}

static int cmp_key_bot(const void *key, const void *elem) {
    return strcmp(key, ((const struct rt_bot_policy *)elem)->bot);
}

const struct rt_cond_policy *rt_policy_cond(const struct rt_policy *p, const char *bot, enum rt_cond c) {
    if (!p || (unsigned)c >= RT_COND_COUNT)
        return NULL;
    if (bot && p->n_bots > 0) {
        const struct rt_bot_policy *b = bsearch(bot, p->bots, p->n_bots, sizeof *p->bots, cmp_key_bot);
        if (b)
            return &b->cond[c];
    }
    return &p->cond[c];
}
