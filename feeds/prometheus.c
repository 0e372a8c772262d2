/* Prometheus query responses to per-bot samples (feeds/prometheus.h). */
#include "feeds/prometheus.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jscan.h"
#include "common/rtime.h"
#include "common/util.h"
#include "policy/policy.h"

/* Bot names live in fixed-size blocks so that sample pointers stay valid
 * while more names are added. */
#define NAMES_BLOCK 65536
struct rt_prom_names {
    struct rt_prom_names *next;
    size_t used;
    char data[NAMES_BLOCK];
};

/* Timestamps are accepted from 1970 up to the end of year 9999 (what
 * rt_time_format can print), which keeps microseconds far from overflow. */
#define MAX_TS_SEC INT64_C(253402300800)

/* Longest value string: Go's shortest float formatting needs about 25. */
#define VALUE_MAX 64

struct parser {
    struct rt_prom_result *res;
    const char *label;
    enum rt_prom_merge merge;
    size_t max_samples;
    size_t cap;         /* allocated samples */
    bool items_parsed;  /* the result's series were reached */
    bool fast;          /* vector series through the hand-written scanner */
};

/* Copy src into dst (capacity cap > 0), cutting at a UTF-8 character
 * boundary when it does not fit, so truncated text stays valid UTF-8. */
static void utf8_copy(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Whole-response failure: drop the samples and counts, keep the message. */
static int fail(struct rt_prom_result *res, int rc, const char *fmt, ...) _printf_(3, 4);
static int fail(struct rt_prom_result *res, int rc, const char *fmt, ...) {
    char buf[sizeof res->message * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(res->samples);
    res->samples = NULL;
    res->n_samples = res->n_series = 0;
    res->no_bot = res->invalid_bot = res->bad_series = res->duplicates = 0;
    utf8_copy(res->message, sizeof res->message, buf);
    return rc;
}

const char *rt_prom_type_name(enum rt_prom_type t) {
    switch (t) {
    case RT_PROM_TYPE_VECTOR: return "vector";
    case RT_PROM_TYPE_MATRIX: return "matrix";
    case RT_PROM_TYPE_SCALAR: return "scalar";
    case RT_PROM_TYPE_STRING: return "string";
    case RT_PROM_TYPE_NONE: break;
    }
    return "none";
}

bool rt_prom_error_retryable(const char *error_type) {
    static const char *const final[] = {"bad_data", "execution", "not_found"};
    if (!error_type)
        return true;
    for (size_t i = 0; i < ELEMENTSOF(final); i++)
        if (strcmp(error_type, final[i]) == 0)
            return false;
    return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)? */
static bool decimal_syntax_ok(const char *s) {
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    for (; is_digit(s[i]); i++)
        digits++;
    if (s[i] == '.')
        for (i++; is_digit(s[i]); i++)
            digits++;
    if (digits == 0)
        return false;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t exp_digits = 0;
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        for (; is_digit(s[i]); i++)
            exp_digits++;
        if (exp_digits == 0)
            return false;
    }
    return s[i] == '\0';
}

static bool is_special(const char *s) {
    static const char *const specials[] = {
        "nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
    };
    for (size_t i = 0; i < ELEMENTSOF(specials); i++)
        if (strcasecmp(s, specials[i]) == 0)
            return true;
    return false;
}

int rt_prom_parse_value(const char *s, bool *known, double *value) {
    if (!s || strnlen(s, VALUE_MAX + 1) > VALUE_MAX)
        return -EINVAL;
    /* Every special starts with a sign or a letter: numbers skip the search. */
    bool digit_first = is_digit(s[0]) || s[0] == '.';
    if (!digit_first && is_special(s)) {
        *known = false;
        *value = 0;
        return 0;
    }
    if (!decimal_syntax_ok(s))
        return -EINVAL;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    /* The syntax check already passed, so a short parse means a locale
     * whose decimal point is not '.'. */
    if (*end != '\0' || (errno == ERANGE && isinf(d)))
        return -EINVAL;
    *known = true;
    *value = d;
    return 0;
}

/* ---- samples and names ---- */

static const char *intern_name(struct rt_prom_result *res, const char *s) {
    size_t n = strlen(s) + 1;
    struct rt_prom_names *b = res->names_;
    if (n > NAMES_BLOCK)
        return NULL;
    if (!b || b->used + n > NAMES_BLOCK) {
        b = malloc(sizeof *b);
        if (!b)
            return NULL;
        b->next = res->names_;
        b->used = 0;
        res->names_ = b;
    }
    char *dst = b->data + b->used;
    memcpy(dst, s, n);
    b->used += n;
    return dst;
}

static int reserve(struct parser *p, size_t want) {
    if (want > p->max_samples)
        return -E2BIG;
    if (want <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : 64;
    while (cap < want)
        cap = cap > p->max_samples / 2 ? p->max_samples : cap * 2;
    struct rt_prom_sample *s = realloc(p->res->samples, cap * sizeof *s);
    if (!s)
        return -ENOMEM;
    p->res->samples = s;
    p->cap = cap;
    return 0;
}

/* ---- one series ---- */

/* Records a skipped series: the counter, and the message if it is the first. */
static void skip(struct parser *p, size_t *counter, const char *fmt, ...) _printf_(3, 4);
static void skip(struct parser *p, size_t *counter, const char *fmt, ...) {
    (*counter)++;
    if (p->res->message[0])
        return;
    char buf[sizeof p->res->message * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    utf8_copy(p->res->message, sizeof p->res->message, buf);
}

#define BAD_POINT "expected [timestamp, \"value\"]"
#define BAD_TS "timestamp is not a number of seconds between 1970 and 9999"
#define BAD_VALUE_TYPE "value is not a string"
#define BAD_VALUE "value is not a number"

/* A timestamp JSON integer (seconds) into *us; false if out of range. */
static bool ts_from_int(json_int_t sec, int64_t *us) {
    if (sec < 0 || sec >= MAX_TS_SEC)
        return false;
    *us = (int64_t)sec * 1000000;
    return true;
}

/* A timestamp JSON real (seconds) into *us; false if out of range. */
static bool ts_from_real(double sec, int64_t *us) {
    if (!(sec >= 0 && sec < (double)MAX_TS_SEC))
        return false;
    *us = llround(sec * 1e6);
    return true;
}

static bool ts_from_json(json_t *j, int64_t *us) {
    if (json_is_integer(j))
        return ts_from_int(json_integer_value(j), us);
    if (json_is_real(j))
        return ts_from_real(json_real_value(j), us);
    return false;
}

/* One [ts, "value"] pair into *s. Returns NULL or what is wrong with it. */
static const char *parse_point(json_t *pt, struct rt_prom_sample *s) {
    if (!json_is_array(pt) || json_array_size(pt) != 2)
        return BAD_POINT;
    if (!ts_from_json(json_array_get(pt, 0), &s->ts_us))
        return BAD_TS;
    json_t *v = json_array_get(pt, 1);
    if (!json_is_string(v))
        return BAD_VALUE_TYPE;
    if (rt_prom_parse_value(json_string_value(v), &s->known, &s->value) < 0)
        return BAD_VALUE;
    return NULL;
}

static void skip_no_bot(struct parser *p, size_t idx) {
    skip(p, &p->res->no_bot, "result[%zu]: no \"%s\" label", idx, p->label);
}

/* Whether the bot label's value is a bot id; skips the series if not. */
static bool bot_usable(struct parser *p, const char *bot, size_t idx) {
    if (rt_bot_id_valid(bot))
        return true;
    char shown[80];
    utf8_copy(shown, sizeof shown, bot);
    skip(p, &p->res->invalid_bot, "result[%zu]: %s label \"%s\" is not a valid bot id", idx, p->label,
         shown);
    return false;
}

/* Adds the points of one result item, or skips the series. Returns 0,
 * -ENOMEM or -E2BIG. */
static int parse_series(struct parser *p, json_t *item, size_t idx, bool matrix) {
    struct rt_prom_result *res = p->res;
    const char *key = matrix ? "values" : "value";

    if (!json_is_object(item)) {
        skip(p, &res->bad_series, "result[%zu]: expected an object", idx);
        return 0;
    }
    json_t *metric = json_object_get(item, "metric");
    if (!json_is_object(metric)) {
        skip(p, &res->bad_series, "result[%zu].metric: expected an object", idx);
        return 0;
    }
    json_t *botj = json_object_get(metric, p->label);
    if (!botj) {
        skip_no_bot(p, idx);
        return 0;
    }
    if (!json_is_string(botj)) {
        skip(p, &res->bad_series, "result[%zu].metric.%s: expected a string", idx, p->label);
        return 0;
    }
    const char *bot = json_string_value(botj);
    if (!bot_usable(p, bot, idx))
        return 0;

    json_t *points = json_object_get(item, key);
    if (!points) {
        bool hist = json_object_get(item, matrix ? "histograms" : "histogram") != NULL;
        skip(p, &res->bad_series, "result[%zu]: %s", idx,
             hist ? "native histogram samples are not supported" :
                    matrix ? "no \"values\"" : "no \"value\"");
        return 0;
    }
    size_t n = 1;
    if (matrix) {
        if (!json_is_array(points)) {
            skip(p, &res->bad_series, "result[%zu].values: expected an array", idx);
            return 0;
        }
        n = json_array_size(points);
    }
    size_t start = res->n_samples;
    int r = reserve(p, start + n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        json_t *pt = matrix ? json_array_get(points, i) : points;
        const char *why = parse_point(pt, &res->samples[start + i]);
        if (why) {
            if (matrix)
                skip(p, &res->bad_series, "result[%zu].values[%zu]: %s", idx, i, why);
            else
                skip(p, &res->bad_series, "result[%zu].value: %s", idx, why);
            return 0;
        }
    }
    if (n == 0)
        return 0;
    const char *name = intern_name(res, bot);
    if (!name)
        return -ENOMEM;
    for (size_t i = start; i < start + n; i++)
        res->samples[i].bot = name;
    res->n_samples = start + n;
    return 0;
}

/* ---- sorting and merging ---- */

static int cmp_sample(const void *a, const void *b) {
    const struct rt_prom_sample *x = a, *y = b;
    int c = x->bot == y->bot ? 0 : strcmp(x->bot, y->bot);
    if (c)
        return c;
    return (x->ts_us > y->ts_us) - (x->ts_us < y->ts_us);
}

/* Whether b is worse than a, i.e. should replace it. Known beats unknown;
 * the rule is symmetric, so the result does not depend on series order. */
static bool worse(const struct rt_prom_sample *a, const struct rt_prom_sample *b,
                  enum rt_prom_merge merge) {
    if (a->known != b->known)
        return b->known;
    if (!b->known)
        return false;
    if (merge == RT_PROM_MERGE_MAX_ABS) {
        double fa = fabs(a->value), fb = fabs(b->value);
        return fb > fa || (fb == fa && b->value > a->value);
    }
    return b->value > a->value;
}

static void sort_and_merge(struct parser *p) {
    struct rt_prom_result *res = p->res;
    struct rt_prom_sample *s = res->samples;
    size_t n = res->n_samples;
    bool sorted = true;
    /* Prometheus usually returns series sorted by labels already. */
    for (size_t i = 1; i < n && sorted; i++)
        sorted = cmp_sample(&s[i - 1], &s[i]) < 0;
    if (!sorted)
        qsort(s, n, sizeof *s, cmp_sample);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && cmp_sample(&s[out - 1], &s[i]) == 0) {
            res->duplicates++;
            if (worse(&s[out - 1], &s[i], p->merge))
                s[out - 1] = s[i];
            continue;
        }
        s[out++] = s[i];
    }
    res->n_samples = out;
}

/* ---- the envelope ---- */

static void copy_error_field(json_t *root, const char *key, char *dst, size_t cap) {
    json_t *v = json_object_get(root, key);
    dst[0] = '\0';
    if (json_is_string(v))
        utf8_copy(dst, cap, json_string_value(v));
}

static void collect_warnings(struct rt_prom_result *res, json_t *root) {
    json_t *w = json_object_get(root, "warnings");
    if (!json_is_array(w))
        return;
    size_t i;
    json_t *v;
    json_array_foreach(w, i, v) {
        if (!json_is_string(v))
            continue;
        if (res->n_warnings++ == 0)
            utf8_copy(res->warning, sizeof res->warning, json_string_value(v));
    }
}

static bool label_name_valid(const char *s) {
    size_t n = strnlen(s, RT_PROM_LABEL_MAX + 1);
    if (n == 0 || n > RT_PROM_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && is_digit(c)))
            return false;
    }
    return true;
}

/* ---- finding data.result without building it ----
 *
 * A DOM of 100,000 series costs jansson hundreds of megabytes of small
 * allocations and most of the time budget. So when the body has the usual
 * shape, the result array is cut out: jansson loads the envelope with "[]"
 * in its place, then each series is read on its own (by the scanner below
 * or by jansson). Every byte is still checked: the envelope by jansson, each
 * series by the scanner or jansson, the array's brackets and commas here.
 * Escaped keys or anything unexpected fall back to loading the whole body,
 * which gives the same samples and errors. */

struct span {
    size_t start, end; /* [start, end): '[' ... ']' */
};

/* rt_jscan_ws() for the index-based code here: the index after the
 * whitespace at s[i], before end. */
static size_t skip_ws(const char *s, size_t i, size_t end) {
    struct rt_jscan c = {s + i, s + end};
    rt_jscan_ws(&c);
    return (size_t)(c.p - s);
}

/* s[i] is '"'; returns the index after the closing quote, or end. */
static size_t skip_string(const char *s, size_t i, size_t end) {
    for (i++; i < end; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return end;
}

/* Skips one value without checking it (jansson does); returns the index
 * after it, or end if it does not close before end. */
static size_t skip_value(const char *s, size_t i, size_t end) {
    if (i >= end)
        return end;
    if (s[i] == '"')
        return skip_string(s, i, end);
    if (s[i] != '{' && s[i] != '[') {
        while (i < end && !strchr(" \t\n\r,]}", s[i]))
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < end) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, i, end);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return end;
}

/* Walks the members of the object at s[i] == '{'. For the member whose raw
 * key is `want` (no escapes), returns its value's index in *at. */
static bool find_member(const char *s, size_t i, size_t end, const char *want, size_t *at) {
    size_t wlen = strlen(want);
    i = skip_ws(s, i + 1, end);
    while (i < end && s[i] == '"') {
        size_t k = i + 1, kend = skip_string(s, i, end);
        if (kend >= end)
            return false;
        i = skip_ws(s, kend, end);
        if (i >= end || s[i] != ':')
            return false;
        i = skip_ws(s, i + 1, end);
        if (kend - 1 - k == wlen && memcmp(s + k, want, wlen) == 0) {
            *at = i;
            return true;
        }
        i = skip_ws(s, skip_value(s, i, end), end);
        if (i >= end || s[i] != ',')
            return false;
        i = skip_ws(s, i + 1, end);
    }
    return false;
}

static bool find_result_array(const char *s, size_t len, struct span *sp) {
    size_t i = skip_ws(s, 0, len), data, result;
    if (i >= len || s[i] != '{' || !find_member(s, i, len, "data", &data))
        return false;
    if (data >= len || s[data] != '{' || !find_member(s, data, len, "result", &result))
        return false;
    if (result >= len || s[result] != '[')
        return false;
    size_t after = skip_value(s, result, len);
    if (after >= len || s[after - 1] != ']')
        return false;
    *sp = (struct span){result, after};
    return true;
}

/* ---- vector series without jansson ----
 *
 * jansson builds a small DOM for every series, which was most of the parse
 * of a large vector. The usual series, {"metric":{"l":"v",...},"value":[ts,
 * "v"]} with plain ASCII strings, is read here instead. The scanner only
 * accepts what jansson accepts and reads the same values from it (a stricter
 * subset: no escapes, no bytes above 0x7F, no key but "metric" and "value",
 * label values strings, a timestamp of digits, at most 15 of them if it has
 * a fraction, no exponent, duplicate keys refused as jansson does); for
 * anything else it declines and the series goes to jansson, which decides.
 * The series is then applied by the same steps as parse_series().
 * rt_prom_parse_jansson() turns the scanner off: tests/unit/test_prometheus.c
 * and fuzz/fuzz_prometheus.c check that both give the same answer. */

#define FAST_DECLINED 1
#define FAST_MAX_LABELS 64   /* more: jansson */
#define FAST_TEXT_MAX 256    /* longer bot label values: jansson */
#define FAST_TS_DIGITS 15    /* decimals of up to 15 digits are exact as N / 10^k */

struct fast_series {
    struct rt_jscan_text bot; /* s NULL: no bot label */
    bool ts_is_int;        /* jansson would make the timestamp an integer */
    json_int_t ts_int;
    double ts_real;
    struct rt_jscan_text value;
    size_t end;            /* after the closing brace */
};

/* A non-negative JSON number as jansson reads it: an integer (no fraction,
 * no exponent; jansson's strtoll) or a real (strtod, correctly rounded:
 * N / 10^k is too when N < 2^53 and k <= 22, both exact doubles). */
static bool fast_timestamp(struct rt_jscan *c, struct fast_series *fs) {
    static const double pow10[FAST_TS_DIGITS + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char *s = c->p;
    size_t k = 0, end = (size_t)(c->end - c->p), digits = 0, frac = 0;
    uint64_t n = 0;
    if (k >= end || !is_digit(s[k]))
        return false;
    if (s[k] == '0' && k + 1 < end && is_digit(s[k + 1]))
        return false; /* leading zero: jansson refuses it */
    for (; k < end && is_digit(s[k]) && digits < 18; k++, digits++)
        n = n * 10 + (uint64_t)(s[k] - '0');
    if (k < end && is_digit(s[k]))
        return false; /* 19 digits or more: jansson's range checks */
    if (k < end && (s[k] == 'e' || s[k] == 'E'))
        return false;
    if (k >= end || s[k] != '.') {
        fs->ts_is_int = true;
        fs->ts_int = (json_int_t)n;
        c->p += k;
        return true;
    }
    for (k++; k < end && is_digit(s[k]) && digits < FAST_TS_DIGITS; k++, digits++, frac++)
        n = n * 10 + (uint64_t)(s[k] - '0');
    if (frac == 0 || digits > FAST_TS_DIGITS || (k < end && (is_digit(s[k]) || s[k] == 'e' || s[k] == 'E')))
        return false;
    fs->ts_is_int = false;
    fs->ts_real = (double)n / pow10[frac];
    c->p += k;
    return true;
}

/* "value": [ts, "v"]. */
static bool fast_point(struct rt_jscan *c, struct fast_series *fs) {
    if (!rt_jscan_take(c, '['))
        return false;
    rt_jscan_ws(c);
    return fast_timestamp(c, fs) && rt_jscan_take(c, ',') && rt_jscan_plain_string(c, &fs->value) &&
           rt_jscan_take(c, ']');
}

struct fast_scan {
    const char *label;
    struct fast_series *fs;
};

/* One label of "metric": a string value; the bot label's is kept. */
static bool metric_member(struct rt_jscan *c, struct rt_jscan_text name, void *ud) {
    struct fast_scan *sc = ud;
    struct rt_jscan_text value;
    if (!rt_jscan_plain_string(c, &value))
        return false;
    if (rt_jscan_text_is(name, sc->label)) {
        if (value.n >= FAST_TEXT_MAX)
            return false;
        sc->fs->bot = value;
    }
    return true;
}

enum { SF_METRIC, SF_VALUE, SF_COUNT };
static const char *const series_fields[SF_COUNT] = {"metric", "value"};

static bool series_member(struct rt_jscan *c, size_t which, void *ud) {
    struct fast_scan *sc = ud;
    if (which == SF_VALUE)
        return fast_point(c, sc->fs);
    /* "metric": {"name": "value", ...}, names distinct (jansson refuses
     * duplicate keys). */
    struct rt_jscan_text names[FAST_MAX_LABELS];
    struct rt_jscan_keys seen = {names, 0, FAST_MAX_LABELS};
    return rt_jscan_object(c, &seen, metric_member, sc);
}

/* One series object at s[i] == '{' with exactly the members "metric" and
 * "value", in either order. */
static bool fast_scan_series(const char *s, size_t i, size_t end, const char *label, struct fast_series *fs) {
    struct rt_jscan c = {s + i, s + end};
    struct fast_scan sc = {label, fs};
    uint32_t seen;
    *fs = (struct fast_series){0};
    if (!rt_jscan_named_object(&c, series_fields, SF_COUNT, series_member, &sc, &seen))
        return false;
    fs->end = (size_t)(c.p - s);
    return seen == (1u << SF_METRIC | 1u << SF_VALUE);
}

/* parse_series() of a vector item, from what the scanner read. */
static int fast_apply(struct parser *p, const struct fast_series *fs, size_t idx) {
    struct rt_prom_result *res = p->res;
    if (!fs->bot.s) {
        skip_no_bot(p, idx);
        return 0;
    }
    char bot[FAST_TEXT_MAX], value[VALUE_MAX + 2];
    memcpy(bot, fs->bot.s, fs->bot.n);
    bot[fs->bot.n] = '\0';
    if (!bot_usable(p, bot, idx))
        return 0;
    size_t start = res->n_samples;
    int r = reserve(p, start + 1);
    if (r < 0)
        return r;
    struct rt_prom_sample *smp = &res->samples[start];
    bool ts_ok = fs->ts_is_int ? ts_from_int(fs->ts_int, &smp->ts_us) : ts_from_real(fs->ts_real, &smp->ts_us);
    if (!ts_ok) {
        skip(p, &res->bad_series, "result[%zu].value: %s", idx, BAD_TS);
        return 0;
    }
    /* Longer than VALUE_MAX is refused by rt_prom_parse_value whatever it
     * says, so VALUE_MAX + 1 bytes of it are enough. */
    size_t vn = fs->value.n < VALUE_MAX + 1 ? fs->value.n : VALUE_MAX + 1;
    memcpy(value, fs->value.s, vn);
    value[vn] = '\0';
    if (rt_prom_parse_value(value, &smp->known, &smp->value) < 0) {
        skip(p, &res->bad_series, "result[%zu].value: %s", idx, BAD_VALUE);
        return 0;
    }
    const char *name = intern_name(res, bot);
    if (!name)
        return -ENOMEM;
    smp->bot = name;
    res->n_samples = start + 1;
    return 0;
}

/* One vector series at body[i], before close: 0 (applied, *item_end set),
 * -ENOMEM, -E2BIG, or FAST_DECLINED. */
static int fast_series(struct parser *p, const char *body, size_t i, size_t close, size_t idx,
                       size_t *item_end) {
    struct fast_series fs;
    if (!fast_scan_series(body, i, close, p->label, &fs))
        return FAST_DECLINED;
    p->res->n_series++;
    *item_end = fs.end;
    return fast_apply(p, &fs, idx);
}

/* Not JSON: nothing of the response counts, not even its result type. */
static int invalid_json(struct rt_prom_result *res, size_t at, const char *what) {
    res->type = RT_PROM_TYPE_NONE;
    return fail(res, -EBADMSG, "invalid JSON at byte %zu: %s", at, what);
}

/* Loads the envelope with the result array replaced by "[]". */
static json_t *load_envelope(struct rt_prom_result *res, const char *body, size_t len,
                             const struct span *sp, int *rc) {
    size_t cut = sp->end - sp->start;
    _cleanup_free_ char *env = malloc(len - cut + 2);
    if (!env) {
        *rc = fail(res, -ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(env, body, sp->start);
    memcpy(env + sp->start, "[]", 2);
    memcpy(env + sp->start + 2, body + sp->end, len - sp->end);
    json_error_t e;
    json_t *root = json_loadb(env, len - cut + 2, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        size_t pos = (size_t)e.position;
        *rc = invalid_json(res, pos > sp->start + 1 ? pos - 2 + cut : pos, e.text);
    }
    return root;
}

/* One series through jansson; *item_end: where its text ends. */
static int parse_item_text(struct parser *p, struct rt_prom_result *res, const char *body, size_t i,
                           size_t close, size_t idx, bool matrix, size_t *item_end) {
    *item_end = skip_value(body, i, close);
    if (*item_end == i)
        return invalid_json(res, i, "value expected");
    json_error_t e;
    json_t *item = json_loadb(body + i, *item_end - i, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!item)
        return invalid_json(res, i + (size_t)e.position, e.text);
    int r = 0;
    if (p) {
        res->n_series++;
        r = parse_series(p, item, idx, matrix);
    }
    json_decref(item);
    return r;
}

/* Series one by one from the array text at sp. With p NULL, only checks
 * that they are JSON (the response failed before its series mattered, and
 * must still fail as invalid JSON if it is). */
static int parse_items_text(struct parser *p, struct rt_prom_result *res, const char *body,
                            const struct span *sp, bool matrix) {
    size_t close = sp->end - 1;
    size_t i = skip_ws(body, sp->start + 1, close);
    if (i == close)
        return 0;
    for (size_t idx = 0;; idx++) {
        size_t item_end;
        int r = p && p->fast && !matrix ? fast_series(p, body, i, close, idx, &item_end) : FAST_DECLINED;
        if (r == FAST_DECLINED)
            r = parse_item_text(p, res, body, i, close, idx, matrix, &item_end);
        if (r < 0)
            return r;
        i = skip_ws(body, item_end, close);
        if (i == close)
            return 0;
        if (body[i] != ',')
            return invalid_json(res, i, "',' or ']' expected");
        i = skip_ws(body, i + 1, close);
    }
}

static int parse_items_dom(struct parser *p, json_t *result, bool matrix) {
    size_t i;
    json_t *item;
    json_array_foreach(result, i, item) {
        p->res->n_series++;
        int r = parse_series(p, item, i, matrix);
        if (r < 0)
            return r;
    }
    return 0;
}

/* data: the envelope's; sp: where the result array is in body, if it was cut out. */
static int parse_data(struct parser *p, json_t *data, const char *body, const struct span *sp) {
    struct rt_prom_result *res = p->res;
    if (!json_is_object(data))
        return fail(res, -EBADMSG, "data: %s", data ? "expected an object" : "missing");
    json_t *type = json_object_get(data, "resultType");
    if (!json_is_string(type))
        return fail(res, -EBADMSG, "data.resultType: %s", type ? "expected a string" : "missing");
    const char *t = json_string_value(type);
    if (strcmp(t, "scalar") == 0 || strcmp(t, "string") == 0) {
        res->type = strcmp(t, "scalar") == 0 ? RT_PROM_TYPE_SCALAR : RT_PROM_TYPE_STRING;
        return fail(res, -EMEDIUMTYPE, "query must return one series per bot (result type %s)", t);
    }
    if (strcmp(t, "vector") != 0 && strcmp(t, "matrix") != 0) {
        char shown[64];
        utf8_copy(shown, sizeof shown, t);
        return fail(res, -EBADMSG, "data.resultType: unknown type \"%s\"", shown);
    }
    bool matrix = t[0] == 'm';
    res->type = matrix ? RT_PROM_TYPE_MATRIX : RT_PROM_TYPE_VECTOR;
    json_t *result = json_object_get(data, "result");
    if (!json_is_array(result))
        return fail(res, -EBADMSG, "data.result: %s", result ? "expected an array" : "missing");

    p->items_parsed = true;
    int r = sp ? parse_items_text(p, res, body, sp, matrix) : parse_items_dom(p, result, matrix);
    if (r == -E2BIG)
        return fail(res, r, "more than %zu samples", p->max_samples);
    if (r == -ENOMEM)
        return fail(res, r, "out of memory");
    if (r < 0)
        return r; /* message already set */
    sort_and_merge(p);
    return 0;
}

static int parse(const char *body, size_t len, const struct rt_prom_opts *opts, struct rt_prom_result *res,
                 bool fast) {
    if (!res)
        return -EINVAL;
    memset(res, 0, sizeof *res);
    if (!body && len > 0)
        return fail(res, -EINVAL, "no body");
    if (!body)
        body = "";
    struct parser p = {
        .res = res,
        .label = opts && opts->bot_label ? opts->bot_label : "bot",
        .merge = opts ? opts->merge : RT_PROM_MERGE_MAX,
        .max_samples = RT_PROM_MAX_SAMPLES,
        .fast = fast,
    };
    if (opts && opts->max_samples > 0 && opts->max_samples < RT_PROM_MAX_SAMPLES)
        p.max_samples = opts->max_samples;
    if (!label_name_valid(p.label))
        return fail(res, -EINVAL, "invalid bot label name");
    if (p.merge != RT_PROM_MERGE_MAX && p.merge != RT_PROM_MERGE_MAX_ABS)
        return fail(res, -EINVAL, "invalid merge rule");

    struct span sp;
    bool cut = find_result_array(body, len, &sp);
    int r = 0;
    json_t *root;
    if (cut) {
        root = load_envelope(res, body, len, &sp, &r);
    } else {
        json_error_t e;
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
        if (!root)
            r = invalid_json(res, (size_t)e.position, e.text);
    }
    if (!root)
        return r;

    json_t *status = json_object_get(root, "status");
    const char *st = json_is_string(status) ? json_string_value(status) : NULL;
    collect_warnings(res, root);
    if (!json_is_object(root)) {
        r = fail(res, -EBADMSG, "expected a JSON object");
    } else if (!st) {
        r = fail(res, -EBADMSG, "status: %s", status ? "expected a string" : "missing");
    } else if (strcmp(st, "error") == 0) {
        copy_error_field(root, "errorType", res->error_type, sizeof res->error_type);
        copy_error_field(root, "error", res->error, sizeof res->error);
        r = fail(res, -EREMOTEIO, "prometheus error %s: %s",
                 res->error_type[0] ? res->error_type : "(no errorType)",
                 res->error[0] ? res->error : "(no error text)");
    } else if (strcmp(st, "success") == 0) {
        r = parse_data(&p, json_object_get(root, "data"), body, cut ? &sp : NULL);
    } else {
        char shown[64];
        utf8_copy(shown, sizeof shown, st);
        r = fail(res, -EBADMSG, "status: expected \"success\" or \"error\", got \"%s\"", shown);
    }
    json_decref(root);
    if (cut && !p.items_parsed && r != -ENOMEM) {
        int v = parse_items_text(NULL, res, body, &sp, false);
        if (v < 0) {
            res->error_type[0] = res->error[0] = '\0';
            r = v;
        }
    }
    return r;
}

int rt_prom_parse(const char *body, size_t len, const struct rt_prom_opts *opts,
                  struct rt_prom_result *res) {
    return parse(body, len, opts, res, true);
}

int rt_prom_parse_jansson(const char *body, size_t len, const struct rt_prom_opts *opts,
                          struct rt_prom_result *res) {
    return parse(body, len, opts, res, false);
}

void rt_prom_result_clear(struct rt_prom_result *res) {
    if (!res)
        return;
    free(res->samples);
    struct rt_prom_names *b = res->names_;
    while (b) {
        struct rt_prom_names *next = b->next;
        free(b);
        b = next;
    }
    memset(res, 0, sizeof *res);
}

int rt_prom_parse_start_time(const char *body, size_t len, int64_t *out_us) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return -EBADMSG;
    const char *st = json_string_value(json_object_get(json_object_get(root, "data"), "startTime"));
    int r = st && json_is_object(root) ? rt_time_parse(st, out_us) : -EBADMSG;
    json_decref(root);
    return r < 0 ? -EBADMSG : 0;
}
