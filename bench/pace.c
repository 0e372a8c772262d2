/* An open-loop HTTP/1.1 load generator: requests at a fixed rate, whatever
 * the server does, so that a slow answer delays the measurement of every
 * request queued behind it (no coordinated omission, unlike wrk, whose
 * connections each wait for the previous answer before sending).
 *   pace --port P --path PATH --rate R --connections N --seconds S
 *        [--body FILE] [--header "Name: value"]...
 * POSTs FILE (GET without --body) to 127.0.0.1:P over N keep-alive
 * connections. Request i is due at start + i/R; it goes out on an idle
 * connection at once, or waits in a queue for one. Its latency runs from
 * when it was due (not when it was sent) to the last byte of the answer.
 * Prints one line:
 *   pace sent=.. done=.. errors=.. non2xx=.. seconds=.. rate=.. p50_ms=..
 *        p99_ms=.. p999_ms=.. max_ms=..
 * rate is the achieved rate of answers. Single-threaded, epoll + timerfd
 * (nanosecond send times). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_HEADERS 16
#define RESP_MAX 65536

struct conn {
    int fd;
    bool busy, want_out;
    double due;        /* when the request in flight was due */
    size_t sent;       /* bytes of the request written */
    char resp[RESP_MAX];
    size_t resp_len;
};

struct pacer {
    int ep, tfd, port;
    char *req;
    size_t req_len;
    struct conn *c;
    int n_conns;
    double rate, start, end;
    uint64_t next_i;      /* next request to become due */
    double *queue;        /* due times of requests waiting for a connection */
    size_t q_head, q_len, q_cap;
    double *lat;
    size_t n_lat, lat_cap;
    uint64_t sent, errors, non2xx;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "pace: %s: %s\n", what, strerror(errno));
    exit(1);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        die(path);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void build_request(struct pacer *p, const char *path, const char *body_file, char **hdrs, int n_hdrs) {
    size_t blen = 0;
    char *body = body_file ? read_file(body_file, &blen) : NULL;
    size_t cap = 4096 + blen;
    for (int i = 0; i < n_hdrs; i++)
        cap += strlen(hdrs[i]) + 2;
    p->req = malloc(cap);
    if (!p->req)
        die("malloc");
    int n = snprintf(p->req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", body ? "POST" : "GET", path, p->port);
    for (int i = 0; i < n_hdrs; i++)
        n += snprintf(p->req + n, cap - (size_t)n, "%s\r\n", hdrs[i]);
    if (body)
        n += snprintf(p->req + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
    n += snprintf(p->req + n, cap - (size_t)n, "\r\n");
    if (body)
        memcpy(p->req + n, body, blen);
    p->req_len = (size_t)n + blen;
    free(body);
}

static void conn_open(struct pacer *p, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->busy = c->want_out = false;
    c->sent = c->resp_len = 0;
}

/* EPOLLOUT only while a request is partly written (level-triggered). */
static void want_out(struct pacer *p, struct conn *c, bool on) {
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(p->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->want_out = on;
}

static void conn_reopen(struct pacer *p, struct conn *c) {
    epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_open(p, c);
}

static void record(struct pacer *p, double lat) {
    if (p->n_lat == p->lat_cap) {
        p->lat_cap = p->lat_cap ? p->lat_cap * 2 : 65536;
        p->lat = realloc(p->lat, p->lat_cap * sizeof(*p->lat));
        if (!p->lat)
            die("realloc");
    }
    p->lat[p->n_lat++] = lat;
}

static void queue_push(struct pacer *p, double due) {
    if (p->q_len == p->q_cap) {
        size_t cap = p->q_cap ? p->q_cap * 2 : 1024;
        double *q = malloc(cap * sizeof(*q));
        if (!q)
            die("malloc");
        for (size_t i = 0; i < p->q_len; i++)
            q[i] = p->queue[(p->q_head + i) % p->q_cap];
        free(p->queue);
        p->queue = q;
        p->q_head = 0;
        p->q_cap = cap;
    }
    p->queue[(p->q_head + p->q_len++) % p->q_cap] = due;
}

static double queue_pop(struct pacer *p) {
    double d = p->queue[p->q_head];
    p->q_head = (p->q_head + 1) % p->q_cap;
    p->q_len--;
    return d;
}

/* Writes what is left of the request on c; false if the connection broke. */
static bool conn_write(struct pacer *p, struct conn *c) {
    while (c->sent < p->req_len) {
        ssize_t n = send(c->fd, p->req + c->sent, p->req_len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOTCONN)) {
            want_out(p, c, true);
            return true;
        }
        if (n < 0)
            return false;
        c->sent += (size_t)n;
    }
    want_out(p, c, false);
    return true;
}

static void dispatch(struct pacer *p) {
    for (int i = 0; i < p->n_conns && p->q_len > 0; i++) {
        struct conn *c = &p->c[i];
        if (c->busy)
            continue;
        c->busy = true;
        c->due = queue_pop(p);
        c->sent = c->resp_len = 0;
        p->sent++;
        if (!conn_write(p, c)) {
            p->errors++;
            conn_reopen(p, c);
        }
    }
}

/* Length of a complete response at the start of c->resp, or 0 if more is
 * needed, or -1 if it cannot be parsed (chunked answers are not handled). */
static long complete_response(struct conn *c, int *status, bool *close_after) {
    c->resp[c->resp_len < RESP_MAX ? c->resp_len : RESP_MAX - 1] = '\0';
    char *end = strstr(c->resp, "\r\n\r\n");
    if (!end)
        return c->resp_len >= RESP_MAX - 1 ? -1 : 0;
    size_t head = (size_t)(end - c->resp) + 4;
    if (sscanf(c->resp, "HTTP/1.%*d %d", status) != 1)
        return -1;
    long clen = 0;
    *close_after = false;
    for (char *l = strstr(c->resp, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = atol(l + 15);
        else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0)
            return -1;
        else if (strncasecmp(l, "Connection:", 11) == 0 && strstr(l, "close") && strstr(l, "close") < strstr(l, "\r\n"))
            *close_after = true;
    }
    if (c->resp_len < head + (size_t)clen)
        return 0;
    return (long)(head + (size_t)clen);
}

static void conn_read(struct pacer *p, struct conn *c) {
    for (;;) {
        ssize_t n = recv(c->fd, c->resp + c->resp_len, RESP_MAX - 1 - c->resp_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) { /* closed or failed: the request in flight is lost */
            if (c->busy)
                p->errors++;
            conn_reopen(p, c);
            return;
        }
        c->resp_len += (size_t)n;
        int status = 0;
        bool close_after = false;
        long len = complete_response(c, &status, &close_after);
        if (len == 0)
            continue;
        if (len < 0 || !c->busy) {
            p->errors++;
            conn_reopen(p, c);
            return;
        }
        record(p, now_s() - c->due);
        p->non2xx += status < 200 || status > 299;
        c->busy = false;
        memmove(c->resp, c->resp + len, c->resp_len - (size_t)len);
        c->resp_len -= (size_t)len;
        if (close_after)
            conn_reopen(p, c);
        return;
    }
}

static void arm_timer(struct pacer *p) {
    double due = p->start + (double)p->next_i / p->rate;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)due;
    its.it_value.tv_nsec = (long)((due - (double)(time_t)due) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    if (timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime");
}

static void on_timer(struct pacer *p) {
    uint64_t ticks;
    if (read(p->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
        die("read timerfd");
    double t = now_s();
    for (double due; (due = p->start + (double)p->next_i / p->rate) <= t && due < p->end; p->next_i++)
        queue_push(p, due);
    dispatch(p);
    if (p->start + (double)p->next_i / p->rate < p->end)
        arm_timer(p);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const struct pacer *p, double q) {
    if (p->n_lat == 0)
        return 0;
    size_t i = (size_t)(q * (double)p->n_lat);
    return p->lat[i < p->n_lat ? i : p->n_lat - 1] * 1e3;
}

static void run(struct pacer *p, double seconds) {
    for (int i = 0; i < p->n_conns; i++)
        conn_open(p, &p->c[i]);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->tfd, &tev) < 0)
        die("epoll_ctl");
    p->start = now_s() + 0.2; /* connections are up by then */
    p->end = p->start + seconds;
    arm_timer(p);
    struct epoll_event evs[64];
    /* Run until every request due before the end is answered, or 5 s more. */
    while (now_s() < p->end + 5 && (now_s() < p->end || p->q_len > 0 || p->sent > p->n_lat + p->errors)) {
        int n = epoll_wait(p->ep, evs, 64, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                on_timer(p);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_read(p, c);
            if ((evs[i].events & EPOLLOUT) && c->busy && !conn_write(p, c)) {
                p->errors++;
                conn_reopen(p, c);
            }
        }
        dispatch(p);
    }
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},    {"path", required_argument, NULL, 'P'},
        {"rate", required_argument, NULL, 'r'},    {"connections", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'}, {"body", required_argument, NULL, 'b'},
        {"header", required_argument, NULL, 'H'},  {0},
    };
    struct pacer p = {.n_conns = 32};
    const char *path = "/", *body = NULL;
    char *hdrs[MAX_HEADERS];
    int n_hdrs = 0, o;
    double seconds = 10;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p': p.port = atoi(optarg); break;
        case 'P': path = optarg; break;
        case 'r': p.rate = atof(optarg); break;
        case 'c': p.n_conns = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'b': body = optarg; break;
        case 'H':
            if (n_hdrs == MAX_HEADERS)
                return 2;
            hdrs[n_hdrs++] = optarg;
            break;
        default: return 2;
        }
    }
    if (p.port <= 0 || p.rate <= 0 || p.n_conns < 1 || p.n_conns > MAX_CONNS || seconds <= 0) {
        fprintf(stderr, "usage: pace --port P --path PATH --rate R --connections N --seconds S [--body FILE] "
                        "[--header \"Name: value\"]...\n");
        return 2;
    }
    build_request(&p, path, body, hdrs, n_hdrs);
    p.c = calloc((size_t)p.n_conns, sizeof(*p.c));
    p.ep = epoll_create1(EPOLL_CLOEXEC);
    p.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!p.c || p.ep < 0 || p.tfd < 0)
        die("setup");
    run(&p, seconds);
    qsort(p.lat, p.n_lat, sizeof(*p.lat), cmp_double);
    printf("pace sent=%llu done=%zu errors=%llu non2xx=%llu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f max_ms=%.3f\n",
           (unsigned long long)p.sent, p.n_lat, (unsigned long long)p.errors, (unsigned long long)p.non2xx, seconds,
           (double)p.n_lat / seconds, pct(&p, 0.5), pct(&p, 0.99), pct(&p, 0.999),
           p.n_lat ? p.lat[p.n_lat - 1] * 1e3 : 0);
    return 0;
}
