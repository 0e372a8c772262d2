/* Watchdog state; see core.h. */
#include "watchdog/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"

static int64_t clock_us(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

struct rt_now wd_now(void) {
    return (struct rt_now){clock_us(CLOCK_REALTIME), clock_us(CLOCK_BOOTTIME)};
}

/* Least spacing of the evaluations the due timer runs; it grows to twice
 * what the last one cost, so that many distinct completion times cannot
 * keep the loop busy with evaluations of every bot. */
#define DUE_MIN_GAP_US 10000

static void arm_due(struct wd_core *c) {
    int64_t t = rt_engine_next_fire_mono(c->engine);
    if (!c->due || t == INT64_MAX)
        return;
    if (t < c->due_last_us + c->due_gap_us)
        t = c->due_last_us + c->due_gap_us;
    if (evtimer_pending(c->due, NULL) && c->due_at_us <= t)
        return;
    int64_t in = t - wd_now().mono_us;
    if (in < 0)
        in = 0;
    struct timeval tv = {.tv_sec = in / RT_USEC_PER_SEC, .tv_usec = in % RT_USEC_PER_SEC};
    if (evtimer_add(c->due, &tv) == 0)
        c->due_at_us = t;
}

static void on_due(evutil_socket_t fd, short what, void *ud) {
    struct wd_core *c = ud;
    (void)fd;
    (void)what;
    struct rt_now now = wd_now();
    c->due_last_us = now.mono_us;
    if (wd_core_tick(c, now) < 0 && c->failed)
        return; /* the daemon's own tick exits; no re-arming meanwhile */
    int64_t cost = wd_now().mono_us - now.mono_us;
    c->due_gap_us = 2 * cost > DUE_MIN_GAP_US ? 2 * cost : DUE_MIN_GAP_US;
    arm_due(c);
}

static void format_summary(const struct rt_decision *d, char *buf, size_t cap) {
    char ws[RT_TIME_BUFSZ], win[RT_DURATION_BUFSZ], unk[RT_DURATION_BUFSZ], ets[RT_TIME_BUFSZ];
    char value[48] = "unknown", thr[48] = "";
    rt_time_format(d->window_start_us, ws);
    rt_time_format(d->evidence_ts_us, ets);
    rt_duration_format(d->window_us, win);
    rt_duration_format(d->unknown_us, unk);
    if (d->evidence_known) {
        if (d->cond == RT_COND_P0_ALERT)
            snprintf(value, sizeof(value), "%s", d->evidence_value != 0 ? "active" : "inactive");
        else
            snprintf(value, sizeof(value), "%g", d->evidence_value);
    }
    if (d->has_threshold)
        snprintf(thr, sizeof(thr), " (limit %g)", d->threshold);
    snprintf(buf, cap, "%s in breach for %s since %s; last evidence %s%s at %s; unknown for %s",
             rt_cond_name(d->cond), win, ws, value, thr, ets, unk);
}

static void on_decision(const struct rt_decision *d, void *ud) {
    struct wd_core *c = ud;
    char summary[512];
    format_summary(d, summary, sizeof(summary));
    c->decisions++;
    rt_log(LOG_WARNING, RT_MSGID_DEMOTION_DECIDED, d->bot, rt_cond_name(d->cond),
           "demoting %s to Limited live (%s): %s", d->bot, d->reason_code, summary);
    int r = rt_handoff_submit(c->handoff, d, summary);
    if (r < 0) {
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, d->bot, NULL,
               "cannot make the demotion of %s durable: %s", d->bot, strerror(-r));
        c->failed = true;
    }
}

/* The window store's pre-commit hook: decisions deferred by wd_core_tick
 * become durable (and are sent) before any "fired" state does. */
static int flush_handoff(void *ud) {
    struct wd_core *c = ud;
    int r = rt_handoff_flush(c->handoff);
    if (r < 0) {
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, NULL, NULL, "cannot make the demotions durable: %s",
               strerror(-r));
        c->failed = true;
    }
    return r;
}

/* ---- P0 alert tracker and its journal ("alerts": key = bot id) ---- */

static int restore_p0(const struct rt_journal_record *rec, void *ud) {
    struct wd_core *c = ud;
    char bot[RT_BOT_ID_MAX + 1];
    if (rec->key_len == 0 || rec->key_len > RT_BOT_ID_MAX)
        return -EBADMSG;
    memcpy(bot, rec->key, rec->key_len);
    bot[rec->key_len] = '\0';
    if (rec->value_len == 0)
        return 0;
    return rt_p0track_decode_bot(c->p0, bot, rec->value, rec->value_len);
}

static void p0_changed(const char *bot, void *ud) {
    struct wd_core *c = ud;
    static uint8_t buf[RT_P0_RECORD_MAX]; /* single-threaded daemon */
    int n = rt_p0track_encode_bot(c->p0, bot, buf, sizeof(buf));
    int r = n == -ENOENT ? rt_journal_delete(c->p0_journal, bot, strlen(bot))
                         : n < 0 ? n : rt_journal_put(c->p0_journal, bot, strlen(bot), buf, (size_t)n);
    if (r < 0 && c->p0_put_error == 0)
        c->p0_put_error = r;
}

struct p0_ctx {
    struct wd_core *c;
    struct rt_now now;
    int err;
};

static void p0_observe(const struct rt_obs *obs, void *ud) {
    struct p0_ctx *x = ud;
    struct rt_evidence ev = {.kind = RT_EVIDENCE_OBS, .ts_us = obs->ts_us, .cond = RT_COND_P0_ALERT,
                             .known = obs->known, .value = obs->value};
    rt_strlcpy(ev.bot, obs->bot, sizeof(ev.bot));
    rt_strlcpy(ev.source, "alertmanager", sizeof(ev.source));
    int r = wd_core_observe(x->c, &ev, x->now);
    if (r < 0 && x->err == 0)
        x->err = r;
}

int wd_core_p0_webhook(struct wd_core *c, const struct rt_am_alert *alerts, size_t n, struct rt_now now) {
    struct p0_ctx x = {c, now, 0};
    int r = rt_p0track_webhook(c->p0, alerts, n, p0_observe, &x, NULL);
    if (r == -ENOSPC)
        rt_log(LOG_WARNING, NULL, NULL, NULL, "P0 tracker full: some alerts were refused (their bots stay active)");
    return r < 0 && r != -ENOSPC ? r : x.err;
}

uint64_t wd_core_p0_poll_begin(struct wd_core *c) { return rt_p0track_poll_begin(c->p0); }

void wd_core_p0_poll_abort(struct wd_core *c, uint64_t token) { rt_p0track_poll_abort(c->p0, token); }

int wd_core_p0_poll_end(struct wd_core *c, uint64_t token, const struct rt_am_alert *alerts, size_t n,
                        int64_t polled_at_us, uint64_t keep_since, struct rt_now now) {
    struct p0_ctx x = {c, now, 0};
    if (keep_since)
        rt_p0track_poll_partial(c->p0, token, keep_since);
    const char **bots = NULL;
    if (c->registry.n && !(bots = calloc(c->registry.n, sizeof(*bots))))
        return -ENOMEM;
    for (size_t i = 0; i < c->registry.n; i++)
        bots[i] = c->registry.v[i].id;
    int r = rt_p0track_poll_end(c->p0, token, alerts, n, polled_at_us, bots, c->registry.n, p0_observe, &x, NULL);
    free(bots);
    return r < 0 && r != -ENOSPC ? r : x.err;
}

static int ensure_dir(const char *path) {
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int wd_core_open(struct wd_core *c, struct event_base *base, const struct rt_policy *policy,
                 const struct wd_core_options *opt, char *err, size_t errlen) {
    memset(c, 0, sizeof(*c));
    c->policy = policy;
    c->engine = rt_engine_new(policy);
    if (!c->engine)
        return -ENOMEM;
    c->due = evtimer_new(base, on_due, c);
    c->due_gap_us = DUE_MIN_GAP_US;
    if (!c->due)
        return -ENOMEM;
    int r = ensure_dir(opt->state_dir);
    if (r < 0) {
        snprintf(err, errlen, "state directory %s: %s", opt->state_dir, strerror(-r));
        return r;
    }
    char boot[RT_BOOT_ID_MAX + 1] = "";
    if ((r = rt_boot_id(boot)) < 0) {
        boot[0] = '\0';
        rt_log(LOG_WARNING, NULL, NULL, NULL, "boot id: %s; every start is treated as a new boot (windows keep "
               "their wall-clock times, a clock step during a restart goes undetected)", strerror(-r));
    }
    struct rt_journal_load_report rep = {0};
    r = rt_winstore_open(opt->state_dir, c->engine, boot, wd_now(), NULL, &c->store, &rep);
    if (r < 0) {
        snprintf(err, errlen, "window store in %s: %s", opt->state_dir,
                 rep.message[0] ? rep.message : strerror(-r));
        return r;
    }
    if (rep.torn_tail)
        rt_log(LOG_WARNING, RT_MSGID_STATE_STORE_ERROR, NULL, NULL,
               "window store: dropped a torn final record (%llu bytes at offset %llu), the "
               "signature of a crash mid-write", (unsigned long long)rep.torn_bytes,
               (unsigned long long)rep.torn_offset);
    struct rt_handoff_options ho = {.socket_path = opt->enforcer_socket, .state_dir = opt->state_dir,
                                    .retry_min_us = opt->handoff_retry_min_us,
                                    .retry_max_us = opt->handoff_retry_min_us ? 4 * opt->handoff_retry_min_us : 0};
    memset(&rep, 0, sizeof(rep));
    r = rt_handoff_open(base, &ho, &c->handoff, &rep);
    if (r < 0) {
        snprintf(err, errlen, "pending demotions in %s: %s", opt->state_dir,
                 rep.message[0] ? rep.message : strerror(-r));
        return r;
    }
    rt_winstore_set_pre_commit(c->store, flush_handoff, c);
    c->p0 = rt_p0track_new();
    if (!c->p0)
        return -ENOMEM;
    memset(&rep, 0, sizeof(rep));
    r = rt_journal_open(opt->state_dir, "alerts", NULL, restore_p0, c, &c->p0_journal, &rep);
    if (r < 0) {
        snprintf(err, errlen, "P0 alert store in %s: %s", opt->state_dir,
                 rep.message[0] ? rep.message : strerror(-r));
        return r;
    }
    rt_p0track_set_change_hook(c->p0, p0_changed, c);
    char path[4096];
    snprintf(path, sizeof(path), "%s/evidence.jsonl", opt->state_dir);
    r = rt_evlog_open(path, opt->evlog_max_bytes, opt->evlog_keep, &c->evlog);
    if (r < 0) {
        snprintf(err, errlen, "evidence log %s: %s", path, strerror(-r));
        return r;
    }
    return 0;
}

void wd_core_close(struct wd_core *c) {
    if (c->store)
        rt_winstore_commit(c->store);
    rt_winstore_close(c->store);
    rt_handoff_close(c->handoff);
    rt_journal_close(c->p0_journal);
    rt_p0track_free(c->p0);
    rt_evlog_close(c->evlog);
    if (c->due)
        event_free(c->due);
    rt_engine_free(c->engine);
    rt_registry_free(&c->registry);
    memset(c, 0, sizeof(*c));
}

bool wd_core_bot_known(const struct wd_core *c, const char *bot) {
    return c->have_registry && rt_registry_find(&c->registry, bot) != NULL;
}

static void log_window_change(const struct rt_evidence *ev, bool was_open, const struct rt_cond_status *st) {
    if (was_open == st->window_open)
        return;
    const char *cond = rt_cond_name(ev->cond);
    if (st->window_open) {
        char ws[RT_TIME_BUFSZ];
        rt_time_format(st->window_start_us, ws);
        rt_log(LOG_NOTICE, RT_MSGID_WINDOW_OPENED, ev->bot, cond, "%s: %s window opened at %s",
               ev->bot, cond, ws);
    } else {
        rt_log(LOG_NOTICE, RT_MSGID_WINDOW_CLOSED, ev->bot, cond, "%s: %s window closed", ev->bot, cond);
    }
}

int wd_core_observe(struct wd_core *c, const struct rt_evidence *ev, struct rt_now now) {
    if (c->failed)
        return -EIO;
    if (!wd_core_bot_known(c, ev->bot)) {
        c->ignored_unknown_bot++;
        return 1;
    }
    struct rt_obs obs;
    struct rt_cond_status before = {0}, after = {0};
    rt_evidence_to_obs(ev, &obs);
    rt_engine_cond_status(c->engine, ev->bot, ev->cond, now, &before);
    int r = rt_engine_observe(c->engine, &obs, now, on_decision, c);
    if (r < 0) {
        c->refused_observations++;
        return r;
    }
    c->observations++;
    if (rt_evlog_append(c->evlog, ev) < 0)
        rt_log(LOG_ERR, NULL, ev->bot, NULL, "evidence log: cannot append");
    rt_engine_cond_status(c->engine, ev->bot, ev->cond, now, &after);
    log_window_change(ev, before.window_open, &after);
    arm_due(c);
    return c->failed ? -EIO : 0;
}

struct p0_dump {
    struct wd_core *c;
    struct rt_journal_snapshot *snap;
    int err;
};

static void dump_p0_bot(const char *bot, void *ud) {
    struct p0_dump *d = ud;
    static uint8_t buf[RT_P0_RECORD_MAX];
    int n = rt_p0track_encode_bot(d->c->p0, bot, buf, sizeof(buf));
    int r = n < 0 ? n : rt_journal_snapshot_add(d->snap, bot, strlen(bot), buf, (size_t)n);
    if (r < 0 && d->err == 0)
        d->err = r;
}

static int dump_p0(struct rt_journal_snapshot *snap, void *ud) {
    struct p0_dump d = {ud, snap, 0};
    rt_p0track_foreach_bot(d.c->p0, dump_p0_bot, &d);
    return d.err;
}

int wd_core_commit(struct wd_core *c) {
    if (c->failed)
        return -EIO;
    rt_evlog_flush(c->evlog);
    int r = c->p0_put_error ? c->p0_put_error : rt_journal_commit(c->p0_journal);
    if (r == 0 && rt_journal_should_compact(c->p0_journal))
        r = rt_journal_compact(c->p0_journal, dump_p0, c);
    if (r == 0)
        r = rt_winstore_commit(c->store);
    if (r < 0) {
        c->store_errors++;
        c->failed = true;
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, NULL, NULL, "state store failed: %s %s",
               rt_winstore_last_error(c->store), rt_journal_last_error(c->p0_journal));
        return -EIO;
    }
    c->store_commits++;
    return 0;
}

int wd_core_tick(struct wd_core *c, struct rt_now now) {
    if (c->failed)
        return -EIO;
    /* windows that complete together are handed off with one fdatasync:
     * the window store's commit (in wd_core_commit) flushes them first */
    rt_handoff_defer(c->handoff);
    rt_engine_advance(c->engine, now, on_decision, c);
    int r = wd_core_commit(c);
    arm_due(c);
    return r;
}

/* A registry entry changes the engine only when it is news, so that a
 * registry still saying "general_live" cannot undo ratchet's own demotion:
 * its readiness differs from the engine's, and either the entry changed
 * since the previous load, or its "since" is newer than the engine's last
 * change, or the engine never saw a change for that bot. */
static void apply_entry(struct wd_core *c, const struct rt_registry_entry *e, struct rt_now now) {
    rt_engine_add_bot(c->engine, e->id); /* shown in status before any evidence */
    enum rt_readiness cur = rt_engine_readiness(c->engine, e->id);
    if (cur == e->readiness)
        return;
    int64_t since = rt_engine_readiness_since(c->engine, e->id);
    const struct rt_registry_entry *prev = c->have_registry ? rt_registry_find(&c->registry, e->id) : NULL;
    bool edited = prev && prev->readiness != e->readiness;
    bool newer = e->has_since && e->since_us > since;
    if (!edited && !newer && since != INT64_MIN)
        return;
    int64_t ts = e->has_since ? e->since_us : now.wall_us;
    if (rt_engine_set_readiness(c->engine, e->id, e->readiness, ts, now, on_decision, c) == 0)
        rt_log(LOG_NOTICE, NULL, e->id, NULL, "%s is now %s (bot registry)", e->id,
               rt_readiness_name(e->readiness));
}

int wd_core_set_registry(struct wd_core *c, struct rt_registry *reg, struct rt_now now) {
    for (size_t i = 0; i < reg->n; i++)
        apply_entry(c, &reg->v[i], now);
    rt_registry_free(&c->registry);
    c->registry = *reg;
    memset(reg, 0, sizeof(*reg));
    c->have_registry = true;
    return wd_core_commit(c);
}
