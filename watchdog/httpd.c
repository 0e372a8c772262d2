/* HTTP server layer on evhttp (libevent 2.1). See watchdog/httpd.h.
 *
 * Three things evhttp 2.1 does not offer are built around it here, with
 * public libevent API only:
 *  - Per-connection state. evhttp_set_bevcb() hands us every new connection's
 *    bufferevent (we hold a reference on it); once evhttp has wrapped it in
 *    an evhttp_connection (in the same accept callback), an event activated
 *    from the bevcb "adopts" it: counts it against max_conns, sets the close
 *    callback and the whole-request deadline.
 *  - JSON bodies on errors evhttp answers itself (malformed request, body
 *    over the limit): evhttp writes its HTML error into the bufferevent's
 *    output buffer and only the next event-loop pass sends it. A callback on
 *    that buffer notices output we did not write; an event activated from it
 *    runs before the write and replaces the HTML response with a JSON one.
 *  - Lingering close: after such an error the client may still be sending
 *    its body; closing with unread data would reset the connection and the
 *    client might never read the answer. The socket is kept open (a dup of
 *    the descriptor) and drained, bounded in bytes and time.
 */
#include "watchdog/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "common/strbuf.h"

#define LISTEN_BACKLOG 128
#define MAX_BODY_LIMIT ((size_t)1 << 30)
#define MAX_HEADER_LIMIT ((size_t)1 << 20)
#define MAX_TIMEOUT_MS (3600u * 1000u)
#define MAX_CONNS_LIMIT 65536u
#define MAX_CRED_LEN 4096
#define MAX_AUTH_HEADER 8192
#define ERROR_MESSAGE_MAX 512
/* evhttp's own error pages are a few hundred bytes; anything larger in the
 * output buffer is not one and is left alone. */
#define FIXUP_MAX 16384
#define LINGER_BYTES (1024 * 1024)
#define LINGER_MS 2000

struct route {
    char *path;
    enum evhttp_cmd_type method;
    rt_httpd_handler_fn fn;
    void *userdata;
    bool needs_auth;
    char *media_type; /* required request Content-Type, or NULL */
};

struct listener {
    struct rt_httpd *h;
    struct evhttp *http;
    SSL_CTX *ssl_ctx; /* NULL: plain HTTP */
    int port;
};

/* One client connection; lives from evhttp's bevcb to its close callback. */
struct conn {
    struct rt_httpd *h;
    struct listener *l;
    struct bufferevent *bev;         /* we hold a reference */
    struct evhttp_connection *evcon; /* NULL until adopted */
    struct evbuffer_cb_entry *in_cb, *out_cb;
    struct event *fixup_ev, *deadline_ev;
    bool partial;  /* bytes of a request not yet answered have arrived */
    bool foreign;  /* evhttp wrote a response of its own, fixup pending */
    bool linger;   /* drain the socket after close */
    bool refuse;   /* close at adoption (TLS set-up failed) */
    uint64_t bytes_in; /* read on this connection, to tell "too large" from "malformed" */
    char head[1024];   /* the connection's first bytes (its first request head) */
    size_t head_len;
    struct conn **list, *prev, *next;
};

/* A closed connection whose socket is drained before the last close. */
struct drain {
    struct rt_httpd *h;
    int fd;
    size_t budget;
    struct timeval start;
    struct event *ev;
    struct drain *prev, *next;
};

struct rt_httpd {
    struct event_base *base;
    struct listener listeners[RT_HTTPD_MAX_LISTENERS];
    size_t n_listeners;
    struct route routes[RT_HTTPD_MAX_ROUTES];
    size_t n_routes;
    size_t max_body, max_header;
    struct timeval io_timeout, deadline;
    uint32_t max_conns;
    enum rt_httpd_auth_mode auth;
    unsigned char token_sha[SHA256_DIGEST_LENGTH];
    unsigned char user_sha[SHA256_DIGEST_LENGTH];
    unsigned char pass_sha[SHA256_DIGEST_LENGTH];
    struct event *adopt_ev;
    struct conn *pending; /* handed to evhttp, not yet adopted */
    struct conn *live;    /* adopted */
    struct conn *closing; /* being closed by us, see close_conn() */
    struct drain *lingering;
    size_t n_lingering;
    bool replying; /* our own response is being written */
    struct rt_httpd_stats stats;
};

struct rt_httpd_req_private {
    struct rt_httpd *h;
    struct evhttp_request *ev;
    bool replied;
};

static const struct {
    const char *name;
    enum evhttp_cmd_type cmd;
    bool routable;
} methods[] = {
    {"GET", EVHTTP_REQ_GET, true},         {"HEAD", EVHTTP_REQ_HEAD, true},
    {"POST", EVHTTP_REQ_POST, true},       {"PUT", EVHTTP_REQ_PUT, true},
    {"DELETE", EVHTTP_REQ_DELETE, true},   {"PATCH", EVHTTP_REQ_PATCH, true},
    {"OPTIONS", EVHTTP_REQ_OPTIONS, true}, {"TRACE", EVHTTP_REQ_TRACE, false},
    {"CONNECT", EVHTTP_REQ_CONNECT, false},
};

static const char *method_name(enum evhttp_cmd_type cmd) {
    for (size_t i = 0; i < ELEMENTSOF(methods); i++)
        if (methods[i].cmd == cmd)
            return methods[i].name;
    return "UNKNOWN";
}

static int method_from_name(const char *name, enum evhttp_cmd_type *out) {
    for (size_t i = 0; i < ELEMENTSOF(methods); i++)
        if (methods[i].routable && strcmp(methods[i].name, name) == 0) {
            *out = methods[i].cmd;
            return 0;
        }
    return -EINVAL;
}

static bool method_has_body(enum evhttp_cmd_type cmd) {
    return cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT || cmd == EVHTTP_REQ_PATCH;
}

static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 300 ? "Success" : status < 400 ? "Redirection"
                    : status < 500 ? "Client Error" : "Server Error";
    }
}

const char *rt_httpd_outcome_name(enum rt_httpd_outcome o) {
    static const char *const names[RT_HTTPD_OUTCOME_COUNT] = {
        [RT_HTTPD_HANDLED] = "handled",
        [RT_HTTPD_NOT_FOUND] = "not_found",
        [RT_HTTPD_METHOD_NOT_ALLOWED] = "method_not_allowed",
        [RT_HTTPD_UNAUTHORIZED] = "unauthorized",
        [RT_HTTPD_TOO_LARGE] = "too_large",
        [RT_HTTPD_UNSUPPORTED_MEDIA] = "unsupported_media_type",
        [RT_HTTPD_BAD_REQUEST] = "bad_request",
    };
    return (unsigned)o < RT_HTTPD_OUTCOME_COUNT ? names[o] : NULL;
}

_printf_(2, 3) static void set_err(const struct rt_httpd_options *opt, const char *fmt, ...) {
    if (!opt || !opt->errbuf || opt->errbuf_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(opt->errbuf, opt->errbuf_size, fmt, ap);
    va_end(ap);
}

static void sha256(const void *data, size_t len, unsigned char out[SHA256_DIGEST_LENGTH]) {
    SHA256(data, len, out);
}

/* ---------------------------------------------------------------- helpers */

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int rt_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen) {
    if (!in || !out || !outlen || inlen % 4 != 0)
        return -EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        bool last = i + 4 == inlen;
        uint32_t word = 0;
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            int v;
            if (c == '=' && last && k >= 2) {
                pad++;
                v = 0;
            } else if (pad > 0 || (v = b64_value(c)) < 0) {
                return -EINVAL; /* data after padding, or not base64 */
            }
            word = word << 6 | (uint32_t)v;
        }
        /* Canonical form only: bits beyond the last byte must be zero. */
        if ((pad == 1 && (word & 0xff)) || (pad == 2 && (word & 0xffff)))
            return -EINVAL;
        size_t take = 3 - pad;
        if (take > outcap - n)
            return -ENOBUFS;
        out[n++] = (unsigned char)(word >> 16);
        if (take > 1)
            out[n++] = (unsigned char)(word >> 8);
        if (take > 2)
            out[n++] = (unsigned char)word;
    }
    *outlen = n;
    return 0;
}

bool rt_httpd_media_type_is(const char *content_type, const char *media) {
    if (!content_type || !media || !*media)
        return false;
    content_type += strspn(content_type, " \t");
    size_t n = strlen(media);
    if (strncasecmp(content_type, media, n) != 0)
        return false;
    const char *rest = content_type + n;
    rest += strspn(rest, " \t");
    return *rest == '\0' || *rest == ';';
}

static bool printable_token(const char *s, size_t max) {
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || s[n] <= ' ' || s[n] > '~')
            return false;
    return n > 0;
}

/* ---------------------------------------------------------- connections */

static void list_add(struct conn **list, struct conn *c) {
    c->list = list;
    c->prev = NULL;
    c->next = *list;
    if (*list)
        (*list)->prev = c;
    *list = c;
}

static void list_del(struct conn *c) {
    if (!c->list)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        *c->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->list = NULL;
    c->prev = c->next = NULL;
}

static void conn_free(struct conn *c) {
    if (!c)
        return;
    list_del(c);
    if (c->in_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
    if (c->out_cb)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    if (c->fixup_ev)
        event_free(c->fixup_ev);
    if (c->deadline_ev)
        event_free(c->deadline_ev);
    bufferevent_decref(c->bev);
    free(c);
}

static struct conn *conn_find(struct rt_httpd *h, struct evhttp_connection *evcon) {
    for (struct conn *c = h->live; c; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
    struct conn *c = arg;
    if (info->n_added > 0) {
        c->partial = true;
        c->bytes_in += info->n_added;
        if (c->head_len < sizeof(c->head) - 1) {
            size_t want = sizeof(c->head) - 1 - c->head_len;
            ev_ssize_t got = evbuffer_copyout(buf, c->head + c->head_len, want);
            if (got > 0) {
                c->head_len += (size_t)got;
                c->head[c->head_len] = '\0';
            }
        }
    }
}

/* Whether the first request on the connection was really too large: it
 * declared a Content-Length over the limit, or sent more body bytes than the
 * limit (chunk framing included). False for a small, malformed body. */
static bool really_too_large(const struct conn *c, size_t max_body) {
    const char *end = strstr(c->head, "\r\n\r\n");
    for (const char *p = c->head; (p = strchr(p, '\n')) != NULL && (!end || p < end);) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0 && strtoll(p + 15, NULL, 10) > (long long)max_body)
            return true;
    }
    if (!end)
        return true; /* no complete head seen: keep evhttp's verdict */
    uint64_t head_len = (uint64_t)(end - c->head) + 4;
    if (c->bytes_in > head_len && c->bytes_in - head_len > max_body)
        return true;
    char *after;
    unsigned long long chunk = strtoull(end + 4, &after, 16); /* a first chunk declared too large */
    return after != end + 4 && (*after == '\r' || *after == ';') && chunk > max_body;
}

static void output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
    (void)buf;
    struct conn *c = arg;
    if (info->n_added > 0 && !c->h->replying) {
        c->foreign = true;
        event_active(c->fixup_ev, EV_TIMEOUT, 0);
    }
}

static void fixup_cb(evutil_socket_t fd, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);

static struct conn *conn_new(struct listener *l, struct bufferevent *bev) {
    struct rt_httpd *h = l->h;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->h = h;
    c->l = l;
    c->bev = bev;
    bufferevent_incref(bev);
    c->fixup_ev = event_new(h->base, -1, 0, fixup_cb, c);
    c->deadline_ev = evtimer_new(h->base, deadline_cb, c);
    c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c);
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), output_cb, c);
    if (!c->fixup_ev || !c->deadline_ev || !c->in_cb || !c->out_cb) {
        conn_free(c);
        return NULL;
    }
    return c;
}

static struct bufferevent *tls_bev(struct event_base *base, SSL_CTX *ctx) {
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* Clients often close without close_notify; that is a plain EOF. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* evhttp's bevcb: a connection was accepted on listener `arg`. */
static struct bufferevent *make_bev(struct event_base *base, void *arg) {
    struct listener *l = arg;
    struct bufferevent *bev = l->ssl_ctx ? tls_bev(base, l->ssl_ctx) : NULL;
    /* Given no bufferevent, evhttp would serve plain HTTP even on a TLS
     * port; a TLS set-up failure gets a plain one that adoption closes. */
    bool refuse = l->ssl_ctx && !bev;
    if (!bev)
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    /* Without a conn, evhttp still serves the socket; on_request() refuses
     * requests on connections it does not know. */
    struct conn *c = conn_new(l, bev);
    if (c) {
        c->refuse = refuse;
        list_add(&l->h->pending, c);
        event_active(l->h->adopt_ev, EV_TIMEOUT, 0);
    }
    return bev;
}

static void on_close(struct evhttp_connection *evcon, void *arg);

/* Closes an adopted connection from outside evhttp's callbacks. */
static void close_conn(struct conn *c) {
    struct rt_httpd *h = c->h;
    h->closing = c;
    evhttp_connection_free(c->evcon); /* runs on_close(), which frees c */
    if (h->closing == c) {
        /* evhttp skipped the close callback; account for it here. */
        h->closing = NULL;
        h->stats.conn_open--;
        conn_free(c);
    }
}

static void adopt_one(struct rt_httpd *h, struct conn *c) {
    bufferevent_event_cb eventcb = NULL;
    void *cbarg = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &cbarg);
    /* evhttp installs its callbacks with the evhttp_connection as argument;
     * none means evhttp already gave up on this connection. */
    struct evhttp_connection *evcon = cbarg;
    if (!eventcb || !evcon || evhttp_connection_get_bufferevent(evcon) != c->bev ||
        evhttp_connection_get_server(evcon) != c->l->http) {
        conn_free(c);
        return;
    }
    c->evcon = evcon;
    if (c->refuse || h->stats.conn_open >= h->max_conns) {
        h->stats.conn_refused++;
        evhttp_connection_free(evcon); /* no close callback set yet */
        conn_free(c);
        return;
    }
    h->stats.conn_accepted++;
    h->stats.conn_open++;
    list_add(&h->live, c);
    evhttp_connection_set_closecb(evcon, on_close, c);
    evtimer_add(c->deadline_ev, &h->deadline);
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct rt_httpd *h = arg;
    /* make_bev() prepends: adopt from the tail, in accept order, so that
     * the oldest connections get the free slots. */
    struct conn *c = h->pending;
    while (c && c->next)
        c = c->next;
    while (c) {
        struct conn *prev = c->prev;
        list_del(c);
        adopt_one(h, c);
        c = prev;
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct conn *c = arg;
    c->h->stats.conn_deadline++;
    c->partial = false; /* counted here, not as aborted */
    close_conn(c);
}

/* --------------------------------------------------------------- linger */

static void drain_finish(struct drain *lg) {
    struct rt_httpd *h = lg->h;
    if (lg->prev)
        lg->prev->next = lg->next;
    else
        h->lingering = lg->next;
    if (lg->next)
        lg->next->prev = lg->prev;
    h->n_lingering--;
    event_free(lg->ev);
    close(lg->fd);
    free(lg);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg) {
    struct drain *lg = arg;
    struct timeval now, spent;
    event_base_gettimeofday_cached(lg->h->base, &now);
    timersub(&now, &lg->start, &spent);
    if ((what & EV_TIMEOUT) || spent.tv_sec * 1000 + spent.tv_usec / 1000 >= LINGER_MS) {
        drain_finish(lg);
        return;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || (size_t)n >= lg->budget) {
        drain_finish(lg);
        return;
    }
    lg->budget -= (size_t)n;
}

/* Reads and discards what the client still sends on FD, which the caller
 * has taken over from the connection's bufferevent (see on_close), then
 * closes it. Always takes FD. */
static void drain_start(struct rt_httpd *h, evutil_socket_t fd) {
    if (h->n_lingering >= h->max_conns) {
        close(fd);
        return;
    }
    struct drain *lg = calloc(1, sizeof(*lg));
    if (!lg) {
        close(fd);
        return;
    }
    lg->h = h;
    lg->fd = fd;
    lg->budget = LINGER_BYTES;
    event_base_gettimeofday_cached(h->base, &lg->start);
    const struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    lg->ev = event_new(h->base, fd, EV_READ | EV_PERSIST, drain_cb, lg);
    if (!lg->ev || event_add(lg->ev, &tv) < 0) {
        if (lg->ev)
            event_free(lg->ev);
        close(fd);
        free(lg);
        return;
    }
    lg->next = h->lingering;
    if (h->lingering)
        h->lingering->prev = lg;
    h->lingering = lg;
    h->n_lingering++;
}

static void on_close(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    struct conn *c = arg;
    struct rt_httpd *h = c->h;
    if (h->closing == c)
        h->closing = NULL;
    bool tls_error = false;
    if (c->l->ssl_ctx)
        while (bufferevent_get_openssl_error(c->bev) != 0)
            tls_error = true;
    if (tls_error)
        h->stats.tls_failed++;
    else if (c->partial)
        h->stats.conn_aborted++;
    /* The socket is taken from the bufferevent, not duplicated: evhttp then
     * only shuts its write side (our response is followed by a FIN), and no
     * second descriptor of it exists, which libevent's epoll change list
     * could not handle (rt_httpd_base_new). */
    evutil_socket_t fd = c->linger ? bufferevent_getfd(c->bev) : -1;
    if (fd >= 0 && bufferevent_setfd(c->bev, -1) == 0)
        drain_start(h, fd);
    h->stats.conn_open--;
    conn_free(c);
}

/* ------------------------------------------------------------- replies */

static void free_body(const void *data, size_t len, void *arg) {
    (void)len;
    (void)arg;
    free((void *)data);
}

/* The body is copied, or, when OWNED (malloc'd, == body), handed to libevent
 * and freed once sent or dropped: no second copy of a large page such as
 * /metrics at 100,000 bots. OWNED is freed here on every path. */
static int send_reply(struct rt_httpd *h, struct evhttp_request *req, int status,
                      const char *content_type, const void *body, size_t len, void *owned) {
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *buf = NULL;
    int r = -ENOMEM;
    if (content_type && evhttp_add_header(out, "Content-Type", content_type) < 0) {
        r = -EINVAL;
        goto fail;
    }
    if (!(buf = evbuffer_new()))
        goto fail;
    /* evhttp 2.1 would send a body even to HEAD. */
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        len = 0;
    if (len > 0 && owned) {
        if (evbuffer_add_reference(buf, owned, len, free_body, NULL) < 0)
            goto fail;
        owned = NULL;
    } else if (len > 0 && evbuffer_add(buf, body, len) < 0) {
        goto fail;
    }
    free(owned);
    h->replying = true;
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    h->replying = false;
    evbuffer_free(buf);
    h->stats.responses[status / 100]++;
    return 0;
fail:
    if (buf)
        evbuffer_free(buf);
    free(owned);
    return r;
}

static int error_json(struct rt_strbuf *sb, const char *code, const char *message) {
    rt_sb_puts(sb, "{\"error\":");
    rt_sb_json_str(sb, code);
    rt_sb_puts(sb, ",\"message\":");
    rt_sb_json_str(sb, message);
    rt_sb_puts(sb, "}");
    return sb->oom ? -ENOMEM : 0;
}

static int send_error(struct rt_httpd *h, struct evhttp_request *req, int status,
                      const char *code, const char *message) {
    struct rt_strbuf sb = {0};
    int r = error_json(&sb, code, message);
    if (r == 0)
        r = send_reply(h, req, status, "application/json", sb.s, sb.len, NULL);
    rt_sb_free(&sb);
    return r;
}

static bool valid_req(const struct rt_httpd_req *req) {
    return req && req->priv && req->priv->ev && req->priv->h;
}

const char *rt_httpd_req_header(const struct rt_httpd_req *req, const char *name) {
    if (!valid_req(req) || !name)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(req->priv->ev), name);
}

int rt_httpd_add_header(struct rt_httpd_req *req, const char *name, const char *value) {
    if (!valid_req(req) || !name || !*name || !value)
        return -EINVAL;
    if (req->priv->replied)
        return -EALREADY;
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req->priv->ev);
    return evhttp_add_header(out, name, value) < 0 ? -ENOMEM : 0;
}

static int reply(struct rt_httpd_req *req, int status, const char *content_type, const void *body,
                 size_t len, void *owned) {
    if (!valid_req(req) || status < 200 || status > 599 || (len > 0 && !body)) {
        free(owned);
        return -EINVAL;
    }
    if (req->priv->replied) {
        free(owned);
        return -EALREADY;
    }
    int r = send_reply(req->priv->h, req->priv->ev, status, content_type, body, len, owned);
    if (r == 0)
        req->priv->replied = true;
    return r;
}

int rt_httpd_reply(struct rt_httpd_req *req, int status, const char *content_type,
                   const void *body, size_t len) {
    return reply(req, status, content_type, body, len, NULL);
}

int rt_httpd_reply_strbuf(struct rt_httpd_req *req, int status, const char *content_type,
                          struct rt_strbuf *body) {
    if (!body)
        return reply(req, status, content_type, NULL, 0, NULL);
    if (body->oom) {
        rt_sb_free(body);
        return -ENOMEM;
    }
    char *s = body->s;
    size_t len = body->len;
    *body = (struct rt_strbuf){0};
    return reply(req, status, content_type, s, len, s);
}

int rt_httpd_reply_error(struct rt_httpd_req *req, int status, const char *code,
                         const char *message_fmt, ...) {
    if (!valid_req(req) || status < 400 || status > 599 || !code || !*code || !message_fmt)
        return -EINVAL;
    if (req->priv->replied)
        return -EALREADY;
    char message[ERROR_MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, message_fmt);
    int n = vsnprintf(message, sizeof(message), message_fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int r = send_error(req->priv->h, req->priv->ev, status, code, message);
    if (r == 0)
        req->priv->replied = true;
    return r;
}

/* ----------------------------------------------- evhttp's own responses */

/* "HTTP/1.x NNN ..." at p (head of length n): the status, or -1. */
static int parse_status(const char *p, size_t n) {
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        status = status * 10 + (p[i] - '0');
    }
    return n == 12 || p[12] == ' ' ? status : -1;
}

static void foreign_error_text(const struct rt_httpd *h, int status, const char **code,
                               char *message, size_t size) {
    switch (status) {
    case 413:
        *code = "payload_too_large";
        snprintf(message, size, "request body over %zu bytes", h->max_body);
        break;
    case 400:
        *code = "bad_request";
        snprintf(message, size, "malformed request, or request line and headers over %zu bytes",
                 h->max_header);
        break;
    case 417:
        *code = "expectation_failed";
        snprintf(message, size, "unsupported Expect header");
        break;
    default:
        *code = "bad_request";
        snprintf(message, size, "request rejected by the HTTP layer");
        break;
    }
}

/* Socket bufferevents freeze the front of their output buffer (only their
 * writer drains it); OpenSSL ones do not. */
static int drain_output(struct evbuffer *out, size_t len) {
    if (evbuffer_drain(out, len) == 0)
        return 0;
    evbuffer_unfreeze(out, 1);
    int r = evbuffer_drain(out, len);
    evbuffer_freeze(out, 1);
    return r;
}

/* Replaces the error response evhttp queued (HTML) with a JSON one. Leading
 * interim responses (100 Continue) are kept; anything that does not parse as
 * a complete error response is left untouched. */
/* Status of the final (non-1xx) response in p[0..len), its offset in *off;
 * -1 if there is no complete head of one. */
static int final_response(const char *p, size_t len, size_t *off) {
    *off = 0;
    for (;;) {
        const char *head_end = memmem(p + *off, len - *off, "\r\n\r\n", 4);
        if (!head_end)
            return -1;
        const char *line_end = memmem(p + *off, (size_t)(head_end - (p + *off)) + 2, "\r\n", 2);
        int status = parse_status(p + *off, (size_t)(line_end - (p + *off)));
        if (status < 0 || status >= 200)
            return status;
        *off = (size_t)(head_end - p) + 4;
    }
}

/* The complete JSON error response, after `keep` (interim responses). */
static int json_response(struct rt_strbuf *resp, const char *keep, size_t keep_len,
                         const char *version, int status, const char *code, const char *message) {
    struct rt_strbuf body = {0};
    error_json(&body, code, message);
    rt_sb_putn(resp, keep, keep_len);
    rt_sb_printf(resp,
                 "%.8s %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 version, status, reason_phrase(status), body.len);
    rt_sb_putn(resp, body.s ? body.s : "", body.len);
    bool oom = body.oom || resp->oom;
    rt_sb_free(&body);
    return oom ? -ENOMEM : 0;
}

static void fixup_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct rt_httpd *h = c->h;
    if (!c->foreign)
        return;
    c->foreign = false;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t len = evbuffer_get_length(out), off;
    const char *p = len > 0 && len <= FIXUP_MAX ? (const char *)evbuffer_pullup(out, -1) : NULL;
    int status = p ? final_response(p, len, &off) : -1;
    if (status < 400)
        return; /* 100 Continue, or not a response we know */

    /* libevent 2.1 reports a corrupt chunk or trailer with the same error as
     * an oversized body; a request that never sent more than the limits
     * allow was malformed, not too large. */
    if (status == 413 && !really_too_large(c, h->max_body))
        status = 400;
    const char *code;
    char message[160];
    foreign_error_text(h, status, &code, message, sizeof(message));
    struct rt_strbuf resp = {0};
    if (json_response(&resp, p, off, p + off, status, code, message) == 0 &&
        drain_output(out, len) == 0) {
        h->replying = true;
        evbuffer_add(out, resp.s, resp.len);
        h->replying = false;
    }
    rt_sb_free(&resp);
    h->stats.outcome[status == 413 ? RT_HTTPD_TOO_LARGE : RT_HTTPD_BAD_REQUEST]++;
    h->stats.responses[status / 100]++;
    c->partial = false;
    c->linger = true;
}

/* -------------------------------------------------------------- routing */

enum auth_result { AUTH_OK, AUTH_MISSING, AUTH_INVALID };

static enum auth_result check_basic(const struct rt_httpd *h, const char *cred) {
    size_t len = strlen(cred);
    unsigned char decoded[MAX_AUTH_HEADER];
    size_t n;
    if (len > MAX_AUTH_HEADER || rt_base64_decode(cred, len, decoded, sizeof(decoded), &n) < 0)
        return AUTH_INVALID;
    const unsigned char *colon = memchr(decoded, ':', n);
    enum auth_result r = AUTH_INVALID;
    if (colon) {
        unsigned char user[SHA256_DIGEST_LENGTH], pass[SHA256_DIGEST_LENGTH];
        sha256(decoded, (size_t)(colon - decoded), user);
        sha256(colon + 1, n - (size_t)(colon - decoded) - 1, pass);
        /* Both comparisons always run: which half was wrong does not show. */
        int bad = CRYPTO_memcmp(user, h->user_sha, sizeof(user));
        bad |= CRYPTO_memcmp(pass, h->pass_sha, sizeof(pass));
        r = bad ? AUTH_INVALID : AUTH_OK;
    }
    OPENSSL_cleanse(decoded, sizeof(decoded));
    return r;
}

static enum auth_result check_auth(const struct rt_httpd *h, struct evhttp_request *req) {
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!v)
        return AUTH_MISSING;
    const char *scheme = h->auth == RT_HTTPD_AUTH_BEARER ? "Bearer" : "Basic";
    size_t sl = strlen(scheme);
    if (strncasecmp(v, scheme, sl) != 0 || (v[sl] != ' ' && v[sl] != '\0'))
        return AUTH_MISSING; /* another scheme: no credentials of ours */
    const char *cred = v + sl + strspn(v + sl, " ");
    if (!*cred)
        return AUTH_INVALID;
    if (h->auth == RT_HTTPD_AUTH_BASIC)
        return check_basic(h, cred);
    /* Hashing first makes the comparison length-independent. */
    unsigned char got[SHA256_DIGEST_LENGTH];
    sha256(cred, strlen(cred), got);
    return CRYPTO_memcmp(got, h->token_sha, sizeof(got)) == 0 ? AUTH_OK : AUTH_INVALID;
}

static void reject_auth(struct rt_httpd *h, struct evhttp_request *req, enum auth_result r) {
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *challenge;
    if (h->auth == RT_HTTPD_AUTH_BASIC)
        challenge = "Basic realm=\"" RT_HTTPD_REALM "\", charset=\"UTF-8\"";
    else if (r == AUTH_INVALID)
        challenge = "Bearer realm=\"" RT_HTTPD_REALM "\", error=\"invalid_token\"";
    else
        challenge = "Bearer realm=\"" RT_HTTPD_REALM "\"";
    evhttp_add_header(out, "WWW-Authenticate", challenge);
    h->stats.outcome[RT_HTTPD_UNAUTHORIZED]++;
    if (r == AUTH_MISSING)
        h->stats.auth_missing++;
    else
        h->stats.auth_invalid++;
    send_error(h, req, 401, "unauthorized",
               r == AUTH_MISSING ? "missing credentials" : "invalid credentials");
}

/* The route for (path, method); *path_known tells 404 from 405, and allow
 * collects the path's methods for the Allow header. */
static struct route *find_route(struct rt_httpd *h, const char *path, enum evhttp_cmd_type cmd,
                                bool *path_known, char *allow, size_t allow_size) {
    struct route *found = NULL;
    size_t used = 0;
    *path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < h->n_routes; i++) {
        struct route *r = &h->routes[i];
        if (strcmp(r->path, path) != 0)
            continue;
        *path_known = true;
        if (r->method == cmd)
            found = r;
        int n = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
                         method_name(r->method));
        if (n > 0 && (size_t)n < allow_size - used)
            used += (size_t)n;
    }
    return found;
}

static void run_handler(struct rt_httpd *h, struct conn *c, struct route *r,
                        struct evhttp_request *ev, const char *path) {
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    size_t len = evbuffer_get_length(in);
    _cleanup_free_ char *body = malloc(len + 1);
    if (!body) {
        send_error(h, ev, 503, "unavailable", "out of memory");
        return;
    }
    if (len > 0)
        evbuffer_copyout(in, body, len);
    body[len] = '\0';

    char peer[INET6_ADDRSTRLEN + 16] = "";
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(c->evcon, &addr, &port);
    bool v6 = addr && strchr(addr, ':');
    snprintf(peer, sizeof(peer), "%s%s%s:%u", v6 ? "[" : "", addr ? addr : "?", v6 ? "]" : "",
             (unsigned)port);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    struct rt_httpd_req_private priv = {.h = h, .ev = ev};
    struct rt_httpd_req req = {
        .method = method_name(r->method),
        .path = path,
        .query = uri ? evhttp_uri_get_query(uri) : NULL,
        .body = body,
        .body_len = len,
        .peer = peer,
        .tls = c->l->ssl_ctx != NULL,
        .priv = &priv,
    };
    h->stats.outcome[RT_HTTPD_HANDLED]++;
    r->fn(&req, r->userdata);
    if (!priv.replied)
        send_error(h, ev, 500, "internal", "handler did not reply");
}

static void dispatch(struct rt_httpd *h, struct conn *c, struct evhttp_request *ev) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path)
        path = "";
    bool path_known;
    char allow[128];
    struct route *r = find_route(h, path, evhttp_request_get_command(ev), &path_known, allow,
                                 sizeof(allow));
    if (!path_known) {
        h->stats.outcome[RT_HTTPD_NOT_FOUND]++;
        send_error(h, ev, 404, "not_found", "no such path");
        return;
    }
    if (!r) {
        h->stats.outcome[RT_HTTPD_METHOD_NOT_ALLOWED]++;
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Allow", allow);
        send_error(h, ev, 405, "method_not_allowed", "method not allowed on this path");
        return;
    }
    if (r->needs_auth && h->auth != RT_HTTPD_AUTH_NONE) {
        enum auth_result a = check_auth(h, ev);
        if (a != AUTH_OK) {
            reject_auth(h, ev, a);
            return;
        }
    }
    /* evhttp enforces the limit while reading; this guards the invariant. */
    if (evbuffer_get_length(evhttp_request_get_input_buffer(ev)) > h->max_body) {
        h->stats.outcome[RT_HTTPD_TOO_LARGE]++;
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
        char message[64];
        snprintf(message, sizeof(message), "request body over %zu bytes", h->max_body);
        send_error(h, ev, 413, "payload_too_large", message);
        return;
    }
    if (r->media_type) {
        const char *ct = evhttp_find_header(evhttp_request_get_input_headers(ev), "Content-Type");
        if (!rt_httpd_media_type_is(ct, r->media_type)) {
            h->stats.outcome[RT_HTTPD_UNSUPPORTED_MEDIA]++;
            char message[160];
            snprintf(message, sizeof(message), "Content-Type must be %s", r->media_type);
            send_error(h, ev, 415, "unsupported_media_type", message);
            return;
        }
    }
    run_handler(h, c, r, ev, path);
}

/* evhttp's generic callback: a complete request arrived on listener `arg`. */
static void on_request(struct evhttp_request *ev, void *arg) {
    struct listener *l = arg;
    struct rt_httpd *h = l->h;
    struct conn *c = conn_find(h, evhttp_request_get_connection(ev));
    if (!c) {
        /* Set-up of this connection failed (out of memory): do not serve it. */
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
        send_error(h, ev, 503, "unavailable", "connection set-up failed");
        return;
    }
    evtimer_del(c->deadline_ev);
    dispatch(h, c, ev);
    /* What is left in the input is the start of a pipelined next request. */
    c->partial = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
    evtimer_add(c->deadline_ev, &h->deadline);
}

int rt_httpd_route(struct rt_httpd *h, const char *method, const char *path,
                   rt_httpd_handler_fn handler, void *userdata, bool needs_auth) {
    enum evhttp_cmd_type cmd;
    if (!h || !method || !path || path[0] != '/' || !handler || method_from_name(method, &cmd) < 0)
        return -EINVAL;
    if (strlen(path) > 1024 || strpbrk(path, " ?#\r\n"))
        return -EINVAL;
    for (size_t i = 0; i < h->n_routes; i++)
        if (h->routes[i].method == cmd && strcmp(h->routes[i].path, path) == 0)
            return -EEXIST;
    if (h->n_routes >= RT_HTTPD_MAX_ROUTES)
        return -E2BIG;
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    h->routes[h->n_routes++] = (struct route){
        .path = copy, .method = cmd, .fn = handler, .userdata = userdata, .needs_auth = needs_auth};
    return 0;
}

int rt_httpd_route_content_type(struct rt_httpd *h, const char *method, const char *path,
                                const char *media_type) {
    enum evhttp_cmd_type cmd;
    if (!h || !method || !path || !media_type || method_from_name(method, &cmd) < 0 ||
        !method_has_body(cmd) || !printable_token(media_type, 255) || !strchr(media_type, '/') ||
        strchr(media_type, ';'))
        return -EINVAL;
    for (size_t i = 0; i < h->n_routes; i++) {
        struct route *r = &h->routes[i];
        if (r->method != cmd || strcmp(r->path, path) != 0)
            continue;
        char *copy = strdup(media_type);
        if (!copy)
            return -ENOMEM;
        free(r->media_type);
        r->media_type = copy;
        return 0;
    }
    return -ENOENT;
}

/* ------------------------------------------------------------ listeners */

static void set_ssl_err(const struct rt_httpd_options *opt, size_t i, const char *what,
                        const char *file) {
    char detail[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    set_err(opt, "listener %zu: %s %s: %s", i, what, file ? file : "", detail);
}

static int tls_context(const struct rt_httpd_options *opt, size_t i, SSL_CTX **out) {
    const struct rt_httpd_listener *lo = &opt->listeners[i];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_ssl_err(opt, i, "SSL_CTX_new", NULL);
        return -ENOMEM;
    }
    int r = -EIO;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* libevent may retry a write from a different buffer address. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* TLS 1.2: forward secrecy and AEAD only (1.3 suites are all fine). */
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        set_ssl_err(opt, i, "cipher list", NULL);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, lo->tls_cert_file) != 1) {
        set_ssl_err(opt, i, "certificate", lo->tls_cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, lo->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        set_ssl_err(opt, i, "private key", lo->tls_key_file);
        goto fail;
    }
    static const unsigned char sid_ctx[] = "ratchet-watchdog";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (lo->tls_client_ca_file) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(lo->tls_client_ca_file);
        if (!names || SSL_CTX_load_verify_locations(ctx, lo->tls_client_ca_file, NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            set_ssl_err(opt, i, "client CA", lo->tls_client_ca_file);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return r;
}

static int parse_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len) {
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = addr ? strlen(addr) : 0;
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    if (addr[0] == '[') {
        if (n < 3 || addr[n - 1] != ']')
            return -EINVAL;
        memcpy(buf, addr + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, addr, n + 1);
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (addr[0] != '[' && inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -EINVAL;
}

static int listen_socket(const struct rt_httpd_options *opt, size_t i, int *port_out) {
    const struct rt_httpd_listener *lo = &opt->listeners[i];
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(lo->addr, lo->port, &ss, &sl) < 0) {
        set_err(opt, "listener %zu: not a numeric IPv4/IPv6 address: %s", i,
                lo->addr ? lo->addr : "(null)");
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        set_err(opt, "listener %zu: socket: %s", i, strerror(e));
        return -e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* "::" must not also take the IPv4 port: that is a listener of its own. */
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int e = errno;
        set_err(opt, "listener %zu: bind %s port %u: %s", i, lo->addr, (unsigned)lo->port,
                strerror(e));
        close(fd);
        return -e;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int listener_open(struct rt_httpd *h, const struct rt_httpd_options *opt, size_t i) {
    const struct rt_httpd_listener *lo = &opt->listeners[i];
    struct listener *l = &h->listeners[i];
    l->h = h;
    bool tls = lo->tls_cert_file || lo->tls_key_file || lo->tls_client_ca_file;
    if (tls && (!lo->tls_cert_file || !lo->tls_key_file)) {
        set_err(opt, "listener %zu: TLS needs both a certificate and a key file", i);
        return -EINVAL;
    }
    int r;
    if (tls && (r = tls_context(opt, i, &l->ssl_ctx)) < 0)
        return r;
    int fd = listen_socket(opt, i, &l->port);
    if (fd < 0)
        return fd;
    l->http = evhttp_new(h->base);
    if (!l->http) {
        close(fd);
        set_err(opt, "listener %zu: evhttp_new failed", i);
        return -ENOMEM;
    }
    evhttp_set_gencb(l->http, on_request, l);
    evhttp_set_bevcb(l->http, make_bev, l);
    evhttp_set_max_body_size(l->http, (ev_ssize_t)h->max_body);
    evhttp_set_max_headers_size(l->http, (ev_ssize_t)h->max_header);
    evhttp_set_timeout_tv(l->http, &h->io_timeout);
    /* Every method reaches on_request(), which answers 405 itself. */
    evhttp_set_allowed_methods(l->http, 0xffff);
    evhttp_set_default_content_type(l->http, NULL);
    if (!evhttp_accept_socket_with_handle(l->http, fd)) {
        close(fd);
        set_err(opt, "listener %zu: cannot listen", i);
        return -ENOMEM;
    }
    return 0;
}

struct event_base *rt_httpd_base_new(void) {
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

int rt_httpd_port(const struct rt_httpd *h, size_t i) {
    if (!h || i >= h->n_listeners)
        return -EINVAL;
    return h->listeners[i].port;
}

void rt_httpd_get_stats(const struct rt_httpd *h, struct rt_httpd_stats *out) {
    if (h && out)
        *out = h->stats;
}

/* ------------------------------------------------------------ lifecycle */

static struct timeval ms_to_tv(uint32_t ms) {
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

static int check_auth_options(const struct rt_httpd_options *opt) {
    switch (opt->auth) {
    case RT_HTTPD_AUTH_NONE:
        return 0;
    case RT_HTTPD_AUTH_BEARER:
        if (!opt->bearer_token || !printable_token(opt->bearer_token, MAX_CRED_LEN)) {
            set_err(opt, "bearer token must be 1..%d printable characters without spaces",
                    MAX_CRED_LEN);
            return -EINVAL;
        }
        return 0;
    case RT_HTTPD_AUTH_BASIC:
        if (!opt->basic_user || !printable_token(opt->basic_user, MAX_CRED_LEN) ||
            strchr(opt->basic_user, ':') || !opt->basic_password || !*opt->basic_password ||
            strlen(opt->basic_password) > MAX_CRED_LEN) {
            set_err(opt, "basic auth needs a user (printable, no ':') and a password");
            return -EINVAL;
        }
        return 0;
    }
    set_err(opt, "unknown auth mode");
    return -EINVAL;
}

static int check_options(const struct rt_httpd_options *opt) {
    if (opt->n_listeners == 0 || opt->n_listeners > RT_HTTPD_MAX_LISTENERS || !opt->listeners) {
        set_err(opt, "need 1..%d listeners", RT_HTTPD_MAX_LISTENERS);
        return -EINVAL;
    }
    if (opt->max_body_bytes > MAX_BODY_LIMIT || opt->max_header_bytes > MAX_HEADER_LIMIT ||
        opt->io_timeout_ms > MAX_TIMEOUT_MS || opt->deadline_ms > MAX_TIMEOUT_MS ||
        opt->max_conns > MAX_CONNS_LIMIT) {
        set_err(opt, "limit out of range");
        return -EINVAL;
    }
    return check_auth_options(opt);
}

static void set_limits(struct rt_httpd *h, const struct rt_httpd_options *opt) {
    h->max_body = opt->max_body_bytes ? opt->max_body_bytes : RT_HTTPD_DEFAULT_MAX_BODY;
    h->max_header = opt->max_header_bytes ? opt->max_header_bytes : RT_HTTPD_DEFAULT_MAX_HEADER;
    h->io_timeout = ms_to_tv(opt->io_timeout_ms ? opt->io_timeout_ms : RT_HTTPD_DEFAULT_IO_TIMEOUT_MS);
    h->deadline = ms_to_tv(opt->deadline_ms ? opt->deadline_ms : RT_HTTPD_DEFAULT_DEADLINE_MS);
    h->max_conns = opt->max_conns ? opt->max_conns : RT_HTTPD_DEFAULT_MAX_CONNS;
    h->auth = opt->auth;
    if (opt->auth == RT_HTTPD_AUTH_BEARER)
        sha256(opt->bearer_token, strlen(opt->bearer_token), h->token_sha);
    if (opt->auth == RT_HTTPD_AUTH_BASIC) {
        sha256(opt->basic_user, strlen(opt->basic_user), h->user_sha);
        sha256(opt->basic_password, strlen(opt->basic_password), h->pass_sha);
    }
}

struct rt_httpd *rt_httpd_new(struct event_base *base, const struct rt_httpd_options *opt) {
    if (!base || !opt) {
        errno = EINVAL;
        return NULL;
    }
    int r = check_options(opt);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    struct rt_httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        set_err(opt, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    h->base = base;
    set_limits(h, opt);
    h->adopt_ev = event_new(base, -1, 0, adopt_cb, h);
    if (!h->adopt_ev) {
        set_err(opt, "out of memory");
        rt_httpd_free(h);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < opt->n_listeners; i++) {
        h->n_listeners = i + 1;
        r = listener_open(h, opt, i);
        if (r < 0) {
            rt_httpd_free(h);
            errno = -r;
            return NULL;
        }
    }
    return h;
}

void rt_httpd_free(struct rt_httpd *h) {
    if (!h)
        return;
    /* evhttp_free closes every connection; adopted ones come back through
     * on_close(), pending ones are freed below. */
    for (size_t i = 0; i < h->n_listeners; i++)
        if (h->listeners[i].http)
            evhttp_free(h->listeners[i].http);
    while (h->pending)
        conn_free(h->pending);
    while (h->live)
        conn_free(h->live);
    while (h->lingering)
        drain_finish(h->lingering);
    if (h->adopt_ev)
        event_free(h->adopt_ev);
    for (size_t i = 0; i < h->n_listeners; i++)
        SSL_CTX_free(h->listeners[i].ssl_ctx);
    for (size_t i = 0; i < h->n_routes; i++) {
        free(h->routes[i].path);
        free(h->routes[i].media_type);
    }
    OPENSSL_cleanse(h->token_sha, sizeof(h->token_sha));
    OPENSSL_cleanse(h->user_sha, sizeof(h->user_sha));
    OPENSSL_cleanse(h->pass_sha, sizeof(h->pass_sha));
    free(h);
}
