/* Alertmanager `GET /api/v2/alerts` responses (rt_am_alerts_parse), parsed
 * under each configuration of am_configs.h, then applied to a P0 tracker as
 * a reconciliation poll.
 * Invariants: 0, RT_AM_EBADREQ, RT_AM_ETOOLARGE or -ENOMEM only (never
 * "unusable": an empty list is an answer); counts add up; kept alerts are
 * valid and listed as active (firing, with an API state); the tracker
 * accepts the poll (never -EINVAL), and each bot's record round-trips.
 * The same bytes also go through rt_am_status_parse (`GET /api/v2/status`,
 * polled alongside): documented results only, no start time on failure. */
#include <errno.h>

#include "fuzz/am_configs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_am_configs_init();
    return 0;
}

static void poll(const struct rt_am_alert_list *l) {
    static const char *const bots[] = {"alpha", "beta"};
    struct rt_p0track *t = rt_p0track_new();
    FZ_CHECK(t != NULL);
    int64_t now = INT64_C(1795000000000000);
    struct rt_p0_counts c;
    int r = rt_p0track_poll(t, l->alerts, l->n_alerts, now, bots, 2, fz_p0_ignore_obs, NULL, &c);
    FZ_CHECK(r == 0 || r == -ENOSPC || r == -ENOMEM);
    rt_p0track_foreach_bot(t, fz_p0_roundtrip_bot, t);
    /* a second, empty poll clears every bot */
    r = rt_p0track_poll(t, NULL, 0, now + 1, NULL, 0, fz_p0_ignore_obs, NULL, &c);
    FZ_CHECK(r == 0);
    FZ_CHECK(rt_p0track_alert_count(t) == 0);
    rt_p0track_free(t);
}

static void status(const uint8_t *data, size_t size) {
    int64_t started = -1;
    char err[RT_AM_ERR_MAX];
    int r = rt_am_status_parse((const char *)data, size, &started, err, sizeof err);
    FZ_CHECK(r == 0 || r == RT_AM_EBADREQ || r == RT_AM_ETOOLARGE || r == -ENOMEM);
    fz_am_check_err(err, sizeof err);
    FZ_CHECK(r == 0 || started == 0);
}

/* The parse calls again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    int64_t started;
    char err[RT_AM_ERR_MAX];
    rt_am_status_parse((const char *)data, size, &started, err, sizeof err);
    for (int i = 0; i < FZ_AM_CONFIGS; i++) {
        struct rt_am_alert_list l;
        rt_am_alerts_parse((const char *)data, size, &fz_am_cfg[i], &l, err, sizeof err);
        rt_am_alert_list_free(&l);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    status(data, size);
    for (int i = 0; i < FZ_AM_CONFIGS; i++) {
        struct rt_am_alert_list l;
        char err[RT_AM_ERR_MAX];
        int r = rt_am_alerts_parse((const char *)data, size, &fz_am_cfg[i], &l, err, sizeof err);
        FZ_CHECK(r == 0 || r == RT_AM_EBADREQ || r == RT_AM_ETOOLARGE || r == -ENOMEM);
        fz_am_check_err(err, sizeof err);
        if (r == 0) {
            fz_am_check_list(&l);
            for (size_t k = 0; k < l.n_alerts; k++)
                FZ_CHECK(l.alerts[k].firing && l.alerts[k].state != RT_AM_STATE_NONE);
            poll(&l);
        }
        rt_am_alert_list_free(&l);
    }
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
