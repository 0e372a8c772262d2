/* Framed messages between watchdog and enforcer; see proto.h. */
#include "common/proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* ---- writer ---- */

struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool bad;
};

static void w_bytes(struct wbuf *w, const void *src, size_t n) {
    if (w->bad || n > w->cap - w->len) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u8(struct wbuf *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u16(struct wbuf *w, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_bytes(w, b, 2);
}

static void w_u64(struct wbuf *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_i64(struct wbuf *w, int64_t v) { w_u64(w, (uint64_t)v); }

static void w_f64(struct wbuf *w, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    w_u64(w, v);
}

static void w_str(struct wbuf *w, const char *s) {
    size_t n = strlen(s);
    if (n > UINT16_MAX) {
        w->bad = true;
        return;
    }
    w_u16(w, (uint16_t)n);
    w_bytes(w, s, n);
}

/* ---- reader ---- */

struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t errlen;
    bool bad;
};

static void r_fail(struct rbuf *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void r_fail(struct rbuf *r, const char *fmt, ...) {
    if (r->bad)
        return;
    r->bad = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
}

static bool r_bytes(struct rbuf *r, void *dst, size_t n, const char *field) {
    if (r->bad)
        return false;
    if (n > r->len - r->pos) {
        r_fail(r, "%s: truncated", field);
        return false;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return true;
}

static uint8_t r_u8(struct rbuf *r, const char *field) {
    uint8_t v = 0;
    r_bytes(r, &v, 1, field);
    return v;
}

static uint16_t r_u16(struct rbuf *r, const char *field) {
    uint8_t b[2] = {0, 0};
    r_bytes(r, b, 2, field);
    return (uint16_t)(b[0] | b[1] << 8);
}

static uint64_t r_u64(struct rbuf *r, const char *field) {
    uint8_t b[8] = {0};
    r_bytes(r, b, 8, field);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Times are microseconds since the epoch: refuse before 2000 or after 2200. */
#define T_MIN INT64_C(946684800000000)
#define T_MAX INT64_C(7258118400000000)

static int64_t r_time(struct rbuf *r, const char *field) {
    int64_t v = (int64_t)r_u64(r, field);
    if (!r->bad && (v < T_MIN || v > T_MAX))
        r_fail(r, "%s: time out of range", field);
    return v;
}

static int64_t r_duration(struct rbuf *r, const char *field) {
    int64_t v = (int64_t)r_u64(r, field);
    if (!r->bad && (v < 0 || v > INT64_C(3650) * 86400 * 1000000))
        r_fail(r, "%s: duration out of range", field);
    return v;
}

static double r_f64(struct rbuf *r, const char *field) {
    uint64_t v = r_u64(r, field);
    double d;
    memcpy(&d, &v, 8);
    if (!r->bad && !isfinite(d))
        r_fail(r, "%s: not a finite number", field);
    return r->bad ? 0 : d;
}

static bool r_bool(struct rbuf *r, const char *field) {
    uint8_t v = r_u8(r, field);
    if (!r->bad && v > 1)
        r_fail(r, "%s: not 0 or 1", field);
    return v == 1;
}

static bool utf8_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (k == 0 || k > n - i)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
            return false;
        i += k;
    }
    return true;
}

enum charset { CS_TEXT, CS_CODE };

/* Reads a string of at most max bytes into dst (max + 1 bytes). */
static void r_str(struct rbuf *r, char *dst, size_t max, enum charset cs, const char *field) {
    dst[0] = '\0';
    uint16_t n = r_u16(r, field);
    if (r->bad)
        return;
    if (n > max) {
        r_fail(r, "%s: longer than %zu bytes", field, max);
        return;
    }
    if (!r_bytes(r, dst, n, field))
        return;
    dst[n] = '\0';
    if (memchr(dst, '\0', n)) {
        r_fail(r, "%s: contains NUL", field);
        return;
    }
    if (!utf8_valid((const uint8_t *)dst, n)) {
        r_fail(r, "%s: invalid UTF-8", field);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)dst[i];
        bool ok = cs == CS_TEXT ? (c >= 0x20 && c != 0x7F) || c >= 0x80
                                : (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
        if (!ok) {
            r_fail(r, "%s: character 0x%02x not allowed", field, c);
            return;
        }
    }
}

static void r_bot(struct rbuf *r, char *dst) {
    r_str(r, dst, RT_BOT_ID_MAX, CS_TEXT, "bot");
    if (!r->bad && !rt_bot_id_valid(dst))
        r_fail(r, "bot: invalid id");
}

/* ---- messages ---- */

static void enc_payload(struct wbuf *w, const struct rt_msg *m) {
    const struct rt_msg_demote *d = &m->u.demote;
    switch (m->type) {
    case RT_MSG_HELLO:
        w_u16(w, m->u.hello.version);
        w_str(w, m->u.hello.peer);
        break;
    case RT_MSG_HELLO_OK:
        w_u16(w, m->u.hello_ok.version);
        w_bytes(w, m->u.hello_ok.policy_sha256, 32);
        break;
    case RT_MSG_DEMOTE:
        w_bytes(w, d->request_id, RT_PROTO_REQUEST_ID);
        w_str(w, d->bot);
        w_u8(w, (uint8_t)d->cond);
        w_str(w, d->reason_code);
        w_i64(w, d->window_start_us);
        w_i64(w, d->decided_at_us);
        w_i64(w, d->window_us);
        w_i64(w, d->unknown_us);
        w_i64(w, d->evidence_ts_us);
        w_u8(w, d->evidence_known);
        w_f64(w, d->evidence_value);
        w_u8(w, d->has_threshold);
        w_f64(w, d->threshold);
        w_str(w, d->summary);
        break;
    case RT_MSG_DEMOTE_ACK:
        w_bytes(w, m->u.demote_ack.request_id, RT_PROTO_REQUEST_ID);
        w_u8(w, (uint8_t)m->u.demote_ack.status);
        w_u64(w, m->u.demote_ack.seq);
        break;
    case RT_MSG_DEMOTE_REFUSED:
        w_bytes(w, m->u.demote_refused.request_id, RT_PROTO_REQUEST_ID);
        w_str(w, m->u.demote_refused.reason);
        break;
    case RT_MSG_HEARTBEAT:
    case RT_MSG_HEARTBEAT_ACK:
        w_i64(w, m->u.heartbeat.ts_us);
        break;
    case RT_MSG_READINESS_QUERY:
        w_str(w, m->u.readiness_query.bot);
        break;
    case RT_MSG_READINESS:
        w_str(w, m->u.readiness.bot);
        w_u8(w, m->u.readiness.readiness);
        w_i64(w, m->u.readiness.since_us);
        w_u64(w, m->u.readiness.seq);
        break;
    case RT_MSG_ACTUATED:
        w_u64(w, m->u.actuated.for_seq);
        w_u16(w, m->u.actuated.http_status);
        w_str(w, m->u.actuated.target);
        break;
    case RT_MSG_ACTUATED_ACK:
        w_u64(w, m->u.actuated_ack.for_seq);
        w_u8(w, (uint8_t)m->u.actuated_ack.status);
        w_u64(w, m->u.actuated_ack.seq);
        break;
    default:
        w->bad = true;
    }
}

static void dec_demote(struct rbuf *r, struct rt_msg_demote *d) {
    r_bytes(r, d->request_id, RT_PROTO_REQUEST_ID, "request_id");
    r_bot(r, d->bot);
    uint8_t c = r_u8(r, "condition");
    if (!r->bad && c >= RT_COND_COUNT)
        r_fail(r, "condition: unknown condition %u", c);
    d->cond = (enum rt_cond)c;
    r_str(r, d->reason_code, RT_PROTO_REASON_MAX, CS_CODE, "reason_code");
    d->window_start_us = r_time(r, "window_start");
    d->decided_at_us = r_time(r, "decided_at");
    d->window_us = r_duration(r, "window");
    d->unknown_us = r_duration(r, "unknown");
    d->evidence_ts_us = r_time(r, "evidence_ts");
    d->evidence_known = r_bool(r, "evidence_known");
    d->evidence_value = r_f64(r, "evidence_value");
    d->has_threshold = r_bool(r, "has_threshold");
    d->threshold = r_f64(r, "threshold");
    r_str(r, d->summary, RT_PROTO_SUMMARY_MAX, CS_TEXT, "summary");
    if (!r->bad && d->decided_at_us < d->window_start_us)
        r_fail(r, "decided_at: before window_start");
}

/* Only a success is worth recording: the watchdog retries anything else. */
static void dec_actuated(struct rbuf *r, struct rt_msg_actuated *a) {
    a->for_seq = r_u64(r, "for_seq");
    a->http_status = r_u16(r, "http_status");
    if (!r->bad && (a->http_status < 200 || a->http_status > 299))
        r_fail(r, "http_status: %u is not 200..299", a->http_status);
    r_str(r, a->target, RT_PROTO_TARGET_MAX, CS_TEXT, "target");
    if (!r->bad && !a->target[0])
        r_fail(r, "target: empty");
}

static void dec_actuated_ack(struct rbuf *r, struct rt_msg_actuated_ack *a) {
    a->for_seq = r_u64(r, "for_seq");
    uint8_t st = r_u8(r, "status");
    if (!r->bad && (st < RT_ACTUATED_RECORDED || st > RT_ACTUATED_DUPLICATE))
        r_fail(r, "status: unknown %u", st);
    a->status = (enum rt_actuated_status)st;
    a->seq = r_u64(r, "seq");
    if (!r->bad && a->seq <= a->for_seq)
        r_fail(r, "seq: not after for_seq");
}

static void dec_payload(struct rbuf *r, struct rt_msg *m) {
    switch (m->type) {
    case RT_MSG_HELLO:
        m->u.hello.version = r_u16(r, "version");
        r_str(r, m->u.hello.peer, RT_PROTO_PEER_MAX, CS_TEXT, "peer");
        if (!r->bad && m->u.hello.version != 1)
            r_fail(r, "version: unsupported protocol version %u", m->u.hello.version);
        break;
    case RT_MSG_HELLO_OK:
        m->u.hello_ok.version = r_u16(r, "version");
        r_bytes(r, m->u.hello_ok.policy_sha256, 32, "policy_sha256");
        break;
    case RT_MSG_DEMOTE:
        dec_demote(r, &m->u.demote);
        break;
    case RT_MSG_DEMOTE_ACK: {
        r_bytes(r, m->u.demote_ack.request_id, RT_PROTO_REQUEST_ID, "request_id");
        uint8_t st = r_u8(r, "status");
        if (!r->bad && (st < RT_DEMOTE_RECORDED || st > RT_DEMOTE_ALREADY_LIMITED))
            r_fail(r, "status: unknown %u", st);
        m->u.demote_ack.status = (enum rt_demote_status)st;
        m->u.demote_ack.seq = r_u64(r, "seq");
        break;
    }
    case RT_MSG_DEMOTE_REFUSED:
        r_bytes(r, m->u.demote_refused.request_id, RT_PROTO_REQUEST_ID, "request_id");
        r_str(r, m->u.demote_refused.reason, RT_PROTO_SUMMARY_MAX, CS_TEXT, "reason");
        break;
    case RT_MSG_HEARTBEAT:
    case RT_MSG_HEARTBEAT_ACK:
        m->u.heartbeat.ts_us = r_time(r, "ts");
        break;
    case RT_MSG_READINESS_QUERY:
        r_bot(r, m->u.readiness_query.bot);
        break;
    case RT_MSG_READINESS:
        r_bot(r, m->u.readiness.bot);
        m->u.readiness.readiness = r_u8(r, "readiness");
        if (!r->bad && m->u.readiness.readiness > 2)
            r_fail(r, "readiness: unknown %u", m->u.readiness.readiness);
        m->u.readiness.since_us = (int64_t)r_u64(r, "since");
        m->u.readiness.seq = r_u64(r, "seq");
        break;
    case RT_MSG_ACTUATED:
        dec_actuated(r, &m->u.actuated);
        break;
    case RT_MSG_ACTUATED_ACK:
        dec_actuated_ack(r, &m->u.actuated_ack);
        break;
    default:
        r_fail(r, "unknown message type %d", (int)m->type);
    }
}

static bool type_known(unsigned t) { return t >= RT_MSG_HELLO && t <= RT_MSG_TYPE_MAX; }

int rt_proto_encode(const struct rt_msg *m, uint8_t *buf, size_t cap) {
    if (cap < RT_PROTO_HEADER || !type_known((unsigned)m->type))
        return cap < RT_PROTO_HEADER ? -ENOBUFS : -EINVAL;
    struct wbuf w = {.p = buf + RT_PROTO_HEADER,
                     .cap = cap - RT_PROTO_HEADER < RT_PROTO_MAX_PAYLOAD ? cap - RT_PROTO_HEADER
                                                                         : RT_PROTO_MAX_PAYLOAD};
    enc_payload(&w, m);
    if (w.bad)
        return w.cap < RT_PROTO_MAX_PAYLOAD ? -ENOBUFS : -EINVAL;
    /* refuse to send what the peer would refuse */
    struct rt_msg check;
    char err[128];
    memcpy(buf, RT_PROTO_MAGIC, 4);
    buf[4] = (uint8_t)m->type;
    buf[5] = buf[6] = buf[7] = 0;
    for (int i = 0; i < 4; i++)
        buf[8 + i] = (uint8_t)(w.len >> (8 * i));
    if (rt_proto_decode(buf, RT_PROTO_HEADER + w.len, &check, err, sizeof(err)) < 0)
        return -EINVAL;
    return (int)(RT_PROTO_HEADER + w.len);
}

int rt_proto_frame_length(const uint8_t *buf, size_t len) {
    if (len < RT_PROTO_HEADER)
        return 0;
    if (memcmp(buf, RT_PROTO_MAGIC, 4) != 0 || buf[5] || buf[6] || buf[7] || !type_known(buf[4]))
        return -EBADMSG;
    uint32_t n = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 | (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
    if (n > RT_PROTO_MAX_PAYLOAD)
        return -EBADMSG;
    return (int)(RT_PROTO_HEADER + n);
}

int rt_proto_decode(const uint8_t *buf, size_t len, struct rt_msg *m, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    int n = rt_proto_frame_length(buf, len);
    if (n <= 0 || (size_t)n != len) {
        snprintf(err, errlen, n < 0 ? "bad frame header" : "frame length mismatch");
        return -EBADMSG;
    }
    m->type = (enum rt_msg_type)buf[4];
    struct rbuf r = {.p = buf + RT_PROTO_HEADER, .len = len - RT_PROTO_HEADER, .err = err, .errlen = errlen};
    dec_payload(&r, m);
    if (!r.bad && r.pos != r.len)
        r_fail(&r, "%zu trailing bytes", r.len - r.pos);
    return r.bad ? -EBADMSG : 0;
}

const char *rt_msg_type_name(enum rt_msg_type t) {
    static const char *const names[] = {"?",          "HELLO",          "HELLO_OK",        "DEMOTE",
                                        "DEMOTE_ACK", "DEMOTE_REFUSED", "HEARTBEAT",       "HEARTBEAT_ACK",
                                        "READINESS_QUERY", "READINESS", "ACTUATED",        "ACTUATED_ACK"};
    _Static_assert(ELEMENTSOF(names) == RT_MSG_TYPE_MAX + 1, "a name per message type");
    return type_known((unsigned)t) ? names[t] : "unknown";
}
