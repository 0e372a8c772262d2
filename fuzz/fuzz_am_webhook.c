/* Alertmanager webhook bodies (feeds/alertmanager.h rt_am_webhook_parse),
 * parsed under each configuration of am_configs.h, then applied to a fresh
 * P0 tracker as the watchdog does.
 * Invariants: the return value is one of the documented classes and maps to
 * its HTTP status; 0 means at least one usable alert; counts add up; every
 * kept alert has a valid bot id and fingerprint; the error text is printable
 * ASCII; the tracker accepts every alert the parser kept (never -EINVAL) and
 * each bot's persisted record round-trips. The hand-written scanner and the
 * jansson path (rt_am_webhook_parse_jansson) give the same return value,
 * message and result, every field compared. */
#include <errno.h>
#include <string.h>

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

static void check_same_alert(const struct rt_am_alert *a, const struct rt_am_alert *b) {
    FZ_CHECK(strcmp(a->fingerprint, b->fingerprint) == 0 && strcmp(a->bot, b->bot) == 0);
    FZ_CHECK(strcmp(a->alertname, b->alertname) == 0 && a->firing == b->firing);
    FZ_CHECK(a->starts_at_us == b->starts_at_us && a->has_ends_at == b->has_ends_at && a->ends_at_us == b->ends_at_us);
    FZ_CHECK(a->state == b->state && a->silenced == b->silenced && a->inhibited == b->inhibited);
    FZ_CHECK(a->has_updated_at == b->has_updated_at && a->updated_at_us == b->updated_at_us);
}

/* The jansson path's answer for the same input: the same in every field. */
static void check_same_as_jansson(const uint8_t *data, size_t size, const struct rt_am_config *cfg, int r,
                                  const struct rt_am_webhook *w, const char *err) {
    struct rt_am_webhook ref;
    char ref_err[RT_AM_ERR_MAX];
    int rr = rt_am_webhook_parse_jansson((const char *)data, size, cfg, &ref, ref_err, sizeof ref_err);
    FZ_CHECK(r == rr && strcmp(err, ref_err) == 0);
    FZ_CHECK(strcmp(w->receiver, ref.receiver) == 0 && strcmp(w->group_key, ref.group_key) == 0);
    FZ_CHECK(w->firing == ref.firing && w->version == ref.version && w->truncated_alerts == ref.truncated_alerts);
    const struct rt_am_alert_list *a = &w->list, *b = &ref.list;
    FZ_CHECK(a->n_alerts == b->n_alerts && a->n_received == b->n_received && a->n_ignored == b->n_ignored);
    for (int k = 0; k < RT_AM_IGN_COUNT; k++)
        FZ_CHECK(a->ignored[k] == b->ignored[k]);
    for (size_t k = 0; k < a->n_alerts; k++)
        check_same_alert(&a->alerts[k], &b->alerts[k]);
    rt_am_webhook_free(&ref);
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
        if (r != -ENOMEM)
            check_same_as_jansson(data, size, &fz_am_cfg[i], r, &w, err);
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
