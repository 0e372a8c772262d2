/* Byte encodings used by the command log: lower-case hex, strict RFC 4648
 * base64 and SHA-256. Decoders accept exactly one spelling of each value
 * (lower-case hex only; base64 with padding, no whitespace and zero unused
 * bits), so a flipped bit in an encoded field can never decode to the same
 * bytes. Pure. */
#ifndef RATCHET_CMDLOG_CODEC_H
#define RATCHET_CMDLOG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define RT_LOG_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* out receives 2n hex digits and a NUL. */
void rt_log_hex(const uint8_t *in, size_t n, char *out);
/* s must be exactly 2n lower-case hex digits. 0 or -EINVAL. */
int rt_log_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

/* out receives RT_LOG_B64_LEN(n) characters and a NUL; returns the length. */
size_t rt_log_b64(const uint8_t *in, size_t n, char *out);
/* Canonical base64 only. Writes at most cap bytes. 0, -EINVAL, -ENOBUFS. */
int rt_log_unb64(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);

void rt_log_sha256(const void *data, size_t n, uint8_t out[32]);

#endif
