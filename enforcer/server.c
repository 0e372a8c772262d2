/* The enforcer's channel server; see server.h and docs/protocol.md. */
#include "enforcer/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"

#define FRAME_MAX (RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD)
#define LISTEN_BACKLOG 16
#define ACCEPT_RETRY_US RT_USEC_PER_SEC /* after EMFILE and the like */
/* Peers the server refuses can make it log; at most LOG_BURST such lines
 * per LOG_WINDOW_US, then one line with the number left out. */
#define LOG_WINDOW_US (60 * RT_USEC_PER_SEC)
#define LOG_BURST 20

enum conn_state { CONN_NEW = 0, CONN_READY, CONN_STATE_COUNT };

static const char *const state_names[CONN_STATE_COUNT] = {"NEW", "READY"};

/* The table of what a peer may send (OpenSSH monitor style). Types the
 * server sends are in no row: they are refused as wrong_direction before
 * the table is looked at. */
static const bool permitted[CONN_STATE_COUNT][RT_ENF_MSG_TYPE_SLOTS] = {
    [CONN_NEW] = {[RT_MSG_HELLO] = true},
    [CONN_READY] = {[RT_MSG_DEMOTE] = true, [RT_MSG_HEARTBEAT] = true, [RT_MSG_READINESS_QUERY] = true,
                    [RT_MSG_ACTUATED] = true},
};

static bool peer_to_server(unsigned type) {
    return type == RT_MSG_HELLO || type == RT_MSG_DEMOTE || type == RT_MSG_HEARTBEAT ||
           type == RT_MSG_READINESS_QUERY || type == RT_MSG_ACTUATED;
}

struct conn {
    struct rt_enf_server *srv;
    struct bufferevent *bev;
    struct event *idle;
    struct ucred peer;
    enum conn_state state;
    bool read_paused; /* replies piled up: not reading requests until they drain */
    bool peer_eof;    /* the peer shut down its side: flush replies, then close */
    struct conn *prev, *next;
};

struct rt_enf_server {
    struct event_base *base;
    struct rt_enf_server_ops ops;
    void *ud;
    uid_t uids[RT_ENF_SERVER_MAX_PEERS];
    size_t n_uids;
    gid_t gids[RT_ENF_SERVER_MAX_PEERS];
    size_t n_gids;
    unsigned max_connections;
    struct timeval idle_tv;
    uint8_t policy_sha256[32];
    struct evconnlistener *listener;
    struct event *accept_retry;
    char *socket_path; /* set when the server created the socket file */
    dev_t socket_dev;
    ino_t socket_ino;
    struct conn *conns;
    struct rt_enf_server_stats stats;
    int64_t log_window_start_us;
    unsigned log_in_window;
    uint64_t log_suppressed;
};

const char *rt_enf_proto_error_name(enum rt_enf_proto_error e) {
    static const char *const names[RT_ENF_PERR_COUNT] = {
        [RT_ENF_PERR_BAD_HEADER] = "bad_header",     [RT_ENF_PERR_MALFORMED] = "malformed",
        [RT_ENF_PERR_WRONG_DIRECTION] = "wrong_direction", [RT_ENF_PERR_WRONG_STATE] = "wrong_state",
        [RT_ENF_PERR_TRUNCATED] = "truncated", [RT_ENF_PERR_INVALID_REQUEST] = "invalid_request",
    };
    return (unsigned)e < RT_ENF_PERR_COUNT ? names[e] : "unknown";
}

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static struct timeval to_timeval(int64_t us) {
    return (struct timeval){.tv_sec = us / RT_USEC_PER_SEC, .tv_usec = us % RT_USEC_PER_SEC};
}

/* ---- logging of peer trouble, rate limited ---- */

static bool peer_log_allowed(struct rt_enf_server *s) {
    int64_t now = mono_us();
    if (now - s->log_window_start_us >= LOG_WINDOW_US) {
        if (s->log_suppressed > 0)
            rt_log(LOG_WARNING, NULL, NULL, NULL, "%llu more messages about enforcer socket peers were suppressed",
                   (unsigned long long)s->log_suppressed);
        s->log_window_start_us = now;
        s->log_in_window = 0;
        s->log_suppressed = 0;
    }
    if (s->log_in_window >= LOG_BURST) {
        s->log_suppressed++;
        return false;
    }
    s->log_in_window++;
    return true;
}

#define PEER_LOG(s, priority, ...)                                  \
    do {                                                            \
        if (peer_log_allowed(s))                                    \
            rt_log((priority), NULL, NULL, NULL, __VA_ARGS__);      \
    } while (0)

/* ---- connections ---- */

static void conn_close(struct conn *c) {
    struct rt_enf_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.open_connections--;
    if (c->idle)
        event_free(c->idle);
    bufferevent_free(c->bev);
    free(c);
}

static void conn_violation(struct conn *c, enum rt_enf_proto_error why, const char *detail) {
    struct rt_enf_server *s = c->srv;
    s->stats.protocol_errors[why]++;
    PEER_LOG(s, LOG_WARNING,
             "closing enforcer connection from pid %d uid %u gid %u: protocol violation (%s) in state %s: %s",
             (int)c->peer.pid, (unsigned)c->peer.uid, (unsigned)c->peer.gid, rt_enf_proto_error_name(why),
             state_names[c->state], detail);
    conn_close(c);
}

static void conn_internal_error(struct conn *c, const char *what) {
    c->srv->stats.internal_errors++;
    rt_log(LOG_ERR, NULL, NULL, NULL, "closing enforcer connection from pid %d without a reply: %s",
           (int)c->peer.pid, what);
    conn_close(c);
}

/* Returns false if the connection was closed. */
static bool conn_send(struct conn *c, const struct rt_msg *m) {
    uint8_t buf[FRAME_MAX];
    int n = rt_proto_encode(m, buf, sizeof buf);
    if (n < 0) {
        char what[96];
        snprintf(what, sizeof what, "the %s reply was refused by the encoder", rt_msg_type_name(m->type));
        conn_internal_error(c, what);
        return false;
    }
    if (bufferevent_write(c->bev, buf, (size_t)n) < 0) {
        conn_internal_error(c, "out of memory queueing a reply");
        return false;
    }
    return true;
}

static void describe_bad_header(const uint8_t *hdr, char *buf, size_t size) {
    uint32_t len = (uint32_t)hdr[8] | (uint32_t)hdr[9] << 8 | (uint32_t)hdr[10] << 16 | (uint32_t)hdr[11] << 24;
    if (memcmp(hdr, RT_PROTO_MAGIC, 4) != 0)
        snprintf(buf, size, "bad magic");
    else if (hdr[5] || hdr[6] || hdr[7])
        snprintf(buf, size, "non-zero flags or reserved bytes");
    else if (len > RT_PROTO_MAX_PAYLOAD)
        snprintf(buf, size, "payload of %u bytes exceeds %d", (unsigned)len, RT_PROTO_MAX_PAYLOAD);
    else
        snprintf(buf, size, "unknown message type %u", hdr[4]);
}

/* Checks a frame's header as soon as it is in: the frame is refused before
 * its payload is waited for. Returns the frame length, or -1 after closing. */
static int check_header(struct conn *c, const uint8_t *hdr) {
    char detail[96];
    int n = rt_proto_frame_length(hdr, RT_PROTO_HEADER);
    if (n < 0) {
        describe_bad_header(hdr, detail, sizeof detail);
        conn_violation(c, RT_ENF_PERR_BAD_HEADER, detail);
        return -1;
    }
    unsigned type = hdr[4];
    if (!peer_to_server(type)) {
        snprintf(detail, sizeof detail, "%s is sent by the enforcer, not to it", rt_msg_type_name(type));
        conn_violation(c, RT_ENF_PERR_WRONG_DIRECTION, detail);
        return -1;
    }
    if (!permitted[c->state][type]) {
        snprintf(detail, sizeof detail, "%s is not permitted here", rt_msg_type_name(type));
        conn_violation(c, RT_ENF_PERR_WRONG_STATE, detail);
        return -1;
    }
    return n;
}

/* ---- requests ---- */

static bool handle_hello(struct conn *c, const struct rt_msg_hello *h) {
    if (h->version != 1) { /* the decoder refuses it already; kept for the table's sake */
        conn_violation(c, RT_ENF_PERR_MALFORMED, "unsupported protocol version");
        return false;
    }
    c->state = CONN_READY;
    rt_log(LOG_INFO, NULL, NULL, NULL, "enforcer peer \"%s\" connected (pid %d uid %u gid %u)", h->peer,
           (int)c->peer.pid, (unsigned)c->peer.uid, (unsigned)c->peer.gid);
    struct rt_msg reply = {.type = RT_MSG_HELLO_OK};
    reply.u.hello_ok.version = 1;
    memcpy(reply.u.hello_ok.policy_sha256, c->srv->policy_sha256, 32);
    return conn_send(c, &reply);
}

static bool handle_heartbeat(struct conn *c, const struct rt_msg_heartbeat *h) {
    struct rt_enf_server *s = c->srv;
    if (s->ops.on_heartbeat)
        s->ops.on_heartbeat(h->ts_us, s->ud);
    struct rt_msg reply = {.type = RT_MSG_HEARTBEAT_ACK};
    reply.u.heartbeat.ts_us = h->ts_us;
    return conn_send(c, &reply);
}

static bool handle_demote(struct conn *c, const struct rt_msg_demote *d) {
    struct rt_enf_server *s = c->srv;
    struct rt_msg reply;
    memset(&reply, 0, sizeof reply);
    /* The core makes the demotion durable before it returns: only then is
     * the acknowledgement queued. */
    if (s->ops.on_demote(d, &reply, s->ud) < 0) {
        conn_internal_error(c, "the demotion could not be processed");
        return false;
    }
    if (reply.type == RT_MSG_DEMOTE_ACK) {
        memcpy(reply.u.demote_ack.request_id, d->request_id, RT_PROTO_REQUEST_ID);
    } else if (reply.type == RT_MSG_DEMOTE_REFUSED) {
        memcpy(reply.u.demote_refused.request_id, d->request_id, RT_PROTO_REQUEST_ID);
    } else {
        conn_internal_error(c, "the demotion handler gave no DEMOTE_ACK or DEMOTE_REFUSED");
        return false;
    }
    return conn_send(c, &reply);
}

static bool handle_readiness_query(struct conn *c, const struct rt_msg_readiness_query *q) {
    struct rt_enf_server *s = c->srv;
    struct rt_msg reply = {.type = RT_MSG_READINESS};
    rt_strlcpy(reply.u.readiness.bot, q->bot, sizeof reply.u.readiness.bot);
    if (s->ops.on_readiness_query(q->bot, &reply.u.readiness, s->ud) < 0) {
        conn_internal_error(c, "the readiness query could not be answered");
        return false;
    }
    rt_strlcpy(reply.u.readiness.bot, q->bot, sizeof reply.u.readiness.bot);
    return conn_send(c, &reply);
}

static bool handle_actuated(struct conn *c, const struct rt_msg_actuated *a) {
    struct rt_enf_server *s = c->srv;
    if (!s->ops.on_actuated) {
        conn_violation(c, RT_ENF_PERR_WRONG_STATE, "ACTUATED is not served by this enforcer");
        return false;
    }
    struct rt_msg reply = {.type = RT_MSG_ACTUATED_ACK};
    /* As for DEMOTE: the record is durable before the reply is queued. */
    int r = s->ops.on_actuated(a, &reply.u.actuated_ack, s->ud);
    if (r == -EINVAL) {
        char detail[96];
        snprintf(detail, sizeof detail, "ACTUATED for seq %llu, which is not a demote record",
                 (unsigned long long)a->for_seq);
        conn_violation(c, RT_ENF_PERR_INVALID_REQUEST, detail);
        return false;
    }
    if (r < 0) {
        conn_internal_error(c, "the actuation could not be recorded");
        return false;
    }
    reply.u.actuated_ack.for_seq = a->for_seq;
    return conn_send(c, &reply);
}

/* A decoded message permitted in the state. Returns false if closed. */
static bool handle_message(struct conn *c, const struct rt_msg *m) {
    struct rt_enf_server *s = c->srv;
    s->stats.messages[m->type]++;
    evtimer_add(c->idle, &s->idle_tv);
    if (s->ops.on_peer_activity)
        s->ops.on_peer_activity(s->ud);
    switch (m->type) {
    case RT_MSG_HELLO: return handle_hello(c, &m->u.hello);
    case RT_MSG_HEARTBEAT: return handle_heartbeat(c, &m->u.heartbeat);
    case RT_MSG_DEMOTE: return handle_demote(c, &m->u.demote);
    case RT_MSG_READINESS_QUERY: return handle_readiness_query(c, &m->u.readiness_query);
    case RT_MSG_ACTUATED: return handle_actuated(c, &m->u.actuated);
    default: /* excluded by the table */
        conn_internal_error(c, "message type outside the table");
        return false;
    }
}

/* Handles every whole frame in the input. Returns false if the connection
 * was closed. Stops early, with reading paused, while replies pile up. */
static bool process_frames(struct conn *c) {
    struct evbuffer *in = bufferevent_get_input(c->bev);
    for (;;) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) > RT_ENF_SERVER_OUTPUT_MAX) {
            c->read_paused = true;
            bufferevent_disable(c->bev, EV_READ);
            return true;
        }
        uint8_t hdr[RT_PROTO_HEADER];
        if (evbuffer_copyout(in, hdr, sizeof hdr) < (ev_ssize_t)sizeof hdr)
            return true;
        int n = check_header(c, hdr);
        if (n < 0)
            return false;
        if (evbuffer_get_length(in) < (size_t)n)
            return true;
        uint8_t buf[FRAME_MAX];
        if (evbuffer_remove(in, buf, (size_t)n) != n) {
            conn_internal_error(c, "cannot read a buffered frame");
            return false;
        }
        struct rt_msg m;
        char err[160];
        if (rt_proto_decode(buf, (size_t)n, &m, err, sizeof err) < 0) {
            conn_violation(c, RT_ENF_PERR_MALFORMED, err);
            return false;
        }
        if (!handle_message(c, &m))
            return false;
    }
}

/* process_frames() as one batch (on_batch_begin/end). The replies it queued
 * are written by the event loop after this returns, so after on_batch_end;
 * a failed batch end closes the connection, which discards them. */
static bool process_input(struct conn *c) {
    struct rt_enf_server *s = c->srv;
    bool batch = s->ops.on_batch_begin && s->ops.on_batch_end;
    if (batch)
        s->ops.on_batch_begin(s->ud);
    bool open = process_frames(c); /* c is freed if it returns false */
    if (batch && s->ops.on_batch_end(s->ud) < 0 && open) {
        conn_internal_error(c, "the work after the batch of requests failed");
        return false;
    }
    return open;
}

/* After the peer's EOF: finish the whole frames received, then close once
 * the replies are out. A partial frame left over is a violation. */
static void finish_after_eof(struct conn *c) {
    if (!process_input(c))
        return;
    size_t left = evbuffer_get_length(bufferevent_get_input(c->bev));
    if (left > 0 && !c->read_paused) {
        char detail[64];
        snprintf(detail, sizeof detail, "end of stream inside a frame (%zu bytes)", left);
        conn_violation(c, RT_ENF_PERR_TRUNCATED, detail);
        return;
    }
    if (left == 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_close(c);
    /* else on_write comes back here when the replies are written */
}

static void on_read(struct bufferevent *bev, void *ud) {
    (void)bev;
    process_input(ud);
}

/* Called when the output buffer has drained. */
static void on_write(struct bufferevent *bev, void *ud) {
    struct conn *c = ud;
    if (c->read_paused) {
        c->read_paused = false;
        if (!c->peer_eof)
            bufferevent_enable(bev, EV_READ);
    }
    if (c->peer_eof)
        finish_after_eof(c);
    else
        process_input(c);
}

static void on_event(struct bufferevent *bev, short what, void *ud) {
    struct conn *c = ud;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        c->peer_eof = true;
        bufferevent_disable(bev, EV_READ);
        finish_after_eof(c);
        return;
    }
    rt_log(LOG_DEBUG, NULL, NULL, NULL, "enforcer connection from pid %d: %s", (int)c->peer.pid,
           evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    conn_close(c);
}

static void on_idle(evutil_socket_t fd, short what, void *ud) {
    struct conn *c = ud;
    (void)fd;
    (void)what;
    c->srv->stats.idle_timeouts++;
    PEER_LOG(c->srv, LOG_INFO, "closing idle enforcer connection from pid %d uid %u", (int)c->peer.pid,
             (unsigned)c->peer.uid);
    conn_close(c);
}

/* ---- accepting ---- */

static bool peer_allowed(const struct rt_enf_server *s, const struct ucred *cr) {
    for (size_t i = 0; i < s->n_uids; i++)
        if (s->uids[i] == cr->uid)
            return true;
    for (size_t i = 0; i < s->n_gids; i++)
        if (s->gids[i] == cr->gid)
            return true;
    return false;
}

static int conn_open(struct rt_enf_server *s, int fd, const struct ucred *cr) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->srv = s;
    c->peer = *cr;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->idle = c->bev ? evtimer_new(s->base, on_idle, c) : NULL;
    if (!c->idle) {
        if (c->bev)
            bufferevent_free(c->bev); /* closes fd */
        else
            close(fd);
        free(c);
        return -ENOMEM;
    }
    /* At most one whole frame is buffered: reading stops there until it is handled. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, FRAME_MAX);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    evtimer_add(c->idle, &s->idle_tv);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->stats.open_connections++;
    s->stats.accepted++;
    return 0;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *ud) {
    struct rt_enf_server *s = ud;
    (void)l;
    (void)sa;
    (void)salen;
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 || crlen != sizeof cr) {
        s->stats.accept_errors++;
        PEER_LOG(s, LOG_WARNING, "enforcer socket: cannot read the peer's credentials: %s", strerror(errno));
        close(fd);
        return;
    }
    if (!peer_allowed(s, &cr)) {
        s->stats.refused_peer++;
        PEER_LOG(s, LOG_WARNING, "enforcer socket: refused connection from pid %d uid %u gid %u: not an allowed peer",
                 (int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid);
        close(fd);
        return;
    }
    if (s->stats.open_connections >= s->max_connections) {
        s->stats.refused_capacity++;
        PEER_LOG(s, LOG_WARNING, "enforcer socket: refused connection from pid %d uid %u: %u connections open",
                 (int)cr.pid, (unsigned)cr.uid, s->stats.open_connections);
        close(fd);
        return;
    }
    if (conn_open(s, fd, &cr) < 0) {
        s->stats.accept_errors++;
        rt_log(LOG_ERR, NULL, NULL, NULL, "enforcer socket: out of memory accepting pid %d", (int)cr.pid);
    }
}

static void on_accept_error(struct evconnlistener *l, void *ud) {
    struct rt_enf_server *s = ud;
    int err = EVUTIL_SOCKET_ERROR();
    s->stats.accept_errors++;
    PEER_LOG(s, LOG_ERR, "enforcer socket: accept failed: %s; retrying in 1s", strerror(err));
    /* A listener left enabled would spin on EMFILE. */
    evconnlistener_disable(l);
    struct timeval tv = to_timeval(ACCEPT_RETRY_US);
    evtimer_add(s->accept_retry, &tv);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *ud) {
    struct rt_enf_server *s = ud;
    (void)fd;
    (void)what;
    evconnlistener_enable(s->listener);
}

/* ---- the listening socket ---- */

/* A socket file left by a previous run is removed; a live server's (one
 * that accepts connections) or anything that is not a socket is kept. */
static int remove_stale_socket(const struct sockaddr_un *sa) {
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno == EAGAIN)
        return -EADDRINUSE;
    if (errno != ECONNREFUSED)
        return -errno;
    if (unlink(sa->sun_path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int create_socket(struct rt_enf_server *s, const struct rt_enf_server_options *opt, int *out) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!opt->socket_path[0])
        return -EINVAL;
    if (!rt_strlcpy(sa.sun_path, opt->socket_path, sizeof sa.sun_path))
        return -ENAMETOOLONG;
    int r = remove_stale_socket(&sa);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (const struct sockaddr *)&sa, sizeof sa) < 0)
        return -errno;
    /* Nobody can connect before listen(): mode and group are right by then. */
    struct stat st;
    if (chmod(sa.sun_path, opt->socket_mode & 07777) < 0 ||
        (opt->has_socket_group && chown(sa.sun_path, (uid_t)-1, opt->socket_group) < 0) ||
        lstat(sa.sun_path, &st) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        r = -errno;
        unlink(sa.sun_path);
        return r;
    }
    s->socket_path = strdup(sa.sun_path);
    if (!s->socket_path) {
        unlink(sa.sun_path);
        return -ENOMEM;
    }
    s->socket_dev = st.st_dev;
    s->socket_ino = st.st_ino;
    *out = fd;
    fd = -1;
    return 0;
}

static int check_listen_fd(int fd) {
    if (fd < 0)
        return -EBADF;
    int r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOTSOCK;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static void remove_socket_file(struct rt_enf_server *s) {
    struct stat st;
    if (!s->socket_path)
        return;
    /* Only if it is still ours: a newer instance may have replaced it. */
    if (lstat(s->socket_path, &st) == 0 && st.st_dev == s->socket_dev && st.st_ino == s->socket_ino)
        unlink(s->socket_path);
    free(s->socket_path);
    s->socket_path = NULL;
}

/* ---- public ---- */

static bool options_valid(const struct rt_enf_server_options *opt, const struct rt_enf_server_ops *ops) {
    return ops->on_demote && ops->on_readiness_query && opt->n_allowed_uids <= RT_ENF_SERVER_MAX_PEERS &&
           opt->n_allowed_gids <= RT_ENF_SERVER_MAX_PEERS && (opt->n_allowed_uids == 0 || opt->allowed_uids) &&
           (opt->n_allowed_gids == 0 || opt->allowed_gids) &&
           opt->max_connections <= RT_ENF_SERVER_MAX_CONNECTIONS && opt->idle_timeout_us >= 0;
}

static int server_listen(struct rt_enf_server *s, const struct rt_enf_server_options *opt) {
    int fd, r;
    if (opt->socket_path) {
        r = create_socket(s, opt, &fd);
    } else {
        fd = opt->listen_fd;
        r = check_listen_fd(fd);
    }
    if (r < 0)
        return r;
    /* backlog 0: already listening. From here the listener owns fd. */
    s->listener = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!s->listener) {
        if (opt->socket_path) {
            close(fd);
            remove_socket_file(s);
        }
        return -ENOMEM;
    }
    evconnlistener_set_error_cb(s->listener, on_accept_error);
    return 0;
}

struct rt_enf_server *rt_enf_server_new(struct event_base *base, const struct rt_enf_server_options *opt,
                                        const struct rt_enf_server_ops *ops, void *ud) {
    if (!base || !opt || !ops || !options_valid(opt, ops)) {
        errno = EINVAL;
        return NULL;
    }
    struct rt_enf_server *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->base = base;
    s->ops = *ops;
    s->ud = ud;
    if (opt->n_allowed_uids)
        memcpy(s->uids, opt->allowed_uids, opt->n_allowed_uids * sizeof *s->uids);
    if (opt->n_allowed_gids)
        memcpy(s->gids, opt->allowed_gids, opt->n_allowed_gids * sizeof *s->gids);
    s->n_uids = opt->n_allowed_uids;
    s->n_gids = opt->n_allowed_gids;
    s->max_connections = opt->max_connections ? opt->max_connections : RT_ENF_SERVER_DEFAULT_MAX_CONNECTIONS;
    s->idle_tv = to_timeval(opt->idle_timeout_us ? opt->idle_timeout_us : RT_ENF_SERVER_DEFAULT_IDLE_US);
    memcpy(s->policy_sha256, opt->policy_sha256, sizeof s->policy_sha256);
    s->log_window_start_us = mono_us();
    s->accept_retry = evtimer_new(base, on_accept_retry, s);
    int r = s->accept_retry ? server_listen(s, opt) : -ENOMEM;
    if (r < 0) {
        if (s->accept_retry)
            event_free(s->accept_retry);
        free(s);
        errno = -r;
        return NULL;
    }
    return s;
}

void rt_enf_server_free(struct rt_enf_server *s) {
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns);
    evconnlistener_free(s->listener);
    event_free(s->accept_retry);
    remove_socket_file(s);
    free(s);
}

void rt_enf_server_get_stats(const struct rt_enf_server *s, struct rt_enf_server_stats *out) { *out = s->stats; }
