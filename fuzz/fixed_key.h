/* Fixed Ed25519 test keys for the command-log harnesses: the same key on
 * every run (seed bytes derived from `which`), so inputs reproduce. Loaded
 * once at initialization through rt_log_key_load(), the loader the enforcer
 * uses, from a private temporary PEM file. */
#ifndef RATCHET_FUZZ_FIXED_KEY_H
#define RATCHET_FUZZ_FIXED_KEY_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include "cmdlog/logkey.h"
#include "fuzz/fuzz_common.h"

static inline struct rt_log_key *fz_fixed_key(const char *name, uint8_t which) {
    uint8_t seed[32];
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(which * 31 + i * 7 + 1);
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    char path[] = "/tmp/ratchet-fuzz-key-XXXXXX"; /* mkstemp: mode 0600 */
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!pk || !f || !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0) {
        fprintf(stderr, "fixed key: cannot write %s\n", path);
        abort();
    }
    EVP_PKEY_free(pk);
    struct rt_log_key *k = NULL;
    char err[256];
    int r = rt_log_key_load(path, name, &k, err, sizeof err);
    unlink(path);
    if (r < 0) {
        fprintf(stderr, "fixed key: %s\n", err);
        abort();
    }
    return k;
}

#endif
