/* Crash-safe persistent key/value store: a checksummed append-only journal
 * of (key, value) records plus a snapshot it is compacted into. The on-disk
 * format and the crash rules are in docs/state-store.md.
 *
 * The store keeps no map of the records: the caller holds the state. On open
 * it replays every record through a callback (snapshot first, then journal,
 * in file order); the latest record of a key wins and an empty value means
 * "delete the key". Writes are buffered by rt_journal_put() and made durable
 * by rt_journal_commit() (one write + one fdatasync per group). Compaction
 * writes the caller's full state as a new snapshot and starts a new, empty
 * journal generation.
 *
 * Failure model: after any write or fsync error the handle is failed and
 * every later call returns -EIO (the kernel may have dropped the unwritten
 * pages, so retrying could report success for data that is gone). The way
 * out is to close, reopen (which replays what is durable) and retry.
 *
 * Single writer: rt_journal_open() takes an exclusive lock on
 * "<dir>/<name>.lock" (-EBUSY if another handle holds it). Not thread-safe. */
#ifndef RATCHET_JOURNAL_H
#define RATCHET_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RT_JOURNAL_KEY_MAX 255u              /* bytes; keys are 1..255 bytes */
#define RT_JOURNAL_VALUE_MAX 65536u          /* bytes; 0 means delete */
#define RT_JOURNAL_NAME_MAX 64u              /* store name: [A-Za-z0-9_-][A-Za-z0-9._-]* */
#define RT_JOURNAL_PENDING_MAX (64u << 20)   /* buffered, uncommitted bytes */
#define RT_JOURNAL_COMPACT_MIN (1u << 20)    /* see rt_journal_should_compact() */
#define RT_JOURNAL_MESSAGE_MAX 512

/* I/O operations the store performs for durability. Each returns bytes
 * written (write_fn) or 0, and a negative errno on failure. Tests replace
 * them to inject EIO/ENOSPC/short writes; NULL ops means rt_journal_real_ops. */
struct rt_journal_ops {
    ssize_t (*write_fn)(void *ctx, int fd, const void *buf, size_t len);
    int (*fdatasync_fn)(void *ctx, int fd);
    int (*rename_fn)(void *ctx, const char *from, const char *to);
    int (*fsync_dir_fn)(void *ctx, const char *dir);
    void *ctx;
};
extern const struct rt_journal_ops rt_journal_real_ops;

struct rt_journal_record {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value; /* valid only during the callback */
    size_t value_len;     /* 0: the key was deleted */
    bool from_snapshot;
};
/* Return 0 to continue; a negative errno aborts the load with that error. */
typedef int (*rt_journal_record_fn)(const struct rt_journal_record *rec, void *userdata);

/* What a load found. On failure `message` says why ("<path>: <what> at
 * offset N"); on success it is empty unless a torn tail or leftover files
 * were found. */
struct rt_journal_load_report {
    bool existed;               /* false: no store yet (rt_journal_open created one) */
    uint64_t generation;        /* journal generation in use */
    uint64_t snapshot_records;
    uint64_t snapshot_bytes;
    uint64_t journal_records;
    uint64_t journal_bytes;     /* valid bytes (header included), after any truncation */
    bool torn_tail;             /* the journal ended in an incomplete/bad record */
    uint64_t torn_offset;       /* where that record started */
    uint64_t torn_bytes;        /* bytes dropped from torn_offset to the end */
    bool truncated;             /* the torn tail was cut off (never in rt_journal_load) */
    unsigned stale_files;       /* leftovers of an interrupted compaction */
    char message[RT_JOURNAL_MESSAGE_MAX];
};

struct rt_journal;

/* Open (creating dir and the store if missing) and replay it through fn.
 * A torn journal tail is reported and truncated; any other damage is
 * -EBADMSG with report->message saying what and where. On any error the
 * caller must discard what fn built: records may have been delivered before
 * the damage was found. Other errors: -EBUSY (locked), -EINVAL (bad name),
 * -EIO (truncation/creation failed), -ENOMEM, other -errno. */
int rt_journal_open(const char *dir, const char *name, const struct rt_journal_ops *ops,
                    rt_journal_record_fn fn, void *userdata, struct rt_journal **out,
                    struct rt_journal_load_report *report);

/* Read-only replay for tools: same checks, but takes no lock, creates,
 * truncates and removes nothing. A missing store is empty (existed=false).
 * -EAGAIN if a concurrent compaction replaced the files while reading:
 * discard and retry. */
int rt_journal_load(const char *dir, const char *name, rt_journal_record_fn fn, void *userdata,
                    struct rt_journal_load_report *report);

/* Releases the handle and the lock. Uncommitted puts are discarded. */
void rt_journal_close(struct rt_journal *j);
static inline void rt_journal_closep(struct rt_journal **j) {
    if (*j)
        rt_journal_close(*j);
}

/* Buffer one record (value_len 0 deletes). -EINVAL: empty key or NULL
 * pointer with a non-zero length; -E2BIG: key > 255 or value > 64 KiB;
 * -ENOBUFS: more than RT_JOURNAL_PENDING_MAX uncommitted bytes (commit
 * first); -EIO: failed handle. */
int rt_journal_put(struct rt_journal *j, const void *key, size_t key_len, const void *value,
                   size_t value_len);
int rt_journal_delete(struct rt_journal *j, const void *key, size_t key_len);

/* Make all buffered records durable: one write (short writes continued),
 * one fdatasync. No-op without buffered records. Any error fails the
 * handle and returns -EIO (the cause is in stats.fail_errno and
 * rt_journal_last_error()). A crash during commit keeps any prefix of the
 * group's records: records are atomic one by one, not per group. */
int rt_journal_commit(struct rt_journal *j);

/* Compaction: commits buffered records, then calls dump, which must call
 * rt_journal_snapshot_add() once per live key with the caller's full state
 * (empty values are skipped). The first add error is kept and fails the
 * compaction even if dump ignores it; dump returning < 0 aborts with that
 * error. dump must not call other rt_journal functions on this handle.
 * Errors before the new snapshot is renamed into place leave the store
 * unchanged and the handle usable; errors at or after the rename fail the
 * handle (-EIO). */
struct rt_journal_snapshot;
typedef int (*rt_journal_dump_fn)(struct rt_journal_snapshot *snap, void *userdata);
int rt_journal_snapshot_add(struct rt_journal_snapshot *snap, const void *key, size_t key_len,
                            const void *value, size_t value_len);
int rt_journal_compact(struct rt_journal *j, rt_journal_dump_fn dump, void *userdata);

/* Journal file bytes > max(RT_JOURNAL_COMPACT_MIN, snapshot file bytes). */
bool rt_journal_should_compact(const struct rt_journal *j);

struct rt_journal_stats {
    uint64_t generation;
    uint64_t journal_bytes;    /* current journal file size */
    uint64_t snapshot_bytes;   /* current snapshot file size */
    uint64_t snapshot_records;
    uint64_t pending_records;  /* buffered, not yet committed */
    uint64_t pending_bytes;
    uint64_t bytes_written;    /* since open: journal appends, headers and snapshots */
    uint64_t records_written;  /* since open: journal records committed */
    uint64_t commits;          /* since open: successful group commits */
    uint64_t compactions;      /* since open: successful compactions */
    bool failed;
    int fail_errno;            /* positive errno of the failure, 0 if not failed */
};
void rt_journal_get_stats(const struct rt_journal *j, struct rt_journal_stats *out);
/* The last error of commit/compaction (and so the cause of a failure), e.g.
 * "fdatasync /var/lib/ratchet/windows.journal.3: Input/output error";
 * "" if there was none. */
const char *rt_journal_last_error(const struct rt_journal *j);

#endif
