/* The command-log verifier (cmdlog/verify.h rt_log_verify_buffer, and the
 * writer's torn-tail mode rt_log_verify_internal) on logs that get past the
 * signature checks.
 *
 * Random bytes never carry a valid Ed25519 signature, so the input does not
 * hold the log itself: it is a program. The harness first builds a log
 * signed with fixed test keys from fuzz-chosen records (demote,
 * watchdog_silent/back, actuated, key_rotation to a fuzz-chosen key, torn
 * bytes followed by their torn_tail record), with an optional checkpoint and
 * checkpoint history signed by keys of the log, then applies fuzz-chosen
 * damage (bit flips, truncation, deleted, inserted, duplicated or swapped
 * lines, a damaged note), then verifies. So every check after the
 * signatures is reached: chain, seq, key changes, torn regions, actuated
 * references, checkpoints and history.
 *
 * Invariants:
 *  - undamaged: the log verifies exactly when the harness built a valid one
 *    (every actuated record names a demote record), with every record, the
 *    independently computed RFC 6962 root, the rotation and torn-tail
 *    counts, and the checkpoint matched;
 *  - damaged or not: whatever verifies is a prefix of the records the
 *    harness signed (same root as that prefix): no damage can make the
 *    verifier accept a record that was not signed, or reorder them;
 *  - torn-tail mode: the torn region reaches exactly to the end of the data,
 *    and the records delivered to the callback are seq 0, 1, 2, ...
 * Then a failure pass (fuzz_common.h) verifies again with one of the
 * verifier's allocations failing: no crash, no leak. */
#include <errno.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/codec.h"
#include "cmdlog/merkle.h"
#include "cmdlog/verify_internal.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "fuzz/fixed_key.h"

#define ORIGIN "fuzz.example/commands"
#define T0 INT64_C(1795000000000000)
#define MAX_RECORDS 16
#define N_KEYS 3

static struct rt_log_key *keys[N_KEYS]; /* keys[0] is the genesis key, the only trust anchor */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char *const names[N_KEYS] = {"fuzz-k1", "fuzz-k2", "fuzz-k3"};
    for (int i = 0; i < N_KEYS; i++)
        keys[i] = fz_fixed_key(names[i], (uint8_t)(i + 1));
    return 0;
}

struct build {
    struct rt_strbuf log;
    size_t n;                           /* records signed */
    uint8_t roots[MAX_RECORDS + 1][32]; /* RFC 6962 root of the first k records */
    struct rt_merkle tree;
    uint8_t prev[32];
    int key;                     /* index of the current signing key */
    bool used_key[N_KEYS];       /* keys of the log so far */
    enum rt_log_type type[MAX_RECORDS];
    bool valid;                  /* the harness built a log the verifier must accept */
    unsigned rotations, torn;
};

/* Signs rec as the next record; false if its fields are refused. */
static bool append(struct build *b, struct rt_log_record *rec) {
    rec->seq = b->n;
    rec->ts_us = T0 + (int64_t)b->n * 1000;
    memcpy(rec->prev, b->prev, 32);
    memcpy(rec->key_id, rt_log_key_id_of(keys[b->key]), RT_LOG_KEY_ID_LEN);
    memset(rec->policy_sha256, 0x5a, 32);
    struct rt_strbuf body = {0}, msg = {0};
    char err[RT_LOG_ERR_MAX];
    int r = rt_log_record_body(rec, &body, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EINVAL);
    if (r == 0) {
        uint8_t sig[RT_LOG_SIG_LEN];
        char sig64[RT_LOG_B64_LEN(RT_LOG_SIG_LEN) + 1];
        rt_log_signed_message(ORIGIN, body.s, body.len, &msg);
        FZ_CHECK(!msg.oom && rt_log_key_sign(keys[b->key], msg.s, msg.len, sig) == 0);
        rt_log_b64(sig, sizeof sig, sig64);
        size_t start = b->log.len;
        rt_sb_putn(&b->log, body.s, body.len);
        rt_sb_putn(&b->log, "\t", 1);
        rt_sb_puts(&b->log, sig64);
        size_t len = b->log.len - start;
        rt_sb_putn(&b->log, "\n", 1);
        FZ_CHECK(!b->log.oom);
        uint8_t leaf[32];
        rt_log_sha256(b->log.s + start, len, b->prev);
        rt_merkle_leaf_hash(b->log.s + start, len, leaf);
        rt_merkle_append(&b->tree, leaf);
        b->type[b->n++] = rec->type;
        rt_merkle_root(&b->tree, b->roots[b->n]);
    }
    rt_sb_free(&body);
    rt_sb_free(&msg);
    return r == 0;
}

static void add_genesis(struct build *b) {
    struct rt_log_record rec = {.type = RT_LOG_GENESIS};
    rt_strlcpy(rec.u.genesis.origin, ORIGIN, sizeof rec.u.genesis.origin);
    rt_strlcpy(rec.u.genesis.key_name, rt_log_key_name(keys[0]), sizeof rec.u.genesis.key_name);
    memcpy(rec.u.genesis.public_key, rt_log_key_pub(keys[0]), RT_LOG_PUBKEY_LEN);
    b->key = 0;
    b->used_key[0] = true;
    FZ_CHECK(append(b, &rec));
}

static void add_demote(struct build *b, struct fz_in *in) {
    static const char *const bots[] = {"alpha", "mm-eth-01", "b.2:x"};
    struct rt_log_record rec = {.type = RT_LOG_DEMOTE};
    struct rt_msg_demote *d = &rec.u.demote;
    uint8_t sel = fz_u8(in);
    if (sel < 3)
        fz_str(in, d->bot, sizeof d->bot);
    else
        rt_strlcpy(d->bot, bots[sel % 3], sizeof d->bot);
    d->cond = (enum rt_cond)(fz_u8(in) % RT_COND_COUNT);
    snprintf(d->reason_code, sizeof d->reason_code, "demote.%s", rt_cond_name(d->cond));
    memset(d->request_id, (int)b->n, sizeof d->request_id);
    d->window_start_us = T0 - (int64_t)fz_u32(in);
    d->window_us = (int64_t)fz_u32(in);
    d->decided_at_us = d->window_start_us + d->window_us;
    d->evidence_ts_us = d->decided_at_us;
    d->unknown_us = fz_u8(in);
    d->evidence_known = fz_u8(in) & 1;
    d->evidence_value = (double)(int8_t)fz_u8(in) / 8;
    d->has_threshold = d->cond != RT_COND_P0_ALERT;
    d->threshold = 0.01;
    fz_str(in, d->summary, sizeof d->summary);
    append(b, &rec);
}

static void add_actuated(struct build *b, struct fz_in *in) {
    struct rt_log_record rec = {.type = RT_LOG_ACTUATED};
    uint64_t for_seq = b->n ? fz_u8(in) % b->n : 0;
    rec.u.actuated.for_seq = for_seq;
    rec.u.actuated.http_status = 100 + fz_u16(in) % 520; /* 600..619 are refused */
    fz_str(in, rec.u.actuated.target, sizeof rec.u.actuated.target);
    if (!rec.u.actuated.target[0])
        rt_strlcpy(rec.u.actuated.target, "https://cp.example/demote", sizeof rec.u.actuated.target);
    bool refers_to_demote = for_seq < b->n && b->type[for_seq] == RT_LOG_DEMOTE;
    if (append(b, &rec) && !refers_to_demote)
        b->valid = false;
}

static void add_rotation(struct build *b, struct fz_in *in) {
    int to = (b->key + 1 + fz_u8(in) % (N_KEYS - 1)) % N_KEYS; /* never the key in use */
    struct rt_log_record rec = {.type = RT_LOG_KEY_ROTATION};
    struct rt_log_key_rotation *k = &rec.u.key_rotation;
    rt_strlcpy(k->new_key_name, rt_log_key_name(keys[to]), sizeof k->new_key_name);
    memcpy(k->new_public_key, rt_log_key_pub(keys[to]), RT_LOG_PUBKEY_LEN);
    memcpy(k->new_key_id, rt_log_key_id_of(keys[to]), RT_LOG_KEY_ID_LEN);
    if (append(b, &rec)) { /* signed by the old key; later records by the new one */
        b->key = to;
        b->used_key[to] = true;
        b->rotations++;
    }
}

/* Bytes of a torn write, then the torn_tail record that describes them. */
static void add_torn(struct build *b, struct fz_in *in) {
    const uint8_t *g;
    size_t n = fz_bytes(in, 200, &g);
    if (n == 0)
        return;
    struct rt_log_record rec = {.type = RT_LOG_TORN_TAIL};
    rec.u.torn_tail.offset = b->log.len;
    rec.u.torn_tail.torn_bytes = n;
    rt_log_sha256(g, n, rec.u.torn_tail.torn_sha256);
    size_t mark = b->log.len;
    rt_sb_putn(&b->log, (const char *)g, n);
    rt_sb_putn(&b->log, "\n", 1);
    if (append(b, &rec)) {
        b->torn++;
    } else {
        b->log.len = mark;
    }
}

static void add_record(struct build *b, struct fz_in *in) {
    struct rt_log_record rec;
    memset(&rec, 0, sizeof rec);
    switch (fz_u8(in) % 6) {
    case 0: add_demote(b, in); break;
    case 1:
        rec.type = RT_LOG_WATCHDOG_SILENT;
        rec.u.watchdog_silent.since_us = T0 - (int64_t)fz_u32(in);
        append(b, &rec);
        break;
    case 2:
        rec.type = RT_LOG_WATCHDOG_BACK;
        rec.u.watchdog_back.silent_since_us = T0 - (int64_t)fz_u32(in);
        rec.u.watchdog_back.back_at_us = T0;
        append(b, &rec);
        break;
    case 3: add_actuated(b, in); break;
    case 4: add_rotation(b, in); break;
    default: add_torn(b, in); break;
    }
}

/* A checkpoint of the first `size` records, signed by a key of the log. */
static void sign_note(const struct build *b, struct fz_in *in, uint64_t size, struct rt_strbuf *out) {
    int k = fz_u8(in) % N_KEYS;
    while (!b->used_key[k])
        k = (k + 1) % N_KEYS;
    FZ_CHECK(rt_log_checkpoint_sign(ORIGIN, size, b->roots[size], T0 + (int64_t)size, keys[k], out) == 0);
}

/* ---- damage ---- */

struct text {
    char *s;
    size_t len, cap;
};

static void text_set(struct text *t, const char *s, size_t n, size_t extra) {
    t->cap = n + extra + 1;
    t->s = malloc(t->cap);
    FZ_CHECK(t->s != NULL);
    if (n)
        memcpy(t->s, s, n);
    t->len = n;
}

/* [start, end) of line number `which` (mod the line count). */
static void line_span(const struct text *t, size_t which, size_t *start, size_t *end) {
    size_t lines = 0;
    for (size_t i = 0; i < t->len; i++)
        lines += t->s[i] == '\n';
    lines += t->len && t->s[t->len - 1] != '\n';
    which = lines ? which % lines : 0;
    size_t s = 0;
    for (size_t l = 0; l < which; l++)
        s = (size_t)((char *)memchr(t->s + s, '\n', t->len - s) - t->s) + 1;
    const char *nl = memchr(t->s + s, '\n', t->len - s);
    *start = s;
    *end = nl ? (size_t)(nl - t->s) + 1 : t->len;
}

static void damage(struct text *t, struct fz_in *in) {
    if (t->len == 0)
        return;
    uint8_t op = fz_u8(in);
    size_t pos = fz_u16(in) % t->len;
    size_t a, b, c, d;
    switch (op % 6) {
    case 0: /* flip bits */
        t->s[pos] ^= (char)(fz_u8(in) | 1);
        break;
    case 1: /* truncate */
        t->len = pos;
        break;
    case 2: /* delete a line */
        line_span(t, pos, &a, &b);
        memmove(t->s + a, t->s + b, t->len - b);
        t->len -= b - a;
        break;
    case 3: { /* insert bytes */
        const uint8_t *g;
        size_t n = fz_bytes(in, 64, &g);
        if (t->len + n >= t->cap)
            break;
        memmove(t->s + pos + n, t->s + pos, t->len - pos);
        memcpy(t->s + pos, g, n);
        t->len += n;
        break;
    }
    case 4: /* duplicate a line after itself */
        line_span(t, pos, &a, &b);
        if (t->len + (b - a) >= t->cap)
            break;
        memmove(t->s + b + (b - a), t->s + b, t->len - b);
        memcpy(t->s + b, t->s + a, b - a);
        t->len += b - a;
        break;
    default: { /* swap a line with the next one */
        line_span(t, pos, &a, &b);
        if (b >= t->len)
            break;
        const char *nl = memchr(t->s + b, '\n', t->len - b);
        c = b;
        d = nl ? (size_t)(nl - t->s) + 1 : t->len;
        char *tmp = malloc(b - a);
        FZ_CHECK(tmp != NULL);
        memcpy(tmp, t->s + a, b - a);
        memmove(t->s + a, t->s + c, d - c);
        memcpy(t->s + a + (d - c), tmp, b - a);
        free(tmp);
        break;
    }
    }
}

/* ---- verification ---- */

struct walk {
    uint64_t next;
    bool ok;
};

static int on_record(const struct rt_log_record *rec, void *ud) {
    struct walk *w = ud;
    w->ok &= rec->seq == w->next++;
    return 0;
}

static void verify(const struct build *b, const struct text *log, const struct text *cp, const struct text *hist,
                   bool damaged, struct fz_in *in) {
    const struct rt_log_pubkey *trusted[1] = {rt_log_key_public(keys[0])};
    uint8_t mode = fz_u8(in);
    struct rt_log_verify_opts o = {
        .trusted = trusted,
        .n_trusted = 1,
        .origin = mode & 1 ? ORIGIN : NULL,
        .checkpoint = cp->len ? cp->s : NULL,
        .checkpoint_len = cp->len,
        .history = hist->len ? hist->s : NULL,
        .history_len = hist->len,
        .threads = 1,
    };
    struct rt_log_verify_result res;
    struct rt_log_tail_state tail;
    struct walk w = {.ok = true};
    bool torn_mode = mode & 2;
    int r = torn_mode ? rt_log_verify_internal(log->s, log->len, &o, true, on_record, &w, &res, &tail)
                      : rt_log_verify_buffer(log->s, log->len, &o, &res);
    FZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
    FZ_CHECK(fz_terminated(res.reason, sizeof res.reason));
    FZ_CHECK((r == 0) == res.ok);
    if (r == 0) {
        FZ_CHECK(res.reason[0] == '\0');
        FZ_CHECK(res.records <= b->n && res.records >= 1);
        if (memcmp(res.root, b->roots[res.records], 32) != 0)
            fprintf(stderr, "verified %llu records whose root is not the signed prefix's\n",
                    (unsigned long long)res.records);
        FZ_CHECK(memcmp(res.root, b->roots[res.records], 32) == 0);
        FZ_CHECK(!o.checkpoint || (res.checkpoint_checked && res.checkpoint_size <= res.records));
    } else {
        FZ_CHECK(res.reason[0] != '\0');
    }
    if (torn_mode && r == 0) {
        FZ_CHECK(w.ok && w.next == res.records && tail.records == res.records);
        if (tail.torn)
            FZ_CHECK(tail.torn_offset + tail.torn_bytes + (tail.torn_needs_lf ? 0 : 1) == log->len);
        if (tail.key)
            rt_log_pubkey_free(tail.key);
    }
    if (!damaged) {
        if (r != 0 && b->valid)
            fprintf(stderr, "the undamaged log does not verify: %s\n", res.reason);
        FZ_CHECK((r == 0) == b->valid);
        if (r == 0) {
            FZ_CHECK(res.records == b->n && res.key_rotations == b->rotations && res.torn_tails == b->torn);
            FZ_CHECK(!torn_mode || !tail.torn);
        }
    }
}

/* What the failure pass verifies again (set for the duration of one input). */
static struct {
    const struct text *log, *cp, *hist;
    uint8_t mode;
} again;

static int count_record(const struct rt_log_record *rec, void *ud) {
    (void)rec;
    (*(uint64_t *)ud)++;
    return 0;
}

/* The verification again, for fz_alloc_failure_pass: no invariants. */
static void verify_only(const uint8_t *data, size_t size) {
    (void)data, (void)size;
    const struct rt_log_pubkey *trusted[1] = {rt_log_key_public(keys[0])};
    struct rt_log_verify_opts o = {
        .trusted = trusted,
        .n_trusted = 1,
        .checkpoint = again.cp->len ? again.cp->s : NULL,
        .checkpoint_len = again.cp->len,
        .history = again.hist->len ? again.hist->s : NULL,
        .history_len = again.hist->len,
        .threads = 1,
    };
    struct rt_log_verify_result res;
    struct rt_log_tail_state tail;
    uint64_t n = 0;
    int r = rt_log_verify_internal(again.log->s, again.log->len, &o, again.mode & 2, count_record, &n, &res, &tail);
    if (r == 0 && tail.key)
        rt_log_pubkey_free(tail.key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    struct build *b = calloc(1, sizeof *b);
    FZ_CHECK(b != NULL);
    b->valid = true;
    rt_merkle_init(&b->tree);
    rt_merkle_root(&b->tree, b->roots[0]);
    add_genesis(b);
    size_t want = fz_u8(&in) % MAX_RECORDS;
    while (b->n <= want && in.n > 0)
        add_record(b, &in);

    /* the given checkpoint and a history of non-decreasing sizes */
    struct rt_strbuf note = {0}, history = {0};
    uint8_t notes = fz_u8(&in);
    if (notes & 1)
        sign_note(b, &in, 1 + fz_u8(&in) % b->n, &note);
    uint64_t size_h = 1;
    for (int i = 0; i < (notes >> 1) % 4; i++) {
        struct rt_strbuf one = {0};
        size_h += fz_u8(&in) % 3;
        if (size_h > b->n)
            size_h = b->n;
        sign_note(b, &in, size_h, &one);
        rt_sb_putn(&history, one.s, one.len);
        rt_sb_putn(&history, "\n", 1);
        rt_sb_free(&one);
    }
    FZ_CHECK(!note.oom && !history.oom);

    struct text log, cp, hist;
    text_set(&log, b->log.s, b->log.len, 256);
    text_set(&cp, note.s, note.len, 64);
    text_set(&hist, history.s, history.len, 64);
    uint8_t n_damage = fz_u8(&in) % 4;
    for (uint8_t i = 0; i < n_damage; i++) {
        uint8_t where = fz_u8(&in);
        damage(where < 200 ? &log : where < 228 ? &cp : &hist, &in);
    }
    bool damaged = log.len != b->log.len || memcmp(log.s, b->log.s, log.len) != 0 || cp.len != note.len ||
                   (cp.len && memcmp(cp.s, note.s, cp.len) != 0) || hist.len != history.len ||
                   (hist.len && memcmp(hist.s, history.s, hist.len) != 0);
    uint8_t mode = in.n ? in.p[0] : 0; /* what verify() reads next */
    verify(b, &log, &cp, &hist, damaged, &in);
    again.log = &log;
    again.cp = &cp;
    again.hist = &hist;
    again.mode = mode;
    fz_alloc_failure_pass(verify_only, data, size);

    free(log.s);
    free(cp.s);
    free(hist.s);
    rt_sb_free(&note);
    rt_sb_free(&history);
    rt_sb_free(&b->log);
    free(b);
    return 0;
}
