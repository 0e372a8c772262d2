/* Writes a signed command log for the verification benchmark, with the
 * library's writer (cmdlog/writer.h), the enforcer's own code:
 *   gen_log --dir DIR --key KEY.pem --name NAME --origin ORIGIN --records N
 * Records alternate demote and actuated (bench/records.h); a checkpoint is
 * signed every 10,000 records and at the end, so `ratchetctl log verify`
 * also checks a checkpoint history. fdatasync and directory fsyncs are
 * no-ops: durability is not what is measured here (append_bench.c measures
 * it), and generation would otherwise take minutes. Prints the records
 * written and the time taken. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/records.h"
#include "cmdlog/logkey.h"

#define CHECKPOINT_EVERY 10000

struct clock {
    int64_t now;
};

static int64_t next_time(void *ctx) { return ((struct clock *)ctx)->now += 1000000; }
static int no_sync(void *ctx, int fd) { return (void)ctx, (void)fd, 0; }
static int no_sync_dir(void *ctx, const char *dir) { return (void)ctx, (void)dir, 0; }

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(const char *dir, const char *origin, const struct rt_log_key *key, uint64_t records) {
    struct clock clk = {BENCH_T0};
    struct rt_logw_ops ops = {.now_fn = next_time, .fdatasync_fn = no_sync, .fsync_dir_fn = no_sync_dir, .ctx = &clk};
    struct rt_logw_options opts = {.ops = &ops};
    uint8_t policy[32];
    memset(policy, 0x5a, sizeof policy);
    struct rt_logw *w = NULL;
    struct rt_logw_report rep = {0};
    int r = rt_logw_open_ex(dir, origin, key, policy, &opts, NULL, NULL, &w, &rep);
    uint64_t last_demote = 0;
    for (uint64_t i = 1; r == 0 && i < records; i++) { /* the genesis record is record 0 */
        r = bench_append_nth(w, i, &last_demote);
        if (r == 0 && i % CHECKPOINT_EVERY == 0)
            r = rt_logw_checkpoint(w, clk.now);
    }
    if (r == 0)
        r = rt_logw_checkpoint(w, clk.now);
    if (r < 0)
        fprintf(stderr, "gen_log: %s%s\n", rep.message, w ? rt_logw_last_error(w) : "");
    rt_logw_close(w);
    return r;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},    {"key", required_argument, NULL, 'k'},
        {"name", required_argument, NULL, 'n'},   {"origin", required_argument, NULL, 'o'},
        {"records", required_argument, NULL, 'r'}, {0},
    };
    const char *dir = NULL, *key_path = NULL, *name = NULL, *origin = NULL;
    long long records = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'k': key_path = optarg; break;
        case 'n': name = optarg; break;
        case 'o': origin = optarg; break;
        case 'r': records = atoll(optarg); break;
        default: return 2;
        }
    }
    if (!dir || !key_path || !name || !origin || records < 1) {
        fprintf(stderr, "usage: gen_log --dir DIR --key KEY.pem --name NAME --origin ORIGIN --records N\n");
        return 2;
    }
    struct rt_log_key *key = NULL;
    char err[512];
    if (rt_log_key_load(key_path, name, &key, err, sizeof err) < 0) {
        fprintf(stderr, "gen_log: %s\n", err);
        return 1;
    }
    double t0 = mono_s();
    int r = generate(dir, origin, key, (uint64_t)records);
    rt_log_key_free(key);
    if (r < 0)
        return 1;
    printf("gen_log records=%lld seconds=%.3f\n", records, mono_s() - t0);
    return 0;
}
