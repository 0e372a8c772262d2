/* The window engine: per (bot, condition) strictly consecutive breach windows.
 * Pure: no I/O, no clocks of its own. The caller passes the time as
 * struct rt_now; replay passes simulated time (wall == mono).
 *
 * Semantics (docs/policy.md is the authoritative text):
 *  - Every observation is classified BREACH, OK or UNKNOWN by the bot's
 *    effective policy. Evidence older than max_evidence_age is UNKNOWN (stale)
 *    from last_ts + max_evidence_age on.
 *  - An observation whose event time is not newer than the newest applied one
 *    for the same (bot, condition) changes nothing (late and duplicate
 *    evidence are idempotent).
 *  - BREACH opens a window at the observation's event time if none is open.
 *    OK closes it. UNKNOWN follows on_unknown: hold (nothing), reset (close),
 *    breach (treated as BREACH).
 *  - With D = window_start + window, the window completes at the earliest
 *    T >= D at which the effective state is BREACH (fresh breach evidence,
 *    or unknown under on_unknown=breach). The decision is reported at T.
 *  - Only bots in General live get decisions; a decision moves the bot to
 *    Limited live. A bot returned to General live restarts its open windows
 *    at that moment.
 *  - Clock steps: all window arithmetic runs on an internal timeline that
 *    follows the monotonic clock. Event times are mapped onto it with the
 *    current wall-minus-monotonic offset, and never before the most recent
 *    detected wall-clock step, so a step cannot make a window complete early.
 */
#ifndef RATCHET_ENGINE_H
#define RATCHET_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

enum rt_class { RT_CLASS_NONE = 0, RT_CLASS_OK, RT_CLASS_BREACH, RT_CLASS_UNKNOWN };

enum rt_readiness {
    RT_READY_GENERAL_LIVE = 0,
    RT_READY_LIMITED_LIVE,
    RT_READY_OTHER, /* any earlier state of the guide's diagram: never demoted */
};

const char *rt_class_name(enum rt_class c);          /* "none" "ok" "breach" "unknown" */
const char *rt_readiness_name(enum rt_readiness r);  /* "general_live" "limited_live" "other" */
int rt_readiness_from_name(const char *s, enum rt_readiness *out);

struct rt_now {
    int64_t wall_us; /* CLOCK_REALTIME */
    int64_t mono_us; /* CLOCK_BOOTTIME, or == wall_us in simulation */
};

struct rt_obs {
    const char *bot;
    enum rt_cond cond;
    int64_t ts_us;      /* event time (when it was true), wall clock */
    bool known;         /* false: null, NaN, source down */
    double value;       /* p0_alert: 1 active, 0 not; cvss: max open score */
    bool has_tolerance; /* recon_drift only */
    double tolerance;
};

struct rt_decision {
    const char *bot;
    enum rt_cond cond;
    const char *reason_code;
    int64_t ts_us;           /* T, wall clock */
    int64_t window_start_us; /* wall clock */
    int64_t window_us;
    int64_t unknown_us;      /* unknown time inside [window_start, T] */
    int64_t evidence_ts_us;  /* event time of the evidence in force at T */
    bool evidence_known;
    double evidence_value;
    bool has_threshold;
    double threshold;        /* threshold or tolerance in force at T */
};

typedef void (*rt_decision_fn)(const struct rt_decision *d, void *userdata);

/* Status of one (bot, condition) at `now`, for on-call and metrics. */
struct rt_cond_status {
    enum rt_class state;     /* effective state now (stale evidence is unknown) */
    bool window_open;
    int64_t window_start_us; /* wall */
    int64_t demote_in_us;    /* remaining window time; 0 when due; -1 if no window */
    bool has_evidence;
    int64_t last_ts_us;      /* wall event time of the newest applied evidence */
    int64_t last_age_us;
    bool last_known;
    double last_value;
    int64_t unknown_us;
    bool fired;              /* this window already produced a decision */
};

struct rt_engine;

struct rt_engine *rt_engine_new(const struct rt_policy *policy);
void rt_engine_free(struct rt_engine *e);

/* Tolerance of a detected wall-clock step; below it, wall-minus-mono drift is
 * followed (NTP slewing). Default 1 s. */
void rt_engine_set_step_tolerance(struct rt_engine *e, int64_t us);

/* Returns 0, -EINVAL (bad bot id / condition / non-finite value), -ENOMEM.
 * Decisions that become due are reported through fn. */
int rt_engine_observe(struct rt_engine *e, const struct rt_obs *obs, struct rt_now now,
                      rt_decision_fn fn, void *userdata);
/* Completes every window that is due at `now`. */
int rt_engine_advance(struct rt_engine *e, struct rt_now now, rt_decision_fn fn, void *userdata);
/* When to call rt_engine_advance() next so that a completion is reported
 * when it happens rather than at the next periodic evaluation: the earliest
 * completion known to be pending, on the clock of now.mono_us, INT64_MAX if
 * none. Exact after rt_engine_advance(); observations and readiness changes
 * since then only move it earlier (possibly earlier than needed: an early
 * advance is harmless). Completions that only become due once evidence goes
 * stale are not included; the periodic evaluation finds them. */
int64_t rt_engine_next_fire_mono(const struct rt_engine *e);
/* Readiness takes effect at event time ts_us; decisions that fell due
 * before it are reported through fn first. Bots unknown to the engine are
 * General live. */
int rt_engine_set_readiness(struct rt_engine *e, const char *bot, enum rt_readiness r,
                            int64_t ts_us, struct rt_now now, rt_decision_fn fn, void *userdata);
enum rt_readiness rt_engine_readiness(const struct rt_engine *e, const char *bot);
/* Tracks a bot before any evidence arrives (General live, no windows). */
int rt_engine_add_bot(struct rt_engine *e, const char *bot);
/* Wall time of the bot's last readiness change (a decision or
 * rt_engine_set_readiness), INT64_MIN if never. */
int64_t rt_engine_readiness_since(const struct rt_engine *e, const char *bot);

int rt_engine_cond_status(const struct rt_engine *e, const char *bot, enum rt_cond c,
                          struct rt_now now, struct rt_cond_status *out); /* -ENOENT if unknown bot */
size_t rt_engine_bot_count(const struct rt_engine *e);
/* Calls fn for every bot id, in no particular order. */
void rt_engine_foreach_bot(const struct rt_engine *e, void (*fn)(const char *bot, void *ud), void *ud);

/* ---- persistence (the caller owns the store; see policy/winstore.h) ----
 * The engine reports every transition (window opened/closed, unknown segment
 * started/ended, decision fired, readiness changed, clock step) through the
 * change hook; the caller persists the bot's encoded record then. */
typedef void (*rt_change_fn)(const char *bot, void *userdata);
void rt_engine_set_change_hook(struct rt_engine *e, rt_change_fn fn, void *userdata);

#define RT_BOT_RECORD_MAX 512
/* Encode one bot (readiness and all condition states) into buf; returns the
 * length or -ENOENT / -ENOBUFS. The format is versioned and little-endian. */
int rt_engine_encode_bot(const struct rt_engine *e, const char *bot, uint8_t *buf, size_t cap);
/* Restore one bot from an encoded record; -EBADMSG if malformed. */
int rt_engine_decode_bot(struct rt_engine *e, const char *bot, const uint8_t *buf, size_t len);
/* Engine-wide clock state (offset, last step); encoded like a bot record. */
int rt_engine_encode_clock(const struct rt_engine *e, uint8_t *buf, size_t cap);
int rt_engine_decode_clock(struct rt_engine *e, const uint8_t *buf, size_t len);
/* After restoring on a different boot (monotonic clock restarted), shift the
 * internal timeline so that it continues from the wall clock. */
void rt_engine_rebase(struct rt_engine *e, struct rt_now now);

#endif
