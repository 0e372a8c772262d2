/* What the writer needs from verification besides the verdict: the state
 * at the end of the valid records, and the torn tail if any. Not for
 * other users. */
#ifndef RATCHET_CMDLOG_VERIFY_INTERNAL_H
#define RATCHET_CMDLOG_VERIFY_INTERNAL_H

#include "cmdlog/merkle.h"
#include "cmdlog/verify.h"

struct rt_log_tail_state {
    uint64_t records;
    uint8_t last_hash[32];       /* SHA-256 of the last valid record's line */
    struct rt_merkle tree;       /* over the valid records */
    struct rt_log_pubkey *key;   /* the key the next record must be signed with (owned) */
    char origin[RT_LOG_ORIGIN_MAX + 1];
    bool torn;                   /* bytes after the last valid record, not yet covered */
    uint64_t torn_offset, torn_bytes;
    uint8_t torn_sha256[32];
    bool torn_needs_lf;          /* the file does not end with LF */
};

/* As rt_log_verify_buffer; with allow_torn_tail, trailing bytes that hold
 * no valid record are reported in tail instead of failing. fn (optional)
 * then receives every valid record in order; its error aborts. tail->key
 * must be freed by the caller (rt_log_pubkey_free) when not NULL. */
int rt_log_verify_internal(const char *data, size_t len, const struct rt_log_verify_opts *opts,
                           bool allow_torn_tail, rt_log_record_fn fn, void *userdata,
                           struct rt_log_verify_result *res, struct rt_log_tail_state *tail);

#endif
