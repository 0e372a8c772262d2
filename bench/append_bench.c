/* Signed, durable appends to the command log, with the enforcer's code:
 *   append_bench DIR KEY.pem SECONDS
 * Four measurements of SECONDS each, in fresh logs under DIR:
 *   append    rt_logw_append(): sign, one write, one fdatasync per record;
 *   group     the same in groups of 32 with one fdatasync each
 *             (rt_logw_defer_sync / rt_logw_sync): group commit;
 *   enforcer  enf_core_demote(): the enforcer's whole path for one DEMOTE
 *             (policy check, append, signed checkpoint, readiness view),
 *             each for a different bot;
 *   batch     the same in batches of 32 (enf_core_batch_begin/end: one
 *             fdatasync, one checkpoint, one view per batch), as the daemon
 *             does for the DEMOTEs it reads at once.
 * Prints "append records=N seconds=S per_s=R p50_ms=A p99_ms=B" and the same
 * for the others (latency per record: for a group, the group's time). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/records.h"
#include "cmdlog/logkey.h"
#include "common/log.h"
#include "enforcer/core.h"
#include "gen/reason_codes.h"
#include "policy/policy.h"

#define MAX_SAMPLES 1000000

struct stats {
    double *lat;
    size_t n;
    double t0;
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, struct stats *s, double elapsed) {
    qsort(s->lat, s->n, sizeof(*s->lat), cmp_double);
    printf("%s records=%zu seconds=%.3f per_s=%.1f p50_ms=%.3f p99_ms=%.3f\n", what, s->n, elapsed,
           (double)s->n / elapsed, s->n ? s->lat[s->n / 2] * 1e3 : 0, s->n ? s->lat[s->n * 99 / 100] * 1e3 : 0);
}

#define GROUP 32

/* group: records per fdatasync (1: each record synced by the append). */
static int bench_append(const char *dir, const struct rt_log_key *key, double secs, unsigned group,
                        struct stats *s) {
    uint8_t policy[32];
    memset(policy, 0x5a, sizeof policy);
    struct rt_logw *w = NULL;
    struct rt_logw_report rep = {0};
    int r = rt_logw_open(dir, "bench.ratchet.invalid/commands", key, policy, NULL, NULL, &w, &rep);
    if (r < 0) {
        fprintf(stderr, "append_bench: %s: %s\n", dir, rep.message);
        return r;
    }
    uint64_t last_demote = 0, i = 1;
    double start = mono_s(), t = start;
    while (r == 0 && t < start + secs && s->n + group < MAX_SAMPLES) {
        double t0 = t;
        if (group > 1)
            rt_logw_defer_sync(w);
        for (unsigned k = 0; r == 0 && k < group; k++)
            r = bench_append_nth(w, i++, &last_demote);
        if (r == 0 && group > 1)
            r = rt_logw_sync(w);
        t = mono_s();
        for (unsigned k = 0; k < group; k++)
            s->lat[s->n++] = t - t0;
    }
    if (r < 0)
        fprintf(stderr, "append_bench: %s\n", rt_logw_last_error(w));
    rt_logw_close(w);
    report(group > 1 ? "group" : "append", s, t - start);
    return r;
}

/* A DEMOTE the default policy justifies: 24 h of a 5% error rate. */
static void make_demote(struct rt_msg_demote *d, uint64_t i, int64_t now) {
    memset(d, 0, sizeof(*d));
    for (int k = 0; k < RT_PROTO_REQUEST_ID; k++)
        d->request_id[k] = (uint8_t)((i >> (8 * (k % 8))) + (uint64_t)k);
    snprintf(d->bot, sizeof d->bot, "bot-%06u", (unsigned)i);
    d->cond = RT_COND_ERROR_RATE;
    snprintf(d->reason_code, sizeof d->reason_code, "%s", rt_reason_demote_code(RT_COND_ERROR_RATE));
    d->window_us = INT64_C(86400000000);
    d->decided_at_us = now - 1000000;
    d->window_start_us = d->decided_at_us - d->window_us;
    d->evidence_ts_us = d->decided_at_us - 30000000;
    d->evidence_known = true;
    d->evidence_value = 0.05;
    d->has_threshold = true;
    d->threshold = 0.01;
    snprintf(d->summary, sizeof d->summary, "error_rate in breach for 1d; last evidence 0.05 (limit 0.01)");
}

static int bench_enforcer(const char *dir, const struct rt_log_key *key, double secs, unsigned batch,
                          struct stats *s) {
    struct rt_policy *pol = NULL;
    if (rt_policy_default(&pol) < 0)
        return -ENOMEM;
    char view[4200], err[512];
    snprintf(view, sizeof(view), "%s/readiness.json", dir);
    struct enf_core_options o = {.state_dir = dir, .origin = "bench.ratchet.invalid/commands", .key = key,
                                 .policy = pol, .readiness_view = view, .watchdog_silence_us = INT64_C(3600000000)};
    struct enf_core *c = NULL;
    int r = enf_core_open(&o, wall_us(), 0, &c, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "append_bench: %s\n", err);
        rt_policy_free(pol);
        return r;
    }
    uint64_t i = 1;
    double start = mono_s(), t = start;
    while (r == 0 && t < start + secs && s->n + batch < MAX_SAMPLES) {
        double t0 = t;
        if (batch > 1)
            enf_core_batch_begin(c);
        for (unsigned k = 0; r == 0 && k < batch; k++) {
            struct rt_msg_demote d;
            struct rt_msg reply;
            make_demote(&d, i++, wall_us());
            r = enf_core_demote(c, &d, wall_us(), &reply);
            if (r == 0 && (reply.type != RT_MSG_DEMOTE_ACK || reply.u.demote_ack.status != RT_DEMOTE_RECORDED))
                r = -EPROTO;
        }
        if (r == 0 && batch > 1)
            r = enf_core_batch_end(c, wall_us());
        t = mono_s();
        for (unsigned k = 0; k < batch; k++)
            s->lat[s->n++] = t - t0;
    }
    if (r < 0)
        fprintf(stderr, "append_bench: enforcer: %s\n", strerror(-r));
    enf_core_close(c);
    rt_policy_free(pol);
    report(batch > 1 ? "batch" : "enforcer", s, t - start);
    return r;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: append_bench DIR KEY.pem SECONDS\n");
        return 2;
    }
    rt_log_init("append_bench", LOG_ERR); /* not one line per demotion */
    struct rt_log_key *key = NULL;
    char err[512], dir[4][4000];
    if (rt_log_key_load(argv[2], "bench-key", &key, err, sizeof err) < 0) {
        fprintf(stderr, "append_bench: %s\n", err);
        return 1;
    }
    double secs = atof(argv[3]);
    struct stats s = {.lat = malloc(MAX_SAMPLES * sizeof(double))};
    if (!s.lat)
        return 1;
    static const char *const names[4] = {"append", "group", "enforcer", "batch"};
    for (int k = 0; k < 4; k++)
        snprintf(dir[k], sizeof(dir[k]), "%s/%s", argv[1], names[k]);
    int r = bench_append(dir[0], key, secs, 1, &s);
    s.n = 0;
    if (r == 0)
        r = bench_append(dir[1], key, secs, GROUP, &s);
    s.n = 0;
    if (r == 0)
        r = bench_enforcer(dir[2], key, secs, 1, &s);
    s.n = 0;
    if (r == 0)
        r = bench_enforcer(dir[3], key, secs, GROUP, &s);
    free(s.lat);
    rt_log_key_free(key);
    return r < 0;
}
