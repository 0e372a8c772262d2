/* The fetcher on a real libevent loop against tests/helpers/httpd.py (run
 * from the repo root; needs python3 on PATH). No sleeps: each test runs the
 * loop until its callbacks have happened, with a guard timer so a broken
 * fetcher fails the test instead of hanging it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "watchdog/fetch.h"

#define GUARD_SEC 20

/* ---- the helper server ---- */

struct server {
    pid_t pid;
    int stdin_fd; /* closing it makes the server exit */
    int port;
};

static void server_stop(struct server *s) {
    if (s->pid <= 0)
        return;
    if (s->stdin_fd >= 0)
        close(s->stdin_fd);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static int server_start(struct server *s) {
    int in[2], out[2];
    char line[32] = "";
    size_t len = 0;

    *s = (struct server){.pid = 0, .stdin_fd = -1, .port = 0};
    if (pipe2(in, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return -errno;
    }
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
    if (s->pid < 0) {
        close(out[0]);
        close(in[1]);
        return -EIO;
    }
    /* The port is the first line; read blocks until the server prints it. */
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
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

static void url_of(char *buf, size_t size, const struct server *s, const char *path) {
    snprintf(buf, size, "http://127.0.0.1:%d%s", s->port, path);
}

/* ---- recording results ---- */

struct record {
    int calls;
    int order; /* position among all completions, from 1 */
    enum rt_fetch_outcome outcome;
    int curl_code;
    long status;
    char body[256];
    size_t body_len;
    char error[256];
    int64_t submitted_us, done_us, queued_us;
};

struct loop {
    struct event_base *base;
    struct rt_fetcher *fetcher;
    int completed;
    bool guard_fired;
};

struct call {
    struct loop *loop;
    struct record rec;
};

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void record_result(const struct rt_fetch_result *r) {
    struct call *c = r->userdata;
    struct record *rec = &c->rec;

    rec->calls++;
    rec->order = ++c->loop->completed;
    rec->outcome = r->outcome;
    rec->curl_code = r->curl_code;
    rec->status = r->http_status;
    rec->body_len = r->body_len;
    rt_strlcpy(rec->body, r->body, sizeof(rec->body));
    rt_strlcpy(rec->error, r->error, sizeof(rec->error));
    rec->done_us = mono_us();
    rec->queued_us = r->queued_us;
}

static void on_guard(evutil_socket_t fd, short kind, void *arg) {
    struct loop *l = arg;
    (void)fd;
    (void)kind;
    l->guard_fired = true;
    event_base_loopbreak(l->base);
}

/* Runs the loop until `want` requests have completed or the guard fires. */
static bool run_until(struct loop *l, int want) {
    struct timeval guard_tv = {GUARD_SEC, 0};
    struct event *guard = evtimer_new(l->base, on_guard, l);

    l->guard_fired = false;
    evtimer_add(guard, &guard_tv);
    while (l->completed < want && !l->guard_fired)
        event_base_loop(l->base, EVLOOP_ONCE);
    event_free(guard);
    return l->completed >= want;
}

static bool loop_init(struct loop *l, const struct rt_fetch_options *opt) {
    *l = (struct loop){0};
    l->base = event_base_new();
    if (!l->base)
        return false;
    l->fetcher = rt_fetcher_new(l->base, opt);
    return l->fetcher != NULL;
}

static void loop_done(struct loop *l) {
    rt_fetcher_free(l->fetcher);
    l->fetcher = NULL;
    if (l->base)
        event_base_free(l->base);
    l->base = NULL;
}

static int get(struct loop *l, struct call *c, const struct server *s, const char *path,
               const struct rt_fetch_auth *auth) {
    char url[256];

    c->loop = l;
    c->rec = (struct record){0};
    c->rec.submitted_us = mono_us();
    url_of(url, sizeof(url), s, path);
    return rt_fetch_get(l->fetcher, url, auth, record_result, c);
}

/* One GET on its own, run to completion. */
static bool get_one(struct loop *l, struct call *c, const struct server *s, const char *path,
                    const struct rt_fetch_auth *auth) {
    int want = l->completed + 1;
    return get(l, c, s, path, auth) == 0 && run_until(l, want) && c->rec.calls == 1;
}

static int server_stat(struct loop *l, const struct server *s, const char *name) {
    struct call c;
    char key[64];
    const char *p;

    if (!get_one(l, &c, s, "/stats", NULL) || c.rec.outcome != RT_FETCH_OK)
        return -1;
    snprintf(key, sizeof(key), "\"%s\": ", name);
    p = strstr(c.rec.body, key);
    return p ? atoi(p + strlen(key)) : -1;
}

#define SETUP(srv, lp, opt)                          \
    _cleanup_(server_stop) struct server srv = {0};  \
    struct loop lp;                                  \
    REQUIRE(server_start(&srv) == 0);                \
    if (!loop_init(&lp, opt)) {                      \
        loop_done(&lp);                              \
        REQUIRE(!"loop_init");                       \
    }

/* ---- tests ---- */

TEST(ok_body) {
    SETUP(srv, l, NULL);
    struct call c;
    struct rt_fetch_stats st;

    CHECK(get_one(&l, &c, &srv, "/status/200?body=hello%20world", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    CHECK_EQ_INT(c.rec.curl_code, 0);
    CHECK_EQ_INT(c.rec.status, 200);
    CHECK_EQ_STR(c.rec.body, "hello world");
    CHECK_EQ_INT(c.rec.body_len, 11);
    CHECK_EQ_STR(c.rec.error, "");

    CHECK(get_one(&l, &c, &srv, "/headers", NULL));
    CHECK_EQ_STR(c.rec.body, "UA=" RT_FETCH_USER_AGENT);

    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.submitted, 2);
    CHECK_EQ_INT(st.finished[RT_FETCH_OK], 2);
    CHECK_EQ_INT(st.running, 0);
    CHECK_EQ_INT(st.queued, 0);
    loop_done(&l);
}

TEST(http_errors_are_results) {
    SETUP(srv, l, NULL);
    struct call c;
    struct rt_fetch_stats st;

    CHECK(get_one(&l, &c, &srv, "/status/500?body=boom", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_HTTP_ERROR);
    CHECK_EQ_INT(c.rec.curl_code, 0);
    CHECK_EQ_INT(c.rec.status, 500);
    CHECK_EQ_STR(c.rec.body, "boom");
    CHECK_EQ_STR(c.rec.error, "HTTP status 500");

    CHECK(get_one(&l, &c, &srv, "/status/503", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_HTTP_ERROR);
    CHECK_EQ_INT(c.rec.curl_code, 0);
    CHECK_EQ_INT(c.rec.status, 503);

    /* Redirects are not followed: the 302 itself is the answer. */
    CHECK(get_one(&l, &c, &srv, "/redirect", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_HTTP_ERROR);
    CHECK_EQ_INT(c.rec.status, 302);

    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.finished[RT_FETCH_HTTP_ERROR], 3);
    CHECK_EQ_INT(st.finished[RT_FETCH_OK], 0);
    loop_done(&l);
}

TEST(timeout_is_bounded) {
    struct rt_fetch_options o = {.timeout_ms = 1000};
    SETUP(srv, l, &o);
    struct call c;
    int64_t elapsed;

    CHECK(get_one(&l, &c, &srv, "/hang/30", NULL));
    elapsed = c.rec.done_us - c.rec.submitted_us;
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TIMEOUT);
    CHECK_EQ_INT(c.rec.curl_code, 28); /* CURLE_OPERATION_TIMEDOUT */
    CHECK_EQ_INT(c.rec.status, 0);
    CHECK(elapsed >= 1000 * 1000);
    CHECK(elapsed <= 3000 * 1000);
    CHECK(c.rec.error[0] != '\0');

    /* A slow drip is cut by the total timeout too, not only silence. */
    CHECK(get_one(&l, &c, &srv, "/drip/100/0.05", NULL));
    elapsed = c.rec.done_us - c.rec.submitted_us;
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TIMEOUT);
    CHECK(elapsed >= 1000 * 1000);
    CHECK(elapsed <= 3000 * 1000);
    CHECK(c.rec.body_len > 0 && c.rec.body_len < 100);
    loop_done(&l);
}

TEST(slow_drip_within_timeout) {
    SETUP(srv, l, NULL);
    struct call c;

    CHECK(get_one(&l, &c, &srv, "/drip/8/0.02", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    CHECK_EQ_STR(c.rec.body, "dddddddd");
    loop_done(&l);
}

/* A port nothing listens on: bound once to learn a free one, then closed. */
static int closed_port(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

TEST(connection_refused) {
    struct loop l;
    struct call c = {.loop = &l};
    char url[64];
    int port = closed_port();

    REQUIRE(port > 0);
    REQUIRE(loop_init(&l, NULL));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, url, NULL, record_result, &c), 0);
    CHECK(run_until(&l, 1));
    CHECK_EQ_INT(c.rec.calls, 1);
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_CONNECT_ERROR);
    CHECK_EQ_INT(c.rec.curl_code, 7); /* CURLE_COULDNT_CONNECT */
    CHECK_EQ_INT(c.rec.status, 0);
    CHECK(c.rec.error[0] != '\0');
    loop_done(&l);
}

TEST(body_limit) {
    struct rt_fetch_options o = {.max_body_bytes = 1000};
    SETUP(srv, l, &o);
    struct call c;
    struct rt_fetch_stats st;

    /* Exactly the limit passes. */
    CHECK(get_one(&l, &c, &srv, "/big/1000", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    CHECK_EQ_INT(c.rec.body_len, 1000);

    /* Announced by Content-Length. */
    CHECK(get_one(&l, &c, &srv, "/big/1001", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TOO_LARGE);
    CHECK_EQ_STR(c.rec.error, "response larger than 1000 bytes");

    /* Unannounced: cut while streaming. */
    CHECK(get_one(&l, &c, &srv, "/big/500000?nolength=1", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TOO_LARGE);
    CHECK_EQ_STR(c.rec.error, "response larger than 1000 bytes");
    CHECK(c.rec.body_len <= 1000);

    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.finished[RT_FETCH_TOO_LARGE], 2);
    loop_done(&l);
}

/* What a large body looked like in its done callback. */
struct body_check {
    struct loop *loop;
    int calls;
    enum rt_fetch_outcome outcome;
    size_t len, usable; /* the buffer's size, from malloc */
    bool all_x;
};

static void check_body(const struct rt_fetch_result *r) {
    struct body_check *b = r->userdata;
    b->calls++;
    b->loop->completed++;
    b->outcome = r->outcome;
    b->len = r->body_len;
    b->usable = r->body_len ? malloc_usable_size((void *)r->body) : 0;
    b->all_x = true;
    for (size_t i = 0; i < r->body_len; i++)
        b->all_x &= r->body[i] == 'x';
}

static bool get_body(struct loop *l, const struct server *s, const char *path, struct body_check *b) {
    char url[256];
    int want = l->completed + 1;
    *b = (struct body_check){.loop = l};
    url_of(url, sizeof(url), s, path);
    return rt_fetch_get(l->fetcher, url, NULL, check_body, b) == 0 && run_until(l, want) && b->calls == 1;
}

TEST(body_buffer_sized_to_content_length) {
    SETUP(srv, l, NULL);
    struct body_check b;

    /* Announced: one buffer of that size (grown by doubling: 4 MiB). */
    CHECK(get_body(&l, &srv, "/big/3000000", &b));
    CHECK(b.outcome == RT_FETCH_OK && b.len == 3000000 && b.all_x);
    CHECK(b.usable >= 3000001 && b.usable < 3000001 + 65536);

    /* Not announced, or announced compressed: grown as it comes. */
    CHECK(get_body(&l, &srv, "/big/3000000?nolength=1", &b));
    CHECK(b.outcome == RT_FETCH_OK && b.len == 3000000 && b.all_x);
    CHECK(get_body(&l, &srv, "/big/300000?gzip=1", &b));
    CHECK(b.outcome == RT_FETCH_OK && b.len == 300000 && b.all_x);
    loop_done(&l);
}

TEST(broken_bodies) {
    SETUP(srv, l, NULL);
    struct call c;

    /* Well-framed HTTP with cut JSON is an HTTP success: parsing is the caller's. */
    CHECK(get_one(&l, &c, &srv, "/truncated-json", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    CHECK(c.rec.body_len > 0 && c.rec.body[c.rec.body_len - 1] != '}');

    CHECK(get_one(&l, &c, &srv, "/close-mid-body", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TRANSPORT_ERROR);
    CHECK_EQ_INT(c.rec.curl_code, 18); /* CURLE_PARTIAL_FILE */
    CHECK_EQ_INT(c.rec.status, 200);
    loop_done(&l);
}

TEST(protocols_limited) {
    SETUP(srv, l, NULL);
    struct call c = {.loop = &l};
    char url[128];

    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "file:///etc/hostname", NULL, record_result, &c), 0);
    CHECK(run_until(&l, 1));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TRANSPORT_ERROR);
    CHECK_EQ_INT(c.rec.curl_code, 1); /* CURLE_UNSUPPORTED_PROTOCOL */
    CHECK_EQ_INT(c.rec.body_len, 0);

    /* TLS to a plain-HTTP port fails the handshake. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/status/200", srv.port);
    c.rec = (struct record){0};
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, url, NULL, record_result, &c), 0);
    CHECK(run_until(&l, 2));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_TRANSPORT_ERROR);
    CHECK_EQ_INT(c.rec.body_len, 0);
    loop_done(&l);
}

TEST(environment_proxy_ignored) {
    SETUP(srv, l, NULL);
    struct call c;

    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    CHECK(get_one(&l, &c, &srv, "/status/200", NULL));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    loop_done(&l);
}

TEST(auth_headers) {
    SETUP(srv, l, NULL);
    struct call c;
    struct rt_fetch_auth bearer = {.kind = RT_FETCH_AUTH_BEARER, .token = "t0k3n"};
    struct rt_fetch_auth wrong = {.kind = RT_FETCH_AUTH_BEARER, .token = "other"};
    struct rt_fetch_auth basic = {.kind = RT_FETCH_AUTH_BASIC, .user = "alice", .password = "pw"};

    CHECK(get_one(&l, &c, &srv, "/auth/bearer/t0k3n", &bearer));
    CHECK_EQ_INT(c.rec.status, 200);
    CHECK_EQ_STR(c.rec.body, "authorized");

    CHECK(get_one(&l, &c, &srv, "/auth/bearer/t0k3n", &wrong));
    CHECK_EQ_INT(c.rec.status, 401);
    CHECK_EQ_STR(c.rec.body, "got Authorization: Bearer other");

    CHECK(get_one(&l, &c, &srv, "/auth/bearer/t0k3n", NULL));
    CHECK_EQ_INT(c.rec.status, 401);
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_HTTP_ERROR);

    CHECK(get_one(&l, &c, &srv, "/auth/basic/alice/pw", &basic));
    CHECK_EQ_INT(c.rec.status, 200);
    CHECK_EQ_STR(c.rec.body, "authorized");

    basic.password = "nope";
    CHECK(get_one(&l, &c, &srv, "/auth/basic/alice/pw", &basic));
    CHECK_EQ_INT(c.rec.status, 401);
    loop_done(&l);
}

TEST(bad_arguments_refused) {
    struct loop l;
    struct call c = {.loop = &l};
    struct rt_fetch_auth a = {.kind = RT_FETCH_AUTH_BEARER, .token = "a\r\nX-Evil: 1"};
    struct rt_fetch_options bad = {.timeout_ms = -1};
    char *huge = malloc(RT_FETCH_URL_MAX + 100);

    REQUIRE(huge);
    REQUIRE(loop_init(&l, NULL));
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "http://x/", &a, record_result, &c), -EINVAL);
    a = (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BEARER, .token = ""};
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "http://x/", &a, record_result, &c), -EINVAL);
    a = (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BASIC, .user = "a:b", .password = "p"};
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "http://x/", &a, record_result, &c), -EINVAL);
    a = (struct rt_fetch_auth){.kind = (enum rt_fetch_auth_kind)42};
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "http://x/", &a, record_result, &c), -EINVAL);
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "http://x/", NULL, NULL, &c), -EINVAL);
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "", NULL, record_result, &c), -EINVAL);
    memset(huge, 'a', RT_FETCH_URL_MAX + 1);
    huge[RT_FETCH_URL_MAX + 1] = '\0';
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, huge, NULL, record_result, &c), -E2BIG);
    a = (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BEARER, .token = huge};
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, "http://x/", &a, record_result, &c), -E2BIG);
    CHECK_EQ_INT(c.rec.calls, 0); /* refused requests never call done */
    loop_done(&l);
    free(huge);

    l.base = event_base_new();
    REQUIRE(l.base);
    errno = 0;
    CHECK(rt_fetcher_new(l.base, &bad) == NULL);
    CHECK_EQ_INT(errno, EINVAL);
    bad = (struct rt_fetch_options){.max_concurrent = RT_FETCH_MAX_CONCURRENT + 1};
    CHECK(rt_fetcher_new(l.base, &bad) == NULL);
    bad = (struct rt_fetch_options){.max_body_bytes = (size_t)RT_FETCH_MAX_BODY_LIMIT + 1};
    CHECK(rt_fetcher_new(l.base, &bad) == NULL);
    CHECK(rt_fetcher_new(NULL, NULL) == NULL);
    event_base_free(l.base);
}

TEST(concurrency_limit_and_fifo) {
    struct rt_fetch_options o = {.max_concurrent = 3};
    SETUP(srv, l, &o);
    struct call c[12];
    struct rt_fetch_stats st;

    for (size_t i = 0; i < ELEMENTSOF(c); i++)
        CHECK_EQ_INT(get(&l, &c[i], &srv, "/hang/0.2", NULL), 0);
    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.running, 3);
    CHECK_EQ_INT(st.queued, 9);
    CHECK(run_until(&l, (int)ELEMENTSOF(c)));
    for (size_t i = 0; i < ELEMENTSOF(c); i++) {
        CHECK_EQ_INT(c[i].rec.calls, 1);
        CHECK_EQ_INT(c[i].rec.outcome, RT_FETCH_OK);
        /* FIFO: request i cannot start before i/3 rounds of 0.2 s ended. */
        CHECK(c[i].rec.queued_us >= (int64_t)(i / 3) * 200000 - 20000);
    }
    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.max_running_seen, 3);
    CHECK_EQ_INT(server_stat(&l, &srv, "max_concurrent"), 3);
    CHECK_EQ_INT(server_stat(&l, &srv, "requests"), 12);
    loop_done(&l);
}

TEST(queue_limit) {
    struct rt_fetch_options o = {.max_concurrent = 1, .max_queued = 2};
    SETUP(srv, l, &o);
    struct call c[4];

    for (size_t i = 0; i < 3; i++)
        CHECK_EQ_INT(get(&l, &c[i], &srv, "/status/200", NULL), 0);
    CHECK_EQ_INT(get(&l, &c[3], &srv, "/status/200", NULL), -ENOBUFS);
    CHECK(run_until(&l, 3));
    for (size_t i = 0; i < 3; i++)
        CHECK_EQ_INT(c[i].rec.outcome, RT_FETCH_OK);
    CHECK_EQ_INT(c[3].rec.calls, 0);
    loop_done(&l);
}

#define MANY 200

TEST(many_requests_complete_once) {
    struct rt_fetch_options o = {.max_concurrent = 16, .max_queued = MANY};
    SETUP(srv, l, &o);
    static struct call c[MANY];
    struct rt_fetch_stats st;
    char path[64];

    for (int i = 0; i < MANY; i++) {
        snprintf(path, sizeof(path), "/status/200?body=n%d", i);
        CHECK_EQ_INT(get(&l, &c[i], &srv, path, NULL), 0);
    }
    CHECK(run_until(&l, MANY));
    for (int i = 0; i < MANY; i++) {
        char want[16];
        snprintf(want, sizeof(want), "n%d", i);
        CHECK_EQ_INT(c[i].rec.calls, 1);
        CHECK_EQ_INT(c[i].rec.outcome, RT_FETCH_OK);
        CHECK_EQ_STR(c[i].rec.body, want);
    }
    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.submitted, MANY);
    CHECK_EQ_INT(st.finished[RT_FETCH_OK], MANY);
    CHECK(st.max_running_seen <= 16);
    CHECK_EQ_INT(l.completed, MANY);
    loop_done(&l);
}

/* done re-submits: a chain of requests, each started from the previous one's callback. */
struct chain {
    struct loop *loop;
    const struct server *srv;
    int remaining, ok;
};

static void chain_next(const struct rt_fetch_result *r) {
    struct chain *ch = r->userdata;
    char url[128];

    ch->loop->completed++;
    if (r->outcome == RT_FETCH_OK)
        ch->ok++;
    if (--ch->remaining > 0) {
        url_of(url, sizeof(url), ch->srv, "/status/200");
        if (rt_fetch_get(ch->loop->fetcher, url, NULL, chain_next, ch) < 0)
            ch->remaining = 0;
    }
}

/* Keep-alive leaves a connection in curl's cache: freeing the fetcher must
 * release its socket watch too (the ASan build checks for leaks). */
TEST(keepalive_connection_reused_and_freed) {
    SETUP(srv, l, NULL);
    struct loop watcher;
    struct call c;

    CHECK(get_one(&l, &c, &srv, "/status/200?keepalive=1&body=a", NULL));
    CHECK_EQ_STR(c.rec.body, "a");
    CHECK(get_one(&l, &c, &srv, "/status/200?keepalive=1&body=b", NULL));
    CHECK_EQ_STR(c.rec.body, "b");
    loop_done(&l);

    REQUIRE(loop_init(&watcher, NULL));
    CHECK_EQ_INT(server_stat(&watcher, &srv, "requests"), 2);
    CHECK_EQ_INT(server_stat(&watcher, &srv, "connections"), 1);
    loop_done(&watcher);
}

TEST(resubmit_from_callback) {
    SETUP(srv, l, NULL);
    struct chain ch = {.loop = &l, .srv = &srv, .remaining = 10};
    char url[128];

    url_of(url, sizeof(url), &srv, "/status/200");
    CHECK_EQ_INT(rt_fetch_get(l.fetcher, url, NULL, chain_next, &ch), 0);
    CHECK(run_until(&l, 10));
    CHECK_EQ_INT(ch.ok, 10);
    CHECK_EQ_INT(ch.remaining, 0);
    loop_done(&l);
}

/* Cancellation: records the order and tries to submit from the callback. */
struct cancel_probe {
    struct loop *loop;
    int index, order, calls, resubmit_err;
    enum rt_fetch_outcome outcome;
    int curl_code;
    char error[64];
};

static void on_cancel_probe(const struct rt_fetch_result *r) {
    struct cancel_probe *p = r->userdata;

    p->calls++;
    p->order = ++p->loop->completed;
    p->outcome = r->outcome;
    p->curl_code = r->curl_code;
    rt_strlcpy(p->error, r->error, sizeof(p->error));
    p->resubmit_err = rt_fetch_get(p->loop->fetcher, "http://127.0.0.1:1/", NULL,
                                   on_cancel_probe, p);
}

TEST(free_cancels_in_flight) {
    struct rt_fetch_options o = {.max_concurrent = 2};
    SETUP(srv, l, &o);
    struct loop watcher;
    struct cancel_probe p[5];
    char url[128];
    int current = -1;

    REQUIRE(loop_init(&watcher, NULL));
    url_of(url, sizeof(url), &srv, "/hang/30");
    for (int i = 0; i < 5; i++) {
        p[i] = (struct cancel_probe){.loop = &l, .index = i};
        CHECK_EQ_INT(rt_fetch_get(l.fetcher, url, NULL, on_cancel_probe, &p[i]), 0);
    }
    /* Drive the loop until the server holds both running requests. */
    for (int tries = 0; tries < 200 && current < 2; tries++) {
        event_base_loop(l.base, EVLOOP_NONBLOCK);
        current = server_stat(&watcher, &srv, "current");
    }
    CHECK_EQ_INT(current, 2);
    CHECK_EQ_INT(l.completed, 0);

    rt_fetcher_free(l.fetcher);
    l.fetcher = NULL;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(p[i].calls, 1);
        CHECK_EQ_INT(p[i].order, i + 1); /* submission order */
        CHECK_EQ_INT(p[i].outcome, RT_FETCH_CANCELLED);
        CHECK_EQ_INT(p[i].curl_code, -1);
        CHECK_EQ_STR(p[i].error, "cancelled");
        CHECK_EQ_INT(p[i].resubmit_err, -ESHUTDOWN);
    }
    loop_done(&watcher);
    loop_done(&l);
}

/* The first completion frees the fetcher from inside its done callback. */
struct free_probe {
    struct loop *loop;
    int calls[4];
    enum rt_fetch_outcome outcome[4];
};

struct free_ud {
    struct free_probe *probe;
    int index;
};

static void on_free_probe(const struct rt_fetch_result *r) {
    struct free_ud *u = r->userdata;
    struct free_probe *p = u->probe;

    p->calls[u->index]++;
    p->outcome[u->index] = r->outcome;
    p->loop->completed++;
    if (r->outcome != RT_FETCH_CANCELLED && p->loop->fetcher) {
        struct rt_fetcher *f = p->loop->fetcher;
        p->loop->fetcher = NULL;
        rt_fetcher_free(f);
    }
}

TEST(free_from_done_callback) {
    SETUP(srv, l, NULL);
    struct free_probe p = {.loop = &l};
    struct free_ud ud[4];
    char url[128];

    for (int i = 0; i < 4; i++) {
        ud[i] = (struct free_ud){.probe = &p, .index = i};
        url_of(url, sizeof(url), &srv, i == 0 ? "/status/200" : "/hang/30");
        CHECK_EQ_INT(rt_fetch_get(l.fetcher, url, NULL, on_free_probe, &ud[i]), 0);
    }
    CHECK(run_until(&l, 4));
    CHECK(l.fetcher == NULL);
    CHECK_EQ_INT(p.outcome[0], RT_FETCH_OK);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(p.calls[i], 1);
    for (int i = 1; i < 4; i++)
        CHECK_EQ_INT(p.outcome[i], RT_FETCH_CANCELLED);
    loop_done(&l);
}

/* ---- POST ---- */

static int post(struct loop *l, struct call *c, const struct server *s, const char *path,
                const struct rt_fetch_auth *auth, const char *content_type, const void *body, size_t len) {
    char url[256];

    c->loop = l;
    c->rec = (struct record){0};
    c->rec.submitted_us = mono_us();
    url_of(url, sizeof(url), s, path);
    return rt_fetch_post(l->fetcher, url, auth, content_type, body, len, record_result, c);
}

static bool post_one(struct loop *l, struct call *c, const struct server *s, const char *path,
                     const struct rt_fetch_auth *auth, const char *content_type, const void *body, size_t len) {
    int want = l->completed + 1;
    return post(l, c, s, path, auth, content_type, body, len) == 0 && run_until(l, want) && c->rec.calls == 1;
}

TEST(post_sends_the_body_and_content_type) {
    SETUP(srv, l, NULL);
    struct call c;
    static const char line[] = "{\"v\":1,\"seq\":3}\tAAAA==";
    char want[256];

    CHECK(post_one(&l, &c, &srv, "/echo", NULL, "application/x-ratchet-record", line, strlen(line)));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    CHECK_EQ_INT(c.rec.status, 200);
    snprintf(want, sizeof(want), "CT=application/x-ratchet-record EXPECT= LEN=%zu\n%s", strlen(line), line);
    CHECK_EQ_STR(c.rec.body, want);

    /* the body is copied: the caller's buffer may change right after */
    char *big = malloc(20000);
    REQUIRE(big);
    memset(big, 'r', 20000);
    REQUIRE(post(&l, &c, &srv, "/echo", NULL, "text/plain", big, 20000) == 0);
    memset(big, 'X', 20000);
    free(big);
    CHECK(run_until(&l, l.completed + 1));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    /* no "Expect: 100-continue" wait even for a large body */
    CHECK(strncmp(c.rec.body, "CT=text/plain EXPECT= LEN=20000\nrrrr", 36) == 0);
    CHECK_EQ_INT(c.rec.body_len, strlen("CT=text/plain EXPECT= LEN=20000\n") + 20000);

    CHECK(post_one(&l, &c, &srv, "/echo", NULL, "text/plain", NULL, 0));
    CHECK_EQ_STR(c.rec.body, "CT=text/plain EXPECT= LEN=0\n");
    loop_done(&l);
}

TEST(post_results_and_auth_are_those_of_get) {
    SETUP(srv, l, NULL);
    struct call c;
    struct rt_fetch_auth bearer = {.kind = RT_FETCH_AUTH_BEARER, .token = "t0k3n"};
    struct rt_fetch_stats st;

    CHECK(post_one(&l, &c, &srv, "/status/500?body=try%20later", NULL, "text/plain", "x", 1));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_HTTP_ERROR);
    CHECK_EQ_INT(c.rec.status, 500);
    CHECK_EQ_STR(c.rec.body, "try later");
    CHECK(post_one(&l, &c, &srv, "/status/202", NULL, "text/plain", "x", 1));
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_OK);
    CHECK_EQ_INT(c.rec.status, 202);
    CHECK(post_one(&l, &c, &srv, "/auth/bearer/t0k3n", &bearer, "text/plain", "x", 1));
    CHECK_EQ_INT(c.rec.status, 200);
    CHECK(post_one(&l, &c, &srv, "/auth/bearer/t0k3n", NULL, "text/plain", "x", 1));
    CHECK_EQ_INT(c.rec.status, 401);
    /* a GET after POSTs is a GET again */
    CHECK(get_one(&l, &c, &srv, "/headers", NULL));
    CHECK_EQ_STR(c.rec.body, "UA=" RT_FETCH_USER_AGENT);
    rt_fetcher_stats(l.fetcher, &st);
    CHECK_EQ_INT(st.submitted, 5);
    CHECK_EQ_INT(st.finished[RT_FETCH_OK], 3);
    CHECK_EQ_INT(st.finished[RT_FETCH_HTTP_ERROR], 2);
    loop_done(&l);
}

TEST(post_bad_arguments_refused) {
    struct loop l;
    struct call c = {.loop = &l};
    char ct[RT_FETCH_CONTENT_TYPE_MAX + 2];
    char *huge = calloc(1, RT_FETCH_POST_MAX + 1);

    REQUIRE(huge);
    REQUIRE(loop_init(&l, NULL));
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, "text/plain\r\nX-Evil: 1", "b", 1, record_result, &c),
                 -EINVAL);
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, "", "b", 1, record_result, &c), -EINVAL);
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, NULL, "b", 1, record_result, &c), -EINVAL);
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, "text/pl\xc3\xa4in", "b", 1, record_result, &c), -EINVAL);
    memset(ct, 'a', sizeof(ct) - 1);
    ct[sizeof(ct) - 1] = '\0';
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, ct, "b", 1, record_result, &c), -EINVAL);
    ct[sizeof(ct) - 2] = '\0'; /* exactly the maximum */
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://127.0.0.1:1/", NULL, ct, "b", 1, record_result, &c), 0);
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, "text/plain", NULL, 1, record_result, &c), -EINVAL);
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, "text/plain", huge, RT_FETCH_POST_MAX + 1,
                               record_result, &c), -E2BIG);
    CHECK_EQ_INT(rt_fetch_post(l.fetcher, "http://x/", NULL, "text/plain", "b", 1, NULL, &c), -EINVAL);
    CHECK_EQ_INT(c.rec.calls, 0); /* refused requests never call done */
    CHECK(run_until(&l, 1));     /* the one accepted request still completes once */
    CHECK_EQ_INT(c.rec.calls, 1);
    CHECK_EQ_INT(c.rec.outcome, RT_FETCH_CONNECT_ERROR);
    loop_done(&l);
    free(huge);
}

TEST(backoff) {
    const int64_t min = 500, max = 60000;

    CHECK_EQ_INT(rt_backoff_next(0, min, max, 7), min);
    CHECK_EQ_INT(rt_backoff_next(-5, min, max, 7), min);
    for (uint64_t seed = 0; seed < 2000; seed++) {
        int64_t prev = (int64_t)(seed * 37 % 90000) + 1;
        int64_t d = rt_backoff_next(prev, min, max, seed);
        int64_t nominal = prev * 2 > max ? max : prev * 2;
        CHECK(d >= min && d <= max);
        CHECK(d <= nominal || d == min);
        CHECK(d >= nominal - nominal / 4 || d == min);
        CHECK_EQ_INT(d, rt_backoff_next(prev, min, max, seed)); /* deterministic */
    }
    /* Grows to the cap and stays within the jitter band there. */
    int64_t d = 0;
    for (int i = 0; i < 40; i++)
        d = rt_backoff_next(d, min, max, (uint64_t)i);
    CHECK(d >= max - max / 4 && d <= max);
    /* Jitter varies with the seed. */
    int64_t a = rt_backoff_next(10000, min, max, 1);
    bool differs = false;
    for (uint64_t s = 2; s < 10 && !differs; s++)
        differs = rt_backoff_next(10000, min, max, s) != a;
    CHECK(differs);
    /* Degenerate bounds are clamped. */
    CHECK_EQ_INT(rt_backoff_next(100, 0, 0, 3), 1);
    CHECK(rt_backoff_next(INT64_MAX, 1, INT64_MAX, 3) >= INT64_MAX - INT64_MAX / 4);
    CHECK(rt_backoff_next(INT64_MAX / 2 + 1, 1, INT64_MAX, 3) >= INT64_MAX - INT64_MAX / 4);
}

TEST(outcome_names) {
    CHECK_EQ_STR(rt_fetch_outcome_name(RT_FETCH_OK), "ok");
    CHECK_EQ_STR(rt_fetch_outcome_name(RT_FETCH_CANCELLED), "cancelled");
    CHECK_EQ_STR(rt_fetch_outcome_name(RT_FETCH_OUTCOME_COUNT), "unknown");
}

/* common/log: the plain line and the JOURNAL_STREAM check. */
TEST(log_line_format) {
    char buf[128];
    int prio = -1;

    rt_log_format_line(buf, sizeof(buf), LOG_WARNING, "bot-1", "error_rate", "source\ndown");
    CHECK_EQ_STR(buf, "warning: source down [bot=bot-1 condition=error_rate]");
    rt_log_format_line(buf, sizeof(buf), LOG_INFO, NULL, NULL, "ready");
    CHECK_EQ_STR(buf, "info: ready");
    rt_log_format_line(buf, sizeof(buf), LOG_ERR, "b", NULL, "x");
    CHECK_EQ_STR(buf, "error: x [bot=b]");
    CHECK_EQ_INT(rt_log_format_line(buf, 8, LOG_ERR, NULL, NULL, "long message"), 7);
    CHECK_EQ_STR(buf, "error: ");

    CHECK(rt_log_journal_stream_matches("8:12345", 8, 12345));
    CHECK(!rt_log_journal_stream_matches("8:12345", 8, 12346));
    CHECK(!rt_log_journal_stream_matches("8:12345x", 8, 12345));
    CHECK(!rt_log_journal_stream_matches("", 0, 0));
    CHECK(!rt_log_journal_stream_matches(NULL, 0, 0));

    CHECK_EQ_INT(rt_log_level_from_name("warning", &prio), 0);
    CHECK_EQ_INT(prio, LOG_WARNING);
    CHECK_EQ_INT(rt_log_level_from_name("DEBUG", &prio), 0);
    CHECK_EQ_INT(prio, LOG_DEBUG);
    CHECK_EQ_INT(rt_log_level_from_name("loud", &prio), -EINVAL);
    CHECK_EQ_STR(rt_log_level_name(LOG_ERR), "error");
    CHECK_EQ_INT(strlen(RT_MSGID_DEMOTION_DECIDED), 32);
}

TEST_MAIN()
