/* The watchdog <-> enforcer frames: round trips and a table of malformed frames. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/proto.h"
#include "common/util.h"
#include "tests/unit/harness.h"

#define T0 INT64_C(1795000000000000)

static struct rt_msg sample_demote(void) {
    struct rt_msg m = {.type = RT_MSG_DEMOTE};
    struct rt_msg_demote *d = &m.u.demote;
    memset(d->request_id, 0xAB, sizeof(d->request_id));
    strcpy(d->bot, "mm-eth-01");
    d->cond = RT_COND_ERROR_RATE;
    strcpy(d->reason_code, "demote.error_rate");
    d->window_start_us = T0;
    d->decided_at_us = T0 + INT64_C(86400000000);
    d->window_us = INT64_C(86400000000);
    d->unknown_us = 7200000000;
    d->evidence_ts_us = T0 + INT64_C(86390000000);
    d->evidence_known = true;
    d->evidence_value = 0.02;
    d->has_threshold = true;
    d->threshold = 0.01;
    strcpy(d->summary, "error_rate 0.02 > 0.01 since 2026-11-18T10:00:00Z; unknown 2h");
    return m;
}

static int encode(const struct rt_msg *m, uint8_t *buf) { return rt_proto_encode(m, buf, 8192); }

TEST(demote_round_trip) {
    struct rt_msg m = sample_demote(), out;
    uint8_t buf[8192];
    char err[128];
    int n = encode(&m, buf);
    REQUIRE(n > RT_PROTO_HEADER);
    CHECK_EQ_INT(rt_proto_frame_length(buf, (size_t)n), n);
    CHECK_EQ_INT(rt_proto_frame_length(buf, RT_PROTO_HEADER - 1), 0);
    REQUIRE(rt_proto_decode(buf, (size_t)n, &out, err, sizeof(err)) == 0);
    CHECK_EQ_INT(out.type, RT_MSG_DEMOTE);
    CHECK(memcmp(out.u.demote.request_id, m.u.demote.request_id, RT_PROTO_REQUEST_ID) == 0);
    CHECK_EQ_STR(out.u.demote.bot, "mm-eth-01");
    CHECK_EQ_INT(out.u.demote.cond, RT_COND_ERROR_RATE);
    CHECK_EQ_STR(out.u.demote.reason_code, "demote.error_rate");
    CHECK_EQ_INT(out.u.demote.unknown_us, 7200000000);
    CHECK(out.u.demote.evidence_value == 0.02 && out.u.demote.threshold == 0.01);
    CHECK_EQ_STR(out.u.demote.summary, m.u.demote.summary);
}

TEST(every_type_round_trips) {
    struct rt_msg msgs[10] = {{.type = RT_MSG_HELLO}, {.type = RT_MSG_HELLO_OK}, {.type = RT_MSG_DEMOTE_ACK},
                              {.type = RT_MSG_DEMOTE_REFUSED}, {.type = RT_MSG_HEARTBEAT},
                              {.type = RT_MSG_HEARTBEAT_ACK}, {.type = RT_MSG_READINESS_QUERY},
                              {.type = RT_MSG_READINESS}, {.type = RT_MSG_ACTUATED}, {.type = RT_MSG_ACTUATED_ACK}};
    msgs[0].u.hello.version = 1;
    strcpy(msgs[0].u.hello.peer, "ratchet-watchdog");
    msgs[1].u.hello_ok.version = 1;
    memset(msgs[1].u.hello_ok.policy_sha256, 7, 32);
    msgs[2].u.demote_ack.status = RT_DEMOTE_DUPLICATE;
    msgs[2].u.demote_ack.seq = 42;
    strcpy(msgs[3].u.demote_refused.reason, "window 12h shorter than the policy's 24h");
    msgs[4].u.heartbeat.ts_us = T0;
    msgs[5].u.heartbeat.ts_us = T0;
    strcpy(msgs[6].u.readiness_query.bot, "alpha");
    strcpy(msgs[7].u.readiness.bot, "alpha");
    msgs[7].u.readiness.readiness = 1;
    msgs[7].u.readiness.seq = 9;
    msgs[8].u.actuated.for_seq = 3;
    msgs[8].u.actuated.http_status = 202;
    strcpy(msgs[8].u.actuated.target, "https://cp.example/records");
    msgs[9].u.actuated_ack.for_seq = 3;
    msgs[9].u.actuated_ack.status = RT_ACTUATED_DUPLICATE;
    msgs[9].u.actuated_ack.seq = 5;
    for (size_t i = 0; i < ELEMENTSOF(msgs); i++) {
        uint8_t buf[8192], again[8192];
        struct rt_msg out;
        char err[128];
        int n = encode(&msgs[i], buf);
        REQUIRE(n > 0);
        REQUIRE(rt_proto_decode(buf, (size_t)n, &out, err, sizeof(err)) == 0);
        CHECK_EQ_INT(encode(&out, again), n); /* decode(encode(m)) encodes to the same bytes */
        CHECK(memcmp(buf, again, (size_t)n) == 0);
    }
}

TEST(every_truncation_is_refused) {
    struct rt_msg m = sample_demote(), out;
    uint8_t buf[8192];
    char err[128];
    int n = encode(&m, buf);
    REQUIRE(n > 0);
    for (int len = 0; len < n; len++)
        CHECK_EQ_INT(rt_proto_decode(buf, (size_t)len, &out, err, sizeof(err)), -EBADMSG);
    /* a shorter length field with the right size: the payload does not parse */
    for (int cut = 1; cut < n - RT_PROTO_HEADER; cut++) {
        uint8_t b2[8192];
        memcpy(b2, buf, (size_t)n);
        uint32_t plen = (uint32_t)(n - RT_PROTO_HEADER - cut);
        for (int i = 0; i < 4; i++)
            b2[8 + i] = (uint8_t)(plen >> (8 * i));
        CHECK_EQ_INT(rt_proto_decode(b2, (size_t)(n - cut), &out, err, sizeof(err)), -EBADMSG);
    }
}

typedef void (*mutate_fn)(struct rt_msg *m);
static void bad_bot(struct rt_msg *m) { strcpy(m->u.demote.bot, "bad bot"); }
static void empty_bot(struct rt_msg *m) { m->u.demote.bot[0] = '\0'; }
static void bad_cond(struct rt_msg *m) { m->u.demote.cond = (enum rt_cond)9; }
static void nan_value(struct rt_msg *m) { m->u.demote.evidence_value = NAN; }
static void inf_threshold(struct rt_msg *m) { m->u.demote.threshold = INFINITY; }
static void early_time(struct rt_msg *m) { m->u.demote.window_start_us = 5; }
static void backwards(struct rt_msg *m) { m->u.demote.decided_at_us = m->u.demote.window_start_us - 1; }
static void neg_window(struct rt_msg *m) { m->u.demote.window_us = -1; }
static void upper_code(struct rt_msg *m) { strcpy(m->u.demote.reason_code, "DEMOTE.X"); }
static void ctrl_summary(struct rt_msg *m) { strcpy(m->u.demote.summary, "line\nbreak"); }
static void bad_utf8(struct rt_msg *m) { strcpy(m->u.demote.summary, "caf\xC3"); }

TEST(encoder_refuses_what_the_decoder_would) {
    static const mutate_fn muts[] = {bad_bot, empty_bot, bad_cond, nan_value, inf_threshold, early_time,
                                     backwards, neg_window, upper_code, ctrl_summary, bad_utf8};
    for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
        struct rt_msg m = sample_demote();
        uint8_t buf[8192];
        muts[i](&m);
        int r = encode(&m, buf);
        if (r != -EINVAL)
            fprintf(stderr, "    mutation %zu encoded (%d)\n", i, r);
        CHECK_EQ_INT(r, -EINVAL);
    }
}

/* Patch a valid frame's bytes and expect the decoder to refuse it with `want` in the reason. */
static void expect_refused(const uint8_t *frame, size_t n, const char *want) {
    struct rt_msg out;
    char err[128] = "";
    int r = rt_proto_decode(frame, n, &out, err, sizeof(err));
    if (r != -EBADMSG || !strstr(err, want))
        fprintf(stderr, "    want refusal \"%s\", got r=%d err=\"%s\"\n", want, r, err);
    CHECK(r == -EBADMSG && strstr(err, want));
}

TEST(malformed_frames_are_refused_with_a_reason) {
    struct rt_msg m = sample_demote();
    uint8_t buf[8192], b[8192];
    int n = encode(&m, buf);
    REQUIRE(n > 0);
    size_t bot_off = RT_PROTO_HEADER + RT_PROTO_REQUEST_ID; /* u16 length then "mm-eth-01" */
    size_t cond_off = bot_off + 2 + strlen("mm-eth-01");
#define PATCH(off, val, want)                 \
    do {                                      \
        memcpy(b, buf, (size_t)n);            \
        b[off] = (uint8_t)(val);              \
        expect_refused(b, (size_t)n, want);   \
    } while (0)
    PATCH(0, 'X', "bad frame header");     /* magic */
    PATCH(3, '2', "bad frame header");     /* protocol version in the magic */
    PATCH(4, 0, "bad frame header");       /* type 0 */
    PATCH(4, 77, "bad frame header");      /* unknown type */
    PATCH(4, RT_MSG_TYPE_MAX + 1, "bad frame header"); /* the first type after the last */
    PATCH(5, 1, "bad frame header");       /* flags */
    PATCH(6, 1, "bad frame header");       /* reserved */
    PATCH(11, 1, "bad frame header");      /* payload > max */
    PATCH(bot_off + 2, 0, "bot: contains NUL");
    PATCH(bot_off + 2, ' ', "bot: invalid id");
    PATCH(bot_off + 2, 0xFF, "bot: invalid UTF-8");
    PATCH(bot_off, 65, "bot: longer than 64");
    PATCH(cond_off, 4, "condition: unknown");
    /* evidence_known is after reason_code (2+17) and five int64s */
    size_t known_off = cond_off + 1 + 2 + strlen("demote.error_rate") + 5 * 8;
    PATCH(known_off, 2, "evidence_known: not 0 or 1");
    memcpy(b, buf, (size_t)n);
    b[known_off + 1 + 7] = 0x7F; /* evidence_value = NaN-ish: top byte */
    b[known_off + 1 + 6] = 0xF8;
    expect_refused(b, (size_t)n, "evidence_value: not a finite");
    /* trailing bytes */
    memcpy(b, buf, (size_t)n);
    b[n] = 0;
    uint32_t plen = (uint32_t)(n - RT_PROTO_HEADER + 1);
    for (int i = 0; i < 4; i++)
        b[8 + i] = (uint8_t)(plen >> (8 * i));
    expect_refused(b, (size_t)n + 1, "trailing bytes");
    /* a HELLO of another protocol version */
    struct rt_msg h = {.type = RT_MSG_HELLO};
    h.u.hello.version = 1;
    strcpy(h.u.hello.peer, "x");
    int hn = encode(&h, b);
    REQUIRE(hn > 0);
    b[RT_PROTO_HEADER] = 2;
    expect_refused(b, (size_t)hn, "unsupported protocol version");
#undef PATCH
}

TEST(every_single_bit_flip_is_refused_or_decodes_cleanly) {
    struct rt_msg m = sample_demote(), out;
    uint8_t buf[8192], b[8192];
    char err[128];
    int n = encode(&m, buf);
    REQUIRE(n > 0);
    int refused = 0;
    for (int i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, buf, (size_t)n);
            b[i] ^= (uint8_t)(1 << bit);
            int r = rt_proto_decode(b, (size_t)n, &out, err, sizeof(err));
            if (r == 0) {
                /* accepted: then it must be a valid message that encodes back to the same bytes */
                uint8_t again[8192];
                CHECK_EQ_INT(encode(&out, again), n);
                CHECK(memcmp(again, b, (size_t)n) == 0);
            } else {
                refused++;
            }
        }
    CHECK(refused > 100); /* header, lengths, charsets and ranges catch most flips */
}

static struct rt_msg sample_actuated(void) {
    struct rt_msg m = {.type = RT_MSG_ACTUATED};
    m.u.actuated.for_seq = 0x0102030405060708ull;
    m.u.actuated.http_status = 200;
    strcpy(m.u.actuated.target, "https://cp.example:8443/api/v1/records");
    return m;
}

TEST(actuated_round_trip_and_layout) {
    struct rt_msg m = sample_actuated(), out;
    uint8_t buf[8192];
    char err[128];
    int n = encode(&m, buf);
    size_t tlen = strlen(m.u.actuated.target);
    /* for_seq u64 . http_status u16 . target string */
    REQUIRE(n == (int)(RT_PROTO_HEADER + 8 + 2 + 2 + tlen));
    CHECK_EQ_INT(buf[4], 10);
    CHECK_EQ_INT(buf[RT_PROTO_HEADER], 0x08);     /* little-endian */
    CHECK_EQ_INT(buf[RT_PROTO_HEADER + 7], 0x01);
    CHECK_EQ_INT(buf[RT_PROTO_HEADER + 8], 200);
    CHECK_EQ_INT(buf[RT_PROTO_HEADER + 10], tlen);
    REQUIRE(rt_proto_decode(buf, (size_t)n, &out, err, sizeof(err)) == 0);
    CHECK_EQ_INT(out.type, RT_MSG_ACTUATED);
    CHECK(out.u.actuated.for_seq == m.u.actuated.for_seq);
    CHECK_EQ_INT(out.u.actuated.http_status, 200);
    CHECK_EQ_STR(out.u.actuated.target, m.u.actuated.target);
    for (int len = 0; len < n; len++)
        CHECK_EQ_INT(rt_proto_decode(buf, (size_t)len, &out, err, sizeof(err)), -EBADMSG);

    struct rt_msg ack = {.type = RT_MSG_ACTUATED_ACK};
    ack.u.actuated_ack = (struct rt_msg_actuated_ack){.for_seq = 4, .status = RT_ACTUATED_RECORDED, .seq = 9};
    n = encode(&ack, buf);
    REQUIRE(n == RT_PROTO_HEADER + 8 + 1 + 8);
    REQUIRE(rt_proto_decode(buf, (size_t)n, &out, err, sizeof(err)) == 0);
    CHECK_EQ_INT(out.type, RT_MSG_ACTUATED_ACK);
    CHECK_EQ_INT(out.u.actuated_ack.for_seq, 4);
    CHECK_EQ_INT(out.u.actuated_ack.status, RT_ACTUATED_RECORDED);
    CHECK_EQ_INT(out.u.actuated_ack.seq, 9);
}

TEST(malformed_actuated_is_refused) {
    /* the encoder refuses what the decoder would */
    static const unsigned bad_status[] = {0, 100, 199, 300, 404, 500};
    for (size_t i = 0; i < ELEMENTSOF(bad_status); i++) {
        struct rt_msg m = sample_actuated();
        uint8_t buf[8192];
        m.u.actuated.http_status = (uint16_t)bad_status[i];
        CHECK_EQ_INT(encode(&m, buf), -EINVAL);
    }
    struct rt_msg m = sample_actuated();
    uint8_t buf[8192], b[8192];
    m.u.actuated.target[0] = '\0';
    CHECK_EQ_INT(encode(&m, buf), -EINVAL);
    m = sample_actuated();
    strcpy(m.u.actuated.target, "https://cp\n.example");
    CHECK_EQ_INT(encode(&m, buf), -EINVAL);
    m = sample_actuated();
    memset(m.u.actuated.target, 'a', RT_PROTO_TARGET_MAX); /* exactly the maximum is fine */
    m.u.actuated.target[RT_PROTO_TARGET_MAX] = '\0';
    CHECK(encode(&m, buf) > 0);

    /* and the decoder refuses patched frames, with a reason */
    m = sample_actuated();
    int n = encode(&m, buf);
    REQUIRE(n > 0);
    memcpy(b, buf, (size_t)n);
    b[RT_PROTO_HEADER + 8] = 0xF4; /* 500 */
    b[RT_PROTO_HEADER + 9] = 0x01;
    expect_refused(b, (size_t)n, "http_status: 500 is not 200..299");
    memcpy(b, buf, (size_t)n);
    b[RT_PROTO_HEADER + 12] = 0x07; /* a BEL in the target */
    expect_refused(b, (size_t)n, "target: character 0x07");
    memcpy(b, buf, (size_t)n);
    b[RT_PROTO_HEADER + 10] = 0xFF; /* target length 255 + trailing byte count mismatch */
    expect_refused(b, (size_t)n, "target: truncated");

    struct rt_msg ack = {.type = RT_MSG_ACTUATED_ACK};
    ack.u.actuated_ack = (struct rt_msg_actuated_ack){.for_seq = 4, .status = RT_ACTUATED_RECORDED, .seq = 9};
    n = encode(&ack, buf);
    REQUIRE(n > 0);
    memcpy(b, buf, (size_t)n);
    b[RT_PROTO_HEADER + 8] = 3;
    expect_refused(b, (size_t)n, "status: unknown 3");
    memcpy(b, buf, (size_t)n);
    b[RT_PROTO_HEADER + 9] = 4; /* seq = for_seq: an actuated record comes after its demote record */
    expect_refused(b, (size_t)n, "seq: not after for_seq");
    ack.u.actuated_ack.seq = 2;
    CHECK_EQ_INT(encode(&ack, buf), -EINVAL);
}

TEST(type_names) {
    CHECK_EQ_STR(rt_msg_type_name(RT_MSG_ACTUATED), "ACTUATED");
    CHECK_EQ_STR(rt_msg_type_name(RT_MSG_ACTUATED_ACK), "ACTUATED_ACK");
    CHECK_EQ_STR(rt_msg_type_name((enum rt_msg_type)12), "unknown");
    CHECK_EQ_STR(rt_msg_type_name(RT_MSG_DEMOTE), "DEMOTE");
    CHECK_EQ_STR(rt_msg_type_name((enum rt_msg_type)0), "unknown");
    CHECK_EQ_STR(rt_msg_type_name((enum rt_msg_type)99), "unknown");
}

TEST_MAIN()
