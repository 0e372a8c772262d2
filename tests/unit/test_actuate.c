/* Actuation (watchdog/actuate.c) on a real event loop: a signed log written
 * by the cmdlog writer, pushes to tests/helpers/httpd.py's /sink (a control
 * plane stand-in that can answer 500 first), and an on_pushed callback that
 * plays the enforcer by appending the actuated record. Run from the repo
 * root (needs python3). No sleeps: the loop runs until the expected state,
 * with a guard timer. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmdlog/logkey.h"
#include "cmdlog/writer.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "watchdog/actuate.h"
#include "watchdog/config.h"

#define GUARD_SEC 20
#define S(x) ((int64_t)(x) * RT_USEC_PER_SEC)
#define T0 S(1795000000)
#define DAY S(86400)
#define MAX_CALLS 64

/* ---- the scripted HTTP server (as in test_fetch.c) ---- */

struct server {
    pid_t pid;
    int stdin_fd; /* closing it makes the server exit */
    int port;
};

static void server_stop(struct server *s) {
    if (s->pid <= 0)
        return;
    close(s->stdin_fd);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static int server_start(struct server *s) {
    int in[2], out[2];
    char line[32] = "";
    *s = (struct server){.pid = 0, .stdin_fd = -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return -errno;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        execlp("python3", "python3", "tests/helpers/httpd.py", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    /* the port, then a newline: read up to it, so that the server's write
     * of the newline finds the pipe still open */
    size_t len = 0;
    while (s->pid > 0 && len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        line[len] = '\0';
    }
    close(out[0]);
    s->port = atoi(line);
    if (s->port <= 0) {
        server_stop(s);
        return -EIO;
    }
    return 0;
}

/* ---- the environment ---- */

struct env {
    struct server srv;
    struct event_base *base;
    char dir[64];
    struct rt_log_key *key;
    struct rt_logw *w;       /* the "enforcer's" writer */
    struct wd_actuate *a;
    bool enforcer_records;   /* on_pushed appends the actuated record */
    bool saw_overflow;       /* on_pushed found records not held */
    size_t n_calls;
    uint64_t call_seq[MAX_CALLS];
    unsigned call_status[MAX_CALLS];
    char call_target[MAX_CALLS][WD_ACTUATE_TARGET_MAX + 1];
    bool guard_fired;
};

static bool env_init(struct env *e) {
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN);
    rt_log_init("test_actuate", LOG_CRIT);
    strcpy(e->dir, "/tmp/rt-actuate-XXXXXX");
    e->base = event_base_new();
    return mkdtemp(e->dir) && e->base && server_start(&e->srv) == 0 &&
           rt_log_key_generate("ratchet.test", &e->key) == 0;
}

static void env_done(struct env *e) {
    wd_actuate_free(e->a);
    rt_logw_close(e->w);
    rt_log_key_free(e->key);
    server_stop(&e->srv);
    if (e->base)
        event_base_free(e->base);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    CHECK(system(cmd) == 0);
}

static int open_log(struct env *e) {
    static const uint8_t policy[32] = {1};
    struct rt_logw_report rep;
    return rt_logw_open(e->dir, "ratchet.test/commands", e->key, policy, NULL, NULL, &e->w, &rep);
}

static uint64_t append_demote(struct env *e, const char *bot) {
    struct rt_log_record rec = {.type = RT_LOG_DEMOTE};
    struct rt_msg_demote *d = &rec.u.demote;
    memset(d->request_id, 0x42, sizeof(d->request_id));
    rt_strlcpy(d->bot, bot, sizeof(d->bot));
    d->cond = RT_COND_P0_ALERT;
    strcpy(d->reason_code, "demote.p0_alert");
    d->window_start_us = T0;
    d->decided_at_us = T0 + DAY;
    d->window_us = DAY;
    d->evidence_ts_us = T0 + DAY;
    d->evidence_known = true;
    d->evidence_value = 1;
    /* a realistic size: the summary says why, in words */
    snprintf(d->summary, sizeof(d->summary), "p0_alert in breach for 1d since 2026-11-18T10:00:00Z; %0480d", 0);
    uint64_t seq = 0;
    return rt_logw_append(e->w, &rec, &seq) == 0 ? seq : 0;
}

static int append_actuated(struct env *e, uint64_t for_seq) {
    struct rt_log_record rec = {.type = RT_LOG_ACTUATED};
    rec.u.actuated.for_seq = for_seq;
    rec.u.actuated.http_status = 200;
    strcpy(rec.u.actuated.target, "http://control-plane.test/records");
    return rt_logw_append(e->w, &rec, NULL);
}

static int on_pushed(uint64_t seq, unsigned http_status, const char *target, void *ud) {
    struct env *e = ud;
    struct wd_actuate_stats st;
    wd_actuate_get_stats(e->a, &st);
    e->saw_overflow |= st.overflow;
    if (e->n_calls < MAX_CALLS) {
        e->call_seq[e->n_calls] = seq;
        e->call_status[e->n_calls] = http_status;
        rt_strlcpy(e->call_target[e->n_calls], target, sizeof(e->call_target[0]));
    }
    e->n_calls++;
    return e->enforcer_records ? append_actuated(e, seq) : 0;
}

static int start(struct env *e, const char *sink, size_t max_pending, size_t scan_budget) {
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sink/%s", e->srv.port, sink);
    struct wd_actuate_options o = {.log_dir = e->dir, .url = url, .on_pushed = on_pushed, .ud = e,
                                   .scan_interval_us = 20000, .retry_min_us = 10000, .retry_max_us = 40000,
                                   .max_pending = max_pending, .scan_budget = scan_budget};
    char err[256];
    int r = wd_actuate_new(e->base, &o, &e->a, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "    wd_actuate_new: %s\n", err);
    return r;
}

static void stop(struct env *e) {
    wd_actuate_free(e->a);
    e->a = NULL;
}

static struct wd_actuate_stats stats(const struct env *e) {
    struct wd_actuate_stats st;
    wd_actuate_get_stats(e->a, &st);
    return st;
}

static void on_guard(evutil_socket_t fd, short what, void *ud) {
    (void)fd;
    (void)what;
    struct env *e = ud;
    e->guard_fired = true;
    event_base_loopbreak(e->base);
}

static bool run_until(struct env *e, bool (*pred)(struct env *, void *), void *ud) {
    struct timeval tv = {GUARD_SEC, 0};
    struct event *guard = evtimer_new(e->base, on_guard, e);
    e->guard_fired = false;
    evtimer_add(guard, &tv);
    while (!pred(e, ud) && !e->guard_fired)
        event_base_loop(e->base, EVLOOP_ONCE);
    event_free(guard);
    return pred(e, ud);
}

static bool calls_reach(struct env *e, void *ud) { return e->n_calls >= *(size_t *)ud; }

/* Every pending record done: the log has an actuated record for each. */
static bool all_done(struct env *e, void *ud) {
    (void)ud;
    struct wd_actuate_stats st = stats(e);
    return st.pending == 0 && !st.overflow && st.demotes_seen > 0;
}

static bool pushed_count_is(struct env *e, void *ud) { return stats(e).pushed == *(size_t *)ud; }

/* ---- reading the sink and the log ---- */

/* GET /sink/KEY with a fetcher of our own. */
struct sink_get {
    bool done;
    json_t *posts;
};

static void sink_done(const struct rt_fetch_result *res) {
    struct sink_get *g = res->userdata;
    g->done = true;
    if (res->outcome == RT_FETCH_OK)
        g->posts = json_loadb(res->body, res->body_len, 0, NULL);
}

static bool sink_got(struct env *e, void *ud) {
    (void)e;
    return ((struct sink_get *)ud)->done;
}

static json_t *sink_posts(struct env *e, const char *key) {
    struct rt_fetcher *f = rt_fetcher_new(e->base, NULL);
    struct sink_get g = {0};
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sink/%s", e->srv.port, key);
    if (f && rt_fetch_get(f, url, NULL, sink_done, &g) == 0)
        run_until(e, sink_got, &g);
    rt_fetcher_free(f);
    return g.posts;
}

/* Line seq of the log (without its LF), into buf. */
static bool log_line(struct env *e, uint64_t seq, char *buf, size_t cap) {
    char path[128], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s", e->dir, RT_LOGW_FILE);
    if (rt_read_file_bounded(path, 1 << 24, &data, &len) < 0)
        return false;
    char *p = data;
    for (uint64_t i = 0; i < seq && p; i++) {
        p = memchr(p, '\n', (size_t)(data + len - p));
        p = p ? p + 1 : NULL;
    }
    char *lf = p ? memchr(p, '\n', (size_t)(data + len - p)) : NULL;
    bool ok = lf && (size_t)(lf - p) < cap;
    if (ok) {
        memcpy(buf, p, (size_t)(lf - p));
        buf[lf - p] = '\0';
    }
    free(data);
    return ok;
}

static const char *post_field(json_t *posts, size_t i, const char *key) {
    return json_string_value(json_object_get(json_array_get(posts, i), key));
}

static json_int_t post_status(json_t *posts, size_t i) {
    return json_integer_value(json_object_get(json_array_get(posts, i), "status"));
}

/* ---- tests ---- */

TEST(pushes_each_demote_record_in_log_order_retrying_until_2xx) {
    struct env e;
    REQUIRE(env_init(&e));
    e.enforcer_records = true;
    REQUIRE(start(&e, "t1?fail=2", 0, 0) == 0);
    wd_actuate_scan_now(e.a); /* no log yet: waited for */
    CHECK(!stats(&e).log_present);
    CHECK_EQ_INT(stats(&e).pending, 0);
    REQUIRE(open_log(&e) == 0);
    uint64_t a = append_demote(&e, "alpha");
    struct rt_log_record silent = {.type = RT_LOG_WATCHDOG_SILENT};
    silent.u.watchdog_silent.since_us = T0;
    REQUIRE(rt_logw_append(e.w, &silent, NULL) == 0);
    uint64_t b = append_demote(&e, "beta");
    REQUIRE(a == 1 && b == 3);
    size_t want = 2;
    CHECK(run_until(&e, calls_reach, &want));
    CHECK(run_until(&e, all_done, NULL));
    REQUIRE(e.n_calls == 2);
    CHECK_EQ_INT(e.call_seq[0], a);
    CHECK_EQ_INT(e.call_seq[1], b);
    CHECK_EQ_INT(e.call_status[0], 200);
    char target[64];
    snprintf(target, sizeof(target), "http://127.0.0.1:%d/sink/t1", e.srv.port);
    CHECK_EQ_STR(e.call_target[0], target); /* without the query */

    struct wd_actuate_stats st = stats(&e);
    CHECK(st.log_present);
    CHECK_EQ_INT(st.pushes[RT_FETCH_OK], 2);
    CHECK_EQ_INT(st.pushes[RT_FETCH_HTTP_ERROR], 2);
    CHECK_EQ_INT(st.demotes_seen, 2);
    CHECK_EQ_INT(st.actuated_seen, 2);
    CHECK_EQ_STR(st.last_error, "");
    CHECK(st.last_success_us > 0);
    CHECK_EQ_STR(st.target, target);

    /* the control plane saw: alpha refused twice, then taken; then beta */
    json_t *posts = sink_posts(&e, "t1");
    REQUIRE(posts && json_array_size(posts) == 4);
    char la[RT_LOG_LINE_MAX + 1], lb[RT_LOG_LINE_MAX + 1];
    REQUIRE(log_line(&e, a, la, sizeof(la)) && log_line(&e, b, lb, sizeof(lb)));
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ_STR(post_field(posts, i, "body"), la); /* the exact line, without its LF */
        CHECK_EQ_INT(post_status(posts, i), i < 2 ? 500 : 200);
    }
    CHECK_EQ_STR(post_field(posts, 3, "body"), lb);
    CHECK_EQ_STR(post_field(posts, 0, "content_type"), WD_ACTUATE_CONTENT_TYPE);
    json_decref(posts);
    env_done(&e);
}

TEST(a_restart_pushes_only_what_the_log_does_not_mark_done) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(open_log(&e) == 0);
    uint64_t s1 = append_demote(&e, "a1"), s2 = append_demote(&e, "a2"), s3 = append_demote(&e, "a3");
    REQUIRE(s1 && s2 && s3);
    REQUIRE(append_actuated(&e, s1) == 0); /* done before this watchdog started */
    e.enforcer_records = false;             /* the 2xx comes, the enforcer's record does not */
    REQUIRE(start(&e, "t2", 0, 0) == 0);
    size_t two = 2;
    CHECK(run_until(&e, pushed_count_is, &two));
    CHECK_EQ_INT(e.n_calls, 2);
    CHECK_EQ_INT(e.call_seq[0], s2);
    CHECK_EQ_INT(e.call_seq[1], s3);
    stop(&e);

    /* restarted before the enforcer recorded them: pushed again (at least once) */
    e.n_calls = 0;
    REQUIRE(start(&e, "t2", 0, 0) == 0);
    CHECK(run_until(&e, pushed_count_is, &two));
    CHECK_EQ_INT(e.n_calls, 2);
    CHECK_EQ_INT(e.call_seq[0], s2);
    stop(&e);

    /* recorded now: a restart pushes nothing */
    REQUIRE(append_actuated(&e, s2) == 0 && append_actuated(&e, s3) == 0);
    e.n_calls = 0;
    REQUIRE(start(&e, "t2", 0, 0) == 0);
    wd_actuate_scan_now(e.a);
    struct wd_actuate_stats st = stats(&e);
    CHECK_EQ_INT(st.pending, 0); /* so no push can start */
    CHECK_EQ_INT(st.demotes_seen, 3);
    CHECK_EQ_INT(st.actuated_seen, 3);
    CHECK_EQ_INT(e.n_calls, 0);
    json_t *posts = sink_posts(&e, "t2");
    CHECK_EQ_INT(json_array_size(posts), 4);
    json_decref(posts);
    env_done(&e);
}

static bool one_pending(struct env *e, void *ud) {
    (void)ud;
    return stats(e).pending == 1 && e->n_calls == 1;
}

TEST(partial_garbage_and_overlong_lines) {
    struct env e;
    REQUIRE(env_init(&e));
    /* a real log elsewhere provides the lines; the file read here is made by hand */
    char real[sizeof(e.dir)];
    strcpy(real, e.dir);
    strcat(e.dir, "/real");
    REQUIRE(mkdir(e.dir, 0700) == 0);
    REQUIRE(open_log(&e) == 0);
    uint64_t s = append_demote(&e, "gamma");
    char genesis[RT_LOG_LINE_MAX + 1], demote[RT_LOG_LINE_MAX + 1];
    REQUIRE(log_line(&e, 0, genesis, sizeof(genesis)) && log_line(&e, s, demote, sizeof(demote)));
    strcpy(e.dir, real);

    char path[128];
    snprintf(path, sizeof(path), "%s/%s", e.dir, RT_LOGW_FILE);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fprintf(f, "%s\nnot a record\n", genesis);
    for (int i = 0; i < RT_LOG_LINE_MAX + 70000; i++) /* longer than any record and than a read */
        fputc('x', f);
    fputc('\n', f);
    size_t half = strlen(demote) / 2;
    fwrite(demote, 1, half, f); /* being written: no LF yet */
    fclose(f);
    struct stat st0;
    REQUIRE(stat(path, &st0) == 0);

    e.enforcer_records = false;
    REQUIRE(start(&e, "t3", 0, 0) == 0);
    wd_actuate_scan_now(e.a);
    struct wd_actuate_stats st = stats(&e);
    CHECK_EQ_INT(st.pending, 0);
    CHECK_EQ_INT(st.unparsable_lines, 2);
    CHECK_EQ_INT(st.log_offset, (uint64_t)st0.st_size - half); /* stopped at the partial line */

    f = fopen(path, "a");
    REQUIRE(f);
    fprintf(f, "%s\n", demote + half);
    fclose(f);
    CHECK(run_until(&e, one_pending, NULL));
    CHECK_EQ_INT(e.call_seq[0], s);
    json_t *posts = sink_posts(&e, "t3");
    REQUIRE(json_array_size(posts) == 1);
    CHECK_EQ_STR(post_field(posts, 0, "body"), demote);
    json_decref(posts);
    CHECK_EQ_INT(stats(&e).unparsable_lines, 2); /* not counted again */
    env_done(&e);
}

#define MANY 40 /* demote records: more than one round's byte budget */

TEST(more_pending_than_held_are_read_again_later) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(open_log(&e) == 0);
    uint64_t seqs[MANY];
    for (int i = 0; i < MANY; i++) {
        char bot[16];
        snprintf(bot, sizeof(bot), "bot-%d", i);
        seqs[i] = append_demote(&e, bot);
        REQUIRE(seqs[i]);
    }
    char path[128];
    struct stat lst;
    snprintf(path, sizeof(path), "%s/%s", e.dir, RT_LOGW_FILE);
    REQUIRE(stat(path, &lst) == 0 && lst.st_size > 2 * (RT_LOG_LINE_MAX + 1));
    e.enforcer_records = true;
    REQUIRE(start(&e, "t4", 3, 300) == 0); /* hold 3; read as little as a round may */
    wd_actuate_scan_now(e.a);
    struct wd_actuate_stats st = stats(&e);
    CHECK(st.pending <= 3);
    CHECK(st.overflow);
    CHECK(st.log_offset > 0 && st.log_offset <= RT_LOG_LINE_MAX + 1); /* one bounded read */
    size_t want = MANY;
    CHECK(run_until(&e, calls_reach, &want));
    CHECK(run_until(&e, all_done, NULL));
    REQUIRE(e.n_calls == MANY);
    for (int i = 0; i < MANY; i++)
        CHECK_EQ_INT(e.call_seq[i], seqs[i]); /* each once, in log order */
    CHECK(e.saw_overflow);
    st = stats(&e);
    CHECK_EQ_INT(st.demotes_seen, MANY);
    CHECK_EQ_INT(st.actuated_seen, MANY);
    CHECK_EQ_INT(st.pushes[RT_FETCH_OK], MANY);
    REQUIRE(stat(path, &lst) == 0);
    CHECK_EQ_INT(st.log_offset, lst.st_size); /* everything read, actuated records included */
    env_done(&e);
}

static bool reset_and_one_pending(struct env *e, void *ud) {
    (void)ud;
    return stats(e).resets == 1 && stats(e).pending == 1;
}

TEST(a_replaced_log_is_read_again_from_the_start) {
    struct env e;
    REQUIRE(env_init(&e));
    REQUIRE(open_log(&e) == 0);
    REQUIRE(append_demote(&e, "delta") == 1);
    e.enforcer_records = false;
    REQUIRE(start(&e, "t5?fail=1000", 0, 0) == 0); /* never taken: stays pending */
    wd_actuate_scan_now(e.a);
    CHECK_EQ_INT(stats(&e).pending, 1);
    /* another log moved into place: one demote record, at another offset */
    rt_logw_close(e.w);
    e.w = NULL;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cd '%s' && mkdir other && mv commands.log* checkpoint* other/ 2>/dev/null; test ! -e commands.log",
             e.dir);
    REQUIRE(system(cmd) == 0);
    REQUIRE(open_log(&e) == 0);
    REQUIRE(append_demote(&e, "epsilon") == 1);
    CHECK(run_until(&e, reset_and_one_pending, NULL));
    env_done(&e);
}

TEST(target_is_the_url_before_its_query) {
    char t[WD_ACTUATE_TARGET_MAX + 1], long_url[400];
    CHECK_EQ_INT(wd_actuate_target("https://cp.example/r?tenant=1#f", t, sizeof(t)), 0);
    CHECK_EQ_STR(t, "https://cp.example/r");
    CHECK_EQ_INT(wd_actuate_target("https://cp.example/r#frag", t, sizeof(t)), 0);
    CHECK_EQ_STR(t, "https://cp.example/r");
    CHECK_EQ_INT(wd_actuate_target("?x", t, sizeof(t)), -EINVAL);
    snprintf(long_url, sizeof(long_url), "https://cp.example/%0300d", 0);
    CHECK_EQ_INT(wd_actuate_target(long_url, t, sizeof(t)), -ENAMETOOLONG);
    CHECK_EQ_STR(wd_actuate_state_name(WD_ACTUATE_PUSHED), "pushed");

    /* the sample configuration: its target fits the record */
    struct rt_wd_config *c = NULL;
    REQUIRE(rt_wd_config_load("tests/config/good/control-plane.json", &c, NULL) == 0);
    CHECK(c->control_plane.enabled);
    CHECK_EQ_STR(c->control_plane.log_dir, "/var/lib/ratchet-enforcer");
    CHECK_EQ_INT(c->control_plane.auth.kind, RT_WD_AUTH_BASIC);
    CHECK_EQ_STR(c->control_plane.auth.username, "ratchet");
    CHECK_EQ_INT(wd_actuate_target(c->control_plane.url, t, sizeof(t)), 0);
    CHECK_EQ_STR(t, "https://cp.example:8443/api/v1/records");
    rt_wd_config_free(c);
    c = NULL;
    REQUIRE(rt_wd_config_load("tests/config/good/minimal.json", &c, NULL) == 0);
    CHECK(!c->control_plane.enabled); /* optional */
    rt_wd_config_free(c);
}

TEST(bad_options_are_refused) {
    struct event_base *base = event_base_new();
    REQUIRE(base);
    struct wd_actuate *a = NULL;
    char err[256];
    struct wd_actuate_options o = {.log_dir = "relative", .url = "http://x/", .on_pushed = on_pushed};
    CHECK_EQ_INT(wd_actuate_new(base, &o, &a, err, sizeof(err)), -EINVAL);
    o.log_dir = "/tmp";
    o.on_pushed = NULL;
    CHECK_EQ_INT(wd_actuate_new(base, &o, &a, err, sizeof(err)), -EINVAL);
    o.on_pushed = on_pushed;
    o.url = "?only-a-query";
    CHECK_EQ_INT(wd_actuate_new(base, &o, &a, err, sizeof(err)), -EINVAL);
    CHECK(a == NULL);
    event_base_free(base);
}

TEST_MAIN()
