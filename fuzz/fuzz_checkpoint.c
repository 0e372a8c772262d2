/* Checkpoint notes (cmdlog/checkpoint.h rt_log_checkpoint_parse and
 * rt_log_checkpoint_verify against a fixed test key).
 * Invariants: a parsed note's signed body lies inside the text and ends
 * with a newline, with at most RT_LOG_NOTE_MAX_SIGS signatures; the fields
 * it yields, signed again with the test key (rt_log_checkpoint_sign), give
 * a note that parses to the same origin, size, root and time and verifies
 * with that key, and with no other. */
#include <errno.h>

#include "cmdlog/checkpoint.h"
#include "common/strbuf.h"
#include "fuzz/fixed_key.h"

static struct rt_log_key *key, *other;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    key = fz_fixed_key("fuzz-key", 1);
    other = fz_fixed_key("fuzz-other", 2);
    return 0;
}

static void resign(const struct rt_log_checkpoint *cp) {
    struct rt_strbuf note = {0};
    int r = rt_log_checkpoint_sign(cp->origin, cp->size, cp->root, cp->ts_us, key, &note);
    FZ_CHECK(r == 0 || r == -ENOMEM);
    if (r == 0) {
        struct rt_log_checkpoint *again = malloc(sizeof *again);
        FZ_CHECK(again != NULL);
        char err[256];
        r = rt_log_checkpoint_parse(note.s, note.len, again, err, sizeof err);
        if (r != 0)
            fprintf(stderr, "re-signed note does not parse: %s\n%s", err, note.s);
        FZ_CHECK(r == 0);
        FZ_CHECK(strcmp(again->origin, cp->origin) == 0 && again->size == cp->size &&
                 memcmp(again->root, cp->root, 32) == 0 && again->ts_us == cp->ts_us);
        const struct rt_log_pubkey *ks[1] = {rt_log_key_public(key)};
        FZ_CHECK(rt_log_checkpoint_verify(again, note.s, ks, 1, err, sizeof err) == 0);
        const struct rt_log_pubkey *os[1] = {rt_log_key_public(other)};
        FZ_CHECK(rt_log_checkpoint_verify(again, note.s, os, 1, err, sizeof err) == -EKEYREJECTED);
        free(again);
    }
    rt_sb_free(&note);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > RT_LOG_CHECKPOINT_MAX + 64)
        return 0;
    const char *text = (const char *)data;
    struct rt_log_checkpoint *cp = malloc(sizeof *cp);
    FZ_CHECK(cp != NULL);
    char err[256];
    int r = rt_log_checkpoint_parse(text, size, cp, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EBADMSG);
    FZ_CHECK(fz_terminated(err, sizeof err));
    if (r == 0) {
        FZ_CHECK(cp->body_len > 0 && cp->body_len <= size && text[cp->body_len - 1] == '\n');
        FZ_CHECK(cp->n_sigs <= RT_LOG_NOTE_MAX_SIGS);
        FZ_CHECK(fz_terminated(cp->origin, sizeof cp->origin) && rt_log_origin_valid(cp->origin));
        const struct rt_log_pubkey *ks[2] = {rt_log_key_public(key), rt_log_key_public(other)};
        int v = rt_log_checkpoint_verify(cp, text, ks, 2, err, sizeof err);
        FZ_CHECK(v == 0 || v == -EKEYREJECTED);
        resign(cp);
    }
    free(cp);
    return 0;
}
