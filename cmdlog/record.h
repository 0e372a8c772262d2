/* Records of the command log (docs/log-format.md is the normative text).
 *
 * A line is <body> TAB <base64 Ed25519 signature> LF. The body is compact
 * JSON written by our own serializer with a fixed key order; the parser
 * accepts only that exact spelling (it re-serializes what it read and
 * compares byte for byte), so every record has one encoding and the body
 * never holds a TAB or LF. The signed message is
 *   "ratchet-command-log-v1" LF <origin> LF <body>. */
#ifndef RATCHET_CMDLOG_RECORD_H
#define RATCHET_CMDLOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmdlog/logkey.h"
#include "common/proto.h"
#include "common/strbuf.h"

#define RT_LOG_FORMAT_VERSION 1
#define RT_LOG_SIG_CONTEXT "ratchet-command-log-v1"
#define RT_LOG_ORIGIN_MAX 255
#define RT_LOG_TARGET_MAX 255
#define RT_LOG_LINE_MAX 16384 /* bytes of a line without its LF */
#define RT_LOG_ERR_MAX 256
/* Times in records: 2000-01-01 .. 2200-01-01 (as the watchdog protocol). */
#define RT_LOG_TIME_MIN INT64_C(946684800000000)
#define RT_LOG_TIME_MAX INT64_C(7258118400000000)
#define RT_LOG_DURATION_MAX (INT64_C(3650) * 86400 * 1000000)

enum rt_log_type {
    RT_LOG_GENESIS = 1,      /* seq 0 only: origin and the first key */
    RT_LOG_DEMOTE,           /* a bot moved to Limited live */
    RT_LOG_WATCHDOG_SILENT,  /* the watchdog stopped sending heartbeats */
    RT_LOG_WATCHDOG_BACK,    /* and came back */
    RT_LOG_TORN_TAIL,        /* the bytes before this line are a torn write */
    RT_LOG_ACTUATED,         /* the control plane applied demote record for_seq */
    RT_LOG_KEY_ROTATION,     /* signed by the old key; later records by the new one */
};

struct rt_log_genesis {
    char origin[RT_LOG_ORIGIN_MAX + 1];
    char key_name[RT_LOG_KEY_NAME_MAX + 1];
    uint8_t public_key[RT_LOG_PUBKEY_LEN];
};

struct rt_log_watchdog_silent {
    int64_t since_us;
};

struct rt_log_watchdog_back {
    int64_t silent_since_us, back_at_us;
};

struct rt_log_torn_tail {
    uint64_t torn_bytes;     /* length of the torn region (without the LF after it) */
    uint8_t torn_sha256[32]; /* SHA-256 of those bytes */
    uint64_t offset;         /* file offset where the torn region starts */
};

struct rt_log_actuated {
    uint64_t for_seq; /* an earlier demote record */
    char target[RT_LOG_TARGET_MAX + 1];
    int http_status; /* 100..599 */
};

struct rt_log_key_rotation {
    char new_key_name[RT_LOG_KEY_NAME_MAX + 1];
    uint8_t new_public_key[RT_LOG_PUBKEY_LEN];
    uint8_t new_key_id[RT_LOG_KEY_ID_LEN];
};

struct rt_log_record {
    /* common fields: the writer fills them */
    uint64_t seq;
    int64_t ts_us;
    enum rt_log_type type;
    uint8_t prev[32];
    uint8_t key_id[RT_LOG_KEY_ID_LEN];
    uint8_t policy_sha256[32];
    union {
        struct rt_log_genesis genesis;
        struct rt_msg_demote demote; /* exactly what the watchdog's request carried */
        struct rt_log_watchdog_silent watchdog_silent;
        struct rt_log_watchdog_back watchdog_back;
        struct rt_log_torn_tail torn_tail;
        struct rt_log_actuated actuated;
        struct rt_log_key_rotation key_rotation;
    } u;
};

/* Called once per valid record, in order. A negative return aborts the walk
 * with that error. */
typedef int (*rt_log_record_fn)(const struct rt_log_record *rec, void *userdata);

const char *rt_log_type_name(enum rt_log_type t); /* "demote", ... or NULL */
int rt_log_type_from_name(const char *s, size_t n, enum rt_log_type *out);

/* Checks every field's range and charset and writes the canonical body.
 * -EINVAL with err saying which field, -ENOMEM. */
int rt_log_record_body(const struct rt_log_record *r, struct rt_strbuf *out, char *err, size_t errlen);

/* Strict parse of a body (no TAB/LF). -EBADMSG with err saying why. */
int rt_log_record_parse(const char *body, size_t len, struct rt_log_record *r, char *err, size_t errlen);

/* Splits a line (without LF) into body and signature. -EBADMSG if there is
 * not exactly one TAB followed by the canonical base64 of 64 bytes. */
int rt_log_line_split(const char *line, size_t len, size_t *body_len, uint8_t sig[RT_LOG_SIG_LEN]);

/* Parses a whole line: split + body. */
int rt_log_line_parse(const char *line, size_t len, struct rt_log_record *r, uint8_t sig[RT_LOG_SIG_LEN],
                      char *err, size_t errlen);

/* The signed message: context LF origin LF body, into buf (reset first). */
void rt_log_signed_message(const char *origin, const char *body, size_t body_len, struct rt_strbuf *buf);

/* For demote records from the watchdog channel. */
void rt_log_record_from_demote(struct rt_log_record *r, const struct rt_msg_demote *d);

bool rt_log_origin_valid(const char *origin);

#endif
