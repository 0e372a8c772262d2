/* The watchdog's state: the engine, its persisted windows, the evidence
 * log, and the hand-off of decisions. Every source (webhook, polls,
 * registry) feeds observations through wd_core_observe(); a once-a-second
 * tick advances time and makes transitions durable.
 *
 * Durability order for a decision: the pending hand-off record is committed
 * (in the decision callback) before the engine's "fired" state is, so a
 * crash in between re-makes the same decision, which has the same request
 * id and is recorded once. */
#ifndef RATCHET_WD_CORE_H
#define RATCHET_WD_CORE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/journal.h"
#include "feeds/p0track.h"
#include "feeds/registry.h"
#include "policy/engine.h"
#include "policy/evidence.h"
#include "policy/winstore.h"
#include "watchdog/evlog.h"
#include "watchdog/handoff.h"

struct wd_core_options {
    const char *state_dir;
    const char *enforcer_socket;
    uint64_t evlog_max_bytes;
    unsigned evlog_keep;
    int64_t handoff_retry_min_us; /* 0: defaults */
};

struct wd_core {
    const struct rt_policy *policy;
    struct rt_engine *engine;
    struct rt_winstore *store;
    struct rt_evlog *evlog;
    struct rt_handoff *handoff;
    struct rt_p0track *p0;          /* active P0 alerts per bot */
    struct rt_journal *p0_journal;  /* ... persisted in "alerts" */
    int p0_put_error;
    struct rt_registry registry; /* last applied; bots not in it are unknown */
    bool have_registry;
    bool failed;                 /* the state store failed: the daemon must exit */
    uint64_t observations, ignored_unknown_bot, decisions, refused_observations;
    uint64_t store_commits, store_errors;
    /* Evaluates the windows when the next one completes, not only on the
     * once-a-second tick, so a decision is made when it is due. Monotonic
     * (the engine's clock); runs are spaced by due_gap_us. */
    struct event *due;
    int64_t due_at_us, due_last_us, due_gap_us;
};

struct rt_now wd_now(void);

int wd_core_open(struct wd_core *c, struct event_base *base, const struct rt_policy *policy,
                 const struct wd_core_options *opt, char *err, size_t errlen);
void wd_core_close(struct wd_core *c);

/* Applies one observation (logged to the evidence log). Returns 0, 1 if the
 * bot is not in the registry (ignored), -EINVAL for an invalid observation,
 * -EIO if the state store failed. */
int wd_core_observe(struct wd_core *c, const struct rt_evidence *ev, struct rt_now now);
/* Makes everything observed so far durable; -EIO if the store failed. */
int wd_core_commit(struct wd_core *c);
/* Advances every window to now, then commits. */
int wd_core_tick(struct wd_core *c, struct rt_now now);
/* Replaces the registry and applies readiness changes (see feeds/registry.h).
 * Takes ownership of reg. */
int wd_core_set_registry(struct wd_core *c, struct rt_registry *reg, struct rt_now now);
/* P0 alerts from a webhook delivery or an Alertmanager poll (see
 * feeds/p0track.h); the observations they imply go through
 * wd_core_observe(). Returns 0 or a negative errno. */
int wd_core_p0_webhook(struct wd_core *c, const struct rt_am_alert *alerts, size_t n, struct rt_now now);
uint64_t wd_core_p0_poll_begin(struct wd_core *c);
/* keep_since: 0, or the answer may lack alerts that only an Alertmanager
 * started before poll keep_since knew (rt_p0track_poll_partial). */
int wd_core_p0_poll_end(struct wd_core *c, uint64_t token, const struct rt_am_alert *alerts, size_t n,
                        int64_t polled_at_us, uint64_t keep_since, struct rt_now now);
void wd_core_p0_poll_abort(struct wd_core *c, uint64_t token);

/* True if the bot is known (registry loaded and lists it). */
bool wd_core_bot_known(const struct wd_core *c, const char *bot);

#endif
