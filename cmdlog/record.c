#include "cmdlog/record.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdlog/codec.h"
#include "common/rtime.h"
#include "common/util.h"

static const char *const type_names[] = {
    [RT_LOG_GENESIS] = "genesis",
    [RT_LOG_DEMOTE] = "demote",
    [RT_LOG_WATCHDOG_SILENT] = "watchdog_silent",
    [RT_LOG_WATCHDOG_BACK] = "watchdog_back",
    [RT_LOG_TORN_TAIL] = "torn_tail",
    [RT_LOG_ACTUATED] = "actuated",
    [RT_LOG_KEY_ROTATION] = "key_rotation",
};

const char *rt_log_type_name(enum rt_log_type t) {
    return t >= RT_LOG_GENESIS && t <= RT_LOG_KEY_ROTATION ? type_names[t] : NULL;
}

int rt_log_type_from_name(const char *s, size_t n, enum rt_log_type *out) {
    for (int t = RT_LOG_GENESIS; t <= RT_LOG_KEY_ROTATION; t++)
        if (strlen(type_names[t]) == n && memcmp(type_names[t], s, n) == 0) {
            *out = (enum rt_log_type)t;
            return 0;
        }
    return -EINVAL;
}

_printf_(3, 4) static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- field checks shared by the serializer and the parser ---- */

bool rt_log_origin_valid(const char *origin) {
    size_t n = strlen(origin);
    if (n == 0 || n > RT_LOG_ORIGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = origin[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '/' || c == '-'))
            return false;
    }
    return true;
}

static size_t utf8_seq_len(const unsigned char *s, size_t left) {
    unsigned char c = s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (k == 0 || k > left)
        return 0;
    for (size_t j = 1; j < k; j++)
        if ((s[j] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] >= 0x90))
        return 0;
    return k;
}

/* Valid UTF-8 without control characters (as the watchdog protocol's text). */
static bool text_valid(const char *s, size_t max, bool allow_empty) {
    size_t n = strlen(s);
    if (n > max || (n == 0 && !allow_empty))
        return false;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return false;
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static bool code_valid(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static bool time_ok(int64_t us) { return us >= RT_LOG_TIME_MIN && us <= RT_LOG_TIME_MAX; }
static bool duration_ok(int64_t us) { return us >= 0 && us <= RT_LOG_DURATION_MAX; }

static int check_demote(const struct rt_msg_demote *d, char *err, size_t errlen) {
    if (!rt_bot_id_valid(d->bot))
        return seterr(err, errlen, "bot: invalid bot id"), -EINVAL;
    if ((int)d->cond < 0 || d->cond >= RT_COND_COUNT)
        return seterr(err, errlen, "condition: unknown condition"), -EINVAL;
    if (!code_valid(d->reason_code, RT_PROTO_REASON_MAX))
        return seterr(err, errlen, "reason_code: 1-%d of [a-z0-9_.]", RT_PROTO_REASON_MAX), -EINVAL;
    if (!time_ok(d->window_start_us) || !time_ok(d->decided_at_us) || !time_ok(d->evidence_ts_us))
        return seterr(err, errlen, "window_start/decided_at/evidence.ts: time out of range"), -EINVAL;
    if (d->decided_at_us < d->window_start_us)
        return seterr(err, errlen, "decided_at: before window_start"), -EINVAL;
    if (!duration_ok(d->window_us) || !duration_ok(d->unknown_us))
        return seterr(err, errlen, "window_seconds/unknown_seconds: out of range"), -EINVAL;
    if (!isfinite(d->evidence_value) || (d->has_threshold && !isfinite(d->threshold)))
        return seterr(err, errlen, "evidence.value/threshold: not a finite number"), -EINVAL;
    if (!text_valid(d->summary, RT_PROTO_SUMMARY_MAX, true))
        return seterr(err, errlen, "summary: invalid UTF-8, control character or too long"), -EINVAL;
    return 0;
}

static int check_fields(const struct rt_log_record *r, char *err, size_t errlen) {
    if (!time_ok(r->ts_us))
        return seterr(err, errlen, "ts: time out of range"), -EINVAL;
    switch (r->type) {
    case RT_LOG_GENESIS:
        if (!rt_log_origin_valid(r->u.genesis.origin))
            return seterr(err, errlen, "origin: 1-%d of [A-Za-z0-9._:/-]", RT_LOG_ORIGIN_MAX), -EINVAL;
        if (!rt_log_key_name_valid(r->u.genesis.key_name))
            return seterr(err, errlen, "key_name: invalid key name"), -EINVAL;
        return 0;
    case RT_LOG_DEMOTE:
        return check_demote(&r->u.demote, err, errlen);
    case RT_LOG_WATCHDOG_SILENT:
        if (!time_ok(r->u.watchdog_silent.since_us))
            return seterr(err, errlen, "since: time out of range"), -EINVAL;
        return 0;
    case RT_LOG_WATCHDOG_BACK:
        if (!time_ok(r->u.watchdog_back.silent_since_us) || !time_ok(r->u.watchdog_back.back_at_us))
            return seterr(err, errlen, "silent_since/back_at: time out of range"), -EINVAL;
        if (r->u.watchdog_back.back_at_us < r->u.watchdog_back.silent_since_us)
            return seterr(err, errlen, "back_at: before silent_since"), -EINVAL;
        return 0;
    case RT_LOG_TORN_TAIL:
        if (r->u.torn_tail.torn_bytes == 0 || r->u.torn_tail.torn_bytes > INT64_MAX ||
            r->u.torn_tail.offset > INT64_MAX - r->u.torn_tail.torn_bytes)
            return seterr(err, errlen, "torn_bytes/offset: out of range"), -EINVAL;
        return 0;
    case RT_LOG_ACTUATED:
        if (r->u.actuated.for_seq >= r->seq)
            return seterr(err, errlen, "for_seq: not an earlier record"), -EINVAL;
        if (!text_valid(r->u.actuated.target, RT_LOG_TARGET_MAX, false))
            return seterr(err, errlen, "target: 1-%d bytes of text", RT_LOG_TARGET_MAX), -EINVAL;
        if (r->u.actuated.http_status < 100 || r->u.actuated.http_status > 599)
            return seterr(err, errlen, "http_status: not 100..599"), -EINVAL;
        return 0;
    case RT_LOG_KEY_ROTATION: {
        const struct rt_log_key_rotation *k = &r->u.key_rotation;
        if (!rt_log_key_name_valid(k->new_key_name))
            return seterr(err, errlen, "new_key_name: invalid key name"), -EINVAL;
        uint8_t id[RT_LOG_KEY_ID_LEN];
        rt_log_key_id(k->new_key_name, k->new_public_key, id);
        if (memcmp(id, k->new_key_id, sizeof id) != 0)
            return seterr(err, errlen, "new_key_id: not the key id of new_key_name and new_public_key"), -EINVAL;
        return 0;
    }
    }
    return seterr(err, errlen, "type: unknown record type"), -EINVAL;
}

/* ---- serializer ---- */

static void put_key(struct rt_strbuf *b, const char *name) {
    rt_sb_putn(b, ",\"", 2);
    rt_sb_puts(b, name);
    rt_sb_putn(b, "\":", 2);
}

static void put_u64(struct rt_strbuf *b, uint64_t v) {
    char buf[20];
    size_t n = sizeof buf;
    do
        buf[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    rt_sb_putn(b, buf + n, sizeof buf - n);
}

static void put_hex(struct rt_strbuf *b, const uint8_t *v, size_t n) {
    char hex[2 * 64 + 3];
    hex[0] = '"';
    rt_log_hex(v, n, hex + 1);
    hex[2 * n + 1] = '"';
    rt_sb_putn(b, hex, 2 * n + 2);
}

static void put_b64(struct rt_strbuf *b, const uint8_t *v, size_t n) {
    char s[RT_LOG_B64_LEN(64) + 3];
    s[0] = '"';
    size_t len = rt_log_b64(v, n, s + 1);
    s[len + 1] = '"';
    rt_sb_putn(b, s, len + 2);
}

static void put_demote(struct rt_strbuf *b, const struct rt_msg_demote *d) {
    put_key(b, "request_id");
    put_hex(b, d->request_id, RT_PROTO_REQUEST_ID);
    put_key(b, "bot");
    rt_sb_json_str(b, d->bot);
    put_key(b, "condition");
    rt_sb_json_str(b, rt_cond_name(d->cond));
    put_key(b, "reason_code");
    rt_sb_json_str(b, d->reason_code);
    put_key(b, "window_start");
    rt_sb_json_time(b, d->window_start_us);
    put_key(b, "window_seconds");
    rt_sb_json_seconds(b, d->window_us);
    put_key(b, "unknown_seconds");
    rt_sb_json_seconds(b, d->unknown_us);
    put_key(b, "decided_at");
    rt_sb_json_time(b, d->decided_at_us);
    put_key(b, "evidence");
    rt_sb_puts(b, "{\"ts\":");
    rt_sb_json_time(b, d->evidence_ts_us);
    rt_sb_puts(b, ",\"value\":");
    rt_sb_json_num(b, d->evidence_value);
    rt_sb_puts(b, d->evidence_known ? ",\"known\":true}" : ",\"known\":false}");
    put_key(b, "threshold");
    if (d->has_threshold)
        rt_sb_json_num(b, d->threshold);
    else
        rt_sb_puts(b, "null");
    put_key(b, "summary");
    rt_sb_json_str(b, d->summary);
}

static void put_type_fields(struct rt_strbuf *b, const struct rt_log_record *r) {
    switch (r->type) {
    case RT_LOG_GENESIS:
        put_key(b, "origin");
        rt_sb_json_str(b, r->u.genesis.origin);
        put_key(b, "key_name");
        rt_sb_json_str(b, r->u.genesis.key_name);
        put_key(b, "public_key");
        put_b64(b, r->u.genesis.public_key, RT_LOG_PUBKEY_LEN);
        break;
    case RT_LOG_DEMOTE:
        put_demote(b, &r->u.demote);
        break;
    case RT_LOG_WATCHDOG_SILENT:
        put_key(b, "since");
        rt_sb_json_time(b, r->u.watchdog_silent.since_us);
        break;
    case RT_LOG_WATCHDOG_BACK:
        put_key(b, "silent_since");
        rt_sb_json_time(b, r->u.watchdog_back.silent_since_us);
        put_key(b, "back_at");
        rt_sb_json_time(b, r->u.watchdog_back.back_at_us);
        break;
    case RT_LOG_TORN_TAIL:
        put_key(b, "torn_bytes");
        put_u64(b, r->u.torn_tail.torn_bytes);
        put_key(b, "torn_sha256");
        put_hex(b, r->u.torn_tail.torn_sha256, 32);
        put_key(b, "offset");
        put_u64(b, r->u.torn_tail.offset);
        break;
    case RT_LOG_ACTUATED:
        put_key(b, "for_seq");
        put_u64(b, r->u.actuated.for_seq);
        put_key(b, "target");
        rt_sb_json_str(b, r->u.actuated.target);
        put_key(b, "http_status");
        put_u64(b, (uint64_t)r->u.actuated.http_status);
        break;
    case RT_LOG_KEY_ROTATION:
        put_key(b, "new_key_name");
        rt_sb_json_str(b, r->u.key_rotation.new_key_name);
        put_key(b, "new_public_key");
        put_b64(b, r->u.key_rotation.new_public_key, RT_LOG_PUBKEY_LEN);
        put_key(b, "new_key_id");
        put_hex(b, r->u.key_rotation.new_key_id, RT_LOG_KEY_ID_LEN);
        break;
    }
}

static void serialize(const struct rt_log_record *r, struct rt_strbuf *b) {
    rt_sb_reset(b);
    _Static_assert(RT_LOG_FORMAT_VERSION == 1, "the serializer writes \"v\":1");
    rt_sb_puts(b, "{\"v\":1,\"seq\":");
    put_u64(b, r->seq);
    put_key(b, "ts");
    rt_sb_json_time(b, r->ts_us);
    put_key(b, "type");
    rt_sb_json_str(b, rt_log_type_name(r->type));
    put_key(b, "prev");
    put_hex(b, r->prev, 32);
    put_key(b, "key_id");
    put_hex(b, r->key_id, RT_LOG_KEY_ID_LEN);
    put_key(b, "policy_sha256");
    put_hex(b, r->policy_sha256, 32);
    put_type_fields(b, r);
    rt_sb_puts(b, "}");
}

int rt_log_record_body(const struct rt_log_record *r, struct rt_strbuf *out, char *err, size_t errlen) {
    int ret = check_fields(r, err, errlen);
    if (ret < 0)
        return ret;
    serialize(r, out);
    if (out->oom)
        return seterr(err, errlen, "out of memory"), -ENOMEM;
    if (out->len > RT_LOG_LINE_MAX - 1 - RT_LOG_B64_LEN(RT_LOG_SIG_LEN))
        return seterr(err, errlen, "record longer than %d bytes", RT_LOG_LINE_MAX), -EINVAL;
    return 0;
}

/* ---- parser: accepts only what serialize() writes ---- */

struct cur {
    const char *p, *end;
    char *err;
    size_t errlen;
    bool bad;
};

_printf_(2, 3) static bool fail(struct cur *c, const char *fmt, ...) {
    if (c->bad)
        return false;
    c->bad = true;
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool lit(struct cur *c, const char *s) {
    size_t n = strlen(s);
    if (c->bad || (size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* ,"name": (or "name": for the first key) */
static bool key(struct cur *c, const char *name, bool first) {
    if (c->bad)
        return false;
    const char *p = c->p;
    size_t n = strlen(name);
    if (!first && p < c->end && *p == ',')
        p++;
    else if (!first)
        return fail(c, "expected field \"%s\"", name);
    if ((size_t)(c->end - p) < n + 3 || p[0] != '"' || memcmp(p + 1, name, n) != 0 || p[n + 1] != '"' ||
        p[n + 2] != ':')
        return fail(c, "expected field \"%s\"", name);
    c->p = p + n + 3;
    return true;
}

static bool u64v(struct cur *c, uint64_t *out, const char *field) {
    if (c->bad)
        return false;
    const char *s = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(c, "%s: number too large", field);
        v = v * 10 + d;
        c->p++;
    }
    if (c->p == s || (c->p - s > 1 && *s == '0'))
        return fail(c, "%s: not a canonical unsigned integer", field);
    *out = v;
    return true;
}

/* A JSON string into dst (cap includes the NUL). Only \" and \\ escapes
 * exist in our output: the field charsets exclude control characters. */
static bool strv(struct cur *c, char *dst, size_t cap, const char *field) {
    if (c->bad)
        return false;
    if (!lit(c, "\""))
        return fail(c, "%s: expected a string", field);
    size_t n = 0;
    for (;;) {
        if (c->p >= c->end)
            return fail(c, "%s: unterminated string", field);
        char ch = *c->p++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            if (c->p >= c->end || (*c->p != '"' && *c->p != '\\'))
                return fail(c, "%s: escape not allowed in this format", field);
            ch = *c->p++;
        } else if ((unsigned char)ch < 0x20) {
            return fail(c, "%s: control character in string", field);
        }
        if (n + 1 >= cap)
            return fail(c, "%s: string too long", field);
        dst[n++] = ch;
    }
    dst[n] = '\0';
    return true;
}

static bool timev(struct cur *c, int64_t *out, const char *field) {
    char s[RT_TIME_BUFSZ];
    if (!strv(c, s, sizeof s, field))
        return false;
    if (rt_time_parse(s, out) < 0)
        return fail(c, "%s: not an RFC 3339 time", field);
    return true;
}

/* Non-negative seconds with up to 6 decimals, as rt_sb_json_seconds writes. */
static bool secondsv(struct cur *c, int64_t *out, const char *field) {
    uint64_t whole;
    if (!u64v(c, &whole, field))
        return false;
    if (whole > (uint64_t)(RT_LOG_DURATION_MAX / RT_USEC_PER_SEC))
        return fail(c, "%s: out of range", field);
    int64_t us = (int64_t)whole * RT_USEC_PER_SEC;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        int64_t scale = 100000;
        int digits = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && digits < 6) {
            us += (*c->p++ - '0') * scale;
            scale /= 10;
            digits++;
        }
        if (digits == 0)
            return fail(c, "%s: not a number", field);
    }
    *out = us;
    return true;
}

static bool numv(struct cur *c, double *out, const char *field) {
    if (c->bad)
        return false;
    const char *s = c->p, *p = c->p;
#define DIGITS(p) while (p < c->end && *p >= '0' && *p <= '9') p++
    if (p < c->end && *p == '-')
        p++;
    const char *int_start = p;
    DIGITS(p);
    if (p == int_start || (p - int_start > 1 && *int_start == '0'))
        return fail(c, "%s: not a JSON number", field);
    if (p < c->end && *p == '.') {
        const char *f = ++p;
        DIGITS(p);
        if (p == f)
            return fail(c, "%s: not a JSON number", field);
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c->end && (*p == '+' || *p == '-'))
            p++;
        const char *e = p;
        DIGITS(p);
        if (p == e)
            return fail(c, "%s: not a JSON number", field);
    }
#undef DIGITS
    char buf[64];
    if ((size_t)(p - s) >= sizeof buf)
        return fail(c, "%s: number too long", field);
    memcpy(buf, s, (size_t)(p - s));
    buf[p - s] = '\0';
    *out = strtod(buf, NULL);
    if (!isfinite(*out))
        return fail(c, "%s: not a finite number", field);
    c->p = p;
    return true;
}

static bool boolv(struct cur *c, bool *out, const char *field) {
    if (lit(c, "true"))
        *out = true;
    else if (lit(c, "false"))
        *out = false;
    else
        return fail(c, "%s: expected true or false", field);
    return true;
}

static bool hexv(struct cur *c, uint8_t *out, size_t n, const char *field) {
    char s[2 * 64 + 2];
    if (!strv(c, s, sizeof s, field))
        return false;
    if (rt_log_unhex(s, strlen(s), out, n) < 0)
        return fail(c, "%s: expected %zu lower-case hex digits", field, 2 * n);
    return true;
}

static bool b64v(struct cur *c, uint8_t *out, size_t n, const char *field) {
    char s[RT_LOG_B64_LEN(64) + 2];
    size_t got = 0;
    if (!strv(c, s, sizeof s, field))
        return false;
    if (rt_log_unb64(s, strlen(s), out, n, &got) < 0 || got != n)
        return fail(c, "%s: expected canonical base64 of %zu bytes", field, n);
    return true;
}

static void parse_demote(struct cur *c, struct rt_msg_demote *d) {
    char cond[32];
    hexv(c, d->request_id, RT_PROTO_REQUEST_ID, "request_id");
    if (key(c, "bot", false))
        strv(c, d->bot, sizeof d->bot, "bot");
    if (key(c, "condition", false))
        strv(c, cond, sizeof cond, "condition");
    if (!c->bad && rt_cond_from_name(cond, &d->cond) < 0)
        fail(c, "condition: unknown condition \"%s\"", cond);
    if (key(c, "reason_code", false))
        strv(c, d->reason_code, sizeof d->reason_code, "reason_code");
    if (key(c, "window_start", false))
        timev(c, &d->window_start_us, "window_start");
    if (key(c, "window_seconds", false))
        secondsv(c, &d->window_us, "window_seconds");
    if (key(c, "unknown_seconds", false))
        secondsv(c, &d->unknown_us, "unknown_seconds");
    if (key(c, "decided_at", false))
        timev(c, &d->decided_at_us, "decided_at");
    if (key(c, "evidence", false) && !lit(c, "{"))
        fail(c, "evidence: expected an object");
    if (key(c, "ts", true))
        timev(c, &d->evidence_ts_us, "evidence.ts");
    if (key(c, "value", false))
        numv(c, &d->evidence_value, "evidence.value");
    if (key(c, "known", false))
        boolv(c, &d->evidence_known, "evidence.known");
    if (!c->bad && !lit(c, "}"))
        fail(c, "evidence: unexpected field");
    if (key(c, "threshold", false)) {
        d->has_threshold = !lit(c, "null");
        if (d->has_threshold)
            numv(c, &d->threshold, "threshold");
    }
    if (key(c, "summary", false))
        strv(c, d->summary, sizeof d->summary, "summary");
}

static void parse_type_fields(struct cur *c, struct rt_log_record *r) {
    switch (r->type) {
    case RT_LOG_GENESIS:
        if (key(c, "origin", false))
            strv(c, r->u.genesis.origin, sizeof r->u.genesis.origin, "origin");
        if (key(c, "key_name", false))
            strv(c, r->u.genesis.key_name, sizeof r->u.genesis.key_name, "key_name");
        if (key(c, "public_key", false))
            b64v(c, r->u.genesis.public_key, RT_LOG_PUBKEY_LEN, "public_key");
        break;
    case RT_LOG_DEMOTE:
        if (key(c, "request_id", false))
            parse_demote(c, &r->u.demote);
        break;
    case RT_LOG_WATCHDOG_SILENT:
        if (key(c, "since", false))
            timev(c, &r->u.watchdog_silent.since_us, "since");
        break;
    case RT_LOG_WATCHDOG_BACK:
        if (key(c, "silent_since", false))
            timev(c, &r->u.watchdog_back.silent_since_us, "silent_since");
        if (key(c, "back_at", false))
            timev(c, &r->u.watchdog_back.back_at_us, "back_at");
        break;
    case RT_LOG_TORN_TAIL:
        if (key(c, "torn_bytes", false))
            u64v(c, &r->u.torn_tail.torn_bytes, "torn_bytes");
        if (key(c, "torn_sha256", false))
            hexv(c, r->u.torn_tail.torn_sha256, 32, "torn_sha256");
        if (key(c, "offset", false))
            u64v(c, &r->u.torn_tail.offset, "offset");
        break;
    case RT_LOG_ACTUATED: {
        uint64_t status = 0;
        if (key(c, "for_seq", false))
            u64v(c, &r->u.actuated.for_seq, "for_seq");
        if (key(c, "target", false))
            strv(c, r->u.actuated.target, sizeof r->u.actuated.target, "target");
        if (key(c, "http_status", false))
            u64v(c, &status, "http_status");
        r->u.actuated.http_status = status > 999 ? 0 : (int)status;
        break;
    }
    case RT_LOG_KEY_ROTATION: {
        struct rt_log_key_rotation *k = &r->u.key_rotation;
        if (key(c, "new_key_name", false))
            strv(c, k->new_key_name, sizeof k->new_key_name, "new_key_name");
        if (key(c, "new_public_key", false))
            b64v(c, k->new_public_key, RT_LOG_PUBKEY_LEN, "new_public_key");
        if (key(c, "new_key_id", false))
            hexv(c, k->new_key_id, RT_LOG_KEY_ID_LEN, "new_key_id");
        break;
    }
    }
}

static void parse_common(struct cur *c, struct rt_log_record *r) {
    uint64_t v = 0;
    char type[32];
    if (!lit(c, "{"))
        fail(c, "not a JSON object");
    if (key(c, "v", true))
        u64v(c, &v, "v");
    if (!c->bad && v != RT_LOG_FORMAT_VERSION)
        fail(c, "v: unsupported format version %" PRIu64, v);
    if (key(c, "seq", false))
        u64v(c, &r->seq, "seq");
    if (key(c, "ts", false))
        timev(c, &r->ts_us, "ts");
    if (key(c, "type", false))
        strv(c, type, sizeof type, "type");
    if (!c->bad && rt_log_type_from_name(type, strlen(type), &r->type) < 0)
        fail(c, "type: unknown record type \"%s\"", type);
    if (key(c, "prev", false))
        hexv(c, r->prev, 32, "prev");
    if (key(c, "key_id", false))
        hexv(c, r->key_id, RT_LOG_KEY_ID_LEN, "key_id");
    if (key(c, "policy_sha256", false))
        hexv(c, r->policy_sha256, 32, "policy_sha256");
}

int rt_log_record_parse(const char *body, size_t len, struct rt_log_record *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    struct cur c = {.p = body, .end = body + len, .err = err, .errlen = errlen};
    parse_common(&c, r);
    if (!c.bad)
        parse_type_fields(&c, r);
    if (!c.bad && !lit(&c, "}"))
        fail(&c, "unexpected field after the last one of a %s record", rt_log_type_name(r->type));
    if (!c.bad && c.p != c.end)
        fail(&c, "bytes after the JSON object");
    if (c.bad)
        return -EBADMSG;
    char why[RT_LOG_ERR_MAX];
    if (check_fields(r, why, sizeof why) < 0) {
        seterr(err, errlen, "%s", why);
        return -EBADMSG;
    }
    /* One spelling per record: what we read must be what we would write. */
    struct rt_strbuf b = {0};
    serialize(r, &b);
    bool same = !b.oom && b.len == len && memcmp(b.s, body, len) == 0;
    bool oom = b.oom;
    rt_sb_free(&b);
    if (oom)
        return seterr(err, errlen, "out of memory"), -ENOMEM;
    if (!same)
        return seterr(err, errlen, "body is not in canonical form"), -EBADMSG;
    return 0;
}

int rt_log_line_split(const char *line, size_t len, size_t *body_len, uint8_t sig[RT_LOG_SIG_LEN]) {
    const char *tab = memchr(line, '\t', len);
    if (!tab)
        return -EBADMSG;
    size_t blen = (size_t)(tab - line), slen = len - blen - 1, got = 0;
    if (slen != RT_LOG_B64_LEN(RT_LOG_SIG_LEN) || rt_log_unb64(tab + 1, slen, sig, RT_LOG_SIG_LEN, &got) < 0 ||
        got != RT_LOG_SIG_LEN)
        return -EBADMSG;
    *body_len = blen;
    return 0;
}

int rt_log_line_parse(const char *line, size_t len, struct rt_log_record *r, uint8_t sig[RT_LOG_SIG_LEN],
                      char *err, size_t errlen) {
    size_t blen;
    if (len > RT_LOG_LINE_MAX) {
        seterr(err, errlen, "line longer than %d bytes", RT_LOG_LINE_MAX);
        return -EBADMSG;
    }
    if (rt_log_line_split(line, len, &blen, sig) < 0) {
        seterr(err, errlen, "not <body> TAB <base64 signature> (unsigned or damaged line)");
        return -EBADMSG;
    }
    return rt_log_record_parse(line, blen, r, err, errlen);
}

void rt_log_signed_message(const char *origin, const char *body, size_t body_len, struct rt_strbuf *buf) {
    rt_sb_reset(buf);
    rt_sb_puts(buf, RT_LOG_SIG_CONTEXT "\n");
    rt_sb_puts(buf, origin);
    rt_sb_putn(buf, "\n", 1);
    rt_sb_putn(buf, body, body_len);
}

void rt_log_record_from_demote(struct rt_log_record *r, const struct rt_msg_demote *d) {
    memset(r, 0, sizeof *r);
    r->type = RT_LOG_DEMOTE;
    r->u.demote = *d;
}
