#include "cmdlog/verify_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdlog/checkpoint.h"
#include "cmdlog/codec.h"
#include "common/fsutil.h"
#include "common/util.h"

/* One line of the log file, as phase 1 (parallel parse) and phase 2 (the
 * sequential walk) see it. */
struct line {
    uint64_t off;
    uint32_t len;        /* without LF */
    uint32_t body_len;
    uint32_t claimed_by; /* 1 + index of a torn_tail line that covers the bytes from here */
    uint16_t key_index;  /* the key that must have signed it */
    uint8_t type;
    bool has_lf, parsed, torn;
    int8_t sig_ok; /* -1 not checked, 0 bad, 1 good */
    uint64_t seq;
    uint8_t hash[32], leaf[32], prev[32];
    uint8_t key_id[RT_LOG_KEY_ID_LEN];
    uint8_t sig[RT_LOG_SIG_LEN];
    union {
        struct {
            uint64_t offset, bytes;
            uint8_t sha[32];
        } torn;
        uint64_t for_seq;
        uint16_t new_key_index;
    } x;
};

/* A checkpoint note: the given one (index 0 when present) or a history entry. */
struct note {
    const char *text;
    size_t len;
    bool history;
    bool parsed, sig_ok, origin_ok, has_log_root;
    uint64_t size;
    uint8_t root[32], log_root[32];
};

struct vctx {
    const char *data;
    size_t len;
    const struct rt_log_verify_opts *o;
    struct line *lines;
    size_t n_lines;
    struct rt_log_pubkey *keys[RT_LOG_MAX_KEYS]; /* keys[0]: genesis key */
    size_t n_keys;
    const struct rt_log_pubkey *note_keys[RT_LOG_MAX_KEYS * 2];
    size_t n_note_keys;
    char origin[RT_LOG_ORIGIN_MAX + 1];
    uint32_t *rec_line; /* seq -> line index */
    size_t stop;        /* first line the walk did not accept (n_lines: none) */
    uint64_t stop_seq;
    int stop_key;
    char stop_reason[RT_LOG_REASON_MAX];
    struct note *notes;
    size_t n_notes, n_sorted, *notes_by_size; /* parsed notes by size */
    uint64_t history_fragments;
    uint64_t torn_tails, rotations;
    uint64_t walked;          /* records the walk accepted */
    bool oom;                 /* an allocation failed: no verdict can be given */
    struct rt_merkle walk_tree; /* over those records */
    unsigned threads;
};

_printf_(3, 4) static void say(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

/* ---- a small range-splitting thread pool ---- */

struct worker {
    struct rt_log_verify_ctx *vc;
    struct rt_strbuf msg;
    struct rt_log_record rec;
    struct rt_log_checkpoint cp;
    bool oom;
};

typedef void (*item_fn)(struct vctx *v, struct worker *w, size_t i);

struct par {
    struct vctx *v;
    item_fn fn;
    const size_t *index; /* NULL: items are 0..n-1 */
    size_t n, chunk;
    atomic_size_t next;
    atomic_size_t done;
    atomic_bool oom;
    rt_log_progress_fn progress;
    void *progress_ud;
};

static bool worker_init(struct worker *w) {
    memset(w, 0, sizeof *w);
    w->vc = rt_log_verify_ctx_new();
    return w->vc != NULL;
}

static void worker_done(struct par *p, struct worker *w) {
    if (w->oom || w->msg.oom)
        atomic_store(&p->oom, true);
    rt_sb_free(&w->msg);
    rt_log_verify_ctx_free(w->vc);
}

static void par_work(struct par *p, struct worker *w, bool report) {
    for (;;) {
        size_t b = atomic_fetch_add(&p->next, p->chunk);
        if (b >= p->n)
            break;
        size_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        for (size_t i = b; i < e; i++)
            p->fn(p->v, w, p->index ? p->index[i] : i);
        size_t done = atomic_fetch_add(&p->done, e - b) + (e - b);
        if (report && p->progress)
            p->progress(done, p->n, p->progress_ud);
    }
}

static void *par_thread(void *arg) {
    struct par *p = arg;
    struct worker *w = malloc(sizeof *w);
    if (!w || !worker_init(w)) {
        free(w);
        return NULL; /* the others do its share */
    }
    par_work(p, w, false);
    worker_done(p, w);
    free(w);
    return NULL;
}

static int par_run(struct vctx *v, item_fn fn, const size_t *index, size_t n, size_t chunk, bool report) {
    struct par p = {.v = v, .fn = fn, .index = index, .n = n, .chunk = chunk};
    atomic_init(&p.next, 0);
    atomic_init(&p.done, 0);
    atomic_init(&p.oom, false);
    if (report) {
        p.progress = v->o->progress;
        p.progress_ud = v->o->progress_userdata;
    }
    unsigned want = v->threads;
    if (n / chunk + 1 < want)
        want = (unsigned)(n / chunk + 1);
    pthread_t tid[RT_LOG_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < want; t++) {
        if (pthread_create(&tid[started], NULL, par_thread, &p) != 0)
            break; /* fewer threads, same result */
        started++;
    }
    struct worker *w = malloc(sizeof *w);
    if (w && worker_init(w)) {
        par_work(&p, w, report);
        worker_done(&p, w);
    } else {
        atomic_store(&p.oom, true);
        if (w)
            rt_log_verify_ctx_free(w->vc);
    }
    free(w);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (atomic_load(&p.next) < n)
        return -ENOMEM; /* nobody could run: the main worker failed to start */
    return atomic_load(&p.oom) ? -ENOMEM : 0;
}

static unsigned cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- phase 1: split and parse every line (parallel) ---- */

static int split_lines(struct vctx *v) {
    size_t n = 0;
    for (const char *p = v->data, *end = v->data + v->len; p < end; n++) {
        if (n >= RT_LOG_MAX_LINES)
            return -E2BIG;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    v->lines = calloc(n ? n : 1, sizeof *v->lines);
    v->rec_line = calloc(n ? n : 1, sizeof *v->rec_line);
    if (!v->lines || !v->rec_line)
        return -ENOMEM;
    size_t i = 0;
    for (const char *p = v->data, *end = v->data + v->len; p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct line *L = &v->lines[i];
        L->off = (uint64_t)(p - v->data);
        size_t len = (size_t)((nl ? nl : end) - p);
        L->len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len; /* oversized: never parsed */
        L->has_lf = nl != NULL;
        L->sig_ok = -1;
        p = nl ? nl + 1 : end;
    }
    v->n_lines = n;
    return 0;
}

static void parse_item(struct vctx *v, struct worker *w, size_t i) {
    struct line *L = &v->lines[i];
    const char *s = v->data + L->off;
    size_t blen;
    if (L->len > RT_LOG_LINE_MAX || rt_log_line_split(s, L->len, &blen, L->sig) < 0)
        return;
    int r = rt_log_record_parse(s, blen, &w->rec, NULL, 0);
    if (r == -ENOMEM)
        w->oom = true;
    if (r < 0)
        return;
    rt_log_sha256(s, L->len, L->hash);
    rt_merkle_leaf_hash(s, L->len, L->leaf);
    L->parsed = true;
    L->body_len = (uint32_t)blen;
    L->type = (uint8_t)w->rec.type;
    L->seq = w->rec.seq;
    memcpy(L->prev, w->rec.prev, 32);
    memcpy(L->key_id, w->rec.key_id, RT_LOG_KEY_ID_LEN);
    if (w->rec.type == RT_LOG_TORN_TAIL) {
        L->x.torn.offset = w->rec.u.torn_tail.offset;
        L->x.torn.bytes = w->rec.u.torn_tail.torn_bytes;
        memcpy(L->x.torn.sha, w->rec.u.torn_tail.torn_sha256, 32);
    } else if (w->rec.type == RT_LOG_ACTUATED) {
        L->x.for_seq = w->rec.u.actuated.for_seq;
    }
}

/* Re-parses one line sequentially (for rare fields and error messages). */
static int reparse(const struct vctx *v, size_t i, struct rt_log_record *rec, char *err, size_t errlen) {
    uint8_t sig[RT_LOG_SIG_LEN];
    const struct line *L = &v->lines[i];
    return rt_log_line_parse(v->data + L->off, L->len, rec, sig, err, errlen);
}

/* A torn_tail line claims the lines from its offset up to itself. */
static void find_torn_claims(struct vctx *v) {
    for (size_t j = 0; j < v->n_lines; j++) {
        const struct line *T = &v->lines[j];
        if (!T->parsed || T->type != RT_LOG_TORN_TAIL)
            continue;
        if (T->x.torn.offset + T->x.torn.bytes + 1 != T->off)
            continue; /* does not end right before this line */
        size_t lo = 0, hi = j;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (v->lines[mid].off < T->x.torn.offset)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < j && v->lines[lo].off == T->x.torn.offset && v->lines[lo].claimed_by == 0)
            v->lines[lo].claimed_by = (uint32_t)(j + 1);
    }
}

/* ---- phase 2: the sequential walk (chain, seq, keys, types) ---- */

_printf_(4, 5) static void stop_at(struct vctx *v, size_t line, uint64_t seq, const char *fmt, ...) {
    v->stop = line;
    v->stop_seq = seq;
    int n = snprintf(v->stop_reason, sizeof v->stop_reason, "seq %" PRIu64 ": ", seq);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->stop_reason + n, sizeof v->stop_reason - (size_t)n, fmt, ap);
    va_end(ap);
}

static const struct rt_log_pubkey *find_trusted(const struct vctx *v, const uint8_t pub[RT_LOG_PUBKEY_LEN]) {
    for (size_t k = 0; k < v->o->n_trusted; k++)
        if (memcmp(rt_log_pubkey_raw(v->o->trusted[k]), pub, RT_LOG_PUBKEY_LEN) == 0)
            return v->o->trusted[k];
    return NULL;
}

/* reparse() for the walk: running out of memory is not a fault of the log. */
static int walk_reparse(struct vctx *v, size_t i, struct rt_log_record *rec, char *err, size_t errlen) {
    int r = reparse(v, i, rec, err, errlen);
    if (r == -ENOMEM)
        v->oom = true;
    return r;
}

static int walk_pubkey(struct vctx *v, const char *name, const uint8_t pub[RT_LOG_PUBKEY_LEN],
                       struct rt_log_pubkey **out) {
    int r = rt_log_pubkey_from_raw(name, pub, out);
    if (r == -ENOMEM)
        v->oom = true;
    return r;
}

static bool walk_genesis(struct vctx *v, size_t i, int *cur) {
    struct rt_log_record rec;
    char err[RT_LOG_ERR_MAX], id_hex[9];
    if (walk_reparse(v, i, &rec, err, sizeof err) < 0)
        return stop_at(v, i, 0, "%s", err), false;
    const struct rt_log_genesis *g = &rec.u.genesis;
    if (v->o->origin && strcmp(v->o->origin, g->origin) != 0)
        return stop_at(v, i, 0, "the log's origin is \"%s\", not \"%s\" (another log?)", g->origin, v->o->origin),
               false;
    uint8_t id[RT_LOG_KEY_ID_LEN];
    rt_log_key_id(g->key_name, g->public_key, id);
    rt_log_hex(id, RT_LOG_KEY_ID_LEN, id_hex);
    if (!find_trusted(v, g->public_key))
        return stop_at(v, i, 0, "genesis key \"%s\" (key id %s) is not a trusted key", g->key_name, id_hex), false;
    if (memcmp(id, v->lines[i].key_id, RT_LOG_KEY_ID_LEN) != 0)
        return stop_at(v, i, 0, "key_id is not the id of the genesis key \"%s\" (%s)", g->key_name, id_hex), false;
    if (walk_pubkey(v, g->key_name, g->public_key, &v->keys[0]) < 0)
        return stop_at(v, i, 0, "genesis public key is not a valid Ed25519 key"), false;
    v->n_keys = 1;
    rt_strlcpy(v->origin, g->origin, sizeof v->origin);
    *cur = 0;
    return true;
}

static bool walk_rotation(struct vctx *v, size_t i, uint64_t seq, int *cur) {
    struct rt_log_record rec;
    char err[RT_LOG_ERR_MAX];
    if (walk_reparse(v, i, &rec, err, sizeof err) < 0)
        return stop_at(v, i, seq, "%s", err), false;
    const struct rt_log_key_rotation *k = &rec.u.key_rotation;
    if (memcmp(k->new_public_key, rt_log_pubkey_raw(v->keys[*cur]), RT_LOG_PUBKEY_LEN) == 0)
        return stop_at(v, i, seq, "key_rotation to the key already in use"), false;
    if (v->n_keys == RT_LOG_MAX_KEYS)
        return stop_at(v, i, seq, "more than %d key rotations", RT_LOG_MAX_KEYS - 1), false;
    if (walk_pubkey(v, k->new_key_name, k->new_public_key, &v->keys[v->n_keys]) < 0)
        return stop_at(v, i, seq, "new_public_key is not a valid Ed25519 key"), false;
    v->lines[i].x.new_key_index = (uint16_t)v->n_keys;
    *cur = (int)v->n_keys++;
    v->rotations++;
    return true;
}

/* Checks one parsed record line against the chain so far. */
static bool walk_record(struct vctx *v, size_t i, uint64_t seq, const uint8_t prev[32], int *cur, bool after_torn) {
    struct line *L = &v->lines[i];
    char hex[9];
    v->stop_key = *cur;
    if (L->seq != seq)
        return stop_at(v, i, seq, "the record here says seq %" PRIu64 " (a record is missing, duplicated or out of order)",
                       L->seq),
               false;
    if (memcmp(L->prev, prev, 32) != 0)
        return seq == 0 ? (stop_at(v, i, seq, "prev is not zero"), false)
                        : (stop_at(v, i, seq, "prev does not match seq %" PRIu64, seq - 1), false);
    if ((seq == 0) != (L->type == RT_LOG_GENESIS))
        return stop_at(v, i, seq, seq == 0 ? "the first record is not a genesis record" : "a second genesis record"),
               false;
    if (L->type == RT_LOG_GENESIS) {
        if (!walk_genesis(v, i, cur))
            return false;
    } else if (memcmp(L->key_id, rt_log_pubkey_id(v->keys[*cur]), RT_LOG_KEY_ID_LEN) != 0) {
        rt_log_hex(L->key_id, RT_LOG_KEY_ID_LEN, hex);
        return stop_at(v, i, seq, "key_id %s is not the log's current key \"%s\"", hex,
                       rt_log_pubkey_name(v->keys[*cur])),
               false;
    }
    L->key_index = (uint16_t)*cur;
    if (L->type == RT_LOG_TORN_TAIL && !after_torn)
        return stop_at(v, i, seq, "torn_tail record that does not follow the torn bytes it describes"), false;
    if (L->type == RT_LOG_ACTUATED && v->lines[v->rec_line[L->x.for_seq]].type != RT_LOG_DEMOTE)
        return stop_at(v, i, seq, "actuated record for seq %" PRIu64 ", which is not a demote record", L->x.for_seq),
               false;
    if (L->type == RT_LOG_KEY_ROTATION && !walk_rotation(v, i, seq, cur))
        return false;
    v->stop_key = *cur;
    return true;
}

static void note_roots_at(struct vctx *v, size_t *ci, const struct rt_merkle *tree) {
    while (*ci < v->n_sorted && v->notes[v->notes_by_size[*ci]].size == tree->size) {
        struct note *N = &v->notes[v->notes_by_size[(*ci)++]];
        rt_merkle_root(tree, N->log_root);
        N->has_log_root = true;
    }
}

static void walk(struct vctx *v) {
    uint8_t prev[32] = {0};
    uint64_t seq = 0;
    int cur = -1;
    bool after_torn = false;
    struct rt_merkle *tree = &v->walk_tree;
    rt_merkle_init(tree);
    size_t ci = 0;
    v->stop = v->n_lines;
    v->stop_key = -1;
    note_roots_at(v, &ci, tree);
    for (size_t i = 0; i < v->n_lines;) {
        struct line *L = &v->lines[i];
        if (L->claimed_by) {
            size_t j = L->claimed_by - 1;
            uint8_t sha[32];
            rt_log_sha256(v->data + L->off, v->lines[j].x.torn.bytes, sha);
            if (memcmp(sha, v->lines[j].x.torn.sha, 32) != 0) {
                stop_at(v, i, seq, "bytes at offset %" PRIu64 " are not a valid record and do not match the "
                                   "SHA-256 of the torn_tail record after them", L->off);
                return;
            }
            for (size_t k = i; k < j; k++)
                v->lines[k].torn = true;
            v->torn_tails++;
            i = j;
            after_torn = true;
            continue;
        }
        if (!L->has_lf) {
            stop_at(v, i, seq, "incomplete last line (%" PRIu32 " bytes without newline: a torn write)", L->len);
            return;
        }
        if (!L->parsed) {
            char err[RT_LOG_ERR_MAX] = "line longer than the maximum";
            struct rt_log_record rec;
            if (L->len <= RT_LOG_LINE_MAX)
                walk_reparse(v, i, &rec, err, sizeof err);
            v->stop_key = cur;
            stop_at(v, i, seq, "%s", err);
            return;
        }
        if (!walk_record(v, i, seq, prev, &cur, after_torn))
            return;
        after_torn = false;
        v->rec_line[seq++] = (uint32_t)i;
        memcpy(prev, L->hash, 32);
        rt_merkle_append(tree, L->leaf);
        note_roots_at(v, &ci, tree);
        v->walked = seq;
        i++;
    }
}

/* ---- phase 3: signatures (parallel) ---- */

static void sig_item(struct vctx *v, struct worker *w, size_t i) {
    struct line *L = &v->lines[i];
    rt_log_signed_message(v->origin, v->data + L->off, L->body_len, &w->msg);
    if (w->msg.oom)
        return;
    L->sig_ok = rt_log_pubkey_verify(v->keys[L->key_index], w->vc, w->msg.s, w->msg.len, L->sig) ? 1 : 0;
}

static int check_signatures(struct vctx *v, size_t upto) {
    size_t *idx = malloc((upto + 1) * sizeof *idx), n = 0;
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < upto && i < v->n_lines; i++)
        if (v->lines[i].parsed && !v->lines[i].torn)
            idx[n++] = i;
    /* The line the walk stopped at: a bad signature explains it best. */
    if (v->stop < v->n_lines && v->lines[v->stop].parsed && v->stop_key >= 0 && v->origin[0]) {
        v->lines[v->stop].key_index = (uint16_t)v->stop_key;
        idx[n++] = v->stop;
    }
    int r = v->origin[0] ? par_run(v, sig_item, idx, n, 64, true) : 0;
    free(idx);
    return r;
}

/* ---- checkpoints ---- */

static int add_note(struct vctx *v, const char *text, size_t len, bool history) {
    if (v->n_notes % 256 == 0) {
        struct note *n = realloc(v->notes, (v->n_notes + 256) * sizeof *n);
        if (!n)
            return -ENOMEM;
        v->notes = n;
    }
    struct note *N = &v->notes[v->n_notes++];
    memset(N, 0, sizeof *N);
    N->text = text;
    N->len = len;
    N->history = history;
    struct rt_log_checkpoint *cp = malloc(sizeof *cp);
    if (!cp)
        return -ENOMEM;
    if (rt_log_checkpoint_parse(text, len, cp, NULL, 0) == 0) {
        N->parsed = true;
        N->size = cp->size;
        memcpy(N->root, cp->root, 32);
    }
    free(cp);
    return 0;
}

/* History entries are notes followed by a blank line. A torn fragment of an
 * interrupted append (a body without signatures, or a signature block
 * without a body) is skipped and counted. */
static int split_history(struct vctx *v, const char *h, size_t len) {
    const char *p = h, *end = h + len, *body = NULL;
    while (p < end) {
        const char *sep = memmem(p, (size_t)(end - p), "\n\n", 2);
        const char *tok_end = sep ? sep + 1 : end;
        bool sig_block = (size_t)(tok_end - p) >= 4 && memcmp(p, "\xE2\x80\x94 ", 4) == 0;
        if (sig_block) {
            if (body) {
                int r = add_note(v, body, (size_t)(tok_end - body), true);
                if (r < 0)
                    return r;
            } else {
                v->history_fragments++;
            }
            body = NULL;
        } else {
            if (body)
                v->history_fragments++;
            body = p;
        }
        p = sep ? sep + 2 : end;
    }
    if (body)
        v->history_fragments++;
    return 0;
}

static int cmp_size(const void *a, const void *b, void *arg) {
    const struct note *n = arg;
    uint64_t x = n[*(const size_t *)a].size, y = n[*(const size_t *)b].size;
    return x < y ? -1 : x > y;
}

static int collect_notes(struct vctx *v) {
    int r = 0;
    if (v->o->checkpoint)
        r = add_note(v, v->o->checkpoint, v->o->checkpoint_len, false);
    if (r == 0 && v->o->history)
        r = split_history(v, v->o->history, v->o->history_len);
    if (r < 0)
        return r;
    v->notes_by_size = malloc((v->n_notes + 1) * sizeof *v->notes_by_size);
    if (!v->notes_by_size)
        return -ENOMEM;
    for (size_t i = 0; i < v->n_notes; i++)
        if (v->notes[i].parsed)
            v->notes_by_size[v->n_sorted++] = i;
    qsort_r(v->notes_by_size, v->n_sorted, sizeof *v->notes_by_size, cmp_size, v->notes);
    return 0;
}

static void note_item(struct vctx *v, struct worker *w, size_t i) {
    struct note *N = &v->notes[i];
    if (!N->parsed || rt_log_checkpoint_parse(N->text, N->len, &w->cp, NULL, 0) < 0)
        return;
    N->origin_ok = strcmp(w->cp.origin, v->origin) == 0;
    N->sig_ok = rt_log_checkpoint_verify(&w->cp, N->text, v->note_keys, v->n_note_keys, NULL, 0) == 0;
}

/* Keys a checkpoint may be signed by: the log's keys, and named trusted keys. */
static void collect_note_keys(struct vctx *v) {
    for (size_t k = 0; k < v->n_keys; k++)
        v->note_keys[v->n_note_keys++] = v->keys[k];
    for (size_t k = 0; k < v->o->n_trusted && v->n_note_keys < ELEMENTSOF(v->note_keys); k++)
        if (*rt_log_pubkey_name(v->o->trusted[k]))
            v->note_keys[v->n_note_keys++] = v->o->trusted[k];
}

static int check_given_checkpoint(struct vctx *v, uint64_t records, struct rt_log_verify_result *res) {
    const struct note *N = &v->notes[0];
    char err[RT_LOG_ERR_MAX] = "";
    struct rt_log_checkpoint *cp = malloc(sizeof *cp);
    if (!cp)
        return -ENOMEM;
    int r = rt_log_checkpoint_parse(N->text, N->len, cp, err, sizeof err);
    if (r == 0 && !N->sig_ok && rt_log_checkpoint_verify(cp, N->text, v->note_keys, v->n_note_keys, err, sizeof err) == 0)
        say(err, sizeof err, "checkpoint: signature could not be checked");
    if (r == 0 && N->sig_ok && !N->origin_ok)
        say(err, sizeof err, "checkpoint is for origin \"%s\", not this log's \"%s\"", cp->origin, v->origin);
    free(cp);
    if (err[0]) {
        say(res->reason, sizeof res->reason, "%s", err);
        return -EBADMSG;
    }
    res->checkpoint_size = N->size;
    if (N->size > records) {
        say(res->reason, sizeof res->reason,
            "log has %" PRIu64 " records but checkpoint says %" PRIu64 ": truncated or rolled back", records, N->size);
        return -EBADMSG;
    }
    if (!N->has_log_root || memcmp(N->root, N->log_root, 32) != 0) {
        say(res->reason, sizeof res->reason,
            "checkpoint root for size %" PRIu64 " does not match the log's first %" PRIu64
            " records: the log was rewritten (split view or rollback)",
            N->size, N->size);
        return -EBADMSG;
    }
    res->checkpoint_checked = true;
    return 0;
}

static int check_history(struct vctx *v, uint64_t records, struct rt_log_verify_result *res) {
    const struct note *last = NULL;
    size_t entry = 0;
    res->history_ignored = v->history_fragments;
    for (size_t i = 0; i < v->n_notes; i++) {
        const struct note *N = &v->notes[i];
        if (!N->history)
            continue;
        entry++;
        if (!N->parsed || !N->sig_ok || !N->origin_ok) {
            res->history_ignored++;
            continue;
        }
        if (last && N->size == last->size && memcmp(N->root, last->root, 32) != 0) {
            say(res->reason, sizeof res->reason,
                "checkpoints: split view: two signed checkpoints of size %" PRIu64 " with different roots "
                "(entry %zu)", N->size, entry);
            return -EBADMSG;
        }
        if (last && N->size < last->size) {
            say(res->reason, sizeof res->reason,
                "checkpoints: entry %zu has size %" PRIu64 " after a checkpoint of size %" PRIu64 ": rolled back",
                entry, N->size, last->size);
            return -EBADMSG;
        }
        if (N->size > records) {
            say(res->reason, sizeof res->reason,
                "log has %" PRIu64 " records but checkpoint says %" PRIu64 " (checkpoints entry %zu): truncated or "
                "rolled back", records, N->size, entry);
            return -EBADMSG;
        }
        if (!N->has_log_root || memcmp(N->root, N->log_root, 32) != 0) {
            say(res->reason, sizeof res->reason,
                "checkpoints: entry %zu: root for size %" PRIu64 " does not match the log: the log was rewritten "
                "(split view or rollback)", entry, N->size);
            return -EBADMSG;
        }
        res->history_verified++;
        last = N;
    }
    return 0;
}

/* ---- the verdict ---- */

/* First line at fault: a bad signature before (or at) where the walk
 * stopped, else where the walk stopped; n_lines if none. */
static size_t first_fault(const struct vctx *v, char *reason, size_t n, uint64_t *seq) {
    for (size_t i = 0; i < v->stop && i < v->n_lines; i++)
        if (v->lines[i].sig_ok == 0) {
            *seq = v->lines[i].seq;
            say(reason, n, "seq %" PRIu64 ": signature does not verify", *seq);
            return i;
        }
    if (v->stop >= v->n_lines)
        return v->n_lines;
    *seq = v->stop_seq;
    if (v->lines[v->stop].sig_ok == 0) {
        const char *why = strchr(v->stop_reason, ':');
        say(reason, n, "seq %" PRIu64 ": signature does not verify (%s)", *seq, why ? why + 2 : v->stop_reason);
    } else {
        say(reason, n, "%s", v->stop_reason);
    }
    return v->stop;
}

/* A torn tail holds no record that verifies with any key of the log. */
static bool tail_holds_valid_record(struct vctx *v, size_t from) {
    struct rt_strbuf msg = {0};
    bool found = false;
    for (size_t i = from; i < v->n_lines && !found && v->origin[0]; i++) {
        const struct line *L = &v->lines[i];
        if (!L->parsed)
            continue;
        rt_log_signed_message(v->origin, v->data + L->off, L->body_len, &msg);
        if (msg.oom) {
            v->oom = true; /* "nothing valid in the tail" could not be shown */
            break;
        }
        for (size_t k = 0; k < v->n_keys && !found; k++)
            found = rt_log_pubkey_verify(v->keys[k], NULL, msg.s, msg.len, L->sig);
    }
    rt_sb_free(&msg);
    return found;
}

/* State after the first `records` valid records: tree, last hash, key. */
static void prefix_state(const struct vctx *v, uint64_t records, struct rt_merkle *tree, uint8_t last[32], int *key) {
    memset(last, 0, 32);
    *key = -1;
    if (records == 0) {
        rt_merkle_init(tree);
        return;
    }
    const struct line *L = &v->lines[v->rec_line[records - 1]];
    memcpy(last, L->hash, 32);
    *key = L->type == RT_LOG_KEY_ROTATION ? L->x.new_key_index : L->key_index;
    if (records == v->walked) {
        *tree = v->walk_tree; /* the usual case: no need to hash it again */
        return;
    }
    rt_merkle_init(tree);
    for (uint64_t s = 0; s < records; s++)
        rt_merkle_append(tree, v->lines[v->rec_line[s]].leaf);
}

static int deliver(const struct vctx *v, uint64_t records, rt_log_record_fn fn, void *ud) {
    struct rt_log_record *rec = malloc(sizeof *rec);
    if (!rec)
        return -ENOMEM;
    int r = 0;
    for (uint64_t s = 0; s < records && r >= 0; s++) {
        r = reparse(v, v->rec_line[s], rec, NULL, 0);
        if (r >= 0)
            r = fn(rec, ud);
    }
    free(rec);
    return r < 0 ? r : 0;
}

static void vctx_free(struct vctx *v) {
    for (size_t k = 0; k < v->n_keys; k++)
        rt_log_pubkey_free(v->keys[k]);
    free(v->lines);
    free(v->rec_line);
    free(v->notes);
    free(v->notes_by_size);
}

/* Decides where the valid records end. Returns 0 (all valid or an
 * acceptable torn tail in tail mode) or -EBADMSG. */
static int verdict(struct vctx *v, bool allow_torn, struct rt_log_verify_result *res, struct rt_log_tail_state *tail,
                   uint64_t *records) {
    uint64_t seq = 0;
    size_t k = first_fault(v, res->reason, sizeof res->reason, &seq);
    if (k == v->n_lines) {
        *records = v->walked;
        res->reason[0] = '\0';
        return 0;
    }
    *records = seq;
    const struct line *L = &v->lines[k];
    bool damaged = !L->has_lf || !L->parsed || L->sig_ok == 0;
    if (!allow_torn || !damaged || seq == 0 || tail_holds_valid_record(v, k + 1)) {
        res->has_bad_seq = true;
        res->bad_seq = seq;
        return -EBADMSG;
    }
    tail->torn = true;
    tail->torn_offset = L->off;
    tail->torn_needs_lf = v->data[v->len - 1] != '\n';
    tail->torn_bytes = v->len - L->off - (tail->torn_needs_lf ? 0 : 1);
    rt_log_sha256(v->data + L->off, tail->torn_bytes, tail->torn_sha256);
    res->reason[0] = '\0';
    return 0;
}

static int finish(struct vctx *v, uint64_t records, rt_log_record_fn fn, void *ud, struct rt_log_verify_result *res,
                  struct rt_log_tail_state *tail) {
    struct rt_merkle tree;
    uint8_t last[32];
    int key;
    prefix_state(v, records, &tree, last, &key);
    res->records = records;
    rt_merkle_root(&tree, res->root);
    rt_strlcpy(res->origin, v->origin, sizeof res->origin);
    res->torn_tails = v->torn_tails;
    res->key_rotations = v->rotations;
    if (key >= 0) {
        rt_strlcpy(res->key_name, rt_log_pubkey_name(v->keys[key]), sizeof res->key_name);
        memcpy(res->key_id, rt_log_pubkey_id(v->keys[key]), RT_LOG_KEY_ID_LEN);
    }
    collect_note_keys(v);
    int r = v->n_notes ? par_run(v, note_item, NULL, v->n_notes, 16, false) : 0;
    if (r < 0)
        return r;
    if (v->o->checkpoint && (r = check_given_checkpoint(v, records, res)) < 0)
        return r;
    if ((r = check_history(v, records, res)) < 0)
        return r;
    if (fn && (r = deliver(v, records, fn, ud)) < 0) {
        say(res->reason, sizeof res->reason, "a record was refused by the caller: %s", strerror(-r));
        return r;
    }
    if (tail) {
        tail->records = records;
        memcpy(tail->last_hash, last, 32);
        tail->tree = tree;
        rt_strlcpy(tail->origin, v->origin, sizeof tail->origin);
        if (key >= 0 && (r = rt_log_pubkey_dup(v->keys[key], &tail->key)) < 0)
            return r;
    }
    return 0;
}

int rt_log_verify_internal(const char *data, size_t len, const struct rt_log_verify_opts *opts, bool allow_torn,
                           rt_log_record_fn fn, void *ud, struct rt_log_verify_result *res,
                           struct rt_log_tail_state *tail) {
    struct rt_log_tail_state scratch;
    memset(res, 0, sizeof *res);
    tail = tail ? tail : &scratch;
    memset(tail, 0, sizeof *tail);
    struct vctx v = {.data = data, .len = len, .o = opts};
    v.threads = opts->threads ? opts->threads : cpu_count();
    if (v.threads > RT_LOG_MAX_THREADS)
        v.threads = RT_LOG_MAX_THREADS;
    res->threads = v.threads;
    if (opts->origin)
        rt_strlcpy(v.origin, opts->origin, sizeof v.origin);
    int r = 0;
    if ((uint64_t)len > RT_LOG_MAX_BYTES) {
        say(res->reason, sizeof res->reason, "log is larger than %" PRIu64 " bytes", (uint64_t)RT_LOG_MAX_BYTES);
        return -EFBIG;
    }
    if ((r = split_lines(&v)) < 0 || (r = collect_notes(&v)) < 0 ||
        (r = par_run(&v, parse_item, NULL, v.n_lines, 256, false)) < 0) {
        if (r == -E2BIG)
            say(res->reason, sizeof res->reason, "log has more than %u lines", RT_LOG_MAX_LINES);
        else
            say(res->reason, sizeof res->reason, "out of memory");
        goto out;
    }
    res->lines = v.n_lines;
    if (v.n_lines == 0) {
        say(res->reason, sizeof res->reason, "seq 0: the log is empty (no genesis record)");
        res->has_bad_seq = true;
        r = -EBADMSG;
        goto out;
    }
    find_torn_claims(&v);
    walk(&v);
    if ((r = check_signatures(&v, v.stop)) < 0 || (r = v.oom ? -ENOMEM : 0) < 0) {
        say(res->reason, sizeof res->reason, "out of memory");
        goto out;
    }
    uint64_t records = 0;
    r = verdict(&v, allow_torn, res, tail, &records);
    if (v.oom) {
        r = -ENOMEM;
        res->has_bad_seq = false;
        say(res->reason, sizeof res->reason, "out of memory");
    }
    if (r < 0) {
        res->records = records;
        goto out;
    }
    r = finish(&v, records, fn, ud, res, tail);
    res->ok = r == 0;
out:
    if (r < 0 && tail->key) {
        rt_log_pubkey_free(tail->key);
        tail->key = NULL;
    }
    if (tail == &scratch && scratch.key)
        rt_log_pubkey_free(scratch.key);
    vctx_free(&v);
    return r;
}

int rt_log_verify_buffer(const char *data, size_t len, const struct rt_log_verify_opts *opts,
                         struct rt_log_verify_result *res) {
    return rt_log_verify_internal(data, len, opts, false, NULL, NULL, res, NULL);
}

int rt_log_verify_line(const char *line, size_t len, const char *origin, const struct rt_log_pubkey *key,
                       struct rt_log_record *rec, char *err, size_t errlen) {
    uint8_t sig[RT_LOG_SIG_LEN];
    if (len > 0 && line[len - 1] == '\n')
        len--;
    int r = rt_log_line_parse(line, len, rec, sig, err, errlen);
    if (r < 0)
        return r == -ENOMEM ? r : -EBADMSG;
    if (!*rt_log_pubkey_name(key) || memcmp(rec->key_id, rt_log_pubkey_id(key), RT_LOG_KEY_ID_LEN) != 0) {
        say(err, errlen, "seq %" PRIu64 ": key_id is not the id of key \"%s\"", rec->seq, rt_log_pubkey_name(key));
        return -EBADMSG;
    }
    struct rt_strbuf msg = {0};
    size_t body_len = (size_t)((const char *)memchr(line, '\t', len) - line);
    rt_log_signed_message(origin, line, body_len, &msg);
    bool ok = !msg.oom && rt_log_pubkey_verify(key, NULL, msg.s, msg.len, sig);
    bool oom = msg.oom;
    rt_sb_free(&msg);
    if (oom)
        return -ENOMEM;
    if (!ok) {
        say(err, errlen, "seq %" PRIu64 ": signature does not verify", rec->seq);
        return -EBADMSG;
    }
    return 0;
}

int rt_log_read_file(const char *path, uint64_t max, char **data, size_t *len) {
    return rt_read_file_bounded(path, (size_t)max, data, len);
}

int rt_log_verify_file(const char *path, const struct rt_log_verify_opts *opts, struct rt_log_verify_result *res) {
    _cleanup_free_ char *data = NULL, *hist = NULL;
    size_t len = 0, hlen = 0;
    memset(res, 0, sizeof *res);
    int r = rt_log_read_file(path, RT_LOG_MAX_BYTES, &data, &len);
    if (r < 0) {
        say(res->reason, sizeof res->reason, "%s: %s", path, strerror(-r));
        return r;
    }
    struct rt_log_verify_opts o = *opts;
    if (!o.history && !o.no_history_file) {
        char hpath[PATH_MAX];
        const char *slash = strrchr(path, '/');
        int n = slash ? snprintf(hpath, sizeof hpath, "%.*s/checkpoints", (int)(slash - path), path)
                      : snprintf(hpath, sizeof hpath, "checkpoints");
        if (n < 0 || (size_t)n >= sizeof hpath)
            return -ENAMETOOLONG;
        r = rt_log_read_file(hpath, RT_LOG_HISTORY_MAX_BYTES, &hist, &hlen);
        if (r < 0 && r != -ENOENT) {
            say(res->reason, sizeof res->reason, "%s: %s", hpath, strerror(-r));
            return r;
        }
        o.history = hist;
        o.history_len = hlen;
    }
    return rt_log_verify_buffer(data, len, &o, res);
}
