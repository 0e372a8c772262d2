#include "feeds/registry.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const struct rt_registry_entry *)a)->id, ((const struct rt_registry_entry *)b)->id);
}

static int parse_entry(json_t *it, size_t i, struct rt_registry_entry *e, char *err, size_t errlen) {
    const char *k;
    json_t *v;
    if (!json_is_object(it))
        return fail(err, errlen, "bots[%zu]: expected an object", i);
    json_object_foreach(it, k, v) if (strcmp(k, "id") && strcmp(k, "readiness") && strcmp(k, "since"))
        return fail(err, errlen, "bots[%zu].%s: unknown key (allowed: id, readiness, since)", i, k);
    const char *id = json_string_value(json_object_get(it, "id"));
    const char *rd = json_string_value(json_object_get(it, "readiness"));
    json_t *since = json_object_get(it, "since");
    if (!id || !rt_bot_id_valid(id))
        return fail(err, errlen, "bots[%zu].id: missing or not a valid bot id", i);
    if (!rd || rt_readiness_from_name(rd, &e->readiness) < 0)
        return fail(err, errlen, "bots[%zu].readiness: expected general_live, limited_live or other", i);
    rt_strlcpy(e->id, id, sizeof(e->id));
    if (since) {
        if (!json_is_string(since) || rt_time_parse(json_string_value(since), &e->since_us) < 0)
            return fail(err, errlen, "bots[%zu].since: not an RFC 3339 time", i);
        e->has_since = true;
    }
    return 0;
}

int rt_registry_parse(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_auto_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    json_t *bots = json_object_get(root, "bots");
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
        !json_is_integer(json_object_get(root, "version")) || !json_is_array(bots) || json_object_size(root) != 2)
        return fail(err, errlen, "expected {\"version\": 1, \"bots\": [...]} and nothing else");
    size_t n = json_array_size(bots);
    if (n > RT_REGISTRY_MAX_BOTS)
        return fail(err, errlen, "more than %d bots", RT_REGISTRY_MAX_BOTS);
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
    qsort(out->v, n, sizeof(*out->v), cmp_entry);
    for (i = 1; i < n; i++)
        if (strcmp(out->v[i - 1].id, out->v[i].id) == 0) {
            int r = fail(err, errlen, "bot \"%s\" is listed twice", out->v[i].id);
            rt_registry_free(out);
            return r;
        }
    return 0;
}

const struct rt_registry_entry *rt_registry_find(const struct rt_registry *r, const char *id) {
    struct rt_registry_entry key;
    if (!rt_strlcpy(key.id, id, sizeof(key.id)))
        return NULL;
    return r->n ? bsearch(&key, r->v, r->n, sizeof(*r->v), cmp_entry) : NULL;
}

void rt_registry_free(struct rt_registry *r) {
    free(r->v);
    memset(r, 0, sizeof(*r));
}
