/* Command-log lines and record bodies (cmdlog/record.h rt_log_line_parse,
 * rt_log_line_split, rt_log_record_parse).
 * Invariants: a body is accepted only in its canonical spelling, so a
 * parsed record re-serializes (rt_log_record_body) to exactly the bytes it
 * was read from; the split finds the one TAB and a canonical base64
 * signature; the line parse agrees with split + body parse. */
#include <errno.h>

#include "cmdlog/codec.h"
#include "cmdlog/record.h"
#include "common/strbuf.h"
#include "fuzz/fuzz_common.h"

static void check_body(const char *body, size_t len, int r, const struct rt_log_record *rec) {
    if (r != 0)
        return;
    FZ_CHECK(rt_log_type_name(rec->type) != NULL);
    struct rt_strbuf sb = {0};
    char err[RT_LOG_ERR_MAX];
    int w = rt_log_record_body(rec, &sb, err, sizeof err);
    if (w != 0)
        fprintf(stderr, "a parsed record does not serialize: %s\n", err);
    FZ_CHECK(w == 0 || w == -ENOMEM);
    if (w == 0) {
        if (sb.len != len || memcmp(sb.s, body, len) != 0)
            fprintf(stderr, "not canonical:\n  in:  %.*s\n  out: %.*s\n", (int)len, body, (int)sb.len, sb.s);
        FZ_CHECK(sb.len == len && memcmp(sb.s, body, len) == 0);
    }
    rt_sb_free(&sb);
}

/* The parse calls again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_log_record rec;
    uint8_t sig[RT_LOG_SIG_LEN];
    char err[RT_LOG_ERR_MAX];
    rt_log_record_parse((const char *)data, size, &rec, err, sizeof err);
    rt_log_line_parse((const char *)data, size, &rec, sig, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > RT_LOG_LINE_MAX + 16)
        return 0;
    const char *s = (const char *)data;
    char err[RT_LOG_ERR_MAX];
    struct rt_log_record rec;

    /* the whole input as a body */
    int r = rt_log_record_parse(s, size, &rec, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
    FZ_CHECK(r == 0 || fz_terminated(err, sizeof err));
    check_body(s, size, r, &rec);

    /* the whole input as a line */
    size_t body_len = 0;
    uint8_t sig[RT_LOG_SIG_LEN], sig2[RT_LOG_SIG_LEN];
    int rs = rt_log_line_split(s, size, &body_len, sig);
    FZ_CHECK(rs == 0 || rs == -EBADMSG);
    if (rs == 0) {
        FZ_CHECK(body_len < size && s[body_len] == '\t');
        char b64[RT_LOG_B64_LEN(RT_LOG_SIG_LEN) + 1];
        size_t n = rt_log_b64(sig, sizeof sig, b64);
        FZ_CHECK(body_len + 1 + n == size && memcmp(b64, s + body_len + 1, n) == 0);
    }
    int rl = rt_log_line_parse(s, size, &rec, sig2, err, sizeof err);
    FZ_CHECK(rl == 0 || rl == -EBADMSG || rl == -ENOMEM);
    if (rl == 0) {
        FZ_CHECK(rs == 0 && memcmp(sig, sig2, sizeof sig) == 0);
        check_body(s, body_len, 0, &rec);
    }
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
