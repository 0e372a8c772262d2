/* Ed25519 keys of the command log (OpenSSL 3).
 *
 * A key has a name ([A-Za-z0-9][A-Za-z0-9._-]{0,63}) and, after C2SP
 * signed-note, a 4-byte key id = SHA-256(name || 0x0A || 0x01 || pubkey)[0:4].
 * Private keys load from PEM (`openssl genpkey -algorithm ed25519`); the
 * loader refuses a file that grants any permission to group or others.
 * Public keys load from PEM (`openssl pkey -pubout`) or from the 32 raw
 * bytes; a public key may carry an empty name when only its bytes matter
 * (a trust anchor: the log itself names its keys). */
#ifndef RATCHET_CMDLOG_LOGKEY_H
#define RATCHET_CMDLOG_LOGKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_LOG_KEY_NAME_MAX 64
#define RT_LOG_KEY_ID_LEN 4
#define RT_LOG_PUBKEY_LEN 32
#define RT_LOG_SIG_LEN 64
#define RT_LOG_KEY_FILE_MAX 16384 /* bytes of a PEM key file */

struct rt_log_key;    /* private key (opaque) */
struct rt_log_pubkey; /* public key (opaque) */

bool rt_log_key_name_valid(const char *name);
/* C2SP signed-note key id of an Ed25519 key. */
void rt_log_key_id(const char *name, const uint8_t pub[RT_LOG_PUBKEY_LEN], uint8_t id[RT_LOG_KEY_ID_LEN]);

/* Loads a PEM private key and names it. -EPERM if the file is accessible by
 * group or others, -EINVAL for a bad name or a key that is not Ed25519,
 * -EBADMSG for unparsable PEM, -errno for I/O. err says why. */
int rt_log_key_load(const char *path, const char *name, struct rt_log_key **out, char *err, size_t errlen);
/* A fresh random key. */
int rt_log_key_generate(const char *name, struct rt_log_key **out);
/* Writes the private key (PKCS#8 PEM, mode 0400) and the public key (SPKI
 * PEM, mode 0644), both durable; never overwrites: -EEXIST if either file
 * exists (nothing is written then). */
int rt_log_key_save(const struct rt_log_key *k, const char *key_path, const char *pub_path, char *err,
                    size_t errlen);
/* A new reference to the same key. */
int rt_log_key_dup(const struct rt_log_key *k, struct rt_log_key **out);
void rt_log_key_free(struct rt_log_key *k);
static inline void rt_log_key_freep(struct rt_log_key **k) {
    if (*k)
        rt_log_key_free(*k);
}
const char *rt_log_key_name(const struct rt_log_key *k);
const uint8_t *rt_log_key_pub(const struct rt_log_key *k); /* 32 bytes */
const uint8_t *rt_log_key_id_of(const struct rt_log_key *k); /* 4 bytes */
/* The public half, owned by k. */
const struct rt_log_pubkey *rt_log_key_public(const struct rt_log_key *k);
/* Ed25519 signature over msg (one-shot EVP_DigestSign, no digest). */
int rt_log_key_sign(const struct rt_log_key *k, const void *msg, size_t len, uint8_t sig[RT_LOG_SIG_LEN]);

/* name may be NULL or "" (unnamed). -EBADMSG, -EINVAL (not Ed25519 / bad name), -errno. */
int rt_log_pubkey_load(const char *path, const char *name, struct rt_log_pubkey **out, char *err, size_t errlen);
int rt_log_pubkey_from_raw(const char *name, const uint8_t pub[RT_LOG_PUBKEY_LEN], struct rt_log_pubkey **out);
/* A new reference-counted copy (shares the OpenSSL key). */
int rt_log_pubkey_dup(const struct rt_log_pubkey *k, struct rt_log_pubkey **out);
void rt_log_pubkey_free(struct rt_log_pubkey *k);
static inline void rt_log_pubkey_freep(struct rt_log_pubkey **k) {
    if (*k)
        rt_log_pubkey_free(*k);
}
const char *rt_log_pubkey_name(const struct rt_log_pubkey *k); /* "" if unnamed */
const uint8_t *rt_log_pubkey_raw(const struct rt_log_pubkey *k);
const uint8_t *rt_log_pubkey_id(const struct rt_log_pubkey *k); /* valid only if named */

/* Verifies an Ed25519 signature. Thread-safe for a shared key; pass a
 * per-thread scratch context from rt_log_verify_ctx_new() (or NULL). */
struct rt_log_verify_ctx;
struct rt_log_verify_ctx *rt_log_verify_ctx_new(void);
void rt_log_verify_ctx_free(struct rt_log_verify_ctx *c);
bool rt_log_pubkey_verify(const struct rt_log_pubkey *k, struct rt_log_verify_ctx *c, const void *msg, size_t len,
                          const uint8_t sig[RT_LOG_SIG_LEN]);

#endif
