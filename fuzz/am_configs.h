/* Alertmanager configurations the AM harnesses parse every input with: the
 * default P0 rule, a regex and negative rule on another bot label, and no
 * P0 matchers at all (every alert is P0). Built once, read-only after. */
#ifndef RATCHET_FUZZ_AM_CONFIGS_H
#define RATCHET_FUZZ_AM_CONFIGS_H

#include "feeds/alertmanager.h"
#include "feeds/p0track.h"
#include "fuzz/fuzz_common.h"

#define FZ_AM_CONFIGS 3

static struct rt_am_matchers fz_am_matchers[FZ_AM_CONFIGS];
static struct rt_am_config fz_am_cfg[FZ_AM_CONFIGS];

static inline void fz_am_configs_init(void) {
    static const char *const text[FZ_AM_CONFIGS] = {
        "severity=\"P0\"",
        "{severity=~\"P0|crit.*\", team!=\"test\", env!~\"dev|staging\"}",
        NULL, /* no P0 matchers: every alert is P0 */
    };
    static const char *const label[FZ_AM_CONFIGS] = {"bot", "instance", "bot"};
    char err[RT_AM_ERR_MAX];
    for (int i = 0; i < FZ_AM_CONFIGS; i++) {
        if (!text[i]) {
            fz_am_cfg[i] = (struct rt_am_config){.p0 = NULL, .bot_label = label[i]};
            continue;
        }
        if (rt_am_matchers_parse(text[i], &fz_am_matchers[i], err, sizeof err) < 0) {
            fprintf(stderr, "matchers %d: %s\n", i, err);
            abort();
        }
        fz_am_cfg[i] = (struct rt_am_config){.p0 = &fz_am_matchers[i], .bot_label = label[i]};
    }
}

/* What every parsed list promises: only usable alerts, consistent counts. */
static inline void fz_am_check_list(const struct rt_am_alert_list *l) {
    size_t sum = 0;
    for (int k = 0; k < RT_AM_IGN_COUNT; k++)
        sum += l->ignored[k];
    FZ_CHECK(sum == l->n_ignored);
    FZ_CHECK(l->n_alerts + l->n_ignored == l->n_received);
    FZ_CHECK(l->n_alerts == 0 || l->alerts != NULL);
    for (size_t i = 0; i < l->n_alerts; i++) {
        const struct rt_am_alert *a = &l->alerts[i];
        FZ_CHECK(fz_terminated(a->fingerprint, sizeof a->fingerprint) && rt_am_fingerprint_valid(a->fingerprint));
        FZ_CHECK(fz_terminated(a->bot, sizeof a->bot) && rt_bot_id_valid(a->bot));
        FZ_CHECK(fz_terminated(a->alertname, sizeof a->alertname));
    }
}

/* The error message is printable ASCII (it goes into JSON error bodies). */
static inline void fz_am_check_err(const char *err, size_t cap) {
    FZ_CHECK(fz_terminated(err, cap));
    for (const char *p = err; *p; p++)
        FZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

/* Every bot's tracker record survives encode -> decode -> encode unchanged. */
static inline void fz_p0_roundtrip_bot(const char *bot, void *ud) {
    const struct rt_p0track *t = ud;
    static uint8_t a[RT_P0_RECORD_MAX], b[RT_P0_RECORD_MAX];
    int n = rt_p0track_encode_bot(t, bot, a, sizeof a);
    FZ_CHECK(n > 0);
    struct rt_p0track *t2 = rt_p0track_new();
    FZ_CHECK(t2 != NULL);
    FZ_CHECK(rt_p0track_decode_bot(t2, bot, a, (size_t)n) == 0);
    int m = rt_p0track_encode_bot(t2, bot, b, sizeof b);
    FZ_CHECK(m == n && memcmp(a, b, (size_t)n) == 0);
    rt_p0track_free(t2);
}

static inline void fz_p0_ignore_obs(const struct rt_obs *obs, void *ud) {
    (void)ud;
    FZ_CHECK(obs->cond == RT_COND_P0_ALERT && rt_bot_id_valid(obs->bot));
}

#endif
