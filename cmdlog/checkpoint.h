/* Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.
 *
 *   <origin>\n<size>\n<base64 root>\nts <RFC 3339>\n\n— <name> <base64(key id || sig)>\n
 *
 * The signed bytes are the body up to and including its last newline before
 * the blank line. The "ts" extension line makes every heartbeat checkpoint
 * of an idle log distinct. A verifier ignores signature lines by unknown
 * keys and rejects a note that no known key signed, or that a known key
 * signed badly. */
#ifndef RATCHET_CMDLOG_CHECKPOINT_H
#define RATCHET_CMDLOG_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmdlog/logkey.h"
#include "cmdlog/record.h"
#include "common/strbuf.h"

#define RT_LOG_CHECKPOINT_MAX 8192 /* bytes of one note */
#define RT_LOG_NOTE_MAX_SIGS 16
#define RT_LOG_NOTE_NAME_MAX 255

struct rt_log_note_sig {
    char name[RT_LOG_NOTE_NAME_MAX + 1];
    bool ed25519;                     /* 4-byte id + 64-byte signature; else another algorithm */
    uint8_t id[RT_LOG_KEY_ID_LEN];
    uint8_t sig[RT_LOG_SIG_LEN];
};

struct rt_log_checkpoint {
    char origin[RT_LOG_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[32];
    int64_t ts_us;
    size_t body_len; /* the signed bytes are text[0..body_len) */
    size_t n_sigs;
    struct rt_log_note_sig sigs[RT_LOG_NOTE_MAX_SIGS];
};

/* Formats and signs a checkpoint note into out. */
int rt_log_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[32], int64_t ts_us,
                           const struct rt_log_key *key, struct rt_strbuf *out);

/* Parses a note's structure (no signature check). -EBADMSG with err. */
int rt_log_checkpoint_parse(const char *text, size_t len, struct rt_log_checkpoint *cp, char *err, size_t errlen);

/* Checks cp's signatures (cp parsed from text) against named keys.
 * 0: at least one known key signed and no known key's signature fails;
 * -EKEYREJECTED otherwise, with err saying which. */
int rt_log_checkpoint_verify(const struct rt_log_checkpoint *cp, const char *text,
                             const struct rt_log_pubkey *const *keys, size_t n_keys, char *err, size_t errlen);

#endif
