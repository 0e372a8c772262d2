/* The reconciliation-drift feed (feeds/drift.h, docs/feeds.md). */
#include "feeds/drift.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rtime.h"
#include "common/util.h"

#define NO_INDEX (-1L)

struct ctx {
    struct rt_drift_errors *errs;
    size_t total; /* errors found, shown or not */
    /* Duplicate detection: open addressing over entry indexes (+1; 0 = empty). */
    uint32_t *seen;
    size_t seen_cap;
};

static void add_error(struct ctx *c, long index, const char *fmt, ...) _printf_(3, 4);
static void add_error(struct ctx *c, long index, const char *fmt, ...) {
    c->total++;
    if (c->errs->n >= RT_DRIFT_MAX_ERRORS)
        return;
    struct rt_drift_error *e = &c->errs->e[c->errs->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->index = index;
}

static void finish_errors(struct ctx *c) {
    if (c->total <= RT_DRIFT_MAX_ERRORS)
        return;
    struct rt_drift_error *last = &c->errs->e[RT_DRIFT_MAX_ERRORS - 1];
    last->index = NO_INDEX;
    snprintf(last->text, sizeof last->text, "too many errors: %zu more not shown",
             c->total - (RT_DRIFT_MAX_ERRORS - 1));
}

/* Input text shown in a message: at most 64 bytes, cut at a UTF-8
 * character boundary. */
static void shown(char dst[65], const char *src) {
    size_t n = strlen(src);
    if (n > 64) {
        n = 64;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t hash_str(const char *s) {
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

/* Returns the index of an earlier entry with the same bot, or -1 after
 * remembering this one. */
static long seen_before(struct ctx *c, const struct rt_drift_entry *entries, size_t idx) {
    size_t mask = c->seen_cap - 1;
    for (size_t h = hash_str(entries[idx].bot) & mask;; h = (h + 1) & mask) {
        if (c->seen[h] == 0) {
            c->seen[h] = (uint32_t)idx + 1;
            return -1;
        }
        size_t other = c->seen[h] - 1;
        if (strcmp(entries[other].bot, entries[idx].bot) == 0)
            return (long)other;
    }
}

static bool key_allowed(const char *key, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (strcmp(key, *allowed) == 0)
            return true;
    return false;
}

static bool has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool parse_time(json_t *v, int64_t *us) {
    return json_is_string(v) && rt_time_parse(json_string_value(v), us) == 0;
}

static void time_error(struct ctx *c, long index, const char *where, json_t *v) {
    char s[65];
    if (json_is_string(v)) {
        shown(s, json_string_value(v));
        add_error(c, index, "%s: not an RFC 3339 time: \"%s\"", where, s);
    } else {
        add_error(c, index, "%s: expected an RFC 3339 time string", where);
    }
}

/* Fills *e from bots[i], reporting what is wrong; e->bot stays empty
 * unless the bot id is valid. */
static void parse_entry(struct ctx *c, json_t *o, size_t i, const int64_t *generated_at,
                        struct rt_drift_entry *e) {
    static const char *const keys[] = {"bot", "drift", "tolerance", "ts", "unit", NULL};
    long idx = (long)i;
    char s[65];

    if (!json_is_object(o)) {
        add_error(c, idx, "bots[%zu]: expected an object", i);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!key_allowed(key, keys)) {
            shown(s, key);
            add_error(c, idx, "bots[%zu].%s: unknown key", i, s);
        }
    }

    v = json_object_get(o, "bot");
    if (!v) {
        add_error(c, idx, "bots[%zu].bot: missing", i);
    } else if (!json_is_string(v)) {
        add_error(c, idx, "bots[%zu].bot: expected a string", i);
    } else if (!rt_bot_id_valid(json_string_value(v))) {
        shown(s, json_string_value(v));
        add_error(c, idx, "bots[%zu].bot: invalid bot id \"%s\" (1 to %d characters of "
                  "A-Z a-z 0-9 . _ : -, starting with a letter or digit)", i, s, RT_BOT_ID_MAX);
    } else {
        rt_strlcpy(e->bot, json_string_value(v), sizeof e->bot);
    }

    v = json_object_get(o, "drift");
    if (!v) {
        add_error(c, idx, "bots[%zu].drift: missing (use null for unknown)", i);
    } else if (json_is_number(v)) {
        e->known = true;
        e->drift = json_number_value(v);
    } else if (!json_is_null(v)) {
        add_error(c, idx, "bots[%zu].drift: expected a number or null", i);
    }

    v = json_object_get(o, "tolerance");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0))
            add_error(c, idx, "bots[%zu].tolerance: expected a number >= 0", i);
        else {
            e->has_tolerance = true;
            e->tolerance = json_number_value(v);
        }
    }

    v = json_object_get(o, "ts");
    if (v) {
        if (!parse_time(v, &e->ts_us)) {
            char where[40];
            snprintf(where, sizeof where, "bots[%zu].ts", i);
            time_error(c, idx, where, v);
        }
    } else if (generated_at) {
        e->ts_us = *generated_at;
    }

    v = json_object_get(o, "unit");
    if (v && !json_is_string(v))
        add_error(c, idx, "bots[%zu].unit: expected a string", i);
    else if (v && !rt_strlcpy(e->unit, json_string_value(v), sizeof e->unit))
        add_error(c, idx, "bots[%zu].unit: longer than %d bytes", i, RT_DRIFT_UNIT_MAX);
    else if (v && has_control(e->unit))
        add_error(c, idx, "bots[%zu].unit: contains a control character", i);
}

static int parse_bots(struct ctx *c, json_t *bots, const int64_t *generated_at,
                      struct rt_drift_feed *out) {
    size_t n = json_array_size(bots);
    if (n == 0)
        return 0;
    out->entries = calloc(n, sizeof *out->entries);
    c->seen_cap = 16;
    while (c->seen_cap < 2 * n)
        c->seen_cap *= 2;
    c->seen = calloc(c->seen_cap, sizeof *c->seen);
    if (!out->entries || !c->seen)
        return -ENOMEM;
    out->n_entries = n;
    for (size_t i = 0; i < n; i++) {
        struct rt_drift_entry *e = &out->entries[i];
        parse_entry(c, json_array_get(bots, i), i, generated_at, e);
        if (!e->bot[0])
            continue;
        long first = seen_before(c, out->entries, i);
        if (first >= 0)
            add_error(c, (long)i, "bots[%zu].bot: duplicate of bots[%ld] (\"%s\")", i, first, e->bot);
    }
    return 0;
}

static int parse_root(struct ctx *c, json_t *root, struct rt_drift_feed *out) {
    static const char *const keys[] = {"generated_at", "bots", NULL};
    char s[65];
    if (!json_is_object(root)) {
        add_error(c, NO_INDEX, "expected a JSON object");
        return 0;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!key_allowed(key, keys)) {
            shown(s, key);
            add_error(c, NO_INDEX, "%s: unknown key", s);
        }
    }
    bool have_generated = false;
    v = json_object_get(root, "generated_at");
    if (!v)
        add_error(c, NO_INDEX, "generated_at: missing");
    else if (!parse_time(v, &out->generated_at_us))
        time_error(c, NO_INDEX, "generated_at", v);
    else
        have_generated = true;

    json_t *bots = json_object_get(root, "bots");
    if (!bots) {
        add_error(c, NO_INDEX, "bots: missing");
        return 0;
    }
    if (!json_is_array(bots)) {
        add_error(c, NO_INDEX, "bots: expected an array");
        return 0;
    }
    if (json_array_size(bots) > RT_DRIFT_MAX_BOTS) {
        add_error(c, NO_INDEX, "bots: more than %d entries", RT_DRIFT_MAX_BOTS);
        return 0;
    }
    return parse_bots(c, bots, have_generated ? &out->generated_at_us : NULL, out);
}

int rt_drift_parse(const char *body, size_t len, struct rt_drift_feed *out,
                   struct rt_drift_errors *errs) {
    if (!out || !errs || (!body && len > 0))
        return -EINVAL;
    memset(out, 0, sizeof *out);
    memset(errs, 0, sizeof *errs);
    struct ctx c = {.errs = errs};

    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    int r = 0;
    if (!root)
        add_error(&c, NO_INDEX, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                  jerr.text);
    else
        r = parse_root(&c, root, out);
    json_decref(root);
    free(c.seen);
    finish_errors(&c);
    if (r == 0 && c.total > 0)
        r = -EINVAL;
    if (r < 0)
        rt_drift_feed_clear(out);
    return r;
}

int rt_drift_parse_prom(const char *body, size_t len, const char *bot_label,
                        struct rt_drift_feed *out, struct rt_prom_result *prom) {
    if (!out || !prom)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    struct rt_prom_opts opts = {.bot_label = bot_label, .merge = RT_PROM_MERGE_MAX_ABS};
    int r = rt_prom_parse(body, len, &opts, prom);
    if (r < 0 || prom->n_samples == 0)
        return r;
    out->entries = calloc(prom->n_samples, sizeof *out->entries);
    if (!out->entries)
        return -ENOMEM;
    out->n_entries = prom->n_samples;
    for (size_t i = 0; i < prom->n_samples; i++) {
        const struct rt_prom_sample *s = &prom->samples[i];
        struct rt_drift_entry *e = &out->entries[i];
        rt_strlcpy(e->bot, s->bot, sizeof e->bot);
        e->ts_us = s->ts_us;
        e->known = s->known;
        e->drift = s->known ? s->value : 0;
        if (s->ts_us > out->generated_at_us)
            out->generated_at_us = s->ts_us;
    }
    return 0;
}

void rt_drift_feed_clear(struct rt_drift_feed *f) {
    if (!f)
        return;
    free(f->entries);
    memset(f, 0, sizeof *f);
}
