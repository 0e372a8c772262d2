/* The bot registry (feeds/registry.h rt_registry_parse): a file, an HTTP
 * endpoint, or the enforcer's readiness view.
 * Invariants: 0 or -EINVAL with a message (-ENOMEM aside); an accepted
 * registry is sorted by id without duplicates, holds valid ids and known
 * readiness values, and rt_registry_find() finds every entry. The streaming
 * scanner (rt_registry_parse_plain) either declines or gives exactly the
 * jansson reference's answer: the same return, message and entries. */
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

static bool same_registry(const struct rt_registry *a, const struct rt_registry *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].id, b->v[i].id) || a->v[i].readiness != b->v[i].readiness ||
            a->v[i].has_since != b->v[i].has_since || a->v[i].since_us != b->v[i].since_us)
            return false;
    return true;
}

/* The scanner against the reference; a short error buffer now and then, so
 * that truncation is compared too. */
static void differential(const uint8_t *data, size_t size) {
    struct rt_registry p = {0}, d = {0};
    char perr[256] = "", derr[256] = "";
    size_t errlen = size && data[size - 1] == '\n' ? 17 : sizeof perr;
    int rp = rt_registry_parse_plain((const char *)data, size, &p, perr, errlen);
    if (rp != -EOPNOTSUPP) {
        int rd = rt_registry_parse_dom((const char *)data, size, &d, derr, errlen);
        FZ_CHECK(rp == rd || rp == -ENOMEM || rd == -ENOMEM);
        if (rp == rd) {
            FZ_CHECK(strcmp(perr, derr) == 0);
            FZ_CHECK(same_registry(&p, &d));
        }
    } else {
        FZ_CHECK(p.n == 0 && p.v == NULL && perr[0] == '\0');
    }
    rt_registry_free(&p);
    rt_registry_free(&d);
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
            FZ_CHECK(strnlen(e->id, RT_BOT_ID_MAX + 1) <= RT_BOT_ID_MAX && rt_bot_id_valid(e->id));
            FZ_CHECK(e->readiness <= RT_READY_OTHER);
            FZ_CHECK(i == 0 || strcmp(reg.v[i - 1].id, e->id) < 0);
            FZ_CHECK(rt_registry_find(&reg, e->id) == e);
        }
        FZ_CHECK(rt_registry_find(&reg, "not a valid id") == NULL);
    }
    rt_registry_free(&reg);
    differential(data, size);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
