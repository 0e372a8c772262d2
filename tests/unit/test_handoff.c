/* Hand-off to the enforcer: durability of pending decisions, the connection
 * state machine, and recovery from a misbehaving peer. The peer here is a
 * scripted fake enforcer (fault injection); the real enforcer is exercised
 * by the end-to-end tests. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proto.h"
#include "common/rtime.h"
#include "watchdog/handoff.h"
#include "tests/unit/harness.h"

#define T0 INT64_C(1795000000000000)
#define DAY INT64_C(86400000000)

enum fake_mode { ACK, REFUSE, GARBAGE_ONCE, SILENT };
/* What the fake does with an ACTUATED. */
enum fake_actuated_mode { ACT_ACK, ACT_HOLD, ACT_CLOSE };

struct fake {
    struct evconnlistener *lis;
    struct bufferevent *conn;
    enum fake_mode mode;
    enum fake_actuated_mode act_mode;
    int hellos, demotes, heartbeats, actuateds;
    uint8_t last_id[RT_PROTO_REQUEST_ID];
    struct rt_msg_actuated held; /* the last ACTUATED, answered later in ACT_HOLD */
};

static void fake_ack_actuated(struct fake *f, const struct rt_msg_actuated *a);

static void fake_send(struct fake *f, const struct rt_msg *m) {
    uint8_t buf[RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD];
    int n = rt_proto_encode(m, buf, sizeof(buf));
    if (n > 0)
        bufferevent_write(f->conn, buf, (size_t)n);
}

static void fake_reply(struct fake *f, const struct rt_msg *in) {
    struct rt_msg out = {0};
    if (in->type == RT_MSG_HELLO) {
        f->hellos++;
        out.type = RT_MSG_HELLO_OK;
        out.u.hello_ok.version = 1;
    } else if (in->type == RT_MSG_HEARTBEAT) {
        f->heartbeats++;
        out.type = RT_MSG_HEARTBEAT_ACK;
        out.u.heartbeat = in->u.heartbeat;
    } else if (in->type == RT_MSG_ACTUATED) {
        f->actuateds++;
        f->held = in->u.actuated;
        if (f->act_mode == ACT_CLOSE) { /* as the enforcer does with an invalid request */
            bufferevent_free(f->conn);
            f->conn = NULL;
        } else if (f->act_mode == ACT_ACK) {
            fake_ack_actuated(f, &in->u.actuated);
        }
        return;
    } else if (in->type == RT_MSG_DEMOTE) {
        f->demotes++;
        memcpy(f->last_id, in->u.demote.request_id, RT_PROTO_REQUEST_ID);
        if (f->mode == SILENT)
            return;
        if (f->mode == GARBAGE_ONCE) {
            f->mode = ACK;
            bufferevent_write(f->conn, "RTC1\x63garbage", 12);
            return;
        }
        if (f->mode == REFUSE) {
            out.type = RT_MSG_DEMOTE_REFUSED;
            memcpy(out.u.demote_refused.request_id, in->u.demote.request_id, RT_PROTO_REQUEST_ID);
            strcpy(out.u.demote_refused.reason, "window shorter than the enforcer's policy");
        } else {
            out.type = RT_MSG_DEMOTE_ACK;
            memcpy(out.u.demote_ack.request_id, in->u.demote.request_id, RT_PROTO_REQUEST_ID);
            out.u.demote_ack.status = RT_DEMOTE_RECORDED;
            out.u.demote_ack.seq = (uint64_t)f->demotes;
        }
    } else {
        return;
    }
    fake_send(f, &out);
}

static void fake_ack_actuated(struct fake *f, const struct rt_msg_actuated *a) {
    struct rt_msg out = {.type = RT_MSG_ACTUATED_ACK};
    out.u.actuated_ack = (struct rt_msg_actuated_ack){.for_seq = a->for_seq, .status = RT_ACTUATED_RECORDED,
                                                      .seq = a->for_seq + 100};
    fake_send(f, &out);
}

static void fake_read(struct bufferevent *bev, void *ud) {
    struct fake *f = ud;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint8_t buf[RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD];
    for (;;) {
        if (evbuffer_copyout(in, buf, RT_PROTO_HEADER) < RT_PROTO_HEADER)
            return;
        int len = rt_proto_frame_length(buf, RT_PROTO_HEADER);
        if (len <= 0 || evbuffer_get_length(in) < (size_t)len)
            return;
        evbuffer_remove(in, buf, (size_t)len);
        struct rt_msg m;
        char err[128];
        if (rt_proto_decode(buf, (size_t)len, &m, err, sizeof(err)) == 0)
            fake_reply(f, &m);
        if (!f->conn)
            return; /* closed it */
    }
}

static void fake_event(struct bufferevent *bev, short what, void *ud) {
    struct fake *f = ud;
    (void)what;
    bufferevent_free(bev);
    if (f->conn == bev)
        f->conn = NULL;
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *ud) {
    struct fake *f = ud;
    (void)sa;
    (void)len;
    if (f->conn)
        bufferevent_free(f->conn);
    f->conn = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(f->conn, fake_read, NULL, fake_event, f);
    bufferevent_enable(f->conn, EV_READ | EV_WRITE);
}

static bool fake_listen(struct fake *f, struct event_base *base, const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    f->lis = evconnlistener_new_bind(base, fake_accept, f, LEV_OPT_CLOSE_ON_FREE, 16,
                                     (struct sockaddr *)&sa, sizeof(sa));
    return f->lis != NULL;
}

static void fake_stop(struct fake *f) {
    if (f->conn)
        bufferevent_free(f->conn);
    if (f->lis)
        evconnlistener_free(f->lis);
    f->conn = NULL;
    f->lis = NULL;
}

static void on_deadline(evutil_socket_t fd, short what, void *ud) {
    (void)fd;
    (void)what;
    *(bool *)ud = true;
}

/* Runs the loop until pred holds or 5 s pass; returns pred's final value.
 * Every state change happens in an event callback, so checking after each
 * dispatch round needs no polling. */
static bool run_until(struct event_base *base, bool (*pred)(void *), void *ud) {
    bool expired = false;
    struct event *deadline = evtimer_new(base, on_deadline, &expired);
    struct timeval five = {5, 0};
    evtimer_add(deadline, &five);
    while (!pred(ud) && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    return pred(ud);
}

struct env {
    struct event_base *base;
    struct rt_handoff *h;
    struct fake fake;
    char dir[64], sock[128];
};

static bool no_pending(void *ud) {
    struct rt_handoff_stats st;
    rt_handoff_get_stats(((struct env *)ud)->h, &st);
    return st.pending == 0;
}

static bool refused_once(void *ud) {
    struct rt_handoff_stats st;
    rt_handoff_get_stats(((struct env *)ud)->h, &st);
    return st.refused >= 1;
}

static bool one_left(void *ud) {
    struct rt_handoff_stats st;
    rt_handoff_get_stats(((struct env *)ud)->h, &st);
    return st.pending == 1 && st.acked == 1;
}

static bool connected(void *ud) {
    struct rt_handoff_stats st;
    rt_handoff_get_stats(((struct env *)ud)->h, &st);
    return st.connected;
}

static bool setup(struct env *e) {
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN); /* as the daemon does: writing to a peer that closed is EPIPE, not death */
    strcpy(e->dir, "/tmp/ratchet-handoff-XXXXXX");
    if (!mkdtemp(e->dir))
        return false;
    snprintf(e->sock, sizeof(e->sock), "%s/enforcer.sock", e->dir);
    e->base = event_base_new();
    return e->base != NULL;
}

static int open_handoff(struct env *e) {
    struct rt_handoff_options o = {.socket_path = e->sock, .state_dir = e->dir,
                                   .retry_min_us = 10000, .retry_max_us = 50000,
                                   .refused_retry_us = 3600 * RT_USEC_PER_SEC};
    struct rt_journal_load_report rep;
    return rt_handoff_open(e->base, &o, &e->h, &rep);
}

static void teardown(struct env *e) {
    rt_handoff_close(e->h);
    fake_stop(&e->fake);
    event_base_free(e->base);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    CHECK(system(cmd) == 0);
}

static struct rt_decision decision(const char *bot, int64_t ws) {
    return (struct rt_decision){.bot = bot, .cond = RT_COND_P0_ALERT, .reason_code = "demote.p0_alert",
                                .ts_us = ws + DAY, .window_start_us = ws, .window_us = DAY,
                                .evidence_ts_us = ws + DAY - 60000000, .evidence_known = true,
                                .evidence_value = 1};
}

TEST(pending_survives_restart_until_acknowledged) {
    struct env e;
    REQUIRE(setup(&e));
    REQUIRE(open_handoff(&e) == 0); /* no enforcer yet */
    struct rt_decision d = decision("alpha", T0);
    CHECK_EQ_INT(rt_handoff_submit(e.h, &d, "P0 active 24h"), 0);
    CHECK_EQ_INT(rt_handoff_submit(e.h, &d, "P0 active 24h"), 1); /* same decision again */
    struct rt_handoff_stats st;
    rt_handoff_get_stats(e.h, &st);
    CHECK_EQ_INT(st.pending, 1);
    rt_handoff_close(e.h); /* "crash": only the journal remains */
    e.h = NULL;

    REQUIRE(open_handoff(&e) == 0);
    rt_handoff_get_stats(e.h, &st);
    CHECK_EQ_INT(st.pending, 1);
    e.fake.mode = ACK;
    REQUIRE(fake_listen(&e.fake, e.base, e.sock));
    CHECK(run_until(e.base, no_pending, &e));
    CHECK_EQ_INT(e.fake.hellos, 1);
    CHECK_EQ_INT(e.fake.demotes, 1);
    uint8_t want[RT_PROTO_REQUEST_ID];
    rt_handoff_request_id("alpha", RT_COND_P0_ALERT, T0, want);
    CHECK(memcmp(e.fake.last_id, want, RT_PROTO_REQUEST_ID) == 0);
    rt_handoff_close(e.h);
    e.h = NULL;

    REQUIRE(open_handoff(&e) == 0); /* the acknowledgement was durable too */
    rt_handoff_get_stats(e.h, &st);
    CHECK_EQ_INT(st.pending, 0);
    teardown(&e);
}

static int count_record(const struct rt_journal_record *rec, void *ud) {
    *(int *)ud += rec->value_len ? 1 : -1; /* an empty value deletes (acknowledged) */
    return 0;
}

/* Decisions pending in what a crash would leave of the "pending" store. */
static int durable_records(const struct env *e) {
    int n = 0;
    struct rt_journal_load_report rep;
    return rt_journal_load(e->dir, "pending", count_record, &n, &rep) == 0 ? n : -1;
}

static bool two_demotes_seen(void *ud) { return ((struct env *)ud)->fake.demotes >= 2; }

/* Group commit: deferred decisions are neither durable nor sent until the
 * flush, which commits them all at once and then sends them. */
TEST(deferred_decisions_are_committed_then_sent_by_the_flush) {
    struct env e;
    REQUIRE(setup(&e));
    e.fake.mode = ACK;
    REQUIRE(fake_listen(&e.fake, e.base, e.sock));
    REQUIRE(open_handoff(&e) == 0);
    REQUIRE(run_until(e.base, connected, &e));
    struct rt_decision a = decision("alpha", T0), b = decision("bravo", T0);
    rt_handoff_defer(e.h);
    CHECK_EQ_INT(rt_handoff_submit(e.h, &a, "P0 active 24h"), 0);
    CHECK_EQ_INT(rt_handoff_submit(e.h, &b, "P0 active 24h"), 0);
    CHECK_EQ_INT(durable_records(&e), 0);
    event_base_loop(e.base, EVLOOP_NONBLOCK); /* nothing goes out before the flush */
    CHECK_EQ_INT(e.fake.demotes, 0);
    REQUIRE(rt_handoff_flush(e.h) == 0);
    CHECK_EQ_INT(durable_records(&e), 2);
    CHECK(run_until(e.base, two_demotes_seen, &e));
    CHECK(run_until(e.base, no_pending, &e));
    struct rt_decision c = decision("charlie", T0); /* not deferred any more: at once */
    CHECK_EQ_INT(rt_handoff_submit(e.h, &c, "P0 active 24h"), 0);
    CHECK_EQ_INT(durable_records(&e), 1); /* alpha and bravo acknowledged (deleted), charlie */
    CHECK_EQ_INT(rt_handoff_flush(e.h), 0);
    teardown(&e);
}

TEST(bad_frame_from_peer_drops_connection_and_resends) {
    struct env e;
    REQUIRE(setup(&e));
    e.fake.mode = GARBAGE_ONCE;
    REQUIRE(fake_listen(&e.fake, e.base, e.sock));
    REQUIRE(open_handoff(&e) == 0);
    REQUIRE(run_until(e.base, connected, &e));
    struct rt_decision d = decision("beta", T0);
    REQUIRE(rt_handoff_submit(e.h, &d, "x") == 0);
    CHECK(run_until(e.base, no_pending, &e));
    struct rt_handoff_stats st;
    rt_handoff_get_stats(e.h, &st);
    CHECK_EQ_INT(st.protocol_errors, 1);
    CHECK_EQ_INT(e.fake.demotes, 2); /* sent, garbage back, reconnected, sent again */
    CHECK_EQ_INT(e.fake.hellos, 2);
    CHECK_EQ_INT(st.acked, 1);
    teardown(&e);
}

TEST(refused_request_stays_pending_and_is_not_resent_at_once) {
    struct env e;
    REQUIRE(setup(&e));
    e.fake.mode = REFUSE;
    REQUIRE(fake_listen(&e.fake, e.base, e.sock));
    REQUIRE(open_handoff(&e) == 0);
    struct rt_decision d = decision("gamma", T0);
    REQUIRE(rt_handoff_submit(e.h, &d, "x") == 0);
    CHECK(run_until(e.base, refused_once, &e));
    struct rt_handoff_stats st;
    rt_handoff_get_stats(e.h, &st);
    CHECK_EQ_INT(st.pending, 1);
    /* another decision flows while the refused one waits for its retry time */
    e.fake.mode = ACK;
    struct rt_decision d2 = decision("delta", T0);
    REQUIRE(rt_handoff_submit(e.h, &d2, "x") == 0);
    CHECK(run_until(e.base, one_left, &e));
    CHECK_EQ_INT(e.fake.demotes, 2);
    teardown(&e);
}

static struct rt_handoff_stats hstats(const struct env *e) {
    struct rt_handoff_stats st;
    rt_handoff_get_stats(e->h, &st);
    return st;
}

static bool one_actuated_seen(void *ud) { return ((struct env *)ud)->fake.actuateds >= 1; }
static bool two_actuated_seen(void *ud) { return ((struct env *)ud)->fake.actuateds >= 2; }
static bool one_demote_seen(void *ud) { return ((struct env *)ud)->fake.demotes >= 1; }
static bool actuations_done(void *ud) { return hstats(ud).actuations_pending == 0; }
static bool demote_acked_after_drop(void *ud) {
    struct rt_handoff_stats st = hstats(ud);
    return st.acked == 1 && st.actuations_dropped == 1;
}

TEST(actuated_reports_go_one_at_a_time_until_acknowledged) {
    struct env e;
    REQUIRE(setup(&e));
    e.fake.act_mode = ACT_HOLD;
    REQUIRE(fake_listen(&e.fake, e.base, e.sock));
    REQUIRE(open_handoff(&e) == 0);
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 3, 200, "https://cp.example/r"), 0);
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 3, 200, "https://cp.example/r"), 1); /* already queued */
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 7, 202, "https://cp.example/r"), 0);
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 8, 500, "https://cp.example/r"), -EINVAL); /* not a success */
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 8, 200, ""), -EINVAL);
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 8, 200, "tab\there"), -EINVAL);
    CHECK_EQ_INT(hstats(&e).actuations_pending, 2);
    REQUIRE(run_until(e.base, one_actuated_seen, &e));
    /* a demotion sent after it arrives, and the second report has not */
    struct rt_decision d = decision("alpha", T0);
    REQUIRE(rt_handoff_submit(e.h, &d, "x") == 0);
    REQUIRE(run_until(e.base, one_demote_seen, &e));
    CHECK_EQ_INT(e.fake.actuateds, 1);
    CHECK_EQ_INT(e.fake.held.for_seq, 3);
    CHECK_EQ_INT(e.fake.held.http_status, 200);
    CHECK_EQ_STR(e.fake.held.target, "https://cp.example/r");
    /* its answer releases the next one */
    e.fake.act_mode = ACT_ACK;
    fake_ack_actuated(&e.fake, &e.fake.held);
    CHECK(run_until(e.base, actuations_done, &e));
    CHECK_EQ_INT(e.fake.actuateds, 2);
    CHECK_EQ_INT(e.fake.held.for_seq, 7);
    CHECK_EQ_INT(hstats(&e).actuations_acked, 2);
    /* not journaled: the log's actuated records are the durable truth */
    CHECK_EQ_INT(rt_handoff_actuated(e.h, 9, 200, "https://cp.example/r"), 0);
    rt_handoff_close(e.h);
    e.h = NULL;
    REQUIRE(open_handoff(&e) == 0);
    CHECK_EQ_INT(hstats(&e).actuations_pending, 0);
    teardown(&e);
}

TEST(a_report_the_enforcer_refuses_does_not_block_demotions) {
    struct env e;
    REQUIRE(setup(&e));
    e.fake.act_mode = ACT_CLOSE;
    REQUIRE(fake_listen(&e.fake, e.base, e.sock));
    REQUIRE(open_handoff(&e) == 0);
    REQUIRE(rt_handoff_actuated(e.h, 4, 200, "https://cp.example/r") == 0);
    REQUIRE(run_until(e.base, one_actuated_seen, &e));
    /* the connection was closed on it; a demotion still gets through at once,
     * while the report waits out its backoff (at least a second) */
    struct rt_decision d = decision("beta", T0);
    REQUIRE(rt_handoff_submit(e.h, &d, "x") == 0);
    CHECK(run_until(e.base, demote_acked_after_drop, &e));
    CHECK_EQ_INT(e.fake.actuateds, 1);
    CHECK_EQ_INT(hstats(&e).actuations_pending, 1);
    /* later it is sent again */
    e.fake.act_mode = ACT_ACK;
    CHECK(run_until(e.base, two_actuated_seen, &e));
    CHECK(run_until(e.base, actuations_done, &e));
    CHECK_EQ_INT(hstats(&e).actuations_acked, 1);
    teardown(&e);
}

TEST(request_ids_differ_by_bot_condition_and_window) {
    uint8_t a[16], b[16], c[16], d[16], a2[16];
    rt_handoff_request_id("alpha", RT_COND_P0_ALERT, T0, a);
    rt_handoff_request_id("alpha", RT_COND_P0_ALERT, T0, a2);
    rt_handoff_request_id("alphb", RT_COND_P0_ALERT, T0, b);
    rt_handoff_request_id("alpha", RT_COND_CVSS, T0, c);
    rt_handoff_request_id("alpha", RT_COND_P0_ALERT, T0 + 1, d);
    CHECK(memcmp(a, a2, 16) == 0);
    CHECK(memcmp(a, b, 16) != 0);
    CHECK(memcmp(a, c, 16) != 0);
    CHECK(memcmp(a, d, 16) != 0);
}

TEST_MAIN()
