/* The watchdog <-> enforcer channel: small framed, versioned messages
 * (after OpenBSD's imsg). Pure encode/decode; every decoded field is checked
 * for type, length, NUL, charset and range, and anything wrong is refused.
 * docs/protocol.md describes the bytes.
 *
 * Frame: "RTC1" | type u8 | flags u8 (0) | reserved u16 (0) | length u32 LE |
 *        payload (length bytes, at most RT_PROTO_MAX_PAYLOAD).
 * Payload fields are little-endian; strings are u16 length + bytes (no NUL,
 * valid UTF-8, per-field charset and maximum); doubles must be finite. */
#ifndef RATCHET_PROTO_H
#define RATCHET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

#define RT_PROTO_MAGIC "RTC1"
#define RT_PROTO_HEADER 12
#define RT_PROTO_MAX_PAYLOAD 4096
#define RT_PROTO_REQUEST_ID 16
#define RT_PROTO_REASON_MAX 64
#define RT_PROTO_SUMMARY_MAX 1024
#define RT_PROTO_PEER_MAX 32

enum rt_msg_type {
    RT_MSG_HELLO = 1,          /* watchdog -> enforcer: first message */
    RT_MSG_HELLO_OK = 2,       /* enforcer -> watchdog */
    RT_MSG_DEMOTE = 3,         /* watchdog -> enforcer */
    RT_MSG_DEMOTE_ACK = 4,     /* enforcer -> watchdog: durable */
    RT_MSG_DEMOTE_REFUSED = 5, /* enforcer -> watchdog: the policy does not justify it */
    RT_MSG_HEARTBEAT = 6,      /* watchdog -> enforcer */
    RT_MSG_HEARTBEAT_ACK = 7,
    RT_MSG_READINESS_QUERY = 8,
    RT_MSG_READINESS = 9,
    RT_MSG_ACTUATED = 10,     /* watchdog -> enforcer: the control plane took demote record for_seq */
    RT_MSG_ACTUATED_ACK = 11, /* enforcer -> watchdog: the actuated record is durable */
};
#define RT_MSG_TYPE_MAX RT_MSG_ACTUATED_ACK

enum rt_demote_status {
    RT_DEMOTE_RECORDED = 1,        /* a new signed record */
    RT_DEMOTE_DUPLICATE = 2,       /* the same (bot, window) was recorded before */
    RT_DEMOTE_ALREADY_LIMITED = 3, /* the bot was already in Limited live */
};

enum rt_actuated_status {
    RT_ACTUATED_RECORDED = 1,  /* a new signed actuated record */
    RT_ACTUATED_DUPLICATE = 2, /* demote record for_seq was already marked actuated */
};

/* Same limit as an actuated record's "target" (cmdlog/record.h). */
#define RT_PROTO_TARGET_MAX 255

struct rt_msg_hello {
    uint16_t version; /* 1 */
    char peer[RT_PROTO_PEER_MAX + 1];
};

struct rt_msg_hello_ok {
    uint16_t version;
    uint8_t policy_sha256[32];
};

struct rt_msg_demote {
    uint8_t request_id[RT_PROTO_REQUEST_ID];
    char bot[RT_BOT_ID_MAX + 1];
    enum rt_cond cond;
    char reason_code[RT_PROTO_REASON_MAX + 1];
    int64_t window_start_us, decided_at_us, window_us, unknown_us, evidence_ts_us;
    bool evidence_known, has_threshold;
    double evidence_value, threshold;
    char summary[RT_PROTO_SUMMARY_MAX + 1];
};

struct rt_msg_demote_ack {
    uint8_t request_id[RT_PROTO_REQUEST_ID];
    enum rt_demote_status status;
    uint64_t seq; /* the log record that holds the demotion */
};

struct rt_msg_demote_refused {
    uint8_t request_id[RT_PROTO_REQUEST_ID];
    char reason[RT_PROTO_SUMMARY_MAX + 1];
};

struct rt_msg_heartbeat {
    int64_t ts_us;
};

struct rt_msg_readiness_query {
    char bot[RT_BOT_ID_MAX + 1];
};

struct rt_msg_readiness {
    char bot[RT_BOT_ID_MAX + 1];
    uint8_t readiness; /* enum rt_readiness */
    int64_t since_us;  /* 0 if never demoted */
    uint64_t seq;
};

/* The control plane answered http_status (200..299) to the push of demote
 * record for_seq at target (its URL without credentials or query). */
struct rt_msg_actuated {
    uint64_t for_seq;
    uint16_t http_status;
    char target[RT_PROTO_TARGET_MAX + 1];
};

struct rt_msg_actuated_ack {
    uint64_t for_seq;
    enum rt_actuated_status status;
    uint64_t seq; /* the actuated record */
};

struct rt_msg {
    enum rt_msg_type type;
    union {
        struct rt_msg_hello hello;
        struct rt_msg_hello_ok hello_ok;
        struct rt_msg_demote demote;
        struct rt_msg_demote_ack demote_ack;
        struct rt_msg_demote_refused demote_refused;
        struct rt_msg_heartbeat heartbeat;
        struct rt_msg_readiness_query readiness_query;
        struct rt_msg_readiness readiness;
        struct rt_msg_actuated actuated;
        struct rt_msg_actuated_ack actuated_ack;
    } u;
};

/* Encodes a whole frame into buf. Returns its length or -EINVAL (a field out
 * of range: the encoder refuses what the decoder would) / -ENOBUFS. */
int rt_proto_encode(const struct rt_msg *m, uint8_t *buf, size_t cap);

/* Inspects a frame header: returns the total frame length (header + payload)
 * once `len` bytes include the header, 0 if more bytes are needed, -EBADMSG
 * for a bad magic/flags/reserved/type or an oversized payload. */
int rt_proto_frame_length(const uint8_t *buf, size_t len);

/* Decodes one whole frame (as sized by rt_proto_frame_length). -EBADMSG with
 * a reason in err for anything malformed. */
int rt_proto_decode(const uint8_t *buf, size_t len, struct rt_msg *m, char *err, size_t errlen);

const char *rt_msg_type_name(enum rt_msg_type t);

#endif
