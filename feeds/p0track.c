#include "feeds/p0track.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define RECORD_VERSION 1
#define RF_OVERFLOW 1u
#define EF_SILENCED 1u
#define EF_INHIBITED 2u
/* version, flags, u16 count; per alert: fp length, fp, startsAt, flags, name length, name */
#define RECORD_HEADER 4
#define RECORD_ENTRY_MAX (1 + RT_AM_FINGERPRINT_MAX + 8 + 1 + 1 + RT_AM_ALERTNAME_MAX)
_Static_assert(RECORD_HEADER + RT_P0_MAX_ALERTS_PER_BOT * RECORD_ENTRY_MAX <= RT_P0_RECORD_MAX,
               "a full bot record must fit RT_P0_RECORD_MAX");
_Static_assert(RT_P0_MAX_ALERTS_PER_BOT <= UINT16_MAX, "count is stored as u16");

struct entry {
    char fp[RT_AM_FINGERPRINT_MAX + 1];
    char alertname[RT_AM_ALERTNAME_MAX + 1];
    int64_t starts_us;
    uint64_t seq;  /* operation sequence of the last webhook change (0: poll or restored) */
    uint64_t seen; /* token of the last poll that listed it */
    bool silenced, inhibited;
    bool resolved; /* tombstone: resolved by a webhook while a poll was in flight */
};

struct bot {
    char id[RT_BOT_ID_MAX + 1];
    struct entry *e;
    size_t n, cap;   /* n counts tombstones too */
    size_t n_active; /* entries that are not tombstones */
    bool overflow;
    uint64_t overflow_seq;
    bool has_last;
    int64_t last_ts;
    bool dirty;
    bool was_active;   /* poll scratch: active when the response arrived */
    bool poll_refused; /* poll scratch */
};

struct rt_p0track {
    struct bot **slots; /* open addressing, linear probing */
    size_t cap, n_bots;
    size_t n_entries;   /* all bots, tombstones included */
    uint64_t seq;
    uint64_t poll_token;
    bool poll_inflight;
    uint64_t poll_keep_since; /* rt_p0track_poll_partial(): keep unlisted alerts not listed since; 0: none */
    struct bot **dirty;
    size_t n_dirty, dirty_cap;
    rt_p0_change_fn change_fn;
    void *change_ud;
};

/* One public operation: where observations go and what is counted. */
struct op {
    struct rt_p0track *t;
    rt_p0_obs_fn fn;
    void *ud;
    struct rt_p0_counts *counts;
    int rc;
};

static bool bot_active(const struct bot *b) { return b->n_active > 0 || b->overflow; }

/* ------------------------------------------------------------- bot table */

static size_t hash_id(const char *s) {
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return (size_t)h;
}

static size_t slot_of(const struct rt_p0track *t, const char *id) {
    size_t mask = t->cap - 1, i = hash_id(id) & mask;
    while (t->slots[i] && strcmp(t->slots[i]->id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static struct bot *find_bot(const struct rt_p0track *t, const char *id) {
    return t->cap ? t->slots[slot_of(t, id)] : NULL;
}

static int grow_table(struct rt_p0track *t) {
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct bot **old = t->slots;
    size_t ocap = t->cap;
    t->slots = calloc(ncap, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return -ENOMEM;
    }
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            t->slots[slot_of(t, old[i]->id)] = old[i];
    free(old);
    return 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void delete_slot(struct rt_p0track *t, size_t i) {
    size_t mask = t->cap - 1, j = i;
    free(t->slots[i]->e);
    free(t->slots[i]);
    t->slots[i] = NULL;
    t->n_bots--;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j])
            return;
        size_t k = hash_id(t->slots[j]->id) & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        t->slots[j] = NULL;
        i = j;
    }
}

/* Makes room for a new bot by forgetting one that holds nothing. */
static bool evict_empty_bot(struct rt_p0track *t) {
    for (size_t i = 0; i < t->cap; i++) {
        struct bot *b = t->slots[i];
        if (b && b->n == 0 && !b->overflow && !b->dirty) {
            delete_slot(t, i);
            return true;
        }
    }
    return false;
}

static int get_or_create(struct rt_p0track *t, const char *id, struct bot **out) {
    struct bot *b = find_bot(t, id);
    if (b) {
        *out = b;
        return 0;
    }
    if (t->n_bots >= RT_P0_MAX_BOTS && !evict_empty_bot(t))
        return -ENOSPC;
    if ((t->n_bots + 1) * 10 > t->cap * 7) {
        int r = grow_table(t);
        if (r < 0)
            return r;
    }
    b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    rt_strlcpy(b->id, id, sizeof b->id);
    t->slots[slot_of(t, id)] = b;
    t->n_bots++;
    *out = b;
    return 0;
}

/* --------------------------------------------------------------- entries */

static struct entry *find_entry(struct bot *b, const char *fp) {
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->e[i].fp, fp) == 0)
            return &b->e[i];
    return NULL;
}

static int add_entry(struct rt_p0track *t, struct bot *b, const struct rt_am_alert *a, struct entry **out) {
    if (t->n_entries >= RT_P0_MAX_ALERTS || b->n >= RT_P0_MAX_ALERTS_PER_BOT)
        return -ENOSPC;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 4;
        if (ncap > RT_P0_MAX_ALERTS_PER_BOT)
            ncap = RT_P0_MAX_ALERTS_PER_BOT;
        struct entry *ne = realloc(b->e, ncap * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        b->e = ne;
        b->cap = ncap;
    }
    struct entry *e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    rt_strlcpy(e->fp, a->fingerprint, sizeof e->fp);
    rt_strlcpy(e->alertname, a->alertname, sizeof e->alertname);
    e->starts_us = a->starts_at_us;
    b->n_active++;
    t->n_entries++;
    *out = e;
    return 0;
}

static void remove_entry(struct rt_p0track *t, struct bot *b, struct entry *e) {
    if (!e->resolved)
        b->n_active--;
    *e = b->e[--b->n];
    t->n_entries--;
}

/* ---------------------------------------------------- effects of an op */

static void mark_dirty(struct op *op, struct bot *b) {
    struct rt_p0track *t = op->t;
    if (b->dirty)
        return;
    if (t->n_dirty == t->dirty_cap) {
        size_t ncap = t->dirty_cap ? t->dirty_cap * 2 : 16;
        struct bot **nd = realloc(t->dirty, ncap * sizeof *nd);
        if (!nd) { /* cannot defer: report now */
            if (t->change_fn)
                t->change_fn(b->id, t->change_ud);
            return;
        }
        t->dirty = nd;
        t->dirty_cap = ncap;
    }
    b->dirty = true;
    t->dirty[t->n_dirty++] = b;
}

static void flush_dirty(struct rt_p0track *t) {
    for (size_t i = 0; i < t->n_dirty; i++) {
        t->dirty[i]->dirty = false;
        if (t->change_fn)
            t->change_fn(t->dirty[i]->id, t->change_ud);
    }
    t->n_dirty = 0;
}

static void note_rc(struct op *op, int r) {
    if (r == -ENOMEM || (r < 0 && op->rc == 0))
        op->rc = r;
}

static void emit_raw(struct op *op, const char *bot, bool active, int64_t ts) {
    struct rt_obs o = {.bot = bot, .cond = RT_COND_P0_ALERT, .ts_us = ts, .known = true, .value = active ? 1 : 0};
    op->counts->emitted++;
    if (op->fn)
        op->fn(&o, op->ud);
}

/* A state change (must) is never older than the bot's previous observation,
 * else the engine would drop it as late; a re-assertion that is not newer
 * would change nothing and is skipped. */
static void emit(struct op *op, struct bot *b, bool active, int64_t ts, bool must) {
    if (b->has_last && ts <= b->last_ts) {
        if (!must)
            return;
        ts = b->last_ts + 1;
    }
    b->has_last = true;
    b->last_ts = ts;
    emit_raw(op, b->id, active, ts);
}

/* --------------------------------------------------------------- webhook */

static bool alert_valid(const struct rt_am_alert *a, bool poll) {
    if (!rt_bot_id_valid(a->bot) || !rt_am_fingerprint_valid(a->fingerprint))
        return false;
    for (const char *p = a->fingerprint; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            return false;
    if (poll)
        return a->firing;
    return a->firing || a->has_ends_at;
}

static void refuse(struct op *op, struct bot *b, uint64_t seq) {
    op->counts->refused++;
    note_rc(op, -ENOSPC);
    if (b && !b->overflow) {
        b->overflow = true;
        mark_dirty(op, b);
    }
    if (b)
        b->overflow_seq = seq;
}

static void webhook_firing(struct op *op, const struct rt_am_alert *a, uint64_t seq) {
    struct bot *b;
    int r = get_or_create(op->t, a->bot, &b);
    if (r == -ENOSPC) {
        refuse(op, NULL, seq);
        return;
    }
    if (r < 0) {
        note_rc(op, r);
        return;
    }
    bool was = bot_active(b);
    struct entry *e = find_entry(b, a->fingerprint);
    if (e && !e->resolved) {
        op->counts->unchanged++;
        if (e->silenced || e->inhibited) { /* delivered, so no longer suppressed */
            e->silenced = e->inhibited = false;
            mark_dirty(op, b);
        }
        return;
    }
    if (e) { /* resolved earlier while a poll was in flight: firing again */
        e->resolved = false;
        e->starts_us = a->starts_at_us;
        b->n_active++;
    } else if ((r = add_entry(op->t, b, a, &e)) < 0) {
        if (r != -ENOSPC) {
            note_rc(op, r);
            return;
        }
        refuse(op, b, seq);
        if (!was)
            emit(op, b, true, a->starts_at_us, true);
        return;
    }
    e->seq = seq;
    op->counts->added++;
    mark_dirty(op, b);
    emit(op, b, true, a->starts_at_us, !was);
}

static void webhook_resolved(struct op *op, const struct rt_am_alert *a, uint64_t seq) {
    struct bot *b = find_bot(op->t, a->bot);
    if (!b) { /* never tracked: nothing to remove, but the bot has no active alert */
        op->counts->unchanged++;
        emit_raw(op, a->bot, false, a->ends_at_us);
        return;
    }
    struct entry *e = find_entry(b, a->fingerprint);
    if (!e || e->resolved) {
        op->counts->unchanged++;
        if (!bot_active(b))
            emit(op, b, false, a->ends_at_us, false);
        return;
    }
    if (op->t->poll_inflight) { /* keep it so the in-flight snapshot cannot revive it */
        e->resolved = true;
        e->seq = seq;
        b->n_active--;
    } else {
        remove_entry(op->t, b, e);
    }
    op->counts->removed++;
    mark_dirty(op, b);
    if (!bot_active(b))
        emit(op, b, false, a->ends_at_us, true);
}

int rt_p0track_webhook(struct rt_p0track *t, const struct rt_am_alert *alerts, size_t n, rt_p0_obs_fn fn,
                       void *userdata, struct rt_p0_counts *counts) {
    struct rt_p0_counts local;
    struct op op = {.t = t, .fn = fn, .ud = userdata, .counts = counts ? counts : &local};
    memset(op.counts, 0, sizeof *op.counts);
    for (size_t i = 0; i < n; i++)
        if (!alert_valid(&alerts[i], false))
            return -EINVAL;
    uint64_t seq = ++t->seq;
    for (size_t i = 0; i < n; i++) {
        if (alerts[i].firing)
            webhook_firing(&op, &alerts[i], seq);
        else
            webhook_resolved(&op, &alerts[i], seq);
    }
    flush_dirty(t);
    return op.rc;
}

/* ------------------------------------------------------------------ poll */

static void drop_tombstones(struct rt_p0track *t, struct bot *b) {
    for (size_t i = 0; i < b->n;) {
        if (b->e[i].resolved)
            remove_entry(t, b, &b->e[i]);
        else
            i++;
    }
}

uint64_t rt_p0track_poll_begin(struct rt_p0track *t) {
    t->poll_token = ++t->seq;
    t->poll_inflight = true;
    t->poll_keep_since = 0;
    return t->poll_token;
}

void rt_p0track_poll_partial(struct rt_p0track *t, uint64_t token, uint64_t since) {
    if (t->poll_inflight && token == t->poll_token && since > 0 && since <= token)
        t->poll_keep_since = since;
}

void rt_p0track_poll_abort(struct rt_p0track *t, uint64_t token) {
    if (!t->poll_inflight || token != t->poll_token)
        return;
    t->poll_inflight = false;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            drop_tombstones(t, t->slots[i]);
}

static void poll_listed(struct op *op, const struct rt_am_alert *a, uint64_t token) {
    struct bot *b;
    int r = get_or_create(op->t, a->bot, &b);
    if (r == -ENOSPC) {
        refuse(op, NULL, 0);
        return;
    }
    if (r < 0) {
        note_rc(op, r);
        return;
    }
    struct entry *e = find_entry(b, a->fingerprint);
    if (e && e->resolved && e->seq > token) { /* resolved after the snapshot was asked for */
        op->counts->unchanged++;
        return;
    }
    bool was = bot_active(b);
    if (e && !e->resolved) {
        op->counts->unchanged++;
    } else if (e) { /* resolved before this poll began, yet listed: the poll wins */
        e->resolved = false;
        e->starts_us = a->starts_at_us;
        b->n_active++;
        op->counts->added++;
        mark_dirty(op, b);
        emit(op, b, true, a->starts_at_us, !was);
    } else if ((r = add_entry(op->t, b, a, &e)) == 0) {
        op->counts->added++;
        mark_dirty(op, b);
        emit(op, b, true, a->starts_at_us, !was);
    } else {
        if (r == -ENOSPC) {
            b->poll_refused = true;
            op->counts->refused++;
            if (!was)
                emit(op, b, true, a->starts_at_us, true);
        }
        {
        note_rc(op, r);
        return;
    }
    }
    e->seen = token;
    if (e->silenced != a->silenced || e->inhibited != a->inhibited) {
        e->silenced = a->silenced;
        e->inhibited = a->inhibited;
        mark_dirty(op, b);
    }
}

/* Drops what the poll did not list (unless a webhook touched it since the
 * poll began, or only an earlier Alertmanager listed it: keep_since), settles
 * overflow, and emits the bot's state at now_us, unless only such kept
 * alerts make it active. */
static void poll_settle(struct op *op, struct bot *b, uint64_t token, int64_t now_us, uint64_t keep_since) {
    size_t unlisted = 0;
    for (size_t i = 0; i < b->n;) {
        struct entry *e = &b->e[i];
        if (e->resolved) {
            remove_entry(op->t, b, e);
        } else if (e->seen != token && e->seq < token && e->seen < keep_since) {
            unlisted++;
            i++;
        } else if (e->seen != token && e->seq < token) {
            remove_entry(op->t, b, e);
            op->counts->removed++;
            mark_dirty(op, b);
        } else {
            i++;
        }
    }
    bool overflow = b->poll_refused || (b->overflow && b->overflow_seq > token);
    if (overflow != b->overflow) {
        b->overflow = overflow;
        mark_dirty(op, b);
    }
    b->poll_refused = false;
    bool now = bot_active(b);
    if (now && !b->overflow && unlisted == b->n_active)
        return; /* neither confirmed nor resolved: no evidence */
    emit(op, b, now, now_us, b->was_active && !now);
}

int rt_p0track_poll_end(struct rt_p0track *t, uint64_t token, const struct rt_am_alert *alerts, size_t n,
                        int64_t now_us, const char *const *bots, size_t n_bots, rt_p0_obs_fn fn, void *userdata,
                        struct rt_p0_counts *counts) {
    struct rt_p0_counts local;
    struct op op = {.t = t, .fn = fn, .ud = userdata, .counts = counts ? counts : &local};
    memset(op.counts, 0, sizeof *op.counts);
    if (!t->poll_inflight || token != t->poll_token)
        return -ESTALE;
    for (size_t i = 0; i < n; i++)
        if (!alert_valid(&alerts[i], true))
            return -EINVAL;
    t->poll_inflight = false;
    uint64_t keep_since = t->poll_keep_since;
    t->poll_keep_since = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            t->slots[i]->was_active = bot_active(t->slots[i]);
    for (size_t i = 0; i < n && op.rc != -ENOMEM; i++)
        poll_listed(&op, &alerts[i], token);
    if (op.rc == -ENOMEM) { /* an incomplete list is no authority: treat as a failed poll */
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i]) {
                drop_tombstones(t, t->slots[i]);
                t->slots[i]->poll_refused = false;
            }
        flush_dirty(t);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            poll_settle(&op, t->slots[i], token, now_us, keep_since);
    for (size_t i = 0; bots && i < n_bots; i++)
        if (bots[i] && rt_bot_id_valid(bots[i]) && !find_bot(t, bots[i]))
            emit_raw(&op, bots[i], false, now_us);
    flush_dirty(t);
    return op.rc;
}

int rt_p0track_poll(struct rt_p0track *t, const struct rt_am_alert *alerts, size_t n, int64_t now_us,
                    const char *const *bots, size_t n_bots, rt_p0_obs_fn fn, void *userdata,
                    struct rt_p0_counts *counts) {
    uint64_t token = rt_p0track_poll_begin(t);
    int r = rt_p0track_poll_end(t, token, alerts, n, now_us, bots, n_bots, fn, userdata, counts);
    if (r == -EINVAL)
        rt_p0track_poll_abort(t, token);
    return r;
}

/* -------------------------------------------------------------- lifecycle */

struct rt_p0track *rt_p0track_new(void) {
    return calloc(1, sizeof(struct rt_p0track));
}

void rt_p0track_free(struct rt_p0track *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i]) {
            free(t->slots[i]->e);
            free(t->slots[i]);
        }
    free(t->slots);
    free(t->dirty);
    free(t);
}

void rt_p0track_set_change_hook(struct rt_p0track *t, rt_p0_change_fn fn, void *userdata) {
    t->change_fn = fn;
    t->change_ud = userdata;
}

/* ----------------------------------------------------------------- status */

int rt_p0track_bot_status(const struct rt_p0track *t, const char *bot, struct rt_p0_bot_status *out) {
    const struct bot *b = find_bot(t, bot);
    if (!b)
        return -ENOENT;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < b->n; i++) {
        const struct entry *e = &b->e[i];
        if (e->resolved)
            continue;
        out->n_active++;
        out->n_silenced += e->silenced;
        out->n_inhibited += e->inhibited;
        if (out->n_active == 1 || e->starts_us < out->first_start_us)
            out->first_start_us = e->starts_us;
    }
    out->overflow = b->overflow;
    out->active = bot_active(b);
    out->has_last_obs = b->has_last;
    out->last_obs_us = b->last_ts;
    return 0;
}

size_t rt_p0track_alert_count(const struct rt_p0track *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            n += t->slots[i]->n_active;
    return n;
}

size_t rt_p0track_bot_count(const struct rt_p0track *t) { return t->n_bots; }

void rt_p0track_foreach_bot(const struct rt_p0track *t, void (*fn)(const char *bot, void *ud), void *ud) {
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i])
            fn(t->slots[i]->id, ud);
}

static int cmp_entry_ptr(const void *a, const void *b) {
    return strcmp((*(const struct entry *const *)a)->fp, (*(const struct entry *const *)b)->fp);
}

/* The bot's live entries sorted by fingerprint; caller frees. */
static const struct entry **sorted_entries(const struct bot *b, size_t *n) {
    const struct entry **v = malloc((b->n ? b->n : 1) * sizeof *v);
    if (!v)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!b->e[i].resolved)
            v[(*n)++] = &b->e[i];
    qsort(v, *n, sizeof *v, cmp_entry_ptr);
    return v;
}

int rt_p0track_foreach_alert(const struct rt_p0track *t, const char *bot,
                             void (*fn)(const struct rt_am_alert *a, void *ud), void *ud) {
    const struct bot *b = find_bot(t, bot);
    if (!b)
        return -ENOENT;
    size_t n;
    _cleanup_free_ const struct entry **v = sorted_entries(b, &n);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct rt_am_alert a = {.firing = true, .starts_at_us = v[i]->starts_us,
                                .silenced = v[i]->silenced, .inhibited = v[i]->inhibited};
        rt_strlcpy(a.fingerprint, v[i]->fp, sizeof a.fingerprint);
        rt_strlcpy(a.bot, b->id, sizeof a.bot);
        rt_strlcpy(a.alertname, v[i]->alertname, sizeof a.alertname);
        fn(&a, ud);
    }
    return 0;
}

/* ------------------------------------------------------------ persistence */

struct cursor {
    uint8_t *w;
    const uint8_t *r;
    size_t pos, len;
    bool bad;
};

static void put_bytes(struct cursor *c, const void *p, size_t n) {
    if (c->bad || n > c->len - c->pos) {
        c->bad = true;
        return;
    }
    memcpy(c->w + c->pos, p, n);
    c->pos += n;
}

static void put_u8(struct cursor *c, uint8_t v) { put_bytes(c, &v, 1); }

static void put_u16(struct cursor *c, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put_bytes(c, b, 2);
}

static void put_i64(struct cursor *c, int64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    put_bytes(c, b, 8);
}

static const uint8_t *get_bytes(struct cursor *c, size_t n) {
    if (c->bad || n > c->len - c->pos) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->r + c->pos;
    c->pos += n;
    return p;
}

static uint8_t get_u8(struct cursor *c) {
    const uint8_t *p = get_bytes(c, 1);
    return p ? p[0] : 0;
}

static uint16_t get_u16(struct cursor *c) {
    const uint8_t *p = get_bytes(c, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static int64_t get_i64(struct cursor *c) {
    const uint8_t *p = get_bytes(c, 8);
    uint64_t v = 0;
    for (int i = 0; p && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

int rt_p0track_encode_bot(const struct rt_p0track *t, const char *bot, uint8_t *buf, size_t cap) {
    const struct bot *b = find_bot(t, bot);
    if (!b)
        return -ENOENT;
    size_t n;
    _cleanup_free_ const struct entry **v = sorted_entries(b, &n);
    if (!v)
        return -ENOMEM;
    struct cursor c = {.w = buf, .len = cap};
    put_u8(&c, RECORD_VERSION);
    put_u8(&c, b->overflow ? RF_OVERFLOW : 0);
    put_u16(&c, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(v[i]->fp), nl = strlen(v[i]->alertname);
        put_u8(&c, (uint8_t)fl);
        put_bytes(&c, v[i]->fp, fl);
        put_i64(&c, v[i]->starts_us);
        put_u8(&c, (uint8_t)((v[i]->silenced ? EF_SILENCED : 0) | (v[i]->inhibited ? EF_INHIBITED : 0)));
        put_u8(&c, (uint8_t)nl);
        put_bytes(&c, v[i]->alertname, nl);
    }
    return c.bad ? -ENOBUFS : (int)c.pos;
}

static bool lower_hex(const char *s) {
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static bool decode_entry(struct cursor *c, struct entry *e) {
    memset(e, 0, sizeof *e);
    size_t fl = get_u8(c);
    const uint8_t *fp = get_bytes(c, fl);
    e->starts_us = get_i64(c);
    uint8_t f = get_u8(c);
    size_t nl = get_u8(c);
    const uint8_t *name = get_bytes(c, nl);
    if (c->bad || fl == 0 || fl > RT_AM_FINGERPRINT_MAX || nl > RT_AM_ALERTNAME_MAX || (f & ~3u))
        return false;
    memcpy(e->fp, fp, fl);
    memcpy(e->alertname, name, nl);
    e->silenced = f & EF_SILENCED;
    e->inhibited = f & EF_INHIBITED;
    return strlen(e->fp) == fl && lower_hex(e->fp) && strlen(e->alertname) == nl;
}

int rt_p0track_decode_bot(struct rt_p0track *t, const char *bot, const uint8_t *buf, size_t len) {
    if (!rt_bot_id_valid(bot))
        return -EBADMSG;
    struct cursor c = {.r = buf, .len = len};
    uint8_t version = get_u8(&c), flags = get_u8(&c);
    size_t n = get_u16(&c);
    if (c.bad || version != RECORD_VERSION || (flags & ~RF_OVERFLOW) || n > RT_P0_MAX_ALERTS_PER_BOT)
        return -EBADMSG;
    _cleanup_free_ struct entry *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!decode_entry(&c, &v[i]))
            return -EBADMSG;
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[j].fp, v[i].fp) == 0)
                return -EBADMSG;
    }
    if (c.pos != len)
        return -EBADMSG;
    struct bot *b = find_bot(t, bot);
    size_t old = b ? b->n : 0;
    if (t->n_entries - old + n > RT_P0_MAX_ALERTS)
        return -ENOSPC;
    if (!b) {
        int r = get_or_create(t, bot, &b);
        if (r < 0)
            return r;
    }
    free(b->e);
    b->e = v;
    v = NULL;
    b->n = b->cap = b->n_active = n;
    t->n_entries = t->n_entries - old + n;
    b->overflow = flags & RF_OVERFLOW;
    b->overflow_seq = 0;
    return 0;
}
