/* Alertmanager webhook bodies (feeds/alertmanager.h rt_am_webhook_parse),
 * parsed under each configuration of am_configs.h, then applied to a fresh
 * P0 tracker as the watchdog does.
 * Invariants: the return value is one of the documented classes and maps to
 * its HTTP status; 0 means at least one usable alert; counts add up; every
 * kept alert has a valid bot id and fingerprint; the error text is printable
 * ASCII; the tracker accepts every alert the parser kept (never -EINVAL) and
 * each bot's persisted record round-trips. */
#include <errno.h>

#include "fuzz/am_configs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_am_configs_init();
    return 0;
}

static void apply(const struct rt_am_webhook *w) {
    struct rt_p0track *t = rt_p0track_new();
    FZ_CHECK(t != NULL);
    struct rt_p0_counts c;
    int r = rt_p0track_webhook(t, w->list.alerts, w->list.n_alerts, fz_p0_ignore_obs, NULL, &c);
    FZ_CHECK(r == 0 || r == -ENOSPC || r == -ENOMEM);
    FZ_CHECK(c.added + c.removed + c.unchanged + c.refused <= w->list.n_alerts);
    rt_p0track_foreach_bot(t, fz_p0_roundtrip_bot, t);
    rt_p0track_free(t);
}

/* The parse calls again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    for (int i = 0; i < FZ_AM_CONFIGS; i++) {
        struct rt_am_webhook w;
        char err[RT_AM_ERR_MAX];
        rt_am_webhook_parse((const char *)data, size, &fz_am_cfg[i], &w, err, sizeof err);
        rt_am_webhook_free(&w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int i = 0; i < FZ_AM_CONFIGS; i++) {
        struct rt_am_webhook w;
        char err[RT_AM_ERR_MAX];
        int r = rt_am_webhook_parse((const char *)data, size, &fz_am_cfg[i], &w, err, sizeof err);
        FZ_CHECK(r == 0 || r == RT_AM_EBADREQ || r == RT_AM_EUNUSABLE || r == RT_AM_ETOOLARGE || r == -ENOMEM);
        int status = rt_am_http_status(r);
        FZ_CHECK(r != 0 || status == 200);
        FZ_CHECK(r != RT_AM_EBADREQ || status == 400);
        FZ_CHECK(r != RT_AM_EUNUSABLE || status == 422);
        fz_am_check_err(err, sizeof err);
        FZ_CHECK(r < 0 || err[0] == '\0');
        if (r == 0 || r == RT_AM_EUNUSABLE)
            fz_am_check_list(&w.list);
        FZ_CHECK(r != 0 || w.list.n_alerts > 0);
        FZ_CHECK(r != RT_AM_EUNUSABLE || w.list.n_alerts == 0);
        FZ_CHECK(fz_terminated(w.receiver, sizeof w.receiver) && fz_terminated(w.group_key, sizeof w.group_key));
        if (r == 0) {
            FZ_CHECK(w.version == 4 && w.truncated_alerts >= 0);
            apply(&w);
        }
        rt_am_webhook_free(&w);
    }
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
