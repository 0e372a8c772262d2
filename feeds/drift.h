/* The reconciliation-drift feed (docs/feeds.md, "Reconciliation drift").
 * Pure: no I/O; the caller fetches the body and bounds its size.
 *
 * Two forms give the same entries:
 *  - the drift feed's own JSON document, parsed strictly by rt_drift_parse():
 *      {"generated_at": "<RFC 3339>",
 *       "bots": [{"bot": "<id>", "drift": <number|null>, "tolerance": <number >= 0>,
 *                 "ts": "<RFC 3339>", "unit": "<string>"}]}
 *    (tolerance, ts and unit optional; ts defaults to generated_at);
 *  - a Prometheus query response with one series per bot whose value is the
 *    drift, through rt_drift_parse_prom(); those entries carry no tolerance,
 *    so the policy's tolerance applies. */
#ifndef RATCHET_DRIFT_H
#define RATCHET_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feeds/prometheus.h"
#include "policy/policy.h"

#define RT_DRIFT_MAX_BOTS 100000
#define RT_DRIFT_UNIT_MAX 32
#define RT_DRIFT_MAX_ERRORS 32

struct rt_drift_entry {
    char bot[RT_BOT_ID_MAX + 1];
    int64_t ts_us;          /* when the drift was measured */
    bool known;             /* false: drift null (or NaN/Inf from Prometheus) */
    double drift;           /* signed; finite when known, 0 otherwise */
    bool has_tolerance;     /* false: use the policy's tolerance */
    double tolerance;       /* >= 0 */
    char unit[RT_DRIFT_UNIT_MAX + 1]; /* "" if not given; for people only */
};

struct rt_drift_feed {
    int64_t generated_at_us; /* Prometheus form: the newest sample's ts (0 if none) */
    struct rt_drift_entry *entries; /* document order; Prometheus form: by bot, then ts */
    size_t n_entries;
};

/* One problem. index is the bots[] index it concerns, or -1 for the
 * document itself. text is the whole message, e.g.
 * "bots[3].tolerance: expected a number >= 0". */
struct rt_drift_error {
    long index;
    char text[200];
};

/* Errors sorted by index (document-level ones first). When there are more
 * than RT_DRIFT_MAX_ERRORS, the last entry is replaced by a note saying how
 * many were not shown. */
struct rt_drift_errors {
    size_t n;
    struct rt_drift_error e[RT_DRIFT_MAX_ERRORS];
};

/* Parse the feed document. Strict: unknown keys, wrong types, invalid bot
 * ids, negative tolerance, bad times and duplicate bots are errors; null
 * drift is unknown; a null tolerance is the same as none. Any error rejects
 * the whole document (a partial feed would look complete). Returns 0,
 * -EINVAL (errs filled; *out empty) or -ENOMEM. Clear *out with
 * rt_drift_feed_clear() after every call. */
int rt_drift_parse(const char *body, size_t len, struct rt_drift_feed *out,
                   struct rt_drift_errors *errs);

/* Parse a Prometheus response (rt_prom_parse() with bot_label, NULL for
 * "bot", and RT_PROM_MERGE_MAX_ABS: two series for one bot keep the larger
 * drift magnitude). Returns what rt_prom_parse() returns; *prom holds the
 * details (skipped series, Prometheus errors) and must be cleared with
 * rt_prom_result_clear(); *out with rt_drift_feed_clear(). */
int rt_drift_parse_prom(const char *body, size_t len, const char *bot_label,
                        struct rt_drift_feed *out, struct rt_prom_result *prom);

void rt_drift_feed_clear(struct rt_drift_feed *f);

#endif
