/* Shared helpers of the libFuzzer harnesses (fuzz/fuzz_*.c).
 *
 * Harness rules: deterministic, nothing carried from one input to the next
 * (every allocation is freed before returning; read-only tables built once
 * are allowed), and a cheap invariant checked with FZ_CHECK wherever the
 * API promises one: a violated invariant aborts, which libFuzzer reports as
 * a crash with the input saved, exactly like a memory error. */
#ifndef RATCHET_FUZZ_COMMON_H
#define RATCHET_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points (declared for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_CHECK(cond)                                                                   \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* A NUL-terminated copy (the parsers under test that take C strings). */
static inline char *fz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* The string is NUL-terminated within cap bytes (a fixed-size field). */
static inline bool fz_terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

/* Consumes fuzz bytes as structured choices; reads past the end give 0. */
struct fz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fz_u8(struct fz_in *in) {
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(struct fz_in *in) {
    uint16_t v = fz_u8(in);
    return (uint16_t)(v | fz_u8(in) << 8);
}

static inline uint32_t fz_u32(struct fz_in *in) {
    uint32_t v = fz_u16(in);
    return v | (uint32_t)fz_u16(in) << 16;
}

static inline uint64_t fz_u64(struct fz_in *in) {
    uint64_t v = fz_u32(in);
    return v | (uint64_t)fz_u32(in) << 32;
}

/* Up to max bytes (length chosen by the next byte); returns the count. */
static inline size_t fz_bytes(struct fz_in *in, size_t max, const uint8_t **out) {
    size_t want = fz_u8(in);
    if (want > max)
        want = max;
    if (want > in->n)
        want = in->n;
    *out = in->p;
    in->p += want;
    in->n -= want;
    return want;
}

/* Copies up to cap-1 bytes (stopping at NUL) into a NUL-terminated string. */
static inline void fz_str(struct fz_in *in, char *dst, size_t cap) {
    const uint8_t *b;
    size_t n = fz_bytes(in, cap - 1, &b);
    size_t i = 0;
    for (; i < n && b[i]; i++)
        dst[i] = (char)b[i];
    dst[i] = '\0';
}

/* ---- allocation failures ----
 * The harnesses are linked with -Wl,--wrap for malloc, calloc, realloc,
 * reallocarray, strdup and strndup (fuzz/fuzz.mk), so every allocation the
 * ratchet code makes goes through the wrappers below. After its normal pass
 * a harness calls fz_alloc_failure_pass(parse_only, ...): parse_only runs
 * once counting the allocations, then again with the k-th one failing, k
 * derived from the input so that a saved input reproduces. Under failure
 * only "no crash, no leak" is checked (LeakSanitizer runs after every
 * input), which covers every -ENOMEM path the fuzzer reaches.
 *
 * Allocations inside jansson (a shared library: its calls are not wrapped)
 * never fail. Its allocator hooks (json_set_alloc_funcs) would fail them,
 * but jansson 2.14's lexer then overflows the heap itself: lex_save()
 * ignores a failed append to the token buffer, and the token is later
 * copied up to a closing quote that is not there. That is a bug in the
 * library, not in what this suite tests. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static bool fz_alloc_counting;
static size_t fz_alloc_n, fz_alloc_fail_at;

/* Whether this allocation is the one to fail. */
static inline bool fz_alloc_fails(void) {
    if (!fz_alloc_counting)
        return false;
    return ++fz_alloc_n == fz_alloc_fail_at;
}

void *__wrap_malloc(size_t n) { return fz_alloc_fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fz_alloc_fails() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fz_alloc_fails() ? NULL : __real_realloc(p, n); }
void *__wrap_reallocarray(void *p, size_t n, size_t size) {
    return fz_alloc_fails() ? NULL : __real_reallocarray(p, n, size);
}
char *__wrap_strdup(const char *s) { return fz_alloc_fails() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fz_alloc_fails() ? NULL : __real_strndup(s, n); }

/* For harness code between the parse calls (building inputs), whose own
 * allocations must not fail. */
static inline bool fz_alloc_pause(void) {
    bool was = fz_alloc_counting;
    fz_alloc_counting = false;
    return was;
}

static inline void fz_alloc_resume(bool was) { fz_alloc_counting = was; }

static inline void fz_alloc_failure_pass(void (*parse)(const uint8_t *, size_t), const uint8_t *data, size_t size) {
    fz_alloc_n = 0;
    fz_alloc_fail_at = 0;
    fz_alloc_counting = true;
    parse(data, size);
    size_t total = fz_alloc_n;
    if (total > 0) {
        uint32_t h = 2166136261u; /* FNV-1a of the input */
        for (size_t i = 0; i < size; i++)
            h = (h ^ data[i]) * 16777619u;
        fz_alloc_n = 0;
        fz_alloc_fail_at = 1 + h % total;
        parse(data, size);
    }
    fz_alloc_counting = false;
    fz_alloc_fail_at = 0;
}

#endif
