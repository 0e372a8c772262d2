/* Tests for the command log's format and verifier (cmdlog/): RFC 6962
 * vectors, encodings, records, keys, and the attacks of
 * docs/log-format.md: bit flips, deletion, reordering, duplication,
 * truncation, rollback, split view, key substitution, cross-log replay,
 * re-signing and unsigned lines. Writer tests: test_cmdlog_writer.c. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/codec.h"
#include "cmdlog/logkey.h"
#include "cmdlog/merkle.h"
#include "cmdlog/record.h"
#include "cmdlog/verify.h"
#include "cmdlog/writer.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "tests/unit/harness.h"

#define ORIGIN "ratchet.test/commands"
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

/* ---- scratch files ---- */

_printf_(2, 3) static void pathf(char buf[PATH_MAX], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX)
        abort();
}

static void make_tmpdir(char buf[PATH_MAX]) {
    pathf(buf, "/tmp/rt-cmdlog-test-XXXXXX");
    if (!mkdtemp(buf))
        abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *read_text(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    if (rt_read_file_bounded(path, 64u << 20, &data, &n) < 0)
        return NULL;
    if (len)
        *len = n;
    return data;
}

static void write_text(const char *path, const char *data, size_t len, mode_t mode) {
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || rt_write_all(fd, data, len) < 0)
        abort();
    fchmod(fd, mode);
    close(fd);
}

/* ---- building logs with the writer (fast, deterministic I/O) ---- */

struct fake {
    int64_t now;
};

static int64_t fake_now(void *ctx) { return ((struct fake *)ctx)->now += 1000000; }
static int no_sync(void *ctx, int fd) { return (void)ctx, (void)fd, 0; }
static int no_sync_dir(void *ctx, const char *dir) { return (void)ctx, (void)dir, 0; }

static void fill_demote(struct rt_log_record *r, int i) {
    memset(r, 0, sizeof *r);
    r->type = RT_LOG_DEMOTE;
    struct rt_msg_demote *d = &r->u.demote;
    for (int k = 0; k < RT_PROTO_REQUEST_ID; k++)
        d->request_id[k] = (uint8_t)(i * 16 + k);
    snprintf(d->bot, sizeof d->bot, "bot-%d", i);
    d->cond = (enum rt_cond)(i % RT_COND_COUNT);
    snprintf(d->reason_code, sizeof d->reason_code, "demote.%s", rt_cond_name(d->cond));
    d->window_start_us = T0 + i * INT64_C(1000000);
    d->window_us = INT64_C(86400000000);
    d->unknown_us = 1500000;
    d->decided_at_us = d->window_start_us + d->window_us;
    d->evidence_ts_us = d->decided_at_us - 250000;
    d->evidence_known = true;
    d->evidence_value = 0.0125;
    d->has_threshold = i % 2 == 0;
    d->threshold = 0.01;
    snprintf(d->summary, sizeof d->summary, "error rate 1.25%% > 1%% for 24h; \"quoted\" \\ back\xC3\xBC #%d", i);
}

/* Appends record i of a varied sequence (demote, silent, back, actuated...). */
static int append_nth(struct rt_logw *w, int i, uint64_t *last_demote) {
    struct rt_log_record r;
    memset(&r, 0, sizeof r);
    uint64_t seq = 0;
    int ret;
    switch (i % 4) {
    case 1:
        fill_demote(&r, i);
        ret = rt_logw_append(w, &r, &seq);
        *last_demote = seq;
        return ret;
    case 2:
        r.type = RT_LOG_WATCHDOG_SILENT;
        r.u.watchdog_silent.since_us = T0 + i;
        return rt_logw_append(w, &r, NULL);
    case 3:
        r.type = RT_LOG_WATCHDOG_BACK;
        r.u.watchdog_back.silent_since_us = T0 + i;
        r.u.watchdog_back.back_at_us = T0 + i + 5000000;
        return rt_logw_append(w, &r, NULL);
    default:
        r.type = RT_LOG_ACTUATED;
        r.u.actuated.for_seq = *last_demote;
        rt_strlcpy(r.u.actuated.target, "https://control-plane.test/v1/bots", sizeof r.u.actuated.target);
        r.u.actuated.http_status = 200;
        return rt_logw_append(w, &r, NULL);
    }
}

static const uint8_t policy_hash[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* A log of n records (genesis included) in dir, with a checkpoint every
 * `every` records (0: only at the end). */
static int make_log(const char *dir, const struct rt_log_key *key, const char *origin, int n, int every) {
    struct fake f = {T0};
    struct rt_logw_ops ops = {.fdatasync_fn = no_sync, .fsync_dir_fn = no_sync_dir, .now_fn = fake_now, .ctx = &f};
    struct rt_logw_options o = {.ops = &ops, .threads = 1};
    struct rt_logw *w = NULL;
    int r = rt_logw_open_ex(dir, origin, key, policy_hash, &o, NULL, NULL, &w, NULL);
    if (r < 0)
        return r;
    uint64_t last_demote = 0;
    for (int i = 1; i < n && r == 0; i++) {
        r = append_nth(w, i, &last_demote);
        if (r == 0 && every && i % every == 0)
            r = rt_logw_checkpoint(w, T0 + i);
    }
    if (r == 0)
        r = rt_logw_checkpoint(w, T0 + n);
    rt_logw_close(w);
    return r;
}

static int verify_text(const char *data, size_t len, const struct rt_log_pubkey *trusted, const char *cp,
                       struct rt_log_verify_result *res) {
    const struct rt_log_pubkey *t[1] = {trusted};
    struct rt_log_verify_opts o = {
        .trusted = t, .n_trusted = 1, .checkpoint = cp, .checkpoint_len = cp ? strlen(cp) : 0, .threads = 1};
    return rt_log_verify_buffer(data, len, &o, res);
}

static bool names_seq(const struct rt_log_verify_result *res, uint64_t seq) {
    char want[48];
    snprintf(want, sizeof want, "seq %" PRIu64 ":", seq);
    bool ok = res->has_bad_seq && res->bad_seq == seq && strncmp(res->reason, want, strlen(want)) == 0;
    if (!ok)
        fprintf(stderr, "    expected \"%s ...\", got \"%s\"\n", want, res->reason);
    return ok;
}

/* Lines of a log, each with its LF. */
struct lines {
    size_t n;
    char *l[64];
};

static void split(const char *data, struct lines *ls) {
    ls->n = 0;
    for (const char *p = data; *p && ls->n < 64;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        ls->l[ls->n++] = strndup(p, len);
        p += len;
    }
}

static void lines_free(struct lines *ls) {
    for (size_t i = 0; i < ls->n; i++)
        free(ls->l[i]);
}

/* Joins the lines in the given order (indexes; -1 ends). */
static char *join_order(const struct lines *ls, const int *order) {
    struct rt_strbuf b = {0};
    rt_sb_puts(&b, "");
    for (; *order >= 0; order++)
        rt_sb_puts(&b, ls->l[*order]);
    return b.s;
}

struct fixture {
    char dir[PATH_MAX], path[PATH_MAX];
    struct rt_log_key *key;
    char *data, *cp;
    size_t len;
};

static bool fixture_init(struct fixture *fx, int n) {
    memset(fx, 0, sizeof *fx);
    make_tmpdir(fx->dir);
    pathf(fx->path, "%s/%s", fx->dir, RT_LOGW_FILE);
    char cpath[PATH_MAX];
    pathf(cpath, "%s/%s", fx->dir, RT_LOGW_CHECKPOINT);
    if (rt_log_key_generate("enforcer-test", &fx->key) < 0 || make_log(fx->dir, fx->key, ORIGIN, n, 0) < 0)
        return false;
    fx->data = read_text(fx->path, &fx->len);
    fx->cp = read_text(cpath, NULL);
    return fx->data && fx->cp;
}

static void fixture_free(struct fixture *fx) {
    rm_rf(fx->dir);
    rt_log_key_free(fx->key);
    free(fx->data);
    free(fx->cp);
}

/* ---- RFC 6962 Merkle tree ---- */

/* The reference definition, recursively over leaf hashes. */
static void mth(const uint8_t (*leaves)[32], size_t n, uint8_t out[32]) {
    if (n == 0) {
        rt_log_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[32], r[32];
    mth(leaves, k, l);
    mth(leaves + k, n - k, r);
    rt_merkle_node_hash(l, r, out);
}

TEST(merkle_rfc6962_test_vectors) {
    /* Leaves and roots of the Certificate Transparency reference tests. */
    static const struct {
        const char *data;
        size_t len;
    } leaves[8] = {{"", 0},
                   {"\x00", 1},
                   {"\x10", 1},
                   {"\x20\x21", 2},
                   {"\x30\x31", 2},
                   {"\x40\x41\x42\x43", 4},
                   {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
                   {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16}};
    static const char *const roots[9] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    };
    struct rt_merkle m;
    rt_merkle_init(&m);
    uint8_t root[32];
    char hex[65];
    rt_merkle_root(&m, root);
    rt_log_hex(root, 32, hex);
    CHECK_EQ_STR(hex, roots[0]);
    for (int i = 0; i < 8; i++) {
        uint8_t leaf[32];
        rt_merkle_leaf_hash(leaves[i].data, leaves[i].len, leaf);
        rt_merkle_append(&m, leaf);
        rt_merkle_root(&m, root);
        rt_log_hex(root, 32, hex);
        CHECK_EQ_STR(hex, roots[i + 1]);
    }
}

TEST(merkle_compact_range_matches_definition) {
    static uint8_t leaves[300][32];
    struct rt_merkle m;
    rt_merkle_init(&m);
    for (size_t n = 0; n < 300; n++) {
        uint8_t a[32], b[32];
        rt_merkle_root(&m, a);
        mth((const uint8_t (*)[32])leaves, n, b);
        CHECK(memcmp(a, b, 32) == 0);
        CHECK_EQ_INT(m.n, __builtin_popcountll(n));
        uint64_t v = n * 2654435761u;
        rt_merkle_leaf_hash(&v, sizeof v, leaves[n]);
        rt_merkle_append(&m, leaves[n]);
    }
}

/* ---- encodings and key ids ---- */

TEST(base64_and_hex_accept_one_spelling_only) {
    uint8_t out[8];
    size_t n = 0;
    CHECK(rt_log_unb64("AQ==", 4, out, sizeof out, &n) == 0 && n == 1 && out[0] == 1);
    CHECK(rt_log_unb64("AR==", 4, out, sizeof out, &n) == -EINVAL); /* unused bits set */
    CHECK(rt_log_unb64("AQE=", 4, out, sizeof out, &n) == 0 && n == 2);
    CHECK(rt_log_unb64("AQF=", 4, out, sizeof out, &n) == -EINVAL);
    CHECK(rt_log_unb64("AQ", 2, out, sizeof out, &n) == -EINVAL);   /* padding required */
    CHECK(rt_log_unb64("A Q==", 5, out, sizeof out, &n) == -EINVAL);
    CHECK(rt_log_unb64("AQ==AQ==", 8, out, sizeof out, &n) == -EINVAL); /* padding only at the end */
    CHECK(rt_log_unb64("AAAAAAAAAAAA", 12, out, sizeof out, &n) == -ENOBUFS);
    CHECK(rt_log_unhex("0aff", 4, out, 2) == 0 && out[0] == 0x0a && out[1] == 0xff);
    CHECK(rt_log_unhex("0AFF", 4, out, 2) == -EINVAL);
    CHECK(rt_log_unhex("0af", 3, out, 2) == -EINVAL);
    char s[16];
    CHECK_EQ_INT(rt_log_b64((const uint8_t *)"\x01\x02", 2, s), 4);
    CHECK_EQ_STR(s, "AQI=");
}

TEST(key_id_matches_c2sp_signed_note_vector) {
    /* golang.org/x/mod/sumdb/note: PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW */
    uint8_t vkey[33], id[4];
    size_t n = 0;
    REQUIRE(rt_log_unb64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 44, vkey, sizeof vkey, &n) == 0);
    REQUIRE(n == 33 && vkey[0] == 0x01);
    rt_log_key_id("PeterNeumann", vkey + 1, id);
    char hex[9];
    rt_log_hex(id, 4, hex);
    CHECK_EQ_STR(hex, "c74f20a3");
}

/* ---- records ---- */

static void roundtrip(const struct rt_log_record *r) {
    struct rt_strbuf b = {0};
    char err[RT_LOG_ERR_MAX] = "";
    int ret = rt_log_record_body(r, &b, err, sizeof err);
    if (ret < 0)
        fprintf(stderr, "    body: %s\n", err);
    REQUIRE(ret == 0);
    CHECK(!memchr(b.s, '\t', b.len) && !memchr(b.s, '\n', b.len));
    struct rt_log_record back;
    CHECK(rt_log_record_parse(b.s, b.len, &back, err, sizeof err) == 0);
    struct rt_strbuf again = {0};
    CHECK(rt_log_record_body(&back, &again, err, sizeof err) == 0);
    CHECK(again.len == b.len && memcmp(again.s, b.s, b.len) == 0);
    CHECK(back.seq == r->seq && back.ts_us == r->ts_us && back.type == r->type);
    rt_sb_free(&b);
    rt_sb_free(&again);
}

TEST(record_round_trip_every_type) {
    struct rt_log_record r;
    fill_demote(&r, 3);
    r.seq = 7;
    r.ts_us = T0 + 123456;
    memset(r.prev, 0xab, 32);
    memcpy(r.key_id, "\x01\x02\x03\x04", 4);
    roundtrip(&r);
    r.u.demote.has_threshold = false;
    r.u.demote.evidence_value = -1.5e-7;
    r.u.demote.unknown_us = 1;
    roundtrip(&r);

    struct rt_log_record g = {.seq = 0, .ts_us = T0, .type = RT_LOG_GENESIS};
    rt_strlcpy(g.u.genesis.origin, ORIGIN, sizeof g.u.genesis.origin);
    rt_strlcpy(g.u.genesis.key_name, "k1", sizeof g.u.genesis.key_name);
    roundtrip(&g);
    struct rt_log_record t = {.seq = 9, .ts_us = T0, .type = RT_LOG_TORN_TAIL};
    t.u.torn_tail.torn_bytes = 17;
    t.u.torn_tail.offset = 4096;
    roundtrip(&t);
    struct rt_log_record a = {.seq = 9, .ts_us = T0, .type = RT_LOG_ACTUATED};
    a.u.actuated.for_seq = 8;
    a.u.actuated.http_status = 204;
    rt_strlcpy(a.u.actuated.target, "cp", sizeof a.u.actuated.target);
    roundtrip(&a);
    struct rt_log_record k = {.seq = 9, .ts_us = T0, .type = RT_LOG_KEY_ROTATION};
    rt_strlcpy(k.u.key_rotation.new_key_name, "k2", sizeof k.u.key_rotation.new_key_name);
    rt_log_key_id("k2", k.u.key_rotation.new_public_key, k.u.key_rotation.new_key_id);
    roundtrip(&k);
    struct rt_log_record s = {.seq = 3, .ts_us = T0, .type = RT_LOG_WATCHDOG_BACK};
    s.u.watchdog_back.silent_since_us = T0;
    s.u.watchdog_back.back_at_us = T0 + 1000;
    roundtrip(&s);
}

TEST(record_parser_refuses_other_spellings) {
    struct rt_log_record r = {.seq = 2, .ts_us = T0, .type = RT_LOG_WATCHDOG_SILENT};
    r.u.watchdog_silent.since_us = T0;
    struct rt_strbuf b = {0};
    REQUIRE(rt_log_record_body(&r, &b, NULL, 0) == 0);
    struct rt_log_record back;
    char err[RT_LOG_ERR_MAX];
    REQUIRE(rt_log_record_parse(b.s, b.len, &back, err, sizeof err) == 0);
    /* Each variant is valid JSON with the same meaning, or nearly. */
    const char *variants[][2] = {
        {"\"seq\":2", "\"seq\":02"},
        {"\"seq\":2", "\"seq\": 2"},
        {"{\"v\":1,", "{\"v\":1,\"v\":1,"},
        {"\"v\":1", "\"v\":2"},
        {"T00:00:00Z\",\"type", "T00:00:00.000Z\",\"type"},
        {"T00:00:00Z\",\"type", "T01:00:00+01:00\",\"type"},
        {"\"prev\":\"00", "\"prev\":\"0A"},
        {"watchdog_silent", "watchdog_Silent"},
        {"}", ",\"extra\":1}"},
    };
    for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
        char *p = strstr(b.s, variants[i][0]);
        REQUIRE(p);
        struct rt_strbuf v = {0};
        rt_sb_putn(&v, b.s, (size_t)(p - b.s));
        rt_sb_puts(&v, variants[i][1]);
        rt_sb_puts(&v, p + strlen(variants[i][0]));
        int ret = rt_log_record_parse(v.s, v.len, &back, err, sizeof err);
        if (ret != -EBADMSG)
            fprintf(stderr, "    accepted variant %zu: %s\n", i, v.s);
        CHECK_EQ_INT(ret, -EBADMSG);
        rt_sb_free(&v);
    }
    rt_sb_free(&b);
}

TEST(record_serializer_refuses_bad_fields) {
    struct rt_log_record r;
    struct rt_strbuf b = {0};
    char err[RT_LOG_ERR_MAX];
    fill_demote(&r, 1);
    r.ts_us = T0;
    rt_strlcpy(r.u.demote.bot, "bad bot", sizeof r.u.demote.bot);
    CHECK_EQ_INT(rt_log_record_body(&r, &b, err, sizeof err), -EINVAL);
    fill_demote(&r, 1);
    r.ts_us = T0;
    rt_strlcpy(r.u.demote.summary, "tab\there", sizeof r.u.demote.summary);
    CHECK_EQ_INT(rt_log_record_body(&r, &b, err, sizeof err), -EINVAL);
    rt_strlcpy(r.u.demote.summary, "bad utf8 \xC3", sizeof r.u.demote.summary);
    CHECK_EQ_INT(rt_log_record_body(&r, &b, err, sizeof err), -EINVAL);
    fill_demote(&r, 1);
    r.ts_us = 0; /* 1970: a broken clock */
    CHECK_EQ_INT(rt_log_record_body(&r, &b, err, sizeof err), -EINVAL);
    fill_demote(&r, 1);
    r.ts_us = T0;
    r.u.demote.evidence_value = NAN;
    CHECK_EQ_INT(rt_log_record_body(&r, &b, err, sizeof err), -EINVAL);
    struct rt_log_record k = {.seq = 9, .ts_us = T0, .type = RT_LOG_KEY_ROTATION};
    rt_strlcpy(k.u.key_rotation.new_key_name, "k2", sizeof k.u.key_rotation.new_key_name);
    CHECK_EQ_INT(rt_log_record_body(&k, &b, err, sizeof err), -EINVAL); /* key id not derived */
    rt_sb_free(&b);
}

/* ---- keys ---- */

TEST(private_key_refused_when_group_or_other_may_read_it) {
    char dir[PATH_MAX], kp[PATH_MAX], pp[PATH_MAX], err[256];
    make_tmpdir(dir);
    pathf(kp, "%s/k.key", dir);
    pathf(pp, "%s/k.pub", dir);
    struct rt_log_key *k = NULL, *loaded = NULL;
    REQUIRE(rt_log_key_generate("k", &k) == 0);
    REQUIRE(rt_log_key_save(k, kp, pp, err, sizeof err) == 0);
    struct stat st;
    CHECK(stat(kp, &st) == 0 && (st.st_mode & 07777) == 0400);
    CHECK(stat(pp, &st) == 0 && (st.st_mode & 07777) == 0644);
    CHECK_EQ_INT(rt_log_key_save(k, kp, pp, err, sizeof err), -EEXIST); /* never overwrites */
    CHECK(rt_log_key_load(kp, "k", &loaded, err, sizeof err) == 0);
    CHECK(loaded && memcmp(rt_log_key_pub(loaded), rt_log_key_pub(k), 32) == 0);
    rt_log_key_free(loaded);
    loaded = NULL;
    chmod(kp, 0440);
    CHECK_EQ_INT(rt_log_key_load(kp, "k", &loaded, err, sizeof err), -EPERM);
    CHECK(strstr(err, "group or others") != NULL);
    chmod(kp, 0604);
    CHECK_EQ_INT(rt_log_key_load(kp, "k", &loaded, err, sizeof err), -EPERM);
    chmod(kp, 0600);
    CHECK_EQ_INT(rt_log_key_load(kp, "bad name", &loaded, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(rt_log_key_load(pp, "k", &loaded, err, sizeof err), -EPERM); /* 0644 */
    struct rt_log_pubkey *pub = NULL;
    CHECK(rt_log_pubkey_load(pp, NULL, &pub, err, sizeof err) == 0);
    CHECK(pub && memcmp(rt_log_pubkey_raw(pub), rt_log_key_pub(k), 32) == 0);
    rt_log_pubkey_free(pub);
    pub = NULL;
    CHECK_EQ_INT(rt_log_pubkey_load(kp, NULL, &pub, err, sizeof err), -EBADMSG); /* a private key is not a pubkey */
    write_text(kp, "-----BEGIN PRIVATE KEY-----\nnope\n", 33, 0400);
    CHECK_EQ_INT(rt_log_key_load(kp, "k", &loaded, err, sizeof err), -EBADMSG);
    rt_log_key_free(k);
    rm_rf(dir);
}

/* ---- verification: the happy path ---- */

TEST(verify_valid_log_with_checkpoint_and_history) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 9));
    const struct rt_log_pubkey *t[1] = {rt_log_key_public(fx.key)};
    struct rt_log_verify_opts o = {.trusted = t, .n_trusted = 1, .origin = ORIGIN, .checkpoint = fx.cp,
                                   .checkpoint_len = strlen(fx.cp)};
    struct rt_log_verify_result res;
    int r = rt_log_verify_file(fx.path, &o, &res);
    if (r < 0)
        fprintf(stderr, "    %s\n", res.reason);
    CHECK_EQ_INT(r, 0);
    CHECK(res.ok);
    CHECK_EQ_INT(res.records, 9);
    CHECK(res.checkpoint_checked && res.checkpoint_size == 9);
    CHECK_EQ_INT(res.history_verified, 1);
    CHECK_EQ_STR(res.origin, ORIGIN);
    CHECK_EQ_STR(res.key_name, "enforcer-test");
    /* The checkpoint's root is the log's root. */
    struct rt_log_checkpoint cp;
    REQUIRE(rt_log_checkpoint_parse(fx.cp, strlen(fx.cp), &cp, NULL, 0) == 0);
    CHECK(memcmp(cp.root, res.root, 32) == 0);
    CHECK(strstr(fx.cp, "\n\n\xE2\x80\x94 enforcer-test ") != NULL);
    fixture_free(&fx);
}

TEST(verify_uses_every_thread_count_alike) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 40));
    /* Break two signatures; every thread count must name the first. */
    struct lines ls;
    split(fx.data, &ls);
    REQUIRE(ls.n == 40);
    for (int target = 11; target <= 29; target += 18) {
        char *tab = strchr(ls.l[target], '\t');
        tab[5] = tab[5] == 'A' ? 'B' : 'A';
    }
    int order[41];
    for (int i = 0; i < 40; i++)
        order[i] = i;
    order[40] = -1;
    char *bad = join_order(&ls, order);
    const struct rt_log_pubkey *t[1] = {rt_log_key_public(fx.key)};
    for (unsigned th = 1; th <= 8; th *= 2) {
        struct rt_log_verify_opts o = {.trusted = t, .n_trusted = 1, .threads = th};
        struct rt_log_verify_result res;
        CHECK_EQ_INT(rt_log_verify_buffer(bad, strlen(bad), &o, &res), -EBADMSG);
        CHECK(names_seq(&res, 11));
        CHECK(strstr(res.reason, "signature does not verify") != NULL);
        CHECK_EQ_INT(res.threads, th);
        o.threads = th;
        CHECK_EQ_INT(rt_log_verify_buffer(fx.data, fx.len, &o, &res), 0);
    }
    free(bad);
    lines_free(&ls);
    fixture_free(&fx);
}

/* ---- attacks ---- */

static size_t line_start(const char *data, int index) {
    size_t off = 0;
    for (int i = 0; i < index; i++)
        off = (size_t)(strchr(data + off, '\n') - data) + 1;
    return off;
}

TEST(bit_flip_at_every_byte_of_a_record_fails_naming_it) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 4)); /* genesis, demote (target), silent, back */
    size_t start = line_start(fx.data, 1), end = line_start(fx.data, 2); /* LF included */
    const struct rt_log_pubkey *trusted = rt_log_key_public(fx.key);
    char *copy = malloc(fx.len + 1);
    REQUIRE(copy);
    int misses = 0, tries = 0;
    for (size_t off = start; off < end; off++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, fx.data, fx.len + 1);
            copy[off] = (char)(copy[off] ^ (1 << bit));
            struct rt_log_verify_result res;
            tries++;
            if (verify_text(copy, fx.len, trusted, NULL, &res) != -EBADMSG || !res.has_bad_seq || res.bad_seq != 1 ||
                strncmp(res.reason, "seq 1:", 6) != 0) {
                if (misses++ < 5)
                    fprintf(stderr, "    flip at %zu bit %d: \"%s\"\n", off - start, bit, res.reason);
            }
        }
    CHECK_EQ_INT(misses, 0);
    CHECK(tries > 8 * 500);
    free(copy);
    fixture_free(&fx);
}

TEST(bit_flip_at_every_bit_of_a_signature_fails_naming_it) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 4));
    size_t start = line_start(fx.data, 1);
    char *tab = strchr(fx.data + start, '\t');
    uint8_t sig[64];
    size_t n = 0;
    REQUIRE(rt_log_unb64(tab + 1, 88, sig, sizeof sig, &n) == 0 && n == 64);
    const struct rt_log_pubkey *trusted = rt_log_key_public(fx.key);
    char *copy = malloc(fx.len + 1);
    REQUIRE(copy);
    int misses = 0;
    for (int byte = 0; byte < 64; byte++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, fx.data, fx.len + 1);
            uint8_t bad[64];
            memcpy(bad, sig, 64);
            bad[byte] ^= (uint8_t)(1 << bit);
            char enc[89];
            rt_log_b64(bad, 64, enc);
            memcpy(copy + (tab + 1 - fx.data), enc, 88);
            struct rt_log_verify_result res;
            if (verify_text(copy, fx.len, trusted, NULL, &res) != -EBADMSG || !names_seq(&res, 1) ||
                !strstr(res.reason, "signature does not verify"))
                misses++;
        }
    CHECK_EQ_INT(misses, 0);
    free(copy);
    fixture_free(&fx);
}

TEST(tail_truncation_caught_only_against_a_checkpoint) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 6));
    struct rt_log_verify_result res;
    size_t cut = line_start(fx.data, 4); /* keep 4 records */
    /* Without a checkpoint held elsewhere, a shorter log is a valid log. */
    CHECK_EQ_INT(verify_text(fx.data, cut, rt_log_key_public(fx.key), NULL, &res), 0);
    CHECK_EQ_INT(res.records, 4);
    CHECK_EQ_INT(verify_text(fx.data, cut, rt_log_key_public(fx.key), fx.cp, &res), -EBADMSG);
    CHECK_EQ_STR(res.reason, "log has 4 records but checkpoint says 6: truncated or rolled back");
    fixture_free(&fx);
}

TEST(middle_deletion_reordering_and_duplication_fail) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 6));
    struct lines ls;
    split(fx.data, &ls);
    REQUIRE(ls.n == 6);
    static const struct {
        int order[8];
        uint64_t bad_seq;
    } cases[] = {
        {{0, 1, 3, 4, 5, -1}, 2},    /* deleted middle record */
        {{0, 1, 3, 2, 4, 5, -1}, 2}, /* two records swapped */
        {{0, 1, 2, 2, 3, 4, 5, -1}, 3}, /* duplicated record */
        {{0, 1, 2, 3, 4, 5, 5, -1}, 6}, /* replayed last record */
        {{1, 2, 3, 4, 5, -1}, 0},    /* genesis deleted */
        {{0, 0, 1, 2, -1}, 1},       /* second genesis */
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char *bad = join_order(&ls, cases[i].order);
        struct rt_log_verify_result res;
        CHECK_EQ_INT(verify_text(bad, strlen(bad), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
        CHECK(names_seq(&res, cases[i].bad_seq));
        free(bad);
    }
    lines_free(&ls);
    fixture_free(&fx);
}

/* Re-signs line i (body changed by `edit` unless NULL) with key k for origin. */
static char *resign_line(const char *line, const struct rt_log_key *k, const char *origin, bool set_key_id,
                         void (*edit)(struct rt_log_record *)) {
    struct rt_log_record r;
    uint8_t sig[64];
    size_t len = strlen(line) - 1;
    if (rt_log_line_parse(line, len, &r, sig, NULL, 0) < 0)
        abort();
    if (edit)
        edit(&r);
    if (set_key_id)
        memcpy(r.key_id, rt_log_key_id_of(k), 4);
    struct rt_strbuf body = {0}, msg = {0}, out = {0};
    if (rt_log_record_body(&r, &body, NULL, 0) < 0)
        abort();
    rt_log_signed_message(origin, body.s, body.len, &msg);
    if (rt_log_key_sign(k, msg.s, msg.len, sig) < 0)
        abort();
    char enc[89];
    rt_log_b64(sig, 64, enc);
    rt_sb_putn(&out, body.s, body.len);
    rt_sb_printf(&out, "\t%s\n", enc);
    rt_sb_free(&body);
    rt_sb_free(&msg);
    return out.s;
}

static void edit_summary(struct rt_log_record *r) { rt_strlcpy(r->u.demote.summary, "nothing to see", 64); }

TEST(key_substitution_and_resigning_fail) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 5));
    struct rt_log_key *evil = NULL;
    REQUIRE(rt_log_key_generate("enforcer-test", &evil) == 0);
    struct lines ls;
    split(fx.data, &ls);
    int order[] = {0, 1, 2, 3, 4, -1};
    struct rt_log_verify_result res;

    /* 1. A record re-signed by another key, key_id left alone. */
    char *saved = ls.l[1];
    ls.l[1] = resign_line(saved, evil, ORIGIN, false, NULL);
    char *bad = join_order(&ls, order);
    CHECK_EQ_INT(verify_text(bad, strlen(bad), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 1) && strstr(res.reason, "signature does not verify"));
    free(bad);
    free(ls.l[1]);

    /* 2. The same with key_id set to the other key's id. */
    ls.l[1] = resign_line(saved, evil, ORIGIN, true, NULL);
    bad = join_order(&ls, order);
    CHECK_EQ_INT(verify_text(bad, strlen(bad), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 1));
    free(bad);
    free(ls.l[1]);

    /* 3. An edited old record re-signed with the real key: the next record's
     * prev no longer matches. */
    ls.l[1] = resign_line(saved, fx.key, ORIGIN, false, edit_summary);
    bad = join_order(&ls, order);
    CHECK_EQ_INT(verify_text(bad, strlen(bad), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 2) && strstr(res.reason, "prev does not match seq 1"));
    free(bad);
    free(ls.l[1]);
    ls.l[1] = saved;

    /* 4. Verifying against a key that is not the log's: genesis untrusted. */
    CHECK_EQ_INT(verify_text(fx.data, fx.len, rt_log_key_public(evil), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 0) && strstr(res.reason, "is not a trusted key"));
    lines_free(&ls);

    /* 5. A whole log forged with another key (genesis included). */
    char dir2[PATH_MAX], p2[PATH_MAX];
    make_tmpdir(dir2);
    pathf(p2, "%s/%s", dir2, RT_LOGW_FILE);
    REQUIRE(make_log(dir2, evil, ORIGIN, 5, 0) == 0);
    size_t len2 = 0;
    char *forged = read_text(p2, &len2);
    CHECK_EQ_INT(verify_text(forged, len2, rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 0));
    free(forged);
    rm_rf(dir2);
    rt_log_key_free(evil);
    fixture_free(&fx);
}

TEST(key_holder_rewriting_history_is_caught_by_checkpoints) {
    /* The limit of signatures: whoever holds the key can re-sign an edited
     * record and every record after it. Only a checkpoint held elsewhere
     * (or in the history) tells: its root no longer matches. */
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 5));
    struct lines ls;
    split(fx.data, &ls);
    char *orig[5];
    for (int i = 0; i < 5; i++)
        orig[i] = ls.l[i];
    ls.l[1] = resign_line(orig[1], fx.key, ORIGIN, false, edit_summary);
    /* fix up prev of each later record and re-sign */
    for (int i = 2; i < 5; i++) {
        struct rt_log_record r;
        uint8_t sig[64], h[32];
        rt_log_line_parse(orig[i], strlen(orig[i]) - 1, &r, sig, NULL, 0);
        rt_log_sha256(ls.l[i - 1], strlen(ls.l[i - 1]) - 1, h);
        struct rt_strbuf body = {0}, msg = {0};
        memcpy(r.prev, h, 32);
        rt_log_record_body(&r, &body, NULL, 0);
        rt_log_signed_message(ORIGIN, body.s, body.len, &msg);
        rt_log_key_sign(fx.key, msg.s, msg.len, sig);
        char enc[89];
        rt_log_b64(sig, 64, enc);
        rt_sb_printf(&body, "\t%s\n", enc);
        ls.l[i] = body.s;
        rt_sb_free(&msg);
    }
    int order[] = {0, 1, 2, 3, 4, -1};
    char *rewritten = join_order(&ls, order);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_text(rewritten, strlen(rewritten), rt_log_key_public(fx.key), NULL, &res), 0);
    CHECK_EQ_INT(verify_text(rewritten, strlen(rewritten), rt_log_key_public(fx.key), fx.cp, &res), -EBADMSG);
    CHECK(strstr(res.reason, "does not match") && strstr(res.reason, "split view or rollback"));
    free(rewritten);
    for (int i = 1; i < 5; i++)
        free(ls.l[i]);
    ls.l[0] = orig[0];
    for (int i = 1; i < 5; i++)
        ls.l[i] = orig[i];
    lines_free(&ls);
    fixture_free(&fx);
}

TEST(wrong_origin_and_cross_log_replay_fail) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 5));
    const struct rt_log_pubkey *t[1] = {rt_log_key_public(fx.key)};
    struct rt_log_verify_opts o = {.trusted = t, .n_trusted = 1, .origin = "ratchet.test/other", .threads = 1};
    struct rt_log_verify_result res;
    CHECK_EQ_INT(rt_log_verify_buffer(fx.data, fx.len, &o, &res), -EBADMSG);
    CHECK(names_seq(&res, 0) && strstr(res.reason, "origin"));

    /* A record signed for another log (same key, same seq and prev) does not
     * verify here: the origin is in the signed message. */
    struct lines ls;
    split(fx.data, &ls);
    char *saved = ls.l[3];
    ls.l[3] = resign_line(saved, fx.key, "ratchet.test/other", false, NULL);
    int order[] = {0, 1, 2, 3, 4, -1};
    char *bad = join_order(&ls, order);
    CHECK_EQ_INT(verify_text(bad, strlen(bad), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 3) && strstr(res.reason, "signature does not verify"));
    free(bad);
    free(ls.l[3]);
    ls.l[3] = saved;
    /* The checkpoint of this log names its origin; a checkpoint of another
     * origin is refused. */
    char *other = strdup(fx.cp);
    memcpy(other, "ratchet.test/xommands", strlen(ORIGIN));
    CHECK_EQ_INT(verify_text(fx.data, fx.len, rt_log_key_public(fx.key), other, &res), -EBADMSG);
    free(other);
    lines_free(&ls);
    fixture_free(&fx);
}

TEST(rollback_to_an_older_copy_fails_against_a_checkpoint) {
    char dir[PATH_MAX], path[PATH_MAX], cpath[PATH_MAX];
    make_tmpdir(dir);
    pathf(path, "%s/%s", dir, RT_LOGW_FILE);
    pathf(cpath, "%s/%s", dir, RT_LOGW_CHECKPOINT);
    struct rt_log_key *key = NULL;
    REQUIRE(rt_log_key_generate("k", &key) == 0);
    REQUIRE(make_log(dir, key, ORIGIN, 3, 0) == 0);
    size_t old_len = 0;
    char *old = read_text(path, &old_len);
    /* the log grows; a newer checkpoint is published */
    struct rt_logw *w = NULL;
    REQUIRE(rt_logw_open(dir, ORIGIN, key, policy_hash, NULL, NULL, &w, NULL) == 0);
    uint64_t d = 0;
    for (int i = 1; i <= 3; i++)
        CHECK(append_nth(w, i, &d) == 0);
    CHECK(rt_logw_checkpoint(w, T0 + 100) == 0);
    rt_logw_close(w);
    char *cp = read_text(cpath, NULL);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_text(old, old_len, rt_log_key_public(key), cp, &res), -EBADMSG);
    CHECK_EQ_STR(res.reason, "log has 3 records but checkpoint says 6: truncated or rolled back");
    /* The writer refuses to continue a rolled-back log. */
    write_text(path, old, old_len, 0644);
    struct rt_logw_report rep;
    CHECK_EQ_INT(rt_logw_open(dir, ORIGIN, key, policy_hash, NULL, NULL, &w, &rep), -EBADMSG);
    CHECK(strstr(rep.message, "truncated or rolled back") != NULL);
    free(cp);
    free(old);
    rt_log_key_free(key);
    rm_rf(dir);
}

TEST(split_view_two_checkpoints_of_one_size_fail) {
    /* The key holder forks the log after seq 2 and signs checkpoints of the
     * same size for both branches. */
    char d1[PATH_MAX], d2[PATH_MAX], p[PATH_MAX];
    make_tmpdir(d1);
    make_tmpdir(d2);
    struct rt_log_key *key = NULL;
    REQUIRE(rt_log_key_generate("k", &key) == 0);
    REQUIRE(make_log(d1, key, ORIGIN, 3, 0) == 0);
    pathf(p, "%s/%s", d1, RT_LOGW_FILE);
    size_t len = 0;
    char *base = read_text(p, &len);
    pathf(p, "%s/%s", d2, RT_LOGW_FILE);
    write_text(p, base, len, 0644);
    struct rt_logw *w1 = NULL, *w2 = NULL;
    REQUIRE(rt_logw_open(d1, ORIGIN, key, policy_hash, NULL, NULL, &w1, NULL) == 0);
    REQUIRE(rt_logw_open(d2, ORIGIN, key, policy_hash, NULL, NULL, &w2, NULL) == 0);
    struct rt_log_record r;
    fill_demote(&r, 10);
    CHECK(rt_logw_append(w1, &r, NULL) == 0);
    fill_demote(&r, 11); /* another bot on the fork */
    CHECK(rt_logw_append(w2, &r, NULL) == 0);
    CHECK(rt_logw_checkpoint(w1, T0 + 50) == 0);
    CHECK(rt_logw_checkpoint(w2, T0 + 50) == 0);
    rt_logw_close(w1);
    rt_logw_close(w2);
    pathf(p, "%s/%s", d1, RT_LOGW_CHECKPOINT);
    char *cp1 = read_text(p, NULL);
    pathf(p, "%s/%s", d2, RT_LOGW_CHECKPOINT);
    char *cp2 = read_text(p, NULL);
    pathf(p, "%s/%s", d2, RT_LOGW_FILE);
    char *fork = read_text(p, &len);
    REQUIRE(cp1 && cp2 && fork);
    struct rt_log_checkpoint c1, c2;
    REQUIRE(rt_log_checkpoint_parse(cp1, strlen(cp1), &c1, NULL, 0) == 0);
    REQUIRE(rt_log_checkpoint_parse(cp2, strlen(cp2), &c2, NULL, 0) == 0);
    CHECK(c1.size == c2.size && memcmp(c1.root, c2.root, 32) != 0);
    struct rt_log_verify_result res;
    CHECK_EQ_INT(verify_text(fork, len, rt_log_key_public(key), cp2, &res), 0);
    CHECK_EQ_INT(verify_text(fork, len, rt_log_key_public(key), cp1, &res), -EBADMSG);
    CHECK(strstr(res.reason, "split view") != NULL);
    /* A history holding both is a proof of the split view by itself. */
    struct rt_strbuf hist = {0};
    rt_sb_printf(&hist, "%s\n%s\n", cp2, cp1);
    const struct rt_log_pubkey *t[1] = {rt_log_key_public(key)};
    struct rt_log_verify_opts o = {.trusted = t, .n_trusted = 1, .history = hist.s, .history_len = hist.len};
    CHECK_EQ_INT(rt_log_verify_buffer(fork, len, &o, &res), -EBADMSG);
    CHECK(strstr(res.reason, "split view: two signed checkpoints of size 4") != NULL);
    rt_sb_free(&hist);
    free(cp1);
    free(cp2);
    free(fork);
    free(base);
    rt_log_key_free(key);
    rm_rf(d1);
    rm_rf(d2);
}

TEST(downgrade_to_unsigned_lines_fails) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 4));
    struct lines ls;
    split(fx.data, &ls);
    int order[] = {0, 1, 2, 3, -1};
    char *saved = ls.l[2];
    const char *tails[] = {"\n", "\t\n", "\tAAAA\n"}; /* no signature, empty, truncated */
    size_t body_len = (size_t)(strchr(saved, '\t') - saved);
    for (size_t i = 0; i < ELEMENTSOF(tails); i++) {
        char buf[RT_LOG_LINE_MAX];
        snprintf(buf, sizeof buf, "%.*s%s", (int)body_len, saved, tails[i]);
        ls.l[2] = buf;
        char *bad = join_order(&ls, order);
        struct rt_log_verify_result res;
        CHECK_EQ_INT(verify_text(bad, strlen(bad), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
        CHECK(names_seq(&res, 2) && strstr(res.reason, "unsigned or damaged"));
        free(bad);
    }
    ls.l[2] = saved;
    /* A plain JSON file is not a log either. */
    struct rt_log_verify_result res;
    const char *plain = "{\"v\":1,\"seq\":0}\n";
    CHECK_EQ_INT(verify_text(plain, strlen(plain), rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    CHECK(names_seq(&res, 0));
    CHECK_EQ_INT(verify_text("", 0, rt_log_key_public(fx.key), NULL, &res), -EBADMSG);
    lines_free(&ls);
    fixture_free(&fx);
}

TEST(checkpoint_tampering_fails) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 3));
    struct rt_log_verify_result res;
    size_t n = strlen(fx.cp);
    char *cp = malloc(n + 1);
    int misses = 0;
    for (size_t off = 0; off < n; off++) {
        memcpy(cp, fx.cp, n + 1);
        cp[off] ^= 0x01;
        if (verify_text(fx.data, fx.len, rt_log_key_public(fx.key), cp, &res) != -EBADMSG)
            misses++;
    }
    CHECK_EQ_INT(misses, 0);
    /* Signed by an unknown key only: refused. */
    struct rt_log_key *other = NULL;
    REQUIRE(rt_log_key_generate("enforcer-test", &other) == 0);
    struct rt_strbuf s = {0};
    struct rt_log_checkpoint c;
    REQUIRE(rt_log_checkpoint_parse(fx.cp, n, &c, NULL, 0) == 0);
    REQUIRE(rt_log_checkpoint_sign(ORIGIN, c.size, c.root, c.ts_us, other, &s) == 0);
    CHECK_EQ_INT(verify_text(fx.data, fx.len, rt_log_key_public(fx.key), s.s, &res), -EBADMSG);
    CHECK(strstr(res.reason, "not signed by any known key") != NULL);
    /* An extra signature by an unknown key (a witness) is ignored. */
    rt_sb_reset(&s);
    rt_sb_puts(&s, fx.cp);
    rt_sb_puts(&s, "\xE2\x80\x94 witness.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    CHECK_EQ_INT(verify_text(fx.data, fx.len, rt_log_key_public(fx.key), s.s, &res), 0);
    rt_sb_free(&s);
    rt_log_key_free(other);
    free(cp);
    fixture_free(&fx);
}

TEST(single_pushed_record_verifies_on_its_own) {
    struct fixture fx;
    REQUIRE(fixture_init(&fx, 3));
    struct lines ls;
    split(fx.data, &ls);
    struct rt_log_record r;
    char err[RT_LOG_ERR_MAX];
    const struct rt_log_pubkey *pub = rt_log_key_public(fx.key);
    CHECK(rt_log_verify_line(ls.l[1], strlen(ls.l[1]), ORIGIN, pub, &r, err, sizeof err) == 0);
    CHECK(r.seq == 1 && r.type == RT_LOG_DEMOTE && strcmp(r.u.demote.bot, "bot-1") == 0);
    uint8_t h[32];
    rt_log_sha256(ls.l[1], strlen(ls.l[1]) - 1, h);
    CHECK(rt_log_verify_line(ls.l[2], strlen(ls.l[2]), ORIGIN, pub, &r, err, sizeof err) == 0);
    CHECK(memcmp(r.prev, h, 32) == 0); /* the continuity a control plane checks */
    CHECK_EQ_INT(rt_log_verify_line(ls.l[1], strlen(ls.l[1]), "other", pub, &r, err, sizeof err), -EBADMSG);
    ls.l[1][10] ^= 1;
    CHECK_EQ_INT(rt_log_verify_line(ls.l[1], strlen(ls.l[1]), ORIGIN, pub, &r, err, sizeof err), -EBADMSG);
    lines_free(&ls);
    fixture_free(&fx);
}

TEST(committed_fixture_still_verifies) {
    /* Written by an earlier build: the format must not drift. */
    const char *dir = "tests/cmdlog/fixtures";
    char path[PATH_MAX], err[256];
    pathf(path, "%s/genesis.pub", dir);
    struct rt_log_pubkey *pub = NULL;
    REQUIRE(rt_log_pubkey_load(path, NULL, &pub, err, sizeof err) == 0);
    pathf(path, "%s/checkpoint", dir);
    char *cp = read_text(path, NULL);
    REQUIRE(cp);
    const struct rt_log_pubkey *t[1] = {pub};
    struct rt_log_verify_opts o = {.trusted = t, .n_trusted = 1, .origin = "ratchet.example/commands",
                                   .checkpoint = cp, .checkpoint_len = strlen(cp)};
    struct rt_log_verify_result res;
    pathf(path, "%s/commands.log", dir);
    int r = rt_log_verify_file(path, &o, &res);
    if (r < 0)
        fprintf(stderr, "    %s\n", res.reason);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(res.records, 9);
    CHECK_EQ_INT(res.key_rotations, 1);
    CHECK_EQ_INT(res.torn_tails, 1);
    CHECK_EQ_INT(res.history_verified, 2);
    CHECK(res.checkpoint_checked && res.checkpoint_size == 9);
    CHECK_EQ_STR(res.key_name, "enforcer-2026b");
    free(cp);
    rt_log_pubkey_free(pub);
}

TEST_MAIN()
