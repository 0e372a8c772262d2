/* libcurl multi_socket_action on libevent, after libcurl's hiperfifo.c:
 * CURLMOPT_SOCKETFUNCTION keeps one libevent event per socket (its state is
 * hung on the socket with curl_multi_assign), CURLMOPT_TIMERFUNCTION keeps
 * one timer, both call curl_multi_socket_action() when they fire, and
 * check_multi_info() then reaps finished transfers. libcurl is never called
 * from inside its own callbacks. */
#include "watchdog/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

struct request {
    struct request *prev, *next; /* in fetcher->running or fetcher->queue */
    struct rt_fetcher *fetcher;
    CURL *easy;
    char *url;
    char *post_body;              /* POST: our copy of the body; NULL for GET */
    size_t post_len;
    struct curl_slist *headers;   /* POST: Content-Type, no Expect */
    rt_fetch_done_fn done;
    void *userdata;
    char *body; /* body_cap + 1 bytes, for the NUL */
    size_t body_len, body_cap;
    bool too_large;
    int64_t submitted_us, started_us; /* monotonic; started_us 0 while queued */
    char error[CURL_ERROR_SIZE];
};

struct request_list {
    struct request *head, *tail;
    unsigned n;
};

/* One per socket libcurl asks us to watch. */
struct watched_socket {
    struct watched_socket *prev, *next;
    struct rt_fetcher *fetcher;
    curl_socket_t fd;
    struct event ev;
};

struct rt_fetcher {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int64_t timeout_ms, connect_timeout_ms;
    unsigned max_concurrent, max_queued;
    size_t max_body;
    char *ca_file, *proxy, *user_agent;
    bool insecure;
    struct request_list running, queue;
    struct watched_socket *sockets;
    /* Re-entrancy: done callbacks may free the fetcher; the memory is
     * released when the outermost of our frames returns. */
    unsigned depth;
    bool closing, free_pending;
    struct rt_fetch_stats stats;
};

static const char *const outcome_names[RT_FETCH_OUTCOME_COUNT] = {
    [RT_FETCH_OK] = "ok",
    [RT_FETCH_HTTP_ERROR] = "http_error",
    [RT_FETCH_TIMEOUT] = "timeout",
    [RT_FETCH_CONNECT_ERROR] = "connect_error",
    [RT_FETCH_TOO_LARGE] = "too_large",
    [RT_FETCH_TRANSPORT_ERROR] = "transport_error",
    [RT_FETCH_CANCELLED] = "cancelled",
};

const char *rt_fetch_outcome_name(enum rt_fetch_outcome o) {
    if ((unsigned)o >= RT_FETCH_OUTCOME_COUNT)
        return "unknown";
    return outcome_names[o];
}

static int64_t mono_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- intrusive lists ---- */

static void list_append(struct request_list *l, struct request *r) {
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_unlink(struct request_list *l, struct request *r) {
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->n--;
}

/* ---- requests ---- */

static void request_free(struct request *r) {
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->post_body);
    free(r->url);
    free(r->body);
    free(r);
}

/* Calls done once and frees the request, which is in no list and no multi. */
static void request_finish(struct request *r, enum rt_fetch_outcome outcome, int curl_code,
                           const char *error) {
    struct rt_fetcher *f = r->fetcher;
    long status = 0;
    int64_t now = mono_now_us();
    struct rt_fetch_result res;

    if (r->easy && r->started_us)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    res = (struct rt_fetch_result){
        .outcome = outcome,
        .curl_code = curl_code,
        .error = error,
        .http_status = status,
        .body = r->body ? r->body : "",
        .body_len = r->body_len,
        .total_us = r->started_us ? now - r->started_us : 0,
        .queued_us = (r->started_us ? r->started_us : now) - r->submitted_us,
        .url = r->url,
        .userdata = r->userdata,
        .request = r,
    };
    f->stats.finished[outcome]++;
    f->depth++;
    r->done(&res);
    f->depth--;
    request_free(r);
}

void rt_fetch_release_body(const struct rt_fetch_result *result) {
    struct request *r = result->request;
    /* result is request_finish()'s own variable, passed as const */
    struct rt_fetch_result *res = (struct rt_fetch_result *)(uintptr_t)result;

    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    res->body = "";
    res->body_len = 0;
}

static enum rt_fetch_outcome classify(CURLcode code, bool too_large, long status) {
    if (too_large || code == CURLE_FILESIZE_EXCEEDED)
        return RT_FETCH_TOO_LARGE;
    switch (code) {
    case CURLE_OK:
        return status >= 200 && status <= 299 ? RT_FETCH_OK : RT_FETCH_HTTP_ERROR;
    case CURLE_OPERATION_TIMEDOUT:
        return RT_FETCH_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return RT_FETCH_CONNECT_ERROR;
    default:
        return RT_FETCH_TRANSPORT_ERROR;
    }
}

/* A transfer curl reported done; already out of the multi and the list. */
static void transfer_done(struct request *r, CURLcode code) {
    char error[CURL_ERROR_SIZE + 64];
    long status = 0;
    enum rt_fetch_outcome outcome;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    outcome = classify(code, r->too_large, status);
    if (outcome == RT_FETCH_TOO_LARGE)
        snprintf(error, sizeof(error), "response larger than %zu bytes", r->fetcher->max_body);
    else if (outcome == RT_FETCH_HTTP_ERROR)
        snprintf(error, sizeof(error), "HTTP status %ld", status);
    else if (code != CURLE_OK)
        snprintf(error, sizeof(error), "%s", r->error[0] ? r->error : curl_easy_strerror(code));
    else
        error[0] = '\0';
    request_finish(r, outcome, (int)code, error);
}

/* The first buffer: the whole body when the response says how long it is
 * (a 6.5 MB answer grown by doubling would take an 8 MiB buffer and a copy
 * of each smaller one on the way); a compressed body grows from there. */
static size_t first_capacity(struct request *r) {
    curl_off_t length = -1;
    size_t max = r->fetcher->max_body;

    if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK || length <= 0)
        return 4096;
    return (uint64_t)length > max ? max : (size_t)length;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    struct request *r = userp;
    size_t n = size * nmemb, max = r->fetcher->max_body;

    if (n > max - r->body_len) {
        r->too_large = true;
        return 0; /* != n: curl aborts with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : first_capacity(r);
        char *p;
        while (cap < r->body_len + n)
            cap = cap > max / 2 ? max : cap * 2;
        p = realloc(r->body, cap + 1);
        if (!p)
            return 0;
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static bool has_line_break(const char *s) {
    return strpbrk(s, "\r\n") != NULL;
}

static int check_secret(const char *s, bool required) {
    if (!s)
        return required ? -EINVAL : 0;
    if (required && !*s)
        return -EINVAL;
    if (strlen(s) > RT_FETCH_SECRET_MAX)
        return -E2BIG;
    return has_line_break(s) ? -EINVAL : 0;
}

static int check_auth(const struct rt_fetch_auth *auth) {
    int r;

    if (!auth)
        return 0;
    switch (auth->kind) {
    case RT_FETCH_AUTH_NONE:
        return 0;
    case RT_FETCH_AUTH_BEARER:
        return check_secret(auth->token, true);
    case RT_FETCH_AUTH_BASIC:
        r = check_secret(auth->user, true);
        if (r < 0)
            return r;
        if (strchr(auth->user, ':')) /* RFC 7617: the user-id cannot contain ':' */
            return -EINVAL;
        return check_secret(auth->password ? auth->password : "", false);
    }
    return -EINVAL;
}

static int curl_to_errno(CURLcode c) {
    return c == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

/* curl copies every string option it is given, secrets included. */
static CURLcode set_auth(CURL *e, const struct rt_fetch_auth *auth) {
    CURLcode c = CURLE_OK;

    if (!auth || auth->kind == RT_FETCH_AUTH_NONE)
        return CURLE_OK;
    if (auth->kind == RT_FETCH_AUTH_BEARER) {
        c = curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        if (!c)
            c = curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, auth->token);
        return c;
    }
    c = curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    if (!c)
        c = curl_easy_setopt(e, CURLOPT_USERNAME, auth->user);
    if (!c)
        c = curl_easy_setopt(e, CURLOPT_PASSWORD, auth->password ? auth->password : "");
    return c;
}

static CURLcode set_transfer_options(struct rt_fetcher *f, struct request *r) {
    CURL *e = r->easy;
    CURLcode c = CURLE_OK;

#define SET(opt, val)                                   \
    do {                                                \
        if (c == CURLE_OK)                              \
            c = curl_easy_setopt(e, opt, val);          \
    } while (0)
    SET(CURLOPT_URL, r->url);
    if (r->post_body) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, r->post_body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->post_len);
        SET(CURLOPT_HTTPHEADER, r->headers);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for DNS timeouts in a daemon */
    SET(CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)f->connect_timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_body);
    SET(CURLOPT_ACCEPT_ENCODING, ""); /* the body limit counts decoded bytes */
    SET(CURLOPT_USERAGENT, f->user_agent);
    SET(CURLOPT_PROXY, f->proxy ? f->proxy : ""); /* "": ignore http_proxy etc. */
    SET(CURLOPT_SSL_VERIFYPEER, f->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, f->insecure ? 0L : 2L);
    if (f->ca_file)
        SET(CURLOPT_CAINFO, f->ca_file);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_ERRORBUFFER, r->error);
    SET(CURLOPT_PRIVATE, r);
#undef SET
    return c;
}

/* What a POST adds to a request. */
struct post {
    const char *content_type;
    const void *body;
    size_t len;
};

static int request_set_post(struct request *r, const struct post *p) {
    char header[32 + RT_FETCH_CONTENT_TYPE_MAX];
    struct curl_slist *l;

    /* one byte more than the body, so that an empty body is not NULL */
    r->post_body = malloc(p->len + 1);
    if (!r->post_body)
        return -ENOMEM;
    if (p->len)
        memcpy(r->post_body, p->body, p->len);
    r->post_len = p->len;
    snprintf(header, sizeof(header), "Content-Type: %s", p->content_type);
    l = curl_slist_append(NULL, header);
    /* "Expect:" with no value: curl does not wait for a 100-continue */
    if (!l || !curl_slist_append(l, "Expect:")) {
        curl_slist_free_all(l);
        return -ENOMEM;
    }
    r->headers = l;
    return 0;
}

static int request_new(struct rt_fetcher *f, const char *url, const struct rt_fetch_auth *auth,
                       const struct post *post, rt_fetch_done_fn done, void *userdata, struct request **out) {
    struct request *r = calloc(1, sizeof(*r));
    CURLcode c;

    if (!r)
        return -ENOMEM;
    r->fetcher = f;
    r->done = done;
    r->userdata = userdata;
    r->submitted_us = mono_now_us();
    r->url = strdup(url);
    r->easy = curl_easy_init();
    if (!r->url || !r->easy || (post && request_set_post(r, post) < 0)) {
        request_free(r);
        return -ENOMEM;
    }
    c = set_transfer_options(f, r);
    if (c == CURLE_OK)
        c = set_auth(r->easy, auth);
    if (c != CURLE_OK) {
        request_free(r);
        return curl_to_errno(c);
    }
    *out = r;
    return 0;
}

/* Hands the request to curl; the multi's timer starts it. */
static int request_start(struct rt_fetcher *f, struct request *r) {
    CURLMcode mc = curl_multi_add_handle(f->multi, r->easy);

    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    r->started_us = mono_now_us();
    list_append(&f->running, r);
    if (f->running.n > f->stats.max_running_seen)
        f->stats.max_running_seen = f->running.n;
    return 0;
}

static void start_queued(struct rt_fetcher *f) {
    while (!f->closing && f->running.n < f->max_concurrent && f->queue.head) {
        struct request *r = f->queue.head;
        int err;

        list_unlink(&f->queue, r);
        err = request_start(f, r);
        if (err < 0)
            request_finish(r, RT_FETCH_TRANSPORT_ERROR, -1, "could not start the transfer");
    }
}

/* ---- the libevent/libcurl glue ---- */

static void check_multi_info(struct rt_fetcher *f) {
    CURLMsg *msg;
    int left;

    while (!f->closing && (msg = curl_multi_info_read(f->multi, &left))) {
        char *priv = NULL;
        struct request *r;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg is invalid once the handle is removed: copied above. */
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        r = (struct request *)(void *)priv;
        curl_multi_remove_handle(f->multi, easy);
        list_unlink(&f->running, r);
        transfer_done(r, code);
    }
    start_queued(f);
}

static void fetcher_destroy(struct rt_fetcher *f);

static void leave(struct rt_fetcher *f) {
    f->depth--;
    if (f->depth == 0 && f->free_pending)
        fetcher_destroy(f);
}

static void socket_action(struct rt_fetcher *f, curl_socket_t fd, int ev_bitmask) {
    int still_running;
    CURLMcode mc = curl_multi_socket_action(f->multi, fd, ev_bitmask, &still_running);

    if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET) /* BAD_SOCKET: already closed, harmless */
        rt_log(LOG_ERR, NULL, NULL, NULL, "fetch: curl_multi_socket_action: %s",
               curl_multi_strerror(mc));
}

static void on_socket_event(evutil_socket_t fd, short kind, void *arg) {
    struct rt_fetcher *f = arg;
    int action = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    f->depth++;
    socket_action(f, fd, action);
    check_multi_info(f);
    leave(f);
}

static void on_timer_event(evutil_socket_t fd, short kind, void *arg) {
    struct rt_fetcher *f = arg;

    (void)fd;
    (void)kind;
    f->depth++;
    socket_action(f, CURL_SOCKET_TIMEOUT, 0);
    check_multi_info(f);
    leave(f);
}

/* CURLMOPT_TIMERFUNCTION: one non-repeating timer; -1 deletes it, 0 means
 * "as soon as possible", which we also do through the loop, since calling
 * libcurl from here is not allowed. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *clientp) {
    struct rt_fetcher *f = clientp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0)
        return evtimer_del(f->timer) < 0 ? -1 : 0;
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(f->timer, &tv) < 0 ? -1 : 0;
}

static void socket_unwatch(struct rt_fetcher *f, struct watched_socket *s) {
    if (event_initialized(&s->ev))
        event_del(&s->ev);
    if (s->prev)
        s->prev->next = s->next;
    else
        f->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static int socket_watch(struct rt_fetcher *f, struct watched_socket *s, int what) {
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);

    if (event_initialized(&s->ev))
        event_del(&s->ev);
    if (event_assign(&s->ev, f->base, s->fd, kind, on_socket_event, f) < 0)
        return -1;
    if (!(kind & (EV_READ | EV_WRITE)))
        return 0; /* CURL_POLL_NONE: keep the socket, wait for nothing */
    return event_add(&s->ev, NULL) < 0 ? -1 : 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *clientp, void *socketp) {
    struct rt_fetcher *f = clientp;
    struct watched_socket *s = socketp;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            socket_unwatch(f, s);
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->fetcher = f;
        s->fd = fd;
        s->next = f->sockets;
        if (f->sockets)
            f->sockets->prev = s;
        f->sockets = s;
        if (curl_multi_assign(f->multi, fd, s) != CURLM_OK) {
            socket_unwatch(f, s);
            return -1;
        }
    }
    return socket_watch(f, s, what);
}

/* ---- public API ---- */

static int copy_option_string(const char *src, char **dst) {
    if (!src) {
        *dst = NULL;
        return 0;
    }
    if (strlen(src) > PATH_MAX || has_line_break(src))
        return -EINVAL;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

static int apply_options(struct rt_fetcher *f, const struct rt_fetch_options *o) {
    static const struct rt_fetch_options defaults = {0};
    int r;

    if (!o)
        o = &defaults;
    f->timeout_ms = o->timeout_ms ? o->timeout_ms : RT_FETCH_DEFAULT_TIMEOUT_MS;
    f->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms
                                                  : RT_FETCH_DEFAULT_CONNECT_TIMEOUT_MS;
    f->max_concurrent = o->max_concurrent ? o->max_concurrent : RT_FETCH_DEFAULT_MAX_CONCURRENT;
    f->max_queued = o->max_queued ? o->max_queued : RT_FETCH_DEFAULT_MAX_QUEUED;
    f->max_body = o->max_body_bytes ? o->max_body_bytes : RT_FETCH_DEFAULT_MAX_BODY;
    f->insecure = o->insecure;
    if (f->timeout_ms < 0 || f->timeout_ms > RT_FETCH_MAX_TIMEOUT_MS ||
        f->connect_timeout_ms < 0 || f->connect_timeout_ms > RT_FETCH_MAX_TIMEOUT_MS ||
        f->max_concurrent > RT_FETCH_MAX_CONCURRENT || f->max_queued > RT_FETCH_MAX_QUEUED ||
        f->max_body > RT_FETCH_MAX_BODY_LIMIT)
        return -EINVAL;
    r = copy_option_string(o->ca_file, &f->ca_file);
    if (r == 0)
        r = copy_option_string(o->proxy, &f->proxy);
    if (r == 0)
        r = copy_option_string(o->user_agent ? o->user_agent : RT_FETCH_USER_AGENT, &f->user_agent);
    return r;
}

static int setup_multi(struct rt_fetcher *f) {
    CURLMcode mc = CURLM_OK;

    f->multi = curl_multi_init();
    f->timer = evtimer_new(f->base, on_timer_event, f);
    if (!f->multi || !f->timer)
        return -ENOMEM;
#define MSET(opt, val)                                  \
    do {                                                \
        if (mc == CURLM_OK)                             \
            mc = curl_multi_setopt(f->multi, opt, val); \
    } while (0)
    MSET(CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    MSET(CURLMOPT_SOCKETDATA, f);
    MSET(CURLMOPT_TIMERFUNCTION, on_curl_timer);
    MSET(CURLMOPT_TIMERDATA, f);
    MSET(CURLMOPT_MAXCONNECTS, (long)f->max_concurrent);
#undef MSET
    return mc == CURLM_OK ? 0 : -EINVAL;
}

struct rt_fetcher *rt_fetcher_new(struct event_base *base, const struct rt_fetch_options *opt) {
    struct rt_fetcher *f;
    int r;

    if (!base) {
        errno = EINVAL;
        return NULL;
    }
    /* Reference-counted by libcurl and thread-safe since 7.84. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        errno = ENOMEM;
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        curl_global_cleanup();
        errno = ENOMEM;
        return NULL;
    }
    f->base = base;
    r = apply_options(f, opt);
    if (r == 0)
        r = setup_multi(f);
    if (r < 0) {
        fetcher_destroy(f);
        errno = -r;
        return NULL;
    }
    if (f->insecure)
        rt_log(LOG_WARNING, NULL, NULL, NULL,
               "fetch: TLS certificate verification is disabled (insecure)");
    return f;
}

/* Needs no request left. */
static void fetcher_destroy(struct rt_fetcher *f) {
    if (f->multi) {
        /* Cached connections close here; their sockets are ours to unwatch. */
        curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, NULL);
        curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, NULL);
        curl_multi_cleanup(f->multi);
    }
    while (f->sockets)
        socket_unwatch(f, f->sockets);
    if (f->timer)
        event_free(f->timer);
    free(f->ca_file);
    free(f->proxy);
    free(f->user_agent);
    free(f);
    curl_global_cleanup();
}

static void cancel_all(struct rt_fetcher *f) {
    while (f->running.head) {
        struct request *r = f->running.head;
        list_unlink(&f->running, r);
        curl_multi_remove_handle(f->multi, r->easy);
        request_finish(r, RT_FETCH_CANCELLED, -1, "cancelled");
    }
    while (f->queue.head) {
        struct request *r = f->queue.head;
        list_unlink(&f->queue, r);
        request_finish(r, RT_FETCH_CANCELLED, -1, "cancelled");
    }
}

void rt_fetcher_free(struct rt_fetcher *f) {
    if (!f || f->closing)
        return;
    f->closing = true;
    f->depth++;
    cancel_all(f);
    f->depth--;
    if (f->depth == 0)
        fetcher_destroy(f);
    else
        f->free_pending = true;
}

static int submit(struct rt_fetcher *f, const char *url, const struct rt_fetch_auth *auth,
                  const struct post *post, rt_fetch_done_fn done, void *userdata) {
    struct request *r = NULL;
    int err;

    if (!f || !url || !*url || !done)
        return -EINVAL;
    if (f->closing)
        return -ESHUTDOWN;
    if (strlen(url) > RT_FETCH_URL_MAX)
        return -E2BIG;
    err = check_auth(auth);
    if (err < 0)
        return err;
    /* Start now only if nobody waits before us; else FIFO. */
    if (f->queue.n > 0 || f->running.n >= f->max_concurrent) {
        if (f->queue.n >= f->max_queued)
            return -ENOBUFS;
        err = request_new(f, url, auth, post, done, userdata, &r);
        if (err < 0)
            return err;
        list_append(&f->queue, r);
    } else {
        err = request_new(f, url, auth, post, done, userdata, &r);
        if (err < 0)
            return err;
        err = request_start(f, r);
        if (err < 0) {
            request_free(r);
            return err;
        }
    }
    f->stats.submitted++;
    return 0;
}

int rt_fetch_get(struct rt_fetcher *f, const char *url, const struct rt_fetch_auth *auth,
                 rt_fetch_done_fn done, void *userdata) {
    return submit(f, url, auth, NULL, done, userdata);
}

/* Printable ASCII: it goes into a header line as it is. */
static bool content_type_valid(const char *s) {
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > RT_FETCH_CONTENT_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7F)
            return false;
    return true;
}

int rt_fetch_post(struct rt_fetcher *f, const char *url, const struct rt_fetch_auth *auth,
                  const char *content_type, const void *body, size_t len, rt_fetch_done_fn done, void *userdata) {
    struct post p = {.content_type = content_type, .body = body, .len = len};

    if (!content_type_valid(content_type) || (!body && len > 0))
        return -EINVAL;
    if (len > RT_FETCH_POST_MAX)
        return -E2BIG;
    return submit(f, url, auth, &p, done, userdata);
}

void rt_fetcher_stats(const struct rt_fetcher *f, struct rt_fetch_stats *out) {
    *out = f->stats;
    out->running = f->running.n;
    out->queued = f->queue.n;
}

/* splitmix64: a well-mixed 64-bit value from any seed, sequential ones included. */
static uint64_t mix64(uint64_t x) {
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

int64_t rt_backoff_next(int64_t prev_ms, int64_t min_ms, int64_t max_ms, uint64_t jitter_seed) {
    int64_t nominal, span, delay;

    if (min_ms < 1)
        min_ms = 1;
    if (max_ms < min_ms)
        max_ms = min_ms;
    if (prev_ms <= 0)
        return min_ms;
    nominal = prev_ms > max_ms / 2 ? max_ms : prev_ms * 2;
    if (nominal < min_ms)
        nominal = min_ms;
    span = nominal / 4;
    delay = nominal - (int64_t)(mix64(jitter_seed) % ((uint64_t)span + 1));
    return delay < min_ms ? min_ms : delay;
}
