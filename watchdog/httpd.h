/* The watchdog's HTTP server layer, on libevent's evhttp: listeners (plain or
 * TLS 1.2+, optionally requiring client certificates), authentication (none,
 * Bearer, Basic; constant-time), request limits (head size, body size, I/O
 * inactivity, whole-request deadline, concurrent connections) and JSON error
 * bodies. Routing maps (method, exact path) to a handler; the daemon
 * registers its handlers, this layer applies the checks in front of them.
 *
 * Every rejection is answered `{"error":"<code>","message":"<text>"}` with
 * Content-Type application/json, including the ones evhttp produces itself
 * (malformed request, body over the limit), and counted per outcome.
 * docs/http-api.md describes the wire behaviour.
 *
 * Single-threaded: all calls from the thread running the event base. The
 * process must ignore SIGPIPE (writes to a peer that went away). */
#ifndef RATCHET_WATCHDOG_HTTPD_H
#define RATCHET_WATCHDOG_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

struct event_base;
struct rt_httpd;
struct rt_httpd_req;
struct rt_strbuf;

#define RT_HTTPD_MAX_LISTENERS 16
#define RT_HTTPD_MAX_ROUTES 64
#define RT_HTTPD_REALM "ratchet"

#define RT_HTTPD_DEFAULT_MAX_BODY (1024 * 1024)
#define RT_HTTPD_DEFAULT_MAX_HEADER 8192
#define RT_HTTPD_DEFAULT_IO_TIMEOUT_MS 10000
#define RT_HTTPD_DEFAULT_DEADLINE_MS 30000
#define RT_HTTPD_DEFAULT_MAX_CONNS 64

struct rt_httpd_listener {
    const char *addr;          /* numeric IPv4 or IPv6 ("127.0.0.1", "::1", "[::]") */
    uint16_t port;             /* 0: any free port, see rt_httpd_port() */
    const char *tls_cert_file; /* PEM chain; NULL: plain HTTP */
    const char *tls_key_file;  /* PEM private key; required with tls_cert_file */
    const char *tls_client_ca_file; /* PEM CAs; set: a client certificate signed
                                       by one of them is required */
};

enum rt_httpd_auth_mode {
    RT_HTTPD_AUTH_NONE = 0,
    RT_HTTPD_AUTH_BEARER, /* Authorization: Bearer <token> */
    RT_HTTPD_AUTH_BASIC,  /* Authorization: Basic base64(user:password) */
};

/* Zero means "default" for every number. Credentials are copied as SHA-256
 * digests only; the caller may wipe its copies after rt_httpd_new(). */
struct rt_httpd_options {
    const struct rt_httpd_listener *listeners;
    size_t n_listeners;
    size_t max_body_bytes;   /* default 1 MiB */
    size_t max_header_bytes; /* request line + headers; default 8 KiB */
    uint32_t io_timeout_ms;  /* no progress reading or writing: close; default 10 s */
    uint32_t deadline_ms;    /* accept (or previous response) to complete request; default 30 s */
    uint32_t max_conns;      /* open connections; more are closed at accept; default 64 */
    enum rt_httpd_auth_mode auth;
    const char *bearer_token; /* printable ASCII, no spaces */
    const char *basic_user;   /* no ':' */
    const char *basic_password;
    char *errbuf;             /* optional: why rt_httpd_new() failed */
    size_t errbuf_size;
};

/* An event base for the HTTP layer: epoll with libevent's change list, which
 * merges the read/write interest changes evhttp makes around every request
 * (4 epoll_ctl calls per request become 2; about +20% requests/s). The change
 * list is unsafe when a descriptor is dup()ed and one copy closed while
 * registered: nothing in the watchdog does that (see on_close in httpd.c). */
struct event_base *rt_httpd_base_new(void);

/* Binds every listener and loads TLS material. NULL on failure with errno set
 * (EINVAL bad option, EADDRINUSE etc. from bind, EIO TLS files, ENOMEM) and a
 * message in opt->errbuf when given. */
struct rt_httpd *rt_httpd_new(struct event_base *base, const struct rt_httpd_options *opt);
/* Closes listeners and open connections. NULL is a no-op. Not from inside
 * a handler. Free before the event base. */
void rt_httpd_free(struct rt_httpd *h);
static inline void rt_httpd_freep(struct rt_httpd **h) { rt_httpd_free(*h); }

/* Bound port of listener i (useful with port 0), or -EINVAL. */
int rt_httpd_port(const struct rt_httpd *h, size_t i);

/* A request as the handler sees it; valid only during the handler call. */
struct rt_httpd_req {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* raw path, no query ("/api/v1/alerts") */
    const char *query;   /* raw query string without '?', or NULL */
    const char *body;    /* NUL-terminated copy; "" when there is none */
    size_t body_len;     /* the body may contain NULs: use this, not strlen */
    const char *peer;    /* "ADDR:PORT" of the client */
    bool tls;            /* arrived over TLS */
    struct rt_httpd_req_private *priv;
};

/* The handler must answer with exactly one rt_httpd_reply*() before it
 * returns; a handler that does not is answered 500 "internal". */
typedef void (*rt_httpd_handler_fn)(struct rt_httpd_req *req, void *userdata);

/* method: GET HEAD POST PUT DELETE PATCH OPTIONS (HEAD is not implied by
 * GET). path: exact, byte-wise match against the raw request path (no
 * percent-decoding, no trailing-slash folding); must start with '/'.
 * needs_auth: the configured authentication applies; with
 * RT_HTTPD_AUTH_NONE every route is open. Returns 0, -EINVAL, -EEXIST (same
 * method and path), -E2BIG (more than RT_HTTPD_MAX_ROUTES), -ENOMEM. */
int rt_httpd_route(struct rt_httpd *h, const char *method, const char *path,
                   rt_httpd_handler_fn handler, void *userdata, bool needs_auth);
/* Requests to this POST/PUT/PATCH route must carry Content-Type `media_type`
 * (case-insensitive, parameters such as "; charset=utf-8" allowed), else 415.
 * Returns 0, -ENOENT (no such route), -EINVAL. */
int rt_httpd_route_content_type(struct rt_httpd *h, const char *method, const char *path,
                                const char *media_type);

/* Request header (case-insensitive name), first occurrence, or NULL. */
const char *rt_httpd_req_header(const struct rt_httpd_req *req, const char *name);
/* Extra response header for the coming reply (e.g. Retry-After).
 * Returns 0, -EINVAL (CR/LF in name or value), -EALREADY (already replied). */
int rt_httpd_add_header(struct rt_httpd_req *req, const char *name, const char *value);
/* status 200..599. content_type NULL: no Content-Type header.
 * Returns 0, -EINVAL, -EALREADY (a second reply), -ENOMEM. */
int rt_httpd_reply(struct rt_httpd_req *req, int status, const char *content_type,
                   const void *body, size_t len);
/* The same with the body's memory handed over instead of copied (freed once
 * sent): *body is empty afterwards, on every path. -ENOMEM, no reply, if
 * body->oom. */
int rt_httpd_reply_strbuf(struct rt_httpd_req *req, int status, const char *content_type,
                          struct rt_strbuf *body);
/* {"error":code,"message":printf(fmt,...)} with Content-Type application/json;
 * the message is cut at 512 bytes. status 400..599. */
int rt_httpd_reply_error(struct rt_httpd_req *req, int status, const char *code,
                         const char *message_fmt, ...) _printf_(4, 5);

/* ---- counters for metrics ---- */

enum rt_httpd_outcome {
    RT_HTTPD_HANDLED = 0,        /* the handler ran (its status is in responses[]) */
    RT_HTTPD_NOT_FOUND,          /* 404 */
    RT_HTTPD_METHOD_NOT_ALLOWED, /* 405 */
    RT_HTTPD_UNAUTHORIZED,       /* 401 */
    RT_HTTPD_TOO_LARGE,          /* 413 */
    RT_HTTPD_UNSUPPORTED_MEDIA,  /* 415 */
    RT_HTTPD_BAD_REQUEST,        /* 400/417 from the protocol layer: malformed, head over the limit */
    RT_HTTPD_OUTCOME_COUNT
};
/* Stable names for metric labels: "handled", "not_found", ... */
const char *rt_httpd_outcome_name(enum rt_httpd_outcome o);

struct rt_httpd_stats {
    uint64_t outcome[RT_HTTPD_OUTCOME_COUNT];
    uint64_t auth_missing;       /* 401 without usable credentials (none, other scheme) */
    uint64_t auth_invalid;       /* 401 with wrong or malformed credentials */
    uint64_t responses[6];       /* by status class: [2] = 2xx ... [5] = 5xx */
    uint64_t conn_accepted;      /* admitted (refused ones not included) */
    uint64_t conn_refused;       /* closed at accept: over max_conns, or TLS set-up failed */
    uint64_t conn_open;          /* gauge */
    uint64_t conn_aborted;       /* closed with a request partly received (timeout, peer gone) */
    uint64_t conn_deadline;      /* closed by the whole-request deadline */
    uint64_t tls_failed;         /* closed with a TLS error (handshake, client cert) */
};
void rt_httpd_get_stats(const struct rt_httpd *h, struct rt_httpd_stats *out);

/* ---- helpers, exposed for tests ---- */

/* Strict RFC 4648 base64 (padding required, no whitespace). Returns 0 or
 * -EINVAL; -ENOBUFS if the output does not fit. */
int rt_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen);
/* Content-Type value has media type `media` (case-insensitive), optionally
 * followed by parameters. */
bool rt_httpd_media_type_is(const char *content_type, const char *media);

#endif
