/* Pushing signed demote records to the control plane; see actuate.h and
 * docs/log-format.md. */
#include "watchdog/actuate.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdlog/record.h"
#include "cmdlog/writer.h"
#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"

_Static_assert(WD_ACTUATE_TARGET_MAX == RT_LOG_TARGET_MAX, "a target fits an actuated record");

#define NO_OFFSET UINT64_MAX
#define READ_CHUNK (64u * 1024)
#define BUF_SIZE (RT_LOG_LINE_MAX + 1 + READ_CHUNK) /* a whole longest line, and then some */
#define PATH_CAP 4096

/* A demote record without an actuated record. */
struct entry {
    uint64_t seq, offset; /* offset: of its line in commands.log */
    uint32_t len;         /* of its line without the LF */
    enum wd_actuate_state state;
    char bot[RT_BOT_ID_MAX + 1];
};

/* One POST in flight. */
struct push {
    struct wd_actuate *a;
    uint64_t seq, generation;
};

struct wd_actuate {
    struct event_base *base;
    struct event *tick, *wake; /* every scan interval; once, for retries and to read on */
    struct rt_fetcher *fetcher;
    char path[PATH_CAP];
    char *url;
    char target[WD_ACTUATE_TARGET_MAX + 1];
    struct rt_fetch_auth auth;
    char *token, *user, *password;
    wd_actuate_pushed_fn on_pushed;
    void *ud;
    int64_t scan_interval_us, retry_min_ms, retry_max_ms;
    size_t max_pending, scan_budget;
    /* the log as read so far */
    bool have_id;
    dev_t dev;
    ino_t ino;
    uint64_t offset;          /* the next byte to read: always the start of a line */
    uint64_t counted_to;      /* records before this offset were counted in the stats */
    bool skipping;            /* inside a line longer than any record: dropped up to its LF */
    uint64_t overflow_offset; /* the first demote record not held (max_pending), or NO_OFFSET */
    bool more_to_read;        /* the last round stopped at its byte budget */
    int open_errno;           /* of the last failed open, for logging changes only */
    uint64_t generation;      /* bumped when the log is read again from the start */
    struct entry *q;          /* pending, in log (= seq) order */
    size_t n, cap;
    /* pushing */
    bool in_flight;
    int64_t retry_at_us; /* monotonic */
    int64_t backoff_ms;
    uint64_t failures;
    char *buf;
    struct wd_actuate_stats stats;
};

static int64_t clock_us(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void arm(struct event *ev, int64_t in_us) {
    struct timeval tv = {.tv_sec = in_us / RT_USEC_PER_SEC, .tv_usec = in_us % RT_USEC_PER_SEC};
    evtimer_add(ev, &tv);
}

const char *wd_actuate_state_name(enum wd_actuate_state s) {
    static const char *const names[] = {"waiting", "pushing", "pushed"};
    return (unsigned)s < ELEMENTSOF(names) ? names[s] : "unknown";
}

int wd_actuate_target(const char *url, char *buf, size_t cap) {
    size_t n = strcspn(url, "?#");
    if (n == 0)
        return -EINVAL;
    if (n > WD_ACTUATE_TARGET_MAX || n >= cap)
        return -ENAMETOOLONG;
    memcpy(buf, url, n);
    buf[n] = '\0';
    return 0;
}

/* ---- the pending set ---- */

/* Index of the first entry with seq >= want. */
static size_t lower_bound(const struct wd_actuate *a, uint64_t want) {
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->q[mid].seq < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct entry *find(struct wd_actuate *a, uint64_t seq) {
    size_t i = lower_bound(a, seq);
    return i < a->n && a->q[i].seq == seq ? &a->q[i] : NULL;
}

static void update_counts(struct wd_actuate *a) {
    size_t pushed = 0;
    for (size_t i = 0; i < a->n; i++)
        pushed += a->q[i].state == WD_ACTUATE_PUSHED;
    a->stats.pending = a->n;
    a->stats.pushed = pushed;
    a->stats.overflow = a->overflow_offset != NO_OFFSET;
}

/* A demote record read at off. Records come in seq order, and every held
 * record is older than any not held, so appending keeps q sorted. */
static void add_demote(struct wd_actuate *a, const struct rt_log_record *rec, uint64_t off, size_t len) {
    if (a->overflow_offset != NO_OFFSET || (a->n && a->q[a->n - 1].seq >= rec->seq))
        return;
    if (a->n == a->max_pending) {
        a->overflow_offset = off; /* read again once the held ones are done */
        rt_log(LOG_WARNING, NULL, NULL, NULL,
               "control plane: more than %zu demote records wait for it; later ones are read again when these are done",
               a->max_pending);
        return;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        if (cap > a->max_pending)
            cap = a->max_pending;
        struct entry *q = realloc(a->q, cap * sizeof(*q));
        if (!q) {
            a->overflow_offset = off; /* the same as full: read again later */
            return;
        }
        a->q = q;
        a->cap = cap;
    }
    struct entry *e = &a->q[a->n++];
    *e = (struct entry){.seq = rec->seq, .offset = off, .len = (uint32_t)len, .state = WD_ACTUATE_WAITING};
    rt_strlcpy(e->bot, rec->u.demote.bot, sizeof(e->bot));
}

static void remove_actuated(struct wd_actuate *a, uint64_t for_seq) {
    struct entry *e = find(a, for_seq);
    if (!e)
        return;
    size_t i = (size_t)(e - a->q);
    memmove(&a->q[i], &a->q[i + 1], (a->n - i - 1) * sizeof(*a->q));
    a->n--;
}

static void handle_line(struct wd_actuate *a, const char *line, size_t len, uint64_t off) {
    struct rt_log_record rec;
    uint8_t sig[RT_LOG_SIG_LEN];
    char err[RT_LOG_ERR_MAX];
    bool count = off >= a->counted_to;
    if (rt_log_line_parse(line, len, &rec, sig, err, sizeof(err)) < 0) {
        a->stats.unparsable_lines += count;
        return;
    }
    if (rec.type == RT_LOG_DEMOTE) {
        a->stats.demotes_seen += count;
        add_demote(a, &rec, off, len);
    } else if (rec.type == RT_LOG_ACTUATED) {
        a->stats.actuated_seen += count;
        remove_actuated(a, rec.u.actuated.for_seq);
    }
}

/* Handles the complete lines of buf (read at file offset off); returns the
 * bytes consumed. A last line without its LF is left unless it is already
 * longer than any record. */
static size_t handle_lines(struct wd_actuate *a, const char *buf, size_t n, uint64_t off) {
    size_t pos = 0;
    while (pos < n) {
        const char *lf = memchr(buf + pos, '\n', n - pos);
        if (!lf) {
            if (!a->skipping && n - pos <= RT_LOG_LINE_MAX)
                return pos; /* maybe being written: wait for its LF */
            if (!a->skipping)
                a->stats.unparsable_lines += off + pos >= a->counted_to;
            a->skipping = true;
            return n;
        }
        size_t len = (size_t)(lf - (buf + pos));
        if (a->skipping)
            a->skipping = false; /* the end of an over-long line */
        else if (len > RT_LOG_LINE_MAX)
            a->stats.unparsable_lines += off + pos >= a->counted_to;
        else
            handle_line(a, buf + pos, len, off + pos);
        pos += len + 1;
    }
    return pos;
}

/* Forget everything and read the log from its start. */
static void reset(struct wd_actuate *a, const char *why) {
    rt_log(LOG_WARNING, NULL, NULL, NULL, "control plane: %s %s; reading it again from the start", a->path, why);
    a->n = 0;
    a->offset = 0;
    a->counted_to = 0;
    a->skipping = false;
    a->overflow_offset = NO_OFFSET;
    a->have_id = false;
    a->generation++;
    a->stats.resets++;
}

static int open_log(struct wd_actuate *a, struct stat *st) {
    int fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        if (fstat(fd, st) < 0)
            err = errno;
        else if (!S_ISREG(st->st_mode))
            err = EINVAL;
        if (err) {
            close(fd);
            fd = -1;
        }
    }
    if (err != a->open_errno) {
        if (err == ENOENT)
            rt_log(LOG_INFO, NULL, NULL, NULL, "control plane: waiting for %s", a->path);
        else if (err)
            rt_log(LOG_WARNING, NULL, NULL, NULL, "control plane: cannot read %s: %s", a->path, strerror(err));
        a->open_errno = err;
    }
    a->stats.log_present = fd >= 0;
    return fd >= 0 ? fd : -err;
}

/* Reads what was appended since the last round, up to the byte budget. */
static void scan(struct wd_actuate *a) {
    if (a->overflow_offset != NO_OFFSET && a->n <= a->max_pending / 2) {
        a->offset = a->overflow_offset; /* a line start: read the records not held, again */
        a->overflow_offset = NO_OFFSET;
        a->skipping = false;
    }
    struct stat st;
    _cleanup_close_ int fd = open_log(a, &st);
    a->more_to_read = false;
    if (fd < 0)
        return;
    if (a->have_id && (st.st_dev != a->dev || st.st_ino != a->ino))
        reset(a, "was replaced");
    else if ((uint64_t)st.st_size < a->offset)
        reset(a, "shrank");
    a->have_id = true;
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    size_t budget = a->scan_budget;
    while (a->offset < (uint64_t)st.st_size && budget > 0) {
        uint64_t left = (uint64_t)st.st_size - a->offset;
        size_t want = left < BUF_SIZE ? (size_t)left : BUF_SIZE;
        if (want > budget && budget > RT_LOG_LINE_MAX + 1)
            want = budget; /* never less than a whole line: every read makes progress */
        else if (want > RT_LOG_LINE_MAX + 1 && budget <= RT_LOG_LINE_MAX + 1)
            want = RT_LOG_LINE_MAX + 1;
        ssize_t got = pread(fd, a->buf, want, (off_t)a->offset);
        if (got <= 0)
            break;
        size_t used = handle_lines(a, a->buf, (size_t)got, a->offset);
        if (used == 0)
            break; /* an incomplete last line */
        a->offset += used;
        if (a->offset > a->counted_to)
            a->counted_to = a->offset;
        budget = used < budget ? budget - used : 0;
    }
    a->more_to_read = budget == 0 && a->offset < (uint64_t)st.st_size;
    a->stats.log_offset = a->offset;
    update_counts(a);
}

/* ---- pushing ---- */

/* The line of e, read again (the file is the same one the scan read). */
static int read_entry(struct wd_actuate *a, const struct entry *e) {
    struct stat st;
    _cleanup_close_ int fd = open_log(a, &st);
    if (fd < 0)
        return fd;
    if (!a->have_id || st.st_dev != a->dev || st.st_ino != a->ino)
        return -ESTALE;
    ssize_t got = pread(fd, a->buf, e->len, (off_t)e->offset);
    if (got != (ssize_t)e->len)
        return -ESTALE;
    struct rt_log_record rec;
    uint8_t sig[RT_LOG_SIG_LEN];
    char err[RT_LOG_ERR_MAX];
    if (rt_log_line_parse(a->buf, e->len, &rec, sig, err, sizeof(err)) < 0 || rec.type != RT_LOG_DEMOTE ||
        rec.seq != e->seq)
        return -ESTALE;
    return 0;
}

static void push_failed(struct wd_actuate *a, uint64_t seq, const char *why) {
    a->failures++;
    a->backoff_ms = rt_backoff_next(a->backoff_ms, a->retry_min_ms, a->retry_max_ms, seq * 7919 + a->failures);
    a->retry_at_us = clock_us(CLOCK_MONOTONIC) + a->backoff_ms * 1000;
    rt_strlcpy(a->stats.last_error, why, sizeof(a->stats.last_error));
    char in[RT_DURATION_BUFSZ];
    rt_duration_format(a->backoff_ms * 1000, in);
    rt_log(LOG_WARNING, NULL, NULL, NULL, "control plane: push of demote record %llu to %s failed (%s); retry in %s",
           (unsigned long long)seq, a->target, why, in);
}

static void kick(struct wd_actuate *a);

static void push_done(const struct rt_fetch_result *res) {
    struct push *p = res->userdata;
    struct wd_actuate *a = p->a;
    if (res->outcome == RT_FETCH_CANCELLED) { /* wd_actuate_free() */
        free(p);
        return;
    }
    a->in_flight = false;
    a->stats.pushes[res->outcome]++;
    a->stats.last_http_status = res->http_status;
    struct entry *e = p->generation == a->generation ? find(a, p->seq) : NULL;
    if (res->outcome == RT_FETCH_OK) {
        a->failures = 0;
        a->backoff_ms = 0;
        a->stats.last_success_us = clock_us(CLOCK_REALTIME);
        a->stats.last_error[0] = '\0';
        if (e) {
            rt_log(LOG_NOTICE, NULL, e->bot, NULL, "control plane at %s took demote record %llu of %s (HTTP %ld)",
                   a->target, (unsigned long long)e->seq, e->bot, res->http_status);
            int r = a->on_pushed(e->seq, (unsigned)res->http_status, a->target, a->ud);
            e->state = r == 0 ? WD_ACTUATE_PUSHED : WD_ACTUATE_WAITING;
            if (r < 0)
                push_failed(a, p->seq, "the enforcer cannot take the report now");
        }
    } else {
        char why[sizeof(a->stats.last_error)];
        if (res->outcome == RT_FETCH_HTTP_ERROR)
            snprintf(why, sizeof(why), "HTTP %ld", res->http_status);
        else
            snprintf(why, sizeof(why), "%s: %s", rt_fetch_outcome_name(res->outcome), res->error);
        if (e)
            e->state = WD_ACTUATE_WAITING;
        push_failed(a, p->seq, why);
    }
    free(p);
    update_counts(a);
    kick(a);
}

/* Starts the push of the first waiting record, if none is in flight and the
 * retry time has come. */
static void kick(struct wd_actuate *a) {
    if (a->in_flight)
        return;
    struct entry *e = NULL;
    for (size_t i = 0; i < a->n && !e; i++)
        if (a->q[i].state == WD_ACTUATE_WAITING)
            e = &a->q[i];
    if (!e)
        return;
    int64_t wait = a->retry_at_us - clock_us(CLOCK_MONOTONIC);
    if (wait > 0) {
        if (!a->more_to_read)
            arm(a->wake, wait);
        return;
    }
    int r = read_entry(a, e);
    if (r == -ESTALE) {
        reset(a, "changed under a record");
        update_counts(a);
        arm(a->wake, 0);
        return;
    }
    struct push *p = r < 0 ? NULL : malloc(sizeof(*p));
    if (p) {
        *p = (struct push){.a = a, .seq = e->seq, .generation = a->generation};
        const struct rt_fetch_auth *auth = a->auth.kind == RT_FETCH_AUTH_NONE ? NULL : &a->auth;
        r = rt_fetch_post(a->fetcher, a->url, auth, WD_ACTUATE_CONTENT_TYPE, a->buf, e->len, push_done, p);
    }
    if (!p || r < 0) {
        free(p);
        push_failed(a, e->seq, r < 0 ? strerror(-r) : "out of memory");
        arm(a->wake, a->backoff_ms * 1000);
        return;
    }
    a->in_flight = true;
    e->state = WD_ACTUATE_PUSHING;
}

static void run_round(struct wd_actuate *a) {
    scan(a);
    kick(a);
    if (a->more_to_read)
        arm(a->wake, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *ud) {
    (void)fd;
    (void)what;
    run_round(ud);
}

/* ---- public ---- */

static int copy_auth(struct wd_actuate *a, const struct rt_fetch_auth *auth) {
    a->auth.kind = auth ? auth->kind : RT_FETCH_AUTH_NONE;
    if (!auth || auth->kind == RT_FETCH_AUTH_NONE)
        return 0;
    if (auth->token && !(a->token = strdup(auth->token)))
        return -ENOMEM;
    if (auth->user && !(a->user = strdup(auth->user)))
        return -ENOMEM;
    if (auth->password && !(a->password = strdup(auth->password)))
        return -ENOMEM;
    a->auth.token = a->token;
    a->auth.user = a->user;
    a->auth.password = a->password;
    return 0;
}

static int check_options(const struct wd_actuate_options *o, char *err, size_t errlen) {
    if (!o->log_dir || o->log_dir[0] != '/' || strlen(o->log_dir) + sizeof("/" RT_LOGW_FILE) > PATH_CAP)
        return snprintf(err, errlen, "log_dir must be an absolute path of at most %d bytes", PATH_CAP - 32), -EINVAL;
    if (!o->url || !o->on_pushed)
        return snprintf(err, errlen, "a url and an on_pushed callback are required"), -EINVAL;
    if (o->scan_interval_us < 0 || o->retry_min_us < 0 || o->retry_max_us < 0)
        return snprintf(err, errlen, "negative interval"), -EINVAL;
    return 0;
}

static void set_defaults(struct wd_actuate *a, const struct wd_actuate_options *o) {
    a->on_pushed = o->on_pushed;
    a->ud = o->ud;
    a->scan_interval_us = o->scan_interval_us ? o->scan_interval_us : WD_ACTUATE_DEFAULT_SCAN_US;
    a->retry_min_ms = (o->retry_min_us ? o->retry_min_us : WD_ACTUATE_DEFAULT_RETRY_MIN_US) / 1000;
    a->retry_max_ms = (o->retry_max_us ? o->retry_max_us : WD_ACTUATE_DEFAULT_RETRY_MAX_US) / 1000;
    a->max_pending = o->max_pending ? o->max_pending : WD_ACTUATE_DEFAULT_MAX_PENDING;
    a->scan_budget = o->scan_budget ? o->scan_budget : WD_ACTUATE_DEFAULT_SCAN_BUDGET;
    a->overflow_offset = NO_OFFSET;
    snprintf(a->path, sizeof(a->path), "%s/%s", o->log_dir, RT_LOGW_FILE);
}

int wd_actuate_new(struct event_base *base, const struct wd_actuate_options *opt, struct wd_actuate **out,
                   char *err, size_t errlen) {
    err[0] = '\0';
    int r = check_options(opt, err, errlen);
    if (r < 0)
        return r;
    struct wd_actuate *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->base = base;
    set_defaults(a, opt);
    r = wd_actuate_target(opt->url, a->target, sizeof(a->target));
    if (r < 0) {
        snprintf(err, errlen, "url: up to its query at most %d bytes", WD_ACTUATE_TARGET_MAX);
        free(a);
        return -EINVAL;
    }
    rt_strlcpy(a->stats.target, a->target, sizeof(a->stats.target));
    struct rt_fetch_options fo = opt->fetch;
    fo.max_concurrent = 1;
    a->url = strdup(opt->url);
    a->buf = malloc(BUF_SIZE);
    a->tick = event_new(base, -1, EV_PERSIST, on_timer, a);
    a->wake = evtimer_new(base, on_timer, a);
    r = a->url && a->buf && a->tick && a->wake ? copy_auth(a, opt->auth) : -ENOMEM;
    if (r == 0 && !(a->fetcher = rt_fetcher_new(base, &fo))) {
        r = -errno;
        snprintf(err, errlen, "HTTP client: %s", strerror(errno));
    }
    if (r < 0) {
        wd_actuate_free(a);
        return r;
    }
    arm(a->tick, a->scan_interval_us);
    arm(a->wake, 0);
    *out = a;
    return 0;
}

static void free_secret(char *s) {
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void wd_actuate_free(struct wd_actuate *a) {
    if (!a)
        return;
    rt_fetcher_free(a->fetcher); /* cancels a push in flight */
    if (a->tick)
        event_free(a->tick);
    if (a->wake)
        event_free(a->wake);
    free_secret(a->token);
    free_secret(a->user);
    free_secret(a->password);
    free(a->url);
    free(a->buf);
    free(a->q);
    free(a);
}

void wd_actuate_scan_now(struct wd_actuate *a) { run_round(a); }

void wd_actuate_get_stats(const struct wd_actuate *a, struct wd_actuate_stats *out) { *out = a->stats; }

void wd_actuate_foreach_pending(const struct wd_actuate *a,
                                void (*fn)(uint64_t seq, const char *bot, enum wd_actuate_state st, void *ud),
                                void *ud) {
    for (size_t i = 0; i < a->n; i++)
        fn(a->q[i].seq, a->q[i].bot, a->q[i].state, ud);
}
