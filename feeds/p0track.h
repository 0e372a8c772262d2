/* The set of active P0 alerts per bot, keyed by fingerprint, and the
 * p0_alert observations it implies. Webhook deliveries and polls of
 * Alertmanager's /api/v2/alerts go in (as parsed by feeds/alertmanager.h);
 * engine observations (RT_COND_P0_ALERT, value 1 active / 0 not) come out
 * through a callback. Pure: no I/O, no clock; the caller passes the poll time.
 * The rules are in docs/alertmanager.md ("The tracker").
 *
 * In short: a bot is active while it has at least one tracked firing P0
 * alert (silenced and inhibited ones included), or while alerts had to be
 * refused for lack of room (overflow, cleared by the next poll that fits).
 * Observations that change the bot's state are always emitted, stamped no
 * earlier than the bot's previous observation (+1 us if they would be), so
 * the engine never drops a transition as late; re-assertions older than the
 * previous observation are skipped. Not thread-safe. */
#ifndef RATCHET_P0TRACK_H
#define RATCHET_P0TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeds/alertmanager.h"
#include "policy/engine.h"

#define RT_P0_MAX_ALERTS 100000      /* tracked fingerprints, all bots together */
#define RT_P0_MAX_ALERTS_PER_BOT 256 /* so that one bot's record fits a journal value */
#define RT_P0_MAX_BOTS RT_POLICY_MAX_BOTS
#define RT_P0_RECORD_MAX 65536       /* encoded bot record, worst case (<= RT_JOURNAL_VALUE_MAX) */

typedef void (*rt_p0_obs_fn)(const struct rt_obs *obs, void *userdata);
/* Called once per operation for every bot whose persisted record changed
 * (fingerprints added or removed, silenced/inhibited flags, overflow). */
typedef void (*rt_p0_change_fn)(const char *bot, void *userdata);

struct rt_p0track;

/* What one webhook or poll did. */
struct rt_p0_counts {
    size_t added;     /* fingerprints newly tracked */
    size_t removed;   /* fingerprints dropped (resolved, or absent from a poll) */
    size_t unchanged; /* repeated firing deliveries, alerts already known to a poll */
    size_t refused;   /* not tracked: RT_P0_MAX_ALERTS / _PER_BOT / _BOTS reached */
    size_t emitted;   /* observations emitted */
};

struct rt_p0track *rt_p0track_new(void);
void rt_p0track_free(struct rt_p0track *t);
void rt_p0track_set_change_hook(struct rt_p0track *t, rt_p0_change_fn fn, void *userdata);

/* Apply a webhook delivery's usable alerts (rt_am_webhook.list). Every alert
 * is validated first (bot id, fingerprint): -EINVAL applies nothing.
 * Returns 0, -ENOSPC (some alerts refused; the rest applied; a refused
 * firing alert still makes its bot active, unless the bot table itself is
 * full) or -ENOMEM. counts may be NULL. fn must not call into the tracker. */
int rt_p0track_webhook(struct rt_p0track *t, const struct rt_am_alert *alerts, size_t n, rt_p0_obs_fn fn,
                       void *userdata, struct rt_p0_counts *counts);

/* A poll in three steps, so that webhooks handled while the request is in
 * flight are not undone by an older snapshot: call poll_begin() just before
 * sending the request, then poll_end() with the parsed response, or
 * poll_abort() if the request failed (a failed poll emits nothing: the
 * evidence goes stale). A new poll_begin() supersedes an unfinished poll. */
uint64_t rt_p0track_poll_begin(struct rt_p0track *t);
/* The listed alerts are the complete set of active P0 alerts at now_us (the
 * time the request was sent). `bots` (may be NULL) lists further bot ids
 * (e.g. every bot the engine knows): each one not tracked here gets
 * obs(false, now_us). Returns 0, -ESTALE (token superseded or already
 * used: nothing applied), -EINVAL (invalid alert, nothing applied),
 * -ENOSPC (some refused; applied) or -ENOMEM. */
int rt_p0track_poll_end(struct rt_p0track *t, uint64_t token, const struct rt_am_alert *alerts, size_t n,
                        int64_t now_us, const char *const *bots, size_t n_bots, rt_p0_obs_fn fn, void *userdata,
                        struct rt_p0_counts *counts);
void rt_p0track_poll_abort(struct rt_p0track *t, uint64_t token);
/* Marks the in-flight poll's answer as possibly incomplete: Alertmanager
 * started recently and keeps alerts in memory only, so its clients may not
 * have re-sent every active alert yet. `since` is the token of the first
 * poll of this Alertmanager instance (<= token). poll_end() then keeps each
 * tracked alert that the answer does not list and that no poll since
 * `since` has listed (only an earlier instance, a webhook, or the watchdog
 * before its own restart told of it: a restart is not a resolve), and emits
 * nothing for a bot that only such alerts keep active: its evidence goes
 * stale, which the engine holds. Everything else (alerts this instance
 * listed before and no longer lists, listed alerts, webhook deliveries)
 * applies as usual. No effect unless token is the poll in flight. */
void rt_p0track_poll_partial(struct rt_p0track *t, uint64_t token, uint64_t since);
/* poll_begin() + poll_end(), for callers with nothing in flight (replay, tests). */
int rt_p0track_poll(struct rt_p0track *t, const struct rt_am_alert *alerts, size_t n, int64_t now_us,
                    const char *const *bots, size_t n_bots, rt_p0_obs_fn fn, void *userdata,
                    struct rt_p0_counts *counts);

/* ---- status ---- */
struct rt_p0_bot_status {
    bool active;             /* n_active > 0 || overflow */
    size_t n_active;         /* tracked firing P0 alerts */
    size_t n_silenced;       /* of those, silenced (as of the last poll) */
    size_t n_inhibited;      /* of those, inhibited (as of the last poll) */
    bool overflow;           /* alerts were refused for lack of room */
    int64_t first_start_us;  /* earliest startsAt of the tracked alerts; 0 if none */
    bool has_last_obs;
    int64_t last_obs_us;     /* time of the last observation emitted (not persisted) */
};
int rt_p0track_bot_status(const struct rt_p0track *t, const char *bot, struct rt_p0_bot_status *out); /* -ENOENT */
size_t rt_p0track_alert_count(const struct rt_p0track *t); /* tracked fingerprints, all bots */
size_t rt_p0track_bot_count(const struct rt_p0track *t);
void rt_p0track_foreach_bot(const struct rt_p0track *t, void (*fn)(const char *bot, void *ud), void *ud);
/* The bot's tracked alerts, sorted by fingerprint (firing, state NONE). */
int rt_p0track_foreach_alert(const struct rt_p0track *t, const char *bot,
                             void (*fn)(const struct rt_am_alert *a, void *ud), void *ud); /* -ENOENT, -ENOMEM */

/* ---- persistence (the caller keeps records in its journal, like the engine's) ----
 * A record holds the bot's fingerprints (with startsAt, alertname, flags) and
 * its overflow flag; versioned, little-endian, at most RT_P0_RECORD_MAX
 * bytes. Returns the length, -ENOENT or -ENOBUFS. */
int rt_p0track_encode_bot(const struct rt_p0track *t, const char *bot, uint8_t *buf, size_t cap);
/* Replace the bot's set with a record. No observation, no change hook.
 * Returns 0, -EBADMSG (malformed; nothing changed), -ENOSPC or -ENOMEM. */
int rt_p0track_decode_bot(struct rt_p0track *t, const char *bot, const uint8_t *buf, size_t len);

#endif
