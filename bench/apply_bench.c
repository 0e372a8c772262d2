/* One Prometheus vector of N series parsed and applied, in-process, with the
 * functions the watchdog's error-rate poll calls (watchdog/sources.c,
 * prom_apply): rt_prom_parse(), then wd_core_observe() for every sample
 * (engine, evidence log, window store hooks), the "no data" observations for
 * registry bots without a sample, and wd_core_commit() (fdatasync'd). The
 * daemon reports the same span as ratchet_source_apply_seconds; this tool
 * isolates it from the network and the event loop, for profiling:
 *   apply_bench STATE_DIR N ROUNDS [VALUE]
 * The registry holds bots bot-000000.. (all General live); each round is
 * one vector with a fresh sample time, values "0.05" for one bot in 100 and
 * VALUE (default 0.0007692307692307692, 17 digits like a real ratio of
 * rates) for the others, like bench/scale_sources.py. Prints per round and the median:
 *   apply_bench n=N parse_ms=.. observe_ms=.. missing_ms=.. commit_ms=.. total_ms=.. cpu_ms=..
 * (wall times; cpu_ms is the CPU time the round took, which the other
 * processes of a shared machine do not inflate). */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "feeds/prometheus.h"
#include "feeds/registry.h"
#include "watchdog/core.h"

#define MAX_ROUNDS 100

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this process: on a shared machine, wall time also counts the
 * time other processes had the CPU. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static int load_registry(struct wd_core *c, int n) {
    struct rt_strbuf b = {0};
    rt_sb_puts(&b, "{\"version\":1,\"bots\":[");
    for (int i = 0; i < n; i++)
        rt_sb_printf(&b, "%s{\"id\":\"bot-%06d\",\"readiness\":\"general_live\"}", i ? "," : "", i);
    rt_sb_puts(&b, "]}");
    struct rt_registry reg;
    char err[256];
    int r = b.oom ? -ENOMEM : rt_registry_parse(b.s, b.len, &reg, err, sizeof(err));
    rt_sb_free(&b);
    if (r < 0) {
        fprintf(stderr, "apply_bench: registry: %s\n", err);
        return r;
    }
    return wd_core_set_registry(c, &reg, wd_now());
}

static char *vector(int n, double ts, const char *value, size_t *len) {
    struct rt_strbuf b = {0};
    rt_sb_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
    for (int i = 0; i < n; i++)
        rt_sb_printf(&b, "%s{\"metric\":{\"bot\":\"bot-%06d\"},\"value\":[%.3f,\"%s\"]}", i ? "," : "", i, ts,
                     i % 100 == 0 ? "0.05" : value);
    rt_sb_puts(&b, "]}}");
    *len = b.len;
    return b.oom ? NULL : b.s;
}

static void observe(struct wd_core *c, const char *bot, int64_t ts, bool known, double v, const char *detail) {
    struct rt_evidence ev = {.kind = RT_EVIDENCE_OBS, .ts_us = ts, .cond = RT_COND_ERROR_RATE, .known = known,
                             .value = v};
    snprintf(ev.bot, sizeof(ev.bot), "%s", bot);
    snprintf(ev.source, sizeof(ev.source), "prometheus");
    if (detail)
        snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
    wd_core_observe(c, &ev, wd_now());
}

/* watchdog/sources.c observe_missing(): registry bots without a sample. */
static void observe_missing(struct wd_core *c, const struct rt_prom_result *res, int64_t ts) {
    size_t j = 0;
    for (size_t i = 0; i < c->registry.n; i++) {
        while (j < res->n_samples && strcmp(res->samples[j].bot, c->registry.v[i].id) < 0)
            j++;
        if (j < res->n_samples && strcmp(res->samples[j].bot, c->registry.v[i].id) == 0)
            continue;
        observe(c, c->registry.v[i].id, ts, false, 0, "no data");
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: apply_bench STATE_DIR N ROUNDS [VALUE]\n");
        return 2;
    }
    int n = atoi(argv[2]), rounds = atoi(argv[3]);
    const char *value = argc == 5 ? argv[4] : "0.0007692307692307692"; /* a ratio of rates */
    if (n < 1 || rounds < 1 || rounds > MAX_ROUNDS)
        return 2;
    rt_log_init("apply_bench", LOG_WARNING); /* not one line per window opened */
    struct rt_policy *policy = NULL;
    struct event_base *base = event_base_new();
    struct wd_core c;
    char err[1024] = "";
    struct wd_core_options o = {.state_dir = argv[1], .enforcer_socket = "/nonexistent/enforcer.sock",
                                .evlog_max_bytes = 64u << 20, .evlog_keep = 2};
    if (!base || rt_policy_default(&policy) < 0 || wd_core_open(&c, base, policy, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "apply_bench: %s\n", err);
        return 1;
    }
    if (load_registry(&c, n) < 0)
        return 1;
    double parse[MAX_ROUNDS], obs[MAX_ROUNDS], miss[MAX_ROUNDS], commit[MAX_ROUNDS], total[MAX_ROUNDS], cpu[MAX_ROUNDS];
    struct rt_prom_opts opt = {.bot_label = "bot", .merge = RT_PROM_MERGE_MAX};
    for (int k = 0; k < rounds; k++) {
        size_t len;
        int64_t now = wd_now().wall_us;
        char *body = vector(n, (double)now / 1e6, value, &len);
        struct rt_prom_result pr = {0};
        double c0 = cpu_ms(), t0 = mono_ms();
        if (!body || rt_prom_parse(body, len, &opt, &pr) < 0) {
            fprintf(stderr, "apply_bench: parse: %s\n", pr.message);
            return 1;
        }
        double t1 = mono_ms();
        for (size_t i = 0; i < pr.n_samples; i++)
            observe(&c, pr.samples[i].bot, pr.samples[i].ts_us, pr.samples[i].known, pr.samples[i].value,
                    pr.samples[i].known ? NULL : "NaN");
        double t2 = mono_ms();
        observe_missing(&c, &pr, now);
        double t3 = mono_ms();
        if (wd_core_commit(&c) < 0)
            return 1;
        double t4 = mono_ms();
        cpu[k] = cpu_ms() - c0;
        rt_prom_result_clear(&pr);
        free(body);
        parse[k] = t1 - t0, obs[k] = t2 - t1, miss[k] = t3 - t2, commit[k] = t4 - t3, total[k] = t4 - t0;
        printf("round %d: parse %.1f ms, observe %.1f ms, missing %.1f ms, commit %.1f ms, total %.1f ms (CPU %.1f ms)\n",
               k + 1, parse[k], obs[k], miss[k], commit[k], total[k], cpu[k]);
    }
    printf("apply_bench n=%d parse_ms=%.1f observe_ms=%.1f missing_ms=%.1f commit_ms=%.1f total_ms=%.1f cpu_ms=%.1f\n",
           n, median(parse, rounds), median(obs, rounds), median(miss, rounds), median(commit, rounds),
           median(total, rounds), median(cpu, rounds));
    wd_core_close(&c);
    rt_policy_free(policy);
    event_base_free(base);
    return 0;
}
