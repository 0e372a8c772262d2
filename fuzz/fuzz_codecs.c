/* The small decoders every outside input passes through: RFC 3339 times
 * (common/rtime.h rt_time_parse), durations (rt_duration_parse), the HTTP
 * Basic credentials' base64 (watchdog/httpd.h rt_base64_decode) and the
 * command log's base64 and hex (cmdlog/codec.h).
 * Invariants: a parsed time formats (rt_time_format) to a string that parses
 * back to the same instant; a duration is > 0, and the compact format of it
 * never reads back as longer; both base64 decoders accept exactly the
 * canonical spellings, agree with each other, and re-encode to the input;
 * hex likewise. */
#include <errno.h>

#include "cmdlog/codec.h"
#include "common/rtime.h"
#include "fuzz/fuzz_common.h"
#include "watchdog/httpd.h"

#define MAX_TEXT 256

static void check_time(const char *s) {
    int64_t us = 0, again = 0;
    int r = rt_time_parse(s, &us);
    FZ_CHECK(r == 0 || r == -EINVAL);
    if (r != 0)
        return;
    char buf[RT_TIME_BUFSZ];
    rt_time_format(us, buf);
    r = rt_time_parse(buf, &again);
    if (r != 0 || again != us)
        fprintf(stderr, "time \"%s\" formats as \"%s\", which does not read back\n", s, buf);
    FZ_CHECK(r == 0 && again == us);
}

static void check_duration(const char *s) {
    int64_t us = 0, again = 0;
    int r = rt_duration_parse(s, &us);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
    if (r != 0)
        return;
    FZ_CHECK(us > 0);
    char buf[RT_DURATION_BUFSZ];
    rt_duration_format(us, buf);
    FZ_CHECK(fz_terminated(buf, sizeof buf));
    if (rt_duration_parse(buf, &again) == 0)
        FZ_CHECK(again <= us);
}

static void check_base64(const char *s, size_t n) {
    unsigned char a[MAX_TEXT], b[MAX_TEXT];
    size_t na = 0, nb = 0;
    int ra = rt_base64_decode(s, n, a, sizeof a, &na);
    int rb = rt_log_unb64(s, n, b, sizeof b, &nb);
    FZ_CHECK(ra == 0 || ra == -EINVAL);
    FZ_CHECK(rb == 0 || rb == -EINVAL);
    if (ra != rb)
        fprintf(stderr, "base64 decoders disagree on \"%.*s\": %d vs %d\n", (int)n, s, ra, rb);
    FZ_CHECK(ra == rb);
    if (ra != 0)
        return;
    FZ_CHECK(na == nb && memcmp(a, b, na) == 0);
    char enc[RT_LOG_B64_LEN(MAX_TEXT) + 1];
    size_t ne = rt_log_b64(a, na, enc);
    FZ_CHECK(ne == n && memcmp(enc, s, n) == 0);
}

static void check_hex(const char *s, size_t n) {
    uint8_t out[MAX_TEXT / 2];
    if (n % 2 != 0)
        return;
    int r = rt_log_unhex(s, n, out, n / 2);
    FZ_CHECK(r == 0 || r == -EINVAL);
    if (r == 0) {
        char enc[MAX_TEXT + 1];
        rt_log_hex(out, n / 2, enc);
        FZ_CHECK(memcmp(enc, s, n) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_TEXT)
        return 0;
    char *s = fz_cstr(data, size);
    check_time(s);
    check_duration(s);
    check_base64(s, size);
    check_hex(s, size);
    free(s);
    return 0;
}
