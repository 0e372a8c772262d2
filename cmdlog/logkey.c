#include "cmdlog/logkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cmdlog/codec.h"
#include "common/fsutil.h"
#include "common/util.h"

struct rt_log_pubkey {
    char name[RT_LOG_KEY_NAME_MAX + 1];
    uint8_t raw[RT_LOG_PUBKEY_LEN];
    uint8_t id[RT_LOG_KEY_ID_LEN];
    EVP_PKEY *pkey;
};

struct rt_log_key {
    struct rt_log_pubkey pub; /* pub.pkey is the private key object too */
};

/* A per-thread verification context keeps the last key's initialized
 * EVP_MD_CTX: one-shot EVP_DigestVerify may be repeated on it for Ed25519
 * (as `openssl speed` does), which saves the provider fetch and context
 * set-up of EVP_DigestVerifyInit_ex for every record. */
struct rt_log_verify_ctx {
    EVP_MD_CTX *md;
    const EVP_PKEY *key; /* md is initialized for it; NULL: not initialized */
};

_printf_(3, 4) static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

bool rt_log_key_name_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > RT_LOG_KEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

void rt_log_key_id(const char *name, const uint8_t pub[RT_LOG_PUBKEY_LEN], uint8_t id[RT_LOG_KEY_ID_LEN]) {
    uint8_t buf[RT_LOG_KEY_NAME_MAX + 2 + RT_LOG_PUBKEY_LEN], h[32];
    size_t n = strnlen(name, RT_LOG_KEY_NAME_MAX);
    memcpy(buf, name, n);
    buf[n] = 0x0A;
    buf[n + 1] = 0x01; /* signature type: Ed25519 */
    memcpy(buf + n + 2, pub, RT_LOG_PUBKEY_LEN);
    rt_log_sha256(buf, n + 2 + RT_LOG_PUBKEY_LEN, h);
    memcpy(id, h, RT_LOG_KEY_ID_LEN);
}

/* Fills raw, name and id from an Ed25519 EVP_PKEY (takes ownership of pkey). */
static int pub_init(struct rt_log_pubkey *k, const char *name, EVP_PKEY *pkey) {
    k->pkey = pkey;
    if (!EVP_PKEY_is_a(pkey, "ED25519"))
        return -EINVAL;
    size_t len = RT_LOG_PUBKEY_LEN;
    if (EVP_PKEY_get_raw_public_key(pkey, k->raw, &len) != 1 || len != RT_LOG_PUBKEY_LEN)
        return -EINVAL;
    if (name && *name) {
        if (!rt_log_key_name_valid(name))
            return -EINVAL;
        rt_strlcpy(k->name, name, sizeof k->name);
        rt_log_key_id(k->name, k->raw, k->id);
    }
    return 0;
}

/* Never prompt for a passphrase: encrypted keys are refused. */
static int no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static int read_fd_bounded(int fd, char *buf, size_t cap, size_t *len) {
    size_t have = 0;
    for (;;) {
        if (have == cap)
            return -EFBIG;
        ssize_t n = read(fd, buf + have, cap - have);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    *len = have;
    return 0;
}

int rt_log_key_load(const char *path, const char *name, struct rt_log_key **out, char *err, size_t errlen) {
    if (!rt_log_key_name_valid(name)) {
        seterr(err, errlen, "invalid key name \"%s\" (1-64 of [A-Za-z0-9._-], starting alphanumeric)",
               name ? name : "");
        return -EINVAL;
    }
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int r = -errno;
        seterr(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", path);
        return -EINVAL;
    }
    if (st.st_mode & 077) {
        seterr(err, errlen,
               "%s: private key file has mode %04o: group or others may access it; refusing to use it "
               "(chmod 0400 it, or 0600)",
               path, (unsigned)(st.st_mode & 07777));
        return -EPERM;
    }
    char buf[RT_LOG_KEY_FILE_MAX];
    size_t len = 0;
    int r = read_fd_bounded(fd, buf, sizeof buf, &len);
    if (r < 0) {
        seterr(err, errlen, "%s: %s", path, strerror(-r));
        OPENSSL_cleanse(buf, sizeof buf);
        return r;
    }
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!pkey) {
        ERR_clear_error();
        seterr(err, errlen, "%s: not an unencrypted PEM private key", path);
        return -EBADMSG;
    }
    struct rt_log_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return -ENOMEM;
    }
    r = pub_init(&k->pub, name, pkey);
    if (r < 0) {
        seterr(err, errlen, "%s: not an Ed25519 key", path);
        rt_log_key_free(k);
        return r;
    }
    *out = k;
    return 0;
}

int rt_log_key_generate(const char *name, struct rt_log_key **out) {
    if (!rt_log_key_name_valid(name))
        return -EINVAL;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey)
        return -EIO;
    struct rt_log_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return -ENOMEM;
    }
    int r = pub_init(&k->pub, name, pkey);
    if (r < 0) {
        rt_log_key_free(k);
        return r;
    }
    *out = k;
    return 0;
}

/* Creates path (never replacing it) with exactly mode, writes data, fsyncs. */
static int write_new_file(const char *path, const void *data, size_t len, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    int r = fchmod(fd, mode) < 0 ? -errno : 0; /* the umask must not loosen nor tighten it */
    if (r == 0)
        r = rt_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        unlink(path);
    return r;
}

static int pem_to_file(const char *path, const struct rt_log_key *k, bool private_key, mode_t mode) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return -ENOMEM;
    int ok = private_key ? PEM_write_bio_PrivateKey(bio, k->pub.pkey, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_PUBKEY(bio, k->pub.pkey);
    char *data = NULL;
    long len = ok == 1 ? BIO_get_mem_data(bio, &data) : -1;
    int r = len > 0 ? write_new_file(path, data, (size_t)len, mode) : -EIO;
    if (len > 0)
        OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return r;
}

static int dir_of(const char *path, char *buf, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return rt_strlcpy(buf, ".", n) ? 0 : -ENAMETOOLONG;
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= n)
        return -ENAMETOOLONG;
    memcpy(buf, path, len);
    buf[len] = '\0';
    return 0;
}

int rt_log_key_save(const struct rt_log_key *k, const char *key_path, const char *pub_path, char *err,
                    size_t errlen) {
    struct stat st;
    const char *paths[2] = {key_path, pub_path};
    for (int i = 0; i < 2; i++)
        if (lstat(paths[i], &st) == 0) {
            seterr(err, errlen, "%s already exists; refusing to overwrite a key", paths[i]);
            return -EEXIST;
        }
    int r = pem_to_file(key_path, k, true, 0400);
    if (r < 0) {
        seterr(err, errlen, "%s: %s", key_path, strerror(-r));
        return r;
    }
    r = pem_to_file(pub_path, k, false, 0644);
    if (r < 0) {
        seterr(err, errlen, "%s: %s", pub_path, strerror(-r));
        unlink(key_path);
        return r;
    }
    char dir[4096];
    const char *files[2] = {key_path, pub_path};
    for (int i = 0; i < 2; i++)
        if (dir_of(files[i], dir, sizeof dir) == 0 && (r = rt_fsync_dir(dir)) < 0) {
            seterr(err, errlen, "fsync %s: %s", dir, strerror(-r));
            return r;
        }
    return 0;
}

int rt_log_key_dup(const struct rt_log_key *k, struct rt_log_key **out) {
    struct rt_log_key *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = *k;
    if (EVP_PKEY_up_ref(c->pub.pkey) != 1) {
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void rt_log_key_free(struct rt_log_key *k) {
    if (!k)
        return;
    EVP_PKEY_free(k->pub.pkey);
    free(k);
}

const char *rt_log_key_name(const struct rt_log_key *k) { return k->pub.name; }
const uint8_t *rt_log_key_pub(const struct rt_log_key *k) { return k->pub.raw; }
const uint8_t *rt_log_key_id_of(const struct rt_log_key *k) { return k->pub.id; }
const struct rt_log_pubkey *rt_log_key_public(const struct rt_log_key *k) { return &k->pub; }

int rt_log_key_sign(const struct rt_log_key *k, const void *msg, size_t len, uint8_t sig[RT_LOG_SIG_LEN]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    size_t siglen = RT_LOG_SIG_LEN;
    int ok = EVP_DigestSignInit_ex(ctx, NULL, NULL /* no digest: pure Ed25519 */, NULL, NULL, k->pub.pkey, NULL) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == RT_LOG_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -EIO;
}

int rt_log_pubkey_load(const char *path, const char *name, struct rt_log_pubkey **out, char *err, size_t errlen) {
    if (name && *name && !rt_log_key_name_valid(name)) {
        seterr(err, errlen, "invalid key name \"%s\"", name);
        return -EINVAL;
    }
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int r = -errno;
        seterr(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    char buf[RT_LOG_KEY_FILE_MAX];
    size_t len = 0;
    int r = read_fd_bounded(fd, buf, sizeof buf, &len);
    if (r < 0) {
        seterr(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        ERR_clear_error();
        seterr(err, errlen, "%s: not a PEM public key", path);
        return -EBADMSG;
    }
    struct rt_log_pubkey *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return -ENOMEM;
    }
    r = pub_init(k, name, pkey);
    if (r < 0) {
        seterr(err, errlen, "%s: not an Ed25519 public key", path);
        rt_log_pubkey_free(k);
        return r;
    }
    *out = k;
    return 0;
}

int rt_log_pubkey_from_raw(const char *name, const uint8_t pub[RT_LOG_PUBKEY_LEN], struct rt_log_pubkey **out) {
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, RT_LOG_PUBKEY_LEN);
    if (!pkey)
        return -EINVAL;
    struct rt_log_pubkey *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return -ENOMEM;
    }
    int r = pub_init(k, name, pkey);
    if (r < 0) {
        rt_log_pubkey_free(k);
        return r;
    }
    *out = k;
    return 0;
}

int rt_log_pubkey_dup(const struct rt_log_pubkey *k, struct rt_log_pubkey **out) {
    struct rt_log_pubkey *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = *k;
    if (EVP_PKEY_up_ref(c->pkey) != 1) {
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void rt_log_pubkey_free(struct rt_log_pubkey *k) {
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *rt_log_pubkey_name(const struct rt_log_pubkey *k) { return k->name; }
const uint8_t *rt_log_pubkey_raw(const struct rt_log_pubkey *k) { return k->raw; }
const uint8_t *rt_log_pubkey_id(const struct rt_log_pubkey *k) { return k->id; }

struct rt_log_verify_ctx *rt_log_verify_ctx_new(void) {
    struct rt_log_verify_ctx *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    c->md = EVP_MD_CTX_new();
    c->key = NULL;
    if (!c->md) {
        free(c);
        return NULL;
    }
    return c;
}

void rt_log_verify_ctx_free(struct rt_log_verify_ctx *c) {
    if (!c)
        return;
    EVP_MD_CTX_free(c->md);
    free(c);
}

bool rt_log_pubkey_verify(const struct rt_log_pubkey *k, struct rt_log_verify_ctx *c, const void *msg, size_t len,
                          const uint8_t sig[RT_LOG_SIG_LEN]) {
    EVP_MD_CTX *md = c ? c->md : EVP_MD_CTX_new();
    if (!md)
        return false;
    bool ready = c && c->key == k->pkey;
    if (!ready) {
        EVP_MD_CTX_reset(md);
        ready = EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1;
        if (c)
            c->key = ready ? k->pkey : NULL;
    }
    bool ok = ready && EVP_DigestVerify(md, sig, RT_LOG_SIG_LEN, msg, len) == 1;
    if (!c)
        EVP_MD_CTX_free(md);
    if (!ok)
        ERR_clear_error(); /* a bad signature is an answer, not an error to keep */
    return ok;
}
