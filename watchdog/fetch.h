/* HTTP client for the watchdog's feeds (GET) and its pushes to the control
 * plane (POST): libcurl's multi interface
 * driven by the daemon's libevent loop (the multi_socket_action pattern: one
 * event per socket, one timer). No threads; every callback runs from the
 * event loop.
 *
 * Contract: rt_fetch_get() and rt_fetch_post() either fail (negative errno;
 * done is never called) or return 0, and then done is called exactly once,
 * later, from the event loop or from rt_fetcher_free() (outcome CANCELLED).
 * done may call rt_fetch_get(), rt_fetch_post() and rt_fetcher_free().
 *
 * Only http and https, no redirects, TLS verification on unless the
 * explicit insecure flag is set, proxies only when configured (the
 * environment's http_proxy etc. are ignored). Retrying and per-source
 * backoff are the caller's job; rt_backoff_next() computes the delays. */
#ifndef RATCHET_FETCH_H
#define RATCHET_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/version.h"

struct event_base;

#define RT_FETCH_USER_AGENT "ratchet-watchdog/" RATCHET_VERSION

/* Defaults (used where an option is 0) and limits of the options. */
#define RT_FETCH_DEFAULT_TIMEOUT_MS 10000
#define RT_FETCH_DEFAULT_CONNECT_TIMEOUT_MS 3000
#define RT_FETCH_DEFAULT_MAX_CONCURRENT 8
#define RT_FETCH_DEFAULT_MAX_QUEUED 1024
#define RT_FETCH_DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define RT_FETCH_MAX_TIMEOUT_MS (3600 * 1000)
#define RT_FETCH_MAX_CONCURRENT 256
#define RT_FETCH_MAX_QUEUED 65536
#define RT_FETCH_MAX_BODY_LIMIT (1024u * 1024 * 1024)
/* Per request. */
#define RT_FETCH_URL_MAX 8192
#define RT_FETCH_SECRET_MAX 4096
#define RT_FETCH_POST_MAX (1024u * 1024)   /* bytes of a POST body */
#define RT_FETCH_CONTENT_TYPE_MAX 255

struct rt_fetch_options {
    int64_t timeout_ms;         /* whole transfer, connect included; 0: default */
    int64_t connect_timeout_ms; /* 0: default */
    unsigned max_concurrent;    /* transfers running at once; more wait FIFO; 0: default */
    unsigned max_queued;        /* waiting requests; beyond, rt_fetch_get() is -ENOBUFS */
    size_t max_body_bytes;      /* larger responses are aborted; 0: default */
    const char *ca_file;        /* PEM bundle; NULL: the system's */
    bool insecure;              /* skip TLS peer and host verification (tests, labs) */
    const char *proxy;          /* curl proxy URL; NULL: no proxy */
    const char *user_agent;     /* NULL: RT_FETCH_USER_AGENT */
};

enum rt_fetch_auth_kind {
    RT_FETCH_AUTH_NONE = 0,
    RT_FETCH_AUTH_BEARER,
    RT_FETCH_AUTH_BASIC,
};

/* Copied by rt_fetch_get(); secrets are wiped from memory when the request
 * ends. Secrets must not contain CR, LF or NUL. */
struct rt_fetch_auth {
    enum rt_fetch_auth_kind kind;
    const char *token;    /* bearer */
    const char *user;     /* basic; must not contain ':' */
    const char *password; /* basic */
};

enum rt_fetch_outcome {
    RT_FETCH_OK = 0,          /* HTTP 2xx */
    RT_FETCH_HTTP_ERROR,      /* a response with another status (3xx, 4xx, 5xx) */
    RT_FETCH_TIMEOUT,         /* timeout or connect timeout */
    RT_FETCH_CONNECT_ERROR,   /* refused, unreachable, name not resolved */
    RT_FETCH_TOO_LARGE,       /* body over max_body_bytes */
    RT_FETCH_TRANSPORT_ERROR, /* TLS, truncated body, bad URL, anything else */
    RT_FETCH_CANCELLED,       /* rt_fetcher_free() with the request unfinished */
    RT_FETCH_OUTCOME_COUNT
};

/* Metric label values: "ok" "http_error" "timeout" "connect_error"
 * "too_large" "transport_error" "cancelled". */
const char *rt_fetch_outcome_name(enum rt_fetch_outcome o);

/* Valid only during the done callback: copy what you keep. */
struct rt_fetch_result {
    enum rt_fetch_outcome outcome;
    int curl_code;     /* CURLcode the transfer ended with; -1 if it never ended (cancelled) */
    const char *error; /* "" for OK; else why, e.g. "response larger than 100 bytes" */
    long http_status;  /* 0 if no response status arrived */
    const char *body;  /* the bytes received, NUL-terminated; "" if none */
    size_t body_len;
    int64_t total_us;  /* time the transfer ran (queue wait excluded) */
    int64_t queued_us; /* time it waited for a free slot */
    const char *url;
    void *userdata;    /* as passed to rt_fetch_get() */
    void *request;     /* private: for rt_fetch_release_body() */
};

/* From a done callback: frees the body now rather than when the callback
 * returns (result->body becomes "", body_len 0), for a caller that has
 * parsed it and goes on to apply what it parsed. */
void rt_fetch_release_body(const struct rt_fetch_result *result);

typedef void (*rt_fetch_done_fn)(const struct rt_fetch_result *result);

struct rt_fetcher;

/* NULL with errno EINVAL (an option out of range) or ENOMEM. The base must
 * outlive the fetcher. */
struct rt_fetcher *rt_fetcher_new(struct event_base *base, const struct rt_fetch_options *opt);

/* Cancels every request still running or queued: each one's done gets
 * RT_FETCH_CANCELLED, in submission order, before this returns (from a done
 * callback: before the callback's caller resumes). rt_fetch_get() from
 * those callbacks fails with -ESHUTDOWN. NULL is a no-op. */
void rt_fetcher_free(struct rt_fetcher *f);
static inline void rt_fetcher_freep(struct rt_fetcher **f) {
    if (*f)
        rt_fetcher_free(*f);
}

/* Queue a GET of url. auth NULL means none. Returns 0, -EINVAL (NULL url or
 * done, bad auth), -E2BIG (url or secret too long), -ENOBUFS (queue full),
 * -ESHUTDOWN (the fetcher is being freed), -ENOMEM. */
int rt_fetch_get(struct rt_fetcher *f, const char *url, const struct rt_fetch_auth *auth,
                 rt_fetch_done_fn done, void *userdata);

/* Queue a POST of body (len bytes, copied; NULL only with len 0) to url with
 * "Content-Type: content_type" (1..RT_FETCH_CONTENT_TYPE_MAX printable ASCII
 * bytes). Never sends "Expect: 100-continue". The result and errors are
 * those of rt_fetch_get(), plus -EINVAL (content type) and -E2BIG (body
 * over RT_FETCH_POST_MAX). */
int rt_fetch_post(struct rt_fetcher *f, const char *url, const struct rt_fetch_auth *auth,
                  const char *content_type, const void *body, size_t len, rt_fetch_done_fn done, void *userdata);

struct rt_fetch_stats {
    uint64_t submitted;                          /* accepted by rt_fetch_get() and rt_fetch_post() */
    uint64_t finished[RT_FETCH_OUTCOME_COUNT];   /* by outcome */
    unsigned running;                            /* transfers now in curl */
    unsigned queued;                             /* waiting for a slot */
    unsigned max_running_seen;
};
void rt_fetcher_stats(const struct rt_fetcher *f, struct rt_fetch_stats *out);

/* Next retry delay after a failure: prev_ms <= 0 (first failure) gives
 * min_ms; otherwise twice prev_ms minus a jitter of up to a quarter,
 * drawn deterministically from jitter_seed, and always within
 * [min_ms, max_ms]. Pure. min_ms < 1 counts as 1; max_ms < min_ms as min_ms. */
int64_t rt_backoff_next(int64_t prev_ms, int64_t min_ms, int64_t max_ms, uint64_t jitter_seed);

#endif
