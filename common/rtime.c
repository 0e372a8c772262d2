#include "common/rtime.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Howard Hinnant's days_from_civil / civil_from_days: exact, no libc tz. */
int64_t rt_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : dm[m - 1];
}

int rt_time_parse(const char *s, int64_t *out_us) {
    int Y, M, D, h, mi, sec;
    if (!s || strlen(s) < 20)
        return -EINVAL;
    if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
        !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return -EINVAL;
    if (M < 1 || M > 12 || D < 1 || (unsigned)D > days_in_month(Y, (unsigned)M) || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    if (sec == 60) /* leap second: clamp, as Go and Prometheus do not emit it */
        sec = 59;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 6)
                frac_us = frac_us * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return -EINVAL;
        for (int i = n; i < 6; i++)
            frac_us *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    int64_t days = rt_days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *out_us = secs * RT_USEC_PER_SEC + frac_us;
    return 0;
}

void rt_time_format(int64_t us, char buf[RT_TIME_BUFSZ]) {
    int64_t secs = us / RT_USEC_PER_SEC, frac = us % RT_USEC_PER_SEC;
    if (frac < 0) {
        frac += RT_USEC_PER_SEC;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999) { /* the usual case without printf: the evidence log formats every observation */
        unsigned f[6] = {(unsigned)y, m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60)};
        char *p = buf;
        for (int i = 0; i < 6; i++) {
            if (i == 0) {
                *p++ = (char)('0' + f[0] / 1000), *p++ = (char)('0' + f[0] / 100 % 10);
                *p++ = (char)('0' + f[0] / 10 % 10), *p++ = (char)('0' + f[0] % 10);
            } else {
                *p++ = "--T::"[i - 1];
                *p++ = (char)('0' + f[i] / 10), *p++ = (char)('0' + f[i] % 10);
            }
        }
        int digits = frac == 0 ? 0 : frac % 1000 == 0 ? 3 : 6;
        int64_t q = digits == 3 ? frac / 1000 : frac;
        if (digits)
            *p++ = '.';
        for (int i = digits - 1; i >= 0; i--, q /= 10)
            p[i] = (char)('0' + q % 10);
        p += digits;
        *p++ = 'Z';
        *p = '\0';
        return;
    }
    int n = snprintf(buf, RT_TIME_BUFSZ, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (n < 0 || n >= RT_TIME_BUFSZ - 9)
        return;
    if (frac == 0)
        snprintf(buf + n, (size_t)(RT_TIME_BUFSZ - n), "Z");
    else if (frac % 1000 == 0)
        snprintf(buf + n, (size_t)(RT_TIME_BUFSZ - n), ".%03dZ", (int)(frac / 1000));
    else
        snprintf(buf + n, (size_t)(RT_TIME_BUFSZ - n), ".%06dZ", (int)frac);
}

static int64_t unit_us(const char **p) {
    const char *s = *p;
    if (s[0] == 'm' && s[1] == 's') {
        *p += 2;
        return 1000;
    }
    *p += 1;
    switch (s[0]) {
    case 's': return RT_USEC_PER_SEC;
    case 'm': return 60 * RT_USEC_PER_SEC;
    case 'h': return 3600 * RT_USEC_PER_SEC;
    case 'd': return 86400 * RT_USEC_PER_SEC;
    case 'w': return 7 * 86400 * RT_USEC_PER_SEC;
    default: return 0;
    }
}

int rt_duration_parse(const char *s, int64_t *out_us) {
    if (!s || !*s)
        return -EINVAL;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > INT64_MAX / 10 - 10)
                return -ERANGE;
            n = n * 10 + (*p++ - '0');
        }
        int64_t u = unit_us(&p);
        if (u == 0)
            return -EINVAL;
        if (n > (INT64_MAX - total) / u)
            return -ERANGE;
        total += n * u;
    }
    if (total <= 0)
        return -ERANGE;
    *out_us = total;
    return 0;
}

void rt_duration_format(int64_t us, char buf[RT_DURATION_BUFSZ]) {
    if (us < 0)
        us = 0;
    if (us == 0) {
        snprintf(buf, RT_DURATION_BUFSZ, "0s");
        return;
    }
    if (us < RT_USEC_PER_SEC) { /* people read milliseconds, not microseconds */
        if (us < 1000)
            snprintf(buf, RT_DURATION_BUFSZ, "%" PRId64 "us", us);
        else
            snprintf(buf, RT_DURATION_BUFSZ, "%" PRId64 "ms", us / 1000);
        return;
    }
    int64_t s = us / RT_USEC_PER_SEC;
    int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    /* Two most significant units: precise enough for on-call, short enough to read. */
    if (d > 0)
        snprintf(buf, RT_DURATION_BUFSZ, h ? "%" PRId64 "d%" PRId64 "h" : "%" PRId64 "d", d, h);
    else if (h > 0)
        snprintf(buf, RT_DURATION_BUFSZ, m ? "%" PRId64 "h%" PRId64 "m" : "%" PRId64 "h", h, m);
    else if (m > 0)
        snprintf(buf, RT_DURATION_BUFSZ, sec ? "%" PRId64 "m%" PRId64 "s" : "%" PRId64 "m", m, sec);
    else
        snprintf(buf, RT_DURATION_BUFSZ, "%" PRId64 "s", sec);
}
