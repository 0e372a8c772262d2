/* Tests for the command log writer (cmdlog/writer.c): round trip, torn
 * writes at every byte offset, I/O faults through the ops hooks (ENOSPC,
 * EIO, short writes, fsync EIO), key rotation, locking, chattr +a, and the
 * refusals that keep a damaged or rolled-back log from being continued. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/codec.h"
#include "cmdlog/logkey.h"
#include "cmdlog/record.h"
#include "cmdlog/verify.h"
#include "cmdlog/writer.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "tests/unit/harness.h"

#define ORIGIN "ratchet.test/commands"
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static const uint8_t policy_hash[32] = {0xaa, 0xbb, 0xcc};

/* ---- scratch files ---- */

_printf_(2, 3) static void pathf(char buf[PATH_MAX], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX)
        abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static char *read_text(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    if (rt_read_file_bounded(path, 64u << 20, &data, &n) < 0)
        return NULL;
    if (len)
        *len = n;
    return data;
}

static void write_text(const char *path, const char *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || rt_write_all(fd, data, len) < 0)
        abort();
    close(fd);
}

static void append_text(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || rt_write_all(fd, data, strlen(data)) < 0)
        abort();
    close(fd);
}

/* ---- fault-injecting I/O ---- */

struct faults {
    int64_t now;
    int writes, syncs, renames;
    int fail_write_at, write_errno; /* nth write call fails (1-based) */
    int short_write_at;             /* nth write call writes at most short_bytes */
    size_t short_bytes;
    int eintr_at;                   /* nth write call returns -EINTR */
    int fail_sync_at;
    int fail_rename_at;
};

static ssize_t f_write(void *ctx, int fd, const void *buf, size_t len) {
    struct faults *f = ctx;
    f->writes++;
    if (f->writes == f->eintr_at)
        return -EINTR;
    if (f->writes == f->fail_write_at)
        return -f->write_errno;
    if (f->writes == f->short_write_at && len > f->short_bytes)
        len = f->short_bytes;
    ssize_t n = write(fd, buf, len);
    return n < 0 ? -errno : n;
}

static int f_sync(void *ctx, int fd) {
    struct faults *f = ctx;
    (void)fd;
    return ++f->syncs == f->fail_sync_at ? -EIO : 0;
}

static int f_rename(void *ctx, const char *from, const char *to) {
    struct faults *f = ctx;
    if (++f->renames == f->fail_rename_at)
        return -EIO;
    return rename(from, to) < 0 ? -errno : 0;
}

static int f_sync_dir(void *ctx, const char *dir) { return (void)ctx, (void)dir, 0; }
static int64_t f_now(void *ctx) { return ((struct faults *)ctx)->now += 1000000; }

struct env {
    char dir[PATH_MAX], path[PATH_MAX], cp_path[PATH_MAX], hist_path[PATH_MAX];
    struct rt_log_key *key;
    struct faults f;
    struct rt_logw_ops ops;
    struct rt_logw_options opts;
};

static void env_init(struct env *e) {
    memset(e, 0, sizeof *e);
    pathf(e->dir, "/tmp/rt-cmdlogw-test-XXXXXX");
    if (!mkdtemp(e->dir) || rt_log_key_generate("enforcer-a", &e->key) < 0)
        abort();
    pathf(e->path, "%s/%s", e->dir, RT_LOGW_FILE);
    pathf(e->cp_path, "%s/%s", e->dir, RT_LOGW_CHECKPOINT);
    pathf(e->hist_path, "%s/%s", e->dir, RT_LOGW_HISTORY);
    e->f.now = T0;
    e->ops = (struct rt_logw_ops){f_write, f_sync, f_rename, f_sync_dir, f_now, &e->f};
    e->opts = (struct rt_logw_options){.ops = &e->ops, .threads = 1};
}

static void env_free(struct env *e) {
    nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    rt_log_key_free(e->key);
}

static void faults_reset(struct faults *f) {
    int64_t now = f->now;
    memset(f, 0, sizeof *f);
    f->now = now;
}

static int env_open(struct env *e, struct rt_logw **w, struct rt_logw_report *rep) {
    return rt_logw_open_ex(e->dir, ORIGIN, e->key, policy_hash, &e->opts, NULL, NULL, w, rep);
}

static void fill_demote(struct rt_log_record *r, int i) {
    memset(r, 0, sizeof *r);
    r->type = RT_LOG_DEMOTE;
    struct rt_msg_demote *d = &r->u.demote;
    d->request_id[0] = (uint8_t)i;
    snprintf(d->bot, sizeof d->bot, "bot-%d", i);
    d->cond = RT_COND_CVSS;
    rt_strlcpy(d->reason_code, "demote.cvss", sizeof d->reason_code);
    d->window_start_us = T0;
    d->window_us = INT64_C(86400000000);
    d->decided_at_us = T0 + d->window_us;
    d->evidence_ts_us = d->decided_at_us;
    d->evidence_known = true;
    d->evidence_value = 9.8;
    d->has_threshold = true;
    d->threshold = 7.0;
    snprintf(d->summary, sizeof d->summary, "CVSS 9.8 finding open for 24h on bot-%d", i);
}

static int append_demote(struct rt_logw *w, int i, uint64_t *seq) {
    struct rt_log_record r;
    fill_demote(&r, i);
    return rt_logw_append(w, &r, seq);
}

/* A closed log of `records` records (genesis + demotes). */
static void make_log(struct env *e, int records) {
    struct rt_logw *w = NULL;
    if (env_open(e, &w, NULL) < 0)
        abort();
    for (int i = 1; i < records; i++)
        if (append_demote(w, i, NULL) < 0)
            abort();
    rt_logw_close(w);
}

static int verify_path(const char *path, const struct rt_log_pubkey *k, const char *cp,
                       struct rt_log_verify_result *res) {
    const struct rt_log_pubkey *t[1] = {k};
    struct rt_log_verify_opts o = {
        .trusted = t, .n_trusted = 1, .checkpoint = cp, .checkpoint_len = cp ? strlen(cp) : 0, .threads = 1};
    int r = rt_log_verify_file(path, &o, res);
    if (r < 0)
        fprintf(stderr, "    verify: %s\n", res->reason);
    return r;
}

/* ---- round trip ---- */

struct seen {
    int n;
    enum rt_log_type types[32];
    uint64_t seqs[32];
    char bots[32][RT_BOT_ID_MAX + 1];
    int64_t ts[32];
};

static int collect(const struct rt_log_record *rec, void *ud) {
    struct seen *s = ud;
    if (s->n < 32) {
        s->types[s->n] = rec->type;
        s->seqs[s->n] = rec->seq;
        s->ts[s->n] = rec->ts_us;
        if (rec->type == RT_LOG_DEMOTE)
            rt_strlcpy(s->bots[s->n], rec->u.demote.bot, sizeof s->bots[0]);
    }
    s->n++;
    return 0;
}

TEST(writer_round_trip_delivers_every_record_in_order) {
    struct env e;
    env_init(&e);
    struct seen s = {0};
    struct rt_logw *w = NULL;
    struct rt_logw_report rep;
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, e.key, policy_hash, &e.opts, collect, &s, &w, &rep) == 0);
    CHECK(rep.created);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.types[0], RT_LOG_GENESIS);
    uint64_t seq = 0, demote_seq = 0;
    CHECK(append_demote(w, 1, &demote_seq) == 0 && demote_seq == 1);
    struct rt_log_record r = {.type = RT_LOG_WATCHDOG_SILENT};
    r.u.watchdog_silent.since_us = T0;
    CHECK(rt_logw_append(w, &r, &seq) == 0 && seq == 2);
    CHECK(r.seq == 2 && r.ts_us > T0 && memcmp(r.policy_sha256, policy_hash, 32) == 0); /* filled in */
    r = (struct rt_log_record){.type = RT_LOG_WATCHDOG_BACK};
    r.u.watchdog_back.silent_since_us = T0;
    r.u.watchdog_back.back_at_us = T0 + 60000000;
    CHECK(rt_logw_append(w, &r, &seq) == 0 && seq == 3);
    r = (struct rt_log_record){.type = RT_LOG_ACTUATED};
    r.u.actuated.for_seq = demote_seq;
    rt_strlcpy(r.u.actuated.target, "control-plane", sizeof r.u.actuated.target);
    r.u.actuated.http_status = 200;
    CHECK(rt_logw_append(w, &r, &seq) == 0 && seq == 4);
    CHECK_EQ_INT(rt_logw_size(w), 5);
    uint8_t root[32];
    rt_logw_root(w, root);
    CHECK(rt_logw_checkpoint(w, T0 + 99) == 0);
    rt_logw_close(w);

    struct stat st;
    CHECK(stat(e.cp_path, &st) == 0 && (st.st_mode & 0777) == 0644);
    memset(&s, 0, sizeof s);
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, e.key, policy_hash, &e.opts, collect, &s, &w, &rep) == 0);
    CHECK(!rep.created && rep.records == 5 && rep.had_checkpoint && rep.checkpoint_size == 5);
    CHECK_EQ_INT(s.n, 5);
    static const enum rt_log_type want[] = {RT_LOG_GENESIS, RT_LOG_DEMOTE, RT_LOG_WATCHDOG_SILENT,
                                            RT_LOG_WATCHDOG_BACK, RT_LOG_ACTUATED};
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(s.types[i], want[i]);
        CHECK_EQ_INT(s.seqs[i], i);
        CHECK(i == 0 || s.ts[i] > s.ts[i - 1]);
    }
    CHECK_EQ_STR(s.bots[1], "bot-1");
    uint8_t root2[32];
    rt_logw_root(w, root2);
    CHECK(memcmp(root, root2, 32) == 0);
    rt_logw_close(w);

    char *cp = read_text(e.cp_path, NULL);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), cp, &res), 0);
    CHECK(res.checkpoint_checked && memcmp(res.root, root, 32) == 0);
    free(cp);
    env_free(&e);
}

TEST(writer_refuses_records_it_does_not_own_without_failing) {
    struct env e;
    env_init(&e);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    static const enum rt_log_type own[] = {RT_LOG_GENESIS, RT_LOG_TORN_TAIL, RT_LOG_KEY_ROTATION, 0, 99};
    for (size_t i = 0; i < ELEMENTSOF(own); i++) {
        struct rt_log_record r = {.type = own[i]};
        CHECK_EQ_INT(rt_logw_append(w, &r, NULL), -EINVAL);
    }
    struct rt_log_record r = {.type = RT_LOG_ACTUATED};
    r.u.actuated.for_seq = 0; /* the genesis record, not a demote */
    r.u.actuated.http_status = 200;
    rt_strlcpy(r.u.actuated.target, "cp", sizeof r.u.actuated.target);
    CHECK_EQ_INT(rt_logw_append(w, &r, NULL), -EINVAL);
    fill_demote(&r, 1);
    rt_strlcpy(r.u.demote.reason_code, "Demote!", sizeof r.u.demote.reason_code);
    CHECK_EQ_INT(rt_logw_append(w, &r, NULL), -EINVAL);
    CHECK(strstr(rt_logw_last_error(w), "reason_code") != NULL);
    CHECK(!rt_logw_failed(w));
    CHECK_EQ_INT(rt_logw_size(w), 1);
    uint64_t seq = 0;
    CHECK(append_demote(w, 2, &seq) == 0 && seq == 1);
    rt_logw_close(w);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK_EQ_INT(res.records, 2);
    env_free(&e);
}

/* ---- torn writes ---- */

TEST(torn_write_at_every_byte_offset_of_the_last_record) {
    struct env e;
    env_init(&e);
    make_log(&e, 4);
    size_t full_len = 0;
    char *full = read_text(e.path, &full_len);
    REQUIRE(full);
    size_t start = full_len - 1;
    while (start > 0 && full[start - 1] != '\n')
        start--;
    size_t line_len = full_len - start; /* with LF */
    int bad = 0;
    for (size_t k = 0; k <= line_len; k++) {
        write_text(e.path, full, start + k);
        unlink(e.hist_path);
        struct rt_log_verify_result res;
        const struct rt_log_pubkey *t[1] = {rt_log_key_public(e.key)};
        struct rt_log_verify_opts vo = {.trusted = t, .n_trusted = 1, .threads = 1, .no_history_file = true};
        int vr = rt_log_verify_file(e.path, &vo, &res);
        bool torn = k > 0 && k < line_len;
        /* Before recovery a torn tail is not valid data. */
        if (torn && (vr != -EBADMSG || !res.has_bad_seq || res.bad_seq != 3))
            bad++;
        struct rt_logw *w = NULL;
        struct rt_logw_report rep;
        int r = env_open(&e, &w, &rep);
        if (r < 0) {
            fprintf(stderr, "    k=%zu: open: %s\n", k, rep.message);
            bad++;
            continue;
        }
        if (rep.torn_tail != torn || rep.records != (k == line_len ? 4u : 3u))
            bad++;
        if (torn && (rep.torn_offset != start || rep.torn_bytes != (k < line_len ? k : k - 1) || rep.torn_seq != 3 ||
                     rt_logw_size(w) != 4))
            bad++;
        rt_logw_close(w);
        size_t now_len = 0;
        char *now = read_text(e.path, &now_len);
        /* kept, never truncated */
        if (!now || now_len < start + k || memcmp(now, full, start + k) != 0)
            bad++;
        free(now);
        vr = rt_log_verify_file(e.path, &vo, &res);
        if (vr != 0 || res.records != (k == 0 ? 3u : 4u) || res.torn_tails != (torn ? 1u : 0u)) {
            fprintf(stderr, "    k=%zu: after recovery: %s\n", k, res.reason);
            bad++;
        }
        /* Reopening a recovered log adds nothing. */
        if (torn && k % 97 == 1) {
            if (env_open(&e, &w, &rep) < 0 || rep.torn_tail || rt_logw_size(w) != 4)
                bad++;
            rt_logw_close(w);
        }
    }
    CHECK_EQ_INT(bad, 0);
    free(full);
    env_free(&e);
}

TEST(torn_tail_rules_for_damaged_complete_lines) {
    struct env e;
    env_init(&e);
    make_log(&e, 4);
    size_t len = 0;
    char *full = read_text(e.path, &len);
    REQUIRE(full);
    struct rt_logw *w = NULL;
    struct rt_logw_report rep;
    struct rt_log_verify_result res;

    /* The last complete line does not verify and nothing follows: torn. */
    char *copy = strdup(full);
    copy[len - 20] ^= 1;
    write_text(e.path, copy, len);
    CHECK(env_open(&e, &w, &rep) == 0 && rep.torn_tail && rep.torn_bytes == len - 1 - rep.torn_offset);
    rt_logw_close(w);
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);

    /* The same damage in the middle, valid records after it: refused. */
    memcpy(copy, full, len);
    size_t mid = (size_t)(strchr(strchr(copy, '\n') + 1, '\n') - copy) - 20; /* inside line 1 */
    copy[mid] ^= 1;
    write_text(e.path, copy, len);
    CHECK_EQ_INT(env_open(&e, &w, &rep), -EBADMSG);
    CHECK(rep.has_bad_seq && rep.bad_seq == 1 && strstr(rep.message, "seq 1:"));

    /* A crash during recovery: torn line, LF, then a torn torn_tail line.
     * One torn_tail record then covers both. */
    struct rt_strbuf b = {0};
    rt_sb_putn(&b, full, len);
    rt_sb_puts(&b, "{\"v\":1,\"seq\":4,\"ts\":\"2026\n{\"v\":1,\"seq\":4,\"ty");
    write_text(e.path, b.s, b.len);
    CHECK(env_open(&e, &w, &rep) == 0 && rep.torn_tail && rep.torn_offset == len);
    rt_logw_close(w);
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK(res.torn_tails == 1 && res.records == 5);

    /* A torn_tail record whose hash does not match the bytes before it. */
    size_t now_len = 0;
    char *now = read_text(e.path, &now_len);
    now[len + 3] ^= 1; /* inside the torn bytes */
    write_text(e.path, now, now_len);
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), -EBADMSG);
    CHECK(res.has_bad_seq && res.bad_seq == 4 && strstr(res.reason, "SHA-256"));
    free(now);
    rt_sb_free(&b);
    free(copy);
    free(full);
    env_free(&e);
}

/* ---- I/O faults ---- */

TEST(enospc_on_append_fails_the_writer_and_leaves_the_log_valid) {
    struct env e;
    env_init(&e);
    make_log(&e, 3);
    size_t before = 0;
    free(read_text(e.path, &before));
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    faults_reset(&e.f);
    e.f.fail_write_at = 1;
    e.f.write_errno = ENOSPC;
    CHECK_EQ_INT(append_demote(w, 9, NULL), -EIO);
    CHECK(rt_logw_failed(w));
    CHECK(strstr(rt_logw_last_error(w), "No space left on device") != NULL);
    faults_reset(&e.f);
    CHECK_EQ_INT(append_demote(w, 10, NULL), -EIO); /* failed for good */
    CHECK_EQ_INT(rt_logw_checkpoint(w, T0), -EIO);
    CHECK_EQ_INT(e.f.writes, 0);
    rt_logw_close(w);
    size_t after = 0;
    free(read_text(e.path, &after));
    CHECK_EQ_INT(after, before);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK_EQ_INT(res.records, 3);
    env_free(&e);
}

TEST(short_write_then_eio_leaves_a_torn_tail_nothing_valid) {
    struct env e;
    env_init(&e);
    make_log(&e, 3);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    faults_reset(&e.f);
    e.f.short_write_at = 1;
    e.f.short_bytes = 100;
    e.f.fail_write_at = 2;
    e.f.write_errno = EIO;
    CHECK_EQ_INT(append_demote(w, 9, NULL), -EIO);
    CHECK(rt_logw_failed(w));
    rt_logw_close(w);
    struct rt_log_verify_result res;
    const struct rt_log_pubkey *t[1] = {rt_log_key_public(e.key)};
    struct rt_log_verify_opts vo = {.trusted = t, .n_trusted = 1, .threads = 1};
    CHECK_EQ_INT(rt_log_verify_file(e.path, &vo, &res), -EBADMSG);
    CHECK(res.has_bad_seq && res.bad_seq == 3 && strstr(res.reason, "incomplete last line (100 bytes"));
    CHECK_EQ_INT(res.records, 3);
    struct rt_logw_report rep;
    faults_reset(&e.f);
    REQUIRE(env_open(&e, &w, &rep) == 0);
    CHECK(rep.torn_tail && rep.torn_bytes == 100 && rep.torn_seq == 3);
    CHECK(append_demote(w, 9, NULL) == 0); /* the retry, by the restarted caller */
    rt_logw_close(w);
    CHECK_EQ_INT(rt_log_verify_file(e.path, &vo, &res), 0);
    CHECK(res.records == 5 && res.torn_tails == 1);
    env_free(&e);
}

TEST(short_writes_that_progress_and_eintr_are_continued) {
    struct env e;
    env_init(&e);
    make_log(&e, 2);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    faults_reset(&e.f);
    e.f.short_write_at = 1;
    e.f.short_bytes = 7;
    e.f.eintr_at = 2;
    CHECK(append_demote(w, 3, NULL) == 0);
    CHECK(e.f.writes >= 3);
    CHECK(!rt_logw_failed(w));
    rt_logw_close(w);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK_EQ_INT(res.records, 3);
    env_free(&e);
}

TEST(fsync_eio_fails_the_writer_and_is_never_retried) {
    struct env e;
    env_init(&e);
    make_log(&e, 2);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    faults_reset(&e.f);
    e.f.fail_sync_at = 1;
    CHECK_EQ_INT(append_demote(w, 3, NULL), -EIO);
    CHECK(rt_logw_failed(w));
    CHECK(strstr(rt_logw_last_error(w), "fdatasync") != NULL);
    CHECK_EQ_INT(append_demote(w, 4, NULL), -EIO);
    CHECK_EQ_INT(e.f.syncs, 1); /* no second fsync */
    rt_logw_close(w);
    /* The whole line reached the file (page cache): it is a valid record
     * whose durability was unknown; the caller never acknowledged it. */
    struct seen s = {0};
    struct rt_logw_report rep;
    faults_reset(&e.f);
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, e.key, policy_hash, &e.opts, collect, &s, &w, &rep) == 0);
    CHECK(!rep.torn_tail && s.n == 3 && strcmp(s.bots[2], "bot-3") == 0);
    rt_logw_close(w);
    env_free(&e);
}

/* Group commit: deferred appends are written at once and made durable by
 * one fdatasync, in rt_logw_sync() or before a checkpoint covers them; a
 * failed sync fails the writer like a failed append. */
TEST(deferred_appends_are_synced_once_by_sync_or_checkpoint) {
    struct env e;
    env_init(&e);
    make_log(&e, 2);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    faults_reset(&e.f);
    rt_logw_defer_sync(w);
    for (int i = 3; i < 6; i++)
        REQUIRE(append_demote(w, i, NULL) == 0);
    CHECK_EQ_INT(e.f.writes, 3);
    CHECK_EQ_INT(e.f.syncs, 0);
    CHECK_EQ_INT(rt_logw_size(w), 5);
    REQUIRE(rt_logw_sync(w) == 0);
    CHECK_EQ_INT(e.f.syncs, 1);
    REQUIRE(rt_logw_sync(w) == 0); /* nothing left: no fdatasync */
    CHECK_EQ_INT(e.f.syncs, 1);
    REQUIRE(append_demote(w, 6, NULL) == 0); /* deferral ended: synced at once */
    CHECK_EQ_INT(e.f.syncs, 2);
    rt_logw_defer_sync(w);
    REQUIRE(append_demote(w, 7, NULL) == 0);
    CHECK_EQ_INT(e.f.syncs, 2);
    REQUIRE(rt_logw_checkpoint(w, T0 + 100) == 0);
    CHECK_EQ_INT(e.f.syncs, 5); /* the log first, then the history and the checkpoint file */
    REQUIRE(append_demote(w, 8, NULL) == 0);
    e.f.fail_sync_at = e.f.syncs + 1;
    CHECK_EQ_INT(rt_logw_sync(w), -EIO);
    CHECK(rt_logw_failed(w));
    CHECK_EQ_INT(append_demote(w, 9, NULL), -EIO);
    rt_logw_close(w);
    struct seen s = {0};
    struct rt_logw_report rep;
    faults_reset(&e.f);
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, e.key, policy_hash, &e.opts, collect, &s, &w, &rep) == 0);
    CHECK(!rep.torn_tail && s.n == 8); /* genesis .. bot-8: written, the last durability unknown */
    rt_logw_close(w);
    env_free(&e);
}

TEST(checkpoint_faults_fail_the_writer_and_keep_the_old_checkpoint) {
    struct env e;
    env_init(&e);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    CHECK(rt_logw_checkpoint(w, T0 + 1) == 0);
    char *first = read_text(e.cp_path, NULL);
    CHECK(append_demote(w, 1, NULL) == 0);
    faults_reset(&e.f);
    e.f.fail_rename_at = 1;
    CHECK_EQ_INT(rt_logw_checkpoint(w, T0 + 2), -EIO);
    CHECK(rt_logw_failed(w));
    rt_logw_close(w);
    char *after = read_text(e.cp_path, NULL);
    CHECK(first && after && strcmp(first, after) == 0);
    /* no temporary left behind */
    char tmpl[PATH_MAX];
    pathf(tmpl, "%s/%s.tmp.", e.dir, RT_LOGW_CHECKPOINT);
    CHECK(access(tmpl, F_OK) != 0);
    /* The history got the new checkpoint first; everything still verifies. */
    faults_reset(&e.f);
    struct rt_logw_report rep;
    REQUIRE(env_open(&e, &w, &rep) == 0);
    CHECK_EQ_INT(rep.history_verified, 2);
    faults_reset(&e.f);
    e.f.fail_sync_at = 1;
    CHECK_EQ_INT(rt_logw_checkpoint(w, T0 + 3), -EIO);
    CHECK(strstr(rt_logw_last_error(w), RT_LOGW_HISTORY) != NULL);
    rt_logw_close(w);
    free(first);
    free(after);
    env_free(&e);
}

TEST(creation_fault_leaves_no_log_behind) {
    struct env e;
    env_init(&e);
    struct rt_logw *w = NULL;
    struct rt_logw_report rep;
    e.f.fail_write_at = 1;
    e.f.write_errno = ENOSPC;
    CHECK_EQ_INT(env_open(&e, &w, &rep), -EIO);
    CHECK(access(e.path, F_OK) != 0);
    faults_reset(&e.f);
    CHECK(env_open(&e, &w, &rep) == 0 && rep.created);
    rt_logw_close(w);
    env_free(&e);
}

/* ---- keys ---- */

TEST(key_rotation_old_key_signs_the_switch_new_key_the_rest) {
    struct env e;
    env_init(&e);
    struct rt_log_key *k2 = NULL;
    REQUIRE(rt_log_key_generate("enforcer-b", &k2) == 0);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    CHECK(append_demote(w, 1, NULL) == 0);
    uint64_t seq = 0;
    CHECK_EQ_INT(rt_logw_rotate_key(w, e.key, &seq), -EINVAL); /* same key */
    CHECK(rt_logw_rotate_key(w, k2, &seq) == 0 && seq == 2);
    CHECK(append_demote(w, 3, &seq) == 0 && seq == 3);
    CHECK(rt_logw_checkpoint(w, T0 + 5) == 0);
    rt_logw_close(w);
    char *cp = read_text(e.cp_path, NULL);
    CHECK(cp && strstr(cp, "\xE2\x80\x94 enforcer-b ") != NULL);

    /* An auditor holding the genesis key verifies all of it. */
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), cp, &res), 0);
    CHECK(res.key_rotations == 1 && strcmp(res.key_name, "enforcer-b") == 0 && res.checkpoint_checked);
    /* Only the new key: the genesis key is not a trust anchor. */
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(k2), NULL, &res), -EBADMSG);
    CHECK(res.bad_seq == 0 && strstr(res.reason, "not a trusted key"));

    /* The writer: new key plus the old public key as trust anchor. */
    struct rt_logw_report rep;
    struct rt_logw_options o = e.opts;
    CHECK_EQ_INT(rt_logw_open_ex(e.dir, ORIGIN, k2, policy_hash, &o, NULL, NULL, &w, &rep), -EBADMSG);
    const struct rt_log_pubkey *anchors[1] = {rt_log_key_public(e.key)};
    o.trusted = anchors;
    o.n_trusted = 1;
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, k2, policy_hash, &o, NULL, NULL, &w, &rep) == 0);
    CHECK(append_demote(w, 4, &seq) == 0 && seq == 4);
    rt_logw_close(w);
    /* The old key may no longer write. */
    CHECK_EQ_INT(env_open(&e, &w, &rep), -EKEYREJECTED);
    CHECK(strstr(rep.message, "enforcer-b") != NULL);

    /* A record after the rotation signed by the old key does not verify. */
    size_t len = 0;
    char *data = read_text(e.path, &len);
    char *last = data + len - 1;
    while (last > data && last[-1] != '\n')
        last--;
    struct rt_log_record r;
    uint8_t sig[64];
    REQUIRE(rt_log_line_parse(last, (size_t)(data + len - 1 - last), &r, sig, NULL, 0) == 0);
    memcpy(r.key_id, rt_log_key_id_of(e.key), 4);
    struct rt_strbuf body = {0}, msg = {0};
    REQUIRE(rt_log_record_body(&r, &body, NULL, 0) == 0);
    rt_log_signed_message(ORIGIN, body.s, body.len, &msg);
    REQUIRE(rt_log_key_sign(e.key, msg.s, msg.len, sig) == 0);
    char enc[89];
    rt_log_b64(sig, 64, enc);
    rt_sb_printf(&body, "\t%s\n", enc);
    struct rt_strbuf forged = {0};
    rt_sb_putn(&forged, data, (size_t)(last - data));
    rt_sb_puts(&forged, body.s);
    const struct rt_log_pubkey *t[1] = {rt_log_key_public(e.key)};
    struct rt_log_verify_opts vo = {.trusted = t, .n_trusted = 1, .threads = 1};
    CHECK_EQ_INT(rt_log_verify_buffer(forged.s, forged.len, &vo, &res), -EBADMSG);
    CHECK(res.bad_seq == 4 && strstr(res.reason, "not the log's current key \"enforcer-b\""));
    rt_sb_free(&forged);
    rt_sb_free(&body);
    rt_sb_free(&msg);
    free(data);
    free(cp);
    rt_log_key_free(k2);
    env_free(&e);
}

struct seen_types {
    int types[16];
    size_t n;
};

static int collect_type(const struct rt_log_record *r, void *ud) {
    struct seen_types *s = ud;
    if (s->n < ELEMENTSOF(s->types))
        s->types[s->n++] = r->type;
    return 0;
}

/* The enforcer rotates on start-up: the open itself appends the hand-over,
 * after describing a torn tail with the old key. */
TEST(open_with_rotate_from_rotates_once_old_key_signs_the_handover) {
    struct env e;
    env_init(&e);
    make_log(&e, 3);
    FILE *f = fopen(e.path, "a");
    REQUIRE(f && fputs("{\"seq\":3,\"ty", f) >= 0 && fclose(f) == 0); /* a torn tail */
    struct rt_log_key *kb = NULL, *kc = NULL;
    REQUIRE(rt_log_key_generate("enforcer-a", &kb) == 0 && rt_log_key_generate("enforcer-a", &kc) == 0);
    struct rt_logw_options o = e.opts;
    o.rotate_from = e.key;
    struct seen_types seen = {0};
    struct rt_logw_report rep;
    struct rt_logw *w = NULL;
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, kb, policy_hash, &o, collect_type, &seen, &w, &rep) == 0);
    CHECK(rep.rotated && rep.rotation_seq == 4 && rep.torn_tail && rep.torn_seq == 3 && !rep.rotate_from_unused);
    CHECK(seen.n == 5 && seen.types[3] == RT_LOG_TORN_TAIL && seen.types[4] == RT_LOG_KEY_ROTATION);
    uint64_t seq = 0;
    CHECK(append_demote(w, 9, &seq) == 0 && seq == 5); /* signed by the new key */
    rt_logw_close(w);

    /* The genesis key alone verifies everything: the torn_tail record and
     * the hand-over under the old key, the rest under the new one. */
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK(res.records == 6 && res.key_rotations == 1 && res.torn_tails == 1);

    /* Opening again with the same options rotates nothing. */
    memset(&seen, 0, sizeof seen);
    REQUIRE(rt_logw_open_ex(e.dir, ORIGIN, kb, policy_hash, &o, collect_type, &seen, &w, &rep) == 0);
    CHECK(!rep.rotated && rep.rotate_from_unused && rep.records == 6 && seen.n == 6);
    rt_logw_close(w);
    /* Without the genesis key as an anchor the log is not trusted at all. */
    o.rotate_from = kc;
    CHECK_EQ_INT(rt_logw_open_ex(e.dir, ORIGIN, kb, policy_hash, &o, NULL, NULL, &w, &rep), -EBADMSG);
    /* A previous key that is not the log's current key is refused. */
    const struct rt_log_pubkey *anchors[1] = {rt_log_key_public(e.key)};
    o.trusted = anchors;
    o.n_trusted = 1;
    CHECK_EQ_INT(rt_logw_open_ex(e.dir, ORIGIN, kc, policy_hash, &o, NULL, NULL, &w, &rep), -EKEYREJECTED);
    CHECK(strstr(rep.message, "previous key does not match") != NULL);
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK(res.records == 6); /* the refusals wrote nothing */
    rt_log_key_free(kb);
    rt_log_key_free(kc);
    env_free(&e);
}

TEST(second_writer_is_refused_with_ebusy) {
    struct env e;
    env_init(&e);
    struct rt_logw *w1 = NULL, *w2 = NULL;
    struct rt_logw_report rep;
    REQUIRE(env_open(&e, &w1, NULL) == 0);
    CHECK_EQ_INT(env_open(&e, &w2, &rep), -EBUSY);
    CHECK(w2 == NULL && strstr(rep.message, "locked"));
    rt_logw_close(w1);
    CHECK(env_open(&e, &w2, NULL) == 0);
    rt_logw_close(w2);
    env_free(&e);
}

TEST(open_refuses_wrong_origin_and_deleted_or_emptied_logs) {
    struct env e;
    env_init(&e);
    make_log(&e, 2);
    struct rt_logw *w = NULL;
    struct rt_logw_report rep;
    CHECK_EQ_INT(rt_logw_open_ex(e.dir, "ratchet.test/other", e.key, policy_hash, &e.opts, NULL, NULL, &w, &rep),
                 -EBADMSG);
    CHECK(strstr(rep.message, "origin") != NULL);
    CHECK_EQ_INT(rt_logw_open_ex(e.dir, "bad origin!", e.key, policy_hash, &e.opts, NULL, NULL, &w, &rep), -EINVAL);
    REQUIRE(env_open(&e, &w, NULL) == 0);
    CHECK(rt_logw_checkpoint(w, T0) == 0);
    rt_logw_close(w);
    char *saved = read_text(e.path, NULL);
    unlink(e.path);
    CHECK_EQ_INT(env_open(&e, &w, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "deleted") != NULL);
    write_text(e.path, "", 0);
    CHECK_EQ_INT(env_open(&e, &w, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "truncated") != NULL);
    /* A pre-created empty file without checkpoints becomes a new log. */
    unlink(e.cp_path);
    unlink(e.hist_path);
    CHECK(env_open(&e, &w, &rep) == 0 && rep.created && rt_logw_size(w) == 1);
    rt_logw_close(w);
    free(saved);
    env_free(&e);
}

TEST(torn_history_entry_is_skipped_and_resynced) {
    struct env e;
    env_init(&e);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    CHECK(rt_logw_checkpoint(w, T0 + 1) == 0);
    rt_logw_close(w);
    append_text(e.hist_path, ORIGIN "\n1\nAAAA"); /* a crash in the middle of an entry */
    struct rt_logw_report rep;
    REQUIRE(env_open(&e, &w, &rep) == 0);
    CHECK_EQ_INT(rep.history_ignored, 1);
    CHECK(append_demote(w, 1, NULL) == 0);
    CHECK(rt_logw_checkpoint(w, T0 + 2) == 0);
    rt_logw_close(w);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_path(e.path, rt_log_key_public(e.key), NULL, &res), 0);
    CHECK_EQ_INT(res.history_verified, 2);
    CHECK_EQ_INT(res.history_ignored, 1);
    env_free(&e);
}

TEST(append_only_flag_is_set_or_refused_cleanly) {
    struct env e;
    env_init(&e);
    struct rt_logw *w = NULL;
    REQUIRE(env_open(&e, &w, NULL) == 0);
    int r = rt_logw_set_append_only(w);
    CHECK(r == 0 || r == -EPERM || r == -EOPNOTSUPP);
    if (r == 0) {
        /* The kernel now refuses rewriting history, even to its owner. */
        CHECK(truncate(e.path, 10) < 0 && errno == EPERM);
        CHECK(open(e.path, O_WRONLY | O_CLOEXEC) < 0 && errno == EPERM);
        CHECK(unlink(e.path) < 0 && errno == EPERM);
        CHECK(append_demote(w, 1, NULL) == 0); /* appends still work */
        CHECK(rt_logw_checkpoint(w, T0) == 0);
        const char *files[2] = {e.path, e.hist_path};
        for (int i = 0; i < 2; i++) {
            int fd = open(files[i], O_RDONLY | O_CLOEXEC), flags = 0;
            CHECK(fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_APPEND_FL));
            flags &= ~FS_APPEND_FL;
            CHECK(ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0); /* so the test can clean up */
            close(fd);
        }
    } else {
        fprintf(stderr, "    (chattr +a not available here: %s)\n", strerror(-r));
    }
    rt_logw_close(w);
    env_free(&e);
}

TEST_MAIN()
