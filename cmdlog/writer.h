/* The writer of the signed, append-only command log: <dir>/commands.log,
 * <dir>/checkpoint (latest signed checkpoint, replaced atomically, 0644) and
 * <dir>/checkpoints (every checkpoint ever signed, appended).
 *
 * rt_logw_open() verifies the whole existing log before anything else and
 * fails closed (-EBADMSG, rep->message naming the first bad seq and why);
 * the existing checkpoint and history must match it too, so a log rolled
 * back or truncated under a newer checkpoint is refused rather than
 * continued. A torn final record (the last line without LF, or lines that
 * do not parse or verify with nothing valid after them) is kept, an LF is
 * appended if missing, and a signed torn_tail record describing the bytes
 * (offset, length, SHA-256) is appended. A new log is created whole (temp
 * file + link) with its genesis record.
 *
 * Appends: one write() of the whole line (short writes continued), then
 * fdatasync(), then success. Any write or fsync error returns -EIO and
 * leaves the writer failed: every later call returns -EIO, and the caller
 * is expected to exit (after a failed fsync the kernel may have dropped the
 * pages; a retry could report success for data that is gone). A partial
 * line left behind becomes a torn tail at the next open.
 *
 * Single writer: an exclusive flock on commands.log (-EBUSY). Not
 * thread-safe. */
#ifndef RATCHET_CMDLOG_WRITER_H
#define RATCHET_CMDLOG_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmdlog/logkey.h"
#include "cmdlog/record.h"

#define RT_LOGW_FILE "commands.log"
#define RT_LOGW_CHECKPOINT "checkpoint"
#define RT_LOGW_HISTORY "checkpoints"
#define RT_LOGW_MESSAGE_MAX 512

/* I/O the writer performs for durability, replaceable to inject faults
 * (EIO, ENOSPC, short writes). Each returns bytes written (write_fn) or 0,
 * and a negative errno on failure. now_fn gives the records' "ts" (wall
 * clock, microseconds). NULL ops, or a NULL member: the real thing. */
struct rt_logw_ops {
    ssize_t (*write_fn)(void *ctx, int fd, const void *buf, size_t len);
    int (*fdatasync_fn)(void *ctx, int fd);
    int (*rename_fn)(void *ctx, const char *from, const char *to);
    int (*fsync_dir_fn)(void *ctx, const char *dir);
    int64_t (*now_fn)(void *ctx);
    void *ctx;
};

struct rt_logw_options {
    const struct rt_logw_ops *ops;
    /* Earlier keys of this log, after key rotations: the genesis key must
     * be the writer's key or one of these (trust anchors). */
    const struct rt_log_pubkey *const *trusted;
    size_t n_trusted;
    unsigned threads; /* verification threads; 0: every CPU */
    /* Key rotation on open: when the log's current key is rotate_from (not
     * the writer's key), the open appends a key_rotation record signed by
     * rotate_from that hands over to the writer's key. rotate_from is also
     * trusted as an anchor. A log already on the writer's key is left alone
     * (rep->rotate_from_unused). */
    const struct rt_log_key *rotate_from;
};

struct rt_logw_report {
    bool created;              /* a new log with its genesis record */
    uint64_t records;          /* valid records found (before anything was appended) */
    bool torn_tail;            /* a torn tail was found and described */
    uint64_t torn_offset, torn_bytes;
    uint64_t torn_seq;         /* seq of the torn_tail record appended */
    bool had_checkpoint;       /* <dir>/checkpoint existed and matched */
    uint64_t checkpoint_size;
    uint64_t history_verified;
    uint64_t history_ignored;  /* torn or foreign entries in <dir>/checkpoints */
    bool rotated;              /* a key_rotation record was appended (rotation_seq) */
    uint64_t rotation_seq;
    bool rotate_from_unused;   /* rotate_from given but the log is already on the writer's key */
    bool has_bad_seq;
    uint64_t bad_seq;
    char message[RT_LOGW_MESSAGE_MAX];
};

struct rt_logw;

/* Opens or creates the log in dir (created 0755 if missing), verifies it
 * with every core, calls fn (may be NULL) for every valid record in order,
 * including a genesis or torn_tail record written by the open itself, and
 * returns the writer. key is the current signing key (the writer keeps its
 * own reference). Errors: -EBADMSG (log, checkpoint or history invalid,
 * also a log of another origin, or a deleted or emptied log whose
 * checkpoints remain), -EKEYREJECTED (the log's current key is not `key`),
 * -EINVAL (invalid origin), -EBUSY (another writer), -EIO, -errno, or fn's
 * error; rep->message says why. rep may be NULL. fn also sees a torn_tail or
 * key_rotation record that the open appends. */
int rt_logw_open(const char *dir, const char *origin, const struct rt_log_key *key, const uint8_t policy_sha256[32],
                 rt_log_record_fn fn, void *ud, struct rt_logw **out, struct rt_logw_report *rep);
int rt_logw_open_ex(const char *dir, const char *origin, const struct rt_log_key *key,
                    const uint8_t policy_sha256[32], const struct rt_logw_options *opts, rt_log_record_fn fn,
                    void *ud, struct rt_logw **out, struct rt_logw_report *rep);

/* Appends a demote, watchdog_silent, watchdog_back or actuated record: the
 * caller fills type and the type's fields; the writer fills seq, ts, prev,
 * key_id and policy_sha256 (into *rec too), signs, writes, fdatasyncs
 * (after rt_logw_defer_sync(): leaves the fdatasync to rt_logw_sync()).
 * -EINVAL (bad field, another type, actuated for a seq that is not a
 * demote record: nothing written), -EIO (failed writer), -ENOMEM. */
int rt_logw_append(struct rt_logw *w, struct rt_log_record *rec, uint64_t *seq);

/* Group commit. After rt_logw_defer_sync(), appends write their records
 * without fdatasync; rt_logw_sync() makes them all durable with one
 * fdatasync and ends the deferral (-EIO: failed writer, as for an append).
 * A record is durable only then: the caller acknowledges nothing appended
 * in between before rt_logw_sync() succeeds. rt_logw_checkpoint() syncs
 * first (a checkpoint never covers records that are not durable), and so
 * does rt_logw_close(). */
void rt_logw_defer_sync(struct rt_logw *w);
int rt_logw_sync(struct rt_logw *w);

/* Appends a key_rotation record signed by the current key, then signs
 * everything after it (records, checkpoints) with new_key. */
int rt_logw_rotate_key(struct rt_logw *w, const struct rt_log_key *new_key, uint64_t *seq);

/* policy_sha256 of the records appended from now on. */
void rt_logw_set_policy(struct rt_logw *w, const uint8_t policy_sha256[32]);

/* Signs a checkpoint of the current size with "ts" = now_us, appends it to
 * <dir>/checkpoints (fdatasync) and atomically replaces <dir>/checkpoint.
 * Call after appends and on a heartbeat. -EIO (failed writer). */
int rt_logw_checkpoint(struct rt_logw *w, int64_t now_us);

uint64_t rt_logw_size(const struct rt_logw *w); /* records, = tree size */
/* RFC 6962 root of the records so far. */
void rt_logw_root(const struct rt_logw *w, uint8_t root[32]);
bool rt_logw_failed(const struct rt_logw *w);
/* "write commands.log: No space left on device", or "". */
const char *rt_logw_last_error(const struct rt_logw *w);

/* chattr +a on commands.log and checkpoints (FS_IOC_SETFLAGS, FS_APPEND_FL).
 * Then the kernel refuses truncation, in-place writes (pwrite appends),
 * unlink and rename of those files to every process, including one running
 * as the enforcer's user, until a process with CAP_LINUX_IMMUTABLE clears
 * the flag; it does not stop root, and is not inherited by new files.
 * -EPERM without CAP_LINUX_IMMUTABLE, -EOPNOTSUPP where the file system has
 * no such flag. */
int rt_logw_set_append_only(struct rt_logw *w);

void rt_logw_close(struct rt_logw *w);
static inline void rt_logw_closep(struct rt_logw **w) {
    if (*w)
        rt_logw_close(*w);
}

#endif
