/* The enforcer's side of the watchdog channel (docs/protocol.md), after
 * OpenBSD's imsg daemons and OpenSSH's monitor: a Unix stream socket, a
 * peer check with SO_PEERCRED on every connection, and a per-connection
 * state machine with a table of the messages permitted in each state.
 *
 *   NEW   --HELLO (version 1)--> READY      (answered with HELLO_OK)
 *   READY: DEMOTE, HEARTBEAT, READINESS_QUERY, ACTUATED
 *
 * Anything else closes the connection at once: a frame the decoder refuses,
 * a message type the server sends (HELLO_OK, DEMOTE_ACK, ...) coming from
 * the peer, a type not permitted in the current state, EOF inside a frame.
 * Each is counted by reason and logged; none reaches a callback.
 *
 * Replies are written only after the callback returns, so an ACK is never
 * on the wire before the core has made the demotion durable. The server
 * runs on the caller's libevent loop and is not thread-safe. */
#ifndef RATCHET_ENF_SERVER_H
#define RATCHET_ENF_SERVER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"

#define RT_ENF_SERVER_DEFAULT_MAX_CONNECTIONS 4
#define RT_ENF_SERVER_MAX_CONNECTIONS 64
#define RT_ENF_SERVER_DEFAULT_IDLE_US (INT64_C(600) * 1000000) /* 10 min without a frame */
#define RT_ENF_SERVER_MAX_PEERS 64 /* entries of allowed_uids, and of allowed_gids */
/* Replies queued for a peer that does not read them; past this the server
 * stops reading that peer's requests until they drain. */
#define RT_ENF_SERVER_OUTPUT_MAX (64 * 1024)

struct rt_enf_server_options {
    /* Either socket_path (the server creates the socket: a stale socket
     * there is removed, a live one or a non-socket is an error; bind, chmod
     * to socket_mode, chown to socket_group, then listen) ... */
    const char *socket_path;
    mode_t socket_mode;
    bool has_socket_group;
    gid_t socket_group;
    /* ... or, with socket_path NULL, listen_fd: an AF_UNIX SOCK_STREAM socket
     * already listening (from sd_listen_fds()). The server owns it once
     * rt_enf_server_new() succeeded; on failure the caller still does. */
    int listen_fd;
    /* A peer is allowed when its uid is in allowed_uids OR its primary gid
     * (SO_PEERCRED) is in allowed_gids. Nothing is implied: not root, not
     * our own uid. Copied. */
    const uid_t *allowed_uids;
    size_t n_allowed_uids;
    const gid_t *allowed_gids;
    size_t n_allowed_gids;
    unsigned max_connections; /* 0: RT_ENF_SERVER_DEFAULT_MAX_CONNECTIONS */
    int64_t idle_timeout_us;  /* 0: RT_ENF_SERVER_DEFAULT_IDLE_US */
    uint8_t policy_sha256[32]; /* sent in HELLO_OK */
};

/* Callbacks, all called from the event loop; they must not free the server.
 * on_demote and on_readiness_query are required. */
struct rt_enf_server_ops {
    /* Fill reply as DEMOTE_ACK or DEMOTE_REFUSED (the server sets its
     * request_id to the request's). Return < 0 for an internal failure: the
     * server closes the connection without replying (the watchdog re-sends). */
    int (*on_demote)(const struct rt_msg_demote *req, struct rt_msg *reply, void *ud);
    void (*on_heartbeat)(int64_t ts_us, void *ud);                 /* optional; answered with HEARTBEAT_ACK */
    /* reply arrives with its bot set to the query's; < 0 closes without a reply. */
    int (*on_readiness_query)(const char *bot, struct rt_msg_readiness *reply, void *ud);
    void (*on_peer_activity)(void *ud); /* optional; every valid message from an allowed peer */
    /* Optional (without it ACTUATED is not permitted). Fill reply (the
     * server sets its for_seq to the request's) and return 0; return
     * -EINVAL when the request names something the log does not hold (no
     * demote record for_seq): a protocol violation, the connection is
     * closed as for a malformed frame; any other < 0 is an internal
     * failure (closed without a reply, the watchdog re-sends). */
    int (*on_actuated)(const struct rt_msg_actuated *req, struct rt_msg_actuated_ack *reply, void *ud);
    /* Optional, both or neither: around the requests taken from one read,
     * so that the handlers can do per-batch work once (the enforcer signs
     * one checkpoint and replaces its readiness view once for all the
     * demotions of a batch). The replies queued during the batch are written
     * to the peer only after on_batch_end has returned; if it fails (< 0),
     * the connection is closed and they are never sent. */
    void (*on_batch_begin)(void *ud);
    int (*on_batch_end)(void *ud);
};

/* Why a connection was closed for a protocol violation. */
enum rt_enf_proto_error {
    RT_ENF_PERR_BAD_HEADER = 0,  /* magic, flags, reserved, unknown type or oversized payload */
    RT_ENF_PERR_MALFORMED,       /* the payload was refused by rt_proto_decode() */
    RT_ENF_PERR_WRONG_DIRECTION, /* a server-to-peer type (HELLO_OK, DEMOTE_ACK, ...) from the peer */
    RT_ENF_PERR_WRONG_STATE,     /* a peer-to-server type not permitted in the state (DEMOTE before HELLO) */
    RT_ENF_PERR_TRUNCATED,       /* EOF inside a frame */
    RT_ENF_PERR_INVALID_REQUEST, /* well-formed, but names what the log does not hold (ACTUATED of a non-demote) */
    RT_ENF_PERR_COUNT
};

/* "bad_header" "malformed" "wrong_direction" "wrong_state" "truncated" "invalid_request";
 * "unknown" otherwise. */
const char *rt_enf_proto_error_name(enum rt_enf_proto_error e);

#define RT_ENF_MSG_TYPE_SLOTS (RT_MSG_TYPE_MAX + 1) /* messages[] is indexed by enum rt_msg_type */

struct rt_enf_server_stats {
    uint64_t accepted;         /* connections from allowed peers, served */
    uint64_t refused_peer;     /* closed at once: uid and gid not allowed */
    uint64_t refused_capacity; /* closed at once: max_connections open */
    uint64_t accept_errors;    /* accept() or getsockopt(SO_PEERCRED) failed */
    uint64_t protocol_errors[RT_ENF_PERR_COUNT];
    uint64_t messages[RT_ENF_MSG_TYPE_SLOTS]; /* valid messages received, by type */
    uint64_t idle_timeouts;
    uint64_t internal_errors;  /* a callback failed or gave a reply the encoder refused */
    unsigned open_connections;
};

struct rt_enf_server;

/* Returns NULL with errno set: EINVAL (options or ops), ENAMETOOLONG,
 * EEXIST (socket_path is not a socket), EADDRINUSE (a server is listening
 * there), ENOTSOCK (listen_fd is not a listening AF_UNIX stream socket),
 * or the errno of a failed system call. */
struct rt_enf_server *rt_enf_server_new(struct event_base *base, const struct rt_enf_server_options *opt,
                                        const struct rt_enf_server_ops *ops, void *ud);
/* Closes every connection and the listening socket; removes the socket file
 * if the server created it and it is still the same file. */
void rt_enf_server_free(struct rt_enf_server *s);
void rt_enf_server_get_stats(const struct rt_enf_server *s, struct rt_enf_server_stats *out);

#endif
