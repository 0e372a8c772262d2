/* Window engine. See engine.h and docs/policy.md for the semantics.
 *
 * All window arithmetic runs on an internal timeline ("E time") that follows
 * the monotonic clock; wall-clock event times are mapped onto it with the
 * current wall-minus-monotonic offset, clamped to [last detected step, now].
 * Wall times shown to users are E + offset. In simulation wall == mono, so
 * E time is simply event time. */
#include "policy/engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rtime.h"
#include "common/util.h"
#include "gen/reason_codes.h"

#define E_NONE INT64_MIN

/* The state of an evidence value once on_unknown has been applied. */
enum mapped { M_BREACH, M_CLOSE, M_HOLD };

struct cond_state {
    int64_t last_e;          /* E time of the newest applied observation */
    int64_t ws_e;            /* window start */
    int64_t unknown_since_e; /* start of the current unknown segment */
    int64_t unknown_acc_us;  /* closed unknown segments inside the window */
    double last_value;
    double last_tolerance;   /* recon_drift: the tolerance the evidence carried */
    uint8_t last_raw;        /* enum rt_class of the newest observation */
    bool has_last, last_known, stale, window_open, fired, in_unknown, has_tolerance;
};

struct bot {
    uint8_t readiness;
    int64_t readiness_since_e; /* when readiness last changed (E_NONE: never) */
    int64_t settled_e; /* everything strictly before this was evaluated */
    struct cond_state c[RT_COND_COUNT];
    char id[]; /* as long as it is, not RT_BOT_ID_MAX: 100,000 bots take 5 MB less */
};

struct rt_engine {
    const struct rt_policy *policy;
    struct bot **slots; /* open addressing, linear probing */
    size_t n_slots, n_bots;
    bool has_offset;
    int64_t offset_us;   /* wall - mono */
    int64_t saved_offset_us; /* last offset reported through the change hook */
    int64_t floor_e;     /* no event is placed before the last clock step */
    int64_t step_tol_us;
    int64_t next_fire_e; /* earliest completion known to be pending, INT64_MAX: none */
    rt_change_fn on_change;
    void *change_ud;
};

static const char *const class_names[] = {"none", "ok", "breach", "unknown"};
static const char *const readiness_names[] = {"general_live", "limited_live", "other"};

const char *rt_class_name(enum rt_class c) {
    return (unsigned)c < ELEMENTSOF(class_names) ? class_names[c] : "invalid";
}

const char *rt_readiness_name(enum rt_readiness r) {
    return (unsigned)r < ELEMENTSOF(readiness_names) ? readiness_names[r] : "invalid";
}

int rt_readiness_from_name(const char *s, enum rt_readiness *out) {
    for (size_t i = 0; i < ELEMENTSOF(readiness_names); i++)
        if (strcmp(s, readiness_names[i]) == 0) {
            *out = (enum rt_readiness)i;
            return 0;
        }
    return -EINVAL;
}

/* ---- bot table ---- */

static uint64_t hash_id(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct bot **slot_for(const struct rt_engine *e, const char *id) {
    size_t mask = e->n_slots - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask)
        if (!e->slots[i] || strcmp(e->slots[i]->id, id) == 0)
            return &e->slots[i];
}

static struct bot *find_bot(const struct rt_engine *e, const char *id) {
    return *slot_for(e, id);
}

static int grow(struct rt_engine *e) {
    size_t n = e->n_slots * 2;
    struct bot **old = e->slots, **s = calloc(n, sizeof(*s));
    if (!s)
        return -ENOMEM;
    size_t old_n = e->n_slots;
    e->slots = s;
    e->n_slots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i])
            *slot_for(e, old[i]->id) = old[i];
    free(old);
    return 0;
}

static int get_bot(struct rt_engine *e, const char *id, struct bot **out) {
    struct bot **slot = slot_for(e, id);
    if (*slot) {
        *out = *slot;
        return 0;
    }
    if ((e->n_bots + 1) * 4 > e->n_slots * 3) { /* keep load <= 0.75 */
        int r = grow(e);
        if (r < 0)
            return r;
        slot = slot_for(e, id);
    }
    size_t len = strnlen(id, RT_BOT_ID_MAX);
    struct bot *b = calloc(1, sizeof(*b) + len + 1);
    if (!b)
        return -ENOMEM;
    memcpy(b->id, id, len); /* NUL from calloc */
    b->readiness = RT_READY_GENERAL_LIVE;
    b->readiness_since_e = E_NONE;
    b->settled_e = E_NONE;
    *slot = b;
    e->n_bots++;
    *out = b;
    return 0;
}

struct rt_engine *rt_engine_new(const struct rt_policy *policy) {
    struct rt_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->n_slots = 64;
    e->slots = calloc(e->n_slots, sizeof(*e->slots));
    if (!e->slots) {
        free(e);
        return NULL;
    }
    e->policy = policy;
    e->floor_e = E_NONE;
    e->step_tol_us = RT_USEC_PER_SEC;
    e->next_fire_e = INT64_MAX;
    return e;
}

void rt_engine_free(struct rt_engine *e) {
    if (!e)
        return;
    for (size_t i = 0; i < e->n_slots; i++)
        free(e->slots[i]);
    free(e->slots);
    free(e);
}

void rt_engine_set_step_tolerance(struct rt_engine *e, int64_t us) { e->step_tol_us = us; }

void rt_engine_set_change_hook(struct rt_engine *e, rt_change_fn fn, void *userdata) {
    e->on_change = fn;
    e->change_ud = userdata;
}

static void changed(struct rt_engine *e, const char *bot) {
    if (e->on_change)
        e->on_change(bot, e->change_ud);
}

/* ---- clocks ---- */

static void clock_update(struct rt_engine *e, struct rt_now now) {
    int64_t off = now.wall_us - now.mono_us;
    int64_t delta = off - e->offset_us;
    bool step = e->has_offset && (delta > e->step_tol_us || delta < -e->step_tol_us);
    if (!e->has_offset || step) {
        if (step)
            e->floor_e = now.mono_us; /* evidence stamped before the step lands here */
        e->has_offset = true;
        e->offset_us = off;
    } else {
        /* follow slewing, ignoring the microsecond jitter of reading two
         * clocks; persist the offset before the drift adds up to a "step" */
        if (delta >= 1000 || delta <= -1000)
            e->offset_us = off;
        int64_t drift = e->offset_us - e->saved_offset_us;
        if (drift <= e->step_tol_us / 4 && drift >= -e->step_tol_us / 4)
            return;
    }
    e->saved_offset_us = e->offset_us;
    changed(e, NULL);
}

static int64_t to_e(const struct rt_engine *e, int64_t wall_us, struct rt_now now) {
    int64_t t = wall_us - e->offset_us;
    if (t > now.mono_us)
        t = now.mono_us;
    if (t < e->floor_e)
        t = e->floor_e;
    return t;
}

static int64_t to_wall(const struct rt_engine *e, int64_t t_e) { return t_e + e->offset_us; }

/* ---- classification ---- */

static enum rt_class classify(const struct rt_cond_policy *p, const struct rt_obs *o) {
    if (!o->known)
        return RT_CLASS_UNKNOWN;
    switch (o->cond) {
    case RT_COND_P0_ALERT:
        return o->value != 0 ? RT_CLASS_BREACH : RT_CLASS_OK;
    case RT_COND_RECON_DRIFT: {
        double tol;
        if (o->has_tolerance)
            tol = o->tolerance;
        else if (p->has_threshold)
            tol = p->threshold;
        else
            return RT_CLASS_UNKNOWN; /* ratchet does not invent a tolerance */
        return fabs(o->value) > tol ? RT_CLASS_BREACH : RT_CLASS_OK;
    }
    case RT_COND_ERROR_RATE:
    case RT_COND_CVSS:
    default:
        return o->value > p->threshold ? RT_CLASS_BREACH : RT_CLASS_OK;
    }
}

static enum mapped map_class(enum rt_class raw, enum rt_on_unknown u) {
    if (raw == RT_CLASS_BREACH)
        return M_BREACH;
    if (raw == RT_CLASS_OK)
        return M_CLOSE;
    switch (u) {
    case RT_ON_UNKNOWN_RESET: return M_CLOSE;
    case RT_ON_UNKNOWN_BREACH: return M_BREACH;
    case RT_ON_UNKNOWN_HOLD:
    default: return M_HOLD;
    }
}

static enum rt_class current_raw(const struct cond_state *c) {
    return c->stale ? RT_CLASS_UNKNOWN : (enum rt_class)c->last_raw;
}

/* ---- window transitions ---- */

static void window_open(struct cond_state *c, int64_t t) {
    c->window_open = true;
    c->fired = false;
    c->ws_e = t;
    c->unknown_acc_us = 0;
}

static void window_close(struct cond_state *c) {
    c->window_open = false;
    c->fired = false;
    c->unknown_acc_us = 0;
}

static int64_t unknown_in_window(const struct cond_state *c, int64_t upto) {
    int64_t u = c->unknown_acc_us;
    if (c->in_unknown) {
        int64_t from = c->unknown_since_e > c->ws_e ? c->unknown_since_e : c->ws_e;
        if (upto > from)
            u += upto - from;
    }
    return u;
}

static void unknown_begin(struct cond_state *c, int64_t t) {
    if (!c->in_unknown) {
        c->in_unknown = true;
        c->unknown_since_e = t;
    }
}

static void unknown_end(struct cond_state *c, int64_t t) {
    if (!c->in_unknown)
        return;
    if (c->window_open)
        c->unknown_acc_us = unknown_in_window(c, t);
    c->in_unknown = false;
}

/* Apply the mapped state that starts at t. Returns true if the window changed. */
static bool apply_mapped(struct cond_state *c, enum mapped m, int64_t t) {
    if (m == M_BREACH && !c->window_open) {
        window_open(c, t);
        return true;
    }
    if (m == M_CLOSE && c->window_open) {
        window_close(c);
        return true;
    }
    return false;
}

/* ---- pending events of one condition: completion (fire) or staleness ---- */

enum ev_kind { EV_NONE, EV_FIRE, EV_STALE };

struct pending {
    enum ev_kind kind;
    int64_t t;
};

static struct pending next_event(const struct bot *b, const struct cond_state *c,
                                 const struct rt_cond_policy *p) {
    struct pending ev = {EV_NONE, 0};
    if (!c->has_last || !p->enabled)
        return ev;
    enum rt_class raw = current_raw(c);
    bool fresh_breach = raw == RT_CLASS_BREACH;
    int64_t stale_at = c->last_e + p->max_evidence_age_us;
    if (b->readiness == RT_READY_GENERAL_LIVE && c->window_open && !c->fired &&
        map_class(raw, p->on_unknown) == M_BREACH) {
        int64_t since = c->stale ? stale_at : c->last_e;
        int64_t d = c->ws_e + p->window_us;
        int64_t t = d > since ? d : since;
        if (!fresh_breach || t <= stale_at) /* freshness is inclusive */
            return (struct pending){EV_FIRE, t};
    }
    if (!c->stale && c->last_raw != RT_CLASS_UNKNOWN)
        ev = (struct pending){EV_STALE, stale_at};
    return ev;
}

static void fire(struct rt_engine *e, struct bot *b, enum rt_cond k, int64_t t,
                 const struct rt_cond_policy *p, rt_decision_fn fn, void *ud) {
    struct cond_state *c = &b->c[k];
    struct rt_decision d = {
        .bot = b->id,
        .cond = k,
        .reason_code = rt_reason_demote_code(k),
        .ts_us = to_wall(e, t),
        .window_start_us = to_wall(e, c->ws_e),
        .window_us = p->window_us,
        .unknown_us = unknown_in_window(c, t),
        .evidence_ts_us = to_wall(e, c->last_e),
        .evidence_known = c->last_known,
        .evidence_value = c->last_value,
        .has_threshold = c->has_tolerance || p->has_threshold,
        .threshold = c->has_tolerance ? c->last_tolerance : p->threshold,
    };
    c->fired = true;
    b->readiness = RT_READY_LIMITED_LIVE;
    b->readiness_since_e = t;
    if (fn)
        fn(&d, ud);
}

static void go_stale(struct cond_state *c, int64_t t, const struct rt_cond_policy *p) {
    c->stale = true;
    unknown_begin(c, t);
    apply_mapped(c, map_class(RT_CLASS_UNKNOWN, p->on_unknown), t);
}

/* Evaluate bot b up to `limit` (inclusive or not), earliest event first;
 * ties go in condition order. */
static void settle_bot(struct rt_engine *e, struct bot *b, int64_t limit, bool inclusive,
                       rt_decision_fn fn, void *ud) {
    int64_t later; /* the earliest completion after limit (rt_engine_next_fire_mono) */
    for (;;) {
        int best = -1;
        struct pending best_ev = {EV_NONE, 0};
        later = INT64_MAX;
        for (int k = 0; k < RT_COND_COUNT; k++) {
            const struct rt_cond_policy *p = rt_policy_cond(e->policy, b->id, (enum rt_cond)k);
            struct pending ev = next_event(b, &b->c[k], p);
            if (ev.kind == EV_NONE)
                continue;
            if (ev.t > limit || (!inclusive && ev.t == limit)) {
                if (ev.kind == EV_FIRE && ev.t < later)
                    later = ev.t;
                continue;
            }
            if (best < 0 || ev.t < best_ev.t) {
                best = k;
                best_ev = ev;
            }
        }
        if (best < 0)
            break;
        const struct rt_cond_policy *p = rt_policy_cond(e->policy, b->id, (enum rt_cond)best);
        if (best_ev.kind == EV_FIRE)
            fire(e, b, (enum rt_cond)best, best_ev.t, p, fn, ud);
        else
            go_stale(&b->c[best], best_ev.t, p);
        changed(e, b->id);
    }
    if (later < e->next_fire_e)
        e->next_fire_e = later;
    if (b->settled_e < limit)
        b->settled_e = limit;
}

/* Keeps next_fire_e no later than b's earliest pending completion. */
static void note_fires(struct rt_engine *e, const struct bot *b) {
    for (int k = 0; k < RT_COND_COUNT; k++) {
        struct pending ev = next_event(b, &b->c[k], rt_policy_cond(e->policy, b->id, (enum rt_cond)k));
        if (ev.kind == EV_FIRE && ev.t < e->next_fire_e)
            e->next_fire_e = ev.t;
    }
}

/* ---- public operations ---- */

static bool obs_valid(const struct rt_obs *o) {
    if (!o->bot || !rt_bot_id_valid(o->bot) || (unsigned)o->cond >= RT_COND_COUNT)
        return false;
    if (o->known && !isfinite(o->value))
        return false;
    if (o->has_tolerance && !(isfinite(o->tolerance) && o->tolerance >= 0))
        return false;
    return true;
}

static bool apply_obs(struct cond_state *c, const struct rt_obs *o, int64_t t,
                      const struct rt_cond_policy *p) {
    enum rt_class raw = classify(p, o);
    bool transition = !c->has_last || c->stale || raw != c->last_raw;
    if (raw == RT_CLASS_UNKNOWN)
        unknown_begin(c, t);
    else
        unknown_end(c, t);
    transition |= apply_mapped(c, map_class(raw, p->on_unknown), t);
    c->has_last = true;
    c->last_e = t;
    c->last_raw = (uint8_t)raw;
    c->last_known = o->known;
    c->last_value = o->known ? o->value : 0;
    c->has_tolerance = o->has_tolerance;
    c->last_tolerance = o->has_tolerance ? o->tolerance : 0;
    c->stale = false;
    return transition;
}

int rt_engine_observe(struct rt_engine *e, const struct rt_obs *obs, struct rt_now now,
                      rt_decision_fn fn, void *userdata) {
    if (!obs_valid(obs))
        return -EINVAL;
    clock_update(e, now);
    struct bot *b;
    int r = get_bot(e, obs->bot, &b);
    if (r < 0)
        return r;
    struct cond_state *c = &b->c[obs->cond];
    int64_t t = to_e(e, obs->ts_us, now);
    if (c->has_last && t <= c->last_e)
        return 0; /* late or duplicate: changes nothing */
    settle_bot(e, b, t, false, fn, userdata);
    const struct rt_cond_policy *p = rt_policy_cond(e->policy, b->id, obs->cond);
    if (apply_obs(c, obs, t, p))
        changed(e, b->id);
    struct pending ev = next_event(b, c, p); /* this observation may complete the window */
    if (ev.kind == EV_FIRE && ev.t < e->next_fire_e)
        e->next_fire_e = ev.t;
    return 0;
}

int rt_engine_advance(struct rt_engine *e, struct rt_now now, rt_decision_fn fn, void *userdata) {
    clock_update(e, now);
    e->next_fire_e = INT64_MAX; /* every bot is evaluated: recomputed from scratch */
    for (size_t i = 0; i < e->n_slots; i++)
        if (e->slots[i])
            settle_bot(e, e->slots[i], now.mono_us, true, fn, userdata);
    return 0;
}

int rt_engine_set_readiness(struct rt_engine *e, const char *bot, enum rt_readiness r,
                            int64_t ts_us, struct rt_now now, rt_decision_fn fn, void *userdata) {
    if (!rt_bot_id_valid(bot) || (unsigned)r > RT_READY_OTHER)
        return -EINVAL;
    clock_update(e, now);
    struct bot *b;
    int ret = get_bot(e, bot, &b);
    if (ret < 0)
        return ret;
    int64_t t = to_e(e, ts_us, now);
    settle_bot(e, b, t, false, fn, userdata);
    if (b->readiness == r)
        return 0;
    if (r == RT_READY_GENERAL_LIVE) /* a re-promoted bot gets a full window */
        for (int k = 0; k < RT_COND_COUNT; k++) {
            struct cond_state *c = &b->c[k];
            if (!c->window_open)
                continue;
            if (c->ws_e < t)
                c->ws_e = t;
            c->fired = false;
            c->unknown_acc_us = 0;
        }
    b->readiness = (uint8_t)r;
    b->readiness_since_e = t;
    changed(e, b->id);
    note_fires(e, b);
    return 0;
}

int64_t rt_engine_next_fire_mono(const struct rt_engine *e) { return e->next_fire_e; }

int64_t rt_engine_readiness_since(const struct rt_engine *e, const char *bot) {
    const struct bot *b = find_bot(e, bot);
    return b && b->readiness_since_e != E_NONE ? to_wall(e, b->readiness_since_e) : INT64_MIN;
}

int rt_engine_add_bot(struct rt_engine *e, const char *bot) {
    if (!rt_bot_id_valid(bot))
        return -EINVAL;
    struct bot *b;
    return get_bot(e, bot, &b);
}

enum rt_readiness rt_engine_readiness(const struct rt_engine *e, const char *bot) {
    const struct bot *b = find_bot(e, bot);
    return b ? (enum rt_readiness)b->readiness : RT_READY_GENERAL_LIVE;
}

int rt_engine_cond_status(const struct rt_engine *e, const char *bot, enum rt_cond k,
                          struct rt_now now, struct rt_cond_status *out) {
    const struct bot *b = find_bot(e, bot);
    if (!b || (unsigned)k >= RT_COND_COUNT)
        return -ENOENT;
    const struct cond_state *c = &b->c[k];
    const struct rt_cond_policy *p = rt_policy_cond(e->policy, bot, k);
    int64_t now_e = now.mono_us; /* the timeline is the monotonic clock */
    memset(out, 0, sizeof(*out));
    out->demote_in_us = -1;
    if (!c->has_last)
        return 0;
    bool stale = c->stale || now_e - c->last_e > p->max_evidence_age_us;
    out->state = stale ? RT_CLASS_UNKNOWN : (enum rt_class)c->last_raw;
    out->has_evidence = true;
    out->last_ts_us = to_wall(e, c->last_e);
    out->last_age_us = now_e - c->last_e;
    out->last_known = c->last_known;
    out->last_value = c->last_value;
    out->fired = c->fired;
    out->window_open = c->window_open;
    if (c->window_open) {
        out->window_start_us = to_wall(e, c->ws_e);
        out->unknown_us = unknown_in_window(c, now_e);
        if (b->readiness == RT_READY_GENERAL_LIVE && !c->fired) {
            int64_t left = c->ws_e + p->window_us - now_e;
            out->demote_in_us = left > 0 ? left : 0;
        }
    }
    return 0;
}

size_t rt_engine_bot_count(const struct rt_engine *e) { return e->n_bots; }

void rt_engine_foreach_bot(const struct rt_engine *e, void (*fn)(const char *bot, void *ud), void *ud) {
    for (size_t i = 0; i < e->n_slots; i++)
        if (e->slots[i])
            fn(e->slots[i]->id, ud);
}

/* ---- persistence encoding (little-endian, versioned) ---- */

#define BOT_RECORD_VERSION 1
#define CLOCK_RECORD_VERSION 1
enum { F_HAS_LAST = 1, F_KNOWN = 2, F_STALE = 4, F_OPEN = 8, F_FIRED = 16, F_UNKNOWN = 32, F_TOL = 64 };

struct cursor {
    uint8_t *w;
    const uint8_t *r;
    size_t len, pos;
    bool bad;
};

static void put_u8(struct cursor *c, uint8_t v) {
    if (c->pos + 1 > c->len) {
        c->bad = true;
        return;
    }
    c->w[c->pos++] = v;
}

static void put_i64(struct cursor *c, int64_t v) {
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        put_u8(c, (uint8_t)(u >> (8 * i)));
}

static uint8_t get_u8(struct cursor *c) {
    if (c->pos + 1 > c->len) {
        c->bad = true;
        return 0;
    }
    return c->r[c->pos++];
}

static int64_t get_i64(struct cursor *c) {
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)get_u8(c) << (8 * i);
    return (int64_t)u;
}

static void put_f64(struct cursor *c, double d) {
    int64_t v;
    memcpy(&v, &d, sizeof(v));
    put_i64(c, v);
}

static double get_f64(struct cursor *c) {
    int64_t v = get_i64(c);
    double d;
    memcpy(&d, &v, sizeof(d));
    return d;
}

int rt_engine_encode_bot(const struct rt_engine *e, const char *bot, uint8_t *buf, size_t cap) {
    const struct bot *b = find_bot(e, bot);
    if (!b)
        return -ENOENT;
    struct cursor cur = {.w = buf, .len = cap};
    put_u8(&cur, BOT_RECORD_VERSION);
    put_u8(&cur, b->readiness);
    put_i64(&cur, b->readiness_since_e);
    put_i64(&cur, b->settled_e);
    for (int k = 0; k < RT_COND_COUNT; k++) {
        const struct cond_state *c = &b->c[k];
        put_u8(&cur, (uint8_t)((c->has_last ? F_HAS_LAST : 0) | (c->last_known ? F_KNOWN : 0) |
                               (c->stale ? F_STALE : 0) | (c->window_open ? F_OPEN : 0) |
                               (c->fired ? F_FIRED : 0) | (c->in_unknown ? F_UNKNOWN : 0) |
                               (c->has_tolerance ? F_TOL : 0)));
        put_u8(&cur, c->last_raw);
        put_i64(&cur, c->last_e);
        put_i64(&cur, c->ws_e);
        put_i64(&cur, c->unknown_since_e);
        put_i64(&cur, c->unknown_acc_us);
        put_f64(&cur, c->last_value);
        put_f64(&cur, c->last_tolerance);
    }
    return cur.bad ? -ENOBUFS : (int)cur.pos;
}

/* Restored times must leave the window arithmetic (t + window, t + offset,
 * the rebase shift) far from int64 overflow. Real E times and offsets are
 * within a few thousand years of the epoch; 2^60 us is 36,000 years, so a
 * record beyond it is corrupt, even with a valid checksum. */
#define E_LIMIT (INT64_C(1) << 60)

static bool e_time_ok(int64_t t) { return t == E_NONE || (t >= -E_LIMIT && t <= E_LIMIT); }

static bool decode_cond(struct cursor *cur, struct cond_state *c) {
    uint8_t f = get_u8(cur);
    uint8_t raw = get_u8(cur);
    c->last_e = get_i64(cur);
    c->ws_e = get_i64(cur);
    c->unknown_since_e = get_i64(cur);
    c->unknown_acc_us = get_i64(cur);
    c->last_value = get_f64(cur);
    c->last_tolerance = get_f64(cur);
    c->has_tolerance = f & F_TOL;
    c->has_last = f & F_HAS_LAST;
    c->last_known = f & F_KNOWN;
    c->stale = f & F_STALE;
    c->window_open = f & F_OPEN;
    c->fired = f & F_FIRED;
    c->in_unknown = f & F_UNKNOWN;
    c->last_raw = raw;
    return !(f & ~127) && raw <= RT_CLASS_UNKNOWN && isfinite(c->last_value) &&
           isfinite(c->last_tolerance) && c->last_tolerance >= 0 &&
           c->unknown_acc_us >= 0 && c->unknown_acc_us <= E_LIMIT && (!c->window_open || c->has_last) &&
           e_time_ok(c->last_e) && e_time_ok(c->ws_e) && e_time_ok(c->unknown_since_e) &&
           (!c->has_last || c->last_e != E_NONE) && (!c->window_open || c->ws_e != E_NONE) &&
           (!c->in_unknown || c->unknown_since_e != E_NONE);
}

int rt_engine_decode_bot(struct rt_engine *e, const char *bot, const uint8_t *buf, size_t len) {
    if (!rt_bot_id_valid(bot))
        return -EBADMSG;
    struct cursor cur = {.r = buf, .len = len};
    struct bot tmp = {0};
    if (get_u8(&cur) != BOT_RECORD_VERSION)
        return -EBADMSG;
    tmp.readiness = get_u8(&cur);
    tmp.readiness_since_e = get_i64(&cur);
    tmp.settled_e = get_i64(&cur);
    bool ok = tmp.readiness <= RT_READY_OTHER && e_time_ok(tmp.readiness_since_e) && e_time_ok(tmp.settled_e);
    for (int k = 0; k < RT_COND_COUNT; k++)
        ok &= decode_cond(&cur, &tmp.c[k]);
    if (!ok || cur.bad || cur.pos != len)
        return -EBADMSG;
    struct bot *b;
    int r = get_bot(e, bot, &b);
    if (r < 0)
        return r;
    b->readiness = tmp.readiness;
    b->readiness_since_e = tmp.readiness_since_e;
    b->settled_e = tmp.settled_e;
    memcpy(b->c, tmp.c, sizeof(b->c));
    return 0;
}

int rt_engine_encode_clock(const struct rt_engine *e, uint8_t *buf, size_t cap) {
    struct cursor cur = {.w = buf, .len = cap};
    put_u8(&cur, CLOCK_RECORD_VERSION);
    put_u8(&cur, e->has_offset);
    put_i64(&cur, e->offset_us);
    put_i64(&cur, e->floor_e);
    return cur.bad ? -ENOBUFS : (int)cur.pos;
}

int rt_engine_decode_clock(struct rt_engine *e, const uint8_t *buf, size_t len) {
    struct cursor cur = {.r = buf, .len = len};
    if (get_u8(&cur) != CLOCK_RECORD_VERSION)
        return -EBADMSG;
    uint8_t has = get_u8(&cur);
    int64_t off = get_i64(&cur), floor_e = get_i64(&cur);
    if (cur.bad || cur.pos != len || has > 1 || off < -E_LIMIT || off > E_LIMIT || !e_time_ok(floor_e))
        return -EBADMSG;
    e->has_offset = has;
    e->offset_us = off;
    e->saved_offset_us = off;
    e->floor_e = floor_e;
    return 0;
}

/* Restored times are within E_LIMIT and |by| is at most about 2 * E_LIMIT,
 * so the sum cannot overflow; clamping keeps a corrupt but accepted record
 * (far from any real clock) acceptable when it is written back. */
static void shift(int64_t *t, int64_t by) {
    if (*t == E_NONE)
        return;
    int64_t v = *t + by;
    *t = v > E_LIMIT ? E_LIMIT : v < -E_LIMIT ? -E_LIMIT : v;
}

void rt_engine_rebase(struct rt_engine *e, struct rt_now now) {
    int64_t new_off = now.wall_us - now.mono_us;
    if (!e->has_offset) {
        e->has_offset = true;
        e->offset_us = e->saved_offset_us = new_off;
        return;
    }
    int64_t by = e->offset_us - new_off; /* keep every wall time where it was */
    for (size_t i = 0; i < e->n_slots; i++) {
        struct bot *b = e->slots[i];
        if (!b)
            continue;
        shift(&b->settled_e, by);
        shift(&b->readiness_since_e, by);
        for (int k = 0; k < RT_COND_COUNT; k++) {
            shift(&b->c[k].last_e, by);
            shift(&b->c[k].ws_e, by);
            shift(&b->c[k].unknown_since_e, by);
        }
    }
    shift(&e->floor_e, by);
    e->offset_us = e->saved_offset_us = new_off;
}
