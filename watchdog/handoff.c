/* Watchdog side of the enforcer channel; see handoff.h and docs/protocol.md.
 * Connection states: CONNECTING -> AWAIT_HELLO_OK -> READY. In each state
 * only the listed message types are accepted; anything else drops the
 * connection (counted) and reconnects with backoff. */
#include "watchdog/handoff.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"
#include "watchdog/fetch.h" /* rt_backoff_next */

#define STORE_NAME "pending"
#define MAX_PENDING 100000
#define ACTUATED_RETRY_MIN_MS 1000

enum conn_state { DISCONNECTED, CONNECTING, AWAIT_HELLO_OK, READY };

struct pending {
    struct rt_msg_demote msg;
    /* monotonic: when the window completed (decided_at) and when the
     * decision was made; 0 for requests restored at start-up (not timed) */
    int64_t complete_mono_us, decided_mono_us;
    bool in_flight, refused;
    int64_t retry_at_us; /* monotonic; for refused requests */
    char refusal[RT_PROTO_SUMMARY_MAX + 1];
};

struct actuation {
    struct rt_msg_actuated msg;
    bool in_flight;
    int64_t retry_at_us; /* monotonic */
    int64_t backoff_ms;
    unsigned drops;
};

struct rt_handoff {
    struct event_base *base;
    struct rt_handoff_options opt;
    char *socket_path;
    struct rt_journal *journal;
    struct pending *q;
    size_t n, cap;
    struct actuation *aq; /* in the order reported */
    size_t an, acap;
    struct bufferevent *bev;
    enum conn_state state;
    struct event *timer;     /* reconnect / heartbeat / refused retries */
    int64_t backoff_us;
    int64_t next_heartbeat_us;
    struct rt_handoff_stats stats;
    bool defer, unsynced; /* rt_handoff_defer: submissions not yet committed nor sent */
};

const int64_t rt_handoff_latency_le_us[RT_HANDOFF_LATENCY_BUCKETS] = {
    1000, 5000, 10000, 25000, 50000, 100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000};

static void latency_add(struct rt_handoff_latency *l, int64_t us) {
    if (us < 0)
        us = 0;
    for (int i = 0; i < RT_HANDOFF_LATENCY_BUCKETS; i++)
        l->le[i] += us <= rt_handoff_latency_le_us[i];
    l->count++;
    l->sum_us += us;
}

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

void rt_handoff_request_id(const char *bot, enum rt_cond cond, int64_t window_start_us,
                           uint8_t out[RT_PROTO_REQUEST_ID]) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    uint8_t buf[16 + RT_BOT_ID_MAX + 1 + 1 + 8];
    size_t n = 0;
    memcpy(buf, "ratchet-demote-1", 16);
    n = 16;
    size_t bl = strlen(bot);
    memcpy(buf + n, bot, bl + 1);
    n += bl + 1;
    buf[n++] = (uint8_t)cond;
    for (int i = 0; i < 8; i++)
        buf[n++] = (uint8_t)((uint64_t)window_start_us >> (8 * i));
    SHA256(buf, n, md);
    memcpy(out, md, RT_PROTO_REQUEST_ID);
}

static struct pending *find(struct rt_handoff *h, const uint8_t id[RT_PROTO_REQUEST_ID]) {
    for (size_t i = 0; i < h->n; i++)
        if (memcmp(h->q[i].msg.request_id, id, RT_PROTO_REQUEST_ID) == 0)
            return &h->q[i];
    return NULL;
}

static int queue_add(struct rt_handoff *h, const struct rt_msg_demote *d) {
    if (h->n == MAX_PENDING)
        return -ENOSPC;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct pending *q = realloc(h->q, cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        h->q = q;
        h->cap = cap;
    }
    h->q[h->n++] = (struct pending){.msg = *d};
    h->stats.pending = h->n;
    return 0;
}

static void queue_remove(struct rt_handoff *h, struct pending *p) {
    size_t i = (size_t)(p - h->q);
    memmove(&h->q[i], &h->q[i + 1], (h->n - i - 1) * sizeof(*h->q));
    h->n--;
    h->stats.pending = h->n;
}

static int restore_record(const struct rt_journal_record *rec, void *ud) {
    struct rt_handoff *h = ud;
    if (rec->key_len != RT_PROTO_REQUEST_ID)
        return -EBADMSG;
    struct pending *p = find(h, rec->key);
    if (rec->value_len == 0) { /* acknowledged */
        if (p)
            queue_remove(h, p);
        return 0;
    }
    struct rt_msg m;
    char err[128];
    if (rt_proto_decode(rec->value, rec->value_len, &m, err, sizeof(err)) < 0 || m.type != RT_MSG_DEMOTE ||
        memcmp(m.u.demote.request_id, rec->key, RT_PROTO_REQUEST_ID) != 0)
        return -EBADMSG;
    return p ? 0 : queue_add(h, &m.u.demote);
}

/* ---- connection ---- */

static void schedule(struct rt_handoff *h, int64_t in_us) {
    struct timeval tv = {.tv_sec = in_us / RT_USEC_PER_SEC, .tv_usec = in_us % RT_USEC_PER_SEC};
    evtimer_add(h->timer, &tv);
}

static void drop_connection(struct rt_handoff *h, const char *why) {
    if (h->bev) {
        bufferevent_free(h->bev);
        h->bev = NULL;
    }
    if (h->state == READY || h->state == AWAIT_HELLO_OK)
        rt_log(LOG_WARNING, NULL, NULL, NULL, "enforcer connection lost: %s", why);
    h->state = DISCONNECTED;
    h->stats.connected = false;
    for (size_t i = 0; i < h->n; i++)
        h->q[i].in_flight = false;
    for (size_t i = 0; i < h->an; i++) {
        struct actuation *a = &h->aq[i];
        if (!a->in_flight)
            continue;
        /* it may be what the enforcer refused: do not let it block the demotions */
        a->in_flight = false;
        a->drops++;
        a->backoff_ms = rt_backoff_next(a->backoff_ms, ACTUATED_RETRY_MIN_MS, h->opt.actuated_retry_max_us / 1000,
                                        a->msg.for_seq * 7919 + a->drops);
        a->retry_at_us = mono_us() + a->backoff_ms * 1000;
        h->stats.actuations_dropped++;
    }
    h->backoff_us = h->backoff_us ? h->backoff_us * 2 : h->opt.retry_min_us;
    if (h->backoff_us > h->opt.retry_max_us)
        h->backoff_us = h->opt.retry_max_us;
    schedule(h, h->backoff_us);
}

static int send_msg(struct rt_handoff *h, const struct rt_msg *m) {
    uint8_t buf[RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD];
    int n = rt_proto_encode(m, buf, sizeof(buf));
    if (n < 0)
        return n;
    return bufferevent_write(h->bev, buf, (size_t)n) == 0 ? 0 : -EIO;
}

/* One ACTUATED at a time, so that a lost connection is charged to it. */
static void send_actuation(struct rt_handoff *h, int64_t now) {
    for (size_t i = 0; i < h->an; i++)
        if (h->aq[i].in_flight)
            return;
    for (size_t i = 0; i < h->an && h->state == READY; i++) {
        struct actuation *a = &h->aq[i];
        if (now < a->retry_at_us)
            continue;
        struct rt_msg m = {.type = RT_MSG_ACTUATED, .u.actuated = a->msg};
        if (send_msg(h, &m) < 0) {
            drop_connection(h, "write failed");
            return;
        }
        a->in_flight = true;
        return;
    }
}

static void send_pending(struct rt_handoff *h) {
    if (h->unsynced) /* a deferred submission is not durable yet: rt_handoff_flush sends */
        return;
    int64_t now = mono_us();
    for (size_t i = 0; i < h->n && h->state == READY; i++) {
        struct pending *p = &h->q[i];
        if (p->in_flight || (p->refused && now < p->retry_at_us))
            continue;
        struct rt_msg m = {.type = RT_MSG_DEMOTE, .u.demote = p->msg};
        if (send_msg(h, &m) < 0) {
            drop_connection(h, "write failed");
            return;
        }
        p->in_flight = true;
    }
    if (h->state == READY)
        send_actuation(h, now);
}

static int delete_acked(struct rt_handoff *h, struct pending *p) {
    int r = rt_journal_delete(h->journal, p->msg.request_id, RT_PROTO_REQUEST_ID);
    if (r == 0)
        r = rt_journal_commit(h->journal);
    if (r < 0) /* stays pending: the enforcer dedups the re-send */
        rt_log(LOG_ERR, RT_MSGID_STATE_STORE_ERROR, p->msg.bot, NULL, "pending store: %s",
               rt_journal_last_error(h->journal));
    return r;
}

static void on_ack(struct rt_handoff *h, const struct rt_msg_demote_ack *a) {
    struct pending *p = find(h, a->request_id);
    if (!p)
        return; /* an ack for a request we already removed: harmless */
    h->stats.acked++;
    h->stats.duplicates += a->status == RT_DEMOTE_DUPLICATE;
    h->stats.already_limited += a->status == RT_DEMOTE_ALREADY_LIMITED;
    h->stats.last_ack_us = wall_us();
    if (p->decided_mono_us) {
        int64_t now = mono_us();
        latency_add(&h->stats.since_complete, now - p->complete_mono_us);
        latency_add(&h->stats.since_decision, now - p->decided_mono_us);
    }
    rt_log(LOG_NOTICE, RT_MSGID_DEMOTION_ACKED, p->msg.bot, rt_cond_name(p->msg.cond),
           "enforcer acknowledged demotion of %s (log record %llu%s)", p->msg.bot,
           (unsigned long long)a->seq,
           a->status == RT_DEMOTE_RECORDED ? "" : a->status == RT_DEMOTE_DUPLICATE ? ", duplicate" : ", already limited");
    if (delete_acked(h, p) == 0)
        queue_remove(h, p);
    else
        p->in_flight = false;
}

static void on_refused(struct rt_handoff *h, const struct rt_msg_demote_refused *m) {
    struct pending *p = find(h, m->request_id);
    if (!p)
        return;
    h->stats.refused++;
    p->in_flight = false;
    p->refused = true;
    p->retry_at_us = mono_us() + h->opt.refused_retry_us;
    rt_strlcpy(p->refusal, m->reason, sizeof(p->refusal));
    rt_log(LOG_ERR, RT_MSGID_DEMOTION_REFUSED, p->msg.bot, rt_cond_name(p->msg.cond),
           "enforcer refused demotion of %s: %s", p->msg.bot, m->reason);
}

static struct actuation *find_actuation(struct rt_handoff *h, uint64_t for_seq) {
    for (size_t i = 0; i < h->an; i++)
        if (h->aq[i].msg.for_seq == for_seq)
            return &h->aq[i];
    return NULL;
}

static void on_actuated_ack(struct rt_handoff *h, const struct rt_msg_actuated_ack *a) {
    struct actuation *x = find_actuation(h, a->for_seq);
    if (!x)
        return; /* answered after a reconnect re-sent it: harmless */
    h->stats.actuations_acked++;
    h->stats.actuations_duplicates += a->status == RT_ACTUATED_DUPLICATE;
    rt_log(LOG_INFO, NULL, NULL, NULL, "enforcer recorded the actuation of log record %llu (record %llu%s)",
           (unsigned long long)a->for_seq, (unsigned long long)a->seq,
           a->status == RT_ACTUATED_DUPLICATE ? ", duplicate" : "");
    size_t i = (size_t)(x - h->aq);
    memmove(&h->aq[i], &h->aq[i + 1], (h->an - i - 1) * sizeof(*h->aq));
    h->an--;
    h->stats.actuations_pending = h->an;
    send_actuation(h, mono_us());
}

/* Returns false if the message is not allowed in the current state. */
static bool dispatch(struct rt_handoff *h, const struct rt_msg *m) {
    if (h->state == AWAIT_HELLO_OK) {
        if (m->type != RT_MSG_HELLO_OK || m->u.hello_ok.version != 1)
            return false;
        h->state = READY;
        h->stats.connected = true;
        h->stats.connects++;
        h->backoff_us = 0;
        rt_log(LOG_INFO, NULL, NULL, NULL, "connected to the enforcer at %s", h->socket_path);
        send_pending(h);
        return true;
    }
    switch (m->type) {
    case RT_MSG_DEMOTE_ACK: on_ack(h, &m->u.demote_ack); return true;
    case RT_MSG_DEMOTE_REFUSED: on_refused(h, &m->u.demote_refused); return true;
    case RT_MSG_ACTUATED_ACK: on_actuated_ack(h, &m->u.actuated_ack); return true;
    case RT_MSG_HEARTBEAT_ACK: return true;
    default: return false;
    }
}

static void on_read(struct bufferevent *bev, void *ud) {
    struct rt_handoff *h = ud;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        uint8_t hdr[RT_PROTO_HEADER];
        if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
            return;
        int len = rt_proto_frame_length(hdr, sizeof(hdr));
        if (len < 0) {
            h->stats.protocol_errors++;
            drop_connection(h, "bad frame from the enforcer");
            return;
        }
        if (evbuffer_get_length(in) < (size_t)len)
            return;
        uint8_t buf[RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD];
        evbuffer_remove(in, buf, (size_t)len);
        struct rt_msg m;
        char err[128];
        if (rt_proto_decode(buf, (size_t)len, &m, err, sizeof(err)) < 0 || !dispatch(h, &m)) {
            h->stats.protocol_errors++;
            drop_connection(h, "unexpected message from the enforcer");
            return;
        }
        if (!h->bev)
            return;
    }
}

static void on_event(struct bufferevent *bev, short what, void *ud) {
    struct rt_handoff *h = ud;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        struct rt_msg m = {.type = RT_MSG_HELLO};
        m.u.hello.version = 1;
        rt_strlcpy(m.u.hello.peer, "ratchet-watchdog", sizeof(m.u.hello.peer));
        h->state = AWAIT_HELLO_OK;
        if (send_msg(h, &m) < 0)
            drop_connection(h, "write failed");
        return;
    }
    if (h->state == CONNECTING)
        h->stats.connect_failures++;
    drop_connection(h, what & BEV_EVENT_EOF ? "closed by the enforcer" : "socket error");
}

static void connect_enforcer(struct rt_handoff *h) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!rt_strlcpy(sa.sun_path, h->socket_path, sizeof(sa.sun_path)))
        return;
    h->bev = bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!h->bev) {
        drop_connection(h, "out of memory");
        return;
    }
    bufferevent_setcb(h->bev, on_read, NULL, on_event, h);
    bufferevent_enable(h->bev, EV_READ | EV_WRITE);
    h->state = CONNECTING;
    if (bufferevent_socket_connect(h->bev, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        h->stats.connect_failures++;
        drop_connection(h, "connect failed");
    }
}

static void on_timer(evutil_socket_t fd, short what, void *ud) {
    struct rt_handoff *h = ud;
    (void)fd;
    (void)what;
    int64_t now = mono_us();
    if (h->state == DISCONNECTED) {
        connect_enforcer(h);
    } else if (h->state == READY) {
        if (now >= h->next_heartbeat_us) {
            struct rt_msg m = {.type = RT_MSG_HEARTBEAT};
            m.u.heartbeat.ts_us = wall_us();
            h->next_heartbeat_us = now + h->opt.heartbeat_us;
            if (send_msg(h, &m) < 0) {
                drop_connection(h, "write failed");
                return;
            }
        }
        send_pending(h); /* refused requests whose retry time came */
    }
    if (!evtimer_pending(h->timer, NULL))
        schedule(h, RT_USEC_PER_SEC);
}

/* ---- public ---- */

int rt_handoff_open(struct event_base *base, const struct rt_handoff_options *opt,
                    struct rt_handoff **out, struct rt_journal_load_report *report) {
    struct rt_handoff *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->base = base;
    h->opt = *opt;
    h->opt.heartbeat_us = opt->heartbeat_us ? opt->heartbeat_us : 30 * RT_USEC_PER_SEC;
    h->opt.retry_min_us = opt->retry_min_us ? opt->retry_min_us : RT_USEC_PER_SEC / 2;
    h->opt.retry_max_us = opt->retry_max_us ? opt->retry_max_us : 10 * RT_USEC_PER_SEC; /* a local socket: retry often */
    h->opt.refused_retry_us = opt->refused_retry_us ? opt->refused_retry_us : 3600 * RT_USEC_PER_SEC;
    h->opt.actuated_retry_max_us = opt->actuated_retry_max_us ? opt->actuated_retry_max_us : 3600 * RT_USEC_PER_SEC;
    h->socket_path = strdup(opt->socket_path);
    h->timer = evtimer_new(base, on_timer, h);
    int r = h->socket_path && h->timer ? 0 : -ENOMEM;
    if (r == 0)
        r = rt_journal_open(opt->state_dir, STORE_NAME, opt->ops, restore_record, h, &h->journal, report);
    if (r < 0) {
        rt_handoff_close(h);
        return r;
    }
    h->stats.pending = h->n;
    schedule(h, 0); /* connect now */
    *out = h;
    return 0;
}

int rt_handoff_submit(struct rt_handoff *h, const struct rt_decision *d, const char *summary) {
    struct rt_msg m = {.type = RT_MSG_DEMOTE};
    struct rt_msg_demote *x = &m.u.demote;
    rt_handoff_request_id(d->bot, d->cond, d->window_start_us, x->request_id);
    if (find(h, x->request_id))
        return 1;
    rt_strlcpy(x->bot, d->bot, sizeof(x->bot));
    x->cond = d->cond;
    rt_strlcpy(x->reason_code, d->reason_code, sizeof(x->reason_code));
    x->window_start_us = d->window_start_us;
    x->decided_at_us = d->ts_us;
    x->window_us = d->window_us;
    x->unknown_us = d->unknown_us;
    x->evidence_ts_us = d->evidence_ts_us;
    x->evidence_known = d->evidence_known;
    x->evidence_value = d->evidence_value;
    x->has_threshold = d->has_threshold;
    x->threshold = d->threshold;
    rt_strlcpy(x->summary, summary ? summary : "", sizeof(x->summary));
    uint8_t buf[RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD];
    int n = rt_proto_encode(&m, buf, sizeof(buf));
    if (n < 0)
        return n;
    int r = rt_journal_put(h->journal, x->request_id, RT_PROTO_REQUEST_ID, buf, (size_t)n);
    if (r == 0 && !h->defer)
        r = rt_journal_commit(h->journal);
    if (r < 0)
        return r;
    r = queue_add(h, x);
    if (r < 0)
        return r;
    /* decided_at is wall time in the past (the engine reports completions
     * when it evaluates); carried onto the monotonic clock now */
    int64_t lag = wall_us() - d->ts_us, now = mono_us();
    h->q[h->n - 1].decided_mono_us = now;
    h->q[h->n - 1].complete_mono_us = now - (lag > 0 ? lag : 0);
    h->stats.submitted++;
    if (h->defer) {
        h->unsynced = true; /* sent by rt_handoff_flush, once durable */
        return 0;
    }
    send_pending(h);
    return 0;
}

void rt_handoff_defer(struct rt_handoff *h) { h->defer = true; }

int rt_handoff_flush(struct rt_handoff *h) {
    h->defer = false;
    if (!h->unsynced)
        return 0;
    int r = rt_journal_commit(h->journal);
    if (r < 0)
        return r;
    h->unsynced = false;
    send_pending(h);
    return 0;
}

int rt_handoff_actuated(struct rt_handoff *h, uint64_t for_seq, unsigned http_status, const char *target) {
    struct rt_msg m = {.type = RT_MSG_ACTUATED};
    m.u.actuated.for_seq = for_seq;
    m.u.actuated.http_status = (uint16_t)http_status;
    if (http_status > UINT16_MAX || !target || !rt_strlcpy(m.u.actuated.target, target, sizeof(m.u.actuated.target)))
        return -EINVAL;
    uint8_t buf[RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD];
    if (rt_proto_encode(&m, buf, sizeof(buf)) < 0) /* what the enforcer would refuse */
        return -EINVAL;
    if (find_actuation(h, for_seq))
        return 1;
    if (h->an == RT_HANDOFF_MAX_ACTUATIONS)
        return -ENOSPC;
    if (h->an == h->acap) {
        size_t cap = h->acap ? h->acap * 2 : 16;
        struct actuation *q = realloc(h->aq, cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        h->aq = q;
        h->acap = cap;
    }
    h->aq[h->an++] = (struct actuation){.msg = m.u.actuated};
    h->stats.actuations_pending = h->an;
    if (h->state == READY)
        send_actuation(h, mono_us());
    return 0;
}

void rt_handoff_get_stats(const struct rt_handoff *h, struct rt_handoff_stats *out) { *out = h->stats; }

void rt_handoff_foreach_pending(const struct rt_handoff *h,
                                void (*fn)(const struct rt_msg_demote *d, bool refused,
                                           const char *refusal, void *ud),
                                void *ud) {
    for (size_t i = 0; i < h->n; i++)
        fn(&h->q[i].msg, h->q[i].refused, h->q[i].refusal, ud);
}

void rt_handoff_close(struct rt_handoff *h) {
    if (!h)
        return;
    if (h->bev)
        bufferevent_free(h->bev);
    if (h->timer)
        event_free(h->timer);
    rt_journal_close(h->journal);
    free(h->q);
    free(h->aq);
    free(h->socket_path);
    free(h);
}
