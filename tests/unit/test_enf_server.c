/* The enforcer's channel server (enforcer/server.c) on a real event loop and
 * real Unix sockets: the exchange, a table of malformed and out-of-state
 * frames (each closes the connection, is counted by reason and never
 * reaches on_demote), peer credentials (a forked child that drops to
 * 65534), max connections, the socket file's mode and group, and a
 * listening fd passed in as from systemd. Peer-credential tests need root;
 * without it they print why and pass vacuously. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proto.h"
#include "enforcer/server.h"
#include "tests/unit/harness.h"

#define T0 INT64_C(1795000000000000)
#define DAY INT64_C(86400000000)
#define FRAME_MAX (RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD)
#define NOBODY 65534

/* ---- the core's stand-in ---- */

struct core {
    int demotes, heartbeats, queries, activity, actuations;
    int demote_result;   /* returned by on_demote */
    int actuated_result; /* returned by on_actuated for a demote record */
    struct rt_msg_actuated last_actuated;
    bool refuse;
    int batch_ends, batch_end_result, largest_batch, demotes_at_end; /* on_batch_begin/end */
    bool in_batch, demote_outside_batch;
    struct rt_msg_demote last;
    int64_t last_heartbeat;
};

static int on_demote(const struct rt_msg_demote *req, struct rt_msg *reply, void *ud) {
    struct core *k = ud;
    k->demotes++;
    k->last = *req;
    k->demote_outside_batch |= !k->in_batch;
    if (k->demote_result < 0)
        return k->demote_result;
    if (k->refuse) {
        reply->type = RT_MSG_DEMOTE_REFUSED;
        strcpy(reply->u.demote_refused.reason, "window shorter than the enforcer's policy");
    } else {
        reply->type = RT_MSG_DEMOTE_ACK;
        reply->u.demote_ack.status = RT_DEMOTE_RECORDED;
        reply->u.demote_ack.seq = 40 + (uint64_t)k->demotes;
    }
    return 0;
}

static void on_heartbeat(int64_t ts_us, void *ud) {
    struct core *k = ud;
    k->heartbeats++;
    k->last_heartbeat = ts_us;
}

static int on_readiness_query(const char *bot, struct rt_msg_readiness *reply, void *ud) {
    struct core *k = ud;
    k->queries++;
    reply->readiness = strcmp(bot, "limited-1") == 0 ? 1 : 0;
    reply->since_us = reply->readiness ? T0 : 0;
    reply->seq = 7;
    return 0;
}

static void on_peer_activity(void *ud) { ((struct core *)ud)->activity++; }

#define DEMOTE_SEQ 41 /* the only demote record the stand-in knows */

static int on_actuated(const struct rt_msg_actuated *req, struct rt_msg_actuated_ack *reply, void *ud) {
    struct core *k = ud;
    k->actuations++;
    k->last_actuated = *req;
    if (req->for_seq != DEMOTE_SEQ)
        return -EINVAL;
    if (k->actuated_result < 0)
        return k->actuated_result;
    reply->status = k->actuations > 1 ? RT_ACTUATED_DUPLICATE : RT_ACTUATED_RECORDED;
    reply->seq = 50;
    reply->for_seq = 0; /* the server sets it */
    return 0;
}

static const struct rt_enf_server_ops ops = {
    .on_demote = on_demote,
    .on_heartbeat = on_heartbeat,
    .on_readiness_query = on_readiness_query,
    .on_peer_activity = on_peer_activity,
    .on_actuated = on_actuated,
};

static void on_batch_begin(void *ud) { ((struct core *)ud)->in_batch = true; }

static int on_batch_end(void *ud) {
    struct core *k = ud;
    k->in_batch = false;
    k->batch_ends++;
    if (k->demotes - k->demotes_at_end > k->largest_batch)
        k->largest_batch = k->demotes - k->demotes_at_end;
    k->demotes_at_end = k->demotes;
    return k->batch_end_result;
}

static const struct rt_enf_server_ops batch_ops = {
    .on_demote = on_demote,
    .on_heartbeat = on_heartbeat,
    .on_readiness_query = on_readiness_query,
    .on_peer_activity = on_peer_activity,
    .on_actuated = on_actuated,
    .on_batch_begin = on_batch_begin,
    .on_batch_end = on_batch_end,
};

/* ---- environment ---- */

struct env {
    struct event_base *base;
    struct rt_enf_server *srv;
    struct core core;
    uid_t uids[4];
    gid_t gids[4];
    struct rt_enf_server_options opt;
    char dir[64], sock[100];
};

static bool env_init(struct env *e) {
    memset(e, 0, sizeof *e);
    signal(SIGPIPE, SIG_IGN); /* as the daemon does: a peer gone mid-reply is EPIPE, not death */
    rt_log_init("test_enf_server", LOG_CRIT); /* refusals are expected here; keep the output readable */
    strcpy(e->dir, "/tmp/rt-enf-server-XXXXXX");
    if (!mkdtemp(e->dir) || chmod(e->dir, 0711) < 0)
        return false;
    snprintf(e->sock, sizeof e->sock, "%s/enforcer.sock", e->dir);
    e->base = event_base_new();
    e->uids[0] = geteuid();
    e->opt = (struct rt_enf_server_options){
        .socket_path = e->sock, .socket_mode = 0660, .listen_fd = -1,
        .allowed_uids = e->uids, .n_allowed_uids = 1, .allowed_gids = e->gids,
    };
    memset(e->opt.policy_sha256, 0x5A, 32);
    return e->base != NULL;
}

static bool env_start_with(struct env *e, const struct rt_enf_server_ops *o) {
    e->srv = rt_enf_server_new(e->base, &e->opt, o, &e->core);
    if (!e->srv)
        fprintf(stderr, "    rt_enf_server_new: %s\n", strerror(errno));
    return e->srv != NULL;
}

static bool env_start(struct env *e) { return env_start_with(e, &ops); }

static void env_done(struct env *e) {
    rt_enf_server_free(e->srv);
    if (e->base)
        event_base_free(e->base);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    CHECK(system(cmd) == 0);
}

static struct rt_enf_server_stats stats(const struct env *e) {
    struct rt_enf_server_stats st;
    rt_enf_server_get_stats(e->srv, &st);
    return st;
}

static void on_deadline(evutil_socket_t fd, short what, void *ud) {
    (void)fd;
    (void)what;
    *(bool *)ud = true;
}

/* Runs the loop until pred holds or 5 s pass; returns pred's final value.
 * Server state changes happen in event callbacks, and the client side is
 * looked at with non-blocking calls, so no sleeping is involved. */
static bool run_until(struct env *e, bool (*pred)(struct env *, void *), void *ud) {
    bool expired = false;
    struct event *deadline = evtimer_new(e->base, on_deadline, &expired);
    struct timeval five = {5, 0};
    evtimer_add(deadline, &five);
    while (!pred(e, ud) && !expired)
        event_base_loop(e->base, EVLOOP_ONCE);
    event_free(deadline);
    return pred(e, ud);
}

/* ---- a client in this process: blocking writes, non-blocking reads ---- */

static int client_connect_to(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_bytes(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static int encode(const struct rt_msg *m, uint8_t *buf) { return rt_proto_encode(m, buf, FRAME_MAX); }

static bool send_msg(int fd, const struct rt_msg *m) {
    uint8_t buf[FRAME_MAX];
    int n = encode(m, buf);
    return n > 0 && send_bytes(fd, buf, (size_t)n);
}

static struct rt_msg hello_msg(uint16_t version) {
    struct rt_msg m = {.type = RT_MSG_HELLO};
    m.u.hello.version = version;
    strcpy(m.u.hello.peer, "ratchet-watchdog");
    return m;
}

static struct rt_msg demote_msg(void) {
    struct rt_msg m = {.type = RT_MSG_DEMOTE};
    struct rt_msg_demote *d = &m.u.demote;
    memset(d->request_id, 0xAB, sizeof d->request_id);
    strcpy(d->bot, "mm-eth-01");
    d->cond = RT_COND_ERROR_RATE;
    strcpy(d->reason_code, "demote.error_rate");
    d->window_start_us = T0;
    d->decided_at_us = T0 + DAY;
    d->window_us = DAY;
    d->unknown_us = 0;
    d->evidence_ts_us = T0 + DAY - 60000000;
    d->evidence_known = true;
    d->evidence_value = 0.02;
    d->has_threshold = true;
    d->threshold = 0.01;
    strcpy(d->summary, "error_rate 0.02 > 0.01 for 24h");
    return m;
}

/* Client side readiness: a whole frame buffered, or the stream ended. */
static bool frame_or_end(struct env *e, void *ud) {
    (void)e;
    int fd = *(int *)ud;
    uint8_t buf[FRAME_MAX];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0)
        return n == 0 || errno != EAGAIN;
    if (n < RT_PROTO_HEADER)
        return false;
    int len = rt_proto_frame_length(buf, (size_t)n);
    return len < 0 || n >= len;
}

/* Reads one reply frame; false if the connection ended first. */
static bool read_msg(struct env *e, int fd, struct rt_msg *m) {
    if (!run_until(e, frame_or_end, &fd))
        return false;
    uint8_t buf[FRAME_MAX];
    ssize_t n = recv(fd, buf, RT_PROTO_HEADER, MSG_PEEK | MSG_DONTWAIT);
    if (n < RT_PROTO_HEADER)
        return false;
    int len = rt_proto_frame_length(buf, (size_t)n);
    char err[128];
    return len > 0 && recv(fd, buf, (size_t)len, MSG_DONTWAIT) == len &&
           rt_proto_decode(buf, (size_t)len, m, err, sizeof err) == 0;
}

/* Consumes whatever the server wrote; true once the stream has ended. */
static bool drained_to_end(struct env *e, void *ud) {
    (void)e;
    int fd = *(int *)ud;
    uint8_t buf[FRAME_MAX];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN; /* ECONNRESET: closed with our bytes unread */
    }
}

static bool closed_by_server(struct env *e, int fd) { return run_until(e, drained_to_end, &fd); }

/* HELLO -> HELLO_OK; returns the connected fd or -1. */
static int client_ready(struct env *e) {
    int fd = client_connect_to(e->sock);
    struct rt_msg hello = hello_msg(1), reply;
    if (fd < 0 || !send_msg(fd, &hello) || !read_msg(e, fd, &reply) || reply.type != RT_MSG_HELLO_OK) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* A whole good exchange: the server still serves. */
static bool good_client_demotes(struct env *e) {
    int fd = client_ready(e);
    if (fd < 0)
        return false;
    struct rt_msg d = demote_msg(), reply;
    bool ok = send_msg(fd, &d) && read_msg(e, fd, &reply) && reply.type == RT_MSG_DEMOTE_ACK &&
              memcmp(reply.u.demote_ack.request_id, d.u.demote.request_id, RT_PROTO_REQUEST_ID) == 0;
    close(fd);
    return ok;
}

static bool no_connections(struct env *e, void *ud) {
    (void)ud;
    return stats(e).open_connections == 0;
}

static bool open_is(struct env *e, void *ud) { return stats(e).open_connections == *(unsigned *)ud; }

/* ---- the exchange ---- */

TEST(hello_then_demote_heartbeat_query_are_answered) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    int fd = client_connect_to(e.sock);
    REQUIRE(fd >= 0);
    struct rt_msg hello = hello_msg(1), r;
    REQUIRE(send_msg(fd, &hello));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_HELLO_OK);
    CHECK_EQ_INT(r.u.hello_ok.version, 1);
    CHECK(memcmp(r.u.hello_ok.policy_sha256, e.opt.policy_sha256, 32) == 0);

    struct rt_msg d = demote_msg();
    REQUIRE(send_msg(fd, &d));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_DEMOTE_ACK);
    CHECK(memcmp(r.u.demote_ack.request_id, d.u.demote.request_id, RT_PROTO_REQUEST_ID) == 0);
    CHECK_EQ_INT(r.u.demote_ack.status, RT_DEMOTE_RECORDED);
    CHECK_EQ_INT(r.u.demote_ack.seq, 41);
    CHECK_EQ_INT(e.core.demotes, 1);
    CHECK_EQ_STR(e.core.last.bot, "mm-eth-01");
    CHECK_EQ_INT(e.core.last.window_start_us, T0);
    CHECK(e.core.last.evidence_value == 0.02);

    struct rt_msg hb = {.type = RT_MSG_HEARTBEAT};
    hb.u.heartbeat.ts_us = T0 + 5;
    REQUIRE(send_msg(fd, &hb));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_HEARTBEAT_ACK);
    CHECK_EQ_INT(r.u.heartbeat.ts_us, T0 + 5);
    CHECK_EQ_INT(e.core.heartbeats, 1);
    CHECK_EQ_INT(e.core.last_heartbeat, T0 + 5);

    struct rt_msg q = {.type = RT_MSG_READINESS_QUERY};
    strcpy(q.u.readiness_query.bot, "limited-1");
    REQUIRE(send_msg(fd, &q));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_READINESS);
    CHECK_EQ_STR(r.u.readiness.bot, "limited-1");
    CHECK_EQ_INT(r.u.readiness.readiness, 1);
    CHECK_EQ_INT(r.u.readiness.since_us, T0);
    CHECK_EQ_INT(r.u.readiness.seq, 7);

    struct rt_enf_server_stats st = stats(&e);
    CHECK_EQ_INT(st.accepted, 1);
    CHECK_EQ_INT(st.open_connections, 1);
    CHECK_EQ_INT(st.messages[RT_MSG_HELLO], 1);
    CHECK_EQ_INT(st.messages[RT_MSG_DEMOTE], 1);
    CHECK_EQ_INT(st.messages[RT_MSG_HEARTBEAT], 1);
    CHECK_EQ_INT(st.messages[RT_MSG_READINESS_QUERY], 1);
    CHECK_EQ_INT(e.core.activity, 4);
    for (int i = 0; i < RT_ENF_PERR_COUNT; i++)
        CHECK_EQ_INT(st.protocol_errors[i], 0);
    close(fd);
    CHECK(run_until(&e, no_connections, NULL));
    env_done(&e);
}

TEST(pipelined_requests_and_half_close_still_get_every_reply) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    int fd = client_connect_to(e.sock);
    REQUIRE(fd >= 0);
    uint8_t buf[3 * FRAME_MAX];
    struct rt_msg hello = hello_msg(1), d = demote_msg(), d2 = demote_msg(), r;
    d2.u.demote.request_id[0] = 0x01;
    int n1 = encode(&hello, buf), n2 = encode(&d, buf + n1), n3 = encode(&d2, buf + n1 + n2);
    REQUIRE(n1 > 0 && n2 > 0 && n3 > 0);
    REQUIRE(send_bytes(fd, buf, (size_t)(n1 + n2 + n3))); /* one write: three frames */
    REQUIRE(shutdown(fd, SHUT_WR) == 0);
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_HELLO_OK);
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_DEMOTE_ACK);
    CHECK_EQ_INT(r.u.demote_ack.request_id[0], 0xAB);
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_DEMOTE_ACK);
    CHECK_EQ_INT(r.u.demote_ack.request_id[0], 0x01);
    CHECK(closed_by_server(&e, fd));
    CHECK_EQ_INT(e.core.demotes, 2);
    CHECK_EQ_INT(stats(&e).protocol_errors[RT_ENF_PERR_TRUNCATED], 0);
    close(fd);
    env_done(&e);
}

/* The frames of one read are one batch; its replies are written only after
 * on_batch_end (the enforcer's checkpoint), and not at all if it fails. */
TEST(requests_of_one_read_are_one_batch_acknowledged_after_its_end) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start_with(&e, &batch_ops));
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    uint8_t buf[2 * FRAME_MAX];
    struct rt_msg d = demote_msg(), d2 = demote_msg(), r;
    d2.u.demote.request_id[0] = 0x01;
    int n1 = encode(&d, buf), n2 = encode(&d2, buf + n1);
    REQUIRE(n1 > 0 && n2 > 0);
    REQUIRE(send_bytes(fd, buf, (size_t)(n1 + n2))); /* one write: two DEMOTEs */
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_DEMOTE_ACK);
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.u.demote_ack.request_id[0], 0x01);
    CHECK_EQ_INT(e.core.largest_batch, 2);
    CHECK(!e.core.demote_outside_batch);
    e.core.batch_end_result = -EIO; /* the checkpoint failed: the records' ACKs never leave */
    REQUIRE(send_msg(fd, &d2));
    CHECK(!read_msg(&e, fd, &r));
    CHECK_EQ_INT(e.core.demotes, 3);
    CHECK_EQ_INT(stats(&e).internal_errors, 1);
    close(fd);
    env_done(&e);
}

TEST(refused_demotion_carries_the_reason_and_request_id) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    e.core.refuse = true;
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    struct rt_msg d = demote_msg(), r;
    REQUIRE(send_msg(fd, &d));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_DEMOTE_REFUSED);
    CHECK(memcmp(r.u.demote_refused.request_id, d.u.demote.request_id, RT_PROTO_REQUEST_ID) == 0);
    CHECK_EQ_STR(r.u.demote_refused.reason, "window shorter than the enforcer's policy");
    close(fd);
    env_done(&e);
}

TEST(internal_failure_closes_without_a_reply) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    e.core.demote_result = -EIO;
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    struct rt_msg d = demote_msg(), r;
    REQUIRE(send_msg(fd, &d));
    CHECK(!read_msg(&e, fd, &r)); /* the stream ends: no ACK */
    CHECK_EQ_INT(e.core.demotes, 1);
    CHECK_EQ_INT(stats(&e).internal_errors, 1);
    CHECK(run_until(&e, no_connections, NULL));
    close(fd);
    e.core.demote_result = 0;
    CHECK(good_client_demotes(&e));
    env_done(&e);
}

static struct rt_msg actuated_msg(uint64_t for_seq) {
    struct rt_msg m = {.type = RT_MSG_ACTUATED};
    m.u.actuated.for_seq = for_seq;
    m.u.actuated.http_status = 200;
    strcpy(m.u.actuated.target, "https://cp.example/records");
    return m;
}

TEST(actuated_is_recorded_and_acknowledged) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    struct rt_msg a = actuated_msg(DEMOTE_SEQ), r;
    REQUIRE(send_msg(fd, &a));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_ACTUATED_ACK);
    CHECK_EQ_INT(r.u.actuated_ack.for_seq, DEMOTE_SEQ);
    CHECK_EQ_INT(r.u.actuated_ack.status, RT_ACTUATED_RECORDED);
    CHECK_EQ_INT(r.u.actuated_ack.seq, 50);
    CHECK_EQ_STR(e.core.last_actuated.target, "https://cp.example/records");
    CHECK_EQ_INT(e.core.last_actuated.http_status, 200);
    /* the same report again, pipelined with a demotion: answered in order */
    struct rt_msg d = demote_msg();
    REQUIRE(send_msg(fd, &a) && send_msg(fd, &d));
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_ACTUATED_ACK);
    CHECK_EQ_INT(r.u.actuated_ack.status, RT_ACTUATED_DUPLICATE);
    REQUIRE(read_msg(&e, fd, &r));
    CHECK_EQ_INT(r.type, RT_MSG_DEMOTE_ACK);
    CHECK_EQ_INT(stats(&e).messages[RT_MSG_ACTUATED], 2);
    close(fd);
    env_done(&e);
}

TEST(actuated_internal_failure_closes_without_a_reply) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    e.core.actuated_result = -EIO;
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    struct rt_msg a = actuated_msg(DEMOTE_SEQ), r;
    REQUIRE(send_msg(fd, &a));
    CHECK(!read_msg(&e, fd, &r));
    CHECK_EQ_INT(stats(&e).internal_errors, 1);
    CHECK_EQ_INT(stats(&e).protocol_errors[RT_ENF_PERR_INVALID_REQUEST], 0);
    close(fd);
    env_done(&e);
}

TEST(actuated_is_not_permitted_without_a_handler) {
    struct env e;
    REQUIRE(env_init(&e));
    struct rt_enf_server_ops no_actuated = ops;
    no_actuated.on_actuated = NULL;
    e.srv = rt_enf_server_new(e.base, &e.opt, &no_actuated, &e.core);
    REQUIRE(e.srv);
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    struct rt_msg a = actuated_msg(DEMOTE_SEQ);
    REQUIRE(send_msg(fd, &a));
    CHECK(closed_by_server(&e, fd));
    CHECK_EQ_INT(stats(&e).protocol_errors[RT_ENF_PERR_WRONG_STATE], 1);
    CHECK_EQ_INT(e.core.actuations, 0);
    close(fd);
    env_done(&e);
}

/* ---- malformed and out-of-state frames ---- */

/* Offsets in demote_msg()'s frame: header, request id, bot ("mm-eth-01"),
 * condition, reason code, five int64, evidence_known, evidence_value, ... */
#define BOT_OFF (RT_PROTO_HEADER + RT_PROTO_REQUEST_ID)
#define COND_OFF (BOT_OFF + 2 + 9)
#define KNOWN_OFF (COND_OFF + 1 + 2 + 17 + 5 * 8)
#define VALUE_OFF (KNOWN_OFF + 1)

static int build_demote(uint8_t *b) {
    struct rt_msg m = demote_msg();
    return encode(&m, b);
}

static void set_len(uint8_t *b, uint32_t len) {
    for (int i = 0; i < 4; i++)
        b[8 + i] = (uint8_t)(len >> (8 * i));
}

static int bad_magic(uint8_t *b) {
    int n = build_demote(b);
    b[0] = 'X';
    return n;
}

static int unknown_type(uint8_t *b) {
    int n = build_demote(b);
    b[4] = 77;
    return n;
}

static int nonzero_flags(uint8_t *b) {
    int n = build_demote(b);
    b[5] = 1;
    return n;
}

static int payload_too_large(uint8_t *b) {
    build_demote(b);
    set_len(b, RT_PROTO_MAX_PAYLOAD + 1);
    return RT_PROTO_HEADER; /* refused on the header alone */
}

/* The largest frame is buffered whole and then decoded (a HELLO of zeros). */
static int max_size_garbage(uint8_t *b) {
    struct rt_msg h = hello_msg(1);
    encode(&h, b);
    set_len(b, RT_PROTO_MAX_PAYLOAD);
    memset(b + RT_PROTO_HEADER, 0, RT_PROTO_MAX_PAYLOAD);
    return FRAME_MAX;
}

static int truncated_demote(uint8_t *b) { return build_demote(b) / 2; }

static int truncated_header(uint8_t *b) {
    build_demote(b);
    return 5;
}

static int trailing_bytes(uint8_t *b) {
    int n = build_demote(b);
    b[n] = 0;
    set_len(b, (uint32_t)(n - RT_PROTO_HEADER + 1));
    return n + 1;
}

static int bot_with_nul(uint8_t *b) {
    int n = build_demote(b);
    b[BOT_OFF + 2 + 2] = 0;
    return n;
}

static int summary_invalid_utf8(uint8_t *b) {
    int n = build_demote(b); /* the summary is the last field */
    b[n - 1] = 0xFF;
    return n;
}

static int nan_value(uint8_t *b) {
    int n = build_demote(b);
    memset(b + VALUE_OFF, 0, 8);
    b[VALUE_OFF + 6] = 0xF8;
    b[VALUE_OFF + 7] = 0x7F;
    return n;
}

static int unknown_condition(uint8_t *b) {
    int n = build_demote(b);
    b[COND_OFF] = RT_COND_COUNT;
    return n;
}

static int hello_version_2(uint8_t *b) {
    struct rt_msg h = hello_msg(1);
    int n = encode(&h, b);
    b[RT_PROTO_HEADER] = 2;
    return n;
}

static int hello(uint8_t *b) {
    struct rt_msg h = hello_msg(1);
    return encode(&h, b);
}

static int heartbeat(uint8_t *b) {
    struct rt_msg m = {.type = RT_MSG_HEARTBEAT};
    m.u.heartbeat.ts_us = T0;
    return encode(&m, b);
}

static int demote_ack(uint8_t *b) {
    struct rt_msg m = {.type = RT_MSG_DEMOTE_ACK};
    m.u.demote_ack.status = RT_DEMOTE_RECORDED;
    return encode(&m, b);
}

static int hello_ok(uint8_t *b) {
    struct rt_msg m = {.type = RT_MSG_HELLO_OK};
    m.u.hello_ok.version = 1;
    return encode(&m, b);
}

static int readiness(uint8_t *b) {
    struct rt_msg m = {.type = RT_MSG_READINESS};
    strcpy(m.u.readiness.bot, "alpha");
    return encode(&m, b);
}

static int actuated_for_a_non_demote(uint8_t *b) {
    struct rt_msg m = actuated_msg(DEMOTE_SEQ + 1);
    return encode(&m, b);
}

static int actuated_with_status_500(uint8_t *b) {
    struct rt_msg m = actuated_msg(DEMOTE_SEQ);
    int n = encode(&m, b);
    b[RT_PROTO_HEADER + 8] = 0xF4; /* http_status 500 */
    b[RT_PROTO_HEADER + 9] = 0x01;
    return n;
}

static int actuated_before_hello(uint8_t *b) {
    struct rt_msg m = actuated_msg(DEMOTE_SEQ);
    return encode(&m, b);
}

static int actuated_ack(uint8_t *b) {
    struct rt_msg m = {.type = RT_MSG_ACTUATED_ACK};
    m.u.actuated_ack = (struct rt_msg_actuated_ack){.for_seq = 1, .status = RT_ACTUATED_RECORDED, .seq = 2};
    return encode(&m, b);
}

/* A bad DEMOTE and a good one in the same write: the good one is never seen. */
static int bad_then_good(uint8_t *b) {
    int n = bot_with_nul(b);
    return n + build_demote(b + n);
}

struct bad_case {
    const char *name;
    bool hello_first;  /* reach READY before the bad bytes */
    bool end_stream;   /* shut down our side after them */
    int (*build)(uint8_t *b);
    enum rt_enf_proto_error reason;
};

static const struct bad_case bad_cases[] = {
    {"bad magic", true, false, bad_magic, RT_ENF_PERR_BAD_HEADER},
    {"bad magic before hello", false, false, bad_magic, RT_ENF_PERR_BAD_HEADER},
    {"unknown type", true, false, unknown_type, RT_ENF_PERR_BAD_HEADER},
    {"non-zero flags", true, false, nonzero_flags, RT_ENF_PERR_BAD_HEADER},
    {"payload too large", true, false, payload_too_large, RT_ENF_PERR_BAD_HEADER},
    {"largest frame, garbage payload", false, false, max_size_garbage, RT_ENF_PERR_MALFORMED},
    {"truncated then EOF", true, true, truncated_demote, RT_ENF_PERR_TRUNCATED},
    {"truncated header then EOF", true, true, truncated_header, RT_ENF_PERR_TRUNCATED},
    {"trailing bytes", true, false, trailing_bytes, RT_ENF_PERR_MALFORMED},
    {"bot with NUL", true, false, bot_with_nul, RT_ENF_PERR_MALFORMED},
    {"invalid UTF-8 summary", true, false, summary_invalid_utf8, RT_ENF_PERR_MALFORMED},
    {"NaN evidence value", true, false, nan_value, RT_ENF_PERR_MALFORMED},
    {"unknown condition", true, false, unknown_condition, RT_ENF_PERR_MALFORMED},
    {"HELLO of version 2", false, false, hello_version_2, RT_ENF_PERR_MALFORMED},
    {"DEMOTE before HELLO", false, false, build_demote, RT_ENF_PERR_WRONG_STATE},
    {"HEARTBEAT before HELLO", false, false, heartbeat, RT_ENF_PERR_WRONG_STATE},
    {"HELLO twice", true, false, hello, RT_ENF_PERR_WRONG_STATE},
    {"DEMOTE_ACK from the peer", true, false, demote_ack, RT_ENF_PERR_WRONG_DIRECTION},
    {"HELLO_OK from the peer", false, false, hello_ok, RT_ENF_PERR_WRONG_DIRECTION},
    {"READINESS from the peer", true, false, readiness, RT_ENF_PERR_WRONG_DIRECTION},
    {"a second frame after a bad one", true, false, bad_then_good, RT_ENF_PERR_MALFORMED},
    {"ACTUATED for a seq that is not a demote record", true, false, actuated_for_a_non_demote,
     RT_ENF_PERR_INVALID_REQUEST},
    {"ACTUATED with HTTP 500", true, false, actuated_with_status_500, RT_ENF_PERR_MALFORMED},
    {"ACTUATED before HELLO", false, false, actuated_before_hello, RT_ENF_PERR_WRONG_STATE},
    {"ACTUATED_ACK from the peer", true, false, actuated_ack, RT_ENF_PERR_WRONG_DIRECTION},
};

static bool run_bad_case(struct env *e, const struct bad_case *bc) {
    struct rt_enf_server_stats before = stats(e);
    int demotes = e->core.demotes;
    int fd = bc->hello_first ? client_ready(e) : client_connect_to(e->sock);
    if (fd < 0)
        return false;
    static uint8_t buf[2 * FRAME_MAX + 16];
    int n = bc->build(buf);
    bool ok = n > 0 && send_bytes(fd, buf, (size_t)n);
    if (ok && bc->end_stream)
        ok = shutdown(fd, SHUT_WR) == 0;
    ok = ok && closed_by_server(e, fd) && run_until(e, no_connections, NULL);
    close(fd);
    struct rt_enf_server_stats after = stats(e);
    for (int i = 0; i < RT_ENF_PERR_COUNT; i++) {
        uint64_t want = before.protocol_errors[i] + (i == (int)bc->reason);
        if (after.protocol_errors[i] != want) {
            fprintf(stderr, "    %s: %s count %llu, want %llu\n", bc->name, rt_enf_proto_error_name(i),
                    (unsigned long long)after.protocol_errors[i], (unsigned long long)want);
            ok = false;
        }
    }
    if (e->core.demotes != demotes || after.messages[RT_MSG_DEMOTE] != before.messages[RT_MSG_DEMOTE]) {
        fprintf(stderr, "    %s: reached on_demote\n", bc->name);
        ok = false;
    }
    /* The server keeps serving. */
    if (!good_client_demotes(e) || e->core.demotes != demotes + 1) {
        fprintf(stderr, "    %s: the server stopped serving\n", bc->name);
        ok = false;
    }
    return ok;
}

TEST(malformed_and_out_of_state_frames_close_the_connection_and_are_counted) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        bool ok = run_bad_case(&e, &bad_cases[i]);
        if (!ok)
            fprintf(stderr, "    case \"%s\" failed\n", bad_cases[i].name);
        CHECK(ok);
    }
    struct rt_enf_server_stats st = stats(&e);
    uint64_t total = 0;
    for (int i = 0; i < RT_ENF_PERR_COUNT; i++)
        total += st.protocol_errors[i];
    CHECK_EQ_INT(total, ELEMENTSOF(bad_cases));
    CHECK_EQ_INT(st.protocol_errors[RT_ENF_PERR_WRONG_DIRECTION], 4);
    CHECK_EQ_INT(st.protocol_errors[RT_ENF_PERR_INVALID_REQUEST], 1);
    CHECK_EQ_INT(e.core.actuations, 1); /* only the one that decoded in READY reached the core, which refused it */
    CHECK_EQ_INT(st.protocol_errors[RT_ENF_PERR_TRUNCATED], 2);
    env_done(&e);
}

TEST(idle_connection_is_closed) {
    struct env e;
    REQUIRE(env_init(&e));
    e.opt.idle_timeout_us = 50000;
    REQUIRE(env_start(&e));
    int fd = client_ready(&e);
    REQUIRE(fd >= 0);
    CHECK(closed_by_server(&e, fd));
    CHECK_EQ_INT(stats(&e).idle_timeouts, 1);
    CHECK(run_until(&e, no_connections, NULL));
    close(fd);
    env_done(&e);
}

/* A peer that sends heartbeats and does not read the replies. */
#define HB_FRAME 20 /* HEARTBEAT and HEARTBEAT_ACK: header + int64 */
#define HB_BATCH 100
#define FLOOD_CAP (4u << 20) /* far beyond every buffer on the way if reading stops */

struct flood {
    int fd;
    uint8_t batch[HB_BATCH * HB_FRAME];
    size_t pos;         /* bytes of the current batch sent */
    uint64_t sent;      /* whole heartbeats sent */
    uint64_t acked_bytes;
};

static void flood_send(struct flood *f) {
    ssize_t k = send(f->fd, f->batch + f->pos, sizeof f->batch - f->pos, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k <= 0)
        return;
    f->pos += (size_t)k;
    f->sent = f->sent - f->sent % HB_BATCH + f->pos / HB_FRAME;
    if (f->pos == sizeof f->batch)
        f->pos = 0;
}

/* Reads every reply and finishes the batch under way; true when all are answered. */
static bool flood_drained(struct env *e, void *ud) {
    struct flood *f = ud;
    uint8_t buf[65536];
    ssize_t k;
    while ((k = recv(f->fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        f->acked_bytes += (uint64_t)k;
    if (f->pos != 0)
        flood_send(f);
    return f->pos == 0 && f->acked_bytes == f->sent * HB_FRAME && stats(e).messages[RT_MSG_HEARTBEAT] == f->sent;
}

TEST(a_peer_that_does_not_read_its_replies_is_not_read_either) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(env_start(&e));
    static struct flood f;
    memset(&f, 0, sizeof f);
    f.fd = client_ready(&e);
    REQUIRE(f.fd >= 0);
    struct rt_msg hb = {.type = RT_MSG_HEARTBEAT};
    hb.u.heartbeat.ts_us = T0;
    for (int i = 0; i < HB_BATCH; i++)
        REQUIRE(encode(&hb, f.batch + i * HB_FRAME) == HB_FRAME);
    /* Send until neither side moves: the server must stop reading once its
     * replies pile up, or this runs into the cap. */
    int still = 0;
    while (still < 20 && f.sent * HB_FRAME < FLOOD_CAP) {
        uint64_t sent = f.sent, seen = stats(&e).messages[RT_MSG_HEARTBEAT];
        flood_send(&f);
        event_base_loop(e.base, EVLOOP_NONBLOCK);
        still = f.sent == sent && stats(&e).messages[RT_MSG_HEARTBEAT] == seen ? still + 1 : 0;
    }
    CHECK(still == 20);
    CHECK(f.sent * HB_FRAME < FLOOD_CAP);
    CHECK(stats(&e).messages[RT_MSG_HEARTBEAT] < f.sent);
    /* Once the peer reads, every request is answered. */
    CHECK(run_until(&e, flood_drained, &f));
    CHECK_EQ_INT(e.core.heartbeats, f.sent);
    struct rt_enf_server_stats st = stats(&e);
    CHECK_EQ_INT(st.open_connections, 1);
    for (int i = 0; i < RT_ENF_PERR_COUNT; i++)
        CHECK_EQ_INT(st.protocol_errors[i], 0);
    close(f.fd);
    env_done(&e);
}

/* ---- peers ---- */

struct child {
    pid_t pid;
    int pipe_rd;
    char result; /* 'A' accepted (HELLO_OK), 'R' closed at once, other: failure */
    struct event *ev;
};

static void child_run(const char *path, uid_t uid, gid_t gid, int out) {
    char res = 'E';
    alarm(10);
    if (setgroups(0, NULL) == 0 && setgid(gid) == 0 && setuid(uid) == 0 && getuid() == uid) {
        int fd = client_connect_to(path);
        struct rt_msg h = hello_msg(1);
        uint8_t buf[FRAME_MAX];
        res = 'C';
        if (fd >= 0) {
            /* A refused peer may be closed before the HELLO is even sent:
             * the send fails then, and the read sees the end. */
            send_msg(fd, &h);
            ssize_t n = recv(fd, buf, sizeof buf, 0); /* the parent's loop answers */
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                res = 'R';
            else
                res = n >= RT_PROTO_HEADER && buf[4] == RT_MSG_HELLO_OK ? 'A' : 'T';
        }
    }
    if (write(out, &res, 1) != 1)
        _exit(3);
    _exit(0);
}

static void on_child_result(evutil_socket_t fd, short what, void *ud) {
    struct child *c = ud;
    (void)what;
    if (read(fd, &c->result, 1) != 1)
        c->result = '?';
}

static bool child_reported(struct env *e, void *ud) {
    (void)e;
    return ((struct child *)ud)->result != 0;
}

/* Connects as uid/gid from a child process; returns its result letter. */
static char connect_as(struct env *e, uid_t uid, gid_t gid) {
    int p[2];
    if (pipe(p) < 0)
        return '!';
    struct child c = {.pipe_rd = p[0]};
    fflush(NULL);
    c.pid = fork();
    if (c.pid == 0) {
        close(p[0]);
        child_run(e->sock, uid, gid, p[1]);
    }
    close(p[1]);
    if (c.pid < 0) {
        close(p[0]);
        return '!';
    }
    c.ev = event_new(e->base, p[0], EV_READ, on_child_result, &c);
    event_add(c.ev, NULL);
    run_until(e, child_reported, &c);
    event_free(c.ev);
    close(p[0]);
    int status;
    waitpid(c.pid, &status, 0);
    return c.result;
}

static bool need_root(const char *why) {
    if (geteuid() == 0)
        return true;
    printf("    skipped: needs root %s\n", why);
    return false;
}

static struct env *peer_env(struct env *e) {
    if (!env_init(e))
        return NULL;
    /* any local user may reach the socket here: SO_PEERCRED alone decides */
    e->opt.socket_mode = 0666;
    e->opt.n_allowed_uids = 0;
    return e;
}

TEST(peer_with_unlisted_uid_is_refused) {
    if (!need_root("to run a peer as uid 65534"))
        return;
    struct env e;
    REQUIRE(peer_env(&e));
    e.uids[0] = 1000;
    e.opt.n_allowed_uids = 1;
    REQUIRE(env_start(&e));
    CHECK_EQ_INT(connect_as(&e, NOBODY, NOBODY), 'R');
    struct rt_enf_server_stats st = stats(&e);
    CHECK_EQ_INT(st.refused_peer, 1);
    CHECK_EQ_INT(st.accepted, 0);
    CHECK_EQ_INT(st.messages[RT_MSG_HELLO], 0);
    CHECK_EQ_INT(e.core.activity, 0);
    env_done(&e);
}

TEST(peer_with_allowed_uid_or_primary_gid_is_accepted) {
    if (!need_root("to run peers as other uids and gids"))
        return;
    struct env e;
    REQUIRE(peer_env(&e));
    e.uids[0] = NOBODY;
    e.opt.n_allowed_uids = 1;
    REQUIRE(env_start(&e));
    CHECK_EQ_INT(connect_as(&e, NOBODY, NOBODY), 'A');
    CHECK_EQ_INT(stats(&e).accepted, 1);
    CHECK_EQ_INT(stats(&e).refused_peer, 0);
    env_done(&e);

    REQUIRE(peer_env(&e));
    e.gids[0] = NOBODY;
    e.opt.n_allowed_gids = 1;
    REQUIRE(env_start(&e));
    CHECK_EQ_INT(connect_as(&e, NOBODY, NOBODY), 'A');
    /* the gid list matches the primary gid only, so another uid with it passes too */
    CHECK_EQ_INT(connect_as(&e, 12345, NOBODY), 'A');
    CHECK_EQ_INT(connect_as(&e, NOBODY, 12345), 'R');
    CHECK_EQ_INT(stats(&e).accepted, 2);
    CHECK_EQ_INT(stats(&e).refused_peer, 1);
    env_done(&e);
}

TEST(root_is_refused_when_not_listed) {
    if (!need_root("to connect as root"))
        return;
    struct env e;
    REQUIRE(peer_env(&e));
    e.uids[0] = NOBODY;
    e.opt.n_allowed_uids = 1;
    e.gids[0] = NOBODY;
    e.opt.n_allowed_gids = 1;
    REQUIRE(env_start(&e));
    int fd = client_connect_to(e.sock); /* as root */
    REQUIRE(fd >= 0);
    struct rt_msg h = hello_msg(1), r;
    CHECK(send_msg(fd, &h));
    CHECK(!read_msg(&e, fd, &r));
    close(fd);
    CHECK_EQ_INT(stats(&e).refused_peer, 1);
    CHECK_EQ_INT(stats(&e).accepted, 0);
    env_done(&e);
}

TEST(max_connections_is_enforced) {
    struct env e;
    REQUIRE(env_init(&e));
    e.opt.max_connections = 2;
    REQUIRE(env_start(&e));
    int a = client_ready(&e), b = client_ready(&e);
    REQUIRE(a >= 0 && b >= 0);
    int c = client_connect_to(e.sock);
    REQUIRE(c >= 0);
    CHECK(closed_by_server(&e, c));
    close(c);
    CHECK_EQ_INT(stats(&e).refused_capacity, 1);
    CHECK_EQ_INT(stats(&e).open_connections, 2);
    close(a);
    unsigned one = 1;
    CHECK(run_until(&e, open_is, &one));
    int d = client_ready(&e);
    CHECK(d >= 0);
    CHECK_EQ_INT(stats(&e).accepted, 3);
    close(b);
    if (d >= 0)
        close(d);
    env_done(&e);
}

/* ---- the socket ---- */

TEST(socket_file_gets_the_configured_mode_and_group_and_is_removed_at_exit) {
    struct env e;
    REQUIRE(env_init(&e));
    gid_t group = geteuid() == 0 ? NOBODY : getegid();
    e.opt.socket_mode = 0640;
    e.opt.has_socket_group = true;
    e.opt.socket_group = group;
    REQUIRE(env_start(&e));
    struct stat st;
    REQUIRE(lstat(e.sock, &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ_INT(st.st_mode & 07777, 0640);
    CHECK_EQ_INT(st.st_gid, group);
    CHECK_EQ_INT(st.st_uid, geteuid());
    rt_enf_server_free(e.srv);
    e.srv = NULL;
    CHECK(lstat(e.sock, &st) < 0 && errno == ENOENT);
    env_done(&e);
}

TEST(stale_socket_is_replaced_live_one_and_non_socket_are_not) {
    struct env e;
    REQUIRE(env_init(&e));
    /* a socket file nobody listens on: left by a crash */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", e.sock);
    REQUIRE(stale >= 0 && bind(stale, (struct sockaddr *)&sa, sizeof sa) == 0);
    close(stale);
    REQUIRE(env_start(&e));
    CHECK(good_client_demotes(&e));

    /* a second server on the same path: the first is alive */
    errno = 0;
    struct rt_enf_server *second = rt_enf_server_new(e.base, &e.opt, &ops, &e.core);
    CHECK(second == NULL && errno == EADDRINUSE);
    rt_enf_server_free(second);
    CHECK(good_client_demotes(&e));
    rt_enf_server_free(e.srv);
    e.srv = NULL;

    /* not a socket: never removed */
    int fd = open(e.sock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    errno = 0;
    CHECK(rt_enf_server_new(e.base, &e.opt, &ops, &e.core) == NULL && errno == EEXIST);
    struct stat st;
    CHECK(lstat(e.sock, &st) == 0 && S_ISREG(st.st_mode));
    env_done(&e);
}

static int listening_socket(const char *path, int type, bool do_listen) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || (do_listen && listen(fd, 8) < 0)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

TEST(listening_fd_passed_in_is_served_and_others_are_refused) {
    struct env e;
    REQUIRE(env_init(&e));
    int lfd = listening_socket(e.sock, SOCK_STREAM, true);
    REQUIRE(lfd >= 0);
    e.opt.socket_path = NULL;
    e.opt.listen_fd = lfd;
    REQUIRE(env_start(&e));
    CHECK(good_client_demotes(&e));
    CHECK_EQ_INT(stats(&e).accepted, 1);
    rt_enf_server_free(e.srv); /* owns the fd now */
    e.srv = NULL;
    CHECK(fcntl(lfd, F_GETFD) < 0 && errno == EBADF);

    char path[160];
    int sp[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
    snprintf(path, sizeof path, "%s/bound.sock", e.dir);
    int bound = listening_socket(path, SOCK_STREAM, false);
    snprintf(path, sizeof path, "%s/dgram.sock", e.dir);
    int dgram = listening_socket(path, SOCK_DGRAM, false);
    REQUIRE(bound >= 0 && dgram >= 0);
    int refused[] = {sp[0], bound, dgram};
    for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
        e.opt.listen_fd = refused[i];
        errno = 0;
        struct rt_enf_server *s = rt_enf_server_new(e.base, &e.opt, &ops, &e.core);
        CHECK(s == NULL && errno == ENOTSOCK);
        rt_enf_server_free(s);
        CHECK(fcntl(refused[i], F_GETFD) >= 0); /* still the caller's */
        close(refused[i]);
    }
    close(sp[1]);
    env_done(&e);
}

TEST(invalid_options_are_refused) {
    struct env e;
    REQUIRE(env_init(&e));
    struct rt_enf_server_ops no_demote = ops;
    no_demote.on_demote = NULL;
    errno = 0;
    CHECK(rt_enf_server_new(e.base, &e.opt, &no_demote, &e.core) == NULL && errno == EINVAL);
    struct rt_enf_server_options o = e.opt;
    o.n_allowed_uids = RT_ENF_SERVER_MAX_PEERS + 1;
    errno = 0;
    CHECK(rt_enf_server_new(e.base, &o, &ops, &e.core) == NULL && errno == EINVAL);
    o = e.opt;
    o.max_connections = RT_ENF_SERVER_MAX_CONNECTIONS + 1;
    CHECK(rt_enf_server_new(e.base, &o, &ops, &e.core) == NULL);
    o = e.opt;
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    o.socket_path = longpath;
    errno = 0;
    CHECK(rt_enf_server_new(e.base, &o, &ops, &e.core) == NULL && errno == ENAMETOOLONG);
    CHECK_EQ_STR(rt_enf_proto_error_name(RT_ENF_PERR_WRONG_STATE), "wrong_state");
    CHECK_EQ_STR(rt_enf_proto_error_name(RT_ENF_PERR_INVALID_REQUEST), "invalid_request");
    CHECK_EQ_STR(rt_enf_proto_error_name(RT_ENF_PERR_COUNT), "unknown");
    env_done(&e);
}

TEST_MAIN()
