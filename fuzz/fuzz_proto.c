/* The watchdog <-> enforcer frames (common/proto.h): the input is a byte
 * stream cut into frames by rt_proto_frame_length, as the enforcer's
 * server and the watchdog's hand-off read them, each decoded with
 * rt_proto_decode.
 * Invariants: frame_length is 0 (need more), -EBADMSG, or a length within
 * header .. header + RT_PROTO_MAX_PAYLOAD that does not depend on bytes past
 * the header; decode accepts only whole frames; a decoded message encodes
 * back to exactly the frame it came from (one encoding per message) and
 * decodes again to the same bytes. */
#include <errno.h>

#include "common/proto.h"
#include "fuzz/fuzz_common.h"

#define FRAME_MAX (RT_PROTO_HEADER + RT_PROTO_MAX_PAYLOAD)

static void check_frame(const uint8_t *f, size_t len) {
    struct rt_msg m;
    char err[256];
    err[0] = '\0';
    int r = rt_proto_decode(f, len, &m, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EBADMSG);
    FZ_CHECK(fz_terminated(err, sizeof err));
    if (r < 0) {
        FZ_CHECK(err[0]);
        return;
    }
    FZ_CHECK(m.type >= RT_MSG_HELLO && m.type <= RT_MSG_TYPE_MAX && rt_msg_type_name(m.type));
    static uint8_t again[FRAME_MAX + 64];
    int n = rt_proto_encode(&m, again, sizeof again);
    if (n < 0 || (size_t)n != len || memcmp(again, f, len) != 0)
        fprintf(stderr, "re-encoding %s: %d bytes vs %zu\n", rt_msg_type_name(m.type), n, len);
    FZ_CHECK(n >= 0 && (size_t)n == len && memcmp(again, f, len) == 0);
    /* a frame cut short is refused */
    if (len > RT_PROTO_HEADER)
        FZ_CHECK(rt_proto_decode(f, len - 1, &m, err, sizeof err) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t off = 0;
    while (off < size) {
        const uint8_t *p = data + off;
        size_t avail = size - off;
        int fl = rt_proto_frame_length(p, avail);
        FZ_CHECK(fl == 0 || fl == -EBADMSG || (fl >= RT_PROTO_HEADER && fl <= FRAME_MAX));
        if (fl > 0 && avail > RT_PROTO_HEADER)
            FZ_CHECK(rt_proto_frame_length(p, RT_PROTO_HEADER) == fl);
        if (fl == 0)
            FZ_CHECK(avail < RT_PROTO_HEADER);
        if (fl <= 0 || (size_t)fl > avail)
            break; /* refused, or the peer has not sent it all */
        check_frame(p, (size_t)fl);
        off += (size_t)fl;
    }
    return 0;
}
