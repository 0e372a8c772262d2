/* The bot registry (feeds/registry.h rt_registry_parse): a file, an HTTP
 * endpoint, or the enforcer's readiness view.
 * Invariants: 0 or -EINVAL with a message (-ENOMEM aside); an accepted
 * registry is sorted by id without duplicates, holds valid ids and known
 * readiness values, and rt_registry_find() finds every entry. */
#include <errno.h>

#include "feeds/registry.h"
#include "fuzz/fuzz_common.h"

/* The parse call again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_registry reg = {0};
    char err[256];
    rt_registry_parse((const char *)data, size, &reg, err, sizeof err);
    rt_registry_free(&reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct rt_registry reg = {0};
    char err[256];
    err[0] = '\0';
    int r = rt_registry_parse((const char *)data, size, &reg, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    FZ_CHECK(fz_terminated(err, sizeof err));
    FZ_CHECK(r != -EINVAL || err[0]);
    if (r == 0) {
        FZ_CHECK(reg.n <= RT_REGISTRY_MAX_BOTS);
        for (size_t i = 0; i < reg.n; i++) {
            const struct rt_registry_entry *e = &reg.v[i];
            FZ_CHECK(fz_terminated(e->id, sizeof e->id) && rt_bot_id_valid(e->id));
            FZ_CHECK(e->readiness <= RT_READY_OTHER);
            FZ_CHECK(i == 0 || strcmp(reg.v[i - 1].id, e->id) < 0);
            FZ_CHECK(rt_registry_find(&reg, e->id) == e);
        }
        FZ_CHECK(rt_registry_find(&reg, "not a valid id") == NULL);
    }
    rt_registry_free(&reg);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
