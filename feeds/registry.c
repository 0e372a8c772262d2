#include "feeds/registry.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jscan.h"
#include "common/rtime.h"
#include "common/util.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* The messages, shared by both parsers. */
#define MSG_DOCUMENT "expected {\"version\": 1, \"bots\": [...]} and nothing else"
#define MSG_TOO_MANY "more than %d bots"
#define MSG_NOT_OBJECT "bots[%zu]: expected an object"
#define MSG_UNKNOWN_KEY "bots[%zu].%.*s: unknown key (allowed: id, readiness, since)"
#define MSG_ID "bots[%zu].id: missing or not a valid bot id"
#define MSG_READINESS "bots[%zu].readiness: expected general_live, limited_live or other"
#define MSG_SINCE "bots[%zu].since: not an RFC 3339 time"

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const struct rt_registry_entry *)a)->id, ((const struct rt_registry_entry *)b)->id);
}

static int cmp_key(const void *key, const void *e) {
    return strcmp(key, ((const struct rt_registry_entry *)e)->id);
}

/* Sorts r by id and refuses a bot listed twice (r is freed then). */
static int sort_entries(struct rt_registry *r, char *err, size_t errlen) {
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), cmp_entry);
    for (size_t i = 1; i < r->n; i++)
        if (strcmp(r->v[i - 1].id, r->v[i].id) == 0) {
            int ret = fail(err, errlen, "bot \"%s\" is listed twice", r->v[i].id);
            rt_registry_free(r);
            return ret;
        }
    return 0;
}

/* ---- the reference: a jansson DOM ---- */

/* e->id points into the DOM until own_ids(). */
static int parse_entry(json_t *it, size_t i, struct rt_registry_entry *e, char *err, size_t errlen) {
    const char *k;
    json_t *v;
    if (!json_is_object(it))
        return fail(err, errlen, MSG_NOT_OBJECT, i);
    json_object_foreach(it, k, v) if (strcmp(k, "id") && strcmp(k, "readiness") && strcmp(k, "since"))
        return fail(err, errlen, MSG_UNKNOWN_KEY, i, (int)strlen(k), k);
    const char *id = json_string_value(json_object_get(it, "id"));
    const char *rd = json_string_value(json_object_get(it, "readiness"));
    json_t *since = json_object_get(it, "since");
    if (!id || !rt_bot_id_valid(id))
        return fail(err, errlen, MSG_ID, i);
    if (!rd || rt_readiness_from_name(rd, &e->readiness) < 0)
        return fail(err, errlen, MSG_READINESS, i);
    e->id = id;
    if (since) {
        if (!json_is_string(since) || rt_time_parse(json_string_value(since), &e->since_us) < 0)
            return fail(err, errlen, MSG_SINCE, i);
        e->has_since = true;
    }
    return 0;
}

/* Copies the ids out of the DOM into the registry's own block. */
static int own_ids(struct rt_registry *r) {
    size_t bytes = 1;
    for (size_t i = 0; i < r->n; i++)
        bytes += strlen(r->v[i].id) + 1;
    r->ids = malloc(bytes);
    if (!r->ids)
        return -ENOMEM;
    char *at = r->ids;
    for (size_t i = 0; i < r->n; i++) {
        size_t k = strlen(r->v[i].id) + 1;
        memcpy(at, r->v[i].id, k);
        r->v[i].id = at;
        at += k;
    }
    return 0;
}

int rt_registry_parse_dom(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_auto_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    json_t *bots = json_object_get(root, "bots");
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
        !json_is_integer(json_object_get(root, "version")) || !json_is_array(bots) || json_object_size(root) != 2)
        return fail(err, errlen, MSG_DOCUMENT);
    size_t n = json_array_size(bots);
    if (n > RT_REGISTRY_MAX_BOTS)
        return fail(err, errlen, MSG_TOO_MANY, RT_REGISTRY_MAX_BOTS);
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v)
        return -ENOMEM;
    size_t i;
    json_t *it;
    json_array_foreach(bots, i, it) {
        int r = parse_entry(it, i, &out->v[i], err, errlen);
        if (r < 0) {
            rt_registry_free(out);
            return r;
        }
    }
    out->n = n;
    int r = own_ids(out);
    if (r < 0) {
        rt_registry_free(out);
        return r;
    }
    return sort_entries(out, err, errlen);
}

/* ---- the streaming scanner ----
 * It reads the plain form of the format: strings of bytes 0x20 to 0x7F
 * without escapes (jansson decodes them to the same bytes), integers of at
 * most 18 digits, true, false, null, and objects
 * and arrays only where the format has them, with at most MAX_KEYS keys per
 * object. Every scan_* function returns false for anything else, valid JSON
 * or not, and the document then goes to the reference. Each check that the
 * reference makes on the DOM is made here on the same values, and the first
 * error is reported the same way: syntax (here: "not plain") first, then the
 * document's shape, the number of bots, the first bad entry, a duplicate. */

#define MAX_KEYS 8

enum scalar_kind { SC_STRING, SC_INT, SC_LITERAL };

struct scalar {
    enum scalar_kind kind;
    struct rt_jscan_text str;
    long long num;
};

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A fraction or an exponent after it is left for the caller's delimiter
 * check to refuse, as is a leading zero. */
static bool scan_int(struct rt_jscan *c, long long *out) {
    const char *p = c->p;
    bool neg = p < c->end && *p == '-';
    p += neg;
    if (p == c->end || !is_digit(*p))
        return false;
    long long v = 0;
    int digits = 0;
    if (*p == '0') {
        p++;
    } else {
        for (; p < c->end && is_digit(*p); p++) {
            if (++digits > 18)
                return false;
            v = v * 10 + (*p - '0');
        }
    }
    c->p = p;
    *out = neg ? -v : v;
    return true;
}

static bool scan_literal(struct rt_jscan *c) {
    static const char *const names[] = {"true", "false", "null"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        size_t k = strlen(names[i]);
        if ((size_t)(c->end - c->p) >= k && memcmp(c->p, names[i], k) == 0) {
            c->p += k;
            return true;
        }
    }
    return false;
}

/* A string, an integer or a literal; false for an object or an array. */
static bool scan_scalar(struct rt_jscan *c, struct scalar *out) {
    rt_jscan_ws(c);
    if (c->p == c->end)
        return false;
    if (*c->p == '"') {
        out->kind = SC_STRING;
        return rt_jscan_plain_string(c, &out->str);
    }
    if (*c->p == '-' || is_digit(*c->p)) {
        out->kind = SC_INT;
        return scan_int(c, &out->num);
    }
    out->kind = SC_LITERAL;
    return scan_literal(c);
}

/* At most MAX_KEYS keys, none twice (the reference's JSON_REJECT_DUPLICATES
 * has its own message). */
static bool scan_object(struct rt_jscan *c, rt_jscan_member_fn member, void *ud) {
    struct rt_jscan_text keys[MAX_KEYS];
    struct rt_jscan_keys seen = {keys, 0, MAX_KEYS};
    return rt_jscan_object(c, &seen, member, ud);
}

enum entry_error { EE_NONE, EE_NOT_OBJECT, EE_UNKNOWN_KEY, EE_ID, EE_READINESS, EE_SINCE };

/* One pass over the document. The first pass (out NULL) checks and counts;
 * the second, only for a valid document, fills out, sized by the first. */
struct plain {
    struct rt_jscan c;
    size_t top_keys;
    bool version_one, bots_array;
    size_t n;        /* entries */
    size_t id_bytes; /* of the valid entries' ids, NULs included */
    enum entry_error error;
    size_t error_index;
    struct rt_jscan_text error_key;
    struct rt_registry *out;
    size_t cap, id_bytes_cap;
    char *ids_at;
};

struct entry_fields {
    struct scalar id, readiness, since;
    bool has_id, has_readiness, has_since, has_unknown;
    struct rt_jscan_text unknown; /* the first unknown key */
};

static bool entry_member(struct rt_jscan *c, struct rt_jscan_text key, void *ud) {
    struct entry_fields *f = ud;
    struct scalar v = {0};
    if (!scan_scalar(c, &v))
        return false;
    if (rt_jscan_text_is(key, "id")) {
        f->id = v;
        f->has_id = true;
    } else if (rt_jscan_text_is(key, "readiness")) {
        f->readiness = v;
        f->has_readiness = true;
    } else if (rt_jscan_text_is(key, "since")) {
        f->since = v;
        f->has_since = true;
    } else if (!f->has_unknown) {
        f->unknown = key;
        f->has_unknown = true;
    }
    return true;
}

/* A string field as a C string; false if absent, not a string, or too long
 * for cap (and so for any valid value). */
static bool field_string(const struct scalar *v, bool present, char *buf, size_t cap) {
    if (!present || v->kind != SC_STRING || v->str.n >= cap)
        return false;
    memcpy(buf, v->str.s, v->str.n);
    buf[v->str.n] = '\0';
    return true;
}

/* The reference's checks of one entry, in its order. */
static enum entry_error check_entry(const struct entry_fields *f, struct rt_registry_entry *e, char *id) {
    char rd[32], since[64]; /* longer values are invalid: RFC 3339 takes at most 35 */
    if (f->has_unknown)
        return EE_UNKNOWN_KEY;
    if (!field_string(&f->id, f->has_id, id, RT_BOT_ID_MAX + 1) || !rt_bot_id_valid(id))
        return EE_ID;
    if (!field_string(&f->readiness, f->has_readiness, rd, sizeof(rd)) ||
        rt_readiness_from_name(rd, &e->readiness) < 0)
        return EE_READINESS;
    if (f->has_since) {
        if (!field_string(&f->since, true, since, sizeof(since)) || rt_time_parse(since, &e->since_us) < 0)
            return EE_SINCE;
        e->has_since = true;
    }
    return EE_NONE;
}

static void note_error(struct plain *pl, enum entry_error ee, size_t i, struct rt_jscan_text key) {
    if (pl->error != EE_NONE)
        return;
    pl->error = ee;
    pl->error_index = i;
    pl->error_key = key;
}

static bool add_entry(struct plain *pl, size_t i, struct rt_registry_entry *e, const char *id) {
    size_t k = strlen(id) + 1;
    pl->id_bytes += k;
    if (!pl->out)
        return true;
    if (i >= pl->cap || (size_t)(pl->ids_at - pl->out->ids) + k > pl->id_bytes_cap)
        return false;
    memcpy(pl->ids_at, id, k);
    e->id = pl->ids_at;
    pl->ids_at += k;
    pl->out->v[i] = *e;
    return true;
}

static bool bots_element(struct rt_jscan *c, size_t i, void *ud) {
    struct plain *pl = ud;
    pl->n++;
    if (!rt_jscan_peek(c, '{')) {
        struct scalar v = {0};
        if (!scan_scalar(c, &v))
            return false;
        note_error(pl, EE_NOT_OBJECT, i, (struct rt_jscan_text){0});
        return true;
    }
    struct entry_fields f = {0};
    if (!scan_object(c, entry_member, &f))
        return false;
    struct rt_registry_entry e = {0};
    char id[RT_BOT_ID_MAX + 1];
    enum entry_error ee = check_entry(&f, &e, id);
    if (ee != EE_NONE) {
        note_error(pl, ee, i, f.unknown);
        return true;
    }
    return add_entry(pl, i, &e, id);
}

static bool top_member(struct rt_jscan *c, struct rt_jscan_text key, void *ud) {
    struct plain *pl = ud;
    pl->top_keys++;
    if (rt_jscan_text_is(key, "bots") && rt_jscan_peek(c, '[')) {
        pl->bots_array = true;
        return rt_jscan_array(c, bots_element, pl);
    }
    struct scalar v = {0};
    if (!scan_scalar(c, &v))
        return false;
    if (rt_jscan_text_is(key, "version"))
        pl->version_one = v.kind == SC_INT && v.num == 1;
    return true;
}

static bool scan_document(struct plain *pl) {
    if (!scan_object(&pl->c, top_member, pl))
        return false;
    rt_jscan_ws(&pl->c);
    return pl->c.p == pl->c.end;
}

static int entry_fail(const struct plain *pl, char *err, size_t errlen) {
    size_t i = pl->error_index;
    switch (pl->error) {
    case EE_NOT_OBJECT: return fail(err, errlen, MSG_NOT_OBJECT, i);
    case EE_UNKNOWN_KEY: return fail(err, errlen, MSG_UNKNOWN_KEY, i, (int)pl->error_key.n, pl->error_key.s);
    case EE_ID: return fail(err, errlen, MSG_ID, i);
    case EE_READINESS: return fail(err, errlen, MSG_READINESS, i);
    case EE_SINCE:
    default: return fail(err, errlen, MSG_SINCE, i);
    }
}

int rt_registry_parse_plain(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    struct plain pl = {.c = {text, text + len}};
    if (!scan_document(&pl))
        return -EOPNOTSUPP;
    if (!pl.version_one || !pl.bots_array || pl.top_keys != 2)
        return fail(err, errlen, MSG_DOCUMENT);
    if (pl.n > RT_REGISTRY_MAX_BOTS)
        return fail(err, errlen, MSG_TOO_MANY, RT_REGISTRY_MAX_BOTS);
    if (pl.error != EE_NONE)
        return entry_fail(&pl, err, errlen);
    if (pl.n == 0)
        return 0;
    out->v = malloc(pl.n * sizeof(*out->v));
    out->ids = malloc(pl.id_bytes);
    if (!out->v || !out->ids) {
        rt_registry_free(out);
        return -ENOMEM;
    }
    struct plain fill = {.c = {text, text + len}, .out = out, .cap = pl.n, .ids_at = out->ids,
                         .id_bytes_cap = pl.id_bytes};
    if (!scan_document(&fill) || fill.n != pl.n || fill.error != EE_NONE) { /* the same input: cannot happen */
        rt_registry_free(out);
        return -EOPNOTSUPP;
    }
    out->n = pl.n;
    return sort_entries(out, err, errlen);
}

int rt_registry_parse(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen) {
    int r = rt_registry_parse_plain(text, len, out, err, errlen);
    return r == -EOPNOTSUPP ? rt_registry_parse_dom(text, len, out, err, errlen) : r;
}

const struct rt_registry_entry *rt_registry_find(const struct rt_registry *r, const char *id) {
    return r->n ? bsearch(id, r->v, r->n, sizeof(*r->v), cmp_key) : NULL;
}

void rt_registry_free(struct rt_registry *r) {
    free(r->v);
    free(r->ids);
    memset(r, 0, sizeof(*r));
}
