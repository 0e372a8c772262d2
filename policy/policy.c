/* Strict parser for the demotion policy (docs/policy.md, "Policy file").
 *
 * jansson parses the text; this file walks the tree, applies every setting
 * over its base (file conditions over the embedded default, per-bot entries
 * over the merged file conditions) and records every problem it finds with
 * the position of the offending key or value (common/jsoncheck.h holds the
 * machinery shared with other strict JSON files). */
#include "policy/policy.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsoncheck.h"
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

static void parse_duration(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                           int64_t *out) {
    rt_jcheck_duration(c, p, key, v, 1, RT_POLICY_MAX_DURATION_US, out);
}

static void parse_on_unknown(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v,
                             enum rt_on_unknown *out) {
    int i;
    if (rt_jcheck_enum(c, p, "on_unknown", v, on_unknown_names, ELEMENTSOF(on_unknown_names), &i))
        *out = (enum rt_on_unknown)i;
}

/* Finite and not negative; the caller checks the upper bound. */
static bool parse_nonnegative(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                              double *out) {
    double d;
    if (!rt_jcheck_number(c, p, key, v, &d))
        return false;
    if (d < 0) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must not be negative, not %g", key, d);
        return false;
    }
    *out = d;
    return true;
}

static void parse_threshold(struct rt_jcheck *c, const struct rt_jpath *p, enum rt_cond which, const json_t *v,
                            struct rt_cond_policy *out) {
    double d;
    if (!parse_nonnegative(c, p, "threshold", v, &d))
        return;
    if (which == RT_COND_ERROR_RATE && d > 1) {
        rt_jcheck_error(c, p, RT_JAT_VALUE,
                        "\"threshold\" of error_rate is a ratio between 0 and 1 (0.01 = 1%%), not %g", d);
        return;
    }
    if (which == RT_COND_CVSS && d > 10) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"threshold\" of cvss must be between 0 and 10, not %g", d);
        return;
    }
    out->has_threshold = true;
    out->threshold = d;
}

static void parse_tolerance(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v,
                            struct rt_cond_policy *out) {
    if (json_is_null(v)) {
        /* No policy tolerance: drift evidence must carry its own. */
        out->has_threshold = false;
        out->threshold = 0;
        return;
    }
    if (!json_is_number(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"tolerance\" must be a number or null, not %s", rt_json_type_name(v));
        return;
    }
    double d;
    if (!parse_nonnegative(c, p, "tolerance", v, &d))
        return;
    out->has_threshold = true;
    out->threshold = d;
}

/* Applies the settings in v (a condition object) over *out. */
static void parse_cond(struct rt_jcheck *c, const struct rt_jpath *p, enum rt_cond which, json_t *v,
                       struct rt_cond_policy *out) {
    char what[48];
    snprintf(what, sizeof what, "condition \"%s\"", cond_names[which]);
    if (!rt_jcheck_object(c, p, v, what))
        return;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        struct rt_jpath kp = rt_jpath_key(p, key);
        if (strcmp(key, "enabled") == 0)
            rt_jcheck_bool(c, &kp, key, val, &out->enabled);
        else if (strcmp(key, "window") == 0)
            parse_duration(c, &kp, key, val, &out->window_us);
        else if (strcmp(key, "max_evidence_age") == 0)
            parse_duration(c, &kp, key, val, &out->max_evidence_age_us);
        else if (strcmp(key, "on_unknown") == 0)
            parse_on_unknown(c, &kp, val, &out->on_unknown);
        else if (strcmp(key, "threshold") == 0 && cond_has_threshold_key(which))
            parse_threshold(c, &kp, which, val, out);
        else if (strcmp(key, "tolerance") == 0 && which == RT_COND_RECON_DRIFT)
            parse_tolerance(c, &kp, val, out);
        else
            rt_jcheck_unknown_key(c, &kp, key, what, cond_allowed_keys(which));
    }
}

/* A map of condition name -> settings, applied over conds[]. */
static void parse_conditions(struct rt_jcheck *c, const struct rt_jpath *p, const char *what, json_t *v,
                             struct rt_cond_policy conds[RT_COND_COUNT]) {
    if (!rt_jcheck_object(c, p, v, what))
        return;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        struct rt_jpath kp = rt_jpath_key(p, key);
        enum rt_cond which;
        if (rt_cond_from_name(key, &which) < 0) {
            rt_jcheck_error(c, &kp, RT_JAT_KEY,
                            "unknown condition \"%s\" (allowed: p0_alert, error_rate, recon_drift, cvss)",
                            rt_jshow(key).s);
            continue;
        }
        parse_cond(c, &kp, which, val, &conds[which]);
    }
}

static int cmp_bot(const void *a, const void *b) {
    return strcmp(((const struct rt_bot_policy *)a)->bot, ((const struct rt_bot_policy *)b)->bot);
}

/* Per-bot entries inherit p->cond, which must already be final. */
static int parse_bots(struct rt_jcheck *c, const struct rt_jpath *p, json_t *v, struct rt_policy *pol) {
    if (!rt_jcheck_object(c, p, v, "\"bots\""))
        return 0;
    size_t n = json_object_size(v);
    if (n > RT_POLICY_MAX_BOTS) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "too many per-bot entries: %zu (at most %d)", n, RT_POLICY_MAX_BOTS);
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
        struct rt_jpath kp = rt_jpath_key(p, key);
        struct rt_bot_policy *b = &pol->bots[pol->n_bots++];
        if (!rt_bot_id_valid(key))
            rt_jcheck_error(c, &kp, RT_JAT_KEY,
                            "invalid bot id \"%s\" (1-64 characters of A-Z a-z 0-9 . _ : -, "
                            "starting with a letter or digit)",
                            rt_jshow(key).s);
        rt_strlcpy(b->bot, key, sizeof b->bot);
        memcpy(b->cond, pol->cond, sizeof b->cond);
        char what[RT_BOT_ID_MAX + 32];
        snprintf(what, sizeof what, "the entry of bot \"%s\"", rt_jshow(key).s);
        parse_conditions(c, &kp, what, val, b->cond);
    }
    qsort(pol->bots, pol->n_bots, sizeof *pol->bots, cmp_bot);
    return 0;
}

static void parse_cvss_source(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v,
                              enum rt_cvss_source *out) {
    int i;
    if (rt_jcheck_enum(c, p, "cvss_source", v, cvss_source_names, ELEMENTSOF(cvss_source_names), &i))
        *out = (enum rt_cvss_source)i;
}

static int parse_root(struct rt_jcheck *c, json_t *root, struct rt_policy *pol) {
    const struct rt_jpath rootp = {.n = 0};
    if (!json_is_object(root)) {
        rt_jcheck_error(c, &rootp, RT_JAT_VALUE, "a policy must be a JSON object, not %s", rt_json_type_name(root));
        return 0;
    }
    json_t *conditions = NULL, *bots = NULL;
    bool have_version = false;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        struct rt_jpath kp = rt_jpath_key(&rootp, key);
        if (strcmp(key, "version") == 0) {
            have_version = true;
            rt_jcheck_version(c, &kp, val, 1);
        } else if (strcmp(key, "cvss_source") == 0) {
            parse_cvss_source(c, &kp, val, &pol->cvss_source);
        } else if (strcmp(key, "conditions") == 0) {
            conditions = val;
        } else if (strcmp(key, "bots") == 0) {
            bots = val;
        } else {
            rt_jcheck_unknown_key(c, &kp, key, NULL, "version, cvss_source, conditions, bots");
        }
    }
    if (!have_version)
        rt_jcheck_error(c, &rootp, RT_JAT_VALUE, "missing \"version\": 1");
    /* Conditions first whatever the key order: bots inherit them. */
    if (conditions) {
        struct rt_jpath cp = rt_jpath_key(&rootp, "conditions");
        parse_conditions(c, &cp, "\"conditions\"", conditions, pol->cond);
    }
    if (bots) {
        struct rt_jpath bp = rt_jpath_key(&rootp, "bots");
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
    _cleanup_(json_decrefp) json_t *root = rt_jcheck_parse(text, len, RT_POLICY_MAX_BYTES, "policy", errs);
    if (!root)
        return -EINVAL;
    _cleanup_(rt_policy_freep) struct rt_policy *pol = calloc(1, sizeof *pol);
    if (!pol)
        return -ENOMEM;
    if (base) {
        memcpy(pol->cond, base->cond, sizeof pol->cond);
        pol->cvss_source = base->cvss_source;
    }
    struct rt_jcheck c = {.text = text, .len = len, .errs = errs};
    int r = parse_root(&c, root, pol);
    if (r < 0)
        return r;
    r = rt_jcheck_finish(&c);
    if (r < 0)
        return r;
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
    int r = rt_jcheck_read_file(path, RT_POLICY_MAX_BYTES, "policy", &text, &len, errs);
    if (r < 0)
        return r;
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
