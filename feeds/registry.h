/* The bot registry: which bots exist and their readiness, from a file, an
 * HTTP endpoint, or the enforcer's readiness view (all the same format):
 *   {"version": 1, "bots": [{"id": "alpha", "readiness": "general_live",
 *                            "since": "2026-11-01T00:00:00Z"}]}
 * "since" (optional) is when the bot entered that readiness; a promotion
 * back to General live only takes effect if it is newer than ratchet's own
 * demotion (see docs/configuration.md). Pure.
 *
 * A registry of 100,000 bots is a 5 MB document, which jansson would load as
 * a DOM of about 60 MB: rt_registry_parse() reads the usual form of the
 * document (ASCII strings without escapes, integers, no nesting beyond the
 * format's own) with a streaming scanner that allocates only the result, and
 * hands anything else to rt_registry_parse_dom(), the jansson reference, so
 * that every input gets the reference's answer and error message. */
#ifndef RATCHET_REGISTRY_H
#define RATCHET_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/engine.h"

#define RT_REGISTRY_MAX_BOTS 100000

/* 24 bytes: the ids are kept together in the registry's own block. */
struct rt_registry_entry {
    const char *id; /* in rt_registry.ids */
    int64_t since_us; /* 0 without has_since */
    enum rt_readiness readiness;
    bool has_since;
};

struct rt_registry {
    struct rt_registry_entry *v; /* sorted by id */
    size_t n;
    char *ids; /* every id, NUL-terminated, one after the other */
};

/* -EINVAL with err naming the entry ("bots[3].readiness: ..."), -ENOMEM.
 * On failure *out is empty. */
int rt_registry_parse(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen);
/* The same, from a jansson DOM of the whole document. */
int rt_registry_parse_dom(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen);
/* The streaming scanner alone: rt_registry_parse_dom()'s result, or
 * -EOPNOTSUPP (nothing in *out or err) for input outside the form it reads,
 * which includes every document that is not JSON. For tests. */
int rt_registry_parse_plain(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen);
const struct rt_registry_entry *rt_registry_find(const struct rt_registry *r, const char *id);
void rt_registry_free(struct rt_registry *r);

#endif
