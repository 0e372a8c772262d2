/* Tests for the state store (common/journal.c), CRC-32C and fsutil. Every
 * test works in its own mkdtemp directory under /tmp and removes it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/fsutil.h"
#include "common/journal.h"
#include "common/util.h"
#include "tests/unit/harness.h"

/* ---- scratch directories and files ---- */

_printf_(2, 3) static void pathf(char buf[PATH_MAX], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX)
        abort();
}

static void make_tmpdir(char buf[PATH_MAX]) {
    pathf(buf, "/tmp/rt-journal-test-XXXXXX");
    if (!mkdtemp(buf))
        abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static bool file_exists(const char *dir, const char *name) {
    char p[PATH_MAX];
    pathf(p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static long file_size(const char *dir, const char *name) {
    char p[PATH_MAX];
    struct stat st;
    pathf(p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static size_t read_whole(const char *dir, const char *name, uint8_t **buf) {
    char p[PATH_MAX];
    char *data = NULL;
    size_t len = 0;
    pathf(p, "%s/%s", dir, name);
    if (rt_read_file_bounded(p, 64u << 20, &data, &len) < 0)
        abort();
    *buf = (uint8_t *)data;
    return len;
}

static void write_whole(const char *dir, const char *name, const uint8_t *buf, size_t len) {
    char p[PATH_MAX];
    pathf(p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || rt_write_all(fd, buf, len) < 0)
        abort();
    close(fd);
}

static void remove_file(const char *dir, const char *name) {
    char p[PATH_MAX];
    pathf(p, "%s/%s", dir, name);
    unlink(p);
}

/* Copy every regular file of src into dst (dst is emptied first). */
static void copy_dir(const char *src, const char *dst) {
    DIR *d = opendir(dst);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            remove_file(dst, de->d_name);
    if (d)
        closedir(d);
    d = opendir(src);
    if (!d)
        abort();
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        uint8_t *buf;
        size_t len = read_whole(src, de->d_name, &buf);
        write_whole(dst, de->d_name, buf, len);
        free(buf);
    }
    closedir(d);
}

/* ---- the caller's state: a small key/value model ---- */

#define MODEL_MAX 1024
struct kv {
    uint8_t key[RT_JOURNAL_KEY_MAX];
    size_t key_len;
    uint8_t *value;
    size_t value_len;
};
struct model {
    size_t n;
    struct kv kv[MODEL_MAX];
    size_t from_snapshot, from_journal;
    bool journal_seen_before_snapshot_record; /* order violation */
};

static struct kv *model_find(struct model *m, const void *key, size_t key_len) {
    for (size_t i = 0; i < m->n; i++)
        if (m->kv[i].key_len == key_len && memcmp(m->kv[i].key, key, key_len) == 0)
            return &m->kv[i];
    return NULL;
}

static void model_set(struct model *m, const void *key, size_t key_len, const void *value,
                      size_t value_len) {
    struct kv *e = model_find(m, key, key_len);
    if (value_len == 0) {
        if (e) {
            free(e->value);
            *e = m->kv[--m->n];
        }
        return;
    }
    if (!e) {
        if (m->n == MODEL_MAX || key_len > RT_JOURNAL_KEY_MAX)
            abort();
        e = &m->kv[m->n++];
        memcpy(e->key, key, key_len);
        e->key_len = key_len;
        e->value = NULL;
    }
    free(e->value);
    e->value = malloc(value_len);
    if (!e->value)
        abort();
    memcpy(e->value, value, value_len);
    e->value_len = value_len;
}

static void model_free(struct model *m) {
    for (size_t i = 0; i < m->n; i++)
        free(m->kv[i].value);
    m->n = 0;
}

static bool model_equal(struct model *a, struct model *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        struct kv *e = model_find(b, a->kv[i].key, a->kv[i].key_len);
        if (!e || e->value_len != a->kv[i].value_len ||
            memcmp(e->value, a->kv[i].value, e->value_len) != 0)
            return false;
    }
    return true;
}

static int apply_record(const struct rt_journal_record *rec, void *userdata) {
    struct model *m = userdata;
    if (rec->from_snapshot) {
        m->from_snapshot++;
        if (m->from_journal)
            m->journal_seen_before_snapshot_record = true;
    } else {
        m->from_journal++;
    }
    model_set(m, rec->key, rec->key_len, rec->value, rec->value_len);
    return 0;
}

static int dump_model(struct rt_journal_snapshot *snap, void *userdata) {
    struct model *m = userdata;
    for (size_t i = 0; i < m->n; i++)
        rt_journal_snapshot_add(snap, m->kv[i].key, m->kv[i].key_len, m->kv[i].value,
                                m->kv[i].value_len);
    return 0;
}

/* Put into the journal and the model alike. */
static int put_both(struct rt_journal *j, struct model *m, const char *key, const char *value) {
    int r = rt_journal_put(j, key, strlen(key), value, strlen(value));
    if (r == 0)
        model_set(m, key, strlen(key), value, strlen(value));
    return r;
}

/* Open with real ops into a fresh model; returns the open result. */
static int reopen(const char *dir, struct model *out, struct rt_journal_load_report *rep) {
    struct rt_journal *j = NULL;
    model_free(out);
    *out = (struct model){0};
    int r = rt_journal_open(dir, "st", NULL, apply_record, out, &j, rep);
    rt_journal_close(j);
    return r;
}

static int load_ro(const char *dir, struct model *out, struct rt_journal_load_report *rep) {
    model_free(out);
    *out = (struct model){0};
    return rt_journal_load(dir, "st", apply_record, out, rep);
}

/* Deterministic store content: n keys, some overwritten and some deleted,
 * over several commits. */
static void fill_store(struct rt_journal *j, struct model *m, int n, unsigned seed) {
    char key[32], value[128];
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(key, sizeof key, "bot-%d", (int)(seed % (unsigned)(n / 2 + 1)));
        if (seed % 7 == 0) {
            if (rt_journal_delete(j, key, strlen(key)) == 0)
                model_set(m, key, strlen(key), NULL, 0);
        } else {
            snprintf(value, sizeof value, "state-%u-%.*s", seed, (int)(seed % 60), 
                     "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq");
            put_both(j, m, key, value);
        }
        if (i % 10 == 9)
            rt_journal_commit(j);
    }
    rt_journal_commit(j);
}

/* ---- fault injection ---- */

enum op_kind { OP_WRITE, OP_FDATASYNC, OP_RENAME, OP_FSYNC_DIR, OP_ANY };

struct faults {
    int calls[OP_ANY];
    int total;
    enum op_kind fail_kind;
    int fail_at; /* 1-based call number of fail_kind (of all ops for OP_ANY); 0 never */
    int fail_err;
    bool sticky; /* a crash: every later op fails too */
    bool fired;
    size_t short_write; /* > 0: write at most this many bytes per call */
    const char *image_src, *image_dst; /* copy the directory just before the failing op */
};

static bool fault_now(struct faults *f, enum op_kind k) {
    f->calls[k]++;
    f->total++;
    if (f->fired && f->sticky)
        return true;
    int n = f->fail_kind == OP_ANY ? f->total : f->calls[k];
    if (!f->fail_at || f->fired || (f->fail_kind != OP_ANY && f->fail_kind != k) ||
        n != f->fail_at)
        return false;
    f->fired = true;
    if (f->image_dst)
        copy_dir(f->image_src, f->image_dst);
    return true;
}

static ssize_t f_write(void *ctx, int fd, const void *buf, size_t len) {
    struct faults *f = ctx;
    if (fault_now(f, OP_WRITE))
        return -f->fail_err;
    if (f->short_write && len > f->short_write)
        len = f->short_write;
    return rt_journal_real_ops.write_fn(NULL, fd, buf, len);
}
static int f_fdatasync(void *ctx, int fd) {
    struct faults *f = ctx;
    return fault_now(f, OP_FDATASYNC) ? -f->fail_err : rt_journal_real_ops.fdatasync_fn(NULL, fd);
}
static int f_rename(void *ctx, const char *from, const char *to) {
    struct faults *f = ctx;
    return fault_now(f, OP_RENAME) ? -f->fail_err : rt_journal_real_ops.rename_fn(NULL, from, to);
}
static int f_fsync_dir(void *ctx, const char *dir) {
    struct faults *f = ctx;
    return fault_now(f, OP_FSYNC_DIR) ? -f->fail_err : rt_journal_real_ops.fsync_dir_fn(NULL, dir);
}

static struct rt_journal_ops fault_ops(struct faults *f) {
    return (struct rt_journal_ops){f_write, f_fdatasync, f_rename, f_fsync_dir, f};
}

/* A store in tmp/"s" with content committed by fill_store(); closed. */
static void make_store(const char *tmp, char dir[PATH_MAX], struct model *m, int n) {
    struct rt_journal *j = NULL;
    pathf(dir, "%s/s", tmp);
    if (rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) < 0)
        abort();
    fill_store(j, m, n, 42);
    rt_journal_close(j);
}

static void patch_header_crc(uint8_t *h) {
    uint32_t c = rt_crc32c(h, 28);
    for (int i = 0; i < 4; i++)
        h[28 + i] = (uint8_t)(c >> (8 * i));
}

/* ================= CRC-32C ================= */

TEST(crc32c_check_value) {
    CHECK_EQ_INT(rt_crc32c("123456789", 9), RT_CRC32C_CHECK);
    CHECK_EQ_INT(rt_crc32c("123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(rt_crc32c("", 0), 0);
    /* RFC 3720 B.4: 32 bytes of zeros */
    uint8_t zeros[32] = {0};
    CHECK_EQ_INT(rt_crc32c(zeros, sizeof zeros), 0x8A9136AAu);
}

TEST(crc32c_extend_matches_whole) {
    const char *s = "the quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    for (size_t cut = 0; cut <= n; cut++)
        CHECK_EQ_INT(rt_crc32c_extend(rt_crc32c(s, cut), s + cut, n - cut), rt_crc32c(s, n));
}

/* ================= fsutil ================= */

TEST(fsutil_write_read_replace) {
    char tmp[PATH_MAX], p[PATH_MAX];
    make_tmpdir(tmp);
    pathf(p, "%s/f", tmp);
    CHECK_EQ_INT(rt_atomic_replace_file(p, "hello", 5, 0640), 0);
    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ_INT(rt_read_file_bounded(p, 5, &buf, &len), 0);
    CHECK_EQ_INT(len, 5);
    CHECK_EQ_STR(buf, "hello");
    free(buf);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0640);

    CHECK_EQ_INT(rt_atomic_replace_file(p, "bye", 3, 0600), 0);
    buf = NULL;
    CHECK_EQ_INT(rt_read_file_bounded(p, 100, &buf, &len), 0);
    CHECK_EQ_INT(len, 3);
    CHECK(buf && memcmp(buf, "bye", 4) == 0);
    free(buf);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);

    buf = NULL;
    CHECK_EQ_INT(rt_read_file_bounded(p, 2, &buf, &len), -EFBIG);
    CHECK(buf == NULL);
    CHECK_EQ_INT(rt_read_file_bounded(tmp, 100, &buf, &len), -EISDIR);
    pathf(p, "%s/missing", tmp);
    CHECK_EQ_INT(rt_read_file_bounded(p, 100, &buf, &len), -ENOENT);
    /* no temporaries left behind */
    DIR *d = opendir(tmp);
    int entries = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        entries += de->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK_EQ_INT(entries, 1);

    pathf(p, "%s/nodir/f", tmp);
    CHECK_EQ_INT(rt_atomic_replace_file(p, "x", 1, 0600), -ENOENT);
    CHECK_EQ_INT(rt_fsync_dir(tmp), 0);
    CHECK_EQ_INT(rt_fsync_dir(p), -ENOENT);
    rm_rf(tmp);
}

TEST(fsutil_read_unsized_and_write_all) {
    char *buf = NULL;
    size_t len = 0;
    /* /proc files report size 0: the bound must still hold */
    CHECK_EQ_INT(rt_read_file_bounded("/proc/self/status", 16, &buf, &len), -EFBIG);
    CHECK_EQ_INT(rt_read_file_bounded("/proc/self/status", 1 << 20, &buf, &len), 0);
    CHECK(len > 16 && buf && strlen(buf) == len);
    free(buf);

    int fds[2];
    REQUIRE(pipe(fds) == 0);
    CHECK_EQ_INT(rt_write_all(fds[1], "abc", 3), 0);
    char got[4] = {0};
    CHECK_EQ_INT(read(fds[0], got, 3), 3);
    CHECK_EQ_STR(got, "abc");
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN); /* a write to a pipe without reader then fails with EPIPE */
    CHECK_EQ_INT(rt_write_all(fds[1], "abc", 3), -EPIPE);
    close(fds[1]);
    CHECK_EQ_INT(rt_write_all(-1, "abc", 3), -EBADF);
}

/* ================= basic store behaviour ================= */

TEST(journal_round_trip) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct model m = {0}, got = {0};
    struct rt_journal_load_report rep;
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, apply_record, &got, &j, &rep) == 0);
    CHECK(!rep.existed);
    CHECK_EQ_INT(rep.generation, 1);
    CHECK_EQ_INT(got.n, 0);
    CHECK(file_exists(dir, "st.snap") && file_exists(dir, "st.journal.1"));
    CHECK_EQ_INT(put_both(j, &m, "alpha", "1"), 0);
    CHECK_EQ_INT(put_both(j, &m, "beta", "two"), 0);
    const uint8_t bin_key[] = {0, 1, 2, 255}, bin_val[] = {0, 0, 7, 0};
    CHECK_EQ_INT(rt_journal_put(j, bin_key, sizeof bin_key, bin_val, sizeof bin_val), 0);
    model_set(&m, bin_key, sizeof bin_key, bin_val, sizeof bin_val);
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    rt_journal_close(j);

    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK(rep.existed);
    CHECK(!rep.torn_tail);
    CHECK_EQ_INT(rep.journal_records, 3);
    CHECK_EQ_STR(rep.message, "");
    CHECK(model_equal(&m, &got));
    /* read-only load sees the same */
    CHECK_EQ_INT(load_ro(dir, &got, &rep), 0);
    CHECK(model_equal(&m, &got));
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_latest_wins_and_delete) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct model got = {0};
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    CHECK_EQ_INT(rt_journal_put(j, "k", 1, "v1", 2), 0);
    CHECK_EQ_INT(rt_journal_put(j, "gone", 4, "x", 1), 0);
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    CHECK_EQ_INT(rt_journal_put(j, "k", 1, "v2", 2), 0);
    CHECK_EQ_INT(rt_journal_delete(j, "gone", 4), 0);
    CHECK_EQ_INT(rt_journal_put(j, "k", 1, "v3", 2), 0); /* same group: still latest wins */
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    rt_journal_close(j);

    struct rt_journal_load_report rep;
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK_EQ_INT(rep.journal_records, 5);
    CHECK_EQ_INT(got.n, 1);
    struct kv *e = model_find(&got, "k", 1);
    CHECK(e && e->value_len == 2 && memcmp(e->value, "v3", 2) == 0);
    CHECK(model_find(&got, "gone", 4) == NULL);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_reopen_after_commit_drops_uncommitted) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, dir, &m, 60);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, apply_record, &got, &j, NULL) == 0);
    CHECK(model_equal(&m, &got));
    CHECK_EQ_INT(rt_journal_put(j, "never", 5, "committed", 9), 0);
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    CHECK_EQ_INT(st.pending_records, 1);
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, &got, NULL), 0);
    CHECK(model_equal(&m, &got));
    CHECK(model_find(&got, "never", 5) == NULL);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_group_commit_counts) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct faults f = {0};
    struct rt_journal_ops ops = fault_ops(&f);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", &ops, NULL, NULL, &j, NULL) == 0);
    struct rt_journal_stats before, after;
    rt_journal_get_stats(j, &before);
    int writes = f.calls[OP_WRITE], syncs = f.calls[OP_FDATASYNC];
    uint64_t expect_bytes = 0;
    char key[16], value[64];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "bot%d", i);
        snprintf(value, sizeof value, "value-%d-%0*d", i, i * 3, 0);
        CHECK_EQ_INT(rt_journal_put(j, key, strlen(key), value, strlen(value)), 0);
        expect_bytes += 8 + 2 + strlen(key) + strlen(value);
    }
    rt_journal_get_stats(j, &after);
    CHECK_EQ_INT(after.pending_records, 10);
    CHECK_EQ_INT(after.pending_bytes, expect_bytes);
    CHECK_EQ_INT(f.calls[OP_WRITE], writes); /* put does no I/O */
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    CHECK_EQ_INT(f.calls[OP_WRITE] - writes, 1);
    CHECK_EQ_INT(f.calls[OP_FDATASYNC] - syncs, 1);
    rt_journal_get_stats(j, &after);
    CHECK_EQ_INT(after.commits - before.commits, 1);
    CHECK_EQ_INT(after.records_written - before.records_written, 10);
    CHECK_EQ_INT(after.bytes_written - before.bytes_written, expect_bytes);
    CHECK_EQ_INT(after.journal_bytes - before.journal_bytes, expect_bytes);
    CHECK_EQ_INT(after.pending_records, 0);
    CHECK_EQ_INT(file_size(dir, "st.journal.1"), (long)after.journal_bytes);

    /* nothing buffered: no I/O, no commit counted */
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    CHECK_EQ_INT(f.calls[OP_FDATASYNC] - syncs, 1);
    CHECK_EQ_INT(rt_journal_put(j, "x", 1, "y", 1), 0);
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    rt_journal_get_stats(j, &after);
    CHECK_EQ_INT(after.commits - before.commits, 2);
    CHECK_EQ_INT(after.records_written - before.records_written, 11);
    rt_journal_close(j);
    rm_rf(tmp);
}

TEST(journal_limits) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    uint8_t *big = malloc(RT_JOURNAL_VALUE_MAX + 1);
    REQUIRE(big);
    for (size_t i = 0; i <= RT_JOURNAL_VALUE_MAX; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    uint8_t key[RT_JOURNAL_KEY_MAX + 1];
    memset(key, 'k', sizeof key);

    CHECK_EQ_INT(rt_journal_put(j, key, RT_JOURNAL_KEY_MAX + 1, "v", 1), -E2BIG);
    CHECK_EQ_INT(rt_journal_put(j, key, 1, big, RT_JOURNAL_VALUE_MAX + 1), -E2BIG);
    CHECK_EQ_INT(rt_journal_put(j, key, 0, "v", 1), -EINVAL);
    CHECK_EQ_INT(rt_journal_put(j, NULL, 3, "v", 1), -EINVAL);
    CHECK_EQ_INT(rt_journal_put(j, key, 1, NULL, 5), -EINVAL);
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    CHECK_EQ_INT(st.pending_records, 0);
    CHECK(!st.failed); /* refusals are not failures */

    struct model m = {0}, got = {0};
    CHECK_EQ_INT(rt_journal_put(j, key, RT_JOURNAL_KEY_MAX, big, RT_JOURNAL_VALUE_MAX), 0);
    model_set(&m, key, RT_JOURNAL_KEY_MAX, big, RT_JOURNAL_VALUE_MAX);
    CHECK_EQ_INT(rt_journal_put(j, "one", 3, "1", 1), 0);
    model_set(&m, "one", 3, "1", 1);
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, &got, NULL), 0);
    CHECK(model_equal(&m, &got));

    /* the maximal record also survives compaction */
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    CHECK_EQ_INT(rt_journal_compact(j, dump_model, &m), 0);
    rt_journal_close(j);
    struct rt_journal_load_report rep;
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK_EQ_INT(rep.snapshot_records, 2);
    CHECK(model_equal(&m, &got));
    free(big);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_pending_limit) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    uint8_t *v = calloc(1, RT_JOURNAL_VALUE_MAX);
    REQUIRE(v);
    size_t per = 8 + 2 + 1 + RT_JOURNAL_VALUE_MAX, accepted = 0;
    int r = 0;
    while ((r = rt_journal_put(j, "k", 1, v, RT_JOURNAL_VALUE_MAX)) == 0)
        accepted++;
    CHECK_EQ_INT(r, -ENOBUFS);
    CHECK_EQ_INT(accepted, RT_JOURNAL_PENDING_MAX / per);
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    CHECK(st.pending_bytes <= RT_JOURNAL_PENDING_MAX);
    CHECK(!st.failed);
    free(v);
    rt_journal_close(j); /* discards the buffer */
    struct model got = {0};
    CHECK_EQ_INT(reopen(dir, &got, NULL), 0);
    CHECK_EQ_INT(got.n, 0);
    rm_rf(tmp);
}

TEST(journal_lock_and_names) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct rt_journal *a = NULL, *b = NULL;
    struct rt_journal_load_report rep;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &a, NULL) == 0);
    CHECK_EQ_INT(rt_journal_open(dir, "st", NULL, NULL, NULL, &b, &rep), -EBUSY);
    CHECK(b == NULL);
    CHECK(strstr(rep.message, "st.lock") != NULL);
    CHECK_EQ_INT(rt_journal_load(dir, "st", NULL, NULL, &rep), 0); /* readers need no lock */
    CHECK_EQ_INT(rt_journal_open(dir, "other", NULL, NULL, NULL, &b, NULL), 0);
    rt_journal_close(b);
    rt_journal_close(a);
    CHECK_EQ_INT(rt_journal_open(dir, "st", NULL, NULL, NULL, &a, NULL), 0);
    rt_journal_close(a);

    const char *bad[] = {"", ".hidden", "a/b", "../x", "sp ace",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        CHECK_EQ_INT(rt_journal_open(dir, bad[i], NULL, NULL, NULL, &a, NULL), -EINVAL);
    CHECK_EQ_INT(rt_journal_open(dir, "st", NULL, NULL, NULL, NULL, NULL), -EINVAL);
    rm_rf(tmp);
}

TEST(journal_missing_directory) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/never", tmp);
    struct model got = {0};
    struct rt_journal_load_report rep;
    CHECK_EQ_INT(load_ro(dir, &got, &rep), 0);
    CHECK(!rep.existed);
    CHECK_EQ_INT(got.n, 0);
    CHECK(access(dir, F_OK) != 0); /* read-only creates nothing */

    pathf(dir, "%s/no/such/parent", tmp);
    struct rt_journal *j = NULL;
    CHECK_EQ_INT(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, &rep), -ENOENT);
    CHECK(rep.message[0] != '\0');
    rm_rf(tmp);
}

/* ================= compaction ================= */

TEST(journal_compaction_reopen_equal) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, dir, &m, 400);
    REQUIRE(m.n > 50);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    CHECK_EQ_INT(put_both(j, &m, "pending-at-compaction", "kept"), 0);
    CHECK_EQ_INT(rt_journal_compact(j, dump_model, &m), 0);
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    CHECK_EQ_INT(st.generation, 2);
    CHECK_EQ_INT(st.journal_bytes, 32);
    CHECK_EQ_INT(st.snapshot_records, m.n);
    CHECK_EQ_INT(st.compactions, 1);
    CHECK_EQ_INT(st.pending_records, 0);
    CHECK_EQ_INT(file_size(dir, "st.snap"), (long)st.snapshot_bytes);
    CHECK(!file_exists(dir, "st.journal.1"));
    CHECK(!file_exists(dir, "st.snap.tmp"));
    CHECK(file_exists(dir, "st.journal.2"));
    rt_journal_close(j);

    struct rt_journal_load_report rep;
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK(model_equal(&m, &got));
    CHECK_EQ_INT(rep.generation, 2);
    CHECK_EQ_INT(rep.snapshot_records, m.n);
    CHECK_EQ_INT(rep.journal_records, 0);

    /* journal on top of a snapshot: snapshot records come first */
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    fill_store(j, &m, 100, 7);
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK(model_equal(&m, &got));
    CHECK(rep.journal_records > 0);
    CHECK(got.from_snapshot > 0 && got.from_journal > 0);
    CHECK(!got.journal_seen_before_snapshot_record);

    /* a second compaction, and an empty-valued add is skipped */
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    CHECK_EQ_INT(rt_journal_compact(j, dump_model, &m), 0);
    rt_journal_get_stats(j, &st);
    CHECK_EQ_INT(st.generation, 3);
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK(model_equal(&m, &got));
    CHECK(!file_exists(dir, "st.journal.2"));
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

static int dump_with_delete(struct rt_journal_snapshot *snap, void *userdata) {
    int r = dump_model(snap, userdata);
    return r < 0 ? r : rt_journal_snapshot_add(snap, "deleted", 7, NULL, 0);
}

static int dump_oversized(struct rt_journal_snapshot *snap, void *userdata) {
    (void)userdata;
    uint8_t key[RT_JOURNAL_KEY_MAX + 1] = {0};
    rt_journal_snapshot_add(snap, key, sizeof key, "v", 1); /* error ignored on purpose */
    return 0;
}

static int dump_fails(struct rt_journal_snapshot *snap, void *userdata) {
    (void)snap;
    (void)userdata;
    return -ECANCELED;
}

TEST(journal_compaction_dump_errors) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, dir, &m, 40);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    CHECK_EQ_INT(rt_journal_compact(j, dump_fails, NULL), -ECANCELED);
    CHECK_EQ_INT(rt_journal_compact(j, dump_oversized, NULL), -E2BIG);
    CHECK(!file_exists(dir, "st.snap.tmp"));
    CHECK(!file_exists(dir, "st.journal.2"));
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    CHECK(!st.failed);
    CHECK_EQ_INT(st.generation, 1);
    CHECK_EQ_INT(put_both(j, &m, "after", "ok"), 0);
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    CHECK_EQ_INT(rt_journal_compact(j, dump_with_delete, &m), 0);
    rt_journal_get_stats(j, &st);
    CHECK_EQ_INT(st.snapshot_records, m.n);
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, &got, NULL), 0);
    CHECK(model_equal(&m, &got));
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_should_compact) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    struct model m = {0};
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    CHECK(!rt_journal_should_compact(j));
    uint8_t *v = calloc(1, 60000);
    REQUIRE(v);
    char key[16];
    int i = 0;
    struct rt_journal_stats st;
    do {
        snprintf(key, sizeof key, "k%d", i++ % 30);
        v[0] = (uint8_t)i;
        REQUIRE(rt_journal_put(j, key, strlen(key), v, 60000) == 0);
        model_set(&m, key, strlen(key), v, 60000);
        REQUIRE(rt_journal_commit(j) == 0);
        rt_journal_get_stats(j, &st);
        CHECK_EQ_INT(rt_journal_should_compact(j), st.journal_bytes > RT_JOURNAL_COMPACT_MIN);
    } while (st.journal_bytes <= RT_JOURNAL_COMPACT_MIN);
    CHECK(rt_journal_should_compact(j));
    CHECK_EQ_INT(rt_journal_compact(j, dump_model, &m), 0);
    CHECK(!rt_journal_should_compact(j));
    /* the snapshot (30 x 60 kB) is now larger than 1 MiB: it is the threshold */
    rt_journal_get_stats(j, &st);
    REQUIRE(st.snapshot_bytes > RT_JOURNAL_COMPACT_MIN);
    do {
        snprintf(key, sizeof key, "k%d", i++ % 30);
        REQUIRE(rt_journal_put(j, key, strlen(key), v, 60000) == 0);
        REQUIRE(rt_journal_commit(j) == 0);
        rt_journal_get_stats(j, &st);
        CHECK_EQ_INT(rt_journal_should_compact(j), st.journal_bytes > st.snapshot_bytes);
    } while (st.journal_bytes <= st.snapshot_bytes);
    CHECK(rt_journal_should_compact(j));
    free(v);
    rt_journal_close(j);
    model_free(&m);
    rm_rf(tmp);
}

/* Crash at every I/O step of a compaction: the directory as it is just
 * before step N (earlier steps done, later ones never happen) must load to
 * the same state, and so must the directory after the failed call. */
TEST(journal_crash_at_every_compaction_step) {
    char tmp[PATH_MAX], base[PATH_MAX], work[PATH_MAX], img[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, base, &m, 120);
    pathf(work, "%s/work", tmp);
    pathf(img, "%s/img", tmp);
    bool saw_old = false, saw_new = false, completed = false;
    int steps = 0;
    for (int n = 1; n < 100 && !completed; n++) {
        REQUIRE(mkdir(work, 0700) == 0 && mkdir(img, 0700) == 0);
        copy_dir(base, work);
        struct faults f = {.fail_kind = OP_ANY, .fail_at = n, .fail_err = EIO, .sticky = true,
                           .image_src = work, .image_dst = img};
        struct rt_journal_ops ops = fault_ops(&f);
        struct rt_journal *j = NULL;
        REQUIRE(rt_journal_open(work, "st", &ops, NULL, NULL, &j, NULL) == 0);
        REQUIRE(f.total == 0); /* a clean open does no durable I/O */
        int r = rt_journal_compact(j, dump_model, &m);
        rt_journal_close(j);
        if (!f.fired) {
            CHECK_EQ_INT(r, 0);
            completed = true;
        } else {
            steps++;
            CHECK(r < 0);
            struct rt_journal_load_report rep;
            CHECK_EQ_INT(load_ro(img, &got, &rep), 0);
            CHECK(model_equal(&m, &got));
            CHECK_EQ_INT(reopen(img, &got, &rep), 0);
            CHECK(model_equal(&m, &got));
            if (rep.generation == 1)
                saw_old = true;
            if (rep.generation == 2)
                saw_new = true;
            CHECK_EQ_INT(reopen(img, &got, &rep), 0); /* leftovers were cleaned */
            CHECK_EQ_INT(rep.stale_files, 0);
            CHECK(model_equal(&m, &got));
            CHECK_EQ_INT(reopen(work, &got, &rep), 0);
            CHECK(model_equal(&m, &got));
        }
        rm_rf(work);
        rm_rf(img);
    }
    CHECK(completed);
    CHECK(steps >= 7); /* write+sync journal, write+sync snapshot, fsync dir, rename, fsync dir */
    CHECK(saw_old && saw_new);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

/* States that lie inside one step: a partially written snapshot.tmp or
 * new journal header, and the moment between rename and unlink. */
TEST(journal_crash_partial_compaction_files) {
    char tmp[PATH_MAX], pre[PATH_MAX], post[PATH_MAX], work[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, pre, &m, 80);
    pathf(post, "%s/post", tmp);
    pathf(work, "%s/work", tmp);
    REQUIRE(mkdir(post, 0700) == 0 && mkdir(work, 0700) == 0);
    copy_dir(pre, post);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(post, "st", NULL, NULL, NULL, &j, NULL) == 0);
    REQUIRE(rt_journal_compact(j, dump_model, &m) == 0);
    rt_journal_close(j);

    uint8_t *snap2, *jrnl2, *jrnl1;
    size_t snap2_len = read_whole(post, "st.snap", &snap2);
    size_t jrnl2_len = read_whole(post, "st.journal.2", &jrnl2);
    size_t jrnl1_len = read_whole(pre, "st.journal.1", &jrnl1);
    REQUIRE(jrnl2_len == 32);
    struct rt_journal_load_report rep;

    for (size_t len = 0; len <= snap2_len; len++) {
        copy_dir(pre, work);
        write_whole(work, "st.snap.tmp", snap2, len);
        if (len % 2)
            write_whole(work, "st.journal.2", jrnl2, jrnl2_len);
        CHECK_EQ_INT(reopen(work, &got, &rep), 0);
        CHECK_EQ_INT(rep.generation, 1);
        CHECK(model_equal(&m, &got));
        CHECK(!file_exists(work, "st.snap.tmp") && !file_exists(work, "st.journal.2"));
    }
    for (size_t len = 0; len <= jrnl2_len; len++) {
        copy_dir(pre, work);
        write_whole(work, "st.journal.2", jrnl2, len);
        CHECK_EQ_INT(reopen(work, &got, &rep), 0);
        CHECK_EQ_INT(rep.generation, 1);
        CHECK_EQ_INT(rep.stale_files, 1);
        CHECK(model_equal(&m, &got));
    }
    /* renamed, old journal not yet unlinked */
    copy_dir(post, work);
    write_whole(work, "st.journal.1", jrnl1, jrnl1_len);
    CHECK_EQ_INT(reopen(work, &got, &rep), 0);
    CHECK_EQ_INT(rep.generation, 2);
    CHECK_EQ_INT(rep.stale_files, 1);
    CHECK(strstr(rep.message, "leftover") != NULL);
    CHECK(model_equal(&m, &got));
    CHECK(!file_exists(work, "st.journal.1"));

    /* the snapshot names generation 2 but its journal is gone: damage,
     * because generation 2's journal is durable before the rename */
    copy_dir(post, work);
    write_whole(work, "st.journal.1", jrnl1, jrnl1_len);
    remove_file(work, "st.journal.2");
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "missing") != NULL);
    CHECK(file_exists(work, "st.journal.1")); /* nothing removed on failure */
    free(snap2);
    free(jrnl2);
    free(jrnl1);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_crash_during_creation) {
    char tmp[PATH_MAX], dir[PATH_MAX], img[PATH_MAX];
    make_tmpdir(tmp);
    pathf(dir, "%s/state", tmp);
    pathf(img, "%s/img", tmp);
    struct model got = {0};
    bool completed = false;
    int steps = 0;
    for (int n = 1; n < 100 && !completed; n++) {
        REQUIRE(mkdir(img, 0700) == 0);
        struct faults f = {.fail_kind = OP_ANY, .fail_at = n, .fail_err = EIO, .sticky = true,
                           .image_src = dir, .image_dst = img};
        struct rt_journal_ops ops = fault_ops(&f);
        struct rt_journal *j = NULL;
        struct rt_journal_load_report rep;
        int r = rt_journal_open(dir, "st", &ops, NULL, NULL, &j, &rep);
        rt_journal_close(j);
        if (!f.fired) {
            CHECK_EQ_INT(r, 0);
            completed = true;
        } else {
            steps++;
            CHECK(r < 0);
            CHECK(rep.message[0] != '\0');
            CHECK_EQ_INT(reopen(img, &got, &rep), 0);
            CHECK_EQ_INT(got.n, 0);
            CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
            CHECK_EQ_INT(got.n, 0);
            /* and the recovered store works */
            REQUIRE(rt_journal_open(img, "st", NULL, NULL, NULL, &j, NULL) == 0);
            CHECK_EQ_INT(rt_journal_put(j, "k", 1, "v", 1), 0);
            CHECK_EQ_INT(rt_journal_commit(j), 0);
            rt_journal_close(j);
            CHECK_EQ_INT(reopen(img, &got, &rep), 0);
            CHECK_EQ_INT(got.n, 1);
        }
        rm_rf(dir);
        rm_rf(img);
    }
    CHECK(completed);
    CHECK(steps >= 7); /* fsync parent, journal write+sync, snapshot write+sync, dir, rename, dir */
    model_free(&got);
    rm_rf(tmp);
}

/* ================= torn tails and corruption ================= */

TEST(journal_torn_tail_every_offset) {
    char tmp[PATH_MAX], base[PATH_MAX], work[PATH_MAX];
    make_tmpdir(tmp);
    struct model before = {0}, got = {0};
    make_store(tmp, base, &before, 30);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(base, "st", NULL, NULL, NULL, &j, NULL) == 0);
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    size_t start = st.journal_bytes;
    const char *last_value = "a value of forty bytes, give or take..";
    REQUIRE(rt_journal_put(j, "last-record", 11, last_value, strlen(last_value)) == 0);
    REQUIRE(rt_journal_commit(j) == 0);
    rt_journal_close(j);
    uint8_t *full;
    size_t full_len = read_whole(base, "st.journal.1", &full);
    REQUIRE(full_len == start + 8 + 2 + 11 + 38);
    pathf(work, "%s/work", tmp);
    REQUIRE(mkdir(work, 0700) == 0);

    struct rt_journal_load_report rep;
    for (size_t len = start; len <= full_len; len++) {
        copy_dir(base, work);
        write_whole(work, "st.journal.1", full, len);
        CHECK_EQ_INT(reopen(work, &got, &rep), 0);
        if (len == full_len) {
            CHECK(!rep.torn_tail);
            CHECK(model_find(&got, "last-record", 11) != NULL);
            CHECK_EQ_INT(got.n, before.n + 1);
            continue;
        }
        CHECK(model_equal(&before, &got));
        CHECK_EQ_INT(rep.torn_tail, len != start);
        if (len == start)
            continue;
        CHECK_EQ_INT(rep.torn_offset, start);
        CHECK_EQ_INT(rep.torn_bytes, len - start);
        CHECK(rep.truncated);
        CHECK_EQ_INT(rep.journal_bytes, start);
        CHECK(strstr(rep.message, "torn tail") != NULL);
        CHECK_EQ_INT(file_size(work, "st.journal.1"), (long)start);
        /* the truncation is clean: the next open reports nothing */
        CHECK_EQ_INT(reopen(work, &got, &rep), 0);
        CHECK(!rep.torn_tail);
        CHECK(model_equal(&before, &got));
    }
    free(full);
    model_free(&before);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_torn_tail_then_append_and_read_only) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, dir, &m, 30);
    long size = file_size(dir, "st.journal.1");
    uint8_t *full;
    size_t len = read_whole(dir, "st.journal.1", &full);
    uint8_t *junk = calloc(1, len + 4096); /* preallocated zeros after a crash */
    REQUIRE(junk);
    memcpy(junk, full, len);
    write_whole(dir, "st.journal.1", junk, len + 4096);

    struct rt_journal_load_report rep;
    CHECK_EQ_INT(load_ro(dir, &got, &rep), 0);
    CHECK(rep.torn_tail && !rep.truncated);
    CHECK_EQ_INT(rep.torn_bytes, 4096);
    CHECK_EQ_INT(file_size(dir, "st.journal.1"), size + 4096); /* read-only: untouched */
    CHECK(model_equal(&m, &got));

    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, apply_record, &got, &j, &rep) == 0);
    CHECK(rep.torn_tail && rep.truncated);
    CHECK_EQ_INT(file_size(dir, "st.journal.1"), size);
    CHECK_EQ_INT(put_both(j, &m, "after-crash", "v"), 0);
    CHECK_EQ_INT(rt_journal_commit(j), 0);
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
    CHECK(!rep.torn_tail);
    CHECK(model_equal(&m, &got));
    free(full);
    free(junk);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

/* Journal with three committed records; returns the offsets of each. */
static void three_record_store(const char *tmp, char dir[PATH_MAX], size_t off[4]) {
    struct rt_journal *j = NULL;
    struct rt_journal_stats st;
    pathf(dir, "%s/s", tmp);
    if (rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) < 0)
        abort();
    const char *keys[3] = {"first", "middle", "last"};
    for (int i = 0; i < 3; i++) {
        rt_journal_get_stats(j, &st);
        off[i] = st.journal_bytes;
        if (rt_journal_put(j, keys[i], strlen(keys[i]), "some value bytes", 16) < 0 ||
            rt_journal_commit(j) < 0)
            abort();
    }
    rt_journal_get_stats(j, &st);
    off[3] = st.journal_bytes;
    rt_journal_close(j);
}

TEST(journal_bit_flip_middle_record_is_ebadmsg) {
    char tmp[PATH_MAX], dir[PATH_MAX], work[PATH_MAX];
    make_tmpdir(tmp);
    size_t off[4];
    three_record_store(tmp, dir, off);
    uint8_t *orig;
    size_t len = read_whole(dir, "st.journal.1", &orig);
    REQUIRE(len == off[3]);
    pathf(work, "%s/work", tmp);
    REQUIRE(mkdir(work, 0700) == 0);
    struct model got = {0};
    struct rt_journal_load_report rep;
    int bad = 0, cases = 0;
    for (size_t pos = off[1]; pos < off[2]; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            copy_dir(dir, work);
            orig[pos] ^= (uint8_t)(1u << bit);
            write_whole(work, "st.journal.1", orig, len);
            orig[pos] ^= (uint8_t)(1u << bit);
            cases++;
            int r = reopen(work, &got, &rep);
            bad += r == -EBADMSG;
            CHECK_EQ_INT(r, -EBADMSG);
            CHECK(strstr(rep.message, "st.journal.1") != NULL);
            CHECK_EQ_INT(file_size(work, "st.journal.1"), (long)len); /* not truncated */
        }
    }
    CHECK_EQ_INT(bad, cases);
    CHECK(strstr(rep.message, "a valid record follows") != NULL);

    /* the same flip in the last record is indistinguishable from a torn write */
    copy_dir(dir, work);
    orig[off[2] + 12] ^= 1;
    write_whole(work, "st.journal.1", orig, len);
    CHECK_EQ_INT(reopen(work, &got, &rep), 0);
    CHECK(rep.torn_tail);
    CHECK_EQ_INT(rep.torn_offset, off[2]);
    CHECK_EQ_INT(got.n, 2);

    /* a record with a valid checksum but an impossible layout is never torn */
    copy_dir(dir, work);
    orig[off[2] + 12] ^= 1;
    orig[off[2] + 8] = 0; /* key length 0 */
    orig[off[2] + 9] = 0;
    uint32_t plen = (uint32_t)(off[3] - off[2] - 8);
    uint32_t c = rt_crc32c_extend(rt_crc32c(orig + off[2], 4), orig + off[2] + 8, plen);
    for (int i = 0; i < 4; i++)
        orig[off[2] + 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
    write_whole(work, "st.journal.1", orig, len);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "malformed") != NULL);
    free(orig);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_snapshot_corruption_is_ebadmsg) {
    char tmp[PATH_MAX], dir[PATH_MAX], work[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, dir, &m, 12);
    struct rt_journal *j = NULL;
    REQUIRE(rt_journal_open(dir, "st", NULL, NULL, NULL, &j, NULL) == 0);
    REQUIRE(rt_journal_compact(j, dump_model, &m) == 0);
    rt_journal_close(j);
    uint8_t *snap;
    size_t len = read_whole(dir, "st.snap", &snap);
    pathf(work, "%s/work", tmp);
    REQUIRE(mkdir(work, 0700) == 0);
    struct rt_journal_load_report rep;

    int ok = 0, cases = 0;
    copy_dir(dir, work); /* read-only loads and failed opens change nothing */
    for (size_t pos = 0; pos < len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            snap[pos] ^= (uint8_t)(1u << bit);
            write_whole(work, "st.snap", snap, len);
            snap[pos] ^= (uint8_t)(1u << bit);
            cases++;
            ok += load_ro(work, &got, &rep) == -EBADMSG && rep.message[0];
        }
    }
    CHECK_EQ_INT(ok, cases);
    ok = 0;
    for (size_t cut = 0; cut < len; cut++) {
        write_whole(work, "st.snap", snap, cut);
        ok += reopen(work, &got, &rep) == -EBADMSG;
        CHECK(file_exists(work, "st.journal.2")); /* a failed open removes nothing */
    }
    CHECK_EQ_INT(ok, (int)len);
    uint8_t *longer = malloc(len + 1);
    REQUIRE(longer);
    memcpy(longer, snap, len);
    longer[len] = 0;
    copy_dir(dir, work);
    write_whole(work, "st.snap", longer, len + 1);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "after the end marker") != NULL);
    free(longer);

    /* a whole record cut out of the middle: every remaining frame is valid,
     * only the end marker's count and length notice */
    size_t rec0 = 8 + (size_t)(snap[32] | snap[33] << 8);
    REQUIRE(len > 32 + rec0 + 24);
    uint8_t *spliced = malloc(len);
    REQUIRE(spliced);
    memcpy(spliced, snap, 32);
    memcpy(spliced + 32, snap + 32 + rec0, len - 32 - rec0);
    copy_dir(dir, work);
    write_whole(work, "st.snap", spliced, len - rec0);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "end marker says") != NULL);
    free(spliced);
    CHECK_EQ_INT(reopen(dir, &got, &rep), 0); /* the original is fine */
    CHECK(model_equal(&m, &got));
    free(snap);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

TEST(journal_version_and_generation_mismatch) {
    char tmp[PATH_MAX], dir[PATH_MAX], work[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0}, got = {0};
    make_store(tmp, dir, &m, 20);
    pathf(work, "%s/work", tmp);
    REQUIRE(mkdir(work, 0700) == 0);
    uint8_t *snap, *jr;
    size_t snap_len = read_whole(dir, "st.snap", &snap);
    size_t jr_len = read_whole(dir, "st.journal.1", &jr);
    struct rt_journal_load_report rep;

    /* unknown version, with a correct header checksum */
    copy_dir(dir, work);
    snap[8] = 2;
    patch_header_crc(snap);
    write_whole(work, "st.snap", snap, snap_len);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "version 2") != NULL);
    snap[8] = 1;
    patch_header_crc(snap);

    copy_dir(dir, work);
    jr[8] = 9;
    patch_header_crc(jr);
    write_whole(work, "st.journal.1", jr, jr_len);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "version 9") != NULL);
    jr[8] = 1;

    /* journal header names another generation than the snapshot */
    copy_dir(dir, work);
    jr[16] = 5;
    patch_header_crc(jr);
    write_whole(work, "st.journal.1", jr, jr_len);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "generation 5") != NULL);
    jr[16] = 1;
    patch_header_crc(jr);

    /* journal file of another generation than the snapshot's */
    copy_dir(dir, work);
    remove_file(work, "st.journal.1");
    write_whole(work, "st.journal.3", jr, jr_len);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "newer than the snapshot") != NULL);
    CHECK(file_exists(work, "st.journal.3"));

    /* journal deleted */
    copy_dir(dir, work);
    remove_file(work, "st.journal.1");
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK_EQ_INT(load_ro(work, &got, &rep), -EBADMSG);

    /* snapshot deleted while the journal holds records: not an empty store */
    copy_dir(dir, work);
    remove_file(work, "st.snap");
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "st.snap is missing") != NULL);
    CHECK_EQ_INT(load_ro(work, &got, &rep), -EBADMSG);
    CHECK_EQ_INT(file_size(work, "st.journal.1"), (long)jr_len);

    /* truncated journal header of the current generation */
    copy_dir(dir, work);
    write_whole(work, "st.journal.1", jr, 20);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "truncated header") != NULL);

    /* bad magic */
    copy_dir(dir, work);
    write_whole(work, "st.snap", (const uint8_t *)"{\"not\": \"a snapshot at all....\"}", 32);
    CHECK_EQ_INT(reopen(work, &got, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "magic") != NULL);
    free(snap);
    free(jr);
    model_free(&m);
    model_free(&got);
    rm_rf(tmp);
}

static int reject_third(const struct rt_journal_record *rec, void *userdata) {
    (void)rec;
    int *calls = userdata;
    return ++*calls == 3 ? -ENOTRECOVERABLE : 0;
}

TEST(journal_callback_rejects_record) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    struct model m = {0};
    make_store(tmp, dir, &m, 30);
    struct rt_journal *j = NULL;
    struct rt_journal_load_report rep;
    int calls = 0;
    CHECK_EQ_INT(rt_journal_open(dir, "st", NULL, reject_third, &calls, &j, &rep),
                 -ENOTRECOVERABLE);
    CHECK(j == NULL);
    CHECK_EQ_INT(calls, 3);
    CHECK(strstr(rep.message, "rejected") != NULL);
    model_free(&m);
    rm_rf(tmp);
}

/* ================= injected I/O faults ================= */

struct fault_case {
    enum op_kind kind;
    int err;
    size_t short_write;
    int nth; /* which call of `kind` inside the faulty commit fails */
};

/* Commit a batch that fails as described; check the failed state and that
 * a reopen keeps everything committed before. Returns the reopened model. */
static void run_commit_fault(struct fault_case fc, struct model *committed,
                             struct model *batch, struct model *got,
                             struct rt_journal_load_report *rep) {
    char tmp[PATH_MAX], dir[PATH_MAX];
    make_tmpdir(tmp);
    make_store(tmp, dir, committed, 50);
    struct faults f = {0};
    struct rt_journal_ops ops = fault_ops(&f);
    struct rt_journal *j = NULL;
    if (rt_journal_open(dir, "st", &ops, NULL, NULL, &j, NULL) < 0)
        abort();
    CHECK_EQ_INT(put_both(j, committed, "pre-fault", "committed"), 0);
    CHECK_EQ_INT(rt_journal_commit(j), 0);

    f.short_write = fc.short_write;
    f.fail_kind = fc.kind;
    f.fail_err = fc.err;
    f.fail_at = fc.kind == OP_ANY ? 0 : f.calls[fc.kind] + fc.nth;
    CHECK_EQ_INT(put_both(j, batch, "batch-a", "value a"), 0);
    CHECK_EQ_INT(put_both(j, batch, "batch-b", "value b"), 0);
    int r = rt_journal_commit(j);
    struct rt_journal_stats st;
    rt_journal_get_stats(j, &st);
    if (fc.kind == OP_ANY) { /* short writes only: must succeed */
        CHECK_EQ_INT(r, 0);
        CHECK(!st.failed);
        CHECK(f.calls[OP_WRITE] > 2);
        for (size_t i = 0; i < batch->n; i++)
            model_set(committed, batch->kv[i].key, batch->kv[i].key_len, batch->kv[i].value,
                      batch->kv[i].value_len);
    } else {
        CHECK_EQ_INT(r, -EIO);
        CHECK(st.failed);
        CHECK_EQ_INT(st.fail_errno, fc.err);
        CHECK(strstr(rt_journal_last_error(j), strerror(fc.err)) != NULL);
        int syncs = f.calls[OP_FDATASYNC];
        /* every later call fails without touching the disk (no fsync retry) */
        CHECK_EQ_INT(rt_journal_put(j, "later", 5, "x", 1), -EIO);
        CHECK_EQ_INT(rt_journal_commit(j), -EIO);
        CHECK_EQ_INT(rt_journal_compact(j, dump_model, committed), -EIO);
        CHECK_EQ_INT(f.calls[OP_FDATASYNC], syncs);
        CHECK(!rt_journal_should_compact(j));
    }
    rt_journal_close(j);
    CHECK_EQ_INT(reopen(dir, got, rep), 0);
    for (size_t i = 0; i < committed->n; i++) {
        struct kv *e = model_find(got, committed->kv[i].key, committed->kv[i].key_len);
        CHECK(e && e->value_len == committed->kv[i].value_len &&
              memcmp(e->value, committed->kv[i].value, e->value_len) == 0);
    }
    CHECK(model_find(got, "later", 5) == NULL);
    rm_rf(tmp);
}

static void check_fault(struct fault_case fc, bool batch_visible, uint64_t torn_bytes) {
    struct model committed = {0}, batch = {0}, got = {0};
    struct rt_journal_load_report rep;
    run_commit_fault(fc, &committed, &batch, &got, &rep);
    if (batch_visible) {
        /* written before the failed fdatasync: in the page cache, so visible */
        for (size_t i = 0; i < batch.n; i++)
            model_set(&committed, batch.kv[i].key, batch.kv[i].key_len, batch.kv[i].value,
                      batch.kv[i].value_len);
    }
    CHECK(model_equal(&committed, &got));
    CHECK_EQ_INT(rep.torn_tail, torn_bytes > 0);
    CHECK_EQ_INT(rep.torn_bytes, torn_bytes);
    model_free(&committed);
    model_free(&batch);
    model_free(&got);
}

TEST(journal_fault_write_eio) { check_fault((struct fault_case){OP_WRITE, EIO, 0, 1}, false, 0); }

TEST(journal_fault_write_enospc) {
    check_fault((struct fault_case){OP_WRITE, ENOSPC, 0, 1}, false, 0);
}

TEST(journal_fault_fdatasync_eio) {
    check_fault((struct fault_case){OP_FDATASYNC, EIO, 0, 1}, true, 0);
}

TEST(journal_short_writes_complete) {
    check_fault((struct fault_case){OP_ANY, 0, 5, 0}, false, 0);
}

TEST(journal_short_write_then_enospc) {
    /* two 7-byte pieces reach the file, the third write fails: a torn tail */
    check_fault((struct fault_case){OP_WRITE, ENOSPC, 7, 3}, false, 14);
}

struct compact_fault {
    enum op_kind kind;
    int nth; /* call of `kind` within the compaction */
    bool fatal;
    uint64_t gen_after_reopen;
};

TEST(journal_compaction_faults) {
    /* compaction order: write jhdr, fdatasync jhdr, write snap, fdatasync
     * snap, fsync dir, rename, fsync dir */
    const struct compact_fault cases[] = {
        {OP_WRITE, 1, false, 1},     {OP_FDATASYNC, 1, false, 1}, {OP_WRITE, 2, false, 1},
        {OP_FDATASYNC, 2, false, 1}, {OP_FSYNC_DIR, 1, false, 1}, {OP_RENAME, 1, true, 1},
        {OP_FSYNC_DIR, 2, true, 2},
    };
    for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
        char tmp[PATH_MAX], dir[PATH_MAX];
        make_tmpdir(tmp);
        struct model m = {0}, got = {0};
        make_store(tmp, dir, &m, 60);
        struct faults f = {0};
        struct rt_journal_ops ops = fault_ops(&f);
        struct rt_journal *j = NULL;
        REQUIRE(rt_journal_open(dir, "st", &ops, NULL, NULL, &j, NULL) == 0);
        f.fail_kind = cases[c].kind;
        f.fail_at = cases[c].nth;
        f.fail_err = cases[c].kind == OP_WRITE ? ENOSPC : EIO;
        int r = rt_journal_compact(j, dump_model, &m);
        CHECK(f.fired);
        struct rt_journal_stats st;
        rt_journal_get_stats(j, &st);
        CHECK_EQ_INT(st.failed, cases[c].fatal);
        if (cases[c].fatal) {
            CHECK_EQ_INT(r, -EIO);
            CHECK_EQ_INT(rt_journal_put(j, "x", 1, "y", 1), -EIO);
        } else {
            CHECK_EQ_INT(r, -f.fail_err);
            CHECK(!file_exists(dir, "st.snap.tmp") && !file_exists(dir, "st.journal.2"));
            CHECK_EQ_INT(st.generation, 1);
            CHECK_EQ_INT(put_both(j, &m, "after-failed-compaction", "still usable"), 0);
            CHECK_EQ_INT(rt_journal_commit(j), 0);
        }
        CHECK(rt_journal_last_error(j)[0] != '\0');
        rt_journal_close(j);
        struct rt_journal_load_report rep;
        CHECK_EQ_INT(reopen(dir, &got, &rep), 0);
        CHECK(model_equal(&m, &got));
        CHECK_EQ_INT(rep.generation, cases[c].gen_after_reopen);
        if (rt_test_failed)
            fprintf(stderr, "    (compaction fault case %zu)\n", c);
        model_free(&m);
        model_free(&got);
        rm_rf(tmp);
    }
}
TEST_MAIN()
