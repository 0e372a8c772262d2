/* The bot registry: which bots exist and their readiness, from a file, an
 * HTTP endpoint, or the enforcer's readiness view (all the same format):
 *   {"version": 1, "bots": [{"id": "alpha", "readiness": "general_live",
 *                            "since": "2026-11-01T00:00:00Z"}]}
 * "since" (optional) is when the bot entered that readiness; a promotion
 * back to General live only takes effect if it is newer than ratchet's own
 * demotion (see docs/configuration.md). Pure. */
#ifndef RATCHET_REGISTRY_H
#define RATCHET_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/engine.h"

#define RT_REGISTRY_MAX_BOTS 100000

struct rt_registry_entry {
    char id[RT_BOT_ID_MAX + 1];
    enum rt_readiness readiness;
    bool has_since;
    int64_t since_us;
};

struct rt_registry {
    struct rt_registry_entry *v; /* sorted by id */
    size_t n;
};

/* -EINVAL with err naming the entry ("bots[3].readiness: ...") */
int rt_registry_parse(const char *text, size_t len, struct rt_registry *out, char *err, size_t errlen);
const struct rt_registry_entry *rt_registry_find(const struct rt_registry *r, const char *id);
void rt_registry_free(struct rt_registry *r);

#endif
