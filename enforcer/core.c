/* Enforcer state and decisions; see core.h and docs/enforcer.md. */
#include "enforcer/core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "gen/reason_codes.h"

#define MAX_BOTS 1000000
#define MAX_FUTURE_US (300 * RT_USEC_PER_SEC) /* clock skew tolerated for decided_at */

_Static_assert(RT_PROTO_TARGET_MAX == RT_LOG_TARGET_MAX, "an ACTUATED target fits an actuated record");

/* One recorded demotion, also the dedup key (bot, condition, window start). */
struct demotion {
    char bot[RT_BOT_ID_MAX + 1];
    enum rt_cond cond;
    int64_t window_start_us, decided_at_us;
    uint64_t seq;
    uint64_t actuated_seq; /* its actuated record, 0 if none (seq 0 is the genesis record) */
};

struct enf_core {
    struct enf_core_options opt;
    struct rt_logw *log;
    struct demotion *d; /* in log order */
    size_t n, cap;
    /* bot -> index in d[] of its latest demotion (open addressing, linear
     * probing, NO_INDEX = empty), so that the readiness view written after
     * every demotion costs O(n), not O(n^2) */
    size_t *latest;
    size_t n_slots, n_distinct;
    int64_t last_seen_mono_us, last_seen_wall_us;
    bool silent;
    int64_t silent_since_us;
    struct enf_core_stats stats;
    bool batching, batch_dirty; /* enf_core_batch_begin/end; demotions wait for the end's checkpoint */
};

/* ---- state ---- */

#define NO_INDEX SIZE_MAX

static uint64_t hash_bot(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of bot in the index: its entry, or the empty slot it would take. */
static size_t *latest_slot(const struct enf_core *c, const char *bot) {
    size_t mask = c->n_slots - 1;
    for (size_t i = hash_bot(bot) & mask;; i = (i + 1) & mask)
        if (c->latest[i] == NO_INDEX || strcmp(c->d[c->latest[i]].bot, bot) == 0)
            return &c->latest[i];
}

/* Room in the index for one more bot (load factor at most 1/2). */
static int latest_reserve(struct enf_core *c) {
    if ((c->n_distinct + 1) * 2 <= c->n_slots)
        return 0;
    size_t n = c->n_slots ? c->n_slots * 2 : 128, old_n = c->n_slots;
    size_t *old = c->latest, *t = malloc(n * sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        t[i] = NO_INDEX;
    c->latest = t;
    c->n_slots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i] != NO_INDEX)
            *latest_slot(c, c->d[old[i]].bot) = old[i];
    free(old);
    return 0;
}

static int remember(struct enf_core *c, const struct rt_msg_demote *m, uint64_t seq) {
    if (c->n == MAX_BOTS)
        return -ENOSPC;
    int r = latest_reserve(c);
    if (r < 0)
        return r;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct demotion *d = realloc(c->d, cap * sizeof(*d));
        if (!d)
            return -ENOMEM;
        c->d = d;
        c->cap = cap;
    }
    struct demotion *x = &c->d[c->n++];
    rt_strlcpy(x->bot, m->bot, sizeof(x->bot));
    x->cond = m->cond;
    x->window_start_us = m->window_start_us;
    x->decided_at_us = m->decided_at_us;
    x->seq = seq;
    x->actuated_seq = 0;
    size_t *slot = latest_slot(c, x->bot);
    c->n_distinct += *slot == NO_INDEX;
    *slot = c->n - 1;
    return 0;
}

/* The demotion recorded at seq, or NULL: d[] is in log order, so by seq. */
static struct demotion *demotion_at(struct enf_core *c, uint64_t seq) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->d[mid].seq == seq)
            return &c->d[mid];
        if (c->d[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The latest demotion of a bot, or NULL. */
static const struct demotion *last_of(const struct enf_core *c, const char *bot) {
    if (c->n_slots == 0)
        return NULL;
    size_t i = *latest_slot(c, bot);
    return i == NO_INDEX ? NULL : &c->d[i];
}

static const struct demotion *same_window(const struct enf_core *c, const struct rt_msg_demote *m) {
    for (size_t i = c->n; i-- > 0;)
        if (c->d[i].cond == m->cond && c->d[i].window_start_us == m->window_start_us &&
            strcmp(c->d[i].bot, m->bot) == 0)
            return &c->d[i];
    return NULL;
}

static int on_record(const struct rt_log_record *rec, void *ud) {
    struct enf_core *c = ud;
    c->stats.records++;
    if (rec->type == RT_LOG_WATCHDOG_SILENT) {
        c->silent = true;
        c->silent_since_us = rec->u.watchdog_silent.since_us;
    } else if (rec->type == RT_LOG_WATCHDOG_BACK) {
        c->silent = false;
    } else if (rec->type == RT_LOG_DEMOTE) {
        c->stats.demotions++;
        return remember(c, &rec->u.demote, rec->seq);
    } else if (rec->type == RT_LOG_ACTUATED) {
        /* the verified log names only demote records here */
        struct demotion *x = demotion_at(c, rec->u.actuated.for_seq);
        c->stats.actuated++;
        if (x && x->actuated_seq == 0)
            x->actuated_seq = rec->seq;
    }
    return 0;
}

/* The readiness view: every bot ratchet demoted, in the bot-registry format
 * (feeds/registry.h), replaced atomically and world-readable. */
static int write_view(struct enf_core *c) {
    struct rt_strbuf b = {0};
    size_t listed = 0;
    rt_sb_puts(&b, "{\"version\":1,\"bots\":[");
    for (size_t i = 0; i < c->n; i++) {
        if (last_of(c, c->d[i].bot) != &c->d[i])
            continue; /* only each bot's latest demotion */
        rt_sb_puts(&b, listed++ ? ",\n{\"id\":" : "\n{\"id\":");
        rt_sb_json_str(&b, c->d[i].bot);
        rt_sb_puts(&b, ",\"readiness\":\"limited_live\",\"since\":");
        rt_sb_json_time(&b, c->d[i].decided_at_us);
        rt_sb_puts(&b, "}");
    }
    rt_sb_puts(&b, "\n]}\n");
    c->stats.limited_bots = listed;
    int r = b.oom ? -ENOMEM : rt_atomic_replace_file(c->opt.readiness_view, b.s, b.len, 0644);
    rt_sb_free(&b);
    if (r < 0)
        rt_log(LOG_ERR, NULL, NULL, NULL, "readiness view %s: %s", c->opt.readiness_view, strerror(-r));
    return r;
}

int enf_core_open(const struct enf_core_options *opt, int64_t now_wall_us, int64_t now_mono_us,
                  struct enf_core **out, char *err, size_t errlen) {
    struct enf_core *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->opt = *opt;
    struct rt_logw_report rep = {0};
    struct rt_logw_options lo = {.ops = opt->log_ops, .rotate_from = opt->previous_key, .trusted = opt->trusted,
                                 .n_trusted = opt->n_trusted};
    int r = rt_logw_open_ex(opt->state_dir, opt->origin, opt->key, opt->policy->sha256, &lo, on_record, c, &c->log,
                            &rep);
    if (r < 0) {
        snprintf(err, errlen, "command log in %s: %s", opt->state_dir, rep.message[0] ? rep.message : strerror(-r));
        enf_core_close(c);
        return r;
    }
    if (rep.torn_tail)
        rt_log(LOG_WARNING, NULL, NULL, NULL,
               "command log: a torn final record (%llu bytes at offset %llu) was kept and marked by signed "
               "record %llu", (unsigned long long)rep.torn_bytes, (unsigned long long)rep.torn_offset,
               (unsigned long long)rep.torn_seq);
    if (rep.rotated)
        rt_log(LOG_NOTICE, RT_MSGID_KEY_ROTATED, NULL, NULL,
               "command log: key rotation recorded as signed record %llu (signed by the previous key); now "
               "signing with key \"%s\". Remove \"previous_key\", list its public key in \"trusted_keys\" "
               "and destroy the previous private key", (unsigned long long)rep.rotation_seq,
               rt_log_key_name(opt->key));
    else if (rep.rotate_from_unused)
        rt_log(LOG_NOTICE, NULL, NULL, NULL, "command log: already signed by the current key; \"previous_key\" "
                                             "is not needed any more (remove it and destroy the private key)");
    c->last_seen_mono_us = now_mono_us; /* give the watchdog a full bound after start */
    c->last_seen_wall_us = now_wall_us;
    r = rt_logw_checkpoint(c->log, now_wall_us);
    if (r == 0)
        write_view(c);
    if (r < 0) {
        snprintf(err, errlen, "command log checkpoint: %s", rt_logw_last_error(c->log));
        enf_core_close(c);
        return r;
    }
    *out = c;
    return 0;
}

void enf_core_close(struct enf_core *c) {
    if (!c)
        return;
    rt_logw_close(c->log);
    free(c->d);
    free(c->latest);
    free(c);
}

/* ---- policy check: never sign what the policy does not justify ---- */

static bool refuse(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool refuse(char *why, size_t whylen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return false;
}

static bool evidence_breaches(const struct rt_cond_policy *p, const struct rt_msg_demote *d) {
    switch (d->cond) {
    case RT_COND_P0_ALERT: return d->evidence_value != 0;
    case RT_COND_RECON_DRIFT:
        /* the tolerance in force came from the evidence or the policy */
        return d->has_threshold && fabs(d->evidence_value) > d->threshold &&
               (!p->has_threshold || d->threshold <= p->threshold || fabs(d->evidence_value) > p->threshold);
    case RT_COND_ERROR_RATE:
    case RT_COND_CVSS:
    default: return d->evidence_value > p->threshold;
    }
}

bool enf_policy_justifies(const struct rt_policy *pol, const struct rt_msg_demote *d, int64_t now_wall_us,
                          char *why, size_t whylen) {
    why[0] = '\0';
    const struct rt_cond_policy *p = rt_policy_cond(pol, d->bot, d->cond);
    const char *want = rt_reason_demote_code((int)d->cond);
    char win[RT_DURATION_BUFSZ], claimed[RT_DURATION_BUFSZ];
    if (!p || !p->enabled)
        return refuse(why, whylen, "condition %s is disabled by the enforcer's policy", rt_cond_name(d->cond));
    if (!want || strcmp(want, d->reason_code) != 0)
        return refuse(why, whylen, "reason code %s does not match condition %s", d->reason_code, rt_cond_name(d->cond));
    rt_duration_format(p->window_us, win);
    rt_duration_format(d->decided_at_us - d->window_start_us, claimed);
    if (d->window_us < p->window_us || d->decided_at_us - d->window_start_us < p->window_us)
        return refuse(why, whylen, "the window (%s) is shorter than the enforcer's policy window %s", claimed, win);
    if (d->decided_at_us > now_wall_us + MAX_FUTURE_US)
        return refuse(why, whylen, "decided_at is in the future");
    if (d->evidence_ts_us > d->decided_at_us + MAX_FUTURE_US)
        return refuse(why, whylen, "the evidence is newer than the decision");
    if (d->evidence_known && !evidence_breaches(p, d))
        return refuse(why, whylen, "the evidence (%g) does not breach the enforcer's policy", d->evidence_value);
    if (!d->evidence_known && p->on_unknown != RT_ON_UNKNOWN_BREACH)
        return refuse(why, whylen, "unknown evidence completes a window only under on_unknown: breach");
    return true;
}

/* ---- handlers ---- */

static void ack(struct rt_msg *reply, enum rt_demote_status st, uint64_t seq) {
    reply->type = RT_MSG_DEMOTE_ACK;
    reply->u.demote_ack.status = st;
    reply->u.demote_ack.seq = seq;
}

int enf_core_demote(struct enf_core *c, const struct rt_msg_demote *req, int64_t now_wall_us, struct rt_msg *reply) {
    const struct demotion *dup = same_window(c, req);
    if (dup) { /* a retry or a duplicate: one record per (bot, window) */
        c->stats.duplicates++;
        ack(reply, RT_DEMOTE_DUPLICATE, dup->seq);
        return 0;
    }
    const struct demotion *last = last_of(c, req->bot);
    if (last && req->window_start_us <= last->decided_at_us) {
        /* this window was open when the bot was demoted: no second demotion.
         * A window that opened later means the promotion gates re-promoted it. */
        c->stats.already_limited++;
        ack(reply, RT_DEMOTE_ALREADY_LIMITED, last->seq);
        return 0;
    }
    char why[RT_PROTO_SUMMARY_MAX + 1];
    if (!enf_policy_justifies(c->opt.policy, req, now_wall_us, why, sizeof(why))) {
        c->stats.refused++;
        rt_log(LOG_ERR, RT_MSGID_DEMOTION_REFUSED, req->bot, rt_cond_name(req->cond), "refusing to sign: %s", why);
        reply->type = RT_MSG_DEMOTE_REFUSED;
        rt_strlcpy(reply->u.demote_refused.reason, why, sizeof(reply->u.demote_refused.reason));
        return 0;
    }
    struct rt_log_record rec = {.type = RT_LOG_DEMOTE};
    rt_log_record_from_demote(&rec, req);
    uint64_t seq;
    int r = rt_logw_append(c->log, &rec, &seq); /* written and fdatasync'd (at the batch's end), or -EIO */
    if (r == 0 && !c->batching)
        r = rt_logw_checkpoint(c->log, now_wall_us);
    if (r < 0) {
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, req->bot, NULL, "command log: %s", rt_logw_last_error(c->log));
        return -EIO;
    }
    c->stats.records++;
    c->stats.demotions++;
    r = remember(c, req, seq);
    if (r < 0)
        return r;
    if (c->batching)
        c->batch_dirty = true; /* checkpoint and view at enf_core_batch_end(), before any ack is sent */
    else
        write_view(c);
    rt_log(LOG_WARNING, RT_MSGID_DEMOTION_ACKED, req->bot, rt_cond_name(req->cond),
           "%s demoted to Limited live: signed record %llu (%s)", req->bot, (unsigned long long)seq, req->reason_code);
    ack(reply, RT_DEMOTE_RECORDED, seq);
    return 0;
}

void enf_core_batch_begin(struct enf_core *c) {
    c->batching = true;
    rt_logw_defer_sync(c->log);
}

int enf_core_batch_end(struct enf_core *c, int64_t now_wall_us) {
    c->batching = false;
    bool dirty = c->batch_dirty;
    c->batch_dirty = false;
    /* one fdatasync for the batch's records, then one checkpoint and view */
    if (rt_logw_sync(c->log) < 0 || (dirty && rt_logw_checkpoint(c->log, now_wall_us) < 0)) {
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, NULL, NULL, "command log: %s", rt_logw_last_error(c->log));
        return -EIO;
    }
    if (dirty)
        write_view(c);
    return 0;
}

int enf_core_readiness(struct enf_core *c, const char *bot, struct rt_msg_readiness *reply) {
    const struct demotion *last = last_of(c, bot);
    reply->readiness = last ? 1 /* limited_live */ : 0;
    reply->since_us = last ? last->decided_at_us : 0;
    reply->seq = last ? last->seq : 0;
    return 0;
}

int enf_core_actuated(struct enf_core *c, const struct rt_msg_actuated *req, int64_t now_wall_us,
                      struct rt_msg_actuated_ack *reply) {
    struct demotion *x = demotion_at(c, req->for_seq);
    if (!x || req->http_status < 200 || req->http_status > 299) {
        c->stats.actuated_invalid++;
        if (!x)
            rt_log(LOG_WARNING, NULL, NULL, NULL, "refusing an actuation of seq %llu: not a demote record of this log",
                   (unsigned long long)req->for_seq);
        else
            rt_log(LOG_WARNING, NULL, NULL, NULL, "refusing an actuation of seq %llu: HTTP %u is not a success",
                   (unsigned long long)req->for_seq, (unsigned)req->http_status);
        return -EINVAL;
    }
    reply->for_seq = req->for_seq;
    if (x->actuated_seq) { /* a re-sent report: one record per demote record */
        c->stats.actuated_duplicates++;
        reply->status = RT_ACTUATED_DUPLICATE;
        reply->seq = x->actuated_seq;
        return 0;
    }
    struct rt_log_record rec = {.type = RT_LOG_ACTUATED};
    rec.u.actuated.for_seq = req->for_seq;
    rec.u.actuated.http_status = req->http_status;
    rt_strlcpy(rec.u.actuated.target, req->target, sizeof rec.u.actuated.target);
    uint64_t seq;
    int r = rt_logw_append(c->log, &rec, &seq); /* written and fdatasync'd, or -EIO */
    if (r == -EINVAL) {
        c->stats.actuated_invalid++;
        return r;
    }
    if (r == 0)
        r = rt_logw_checkpoint(c->log, now_wall_us);
    if (r < 0) {
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, x->bot, NULL, "command log: %s", rt_logw_last_error(c->log));
        return -EIO;
    }
    c->stats.records++;
    c->stats.actuated++;
    x->actuated_seq = seq;
    rt_log(LOG_NOTICE, NULL, x->bot, rt_cond_name(x->cond),
           "the control plane at %s took the demotion of %s (record %llu, HTTP %u): signed record %llu", req->target,
           x->bot, (unsigned long long)req->for_seq, (unsigned)req->http_status, (unsigned long long)seq);
    reply->status = RT_ACTUATED_RECORDED;
    reply->seq = seq;
    return 0;
}

static int append_simple(struct enf_core *c, struct rt_log_record *rec, int64_t now_wall_us) {
    uint64_t seq;
    int r = rt_logw_append(c->log, rec, &seq);
    if (r == 0)
        r = rt_logw_checkpoint(c->log, now_wall_us);
    if (r == 0)
        c->stats.records++;
    else
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, NULL, NULL, "command log: %s", rt_logw_last_error(c->log));
    return r;
}

int enf_core_watchdog_seen(struct enf_core *c, int64_t now_wall_us, int64_t now_mono_us) {
    c->last_seen_mono_us = now_mono_us;
    c->last_seen_wall_us = now_wall_us;
    if (!c->silent)
        return 0;
    struct rt_log_record rec = {.type = RT_LOG_WATCHDOG_BACK};
    rec.u.watchdog_back.silent_since_us = c->silent_since_us;
    rec.u.watchdog_back.back_at_us = now_wall_us;
    int r = append_simple(c, &rec, now_wall_us);
    if (r == 0) {
        c->silent = false;
        rt_log(LOG_NOTICE, NULL, NULL, NULL, "the watchdog is back; recorded watchdog_back");
    }
    return r;
}

int enf_core_tick(struct enf_core *c, int64_t now_wall_us, int64_t now_mono_us, bool checkpoint_due) {
    if (rt_logw_failed(c->log))
        return -EIO;
    if (!c->silent && now_mono_us - c->last_seen_mono_us > c->opt.watchdog_silence_us) {
        /* an enforcement gap must be visible in the signed log */
        struct rt_log_record rec = {.type = RT_LOG_WATCHDOG_SILENT};
        rec.u.watchdog_silent.since_us = c->last_seen_wall_us;
        int r = append_simple(c, &rec, now_wall_us);
        if (r < 0)
            return r;
        c->silent = true;
        c->silent_since_us = c->last_seen_wall_us;
        rt_log(LOG_ERR, NULL, NULL, NULL, "no message from the watchdog for too long; recorded watchdog_silent");
        return 0;
    }
    return checkpoint_due ? rt_logw_checkpoint(c->log, now_wall_us) : 0;
}

void enf_core_get_stats(const struct enf_core *c, struct enf_core_stats *out) {
    *out = c->stats;
    out->watchdog_silent = c->silent;
}

struct rt_logw *enf_core_log(struct enf_core *c) { return c->log; }
