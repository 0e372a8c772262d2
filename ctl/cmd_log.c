/* ratchetctl log: the signed command log, for auditors.
 *   verify: checks every signature (on every CPU), the chain, the fields,
 *           torn tails, key rotations and checkpoints; exit 0 valid, 1 not.
 *   show:   prints the records readably (not a verification). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/codec.h"
#include "cmdlog/logkey.h"
#include "cmdlog/record.h"
#include "cmdlog/verify.h"
#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "ctl/ctl.h"
#include "gen/reason_codes.h"

/* Also declared in ctl/ctl.h once registered in ctl/ratchetctl.c. */

#define MAX_PUBKEYS 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: ratchetctl log verify --log FILE --pubkey FILE [--pubkey FILE...] [--origin ORIGIN]\n"
            "                             [--checkpoint FILE] [--threads N] [--no-history]\n"
            "       ratchetctl log show --log FILE [--json] [--bot ID] [--since TIME|DURATION]\n"
            "verify: exit 0 if the log is valid, 1 with the first bad record's seq and why.\n"
            "  --pubkey: trusted public key (PEM); the log's genesis key must be one of them.\n"
            "  --checkpoint: a checkpoint saved elsewhere; detects truncation, rollback and split view.\n"
            "  The history <dir of FILE>/checkpoints is checked too unless --no-history.\n"
            "show: records as text (or the record JSON with user_message, one per line); does not verify.\n"
            "  exit 1 if a line cannot be read as a record. See docs/log-format.md.\n");
}

/* ---- verify ---- */

struct progress {
    bool tty;
    int last_pct;
};

static void show_progress(uint64_t done, uint64_t total, void *ud) {
    struct progress *p = ud;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (!p->tty || pct == p->last_pct)
        return;
    p->last_pct = pct;
    fprintf(stderr, "\rverifying signatures: %" PRIu64 "/%" PRIu64 " (%d%%)", done, total, pct);
    fflush(stderr);
}

static void print_ok(const char *path, const struct rt_log_verify_result *res, double secs) {
    char root[RT_LOG_B64_LEN(32) + 1], id[9];
    rt_log_b64(res->root, 32, root);
    rt_log_hex(res->key_id, RT_LOG_KEY_ID_LEN, id);
    printf("%s: valid: %" PRIu64 " records\n", path, res->records);
    printf("  origin:       %s\n  tree root:    %s (RFC 6962, size %" PRIu64 ")\n", res->origin, root, res->records);
    printf("  current key:  %s (key id %s), %" PRIu64 " key rotation(s)\n", res->key_name, id, res->key_rotations);
    if (res->torn_tails)
        printf("  torn tails:   %" PRIu64 " (crash remnants kept and described by torn_tail records)\n",
               res->torn_tails);
    if (res->checkpoint_checked)
        printf("  checkpoint:   size %" PRIu64 " matches\n", res->checkpoint_size);
    else
        printf("  checkpoint:   none given (truncation of the tail cannot be detected without one)\n");
    printf("  history:      %" PRIu64 " checkpoint(s) match", res->history_verified);
    if (res->history_ignored)
        printf(", %" PRIu64 " entr%s ignored (torn or not signed by a key of this log)", res->history_ignored,
               res->history_ignored == 1 ? "y" : "ies");
    printf("\n  checked in %.2f s on %u thread(s)\n", secs, res->threads);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_verify(const char *log_path, const char **pub_paths, size_t n_pubs, const char *origin,
                      const char *cp_path, unsigned threads, bool no_history) {
    struct rt_log_pubkey *keys[MAX_PUBKEYS] = {0};
    int status = 1;
    char err[512];
    _cleanup_free_ char *cp = NULL;
    size_t cp_len = 0;
    for (size_t i = 0; i < n_pubs; i++)
        if (rt_log_pubkey_load(pub_paths[i], NULL, &keys[i], err, sizeof err) < 0) {
            fprintf(stderr, "ratchetctl log verify: %s\n", err);
            goto out;
        }
    if (cp_path) {
        int r = rt_log_read_file(cp_path, RT_LOG_CHECKPOINT_MAX, &cp, &cp_len);
        if (r < 0) {
            fprintf(stderr, "ratchetctl log verify: %s: %s\n", cp_path, strerror(-r));
            goto out;
        }
    }
    struct progress prog = {.tty = isatty(STDERR_FILENO) == 1, .last_pct = -1};
    struct rt_log_verify_opts o = {
        .trusted = (const struct rt_log_pubkey *const *)keys,
        .n_trusted = n_pubs,
        .origin = origin,
        .checkpoint = cp,
        .checkpoint_len = cp_len,
        .no_history_file = no_history,
        .threads = threads,
        .progress = show_progress,
        .progress_userdata = &prog,
    };
    struct rt_log_verify_result res;
    double t0 = now_seconds();
    int r = rt_log_verify_file(log_path, &o, &res);
    if (prog.tty && prog.last_pct >= 0)
        fputs("\r\033[K", stderr);
    if (r == 0) {
        print_ok(log_path, &res, now_seconds() - t0);
        status = 0;
    } else if (r == -EBADMSG) {
        printf("%s: INVALID: %s\n", log_path, res.reason);
    } else {
        fprintf(stderr, "ratchetctl log verify: %s\n", res.reason[0] ? res.reason : strerror(-r));
    }
out:
    for (size_t i = 0; i < n_pubs; i++)
        rt_log_pubkey_free(keys[i]);
    return status;
}

static int cmd_verify(int argc, char **argv) {
    static const struct option longopts[] = {
        {"log", required_argument, NULL, 'l'},      {"pubkey", required_argument, NULL, 'k'},
        {"origin", required_argument, NULL, 'o'},   {"checkpoint", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},  {"no-history", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},           {0},
    };
    const char *log_path = NULL, *origin = NULL, *cp_path = NULL, *pubs[MAX_PUBKEYS];
    size_t n_pubs = 0;
    unsigned threads = 0;
    bool no_history = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            log_path = optarg;
            break;
        case 'k':
            if (n_pubs == MAX_PUBKEYS) {
                fprintf(stderr, "ratchetctl log verify: at most %d --pubkey\n", MAX_PUBKEYS);
                return 2;
            }
            pubs[n_pubs++] = optarg;
            break;
        case 'o':
            origin = optarg;
            break;
        case 'c':
            cp_path = optarg;
            break;
        case 't': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > RT_LOG_MAX_THREADS) {
                fprintf(stderr, "ratchetctl log verify: --threads: 1..%d\n", RT_LOG_MAX_THREADS);
                return 2;
            }
            threads = (unsigned)v;
            break;
        }
        case 'H':
            no_history = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!log_path || n_pubs == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    return run_verify(log_path, pubs, n_pubs, origin, cp_path, threads, no_history);
}

/* ---- show ---- */

struct show_opts {
    bool json;
    const char *bot;
    bool has_since;
    int64_t since_us;
};

static const char *user_message(const char *code) {
    const struct rt_reason_info *r = rt_reason_find(code);
    return r ? r->user_message : "(reason code not in this ratchetctl's registry)";
}

static void print_hex_short(const uint8_t *v, size_t n, char *out) { rt_log_hex(v, n, out); }

static void show_text(const struct rt_log_record *r) {
    char ts[RT_TIME_BUFSZ], a[RT_TIME_BUFSZ], b[RT_TIME_BUFSZ], dur[RT_DURATION_BUFSZ], unk[RT_DURATION_BUFSZ];
    char hex[65];
    rt_time_format(r->ts_us, ts);
    printf("#%" PRIu64 "  %s  %s\n", r->seq, ts, rt_log_type_name(r->type));
    switch (r->type) {
    case RT_LOG_GENESIS:
        print_hex_short(r->key_id, RT_LOG_KEY_ID_LEN, hex);
        printf("    new log \"%s\", signed by key \"%s\" (key id %s)\n", r->u.genesis.origin, r->u.genesis.key_name, hex);
        break;
    case RT_LOG_DEMOTE: {
        const struct rt_msg_demote *d = &r->u.demote;
        rt_time_format(d->window_start_us, a);
        rt_time_format(d->decided_at_us, b);
        rt_duration_format(d->window_us, dur);
        rt_duration_format(d->unknown_us, unk);
        printf("    bot %s moved to Limited live: %s (%s)\n", d->bot, rt_cond_name(d->cond), d->reason_code);
        printf("    %s\n", user_message(d->reason_code));
        printf("    window %s for %s, decided %s, unknown for %s\n", a, dur, b, unk);
        char v[32], t[32];
        rt_format_double(v, d->evidence_value);
        rt_format_double(t, d->threshold);
        rt_time_format(d->evidence_ts_us, a);
        printf("    evidence %s%s at %s, threshold %s\n", v, d->evidence_known ? "" : " (unknown)", a,
               d->has_threshold ? t : "none");
        if (d->summary[0])
            printf("    summary: %s\n", d->summary);
        break;
    }
    case RT_LOG_WATCHDOG_SILENT:
        rt_time_format(r->u.watchdog_silent.since_us, a);
        printf("    the watchdog went silent at %s\n", a);
        break;
    case RT_LOG_WATCHDOG_BACK:
        rt_time_format(r->u.watchdog_back.silent_since_us, a);
        rt_time_format(r->u.watchdog_back.back_at_us, b);
        printf("    the watchdog, silent since %s, was back at %s\n", a, b);
        break;
    case RT_LOG_TORN_TAIL:
        print_hex_short(r->u.torn_tail.torn_sha256, 32, hex);
        printf("    %" PRIu64 " bytes at offset %" PRIu64 " were a torn write (crash); kept, SHA-256 %s\n",
               r->u.torn_tail.torn_bytes, r->u.torn_tail.offset, hex);
        break;
    case RT_LOG_ACTUATED:
        printf("    demotion #%" PRIu64 " applied by %s (HTTP %d)\n", r->u.actuated.for_seq, r->u.actuated.target,
               r->u.actuated.http_status);
        break;
    case RT_LOG_KEY_ROTATION:
        print_hex_short(r->u.key_rotation.new_key_id, RT_LOG_KEY_ID_LEN, hex);
        printf("    from here on signed by key \"%s\" (key id %s)\n", r->u.key_rotation.new_key_name, hex);
        break;
    }
}

static void show_json(const struct rt_log_record *r, const char *body, size_t body_len) {
    struct rt_strbuf b = {0};
    rt_sb_putn(&b, body, body_len - 1); /* without the closing brace */
    if (r->type == RT_LOG_DEMOTE) {
        rt_sb_puts(&b, ",\"user_message\":");
        rt_sb_json_str(&b, user_message(r->u.demote.reason_code));
    }
    rt_sb_puts(&b, "}");
    if (!b.oom)
        printf("%s\n", b.s);
    rt_sb_free(&b);
}

struct bot_filter {
    uint64_t *seqs; /* demote records of the bot, for its actuated records */
    size_t n, cap;
};

static bool wanted(const struct show_opts *o, const struct rt_log_record *r, struct bot_filter *bf) {
    if (o->has_since && r->ts_us < o->since_us)
        return false;
    if (!o->bot)
        return true;
    if (r->type == RT_LOG_DEMOTE && strcmp(r->u.demote.bot, o->bot) == 0) {
        if (bf->n == bf->cap) {
            size_t cap = bf->cap ? bf->cap * 2 : 16;
            uint64_t *s = realloc(bf->seqs, cap * sizeof *s);
            if (!s)
                return true;
            bf->seqs = s;
            bf->cap = cap;
        }
        bf->seqs[bf->n++] = r->seq;
        return true;
    }
    if (r->type == RT_LOG_ACTUATED)
        for (size_t i = 0; i < bf->n; i++)
            if (bf->seqs[i] == r->u.actuated.for_seq)
                return true;
    return false;
}

static int run_show(const char *path, const struct show_opts *o) {
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = rt_log_read_file(path, RT_LOG_MAX_BYTES, &data, &len);
    if (r < 0) {
        fprintf(stderr, "ratchetctl log show: %s: %s\n", path, strerror(-r));
        return 1;
    }
    struct rt_log_record *rec = malloc(sizeof *rec);
    if (!rec)
        return 1;
    struct bot_filter bf = {0};
    int status = 0;
    size_t lineno = 0;
    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        uint8_t sig[RT_LOG_SIG_LEN];
        char err[RT_LOG_ERR_MAX];
        lineno++;
        if (rt_log_line_parse(p, n, rec, sig, err, sizeof err) < 0) {
            status = 1;
            if (o->json)
                printf("{\"line\":%zu,\"error\":\"not a record (torn write or damage)\"}\n", lineno);
            else
                printf("line %zu: not a record: %s\n", lineno, err);
        } else if (wanted(o, rec, &bf)) {
            if (o->json)
                show_json(rec, p, (size_t)((const char *)memchr(p, '\t', n) - p));
            else
                show_text(rec);
        }
        p = nl ? nl + 1 : end;
    }
    free(bf.seqs);
    free(rec);
    return status;
}

static int parse_since(const char *s, int64_t *out) {
    if (rt_time_parse(s, out) == 0)
        return 0;
    int64_t d;
    if (rt_duration_parse(s, &d) < 0)
        return -EINVAL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000 - d;
    return 0;
}

static int cmd_show(int argc, char **argv) {
    static const struct option longopts[] = {
        {"log", required_argument, NULL, 'l'}, {"json", no_argument, NULL, 'j'},
        {"bot", required_argument, NULL, 'b'}, {"since", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},      {0},
    };
    const char *log_path = NULL;
    struct show_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            log_path = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'b':
            o.bot = optarg;
            break;
        case 's':
            if (parse_since(optarg, &o.since_us) < 0) {
                fprintf(stderr, "ratchetctl log show: --since: an RFC 3339 time or a duration such as 24h\n");
                return 2;
            }
            o.has_since = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!log_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    return run_show(log_path, &o);
}

int cmd_log_main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return cmd_show(argc - 1, argv + 1);
    fprintf(stderr, "ratchetctl log: unknown subcommand \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
