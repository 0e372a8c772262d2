#include "common/strbuf.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rtime.h"
#include "common/shortest.h"

void rt_sb_free(struct rt_strbuf *b) {
    free(b->s);
    *b = (struct rt_strbuf){0};
}

void rt_sb_reset(struct rt_strbuf *b) {
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

static bool reserve(struct rt_strbuf *b, size_t extra) {
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void rt_sb_putn(struct rt_strbuf *b, const char *s, size_t n) {
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void rt_sb_puts(struct rt_strbuf *b, const char *s) { rt_sb_putn(b, s, strlen(s)); }

void rt_sb_printf(struct rt_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s) {
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong or surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return n;
}

void rt_sb_json_str(struct rt_strbuf *b, const char *s) {
    rt_sb_putn(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t plain = 0; /* printable ASCII that needs no escape: copied as a run */
        while (p[plain] >= 0x20 && p[plain] < 0x80 && p[plain] != '"' && p[plain] != '\\')
            plain++;
        if (plain) {
            rt_sb_putn(b, (const char *)p, plain);
            p += plain;
            continue;
        }
        size_t n = utf8_len(p);
        if (n == 0) {
            rt_sb_puts(b, "\xEF\xBF\xBD");
            p++;
        } else if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            rt_sb_putn(b, esc, 2);
            p++;
        } else if (*p < 0x20) {
            rt_sb_printf(b, "\\u%04x", *p);
            p++;
        } else {
            rt_sb_putn(b, (const char *)p, n);
            p += n;
        }
    }
    rt_sb_putn(b, "\"", 1);
}

static bool round_trips(char buf[32], int prec, double v) {
    int n = snprintf(buf, 32, "%.*g", prec, v); /* at most 24 bytes: 17 digits, sign, point, e-308 */
    return n > 0 && n < 32 && strtod(buf, NULL) == v;
}

/* The shortest "%.*g" that round-trips, searched with snprintf + strtod:
 * kept for the values the digit algorithm below does not cover. */
static void format_double_search(char buf[32], double v) {
    int exp;
    if (!isfinite(v) || fabs(frexp(v, &exp)) == 0.5) { /* powers of two: see below */
        for (int prec = 1; prec <= 17; prec++)
            if (round_trips(buf, prec, v))
                return;
        return;
    }
    /* The same answer as trying 1, 2, ... 17 digits in turn (above), in at
     * most 7 tries instead of up to 17. The decimals that read back as v
     * form an interval symmetric around v (except at a power of two), and
     * the correctly rounded p+1-digit decimal is never farther from v than
     * the p-digit one (which is also a p+1-digit decimal), so "p digits
     * round-trip" only turns from false to true as p grows, and bisection
     * finds the first such p. */
    if (round_trips(buf, 1, v))
        return;
    int lo = 2, hi = 17; /* 17 digits always round-trip */
    for (int mid = 15; lo < hi; mid = (lo + hi) / 2) { /* 15 first: most values need 16 or 17 */
        if (round_trips(buf, mid, v))
            hi = mid;
        else
            lo = mid + 1;
    }
    (void)round_trips(buf, lo, v); /* buf holds lo digits, not the last probe */
}

/* Decimal digits of v, most significant first; returns how many. */
static int u64_digits(uint64_t v, char out[20]) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* "%.0f" of an integral |v| < 1e15 (so also "-0"). */
static void format_integer(char buf[32], double v) {
    char *p = buf;
    if (signbit(v))
        *p++ = '-';
    p += u64_digits((uint64_t)fabs(v), p);
    *p = '\0';
}

/* "%.*g" of v with P = the number of digits of the shortest decimal, laid
 * out from rt_shortest_decimal(). That decimal is the shortest "%.*g" that
 * round-trips: with the interval symmetric around v (v not a power of two),
 * some P-digit decimal is in it exactly when the correctly rounded one, the
 * closest, is, and the closest is what both pick (ties to even in both).
 * Returns false, leaving the work to the search, if the digits end in 0
 * (not expected: P would then not be the shortest). */
static bool format_shortest(char buf[32], double v) {
    uint64_t m;
    int e;
    rt_shortest_decimal(fabs(v), &m, &e);
    char d[20];
    int n = u64_digits(m, d);
    if (d[n - 1] == '0')
        return false;
    int x = e + n - 1; /* exponent of the first digit: "%e"'s */
    char *p = buf;
    if (signbit(v))
        *p++ = '-';
    if (x < -4 || x >= n) { /* %g's rule for the e style, precision n */
        *p++ = d[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)n - 1);
            p += n - 1;
        }
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100)
            *p++ = (char)('0' + ax / 100);
        *p++ = (char)('0' + ax / 10 % 10);
        *p++ = (char)('0' + ax % 10);
    } else if (x >= 0) { /* x + 1 digits before the point, the rest after */
        memcpy(p, d, (size_t)x + 1);
        p += x + 1;
        if (n > x + 1) {
            *p++ = '.';
            memcpy(p, d + x + 1, (size_t)(n - x - 1));
            p += n - x - 1;
        }
    } else { /* 0.000ddd */
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *p++ = '0';
        memcpy(p, d, (size_t)n);
        p += n;
    }
    *p = '\0';
    return true;
}

void rt_format_double(char buf[32], double v) {
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) { /* integers without exponent */
        format_integer(buf, v);
        return;
    }
    int exp;
    if (isfinite(v) && fabs(frexp(v, &exp)) != 0.5 && format_shortest(buf, v))
        return;
    format_double_search(buf, v);
}

void rt_sb_json_num(struct rt_strbuf *b, double v) {
    if (!isfinite(v)) {
        rt_sb_puts(b, "null");
        return;
    }
    char buf[32];
    rt_format_double(buf, v == 0 ? 0 : v); /* no "-0" */
    rt_sb_puts(b, buf);
}

void rt_sb_json_time(struct rt_strbuf *b, int64_t us) {
    char buf[RT_TIME_BUFSZ];
    rt_time_format(us, buf);
    rt_sb_putn(b, "\"", 1);
    rt_sb_puts(b, buf);
    rt_sb_putn(b, "\"", 1);
}

void rt_sb_json_seconds(struct rt_strbuf *b, int64_t us) {
    if (us % RT_USEC_PER_SEC == 0) {
        rt_sb_printf(b, "%" PRId64, us / RT_USEC_PER_SEC);
        return;
    }
    char buf[48];
    snprintf(buf, sizeof(buf), "%.6f", (double)us / 1e6);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    rt_sb_puts(b, buf);
}
