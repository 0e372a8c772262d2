/* Generates a command log with the library, for the auditor recipe test
 * (tests/cmdlog/t_recipe.sh) and for measuring the verifier.
 *   gen_log --dir DIR --key KEY.pem --name NAME --origin ORIGIN --records N
 *           [--rotate-at SEQ --new-key KEY2.pem --new-name NAME2] [--torn]
 *           [--checkpoint-every K] [--no-sync]
 * Records after genesis cycle through demote, watchdog_silent, watchdog_back
 * and actuated. --torn then leaves a torn write (half a record) and reopens
 * the log, which describes it with a torn_tail record. --no-sync skips
 * fdatasync (for large benchmark logs only). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "cmdlog/logkey.h"
#include "cmdlog/writer.h"
#include "common/fsutil.h"
#include "common/util.h"

#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

struct clock {
    int64_t now;
};

static int64_t next_time(void *ctx) { return ((struct clock *)ctx)->now += 1500000; }
static int no_sync(void *ctx, int fd) { return (void)ctx, (void)fd, 0; }

static int append_nth(struct rt_logw *w, long i, uint64_t *last_demote) {
    struct rt_log_record r;
    memset(&r, 0, sizeof r);
    switch (i % 4) {
    case 1: {
        r.type = RT_LOG_DEMOTE;
        struct rt_msg_demote *d = &r.u.demote;
        for (int k = 0; k < RT_PROTO_REQUEST_ID; k++)
            d->request_id[k] = (uint8_t)(i * 7 + k);
        snprintf(d->bot, sizeof d->bot, "bot-%ld", i % 50);
        d->cond = (enum rt_cond)(i / 4 % RT_COND_COUNT);
        snprintf(d->reason_code, sizeof d->reason_code, "demote.%s", rt_cond_name(d->cond));
        d->window_start_us = T0 + i * INT64_C(1000000);
        d->window_us = INT64_C(86400000000);
        d->unknown_us = i % 3 == 0 ? 0 : 2500000;
        d->decided_at_us = d->window_start_us + d->window_us;
        d->evidence_ts_us = d->decided_at_us - 1000;
        d->evidence_known = true;
        d->evidence_value = d->cond == RT_COND_CVSS ? 9.1 : 0.0125;
        d->has_threshold = true;
        d->threshold = d->cond == RT_COND_CVSS ? 7.0 : 0.01;
        snprintf(d->summary, sizeof d->summary, "breach held 24h; \"%s\" \\ %ld, with commas", rt_cond_name(d->cond),
                 i);
        int ret = rt_logw_append(w, &r, last_demote);
        return ret;
    }
    case 2:
        r.type = RT_LOG_WATCHDOG_SILENT;
        r.u.watchdog_silent.since_us = T0 + i;
        return rt_logw_append(w, &r, NULL);
    case 3:
        r.type = RT_LOG_WATCHDOG_BACK;
        r.u.watchdog_back.silent_since_us = T0 + i;
        r.u.watchdog_back.back_at_us = T0 + i + 30000000;
        return rt_logw_append(w, &r, NULL);
    default:
        r.type = RT_LOG_ACTUATED;
        r.u.actuated.for_seq = *last_demote;
        rt_strlcpy(r.u.actuated.target, "https://control-plane.example/v1/readiness", sizeof r.u.actuated.target);
        r.u.actuated.http_status = 200;
        return rt_logw_append(w, &r, NULL);
    }
}

static int load_key(const char *path, const char *name, struct rt_log_key **k) {
    char err[512];
    int r = rt_log_key_load(path, name, k, err, sizeof err);
    if (r < 0)
        fprintf(stderr, "gen_log: %s\n", err);
    return r;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},      {"key", required_argument, NULL, 'k'},
        {"name", required_argument, NULL, 'n'},     {"origin", required_argument, NULL, 'o'},
        {"records", required_argument, NULL, 'r'},  {"rotate-at", required_argument, NULL, 'R'},
        {"new-key", required_argument, NULL, 'K'},  {"new-name", required_argument, NULL, 'N'},
        {"torn", no_argument, NULL, 't'},           {"checkpoint-every", required_argument, NULL, 'c'},
        {"no-sync", no_argument, NULL, 's'},        {0},
    };
    const char *dir = NULL, *key_path = NULL, *name = NULL, *origin = NULL, *new_key = NULL, *new_name = NULL;
    long records = 0, rotate_at = -1, every = 0;
    bool torn = false, sync = true;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'k': key_path = optarg; break;
        case 'n': name = optarg; break;
        case 'o': origin = optarg; break;
        case 'r': records = atol(optarg); break;
        case 'R': rotate_at = atol(optarg); break;
        case 'K': new_key = optarg; break;
        case 'N': new_name = optarg; break;
        case 't': torn = true; break;
        case 'c': every = atol(optarg); break;
        case 's': sync = false; break;
        default: return 2;
        }
    }
    if (!dir || !key_path || !name || !origin || records < 1 || (rotate_at >= 0 && (!new_key || !new_name))) {
        fprintf(stderr, "usage: see the comment at the top of tests/cmdlog/gen_log.c\n");
        return 2;
    }
    struct rt_log_key *key = NULL, *key2 = NULL;
    if (load_key(key_path, name, &key) < 0 || (new_key && load_key(new_key, new_name, &key2) < 0))
        return 1;
    struct clock clk = {T0};
    struct rt_logw_ops ops = {.now_fn = next_time, .ctx = &clk, .fdatasync_fn = sync ? NULL : no_sync};
    struct rt_logw_options opts = {.ops = &ops};
    uint8_t policy[32];
    memset(policy, 0x5a, sizeof policy);
    struct rt_logw *w = NULL;
    struct rt_logw_report rep;
    int r = rt_logw_open_ex(dir, origin, key, policy, &opts, NULL, NULL, &w, &rep);
    uint64_t last_demote = 0;
    for (long i = 1; r == 0 && i < records; i++) {
        if (i == rotate_at) {
            r = rt_logw_rotate_key(w, key2, NULL);
            continue;
        }
        r = append_nth(w, i, &last_demote);
        if (r == 0 && every > 0 && i % every == 0)
            r = rt_logw_checkpoint(w, clk.now);
    }
    if (r == 0)
        r = rt_logw_checkpoint(w, clk.now);
    if (r < 0)
        fprintf(stderr, "gen_log: %s%s\n", rep.message, w ? rt_logw_last_error(w) : "");
    rt_logw_close(w);
    if (r == 0 && torn) {
        /* Half a record, as a crash in the middle of write() leaves it. */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, RT_LOGW_FILE);
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        const char half[] = "{\"v\":1,\"seq\":999,\"ts\":\"2026-01-0";
        if (fd < 0 || rt_write_all(fd, half, sizeof half - 1) < 0)
            r = -EIO;
        if (fd >= 0)
            close(fd);
        const struct rt_log_pubkey *anchors[1] = {key2 ? rt_log_key_public(key) : NULL};
        opts.trusted = anchors;
        opts.n_trusted = key2 ? 1 : 0;
        if (r == 0)
            r = rt_logw_open_ex(dir, origin, key2 ? key2 : key, policy, &opts, NULL, NULL, &w, &rep);
        if (r == 0) {
            r = rt_logw_checkpoint(w, clk.now);
            rt_logw_close(w);
        } else {
            fprintf(stderr, "gen_log: %s\n", rep.message);
        }
    }
    rt_log_key_free(key);
    rt_log_key_free(key2);
    return r < 0 ? 1 : 0;
}
