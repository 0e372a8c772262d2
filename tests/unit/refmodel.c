/* Reference model of docs/policy.md, one second at a time. See refmodel.h.
 *
 * Reading of the doc that the model encodes, rule by rule:
 *  1. A window opens at the first breach and any OK closes it.
 *  2. Per (bot, condition) only observations with ts newer than the newest
 *     applied one are applied; at equal ts the first one wins.
 *  3. The latest evidence at second x is unknown if its value is unknown or
 *     x >= ts + max_evidence_age (stale). hold: nothing; reset: closes the
 *     window at that second; breach: counts as breach (opens a window).
 *     Unknown seconds are the seconds y in [window_start, T) whose latest
 *     evidence is unknown.
 *  4. A window completes at the first second T >= window_start + window at
 *     which the latest evidence is a breach no older than max_evidence_age
 *     (inclusive: fresh at ts + max_evidence_age), or under on_unknown=breach
 *     anything but a fresh OK. Because freshness is inclusive, the completion
 *     check at second x runs before the stale transition at x: with reset, a
 *     window due exactly at ts + max_evidence_age still fires.
 *  6. Only a bot in General live gets a decision, which moves it to Limited
 *     live. A change to General live from another state restarts every open
 *     window of the bot at that second with zero unknown time.
 *  7. At one second, conditions are checked in enum order; the first that
 *     completes demotes the bot, so later ones find it in Limited live.
 *  8. (as far as the domain needs it) All items at second x take effect
 *     before anything due at x is decided; the run ends at the largest ts. */
#include "tests/unit/refmodel.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* What the model knows about one (bot, condition) during the scan. */
struct cond_state {
    bool has_evidence;
    int64_t evidence_ts;
    enum rt_class evidence_class; /* as observed, before staleness */
    bool new_at_x;                /* an observation was applied at this second */
    bool open;
    int64_t start;
    int64_t unknown_s;
};

struct bot_state {
    enum rt_readiness readiness;
    bool returned_at_x; /* changed to General live from another state at this second */
    struct cond_state cond[RT_COND_COUNT];
};

enum rt_class rm_classify(const struct rm_cond_policy *cp, const struct rm_item *obs) {
    if (!obs->known)
        return RT_CLASS_UNKNOWN;
    switch (obs->cond) {
    case RT_COND_P0_ALERT:
        return obs->value != 0.0 ? RT_CLASS_BREACH : RT_CLASS_OK;
    case RT_COND_ERROR_RATE:
    case RT_COND_CVSS:
        if (!cp->has_threshold)
            return RT_CLASS_UNKNOWN;
        return obs->value > cp->threshold ? RT_CLASS_BREACH : RT_CLASS_OK;
    case RT_COND_RECON_DRIFT: {
        /* The evidence's own tolerance first, else the bot's policy; no
         * tolerance at all makes the evidence unknown. */
        double tolerance;
        if (obs->has_tolerance)
            tolerance = obs->tolerance;
        else if (cp->has_threshold)
            tolerance = cp->threshold;
        else
            return RT_CLASS_UNKNOWN;
        return fabs(obs->value) > tolerance ? RT_CLASS_BREACH : RT_CLASS_OK;
    }
    default:
        return RT_CLASS_UNKNOWN;
    }
}

static bool policy_valid(const struct rm_policy *p) {
    if (p->n_bots > RM_MAX_BOTS)
        return false;
    for (size_t b = 0; b < p->n_bots; b++)
        for (int c = 0; c < RT_COND_COUNT; c++) {
            const struct rm_cond_policy *cp = &p->cond[b][c];
            if (cp->window_s <= 0 || cp->max_age_s <= 0 || cp->window_s > RM_MAX_TS ||
                cp->max_age_s > RM_MAX_TS)
                return false;
        }
    return true;
}

static bool item_valid(const struct rm_policy *p, const struct rm_item *it) {
    if (it->bot >= p->n_bots || it->ts < 0 || it->ts > RM_MAX_TS)
        return false;
    if (it->is_readiness)
        return it->readiness == RT_READY_GENERAL_LIVE || it->readiness == RT_READY_LIMITED_LIVE ||
               it->readiness == RT_READY_OTHER;
    return (unsigned)it->cond < RT_COND_COUNT && isfinite(it->value) &&
           (!it->has_tolerance || isfinite(it->tolerance));
}

/* Rule 2 in arrival order, plus the domain check: marks which items take
 * effect and returns the last second of the run (or -1 if there are no items). */
static int64_t select_applied(const struct rm_policy *p, const struct rm_item *items, size_t n,
                              bool *applied, int *err) {
    int64_t newest[RM_MAX_BOTS][RT_COND_COUNT];
    for (size_t b = 0; b < RM_MAX_BOTS; b++)
        for (int c = 0; c < RT_COND_COUNT; c++)
            newest[b][c] = -1;
    int64_t latest_seen = -1;
    *err = 0;
    for (size_t i = 0; i < n; i++) {
        const struct rm_item *it = &items[i];
        if (!item_valid(p, it)) {
            *err = -EINVAL;
            return -1;
        }
        applied[i] = it->is_readiness || it->ts > newest[it->bot][it->cond];
        if (applied[i] && it->ts < latest_seen) {
            *err = -EINVAL; /* an item in the past that is not ignored: outside the domain */
            return -1;
        }
        if (applied[i] && !it->is_readiness)
            newest[it->bot][it->cond] = it->ts;
        if (it->ts > latest_seen)
            latest_seen = it->ts;
    }
    return latest_seen;
}

static void apply_readiness(struct bot_state *bs, enum rt_readiness r, bool *noop_promotion) {
    if (r == RT_READY_GENERAL_LIVE) {
        if (bs->readiness == RT_READY_GENERAL_LIVE)
            *noop_promotion = true;
        else
            bs->returned_at_x = true;
    }
    bs->readiness = r;
}

static void open_window(struct cond_state *s, int64_t x) {
    if (!s->open) {
        s->open = true;
        s->start = x;
        s->unknown_s = 0;
    }
}

/* An observation applied at second x acts on the window at x (rules 1, 3). */
static void apply_new_evidence(struct cond_state *s, enum rt_on_unknown mode, int64_t x) {
    switch (s->evidence_class) {
    case RT_CLASS_BREACH:
        open_window(s, x);
        break;
    case RT_CLASS_OK:
        s->open = false;
        break;
    default:
        if (mode == RT_ON_UNKNOWN_RESET)
            s->open = false;
        else if (mode == RT_ON_UNKNOWN_BREACH)
            open_window(s, x);
        break;
    }
}

static bool is_stale(const struct cond_state *s, const struct rm_cond_policy *cp, int64_t x) {
    return s->has_evidence && x >= s->evidence_ts + cp->max_age_s;
}

/* Rule 3: is the latest evidence unknown during second x? */
static bool unknown_at(const struct cond_state *s, const struct rm_cond_policy *cp, int64_t x) {
    return s->has_evidence && (s->evidence_class == RT_CLASS_UNKNOWN || is_stale(s, cp, x));
}

/* Rule 4: may a due window complete at second x? Freshness is inclusive. */
static bool completes_at(const struct cond_state *s, const struct rm_cond_policy *cp, int64_t x) {
    if (!s->open || x < s->start + cp->window_s || !s->has_evidence)
        return false;
    bool fresh = x <= s->evidence_ts + cp->max_age_s;
    if (cp->on_unknown == RT_ON_UNKNOWN_BREACH)
        return s->evidence_class != RT_CLASS_OK || !fresh;
    return s->evidence_class == RT_CLASS_BREACH && fresh;
}

/* Rule 3 for stale evidence: from ts + max_evidence_age on it is unknown. */
static void apply_staleness(struct cond_state *s, const struct rm_cond_policy *cp, int64_t x) {
    if (!is_stale(s, cp, x))
        return;
    if (cp->on_unknown == RT_ON_UNKNOWN_RESET)
        s->open = false;
    else if (cp->on_unknown == RT_ON_UNKNOWN_BREACH)
        open_window(s, x);
}

/* Everything that happens to one bot at second x, after its items at x. */
static int decide_second(const struct rm_policy *p, unsigned b, struct bot_state *bs, int64_t x,
                         struct rm_decision *out, size_t cap, size_t *n_out) {
    for (int c = 0; c < RT_COND_COUNT; c++) {
        struct cond_state *s = &bs->cond[c];
        if (s->new_at_x)
            apply_new_evidence(s, p->cond[b][c].on_unknown, x);
        if (bs->returned_at_x && s->open) {
            s->start = x;
            s->unknown_s = 0;
        }
    }
    for (int c = 0; c < RT_COND_COUNT; c++) {
        const struct rm_cond_policy *cp = &p->cond[b][c];
        struct cond_state *s = &bs->cond[c];
        if (bs->readiness == RT_READY_GENERAL_LIVE && completes_at(s, cp, x)) {
            if (*n_out >= cap)
                return -ENOBUFS;
            out[(*n_out)++] = (struct rm_decision){
                .bot = b,
                .cond = (enum rt_cond)c,
                .ts = x,
                .window_start = s->start,
                .window_s = cp->window_s,
                .unknown_s = s->unknown_s,
            };
            bs->readiness = RT_READY_LIMITED_LIVE;
        }
    }
    for (int c = 0; c < RT_COND_COUNT; c++) {
        const struct rm_cond_policy *cp = &p->cond[b][c];
        struct cond_state *s = &bs->cond[c];
        apply_staleness(s, cp, x);
        if (s->open && unknown_at(s, cp, x))
            s->unknown_s++;
        s->new_at_x = false;
    }
    bs->returned_at_x = false;
    return 0;
}

int rm_run(const struct rm_policy *p, const struct rm_item *items, size_t n,
           struct rm_decision *out, size_t cap, size_t *n_out, bool *noop_promotion) {
    *n_out = 0;
    if (!policy_valid(p) || n > RM_MAX_ITEMS)
        return -EINVAL;
    bool applied[RM_MAX_ITEMS];
    int err;
    int64_t end = select_applied(p, items, n, applied, &err);
    if (err < 0)
        return err;
    if (noop_promotion)
        memset(noop_promotion, 0, n * sizeof(*noop_promotion));

    struct bot_state bots[RM_MAX_BOTS];
    memset(bots, 0, sizeof(bots));
    for (size_t b = 0; b < RM_MAX_BOTS; b++)
        bots[b].readiness = RT_READY_GENERAL_LIVE;

    size_t next = 0; /* applied items come in non-decreasing ts order */
    for (int64_t x = 0; x <= end; x++) {
        for (; next < n && (!applied[next] || items[next].ts == x); next++) {
            if (!applied[next])
                continue;
            const struct rm_item *it = &items[next];
            struct bot_state *bs = &bots[it->bot];
            if (it->is_readiness) {
                bool noop = false;
                apply_readiness(bs, it->readiness, &noop);
                if (noop_promotion)
                    noop_promotion[next] = noop;
                continue;
            }
            struct cond_state *s = &bs->cond[it->cond];
            s->has_evidence = true;
            s->evidence_ts = x;
            s->evidence_class = rm_classify(&p->cond[it->bot][it->cond], it);
            s->new_at_x = true;
        }
        for (unsigned b = 0; b < p->n_bots; b++) {
            int r = decide_second(p, b, &bots[b], x, out, cap, n_out);
            if (r < 0)
                return r;
        }
    }
    return 0;
}
