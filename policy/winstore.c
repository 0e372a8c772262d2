/* Engine windows <-> journal records.
 * Keys: "b:<bot>" -> engine bot record; "clock" -> boot id NUL clock record. */
#include "policy/winstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define STORE_NAME "windows"
#define CLOCK_KEY "clock"

struct rt_winstore {
    struct rt_journal *journal;
    struct rt_engine *engine;
    char boot_id[RT_BOOT_ID_MAX + 1];
    int put_error; /* first error from the change hook, returned by commit */
    int (*pre_commit)(void *ud); /* rt_winstore_set_pre_commit */
    void *pre_commit_ud;
};

struct restore_ctx {
    struct rt_engine *engine;
    char saved_boot[RT_BOOT_ID_MAX + 1];
};

static int restore_record(const struct rt_journal_record *rec, void *ud) {
    struct restore_ctx *c = ud;
    char key[RT_JOURNAL_KEY_MAX + 1];
    memcpy(key, rec->key, rec->key_len);
    key[rec->key_len] = '\0';
    if (rec->value_len == 0)
        return 0; /* deletions are not written by this store */
    if (strcmp(key, CLOCK_KEY) == 0) {
        const uint8_t *nul = memchr(rec->value, '\0', rec->value_len);
        if (!nul || nul - rec->value > RT_BOOT_ID_MAX)
            return -EBADMSG;
        memcpy(c->saved_boot, rec->value, (size_t)(nul - rec->value) + 1);
        size_t off = (size_t)(nul - rec->value) + 1;
        return rt_engine_decode_clock(c->engine, rec->value + off, rec->value_len - off);
    }
    if (strncmp(key, "b:", 2) != 0 || strlen(key) != rec->key_len)
        return -EBADMSG;
    return rt_engine_decode_bot(c->engine, key + 2, rec->value, rec->value_len);
}

static int put_clock(struct rt_winstore *w, struct rt_journal_snapshot *snap) {
    uint8_t buf[RT_BOOT_ID_MAX + 1 + 64];
    size_t n = strlen(w->boot_id) + 1;
    memcpy(buf, w->boot_id, n);
    int m = rt_engine_encode_clock(w->engine, buf + n, sizeof(buf) - n);
    if (m < 0)
        return m;
    if (snap)
        return rt_journal_snapshot_add(snap, CLOCK_KEY, strlen(CLOCK_KEY), buf, n + (size_t)m);
    return rt_journal_put(w->journal, CLOCK_KEY, strlen(CLOCK_KEY), buf, n + (size_t)m);
}

static int put_bot(struct rt_winstore *w, struct rt_journal_snapshot *snap, const char *bot) {
    char key[RT_BOT_ID_MAX + 3];
    uint8_t buf[RT_BOT_RECORD_MAX];
    snprintf(key, sizeof(key), "b:%s", bot);
    int n = rt_engine_encode_bot(w->engine, bot, buf, sizeof(buf));
    if (n < 0)
        return n;
    if (snap)
        return rt_journal_snapshot_add(snap, key, strlen(key), buf, (size_t)n);
    return rt_journal_put(w->journal, key, strlen(key), buf, (size_t)n);
}

/* A batch that changes many bots (the first poll of 100,000 bots, a source
 * going stale for all of them) is committed in parts, so that the journal's
 * commit buffer stays this small instead of holding the whole batch (24 MB
 * for 100,000 bots). Committing early only makes records durable sooner:
 * a decision's hand-off is committed before its bot's record is put. A part
 * ends one largest record (< 1 KiB) short of 1 MiB: the journal's buffer then
 * never outgrows the 1 MiB it keeps between commits (4 MiB parts took a
 * buffer doubled to 8 MiB, freed and grown again for each part). Only large
 * batches are split: a steady poll changes few records. */
#define COMMIT_CHUNK_BYTES ((1u << 20) - 1024u)

static int pre_commit(struct rt_winstore *w) { return w->pre_commit ? w->pre_commit(w->pre_commit_ud) : 0; }

void rt_winstore_set_pre_commit(struct rt_winstore *w, int (*fn)(void *ud), void *ud) {
    w->pre_commit = fn;
    w->pre_commit_ud = ud;
}

static void on_change(const char *bot, void *ud) {
    struct rt_winstore *w = ud;
    int r = bot ? put_bot(w, NULL, bot) : put_clock(w, NULL);
    if (r == 0) {
        struct rt_journal_stats st;
        rt_journal_get_stats(w->journal, &st);
        if (st.pending_bytes >= COMMIT_CHUNK_BYTES && (r = pre_commit(w)) == 0)
            r = rt_journal_commit(w->journal);
    }
    if (r < 0 && w->put_error == 0)
        w->put_error = r;
}

int rt_winstore_open(const char *dir, struct rt_engine *e, const char *boot_id, struct rt_now now,
                     const struct rt_journal_ops *ops, struct rt_winstore **out,
                     struct rt_journal_load_report *report) {
    if (strlen(boot_id) > RT_BOOT_ID_MAX || rt_engine_bot_count(e) != 0)
        return -EINVAL;
    struct rt_winstore *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->engine = e;
    rt_strlcpy(w->boot_id, boot_id, sizeof(w->boot_id));
    struct restore_ctx ctx = {.engine = e};
    int r = rt_journal_open(dir, STORE_NAME, ops, restore_record, &ctx, &w->journal, report);
    if (r < 0) {
        free(w);
        return r;
    }
    /* the monotonic clock restarted with the machine (or first start); an
     * unknown boot ("") may be a reboot */
    bool new_boot = !boot_id[0] || strcmp(ctx.saved_boot, boot_id) != 0;
    if (new_boot)
        rt_engine_rebase(e, now);
    rt_engine_set_change_hook(e, on_change, w);
    if (new_boot)
        r = put_clock(w, NULL);
    if (r == 0)
        r = rt_journal_commit(w->journal);
    if (r < 0) {
        rt_winstore_close(w);
        return r;
    }
    *out = w;
    return 0;
}

struct dump_ctx {
    struct rt_winstore *w;
    struct rt_journal_snapshot *snap;
    int err;
};

static void dump_bot(const char *bot, void *ud) {
    struct dump_ctx *d = ud;
    if (d->err == 0)
        d->err = put_bot(d->w, d->snap, bot);
}

static int dump_all(struct rt_journal_snapshot *snap, void *ud) {
    struct dump_ctx d = {.w = ud, .snap = snap};
    d.err = put_clock(d.w, snap);
    rt_engine_foreach_bot(d.w->engine, dump_bot, &d);
    return d.err;
}

int rt_winstore_compact(struct rt_winstore *w) {
    int r = pre_commit(w);
    return r < 0 ? r : rt_journal_compact(w->journal, dump_all, w);
}

int rt_winstore_commit(struct rt_winstore *w) {
    if (w->put_error)
        return w->put_error;
    int r = pre_commit(w);
    if (r < 0)
        return r;
    r = rt_journal_commit(w->journal);
    if (r == 0 && rt_journal_should_compact(w->journal))
        r = rt_winstore_compact(w);
    return r;
}

void rt_winstore_close(struct rt_winstore *w) {
    if (!w)
        return;
    rt_engine_set_change_hook(w->engine, NULL, NULL);
    rt_journal_close(w->journal);
    free(w);
}

void rt_winstore_get_stats(const struct rt_winstore *w, struct rt_journal_stats *out) {
    rt_journal_get_stats(w->journal, out);
}

const char *rt_winstore_last_error(const struct rt_winstore *w) {
    return rt_journal_last_error(w->journal);
}

int rt_boot_id(char buf[RT_BOOT_ID_MAX + 1]) {
    _cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return -errno;
    if (!fgets(buf, RT_BOOT_ID_MAX + 1, f))
        return -EBADMSG;
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? 0 : -EBADMSG;
}
