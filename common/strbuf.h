/* A growable byte buffer with JSON-writing helpers (compact output, stable
 * key order, shortest round-trip numbers). Used wherever ratchet writes
 * JSON lines: evidence, replay output, status. */
#ifndef RATCHET_STRBUF_H
#define RATCHET_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_strbuf {
    char *s;
    size_t len, cap;
    bool oom; /* sticky: set on the first failed allocation */
};

void rt_sb_free(struct rt_strbuf *b);
void rt_sb_reset(struct rt_strbuf *b);
void rt_sb_putn(struct rt_strbuf *b, const char *s, size_t n);
void rt_sb_puts(struct rt_strbuf *b, const char *s);
void rt_sb_printf(struct rt_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON string literal with escapes; invalid UTF-8 bytes are written as U+FFFD. */
void rt_sb_json_str(struct rt_strbuf *b, const char *s);
/* Shortest decimal that round-trips (non-finite values are written as null). */
void rt_sb_json_num(struct rt_strbuf *b, double v);
/* RFC 3339 UTC string (common/rtime.h rules) as a JSON string. */
void rt_sb_json_time(struct rt_strbuf *b, int64_t us);
/* Seconds as a JSON number: integer when whole, else up to 6 decimals. */
void rt_sb_json_seconds(struct rt_strbuf *b, int64_t us);

/* Shortest "%.*g" that round-trips; buf needs 32 bytes. */
void rt_format_double(char buf[32], double v);

#endif
