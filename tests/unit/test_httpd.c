/* Tests for the watchdog's HTTP layer (watchdog/httpd.c). The server runs in
 * a real libevent loop on 127.0.0.1 port 0 in the test's main thread; each
 * scenario's client (libcurl easy interface, or a raw socket where the test
 * needs byte-level control) runs in a second thread that wakes the loop up
 * when it is done. Assertions run in the main thread after the client
 * thread has been joined, so nothing is shared while both run.
 * TLS material is generated at test time with the openssl CLI in a mkdtemp
 * directory that is removed afterwards. */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/strbuf.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "watchdog/httpd.h"

#define TOKEN "s3cr3t-token-0123456789"
#define USER "alertmanager"
#define PASSWORD "pa:ss word"

/* ------------------------------------------------------------ the server */

struct server {
    struct event_base *base;
    struct rt_httpd *h;
    int second_reply_rc; /* what a second reply returned inside a handler */
};

static void reply_json(struct rt_httpd_req *req, int status, json_t *obj) {
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    if (s)
        rt_httpd_reply(req, status, "application/json", s, strlen(s));
    free(s);
}

/* Tells the client what the handler was given. */
static void h_info(struct rt_httpd_req *req, void *ud) {
    (void)ud;
    const char *x = rt_httpd_req_header(req, "x-test");
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:b, s:I, s:b, s:s}", "method", req->method,
                          "path", req->path, "query", req->query, "x_test", x, "tls", req->tls,
                          "body_len", (json_int_t)req->body_len, "nul_terminated",
                          req->body[req->body_len] == '\0', "peer", req->peer);
    reply_json(req, 200, o);
}

static void h_echo(struct rt_httpd_req *req, void *ud) {
    (void)ud;
    rt_httpd_reply(req, 200, "application/octet-stream", req->body, req->body_len);
}

static void h_busy(struct rt_httpd_req *req, void *ud) {
    struct server *s = ud;
    rt_httpd_add_header(req, "Retry-After", "7");
    rt_httpd_reply_error(req, 503, "unavailable", "store \"busy\" (%d)", 42);
    s->second_reply_rc = rt_httpd_reply(req, 200, NULL, NULL, 0);
}

static void h_silent(struct rt_httpd_req *req, void *ud) {
    (void)req;
    (void)ud;
}

static bool server_start(struct server *s, struct rt_httpd_options *opt) {
    char err[256] = "";
    *s = (struct server){0};
    opt->errbuf = err;
    opt->errbuf_size = sizeof(err);
    s->base = rt_httpd_base_new(); /* as the daemon has it */
    if (!s->base)
        return false;
    s->h = rt_httpd_new(s->base, opt);
    if (!s->h) {
        int e = errno;
        fprintf(stderr, "    rt_httpd_new: %s\n", err);
        errno = e;
        return false;
    }
    return rt_httpd_route(s->h, "GET", "/info", h_info, s, false) == 0 &&
           rt_httpd_route(s->h, "POST", "/info", h_info, s, false) == 0 &&
           rt_httpd_route(s->h, "GET", "/secret", h_info, s, true) == 0 &&
           rt_httpd_route(s->h, "POST", "/echo", h_echo, s, true) == 0 &&
           rt_httpd_route_content_type(s->h, "POST", "/echo", "application/json") == 0 &&
           rt_httpd_route(s->h, "POST", "/busy", h_busy, s, false) == 0 &&
           rt_httpd_route(s->h, "GET", "/silent", h_silent, s, false) == 0;
}

static void server_stop(struct server *s) {
    rt_httpd_free(s->h);
    if (s->base)
        event_base_free(s->base);
    *s = (struct server){0};
}

static struct rt_httpd_stats stats_of(const struct server *s) {
    struct rt_httpd_stats st;
    rt_httpd_get_stats(s->h, &st);
    return st;
}

/* ------------------------------------------- running a client scenario */

struct client_job {
    void (*fn)(void *);
    void *arg;
    int wake_fd;
};

static void *client_main(void *p) {
    struct client_job *job = p;
    job->fn(job->arg);
    (void)!write(job->wake_fd, "x", 1);
    return NULL;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs the server's loop until fn, in a second thread, has finished. */
static bool run_client(struct server *s, void (*fn)(void *), void *arg) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return false;
    struct event *ev = event_new(s->base, sv[0], EV_READ, wake_cb, s->base);
    struct client_job job = {fn, arg, sv[1]};
    pthread_t t;
    bool ok = ev && event_add(ev, NULL) == 0 && pthread_create(&t, NULL, client_main, &job) == 0;
    if (ok) {
        event_base_dispatch(s->base);
        pthread_join(t, NULL);
    }
    if (ev)
        event_free(ev);
    close(sv[0]);
    close(sv[1]);
    return ok;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Lets the server finish what the last client left (closing connections),
 * waiting at most `ms` in its own loop. */
static void settle(struct server *s, int ms) {
    struct event *ev = evtimer_new(s->base, stop_cb, s->base);
    for (int waited = 0; ev && waited < ms && stats_of(s).conn_open > 0; waited += 10) {
        const struct timeval tv = {0, 10000};
        evtimer_add(ev, &tv);
        event_base_dispatch(s->base);
    }
    if (ev)
        event_free(ev);
}

/* ------------------------------------------------------ libcurl client */

struct resp {
    CURLcode rc;
    long status;
    char body[4096];
    size_t len;
    char content_type[128];
    char www_auth[160];
    char allow[64];
    char retry_after[16];
};

struct req_spec {
    const char *method; /* default GET, or POST when a body is given */
    const char *url;
    const char *headers[6];
    const char *body;
    size_t body_len;
    bool chunked;       /* send the body chunked, size unknown to curl */
    const char *userpwd;
    const char *cacert, *cert, *key;
    long max_tls;       /* CURL_SSLVERSION_MAX_* or 0 */
};

static size_t body_cb(char *p, size_t size, size_t n, void *arg) {
    struct resp *r = arg;
    size_t len = size * n, room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    if (vl >= cap)
        vl = cap - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t headers_cb(char *p, size_t size, size_t n, void *arg) {
    struct resp *r = arg;
    size_t len = size * n;
    header_value(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
    header_value(p, len, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
    header_value(p, len, "Allow", r->allow, sizeof(r->allow));
    header_value(p, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
    return len;
}

struct upload {
    const char *data;
    size_t len, off;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *arg) {
    struct upload *u = arg;
    size_t room = size * n, left = u->len - u->off;
    size_t take = left < room ? left : room;
    if (take > 512)
        take = 512; /* several chunks */
    memcpy(buf, u->data + u->off, take);
    u->off += take;
    return take;
}

static void http(const struct req_spec *q, struct resp *r) {
    *r = (struct resp){0};
    CURL *c = curl_easy_init();
    if (!c) {
        r->rc = CURLE_FAILED_INIT;
        return;
    }
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; i < ELEMENTSOF(q->headers) && q->headers[i]; i++)
        hl = curl_slist_append(hl, q->headers[i]);
    struct upload up = {q->body, q->body_len, 0};
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, headers_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (q->body && q->chunked) {
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)q->body_len);
    }
    if (q->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (q->userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, q->userpwd);
    }
    if (q->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, q->cacert);
    if (q->cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, q->cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, q->key);
    }
    if (q->max_tls)
        curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1 | q->max_tls);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static void curl_setup(void) {
    static bool done;
    if (!done) {
        signal(SIGPIPE, SIG_IGN); /* the server's contract: see httpd.h */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        atexit(curl_global_cleanup);
        done = true;
    }
}

/* The body is {"error":code,"message":<string>} and nothing else. */
static bool is_error(const struct resp *r, const char *code) {
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    bool ok = o && json_is_object(o) && json_object_size(o) == 2 &&
              json_is_string(json_object_get(o, "message")) &&
              json_is_string(json_object_get(o, "error")) &&
              strcmp(json_string_value(json_object_get(o, "error")), code) == 0 &&
              strncmp(r->content_type, "application/json", 16) == 0;
    if (!ok)
        fprintf(stderr, "    not a %s error: %ld %s [%s]\n", code, r->status, r->content_type,
                r->body);
    json_decref(o);
    return ok;
}

static json_t *json_of(const struct resp *r) { return json_loadb(r->body, r->len, 0, NULL); }

static void url(char *buf, size_t cap, const char *scheme, int port, const char *path) {
    snprintf(buf, cap, "%s://127.0.0.1:%d%s", scheme, port, path);
}

/* ------------------------------------------------------ raw socket client */

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_str(int fd, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads until EOF, a complete response (by Content-Length; a 1xx is
 * complete with its head) or timeout_ms.
 * Returns the bytes read; *eof tells whether the server closed. */
static size_t read_reply(int fd, char *buf, size_t cap, int timeout_ms, bool *eof) {
    size_t len = 0;
    int64_t end = now_ms() + timeout_ms;
    *eof = false;
    while (len + 1 < cap) {
        buf[len] = '\0';
        const char *head_end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (head_end && cl && cl < head_end &&
            len >= (size_t)(head_end + 4 - buf) + strtoul(cl + 17, NULL, 10))
            break;
        if (head_end && strncmp(buf, "HTTP/1.1 1", 10) == 0)
            break; /* an interim response has no body */
        int left = (int)(end - now_ms());
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0) {
            *eof = true;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static int status_of(const char *raw) {
    return strncmp(raw, "HTTP/1.", 7) == 0 ? atoi(raw + 9) : -1;
}

static bool raw_is_error(const char *raw, int status, const char *code) {
    struct resp r = {.status = status_of(raw)};
    const char *body = strstr(raw, "\r\n\r\n");
    const char *ct = strcasestr(raw, "\r\nContent-Type: application/json");
    if (!body || !ct || ct > body || r.status != status)
        return false;
    snprintf(r.content_type, sizeof(r.content_type), "application/json");
    r.len = strlen(body + 4);
    memcpy(r.body, body + 4, r.len < sizeof(r.body) ? r.len : sizeof(r.body) - 1);
    return is_error(&r, code);
}

/* ================================================================ tests */

TEST(base64_strict) {
    unsigned char out[16];
    size_t n = 0;
    CHECK_EQ_INT(rt_base64_decode("YWxpY2U6cHc=", 12, out, sizeof(out), &n), 0);
    CHECK_EQ_INT(n, 8);
    CHECK(memcmp(out, "alice:pw", 8) == 0);
    CHECK_EQ_INT(rt_base64_decode("YQ==", 4, out, sizeof(out), &n), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rt_base64_decode("", 0, out, sizeof(out), &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(rt_base64_decode("YWxpY2U", 7, out, sizeof(out), &n), -EINVAL);  /* no padding */
    CHECK_EQ_INT(rt_base64_decode("YW=j", 4, out, sizeof(out), &n), -EINVAL);     /* data after = */
    CHECK_EQ_INT(rt_base64_decode("Y!==", 4, out, sizeof(out), &n), -EINVAL);     /* alphabet */
    CHECK_EQ_INT(rt_base64_decode("YR==", 4, out, sizeof(out), &n), -EINVAL);     /* stray bits */
    CHECK_EQ_INT(rt_base64_decode("YQ==YQ==", 8, out, sizeof(out), &n), -EINVAL); /* = mid-way */
    CHECK_EQ_INT(rt_base64_decode("YWxp Y2U=", 9, out, sizeof(out), &n), -EINVAL);
    CHECK_EQ_INT(rt_base64_decode("YWxpY2U6cHc=", 12, out, 4, &n), -ENOBUFS);
}

TEST(media_type_match) {
    CHECK(rt_httpd_media_type_is("application/json", "application/json"));
    CHECK(rt_httpd_media_type_is("Application/JSON; charset=utf-8", "application/json"));
    CHECK(rt_httpd_media_type_is(" application/json ;charset=UTF-8", "application/json"));
    CHECK(!rt_httpd_media_type_is("application/jsonx", "application/json"));
    CHECK(!rt_httpd_media_type_is("application/json-seq", "application/json"));
    CHECK(!rt_httpd_media_type_is("text/plain", "application/json"));
    CHECK(!rt_httpd_media_type_is("", "application/json"));
    CHECK(!rt_httpd_media_type_is(NULL, "application/json"));
}

TEST(options_rejected) {
    struct event_base *base = event_base_new();
    REQUIRE(base);
    char err[256];
    struct rt_httpd_listener bad_addr = {.addr = "localhost"};
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_listener half_tls = {.addr = "127.0.0.1", .tls_cert_file = "/nonexistent.crt"};
    struct rt_httpd_listener no_cert = {.addr = "127.0.0.1", .tls_cert_file = "/nonexistent.crt",
                                        .tls_key_file = "/nonexistent.key"};
    struct {
        struct rt_httpd_options opt;
        int err;
        const char *msg;
    } cases[] = {
        {{.n_listeners = 0}, EINVAL, "listeners"},
        {{.listeners = &bad_addr, .n_listeners = 1}, EINVAL, "numeric"},
        {{.listeners = &half_tls, .n_listeners = 1}, EINVAL, "key"},
        {{.listeners = &no_cert, .n_listeners = 1}, EIO, "/nonexistent.crt"},
        {{.listeners = &lo, .n_listeners = 1, .auth = RT_HTTPD_AUTH_BEARER, .bearer_token = "a b"},
         EINVAL, "bearer"},
        {{.listeners = &lo, .n_listeners = 1, .auth = RT_HTTPD_AUTH_BASIC, .basic_user = "a:b",
          .basic_password = "x"},
         EINVAL, "basic"},
        {{.listeners = &lo, .n_listeners = 1, .max_body_bytes = (size_t)1 << 40}, EINVAL, "limit"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        err[0] = '\0';
        cases[i].opt.errbuf = err;
        cases[i].opt.errbuf_size = sizeof(err);
        errno = 0;
        struct rt_httpd *h = rt_httpd_new(base, &cases[i].opt);
        CHECK(h == NULL);
        CHECK_EQ_INT(errno, cases[i].err);
        if (!strstr(err, cases[i].msg)) {
            fprintf(stderr, "    case %zu: message \"%s\" lacks \"%s\"\n", i, err, cases[i].msg);
            CHECK(false);
        }
        rt_httpd_free(h);
    }
    event_base_free(base);
}

TEST(route_registration) {
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    CHECK(rt_httpd_port(s.h, 0) > 0);
    CHECK_EQ_INT(rt_httpd_port(s.h, 1), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route(s.h, "GET", "/info", h_info, NULL, false), -EEXIST);
    CHECK_EQ_INT(rt_httpd_route(s.h, "get", "/x", h_info, NULL, false), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route(s.h, "CONNECT", "/x", h_info, NULL, false), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route(s.h, "GET", "x", h_info, NULL, false), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route(s.h, "GET", "/x?y", h_info, NULL, false), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route(s.h, "GET", "/x", NULL, NULL, false), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route_content_type(s.h, "GET", "/info", "application/json"), -EINVAL);
    CHECK_EQ_INT(rt_httpd_route_content_type(s.h, "POST", "/nope", "application/json"), -ENOENT);
    CHECK_EQ_INT(rt_httpd_route_content_type(s.h, "POST", "/info", "json"), -EINVAL);
    int n = 0;
    char path[32];
    for (int i = 0; i < RT_HTTPD_MAX_ROUTES + 1; i++) {
        snprintf(path, sizeof(path), "/r%d", i);
        if (rt_httpd_route(s.h, "GET", path, h_info, NULL, false) == -E2BIG)
            n++;
    }
    CHECK(n > 0);
    server_stop(&s);
}

/* ---- plain routing, handler interface, JSON errors ---- */

struct routing_run {
    int port;
    struct resp info, post_info, not_found, wrong_method, unknown_method, busy, silent, after;
};

static void routing_client(void *arg) {
    struct routing_run *t = arg;
    char u[128];
    url(u, sizeof(u), "http", t->port, "/info?bot=alpha&x=1");
    http(&(struct req_spec){.url = u, .headers = {"X-Test: hello"}}, &t->info);
    url(u, sizeof(u), "http", t->port, "/info");
    http(&(struct req_spec){.url = u, .body = "a\0b", .body_len = 3}, &t->post_info);
    url(u, sizeof(u), "http", t->port, "/nope");
    http(&(struct req_spec){.url = u}, &t->not_found);
    url(u, sizeof(u), "http", t->port, "/silent");
    http(&(struct req_spec){.url = u, .method = "DELETE"}, &t->wrong_method);
    http(&(struct req_spec){.url = u, .method = "BREW"}, &t->unknown_method);
    http(&(struct req_spec){.url = u}, &t->silent);
    url(u, sizeof(u), "http", t->port, "/busy");
    http(&(struct req_spec){.url = u, .body = "{}", .body_len = 2}, &t->busy);
    url(u, sizeof(u), "http", t->port, "/info");
    http(&(struct req_spec){.url = u}, &t->after);
}

TEST(routing_and_error_bodies) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct routing_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, routing_client, &t));

    CHECK_EQ_INT(t.info.rc, CURLE_OK);
    CHECK_EQ_INT(t.info.status, 200);
    json_t *o = json_of(&t.info);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "method")), "GET");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "path")), "/info");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "query")), "bot=alpha&x=1");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "x_test")), "hello");
    CHECK(json_is_false(json_object_get(o, "tls")));
    const char *peer = json_string_value(json_object_get(o, "peer"));
    CHECK(peer && strncmp(peer, "127.0.0.1:", 10) == 0 && atoi(peer + 10) > 0);
    json_decref(o);

    CHECK_EQ_INT(t.post_info.status, 200);
    o = json_of(&t.post_info);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "method")), "POST");
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "body_len")), 3);
    CHECK(json_is_true(json_object_get(o, "nul_terminated")));
    json_decref(o);

    CHECK_EQ_INT(t.not_found.status, 404);
    CHECK(is_error(&t.not_found, "not_found"));
    CHECK_EQ_INT(t.wrong_method.status, 405);
    CHECK(is_error(&t.wrong_method, "method_not_allowed"));
    CHECK_EQ_STR(t.wrong_method.allow, "GET");
    CHECK_EQ_INT(t.unknown_method.status, 405);
    CHECK(is_error(&t.unknown_method, "method_not_allowed"));
    CHECK_EQ_INT(t.busy.status, 503);
    CHECK(is_error(&t.busy, "unavailable"));
    CHECK_EQ_STR(t.busy.retry_after, "7");
    o = json_of(&t.busy);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "message")), "store \"busy\" (42)");
    json_decref(o);
    CHECK_EQ_INT(s.second_reply_rc, -EALREADY);
    CHECK_EQ_INT(t.silent.status, 500);
    CHECK(is_error(&t.silent, "internal"));
    CHECK_EQ_INT(t.after.status, 200);

    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_HANDLED], 5); /* info x3, busy, silent */
    CHECK_EQ_INT(st.outcome[RT_HTTPD_NOT_FOUND], 1);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_METHOD_NOT_ALLOWED], 2);
    CHECK_EQ_INT(st.responses[2], 3);
    CHECK_EQ_INT(st.responses[4], 3);
    CHECK_EQ_INT(st.responses[5], 2);
    CHECK_EQ_INT(st.conn_accepted, 8);
    CHECK_EQ_STR(rt_httpd_outcome_name(RT_HTTPD_UNSUPPORTED_MEDIA), "unsupported_media_type");
    CHECK(rt_httpd_outcome_name(RT_HTTPD_OUTCOME_COUNT) == NULL);
    settle(&s, 2000);
    CHECK_EQ_INT(stats_of(&s).conn_open, 0);
    server_stop(&s);
}

/* ---- Bearer ---- */

struct bearer_run {
    int port;
    struct resp ok, lower_scheme, wrong, missing, other_scheme, longer, shorter, empty, open;
};

static void bearer_client(void *arg) {
    struct bearer_run *t = arg;
    char u[128];
    url(u, sizeof(u), "http", t->port, "/secret");
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Bearer " TOKEN}}, &t->ok);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: bearer  " TOKEN}}, &t->lower_scheme);
    /* Same length, last character differs. */
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Bearer s3cr3t-token-012345678X"}},
         &t->wrong);
    http(&(struct req_spec){.url = u}, &t->missing);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Basic " TOKEN}}, &t->other_scheme);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Bearer " TOKEN "0"}}, &t->longer);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Bearer s3cr3t"}}, &t->shorter);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Bearer"}}, &t->empty);
    url(u, sizeof(u), "http", t->port, "/info");
    http(&(struct req_spec){.url = u}, &t->open);
}

TEST(bearer_auth) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1,
                                   .auth = RT_HTTPD_AUTH_BEARER, .bearer_token = TOKEN};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct bearer_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, bearer_client, &t));

    CHECK_EQ_INT(t.ok.status, 200);
    CHECK_EQ_INT(t.lower_scheme.status, 200);
    CHECK_EQ_INT(t.open.status, 200); /* route without needs_auth */
    struct resp *invalid[] = {&t.wrong, &t.longer, &t.shorter, &t.empty};
    for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
        CHECK_EQ_INT(invalid[i]->status, 401);
        CHECK(is_error(invalid[i], "unauthorized"));
        CHECK_EQ_STR(invalid[i]->www_auth, "Bearer realm=\"ratchet\", error=\"invalid_token\"");
    }
    struct resp *missing[] = {&t.missing, &t.other_scheme};
    for (size_t i = 0; i < ELEMENTSOF(missing); i++) {
        CHECK_EQ_INT(missing[i]->status, 401);
        CHECK(is_error(missing[i], "unauthorized"));
        CHECK_EQ_STR(missing[i]->www_auth, "Bearer realm=\"ratchet\"");
    }
    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_UNAUTHORIZED], 6);
    CHECK_EQ_INT(st.auth_invalid, 4);
    CHECK_EQ_INT(st.auth_missing, 2);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_HANDLED], 3);
    server_stop(&s);
}

/* ---- Basic ---- */

struct basic_run {
    int port;
    struct resp ok, ok_header, wrong_password, wrong_user, malformed, no_colon, bearer, missing;
};

static void basic_client(void *arg) {
    struct basic_run *t = arg;
    char u[128];
    url(u, sizeof(u), "http", t->port, "/secret");
    http(&(struct req_spec){.url = u, .userpwd = USER ":" PASSWORD}, &t->ok);
    /* base64("alertmanager:pa:ss word") written out: the split is at the first ':'. */
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Basic YWxlcnRtYW5hZ2VyOnBhOnNzIHdvcmQ="}},
         &t->ok_header);
    http(&(struct req_spec){.url = u, .userpwd = USER ":pa:ss wordX"}, &t->wrong_password);
    http(&(struct req_spec){.url = u, .userpwd = "alertmanageR:" PASSWORD}, &t->wrong_user);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Basic YWxlcnRt!W5hZ2Vy"}},
         &t->malformed);
    /* base64("alertmanager") has no ':' at all. */
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Basic YWxlcnRtYW5hZ2Vy"}},
         &t->no_colon);
    http(&(struct req_spec){.url = u, .headers = {"Authorization: Bearer " TOKEN}}, &t->bearer);
    http(&(struct req_spec){.url = u}, &t->missing);
}

TEST(basic_auth) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1, .auth = RT_HTTPD_AUTH_BASIC,
                                   .basic_user = USER, .basic_password = PASSWORD};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct basic_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, basic_client, &t));

    CHECK_EQ_INT(t.ok.status, 200);
    CHECK_EQ_INT(t.ok_header.status, 200);
    struct resp *bad[] = {&t.wrong_password, &t.wrong_user, &t.malformed, &t.no_colon,
                          &t.bearer, &t.missing};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        CHECK_EQ_INT(bad[i]->status, 401);
        CHECK(is_error(bad[i], "unauthorized"));
        CHECK_EQ_STR(bad[i]->www_auth, "Basic realm=\"ratchet\", charset=\"UTF-8\"");
    }
    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.auth_invalid, 4);
    CHECK_EQ_INT(st.auth_missing, 2);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_UNAUTHORIZED], 6);
    server_stop(&s);
}

/* ---- body and header limits, content type ---- */

#define SMALL_BODY 1024

struct limits_run {
    int port;
    char big[4 * SMALL_BODY + 1], exact[SMALL_BODY + 1];
    struct resp at_limit, by_length, ok1, chunked, ok2, no_type, wrong_type, charset, ok3,
        huge_header, ok4;
    char raw_declared[2048], raw_garbage[2048], raw_expect[2048];
    bool declared_eof;
    struct resp ok5;
};

static void limits_client(void *arg) {
    struct limits_run *t = arg;
    char u[128], info[128];
    url(u, sizeof(u), "http", t->port, "/echo");
    url(info, sizeof(info), "http", t->port, "/info");
    const char *auth = "Authorization: Bearer " TOKEN;
    const char *json = "Content-Type: application/json";
    http(&(struct req_spec){.url = u, .headers = {auth, json}, .body = t->exact,
                            .body_len = SMALL_BODY},
         &t->at_limit);
    http(&(struct req_spec){.url = u, .headers = {auth, json}, .body = t->big,
                            .body_len = sizeof(t->big) - 1},
         &t->by_length);
    http(&(struct req_spec){.url = info}, &t->ok1);
    http(&(struct req_spec){.url = u, .headers = {auth, json}, .body = t->big,
                            .body_len = sizeof(t->big) - 1, .chunked = true},
         &t->chunked);
    http(&(struct req_spec){.url = info}, &t->ok2);
    http(&(struct req_spec){.url = u, .headers = {auth, "Content-Type:"}, .body = "{}",
                            .body_len = 2},
         &t->no_type);
    http(&(struct req_spec){.url = u, .headers = {auth, "Content-Type: text/plain"}, .body = "{}",
                            .body_len = 2},
         &t->wrong_type);
    http(&(struct req_spec){.url = u,
                            .headers = {auth, "Content-Type: application/json; charset=utf-8"},
                            .body = "{\"a\":1}", .body_len = 7},
         &t->charset);
    http(&(struct req_spec){.url = info}, &t->ok3);
    static char huge[3000];
    memset(huge, 'h', sizeof(huge) - 1);
    memcpy(huge, "X-Pad: ", 7);
    http(&(struct req_spec){.url = info, .headers = {huge}}, &t->huge_header);
    http(&(struct req_spec){.url = info}, &t->ok4);

    /* Declared too large, body never sent: answered from the headers alone. */
    int fd = tcp_connect(t->port);
    if (fd >= 0) {
        send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 1000000\r\n\r\n");
        read_reply(fd, t->raw_declared, sizeof(t->raw_declared), 5000, &t->declared_eof);
        close(fd);
    }
    fd = tcp_connect(t->port);
    if (fd >= 0) {
        send_str(fd, "\x16\x03\x01 this is not http\r\n\r\n");
        bool eof;
        read_reply(fd, t->raw_garbage, sizeof(t->raw_garbage), 5000, &eof);
        close(fd);
    }
    /* Expect: 100-continue: the interim answer passes untouched, the 413
     * that follows is JSON. */
    fd = tcp_connect(t->port);
    if (fd >= 0) {
        send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
        bool eof;
        size_t n = read_reply(fd, t->raw_expect, sizeof(t->raw_expect), 5000, &eof);
        send_str(fd, "800\r\n");
        send_str(fd, t->big);
        read_reply(fd, t->raw_expect + n, sizeof(t->raw_expect) - n, 5000, &eof);
        close(fd);
    }
    http(&(struct req_spec){.url = info}, &t->ok5);
}

TEST(body_header_and_type_limits) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1, .max_body_bytes = SMALL_BODY,
                                   .max_header_bytes = 2048, .auth = RT_HTTPD_AUTH_BEARER,
                                   .bearer_token = TOKEN};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct limits_run *t = calloc(1, sizeof(*t));
    REQUIRE(t);
    t->port = rt_httpd_port(s.h, 0);
    memset(t->big, 'b', sizeof(t->big) - 1);
    memset(t->exact, 'e', sizeof(t->exact) - 1);
    REQUIRE(run_client(&s, limits_client, t));

    CHECK_EQ_INT(t->at_limit.status, 200);
    CHECK_EQ_INT(t->at_limit.len, SMALL_BODY);
    CHECK(t->at_limit.len == SMALL_BODY && memcmp(t->at_limit.body, t->exact, SMALL_BODY) == 0);
    CHECK_EQ_INT(t->by_length.status, 413);
    CHECK(is_error(&t->by_length, "payload_too_large"));
    CHECK_EQ_INT(t->chunked.status, 413);
    CHECK(is_error(&t->chunked, "payload_too_large"));
    CHECK_EQ_INT(t->no_type.status, 415);
    CHECK(is_error(&t->no_type, "unsupported_media_type"));
    CHECK_EQ_INT(t->wrong_type.status, 415);
    CHECK(is_error(&t->wrong_type, "unsupported_media_type"));
    CHECK_EQ_INT(t->charset.status, 200);
    CHECK_EQ_STR(t->charset.body, "{\"a\":1}");
    CHECK_EQ_INT(t->huge_header.status, 400);
    CHECK(is_error(&t->huge_header, "bad_request"));
    CHECK(raw_is_error(t->raw_declared, 413, "payload_too_large"));
    CHECK(raw_is_error(t->raw_garbage, 400, "bad_request"));
    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
    CHECK(strncmp(t->raw_expect, cont, strlen(cont)) == 0);
    CHECK(raw_is_error(t->raw_expect + strlen(cont), 413, "payload_too_large"));
    struct resp *oks[] = {&t->ok1, &t->ok2, &t->ok3, &t->ok4, &t->ok5};
    for (size_t i = 0; i < ELEMENTSOF(oks); i++)
        CHECK_EQ_INT(oks[i]->status, 200);

    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_TOO_LARGE], 4);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_UNSUPPORTED_MEDIA], 2);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_BAD_REQUEST], 2);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_HANDLED], 7);
    CHECK_EQ_INT(st.responses[4], 8);
    CHECK_EQ_INT(st.conn_aborted, 0);
    free(t);
    server_stop(&s);
}

/* ---- the rest of a rejected body is drained, not reset ---- */

struct drain_run {
    int port;
    char reply[2048];
    bool late_sends_ok;
};

static void drain_client(void *arg) {
    struct drain_run *t = arg;
    int fd = tcp_connect(t->port);
    if (fd < 0)
        return;
    static char chunk[8192];
    memset(chunk, 'x', sizeof(chunk) - 1);
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 200000\r\n\r\n");
    send_str(fd, chunk);
    bool eof;
    read_reply(fd, t->reply, sizeof(t->reply), 5000, &eof);
    /* The client goes on sending its body after the answer, as a client
     * that writes before it reads would. A closed socket would answer with
     * a reset and the second send would fail. */
    t->late_sends_ok = true;
    for (int i = 0; i < 3; i++) {
        poll(NULL, 0, 50);
        t->late_sends_ok &= send_str(fd, chunk);
    }
    close(fd);
}

TEST(rejected_body_is_drained) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1, .max_body_bytes = SMALL_BODY};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct drain_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, drain_client, &t));
    CHECK(raw_is_error(t.reply, 413, "payload_too_large"));
    CHECK(t.late_sends_ok);
    server_stop(&s);
}

/* ---- slow clients ---- */

struct slow_run {
    int port;
    int drip_ms;      /* 0: send one byte and wait; else one byte every drip_ms */
    int64_t cut_after_ms;
    bool cut;
    struct resp after;
};

static void slow_client(void *arg) {
    struct slow_run *t = arg;
    t->cut_after_ms = -1;
    int fd = tcp_connect(t->port);
    if (fd < 0)
        return;
    int64_t start = now_ms();
    send_str(fd, "POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
    /* Client-side pacing: wait for the server to close, dripping a byte
     * every drip_ms if asked; give up after 5 s. */
    while (now_ms() - start < 5000) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, t->drip_ms ? t->drip_ms : 5000);
        if (r > 0) {
            char b[256];
            if (recv(fd, b, sizeof(b), 0) <= 0) {
                t->cut = true;
                break;
            }
        } else if (r == 0 && t->drip_ms && !send_str(fd, " ")) {
            t->cut = true;
            break;
        }
    }
    t->cut_after_ms = now_ms() - start;
    close(fd);
    char u[128];
    url(u, sizeof(u), "http", t->port, "/info");
    http(&(struct req_spec){.url = u}, &t->after);
}

TEST(slow_client_io_timeout) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1, .io_timeout_ms = 300,
                                   .deadline_ms = 20000};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct slow_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, slow_client, &t));
    CHECK(t.cut);
    CHECK(t.cut_after_ms >= 250 && t.cut_after_ms < 4000);
    CHECK_EQ_INT(t.after.status, 200);
    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.conn_aborted, 1);
    CHECK_EQ_INT(st.conn_deadline, 0);
    server_stop(&s);
}

TEST(slow_client_deadline) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1, .io_timeout_ms = 400,
                                   .deadline_ms = 900};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    /* A byte every 100 ms never trips the 400 ms I/O timeout... */
    struct slow_run t = {.port = rt_httpd_port(s.h, 0), .drip_ms = 100};
    REQUIRE(run_client(&s, slow_client, &t));
    /* ...but the whole request has 900 ms. */
    CHECK(t.cut);
    CHECK(t.cut_after_ms >= 800 && t.cut_after_ms < 4000);
    CHECK_EQ_INT(t.after.status, 200);
    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.conn_deadline, 1);
    CHECK_EQ_INT(st.conn_aborted, 0);
    server_stop(&s);
}

/* ---- connection limit ---- */

struct conns_run {
    int port;
    bool third_closed, first_ok;
    char reply[2048];
};

static void conns_client(void *arg) {
    struct conns_run *t = arg;
    int a = tcp_connect(t->port), b = tcp_connect(t->port), c = tcp_connect(t->port);
    if (a >= 0 && b >= 0 && c >= 0) {
        char buf[64];
        bool eof;
        read_reply(c, buf, sizeof(buf), 3000, &eof);
        t->third_closed = eof;
        send_str(a, "GET /info HTTP/1.1\r\nHost: x\r\n\r\n");
        read_reply(a, t->reply, sizeof(t->reply), 3000, &eof);
        t->first_ok = status_of(t->reply) == 200;
    }
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    if (c >= 0)
        close(c);
}

TEST(connection_limit) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1, .max_conns = 2};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct conns_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, conns_client, &t));
    CHECK(t.third_closed);
    CHECK(t.first_ok);
    settle(&s, 2000);
    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.conn_refused, 1);
    CHECK_EQ_INT(st.conn_accepted, 2);
    CHECK_EQ_INT(st.conn_open, 0);
    server_stop(&s);
}

/* ---- TLS ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

_printf_(1, 2) static bool sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        return false;
    return system(cmd) == 0;
}

struct pki {
    char dir[64];
    char ca[128], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128], rogue_crt[128],
        rogue_key[128];
};

/* A CA, a client certificate it signed, a self-signed server certificate
 * for 127.0.0.1 and a self-signed "rogue" client certificate. */
static bool pki_make(struct pki *p) {
    snprintf(p->dir, sizeof(p->dir), "/tmp/rt-httpd-test-XXXXXX");
    if (!mkdtemp(p->dir))
        return false;
#define F(field, name) snprintf(p->field, sizeof(p->field), "%s/" name, p->dir)
    F(ca, "ca.crt");
    F(srv_crt, "srv.crt");
    F(srv_key, "srv.key");
    F(cli_crt, "cli.crt");
    F(cli_key, "cli.key");
    F(rogue_crt, "rogue.crt");
    F(rogue_key, "rogue.key");
#undef F
    const char *q = ">/dev/null 2>&1";
    const char *d = p->dir;
    return sh("openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=rt-test-ca "
              "-keyout %s/ca.key -out %s %s", d, p->ca, q) &&
           sh("openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=127.0.0.1 "
              "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s %s",
              p->srv_key, p->srv_crt, q) &&
           sh("openssl req -newkey ed25519 -nodes -subj /CN=alertmanager -keyout %s "
              "-out %s/cli.csr %s", p->cli_key, d, q) &&
           sh("openssl x509 -req -in %s/cli.csr -CA %s -CAkey %s/ca.key -set_serial 2 -days 2 "
              "-out %s %s", d, p->ca, d, p->cli_crt, q) &&
           sh("openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=rogue "
              "-keyout %s -out %s %s", p->rogue_key, p->rogue_crt, q);
}

static void pki_remove(struct pki *p) {
    if (p->dir[0])
        nftw(p->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

struct tls_run {
    const struct pki *pki;
    int plain, tls, mtls;
    struct resp plain_ok, tls_ok, tls_old, http_on_tls, mtls_none, mtls_rogue, mtls_ok, tls_after;
};

static void tls_client(void *arg) {
    struct tls_run *t = arg;
    const struct pki *p = t->pki;
    char u[128];
    url(u, sizeof(u), "http", t->plain, "/info");
    http(&(struct req_spec){.url = u}, &t->plain_ok);
    url(u, sizeof(u), "https", t->tls, "/info");
    http(&(struct req_spec){.url = u, .cacert = p->srv_crt}, &t->tls_ok);
    http(&(struct req_spec){.url = u, .cacert = p->srv_crt, .max_tls = CURL_SSLVERSION_MAX_TLSv1_1},
         &t->tls_old);
    url(u, sizeof(u), "http", t->tls, "/info");
    http(&(struct req_spec){.url = u}, &t->http_on_tls);
    url(u, sizeof(u), "https", t->mtls, "/info");
    http(&(struct req_spec){.url = u, .cacert = p->srv_crt}, &t->mtls_none);
    http(&(struct req_spec){.url = u, .cacert = p->srv_crt, .cert = p->rogue_crt,
                            .key = p->rogue_key},
         &t->mtls_rogue);
    http(&(struct req_spec){.url = u, .cacert = p->srv_crt, .cert = p->cli_crt, .key = p->cli_key},
         &t->mtls_ok);
    url(u, sizeof(u), "https", t->tls, "/info");
    http(&(struct req_spec){.url = u, .cacert = p->srv_crt}, &t->tls_after);
}

TEST(tls_and_client_certificates) {
    curl_setup();
    struct pki p = {0};
    bool made = pki_make(&p);
    if (!made)
        pki_remove(&p);
    REQUIRE(made);
    struct rt_httpd_listener ls[] = {
        {.addr = "127.0.0.1"},
        {.addr = "127.0.0.1", .tls_cert_file = p.srv_crt, .tls_key_file = p.srv_key},
        {.addr = "127.0.0.1", .tls_cert_file = p.srv_crt, .tls_key_file = p.srv_key,
         .tls_client_ca_file = p.ca},
    };
    struct rt_httpd_options opt = {.listeners = ls, .n_listeners = 3};
    struct server s;
    bool started = server_start(&s, &opt);
    if (!started) {
        server_stop(&s);
        pki_remove(&p);
    }
    REQUIRE(started);
    struct tls_run t = {.pki = &p, .plain = rt_httpd_port(s.h, 0), .tls = rt_httpd_port(s.h, 1),
                        .mtls = rt_httpd_port(s.h, 2)};
    bool ran = run_client(&s, tls_client, &t);
    CHECK(ran);

    CHECK_EQ_INT(t.plain_ok.status, 200);
    json_t *o = json_of(&t.plain_ok);
    CHECK(json_is_false(json_object_get(o, "tls")));
    json_decref(o);
    CHECK_EQ_INT(t.tls_ok.rc, CURLE_OK);
    CHECK_EQ_INT(t.tls_ok.status, 200);
    o = json_of(&t.tls_ok);
    CHECK(json_is_true(json_object_get(o, "tls")));
    json_decref(o);
    CHECK(t.tls_old.rc != CURLE_OK);      /* TLS 1.1 and older refused */
    CHECK(t.http_on_tls.status != 200);   /* no plaintext on a TLS port */
    CHECK(t.mtls_none.rc != CURLE_OK);    /* client certificate required */
    CHECK(t.mtls_none.status != 200);
    CHECK(t.mtls_rogue.rc != CURLE_OK);   /* not signed by the client CA */
    CHECK(t.mtls_rogue.status != 200);
    CHECK_EQ_INT(t.mtls_ok.rc, CURLE_OK);
    CHECK_EQ_INT(t.mtls_ok.status, 200);
    CHECK_EQ_INT(t.tls_after.status, 200);

    settle(&s, 2000);
    struct rt_httpd_stats st = stats_of(&s);
    CHECK_EQ_INT(st.outcome[RT_HTTPD_HANDLED], 4);
    CHECK(st.tls_failed >= 3); /* plaintext, no certificate, rogue certificate */
    CHECK(st.tls_failed <= 4); /* and perhaps the TLS 1.1 attempt */
    server_stop(&s);
    pki_remove(&p);
    CHECK(access(p.dir, F_OK) != 0);
}

/* ---- IPv6 ---- */

struct v6_run {
    int port;
    struct resp r;
};

static void v6_client(void *arg) {
    struct v6_run *t = arg;
    char u[128];
    snprintf(u, sizeof(u), "http://[::1]:%d/info", t->port);
    http(&(struct req_spec){.url = u}, &t->r);
}

TEST(ipv6_listener) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "[::1]"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1};
    struct server s;
    if (!server_start(&s, &opt)) {
        /* Hosts without IPv6 loopback: the failure must be the address. */
        CHECK(errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT);
        server_stop(&s);
        return;
    }
    struct v6_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, v6_client, &t));
    CHECK_EQ_INT(t.r.status, 200);
    json_t *o = json_of(&t.r);
    const char *peer = json_string_value(json_object_get(o, "peer"));
    CHECK(peer && strncmp(peer, "[::1]:", 6) == 0);
    json_decref(o);
    server_stop(&s);
}

/* ---- a large page handed over (rt_httpd_reply_strbuf) ---- */

#define PAGE_LINES 400000 /* 3.6 MB: more than any buffer libevent would pick */

/* Line i of the page: 8 digits and a newline. */
static void page_line(char out[10], size_t i) {
    for (int d = 7; d >= 0; d--, i /= 10)
        out[d] = (char)('0' + i % 10);
    out[8] = '\n';
    out[9] = '\0';
}

struct page_server {
    int handed_rc, oom_rc;
    bool emptied, oom_emptied;
};

static void h_page(struct rt_httpd_req *req, void *ud) {
    struct page_server *ps = ud;
    struct rt_strbuf b = {0};
    char line[10];
    for (size_t i = 0; i < PAGE_LINES; i++) {
        page_line(line, i);
        rt_sb_putn(&b, line, 9);
    }
    ps->handed_rc = rt_httpd_reply_strbuf(req, 200, "text/plain", &b);
    ps->emptied = b.s == NULL && b.len == 0 && b.cap == 0;
}

static void h_page_oom(struct rt_httpd_req *req, void *ud) {
    struct page_server *ps = ud;
    struct rt_strbuf b = {0};
    rt_sb_puts(&b, "partial");
    b.oom = true;
    ps->oom_rc = rt_httpd_reply_strbuf(req, 200, "text/plain", &b);
    ps->oom_emptied = b.s == NULL && b.len == 0;
    rt_httpd_reply_error(req, 500, "internal", "out of memory");
}

struct page_check {
    size_t off;
    bool same;
};

static size_t page_cb(char *p, size_t size, size_t n, void *arg) {
    struct page_check *pc = arg;
    char line[10];
    for (size_t i = 0; i < size * n; i++, pc->off++) {
        page_line(line, pc->off / 9);
        if (pc->off >= (size_t)PAGE_LINES * 9 || p[i] != line[pc->off % 9])
            pc->same = false;
    }
    return size * n;
}

struct page_run {
    int port;
    long get_status, head_status, oom_status;
    struct page_check get, head;
};

static long page_fetch(int port, const char *path, bool head, struct page_check *pc) {
    char u[128];
    url(u, sizeof(u), "http", port, path);
    *pc = (struct page_check){.same = true};
    CURL *c = curl_easy_init();
    long status = 0;
    if (!c)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOBODY, head ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, page_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, pc);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void page_client(void *arg) {
    struct page_run *t = arg;
    t->get_status = page_fetch(t->port, "/page", false, &t->get);
    t->head_status = page_fetch(t->port, "/page", true, &t->head);
    struct page_check ignored;
    t->oom_status = page_fetch(t->port, "/page-oom", false, &ignored);
}

TEST(large_page_handed_over) {
    curl_setup();
    struct rt_httpd_listener lo = {.addr = "127.0.0.1"};
    struct rt_httpd_options opt = {.listeners = &lo, .n_listeners = 1};
    struct server s;
    REQUIRE(server_start(&s, &opt));
    struct page_server ps = {.handed_rc = 1, .oom_rc = 1};
    REQUIRE(rt_httpd_route(s.h, "GET", "/page", h_page, &ps, false) == 0);
    REQUIRE(rt_httpd_route(s.h, "HEAD", "/page", h_page, &ps, false) == 0);
    REQUIRE(rt_httpd_route(s.h, "GET", "/page-oom", h_page_oom, &ps, false) == 0);
    struct page_run t = {.port = rt_httpd_port(s.h, 0)};
    REQUIRE(run_client(&s, page_client, &t));
    CHECK_EQ_INT(t.get_status, 200);
    CHECK_EQ_INT(t.get.off, (size_t)PAGE_LINES * 9); /* every byte, in order */
    CHECK(t.get.same);
    CHECK_EQ_INT(t.head_status, 200);
    CHECK_EQ_INT(t.head.off, 0); /* HEAD: no body, and the buffer still freed */
    CHECK_EQ_INT(ps.handed_rc, 0);
    CHECK(ps.emptied);
    CHECK_EQ_INT(ps.oom_rc, -ENOMEM);
    CHECK(ps.oom_emptied);
    CHECK_EQ_INT(t.oom_status, 500);
    server_stop(&s);
}

TEST_MAIN()
