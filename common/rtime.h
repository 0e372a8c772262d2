/* Time values are int64 microseconds since the Unix epoch (UTC).
 * RFC 3339 parsing/formatting and Prometheus-style durations. Pure. */
#ifndef RATCHET_RTIME_H
#define RATCHET_RTIME_H

#include <stddef.h>
#include <stdint.h>

#define RT_USEC_PER_SEC INT64_C(1000000)
#define RT_TIME_BUFSZ 40
#define RT_DURATION_BUFSZ 32

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)". Fractions beyond
 * microseconds are truncated. Returns 0 or -EINVAL. */
int rt_time_parse(const char *s, int64_t *out_us);

/* Format as UTC "YYYY-MM-DDTHH:MM:SSZ", with ".mmm" or ".uuuuuu" only when
 * the sub-second part is non-zero. Deterministic: used in replay output. */
void rt_time_format(int64_t us, char buf[RT_TIME_BUFSZ]);

/* Parse "90s", "15m", "24h", "1h30m", "500ms", "7d", "1w". Must be > 0.
 * Returns 0, -EINVAL (syntax) or -ERANGE (zero, negative or overflow). */
int rt_duration_parse(const char *s, int64_t *out_us);

/* Format a non-negative duration compactly: "3h12m", "45s", "2d4h", "0s".
 * Sub-second remainders are dropped except when the whole value is below 1s. */
void rt_duration_format(int64_t us, char buf[RT_DURATION_BUFSZ]);

/* Days since 1970-01-01 of a proleptic Gregorian civil date. */
int64_t rt_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
