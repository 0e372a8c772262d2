/* Hand-off of demotion decisions to the enforcer over its Unix socket.
 * Every decision is first made durable in the "pending" journal in the state
 * directory, then sent; it stays pending (and is re-sent after reconnects
 * and restarts, with backoff) until the enforcer acknowledges it. Request ids
 * are derived from (bot, condition, window start), so a decision re-made
 * after a crash has the same id and the enforcer records it once.
 *
 * It also carries ACTUATED reports (the control plane took a demote record,
 * watchdog/actuate.h) to the enforcer, one at a time, until ACTUATED_ACK.
 * These are not journaled: the enforcer's "actuated" record is the durable
 * truth, and the caller reports again after a restart what the log does not
 * show as done. A connection lost while an ACTUATED is unanswered delays
 * that report with a growing backoff, so a report the enforcer refuses (it
 * closes the connection) cannot keep the demotions from getting through. */
#ifndef RATCHET_HANDOFF_H
#define RATCHET_HANDOFF_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/journal.h"
#include "common/proto.h"
#include "policy/engine.h"

struct rt_handoff_options {
    const char *socket_path;
    const char *state_dir;
    int64_t heartbeat_us;     /* default 30 s */
    int64_t retry_min_us;     /* reconnect backoff, default 500 ms */
    int64_t retry_max_us;     /* default 10 s */
    int64_t refused_retry_us; /* re-send a refused request after this, default 1 h */
    int64_t actuated_retry_max_us; /* cap of an ACTUATED's backoff after lost connections, default 1 h */
    const struct rt_journal_ops *ops; /* NULL: real I/O */
};

/* Latency histogram (cumulative buckets, Prometheus style): le[i] counts
 * the observations <= rt_handoff_latency_le_us[i]; count includes the
 * ones above the last bound. */
#define RT_HANDOFF_LATENCY_BUCKETS 12
extern const int64_t rt_handoff_latency_le_us[RT_HANDOFF_LATENCY_BUCKETS];
struct rt_handoff_latency {
    uint64_t le[RT_HANDOFF_LATENCY_BUCKETS];
    uint64_t count;
    int64_t sum_us;
};

struct rt_handoff_stats {
    uint64_t pending, submitted, acked, duplicates, already_limited, refused;
    uint64_t connects, connect_failures, protocol_errors;
    bool connected;
    int64_t last_ack_us; /* wall clock, 0 if none */
    uint64_t actuations_pending, actuations_acked, actuations_duplicates;
    uint64_t actuations_dropped; /* connections lost while an ACTUATED was unanswered */
    /* Acknowledged decisions of this process (not those restored from the
     * journal at start-up): from the decision's decided_at (the window
     * completed) and from the moment it was made, to the acknowledgement. */
    struct rt_handoff_latency since_complete, since_decision;
};

struct rt_handoff;

int rt_handoff_open(struct event_base *base, const struct rt_handoff_options *opt,
                    struct rt_handoff **out, struct rt_journal_load_report *report);
/* Makes the decision durable (journal commit) and queues it for sending.
 * Returns 0, 1 if an identical request was already pending, or -EIO when the
 * store failed (the caller must not report the decision as handed off). */
int rt_handoff_submit(struct rt_handoff *h, const struct rt_decision *d, const char *summary);
/* Group commit: after rt_handoff_defer(), submissions are written to the
 * journal but neither committed nor sent until rt_handoff_flush(), which
 * commits them with one fdatasync and sends them (a no-op without any).
 * The caller must flush before it makes the decisions' "fired" state
 * durable. rt_handoff_flush() returns -EIO when the store failed. */
void rt_handoff_defer(struct rt_handoff *h);
int rt_handoff_flush(struct rt_handoff *h);
/* Queues an ACTUATED report: the control plane answered http_status
 * (200..299) to the push of demote record for_seq at target. Returns 0, 1 if
 * one for for_seq is already queued, -EINVAL (a field the protocol refuses),
 * -ENOSPC (RT_HANDOFF_MAX_ACTUATIONS queued), -ENOMEM. */
#define RT_HANDOFF_MAX_ACTUATIONS 65536
int rt_handoff_actuated(struct rt_handoff *h, uint64_t for_seq, unsigned http_status, const char *target);
void rt_handoff_get_stats(const struct rt_handoff *h, struct rt_handoff_stats *out);
/* Calls fn for each pending request (for status). */
void rt_handoff_foreach_pending(const struct rt_handoff *h,
                                void (*fn)(const struct rt_msg_demote *d, bool refused,
                                           const char *refusal, void *ud),
                                void *ud);
void rt_handoff_close(struct rt_handoff *h);

/* Deterministic request id of a decision (exposed for tests and the enforcer). */
void rt_handoff_request_id(const char *bot, enum rt_cond cond, int64_t window_start_us,
                           uint8_t out[RT_PROTO_REQUEST_ID]);

#endif
