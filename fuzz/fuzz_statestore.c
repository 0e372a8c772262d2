/* The watchdog's state files, read at every start: the window store
 * (policy/winstore.h over common/journal.h: snapshot + journal, records
 * decoded by rt_engine_decode_bot/decode_clock) and the P0 alert store
 * ("alerts", records decoded by rt_p0track_decode_bot, as watchdog/core.c
 * restores them).
 *
 * Every record is CRC-checked, so random files never reach the decoders.
 * The input is a program instead: the harness writes a snapshot and a
 * journal in the documented format (docs/state-store.md) holding
 * fuzz-chosen keys and values with correct checksums, optionally damages a
 * byte or cuts a file short, then opens the store the way the daemon does,
 * in a private directory under $TMPDIR (emptied before every input).
 *
 * Invariants: open returns 0 or a documented error, with a message when the
 * store is refused; an accepted store can be used (status, observations,
 * time passing: no arithmetic on restored times may overflow), and after a
 * compaction it reopens to exactly the same state (every bot's encoded
 * record is byte-identical). Then a failure pass (fuzz_common.h) opens the
 * same files with one allocation failing: no crash, no leak. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/util.h"
#include "feeds/p0track.h"
#include "fuzz/fuzz_common.h"
#include "policy/winstore.h"

#define NOW_WALL INT64_C(1795000000000000)
#define NOW_MONO INT64_C(3600000000)
#define BOT_RECORD_LEN 218 /* engine bot record v1: 18 + 4 * 50 bytes */
#define CLOCK_RECORD_LEN 18

static char dir[4096];
static struct rt_policy *policy;

static void remove_dir(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[4400];
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
            unlink(p);
    }
    if (d)
        closedir(d);
}

static void cleanup_at_exit(void) {
    remove_dir();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ratchet-fuzz-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir) || rt_policy_default(&policy) < 0)
        abort();
    atexit(cleanup_at_exit);
    return 0;
}

/* Durability is not under test: skip the syncs (keep writes and renames). */
static ssize_t op_write(void *ctx, int fd, const void *buf, size_t len) {
    (void)ctx;
    ssize_t n = write(fd, buf, len);
    return n < 0 ? -errno : n;
}
static int op_sync(void *ctx, int fd) { return (void)ctx, (void)fd, 0; }
static int op_rename(void *ctx, const char *from, const char *to) {
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}
static int op_sync_dir(void *ctx, const char *d) { return (void)ctx, (void)d, 0; }
static const struct rt_journal_ops ops = {op_write, op_sync, op_rename, op_sync_dir, NULL};

/* ---- writing the files ---- */

struct file {
    uint8_t *b;
    size_t len, cap;
};

static void put(struct file *f, const void *p, size_t n) {
    if (f->len + n > f->cap) {
        f->cap = (f->len + n) * 2;
        f->b = realloc(f->b, f->cap);
        FZ_CHECK(f->b != NULL);
    }
    if (n)
        memcpy(f->b + f->len, p, n);
    f->len += n;
}

static void put_le(struct file *f, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(f, b, (size_t)bytes);
}

static void put_header(struct file *f, const char *magic, uint64_t gen) {
    size_t at = f->len;
    put(f, magic, 8);
    put_le(f, 1, 4); /* version */
    put_le(f, 0, 4); /* flags */
    put_le(f, gen, 8);
    put_le(f, 0, 4); /* reserved */
    put_le(f, rt_crc32c(f->b + at, 28), 4);
}

static void put_record(struct file *f, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    size_t at = f->len;
    put_le(f, 2 + klen + vlen, 4);
    put_le(f, 0, 4); /* CRC, below */
    put_le(f, klen, 2);
    put(f, key, klen);
    put(f, val, vlen);
    uint32_t crc = rt_crc32c(f->b + at, 4);
    crc = rt_crc32c_extend(crc, f->b + at + 8, 2 + klen + vlen);
    for (int i = 0; i < 4; i++)
        f->b[at + 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

static void put_footer(struct file *f, uint64_t records) {
    uint64_t body = f->len - 32;
    size_t at = f->len;
    put_le(f, 0xFFFFFFFFu, 4);
    put_le(f, 0, 4);
    put_le(f, records, 8);
    put_le(f, body, 8);
    uint32_t crc = rt_crc32c(f->b + at + 8, 16);
    for (int i = 0; i < 4; i++)
        f->b[at + 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

/* A key and value chosen by the input, shaped for the store being built. */
static void gen_record(struct fz_in *in, bool windows, uint8_t *key, size_t *klen, uint8_t *val, size_t *vlen) {
    static const char *const bots[] = {"alpha", "mm-eth-01", "b.2:x"};
    uint8_t kind = fz_u8(in);
    const char *bot = bots[kind % 3];
    if ((kind >> 2) % 8 == 7) { /* any key */
        const uint8_t *k;
        *klen = fz_bytes(in, 255, &k);
        memcpy(key, k, *klen);
        if (*klen == 0)
            key[(*klen)++] = 'k';
    } else if (windows && (kind >> 2) % 8 == 6) {
        *klen = 5;
        memcpy(key, "clock", 5);
    } else {
        *klen = (size_t)snprintf((char *)key, 256, windows ? "b:%s" : "%s", bot);
    }
    size_t want;
    size_t prefix = 0;
    if (*klen == 5 && memcmp(key, "clock", 5) == 0) {
        static const char boot[] = "boot-a"; /* boot id NUL clock record */
        memcpy(val, boot, sizeof boot);
        prefix = sizeof boot;
        val[prefix++] = 1; /* CLOCK_RECORD_VERSION */
        want = CLOCK_RECORD_LEN - 1;
    } else if (windows && (kind >> 5) != 7) {
        val[prefix++] = 1; /* BOT_RECORD_VERSION */
        want = BOT_RECORD_LEN - 1;
    } else {
        want = fz_u16(in) % 1024;
    }
    const uint8_t *v;
    size_t got = 0;
    while (got < want && in->n > 0) {
        size_t n = fz_bytes(in, want - got, &v);
        if (n == 0)
            break;
        memcpy(val + prefix + got, v, n);
        got += n;
    }
    *vlen = prefix + got;
}

static void write_file(const char *name, const struct file *f) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FZ_CHECK(fd >= 0);
    FZ_CHECK(f->len == 0 || write(fd, f->b, f->len) == (ssize_t)f->len);
    close(fd);
}

static void damage(struct file *f, struct fz_in *in) {
    uint8_t op = fz_u8(in);
    if (f->len == 0 || op < 192)
        return;
    size_t pos = fz_u16(in) % f->len;
    if (op & 1)
        f->b[pos] ^= (uint8_t)(fz_u8(in) | 1);
    else
        f->len = pos;
}

/* Builds NAME.snap (generation gen) and NAME.journal.gen from the input. */
static void build_store(struct fz_in *in, const char *name, bool windows) {
    struct file snap = {0}, jrnl = {0};
    static uint8_t key[256], val[2048];
    uint64_t gen = 1 + fz_u8(in) % 3;
    put_header(&snap, "RTCHSNAP", gen);
    put_header(&jrnl, "RTCHJRNL", gen);
    uint8_t counts = fz_u8(in);
    size_t n_snap = (counts & 15) % 6, n_jrnl = (counts >> 4) % 6;
    for (size_t i = 0; i < n_snap + n_jrnl; i++) {
        size_t klen, vlen;
        gen_record(in, windows, key, &klen, val, &vlen);
        put_record(i < n_snap ? &snap : &jrnl, key, klen, val, vlen);
    }
    put_footer(&snap, n_snap);
    damage(&snap, in);
    damage(&jrnl, in);
    char fname[64];
    snprintf(fname, sizeof fname, "%s.snap", name);
    write_file(fname, &snap);
    snprintf(fname, sizeof fname, "%s.journal.%llu", name, (unsigned long long)gen);
    write_file(fname, &jrnl);
    free(snap.b);
    free(jrnl.b);
}

/* ---- the window store ---- */

struct bots {
    char id[16][RT_BOT_ID_MAX + 1];
    size_t n;
};

static void collect_bot(const char *bot, void *ud) {
    struct bots *b = ud;
    if (b->n < 16)
        rt_strlcpy(b->id[b->n++], bot, sizeof b->id[0]);
}

static void no_decision(const struct rt_decision *d, void *ud) {
    (void)d, (void)ud;
}

/* Status, fresh evidence and time passing on the restored engine. */
static void exercise(struct rt_engine *e, const struct bots *b, struct rt_now now) {
    for (size_t i = 0; i < b->n; i++)
        for (int c = 0; c < RT_COND_COUNT; c++) {
            struct rt_cond_status st;
            FZ_CHECK(rt_engine_cond_status(e, b->id[i], (enum rt_cond)c, now, &st) == 0);
            struct rt_obs o = {.bot = b->id[i], .cond = (enum rt_cond)c, .ts_us = now.wall_us, .known = true,
                               .value = c == RT_COND_CVSS ? 9.0 : 1.0,
                               .has_tolerance = c == RT_COND_RECON_DRIFT};
            FZ_CHECK(rt_engine_observe(e, &o, now, no_decision, NULL) == 0);
        }
    static const int64_t steps[] = {1, INT64_C(86400000000), RT_POLICY_MAX_DURATION_US};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
        FZ_CHECK(rt_engine_advance(e, (struct rt_now){now.wall_us + steps[s], now.mono_us + steps[s]}, no_decision,
                                   NULL) == 0);
}

static int open_windows(struct rt_engine **e, struct rt_winstore **w, const char *boot, struct rt_now now,
                        bool must) {
    struct rt_journal_load_report rep;
    *e = rt_engine_new(policy);
    FZ_CHECK(*e != NULL);
    int r = rt_winstore_open(dir, *e, boot, now, &ops, w, &rep);
    FZ_CHECK(fz_terminated(rep.message, sizeof rep.message));
    if (r == -EBADMSG)
        FZ_CHECK(rep.message[0]);
    if (r < 0 && must)
        fprintf(stderr, "the compacted window store does not reopen: %d %s\n", r, rep.message);
    if (r < 0) {
        rt_engine_free(*e);
        *e = NULL;
    }
    return r;
}

static void encode_all(const struct rt_engine *e, const struct bots *b, uint8_t (*out)[RT_BOT_RECORD_MAX], int *len) {
    for (size_t i = 0; i < b->n; i++) {
        len[i] = rt_engine_encode_bot(e, b->id[i], out[i], RT_BOT_RECORD_MAX);
        FZ_CHECK(len[i] > 0);
    }
}

static void windows_case(struct fz_in *in) {
    build_store(in, "windows", true);
    const char *boot = fz_u8(in) & 1 ? "boot-a" : "boot-b";
    struct rt_now now = {NOW_WALL, NOW_MONO};
    struct rt_engine *e;
    struct rt_winstore *w;
    int r = open_windows(&e, &w, boot, now, false);
    FZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM || r == -EIO);
    if (r < 0)
        return;
    static struct bots b;
    b.n = 0;
    rt_engine_foreach_bot(e, collect_bot, &b);
    static uint8_t before[16][RT_BOT_RECORD_MAX], after[16][RT_BOT_RECORD_MAX];
    int lb[16], la[16];
    encode_all(e, &b, before, lb);
    FZ_CHECK(rt_winstore_compact(w) == 0);
    rt_winstore_close(w);

    /* the compacted store holds exactly the restored state */
    struct rt_engine *e2;
    struct rt_winstore *w2;
    FZ_CHECK(open_windows(&e2, &w2, boot, now, true) == 0);
    FZ_CHECK(rt_engine_bot_count(e2) == b.n);
    encode_all(e2, &b, after, la);
    for (size_t i = 0; i < b.n; i++)
        FZ_CHECK(la[i] == lb[i] && memcmp(before[i], after[i], (size_t)lb[i]) == 0);
    exercise(e2, &b, now);
    FZ_CHECK(rt_winstore_commit(w2) == 0);
    rt_winstore_close(w2);
    rt_engine_free(e2);
    rt_engine_free(e);
}

/* ---- the P0 alert store (watchdog/core.c restore_p0) ---- */

static int restore_p0(const struct rt_journal_record *rec, void *ud) {
    char bot[RT_BOT_ID_MAX + 1];
    if (rec->key_len == 0 || rec->key_len > RT_BOT_ID_MAX)
        return -EBADMSG;
    memcpy(bot, rec->key, rec->key_len);
    bot[rec->key_len] = '\0';
    if (rec->value_len == 0)
        return 0;
    return rt_p0track_decode_bot(ud, bot, rec->value, rec->value_len);
}

static void roundtrip_p0(const char *bot, void *ud) {
    static uint8_t a[RT_P0_RECORD_MAX], b[RT_P0_RECORD_MAX];
    int n = rt_p0track_encode_bot(ud, bot, a, sizeof a);
    FZ_CHECK(n > 0);
    struct rt_p0track *t2 = rt_p0track_new();
    FZ_CHECK(t2 && rt_p0track_decode_bot(t2, bot, a, (size_t)n) == 0);
    FZ_CHECK(rt_p0track_encode_bot(t2, bot, b, sizeof b) == n && memcmp(a, b, (size_t)n) == 0);
    struct rt_p0_bot_status st;
    FZ_CHECK(rt_p0track_bot_status(t2, bot, &st) == 0);
    rt_p0track_free(t2);
}

static void alerts_case(struct fz_in *in) {
    build_store(in, "alerts", false);
    struct rt_p0track *t = rt_p0track_new();
    FZ_CHECK(t != NULL);
    struct rt_journal *j = NULL;
    struct rt_journal_load_report rep;
    int r = rt_journal_open(dir, "alerts", &ops, restore_p0, t, &j, &rep);
    FZ_CHECK(fz_terminated(rep.message, sizeof rep.message));
    if (r == 0) {
        rt_p0track_foreach_bot(t, roundtrip_p0, t);
        rt_journal_close(j);
    }
    rt_p0track_free(t);
}

/* The same files opened again, for fz_alloc_failure_pass: no invariants,
 * but every error path of the journal, the window store and the decoders
 * must free what it took. */
static void open_only(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    bool was = fz_alloc_pause();
    remove_dir();
    bool alerts = fz_u8(&in) & 1;
    build_store(&in, alerts ? "alerts" : "windows", !alerts);
    const char *boot = fz_u8(&in) & 1 ? "boot-a" : "boot-b";
    struct rt_engine *e = rt_engine_new(policy);
    struct rt_p0track *t = rt_p0track_new();
    FZ_CHECK(e && t);
    fz_alloc_resume(was);
    struct rt_journal_load_report rep;
    if (alerts) {
        struct rt_journal *j = NULL;
        if (rt_journal_open(dir, "alerts", &ops, restore_p0, t, &j, &rep) == 0)
            rt_journal_close(j);
    } else {
        struct rt_winstore *w = NULL;
        if (rt_winstore_open(dir, e, boot, (struct rt_now){NOW_WALL, NOW_MONO}, &ops, &w, &rep) == 0) {
            rt_winstore_compact(w);
            rt_winstore_close(w);
        }
    }
    rt_p0track_free(t);
    rt_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    remove_dir();
    if (fz_u8(&in) & 1)
        alerts_case(&in);
    else
        windows_case(&in);
    fz_alloc_failure_pass(open_only, data, size);
    return 0;
}
