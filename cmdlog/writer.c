#include "cmdlog/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/codec.h"
#include "cmdlog/merkle.h"
#include "cmdlog/verify_internal.h"
#include "common/fsutil.h"
#include "common/util.h"

struct rt_logw {
    char dir[PATH_MAX], path[PATH_MAX], cp_path[PATH_MAX], hist_path[PATH_MAX];
    char origin[RT_LOG_ORIGIN_MAX + 1];
    struct rt_logw_ops ops;
    int fd;          /* commands.log, O_APPEND, flock'ed */
    int hist_fd;     /* checkpoints, O_APPEND */
    unsigned hist_sep; /* newlines to write before the next history entry (resync after a torn one) */
    struct rt_log_key *key;
    uint8_t policy[32];
    uint64_t size;
    uint8_t last_hash[32];
    struct rt_merkle tree;
    uint64_t *demotes; /* seqs of demote records, ascending, for actuated */
    size_t n_demotes, cap_demotes;
    bool failed;
    bool defer_sync, unsynced; /* rt_logw_defer_sync: records written, not yet fdatasync'd */
    char last_error[RT_LOG_ERR_MAX + 64];
    struct rt_strbuf body, msg, out;
};

/* ---- real I/O ---- */

static ssize_t real_write(void *ctx, int fd, const void *buf, size_t len) {
    (void)ctx;
    ssize_t n = write(fd, buf, len);
    return n < 0 ? -errno : n;
}

static int real_fdatasync(void *ctx, int fd) {
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int real_rename(void *ctx, const char *from, const char *to) {
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int real_fsync_dir(void *ctx, const char *dir) {
    (void)ctx;
    return rt_fsync_dir(dir);
}

static int64_t real_now(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_ops(struct rt_logw *w, const struct rt_logw_ops *o) {
    struct rt_logw_ops d = {real_write, real_fdatasync, real_rename, real_fsync_dir, real_now, NULL};
    if (o) {
        d.ctx = o->ctx;
        if (o->write_fn)
            d.write_fn = o->write_fn;
        if (o->fdatasync_fn)
            d.fdatasync_fn = o->fdatasync_fn;
        if (o->rename_fn)
            d.rename_fn = o->rename_fn;
        if (o->fsync_dir_fn)
            d.fsync_dir_fn = o->fsync_dir_fn;
        if (o->now_fn)
            d.now_fn = o->now_fn;
    }
    w->ops = d;
}

_printf_(3, 4) static int fail(struct rt_logw *w, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->last_error, sizeof w->last_error, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof w->last_error)
        snprintf(w->last_error + n, sizeof w->last_error - (size_t)n, ": %s", strerror(err));
    w->failed = true;
    return -EIO;
}

/* Writes everything, continuing short writes. */
static int write_all(struct rt_logw *w, int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = w->ops.write_fn(w->ops.ctx, fd, p, len);
        if (n == -EINTR)
            continue;
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- records ---- */

static int add_demote(struct rt_logw *w, uint64_t seq) {
    if (w->n_demotes == w->cap_demotes) {
        size_t cap = w->cap_demotes ? w->cap_demotes * 2 : 64;
        uint64_t *d = realloc(w->demotes, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        w->demotes = d;
        w->cap_demotes = cap;
    }
    w->demotes[w->n_demotes++] = seq;
    return 0;
}

static bool is_demote(const struct rt_logw *w, uint64_t seq) {
    size_t lo = 0, hi = w->n_demotes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->demotes[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->n_demotes && w->demotes[lo] == seq;
}

/* Fills the common fields and builds "<body>\t<sig>\n" into w->out, after
 * `prefix` (an LF closing a torn line, or nothing). */
static int build_line(struct rt_logw *w, struct rt_log_record *rec, const char *prefix, char *err, size_t errlen) {
    rec->seq = w->size;
    rec->ts_us = w->ops.now_fn(w->ops.ctx);
    memcpy(rec->prev, w->last_hash, 32);
    memcpy(rec->key_id, rt_log_key_id_of(w->key), RT_LOG_KEY_ID_LEN);
    memcpy(rec->policy_sha256, w->policy, 32);
    int r = rt_log_record_body(rec, &w->body, err, errlen);
    if (r < 0)
        return r;
    rt_log_signed_message(w->origin, w->body.s, w->body.len, &w->msg);
    if (w->msg.oom)
        return -ENOMEM;
    uint8_t sig[RT_LOG_SIG_LEN];
    if ((r = rt_log_key_sign(w->key, w->msg.s, w->msg.len, sig)) < 0)
        return r;
    char sig64[RT_LOG_B64_LEN(RT_LOG_SIG_LEN) + 1];
    rt_log_b64(sig, sizeof sig, sig64);
    rt_sb_reset(&w->out);
    rt_sb_puts(&w->out, prefix);
    rt_sb_putn(&w->out, w->body.s, w->body.len);
    rt_sb_printf(&w->out, "\t%s\n", sig64);
    return w->out.oom ? -ENOMEM : 0;
}

/* Writes w->out (whose last line is the record) and makes it durable. */
/* fdatasync of the records written since the last one (group commit). */
static int sync_log(struct rt_logw *w) {
    if (!w->unsynced)
        return 0;
    int r = w->ops.fdatasync_fn(w->ops.ctx, w->fd);
    if (r < 0)
        return fail(w, -r, "fdatasync %s", w->path);
    w->unsynced = false;
    return 0;
}

static int commit_line(struct rt_logw *w, const struct rt_log_record *rec, size_t prefix_len) {
    int r = write_all(w, w->fd, w->out.s, w->out.len);
    if (r < 0)
        return fail(w, -r, "write %s", w->path);
    w->unsynced = true;
    if (!w->defer_sync && (r = sync_log(w)) < 0)
        return r;
    const char *line = w->out.s + prefix_len;
    size_t len = w->out.len - prefix_len - 1;
    uint8_t leaf[32];
    rt_log_sha256(line, len, w->last_hash);
    rt_merkle_leaf_hash(line, len, leaf);
    rt_merkle_append(&w->tree, leaf);
    w->size++;
    if (rec->type == RT_LOG_DEMOTE && add_demote(w, rec->seq) < 0)
        return fail(w, ENOMEM, "remember demote record");
    return 0;
}

static int append_record(struct rt_logw *w, struct rt_log_record *rec, const char *prefix, uint64_t *seq) {
    if (w->failed)
        return -EIO;
    char err[RT_LOG_ERR_MAX];
    int r = build_line(w, rec, prefix, err, sizeof err);
    if (r < 0) {
        snprintf(w->last_error, sizeof w->last_error, "record refused: %s", err);
        return r;
    }
    if ((r = commit_line(w, rec, strlen(prefix))) < 0)
        return r;
    if (seq)
        *seq = rec->seq;
    return 0;
}

int rt_logw_append(struct rt_logw *w, struct rt_log_record *rec, uint64_t *seq) {
    if (w->failed)
        return -EIO;
    switch (rec->type) {
    case RT_LOG_DEMOTE:
    case RT_LOG_WATCHDOG_SILENT:
    case RT_LOG_WATCHDOG_BACK:
        break;
    case RT_LOG_ACTUATED:
        if (!is_demote(w, rec->u.actuated.for_seq))
            return -EINVAL;
        break;
    default:
        return -EINVAL; /* genesis, torn_tail and key_rotation are the writer's own */
    }
    return append_record(w, rec, "", seq);
}

/* Appends the key_rotation record (filled into *rec) and switches keys. */
static int rotate_key(struct rt_logw *w, const struct rt_log_key *new_key, struct rt_log_record *rec,
                      uint64_t *seq) {
    if (w->failed)
        return -EIO;
    if (memcmp(rt_log_key_pub(new_key), rt_log_key_pub(w->key), RT_LOG_PUBKEY_LEN) == 0)
        return -EINVAL;
    struct rt_log_key *dup;
    int r = rt_log_key_dup(new_key, &dup);
    if (r < 0)
        return r;
    *rec = (struct rt_log_record){.type = RT_LOG_KEY_ROTATION};
    struct rt_log_key_rotation *k = &rec->u.key_rotation;
    rt_strlcpy(k->new_key_name, rt_log_key_name(new_key), sizeof k->new_key_name);
    memcpy(k->new_public_key, rt_log_key_pub(new_key), RT_LOG_PUBKEY_LEN);
    memcpy(k->new_key_id, rt_log_key_id_of(new_key), RT_LOG_KEY_ID_LEN);
    r = append_record(w, rec, "", seq); /* signed by the old key */
    if (r < 0) {
        rt_log_key_free(dup);
        return r;
    }
    rt_log_key_free(w->key);
    w->key = dup;
    return 0;
}

int rt_logw_rotate_key(struct rt_logw *w, const struct rt_log_key *new_key, uint64_t *seq) {
    struct rt_log_record rec;
    return rotate_key(w, new_key, &rec, seq);
}

void rt_logw_defer_sync(struct rt_logw *w) { w->defer_sync = true; }

int rt_logw_sync(struct rt_logw *w) {
    w->defer_sync = false;
    return w->failed ? -EIO : sync_log(w);
}

void rt_logw_set_policy(struct rt_logw *w, const uint8_t policy_sha256[32]) { memcpy(w->policy, policy_sha256, 32); }
uint64_t rt_logw_size(const struct rt_logw *w) { return w->size; }
void rt_logw_root(const struct rt_logw *w, uint8_t root[32]) { rt_merkle_root(&w->tree, root); }
bool rt_logw_failed(const struct rt_logw *w) { return w->failed; }
const char *rt_logw_last_error(const struct rt_logw *w) { return w->last_error; }

/* ---- checkpoints ---- */

static int replace_checkpoint(struct rt_logw *w, const char *note, size_t len) {
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", w->cp_path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return fail(w, ENAMETOOLONG, "checkpoint path");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return fail(w, errno, "create %s", tmp);
    int r = fchmod(fd, 0644) < 0 ? -errno : 0; /* auditors and the control plane read it */
    const char *what = "chmod";
    if (r == 0 && (r = write_all(w, fd, note, len)) < 0)
        what = "write";
    if (r == 0 && (r = w->ops.fdatasync_fn(w->ops.ctx, fd)) < 0)
        what = "fdatasync";
    if (close(fd) < 0 && r == 0) {
        r = -errno;
        what = "close";
    }
    if (r == 0 && (r = w->ops.rename_fn(w->ops.ctx, tmp, w->cp_path)) < 0)
        what = "rename";
    if (r < 0) {
        unlink(tmp);
        return fail(w, -r, "%s %s", what, tmp);
    }
    if ((r = w->ops.fsync_dir_fn(w->ops.ctx, w->dir)) < 0)
        return fail(w, -r, "fsync %s", w->dir);
    return 0;
}

int rt_logw_checkpoint(struct rt_logw *w, int64_t now_us) {
    if (w->failed)
        return -EIO;
    int r0 = sync_log(w); /* never publish a tree head over records that are not durable */
    if (r0 < 0)
        return r0;
    uint8_t root[32];
    rt_merkle_root(&w->tree, root);
    struct rt_strbuf note = {0};
    int r = rt_log_checkpoint_sign(w->origin, w->size, root, now_us, w->key, &note);
    if (r < 0) {
        rt_sb_free(&note);
        return r == -EINVAL ? -EINVAL : fail(w, -r, "sign checkpoint");
    }
    /* History first: every published checkpoint is in the history. */
    rt_sb_reset(&w->out);
    rt_sb_putn(&w->out, "\n\n", w->hist_sep);
    rt_sb_putn(&w->out, note.s, note.len);
    rt_sb_puts(&w->out, "\n");
    if (w->out.oom) {
        rt_sb_free(&note);
        return -ENOMEM;
    }
    r = write_all(w, w->hist_fd, w->out.s, w->out.len);
    if (r < 0)
        r = fail(w, -r, "write %s", w->hist_path);
    else if ((r = w->ops.fdatasync_fn(w->ops.ctx, w->hist_fd)) < 0)
        r = fail(w, -r, "fdatasync %s", w->hist_path);
    else
        w->hist_sep = 0;
    if (r == 0)
        r = replace_checkpoint(w, note.s, note.len);
    rt_sb_free(&note);
    return r;
}

/* ---- append-only flag ---- */

static int set_append_flag(int fd) {
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
        return errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL ? -EOPNOTSUPP : -errno;
    if (flags & FS_APPEND_FL)
        return 0;
    flags |= FS_APPEND_FL;
    if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
        return errno == ENOTTY || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
    return 0;
}

int rt_logw_set_append_only(struct rt_logw *w) {
    int r = set_append_flag(w->fd);
    if (r == 0)
        r = set_append_flag(w->hist_fd);
    return r;
}

void rt_logw_close(struct rt_logw *w) {
    if (!w)
        return;
    if (w->fd >= 0 && !w->failed)
        sync_log(w); /* deferred records: what a clean close owes them */
    if (w->fd >= 0)
        close(w->fd); /* releases the flock */
    if (w->hist_fd >= 0)
        close(w->hist_fd);
    rt_log_key_free(w->key);
    free(w->demotes);
    rt_sb_free(&w->body);
    rt_sb_free(&w->msg);
    rt_sb_free(&w->out);
    free(w);
}

/* ---- open ---- */

_printf_(2, 3) static void report(struct rt_logw_report *rep, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->message, sizeof rep->message, fmt, ap);
    va_end(ap);
}

static int join(char buf[PATH_MAX], const char *dir, const char *name) {
    int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int read_all_fd(int fd, uint64_t max, char **data, size_t *len) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    size_t cap = (size_t)st.st_size, have = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    while (have < cap) {
        ssize_t n = pread(fd, buf + have, cap - have, (off_t)have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    buf[have] = '\0';
    *data = buf;
    *len = have;
    return 0;
}

/* Optional small file: *data NULL when it does not exist. */
static int read_optional(const char *path, uint64_t max, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    int r = rt_log_read_file(path, max, data, len);
    return r == -ENOENT ? 0 : r;
}

/* Creates commands.log whole: the genesis line in a temp file, linked into
 * place (never over an existing log). -EEXIST if another process won. */
static int create_log(struct rt_logw *w, struct rt_logw_report *rep) {
    struct rt_log_record rec = {.type = RT_LOG_GENESIS};
    rt_strlcpy(rec.u.genesis.origin, w->origin, sizeof rec.u.genesis.origin);
    rt_strlcpy(rec.u.genesis.key_name, rt_log_key_name(w->key), sizeof rec.u.genesis.key_name);
    memcpy(rec.u.genesis.public_key, rt_log_key_pub(w->key), RT_LOG_PUBKEY_LEN);
    char err[RT_LOG_ERR_MAX] = "", tmp[PATH_MAX];
    int r = build_line(w, &rec, "", err, sizeof err);
    if (r < 0)
        return report(rep, "genesis record: %s", err), r;
    if ((r = join(tmp, w->dir, ".commands.log.XXXXXX")) < 0)
        return r;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return r = -errno, report(rep, "create %s: %s", tmp, strerror(-r)), r;
    r = fchmod(fd, 0644) < 0 ? -errno : write_all(w, fd, w->out.s, w->out.len);
    if (r == 0)
        r = w->ops.fdatasync_fn(w->ops.ctx, fd);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && link(tmp, w->path) < 0)
        r = -errno;
    unlink(tmp);
    if (r == -EEXIST)
        return r;
    if (r == 0)
        r = w->ops.fsync_dir_fn(w->ops.ctx, w->dir);
    if (r < 0) {
        report(rep, "create %s: %s", w->path, strerror(-r));
        return -EIO;
    }
    return 0;
}

static bool has_checkpoints(const struct rt_logw *w) {
    struct stat st;
    return stat(w->cp_path, &st) == 0 || (stat(w->hist_path, &st) == 0 && st.st_size > 0);
}

static int open_log_fd(struct rt_logw *w, struct rt_logw_report *rep) {
    for (int attempt = 0; attempt < 3; attempt++) {
        w->fd = open(w->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        if (w->fd >= 0)
            return 0;
        int r = -errno;
        if (r != -ENOENT)
            return report(rep, "open %s: %s", w->path, strerror(-r)), r;
        if (has_checkpoints(w))
            return report(rep, "%s is missing but checkpoints of it exist: the log was deleted; refusing to start "
                               "a new one", w->path),
                   -EBADMSG;
        r = create_log(w, rep);
        if (r < 0 && r != -EEXIST)
            return r;
        rep->created = r == 0;
    }
    return report(rep, "open %s: created but cannot be opened", w->path), -EIO;
}

/* A pre-created empty file (e.g. to chattr +a it before the first start). */
static int init_empty_log(struct rt_logw *w, struct rt_logw_report *rep) {
    if (has_checkpoints(w))
        return report(rep, "%s is empty but checkpoints of it exist: the log was truncated", w->path), -EBADMSG;
    struct rt_log_record rec = {.type = RT_LOG_GENESIS};
    rt_strlcpy(rec.u.genesis.origin, w->origin, sizeof rec.u.genesis.origin);
    rt_strlcpy(rec.u.genesis.key_name, rt_log_key_name(w->key), sizeof rec.u.genesis.key_name);
    memcpy(rec.u.genesis.public_key, rt_log_key_pub(w->key), RT_LOG_PUBKEY_LEN);
    char err[RT_LOG_ERR_MAX] = "";
    int r = build_line(w, &rec, "", err, sizeof err);
    if (r < 0)
        return report(rep, "genesis record: %s", err), r;
    r = write_all(w, w->fd, w->out.s, w->out.len);
    if (r == 0)
        r = w->ops.fdatasync_fn(w->ops.ctx, w->fd);
    if (r < 0)
        return report(rep, "write %s: %s", w->path, strerror(-r)), -EIO;
    rep->created = true;
    return 0;
}

struct deliver_ctx {
    struct rt_logw *w;
    rt_log_record_fn fn;
    void *ud;
};

static int on_record(const struct rt_log_record *rec, void *ud) {
    struct deliver_ctx *d = ud;
    if (rec->type == RT_LOG_DEMOTE && add_demote(d->w, rec->seq) < 0)
        return -ENOMEM;
    return d->fn ? d->fn(rec, d->ud) : 0;
}

static int verify_existing(struct rt_logw *w, const char *data, size_t len, const struct rt_logw_options *opts,
                           struct deliver_ctx *dc, struct rt_logw_report *rep, struct rt_log_tail_state *tail) {
    _cleanup_free_ char *cp = NULL, *hist = NULL;
    size_t cp_len = 0, hist_len = 0;
    int r = read_optional(w->cp_path, RT_LOG_CHECKPOINT_MAX, &cp, &cp_len);
    if (r == 0)
        r = read_optional(w->hist_path, RT_LOG_HISTORY_MAX_BYTES, &hist, &hist_len);
    if (r < 0)
        return report(rep, "read checkpoints in %s: %s", w->dir, strerror(-r)), r;
    w->hist_sep = hist_len == 0 || (hist_len >= 2 && memcmp(hist + hist_len - 2, "\n\n", 2) == 0) ? 0
                  : hist[hist_len - 1] == '\n'                                                     ? 1
                                                                                                   : 2;
    size_t n_trusted = opts ? opts->n_trusted : 0, n = 0;
    const struct rt_log_pubkey **trusted = calloc(n_trusted + 2, sizeof *trusted);
    if (!trusted)
        return -ENOMEM;
    trusted[n++] = rt_log_key_public(w->key);
    if (opts && opts->rotate_from)
        trusted[n++] = rt_log_key_public(opts->rotate_from);
    for (size_t i = 0; i < n_trusted; i++)
        trusted[n++] = opts->trusted[i];
    struct rt_log_verify_opts vo = {
        .trusted = trusted,
        .n_trusted = n,
        .origin = w->origin,
        .checkpoint = cp,
        .checkpoint_len = cp_len,
        .history = hist,
        .history_len = hist_len,
        .threads = opts ? opts->threads : 0,
    };
    struct rt_log_verify_result res;
    r = rt_log_verify_internal(data, len, &vo, true, on_record, dc, &res, tail);
    free(trusted);
    rep->records = res.records;
    rep->had_checkpoint = res.checkpoint_checked;
    rep->checkpoint_size = res.checkpoint_size;
    rep->history_verified = res.history_verified;
    rep->history_ignored = res.history_ignored;
    rep->has_bad_seq = res.has_bad_seq;
    rep->bad_seq = res.bad_seq;
    if (r < 0)
        report(rep, "%s: %s", w->path, res.reason);
    return r;
}

/* The log's current key must be the writer's: a record signed by another
 * key would make the log invalid. */
static bool is_current_key(const struct rt_log_tail_state *tail, const struct rt_log_key *k) {
    return tail->key && memcmp(rt_log_pubkey_id(tail->key), rt_log_key_id_of(k), RT_LOG_KEY_ID_LEN) == 0 &&
           memcmp(rt_log_pubkey_raw(tail->key), rt_log_key_pub(k), RT_LOG_PUBKEY_LEN) == 0;
}

/* The log's current key must be the writer's, or rotate_from when the open
 * is to rotate (*rotate): a record signed by another key would make the log
 * invalid. */
static int check_current_key(struct rt_logw *w, const struct rt_log_tail_state *tail,
                             const struct rt_log_key *rotate_from, bool *rotate, struct rt_logw_report *rep) {
    *rotate = false;
    if (is_current_key(tail, w->key)) {
        rep->rotate_from_unused = rotate_from != NULL;
        return 0;
    }
    if (rotate_from && is_current_key(tail, rotate_from)) {
        *rotate = true;
        return 0;
    }
    report(rep, "%s is signed by key \"%s\"; this writer holds key \"%s\"%s (use the log's current key)", w->path,
           tail->key ? rt_log_pubkey_name(tail->key) : "?", rt_log_key_name(w->key),
           rotate_from ? " and the previous key does not match either" : "");
    return -EKEYREJECTED;
}

/* Makes rotate_from the signing key, so that a torn_tail record and the
 * key_rotation record are signed by the log's current key. */
static int start_rotation(struct rt_logw *w, const struct rt_log_key *rotate_from, struct rt_log_key **target) {
    struct rt_log_key *old;
    int r = rt_log_key_dup(rotate_from, &old);
    if (r < 0)
        return r;
    *target = w->key;
    w->key = old;
    return 0;
}

static int finish_rotation(struct rt_logw *w, struct rt_log_key *target, struct deliver_ctx *dc,
                           struct rt_logw_report *rep) {
    struct rt_log_record rec;
    int r = rotate_key(w, target, &rec, &rep->rotation_seq);
    rt_log_key_free(target);
    if (r < 0)
        return report(rep, "%s: key rotation: %s", w->path, w->failed ? w->last_error : strerror(-r)), r;
    rep->rotated = true;
    return dc->fn ? dc->fn(&rec, dc->ud) : 0;
}

static int append_torn_tail(struct rt_logw *w, const struct rt_log_tail_state *tail, struct deliver_ctx *dc,
                            struct rt_logw_report *rep) {
    struct rt_log_record rec = {.type = RT_LOG_TORN_TAIL};
    rec.u.torn_tail.offset = tail->torn_offset;
    rec.u.torn_tail.torn_bytes = tail->torn_bytes;
    memcpy(rec.u.torn_tail.torn_sha256, tail->torn_sha256, 32);
    int r = append_record(w, &rec, tail->torn_needs_lf ? "\n" : "", &rep->torn_seq);
    if (r < 0)
        return report(rep, "%s: %s", w->path, w->last_error), r;
    rep->torn_tail = true;
    rep->torn_offset = tail->torn_offset;
    rep->torn_bytes = tail->torn_bytes;
    report(rep, "%s: torn write of %" PRIu64 " bytes at offset %" PRIu64 " kept and described by torn_tail record %"
           PRIu64, w->path, tail->torn_bytes, tail->torn_offset, rep->torn_seq);
    return dc->fn ? dc->fn(&rec, dc->ud) : 0;
}

static int open_files(struct rt_logw *w, const struct rt_logw_options *opts, rt_log_record_fn fn, void *ud,
                      struct rt_logw_report *rep) {
    int r = open_log_fd(w, rep);
    if (r < 0)
        return r;
    if (flock(w->fd, LOCK_EX | LOCK_NB) < 0)
        return r = errno == EWOULDBLOCK ? -EBUSY : -errno,
               report(rep, "%s: %s", w->path, r == -EBUSY ? "locked by another writer" : strerror(-r)), r;
    bool hist_existed = access(w->hist_path, F_OK) == 0;
    w->hist_fd = open(w->hist_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (w->hist_fd < 0)
        return r = -errno, report(rep, "open %s: %s", w->hist_path, strerror(-r)), r;
    if (!hist_existed && (r = w->ops.fsync_dir_fn(w->ops.ctx, w->dir)) < 0)
        return report(rep, "fsync %s: %s", w->dir, strerror(-r)), -EIO;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    if ((r = read_all_fd(w->fd, RT_LOG_MAX_BYTES, &data, &len)) == 0 && len == 0) {
        if ((r = init_empty_log(w, rep)) < 0)
            return r;
        free(data);
        data = NULL;
        r = read_all_fd(w->fd, RT_LOG_MAX_BYTES, &data, &len);
    }
    if (r < 0)
        return report(rep, "read %s: %s", w->path, strerror(-r)), r;
    struct deliver_ctx dc = {w, fn, ud};
    struct rt_log_tail_state tail;
    r = verify_existing(w, data, len, opts, &dc, rep, &tail);
    const struct rt_log_key *rotate_from = opts ? opts->rotate_from : NULL;
    bool rotate = false;
    struct rt_log_key *target = NULL;
    if (r == 0)
        r = check_current_key(w, &tail, rotate_from, &rotate, rep);
    rt_log_pubkey_free(tail.key);
    if (r == 0 && rotate)
        r = start_rotation(w, rotate_from, &target);
    if (r < 0)
        return r;
    w->size = tail.records;
    memcpy(w->last_hash, tail.last_hash, 32);
    w->tree = tail.tree;
    if (tail.torn && (r = append_torn_tail(w, &tail, &dc, rep)) < 0) {
        rt_log_key_free(target);
        return r;
    }
    return rotate ? finish_rotation(w, target, &dc, rep) : 0;
}

int rt_logw_open_ex(const char *dir, const char *origin, const struct rt_log_key *key,
                    const uint8_t policy_sha256[32], const struct rt_logw_options *opts, rt_log_record_fn fn,
                    void *ud, struct rt_logw **out, struct rt_logw_report *rep) {
    struct rt_logw_report scratch;
    rep = rep ? rep : &scratch;
    memset(rep, 0, sizeof *rep);
    *out = NULL;
    if (!dir || !key || !policy_sha256 || !origin || !rt_log_origin_valid(origin))
        return report(rep, "invalid origin \"%s\" (1-%d of [A-Za-z0-9._:/-])", origin ? origin : "",
                      RT_LOG_ORIGIN_MAX),
               -EINVAL;
    struct rt_logw *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = w->hist_fd = -1;
    set_ops(w, opts ? opts->ops : NULL);
    rt_strlcpy(w->origin, origin, sizeof w->origin);
    memcpy(w->policy, policy_sha256, 32);
    rt_merkle_init(&w->tree);
    int r = rt_log_key_dup(key, &w->key);
    if (r == 0 && (!rt_strlcpy(w->dir, dir, sizeof w->dir) || join(w->path, dir, RT_LOGW_FILE) < 0 ||
                   join(w->cp_path, dir, RT_LOGW_CHECKPOINT) < 0 || join(w->hist_path, dir, RT_LOGW_HISTORY) < 0))
        r = -ENAMETOOLONG;
    if (r == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST)
        r = -errno;
    if (r < 0)
        report(rep, "%s: %s", dir, strerror(-r));
    else
        r = open_files(w, opts, fn, ud, rep);
    if (r < 0) {
        rt_logw_close(w);
        return r;
    }
    *out = w;
    return 0;
}

int rt_logw_open(const char *dir, const char *origin, const struct rt_log_key *key, const uint8_t policy_sha256[32],
                 rt_log_record_fn fn, void *ud, struct rt_logw **out, struct rt_logw_report *rep) {
    return rt_logw_open_ex(dir, origin, key, policy_sha256, NULL, fn, ud, out, rep);
}
