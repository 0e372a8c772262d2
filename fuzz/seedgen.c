/* Writes the generated seed inputs of fuzz/corpus/ (run by
 * fuzz/make-seeds.sh): inputs that are not text files the repository
 * already holds.
 *   seedgen proto DIR        one frame of every message type, and a stream
 *   seedgen log_verify DIR   harness programs: logs with every record type,
 *                            rotations, torn regions, checkpoints, damage
 *   seedgen statestore DIR   harness programs whose records are real engine
 *                            and P0-tracker encodings
 * Built with the normal compiler against libratchet.a; deterministic. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "common/util.h"
#include "feeds/p0track.h"
#include "policy/engine.h"

#define T0 INT64_C(1795000000000000)

struct buf {
    uint8_t b[16384];
    size_t n;
};

static void b_u8(struct buf *b, unsigned v) {
    if (b->n < sizeof b->b)
        b->b[b->n++] = (uint8_t)v;
}

static void b_le(struct buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        b_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

/* fz_bytes: a length byte, then that many bytes (chunks of <= 255). */
static void b_chunks(struct buf *b, const uint8_t *p, size_t n) {
    do {
        size_t k = n > 255 ? 255 : n;
        b_u8(b, (unsigned)k);
        for (size_t i = 0; i < k; i++)
            b_u8(b, p[i]);
        p += k;
        n -= k;
    } while (n > 0);
}

static void b_str(struct buf *b, const char *s) { b_chunks(b, (const uint8_t *)s, strlen(s)); }

static int save(const char *dir, const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "seedgen: cannot write %s\n", path);
        return -EIO;
    }
    return 0;
}

/* ---- proto ---- */

static int gen_proto(const char *dir) {
    struct rt_msg m[11];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 10; i++)
        m[i].type = (enum rt_msg_type)(i + 1);
    m[0].u.hello.version = 1;
    strcpy(m[0].u.hello.peer, "ratchet-watchdog");
    m[1].u.hello_ok.version = 1;
    memset(m[1].u.hello_ok.policy_sha256, 7, 32);
    struct rt_msg_demote *d = &m[2].u.demote;
    memset(d->request_id, 0xab, sizeof d->request_id);
    strcpy(d->bot, "mm-eth-01");
    d->cond = RT_COND_ERROR_RATE;
    strcpy(d->reason_code, "demote.error_rate");
    d->window_start_us = T0;
    d->window_us = INT64_C(86400000000);
    d->decided_at_us = T0 + d->window_us;
    d->unknown_us = 7200000000;
    d->evidence_ts_us = d->decided_at_us - 10000000;
    d->evidence_known = true;
    d->evidence_value = 0.02;
    d->has_threshold = true;
    d->threshold = 0.01;
    strcpy(d->summary, "error_rate 0.02 > 0.01 since 2026-11-18T10:00:00Z; unknown 2h");
    m[3].u.demote_ack.status = RT_DEMOTE_RECORDED;
    m[3].u.demote_ack.seq = 42;
    strcpy(m[4].u.demote_refused.reason, "window 12h shorter than the policy's 24h");
    m[5].u.heartbeat.ts_us = T0;
    m[6].u.heartbeat.ts_us = T0;
    strcpy(m[7].u.readiness_query.bot, "alpha");
    strcpy(m[8].u.readiness.bot, "alpha");
    m[8].u.readiness.readiness = 1;
    m[8].u.readiness.since_us = T0;
    m[8].u.readiness.seq = 9;
    m[9].u.actuated.for_seq = 3;
    m[9].u.actuated.http_status = 202;
    strcpy(m[9].u.actuated.target, "https://cp.example/records");
    m[10].type = RT_MSG_ACTUATED_ACK;
    m[10].u.actuated_ack.for_seq = 3;
    m[10].u.actuated_ack.status = RT_ACTUATED_RECORDED;
    m[10].u.actuated_ack.seq = 5;
    static uint8_t stream[65536];
    size_t sn = 0;
    for (int i = 0; i < 11; i++) {
        uint8_t f[8192];
        int n = rt_proto_encode(&m[i], f, sizeof f);
        char name[64];
        if (n < 0) {
            fprintf(stderr, "seedgen: message %d does not encode: %d\n", i, n);
            return n;
        }
        snprintf(name, sizeof name, "frame-%s", rt_msg_type_name(m[i].type));
        if (save(dir, name, f, (size_t)n) < 0)
            return -EIO;
        memcpy(stream + sn, f, (size_t)n);
        sn += (size_t)n;
    }
    return save(dir, "stream-all-types", stream, sn);
}

/* ---- log_verify programs (see fuzz_log_verify.c for the layout) ---- */

enum { R_DEMOTE = 0, R_SILENT, R_BACK, R_ACTUATED, R_ROTATION, R_TORN };

static void p_demote(struct buf *b, unsigned bot, unsigned cond) {
    b_u8(b, R_DEMOTE);
    b_u8(b, 3 + bot); /* a fixed bot name */
    b_u8(b, cond);
    b_le(b, 86400000000u % 0xffffffffu, 4); /* window start offset */
    b_le(b, 86400000u, 4);                  /* window */
    b_u8(b, 0);                             /* unknown */
    b_u8(b, 1);                             /* known */
    b_u8(b, 3);                             /* value */
    b_str(b, "breach held 24h");
}

static void p_actuated(struct buf *b, unsigned for_seq) {
    b_u8(b, R_ACTUATED);
    b_u8(b, for_seq);
    b_le(b, 102, 2); /* 202 */
    b_str(b, "https://cp.example/api/v1/records");
}

struct program {
    const char *name;
    unsigned records; /* records after genesis */
    void (*body)(struct buf *b);
    unsigned notes;   /* bit 0: checkpoint; bits 1-2: history entries */
    unsigned damage;  /* 0: none */
    unsigned mode;    /* bit 0: origin given; bit 1: torn-tail mode */
};

static void body_mixed(struct buf *b) {
    p_demote(b, 0, 1);
    p_actuated(b, 1);
    b_u8(b, R_SILENT);
    b_le(b, 5000000, 4);
    b_u8(b, R_BACK);
    b_le(b, 5000000, 4);
    p_demote(b, 1, 3);
}

static void body_rotation(struct buf *b) {
    p_demote(b, 0, 0);
    b_u8(b, R_ROTATION);
    b_u8(b, 0);
    p_demote(b, 2, 2);
    b_u8(b, R_ROTATION);
    b_u8(b, 1);
    p_actuated(b, 1);
}

static void body_torn(struct buf *b) {
    p_demote(b, 0, 1);
    b_u8(b, R_TORN);
    b_str(b, "{\"seq\":2,\"ts\":\"2026-11-18T10:00:00Z\",\"type\":\"dem");
    p_demote(b, 1, 1);
}

static void body_bad_actuated(struct buf *b) {
    b_u8(b, R_SILENT);
    b_le(b, 1, 4);
    p_actuated(b, 1); /* names a watchdog_silent record: refused */
}

static void emit_program(const char *dir, const struct program *p) {
    struct buf b = {0};
    b_u8(&b, p->records);
    p->body(&b);
    b_u8(&b, p->notes);
    if (p->notes & 1) {
        b_u8(&b, 0); /* key choice */
        b_u8(&b, 2); /* size - 1 */
    }
    for (unsigned i = 0; i < ((p->notes >> 1) % 4); i++) {
        b_u8(&b, 1); /* size step */
        b_u8(&b, i); /* key choice */
    }
    b_u8(&b, p->damage ? 1 : 0);
    if (p->damage) {
        b_u8(&b, 10);       /* the log */
        b_u8(&b, p->damage); /* operation */
        b_le(&b, 700, 2);   /* position */
        b_u8(&b, 0x20);
    }
    b_u8(&b, p->mode);
    save(dir, p->name, b.b, b.n);
}

static int gen_log_verify(const char *dir) {
    static const struct program progs[] = {
        {"mixed", 5, body_mixed, 0x3, 0, 1},
        {"mixed-history", 5, body_mixed, 0x7, 0, 0},
        {"rotation", 5, body_rotation, 0x5, 0, 1},
        {"torn", 3, body_torn, 0x1, 0, 3},
        {"bad-actuated", 2, body_bad_actuated, 0, 0, 1},
        {"flip", 5, body_mixed, 0x1, 6, 1},
        {"truncate", 5, body_mixed, 0, 1, 2},
        {"dup-line", 5, body_rotation, 0, 4, 0},
        {"swap-lines", 5, body_mixed, 0x3, 5, 3},
    };
    for (size_t i = 0; i < ELEMENTSOF(progs); i++)
        emit_program(dir, &progs[i]);
    return 0;
}

/* ---- statestore programs (see fuzz_statestore.c for the layout) ---- */

static void ignore_decision(const struct rt_decision *d, void *ud) { (void)d, (void)ud; }
static void ignore_obs(const struct rt_obs *o, void *ud) { (void)o, (void)ud; }

/* Record kind byte: bot index in bits 0-1, shape in bits 2-4. */
static void s_bot_record(struct buf *b, const struct rt_engine *e, unsigned bot_index, const char *bot) {
    uint8_t rec[RT_BOT_RECORD_MAX];
    int n = rt_engine_encode_bot(e, bot, rec, sizeof rec);
    if (n <= 1)
        abort();
    b_u8(b, bot_index);               /* "b:<bot>", bot-record shape */
    b_chunks(b, rec + 1, (size_t)n - 1); /* the harness writes the version byte */
}

static void s_clock_record(struct buf *b, const struct rt_engine *e) {
    uint8_t rec[64];
    int n = rt_engine_encode_clock(e, rec, sizeof rec);
    if (n <= 1)
        abort();
    b_u8(b, 6 << 2); /* "clock" */
    b_chunks(b, rec + 1, (size_t)n - 1);
}

static int gen_statestore(const char *dir) {
    static const char *const bots[] = {"alpha", "mm-eth-01", "b.2:x"};
    struct rt_policy *p;
    if (rt_policy_default(&p) < 0)
        return -ENOMEM;
    struct rt_engine *e = rt_engine_new(p);
    struct rt_now now = {T0, INT64_C(3600000000)};
    for (int i = 0; i < 3; i++) {
        struct rt_obs o = {.bot = bots[i], .cond = (enum rt_cond)i, .ts_us = T0 - 1000000, .known = true,
                           .value = i == 2 ? 1e6 : 1, .has_tolerance = i == 2};
        rt_engine_observe(e, &o, now, ignore_decision, NULL);
    }
    struct rt_obs unk = {.bot = bots[0], .cond = RT_COND_CVSS, .ts_us = T0, .known = false};
    rt_engine_observe(e, &unk, now, ignore_decision, NULL);

    struct buf b = {0};
    b_u8(&b, 0); /* windows */
    b_u8(&b, 0); /* generation 1 */
    b_u8(&b, 3 | 1 << 4); /* 3 snapshot records, 1 journal record */
    s_clock_record(&b, e);
    s_bot_record(&b, e, 0, bots[0]);
    s_bot_record(&b, e, 1, bots[1]);
    s_bot_record(&b, e, 2, bots[2]);
    b_u8(&b, 0); /* no damage */
    b_u8(&b, 0);
    b_u8(&b, 1); /* boot-a */
    save(dir, "windows-3-bots", b.b, b.n);
    b.b[b.n - 1] = 0; /* boot-b: rebased */
    save(dir, "windows-rebased", b.b, b.n);
    b.b[b.n - 3] = 200; /* damage: cut the snapshot */
    save(dir, "windows-damaged", b.b, b.n);

    /* the P0 alert store */
    struct rt_p0track *t = rt_p0track_new();
    struct rt_am_alert a[2];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 2; i++) {
        snprintf(a[i].fingerprint, sizeof a[i].fingerprint, "e7d558e15c1e556%d", i);
        strcpy(a[i].bot, bots[i]);
        strcpy(a[i].alertname, "P0Down");
        a[i].firing = true;
        a[i].starts_at_us = T0 - 60000000;
    }
    rt_p0track_webhook(t, a, 2, ignore_obs, NULL, NULL);
    static uint8_t rec[RT_P0_RECORD_MAX];
    struct buf c = {0};
    b_u8(&c, 1); /* alerts */
    b_u8(&c, 0);
    b_u8(&c, 2);
    for (int i = 0; i < 2; i++) {
        int n = rt_p0track_encode_bot(t, bots[i], rec, sizeof rec);
        if (n <= 0)
            abort();
        b_u8(&c, (unsigned)i);
        b_le(&c, (uint64_t)n, 2);
        b_chunks(&c, rec, (size_t)n);
    }
    b_u8(&c, 0);
    b_u8(&c, 0);
    save(dir, "alerts-2-bots", c.b, c.n);
    rt_p0track_free(t);
    rt_engine_free(e);
    rt_policy_free(p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: seedgen proto|log_verify|statestore DIR\n");
        return 2;
    }
    int r = strcmp(argv[1], "proto") == 0        ? gen_proto(argv[2])
            : strcmp(argv[1], "log_verify") == 0 ? gen_log_verify(argv[2])
            : strcmp(argv[1], "statestore") == 0 ? gen_statestore(argv[2])
                                                 : -EINVAL;
    return r < 0 ? 1 : 0;
}
