/* Verifier of the command log, for auditors (ratchetctl log verify) and for
 * the writer, which verifies the whole log before it appends.
 *
 * Checks: every line is <body> TAB <signature> in canonical form; seq runs
 * 0, 1, 2... without gaps; prev is the SHA-256 of the previous record's
 * line; seq 0 is the genesis record and its key is one of the trusted keys;
 * every record is signed (over "ratchet-command-log-v1" LF origin LF body)
 * by the log's current key, which changes only through a key_rotation
 * record signed by the previous key; every field is in range; an actuated
 * record names an earlier demote record; bytes that are not a valid record
 * are accepted only when the very next line is a valid torn_tail record
 * that describes them exactly (offset, length, SHA-256). Then checkpoints:
 * the given one and every one in the history must be signed by a key of
 * the log, name the log's origin, not exceed the log's size, and carry the
 * RFC 6962 root of the log's first `size` records; history sizes must not
 * decrease. Signature checks run on every CPU, split into ranges.
 *
 * Trust: the genesis key must be among the trusted keys (matched by public
 * key bytes); later keys are trusted because the previous key announced
 * them. */
#ifndef RATCHET_CMDLOG_VERIFY_H
#define RATCHET_CMDLOG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmdlog/logkey.h"
#include "cmdlog/record.h"

#define RT_LOG_MAX_BYTES (UINT64_C(1) << 30)   /* a log file larger than this is refused */
#define RT_LOG_MAX_LINES 2000000u               /* 256 bytes of bookkeeping each: 512 MiB at most */
#define RT_LOG_HISTORY_MAX_BYTES (256u << 20)  /* <dir>/checkpoints */
#define RT_LOG_MAX_KEYS 64                      /* genesis key + rotations */
#define RT_LOG_MAX_THREADS 256
#define RT_LOG_REASON_MAX 512

/* Progress of the signature checks, called from the calling thread. */
typedef void (*rt_log_progress_fn)(uint64_t done, uint64_t total, void *userdata);

struct rt_log_verify_opts {
    const struct rt_log_pubkey *const *trusted; /* trust anchors: the genesis key must be one */
    size_t n_trusted;
    const char *origin;       /* NULL: accept the genesis record's origin */
    const char *checkpoint;   /* a checkpoint note held elsewhere, or NULL */
    size_t checkpoint_len;
    const char *history;      /* checkpoints history text, or NULL */
    size_t history_len;
    bool no_history_file;     /* rt_log_verify_file: do not read <dir>/checkpoints */
    unsigned threads;         /* 0: every CPU this process may run on */
    rt_log_progress_fn progress;
    void *progress_userdata;
};

struct rt_log_verify_result {
    bool ok;
    uint64_t records;          /* valid records: the tree size */
    uint64_t lines;
    bool has_bad_seq;
    uint64_t bad_seq;          /* the first record that is not valid */
    char reason[RT_LOG_REASON_MAX]; /* "seq 17: signature does not verify", ... */
    char origin[RT_LOG_ORIGIN_MAX + 1];
    uint8_t root[32];          /* RFC 6962 root of all valid records */
    uint64_t torn_tails;       /* torn regions covered by torn_tail records */
    uint64_t key_rotations;
    char key_name[RT_LOG_KEY_NAME_MAX + 1]; /* the log's current key */
    uint8_t key_id[RT_LOG_KEY_ID_LEN];
    bool checkpoint_checked;   /* the given checkpoint matched */
    uint64_t checkpoint_size;
    uint64_t history_verified; /* history checkpoints that verified and matched */
    uint64_t history_ignored;  /* history entries that do not parse or are not signed by a log key */
    unsigned threads;
};

/* 0: valid. -EBADMSG: not valid (res->reason says why, res->bad_seq names
 * the record when one is at fault). Other negative errno: could not verify
 * (I/O, memory, too large), also with res->reason. */
int rt_log_verify_buffer(const char *data, size_t len, const struct rt_log_verify_opts *opts,
                         struct rt_log_verify_result *res);
/* Reads path and, unless opts->history or opts->no_history_file, the
 * history <dirname(path)>/checkpoints when it exists. */
int rt_log_verify_file(const char *path, const struct rt_log_verify_opts *opts, struct rt_log_verify_result *res);

/* Verifies one record line on its own (a control plane receiving pushed
 * records): canonical form, signature over origin, and key_id = key's id.
 * Continuity (seq, prev) is the caller's: keep the last accepted record's
 * seq and line hash and require seq + 1 and that prev. 0, -EBADMSG (err). */
int rt_log_verify_line(const char *line, size_t len, const char *origin, const struct rt_log_pubkey *key,
                       struct rt_log_record *rec, char *err, size_t errlen);

/* Reads a whole file of at most max bytes (a log, a checkpoint). */
int rt_log_read_file(const char *path, uint64_t max, char **data, size_t *len);

#endif
