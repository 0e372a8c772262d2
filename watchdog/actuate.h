/* Actuation: the watchdog pushes every "demote" record of the enforcer's
 * signed command log to the firm's control plane, which applies the
 * demotion (Limited live). The records are signed, so no trusted courier is
 * needed: the watchdog only reads the log (world-readable), and the
 * enforcer keeps no network.
 *
 * Once a second (and at once after each finished push) the module reads the
 * complete lines appended to <log_dir>/commands.log since the last read (it
 * keeps the byte offset; a missing file is waited for; a last line without
 * its LF is left for later; at most a bounded number of bytes per round and
 * of records in memory). A demote record is pending until an "actuated"
 * record names it: the log itself is the durable record of what is done, so
 * after a restart the module rebuilds the pending set by reading the log
 * from the start and re-pushes only what is still open.
 *
 * Pushes go one at a time, in log order: a POST of the record line without
 * its LF (Content-Type: application/x-ratchet-record), retried with backoff
 * until a 2xx answer. Then on_pushed is called (the daemon hands an ACTUATED
 * report to the enforcer, which appends the actuated record), and the next
 * record is pushed. Delivery is at least once: a record pushed again (after
 * a restart between the 2xx and the actuated record) is the same bytes, and
 * the control plane answers it 2xx again (docs/log-format.md).
 *
 * The module does not verify signatures (the control plane does); a line
 * that does not parse (torn bytes) is skipped. */
#ifndef RATCHET_WD_ACTUATE_H
#define RATCHET_WD_ACTUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "watchdog/fetch.h"

struct event_base;

#define WD_ACTUATE_CONTENT_TYPE "application/x-ratchet-record"
#define WD_ACTUATE_TARGET_MAX 255 /* = RT_LOG_TARGET_MAX */
#define WD_ACTUATE_DEFAULT_MAX_PENDING 65536
#define WD_ACTUATE_DEFAULT_SCAN_BUDGET (4u << 20) /* bytes read per round */
#define WD_ACTUATE_DEFAULT_RETRY_MIN_US (INT64_C(1) * 1000000)
#define WD_ACTUATE_DEFAULT_RETRY_MAX_US (INT64_C(300) * 1000000)
#define WD_ACTUATE_DEFAULT_SCAN_US (INT64_C(1) * 1000000)

/* The control plane answered http_status (2xx) to the push of demote record
 * seq at target. Return < 0 to push it again later (e.g. the hand-off queue
 * is full). */
typedef int (*wd_actuate_pushed_fn)(uint64_t seq, unsigned http_status, const char *target, void *ud);

struct wd_actuate_options {
    const char *log_dir;               /* holds commands.log */
    const char *url;                   /* where records are POSTed */
    const struct rt_fetch_auth *auth;  /* NULL: none; the strings are copied */
    struct rt_fetch_options fetch;     /* timeouts, ca_file ...; max_concurrent is forced to 1 */
    wd_actuate_pushed_fn on_pushed;    /* required */
    void *ud;
    /* 0: the defaults above */
    int64_t scan_interval_us, retry_min_us, retry_max_us;
    size_t max_pending;                /* demote records held; more are read again later */
    size_t scan_budget;
};

enum wd_actuate_state {
    WD_ACTUATE_WAITING = 0, /* not pushed yet, or failed and waiting for its retry */
    WD_ACTUATE_PUSHING,     /* a POST in flight */
    WD_ACTUATE_PUSHED,      /* 2xx answered; waiting for the enforcer's actuated record */
};

struct wd_actuate_stats {
    uint64_t pushes[RT_FETCH_OUTCOME_COUNT]; /* finished POSTs by outcome (cancelled ones excluded) */
    uint64_t demotes_seen, actuated_seen;   /* records read from the log */
    uint64_t unparsable_lines;              /* skipped: torn bytes, or not a record */
    uint64_t resets;                        /* the log was replaced or shrank: read again from the start */
    size_t pending;                         /* demote records without an actuated record, held in memory */
    size_t pushed;                          /* ... of which the control plane took (2xx) */
    bool overflow;                          /* more pending records than max_pending: some are read later */
    bool log_present;
    uint64_t log_offset;                    /* bytes of commands.log read */
    int64_t last_success_us;                /* wall clock of the last 2xx, 0 if none */
    long last_http_status;
    char target[WD_ACTUATE_TARGET_MAX + 1];  /* the URL up to its query */
    char last_error[256];                   /* of the last failed push, "" after a success */
};

struct wd_actuate;

/* Starts reading at once. Returns 0, -EINVAL (options; err says which),
 * -ENOMEM or the fetcher's errno. */
int wd_actuate_new(struct event_base *base, const struct wd_actuate_options *opt, struct wd_actuate **out,
                   char *err, size_t errlen);
/* Cancels a push in flight (its outcome is not counted). NULL is a no-op. */
void wd_actuate_free(struct wd_actuate *a);

/* Reads the log now (tests; the timer does it every scan_interval). */
void wd_actuate_scan_now(struct wd_actuate *a);
void wd_actuate_get_stats(const struct wd_actuate *a, struct wd_actuate_stats *out);
/* Each pending demote record in log order, for status. */
void wd_actuate_foreach_pending(const struct wd_actuate *a,
                                void (*fn)(uint64_t seq, const char *bot, enum wd_actuate_state st, void *ud),
                                void *ud);
const char *wd_actuate_state_name(enum wd_actuate_state s); /* "waiting" "pushing" "pushed" */

/* The URL up to its query or fragment: the "target" an actuated record
 * names. -ENAMETOOLONG if that is longer than WD_ACTUATE_TARGET_MAX (or cap
 * - 1), -EINVAL if empty. */
int wd_actuate_target(const char *url, char *buf, size_t cap);

#endif
