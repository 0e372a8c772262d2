/* Prometheus HTTP API responses (/api/v1/query, /api/v1/query_range) turned
 * into per-bot samples for the error-rate and drift sources. Pure: no I/O;
 * the caller fetches the body (and bounds its size). docs/feeds.md,
 * "Prometheus", is the description of what is accepted.
 *
 * - The bot comes from one label (default "bot"). Series without it, or whose
 *   value is not a valid bot id (rt_bot_id_valid), are skipped and counted.
 * - Values are strings. "NaN", "+Inf" and "-Inf" are unknown evidence
 *   (known = false): never a number. A value that is not a number at all is
 *   a protocol error for its series: the series is skipped and counted.
 * - Two series for the same bot (and, in a matrix, the same timestamp) are
 *   merged into one sample that keeps the worst known value; see
 *   enum rt_prom_merge.
 * - An empty result is success with zero samples. */
#ifndef RATCHET_PROMETHEUS_H
#define RATCHET_PROMETHEUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most samples (points, before merging) one response may yield; larger
 * responses fail with -E2BIG. */
#define RT_PROM_MAX_SAMPLES 1000000
/* Longest label name accepted as the bot label. */
#define RT_PROM_LABEL_MAX 128

enum rt_prom_type {
    RT_PROM_TYPE_NONE = 0, /* not known (the response failed before data.resultType) */
    RT_PROM_TYPE_VECTOR,
    RT_PROM_TYPE_MATRIX,
    RT_PROM_TYPE_SCALAR,
    RT_PROM_TYPE_STRING,
};

/* How two samples of one bot at one time are merged into one. Both rules
 * prefer a known value over an unknown one, and are order-independent. */
enum rt_prom_merge {
    RT_PROM_MERGE_MAX = 0, /* the highest value: error ratios, scores */
    RT_PROM_MERGE_MAX_ABS, /* the largest magnitude (positive on a tie): signed drift */
};

struct rt_prom_opts {
    const char *bot_label;   /* NULL: "bot" */
    enum rt_prom_merge merge;
    size_t max_samples;      /* 0 or above RT_PROM_MAX_SAMPLES: RT_PROM_MAX_SAMPLES */
};

struct rt_prom_sample {
    const char *bot;  /* owned by the result */
    int64_t ts_us;    /* sample time, rounded to the microsecond */
    bool known;       /* false for NaN, +Inf, -Inf */
    double value;     /* finite when known, 0 otherwise */
};

struct rt_prom_names; /* private string storage */

struct rt_prom_result {
    enum rt_prom_type type;
    /* Sorted by bot (byte order), then ts; at most one sample per (bot, ts). */
    struct rt_prom_sample *samples;
    size_t n_samples;

    size_t n_series;    /* series in the response */
    size_t no_bot;      /* skipped: no bot label */
    size_t invalid_bot; /* skipped: bot label is not a valid bot id */
    size_t bad_series;  /* skipped: protocol error (value "abc", timestamp not a number, ...) */
    size_t duplicates;  /* samples merged into another one for the same bot and ts */

    /* Prometheus's "warnings": how many, and the first (truncated). */
    size_t n_warnings;
    char warning[256];

    /* {"status":"error"}: errorType ("bad_data", "timeout", ...) and error
     * text, truncated at a UTF-8 boundary; empty if Prometheus omitted them. */
    char error_type[32];
    char error[512];

    /* Failure: what was wrong. Success: the first skipped series and why
     * ("result[3]: bot label \"-bad id\" is not a valid bot id"), or "". */
    char message[256];

    struct rt_prom_names *names_;
};

/* Parse one response body. *res is overwritten (it must not hold a previous
 * result that was not cleared) and must be cleared with rt_prom_result_clear()
 * after every call, successful or not. Returns:
 *   0            success, possibly with zero samples (bots without a sample
 *                are unknown to the caller)
 *   -EREMOTEIO   Prometheus answered {"status":"error"}: error_type, error
 *   -EMEDIUMTYPE result type scalar or string: "query must return one series per bot"
 *   -EBADMSG     not JSON, or not a Prometheus API response (status, data,
 *                data.resultType or data.result missing or of the wrong type)
 *   -E2BIG       more samples than opts->max_samples
 *   -EINVAL      bad arguments (NULL body with len > 0, invalid bot label name)
 *   -ENOMEM
 * On failure there are no samples, the series counts are zero, and message
 * says what happened. */
int rt_prom_parse(const char *body, size_t len, const struct rt_prom_opts *opts,
                  struct rt_prom_result *res);

/* rt_prom_parse() with every series loaded by jansson, without the
 * hand-written scanner that reads the usual vector series. The same answer
 * for every input: the reference for the differential tests and the fuzz
 * harness. */
int rt_prom_parse_jansson(const char *body, size_t len, const struct rt_prom_opts *opts,
                          struct rt_prom_result *res);

/* Free the samples and names; leaves *res zeroed. Safe on a zeroed result. */
void rt_prom_result_clear(struct rt_prom_result *res);

/* A Prometheus sample value: a decimal number ("0.5", "-412.5", "1e-07"),
 * or NaN / [+-]Inf (any letter case, also "infinity", as Go's ParseFloat),
 * which give known = false. Returns 0 or -EINVAL (not a number, or a finite
 * decimal too large for a double). */
int rt_prom_parse_value(const char *s, bool *known, double *value);

/* Whether a Prometheus errorType is worth retrying soon: timeout, canceled,
 * unavailable, internal, and unrecognised or empty types are (the server or
 * the network failed); bad_data, execution and not_found are not (the query
 * is wrong and will keep failing). */
bool rt_prom_error_retryable(const char *error_type);

const char *rt_prom_type_name(enum rt_prom_type t);

/* data.startTime of a /api/v1/status/runtimeinfo response (when this
 * Prometheus process started). 0 or -EBADMSG. */
int rt_prom_parse_start_time(const char *body, size_t len, int64_t *out_us); /* "none" "vector" "matrix" "scalar" "string" */

#endif
