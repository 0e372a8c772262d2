/* The tokenizer primitives of the hand-written JSON scanners (the fast paths
 * of feeds/registry.c, feeds/alertmanager.c and feeds/prometheus.c).
 *
 * Each scanner reads a strict subset of JSON straight from the text and
 * declines (returns false) on anything outside it; the document then goes
 * to jansson, which decides. So nothing here reports errors: false only
 * means "not in the subset", and the cursor is then left anywhere. What a
 * scanner accepts beyond these primitives (escapes, numbers, literals) stays
 * in the scanner.
 *
 * Whatever runs per byte, token or member is inline (the parsers' hot
 * paths); common/jscan.c holds the loops over the keys read so far and over
 * a table of names. */
#ifndef RATCHET_JSCAN_H
#define RATCHET_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A cursor over the bytes [p, end). */
struct rt_jscan {
    const char *p, *end;
};

/* Bytes of the text, not NUL-terminated. */
struct rt_jscan_text {
    const char *s;
    size_t n;
};

/* Skips JSON whitespace: space, tab, LF, CR. (The loops here work on local
 * copies of the cursor: a char read may alias it, which would otherwise make
 * the compiler reload it on every byte.) */
static inline void rt_jscan_ws(struct rt_jscan *c) {
    const char *p = c->p, *end = c->end;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    c->p = p;
}

/* Skips whitespace; true if ch is next (not consumed). */
static inline bool rt_jscan_peek(struct rt_jscan *c, char ch) {
    rt_jscan_ws(c);
    return c->p < c->end && *c->p == ch;
}

/* Skips whitespace, then consumes ch if it is next. */
static inline bool rt_jscan_take(struct rt_jscan *c, char ch) {
    if (!rt_jscan_peek(c, ch))
        return false;
    c->p++;
    return true;
}

/* Printable ASCII (0x20 to 0x7F) other than '"' and '\\': a string byte
 * that jansson decodes to itself. */
static inline bool rt_jscan_plain_char(char ch) {
    unsigned char u = (unsigned char)ch;
    return u >= 0x20 && u < 0x80 && ch != '"' && ch != '\\';
}

/* Skips whitespace, then a string of plain characters only (no escapes,
 * control characters or non-ASCII bytes); *out spans its text without the
 * quotes. */
static inline bool rt_jscan_plain_string(struct rt_jscan *c, struct rt_jscan_text *out) {
    if (!rt_jscan_take(c, '"'))
        return false;
    const char *s = c->p, *p = s, *end = c->end;
    while (p < end && rt_jscan_plain_char(*p))
        p++;
    if (p == end || *p != '"')
        return false;
    *out = (struct rt_jscan_text){s, (size_t)(p - s)};
    c->p = p + 1;
    return true;
}

/* A member's key (a plain string) and the colon after it. */
static inline bool rt_jscan_key(struct rt_jscan *c, struct rt_jscan_text *key) {
    return rt_jscan_plain_string(c, key) && rt_jscan_take(c, ':');
}

/* Whether t is exactly the C string lit. A literal's length is known at
 * compile time; otherwise a byte loop, as the texts compared are short keys,
 * where calls to strlen() and memcmp() cost more. */
static inline bool rt_jscan_text_is(struct rt_jscan_text t, const char *lit) {
    if (__builtin_constant_p(strlen(lit)))
        return t.n == strlen(lit) && memcmp(t.s, lit, t.n) == 0;
    for (size_t i = 0; i < t.n; i++)
        if (lit[i] == '\0' || t.s[i] != lit[i])
            return false;
    return lit[t.n] == '\0';
}

/* The keys of one object so far, to refuse a duplicate (jansson's
 * JSON_REJECT_DUPLICATES) and more than max of them. */
struct rt_jscan_keys {
    struct rt_jscan_text *v; /* max of them */
    size_t n, max;
};

/* Reads the value after a key; c is just past the colon. */
typedef bool (*rt_jscan_member_fn)(struct rt_jscan *c, struct rt_jscan_text key, void *ud);

/* Reads the element i of an array; c is before it (whitespace not skipped). */
typedef bool (*rt_jscan_element_fn)(struct rt_jscan *c, size_t i, void *ud);

/* Reads the member which of names[] (as for rt_jscan_named_object()). */
typedef bool (*rt_jscan_named_fn)(struct rt_jscan *c, size_t which, void *ud);

/* Records key in keys (which has room for it); false if it is a duplicate. */
bool rt_jscan_note_key(struct rt_jscan_keys *keys, struct rt_jscan_text key);

/* The index of t in names[], n_names if it is not there. */
size_t rt_jscan_name_index(struct rt_jscan_text t, const char *const *names, size_t n_names);

/* The iterations are inline too: with member a constant, the compiler can
 * then inline it and avoid a call through a pointer per member. */

/* {"key": value, ...} after optional whitespace, calling member for every
 * value. keys: keys are recorded there and a duplicate or one more than
 * keys->max is refused (keys->n counts them); NULL when member itself
 * refuses what it must (e.g. rt_jscan_named_object()). */
static inline bool rt_jscan_object(struct rt_jscan *c, struct rt_jscan_keys *keys, rt_jscan_member_fn member, void *ud) {
    if (!rt_jscan_take(c, '{'))
        return false;
    if (rt_jscan_take(c, '}'))
        return true;
    do {
        struct rt_jscan_text key;
        if ((keys && keys->n == keys->max) || !rt_jscan_key(c, &key))
            return false;
        if ((keys && !rt_jscan_note_key(keys, key)) || !member(c, key, ud))
            return false;
    } while (rt_jscan_take(c, ','));
    return rt_jscan_take(c, '}');
}

/* rt_jscan_named_object() on top of rt_jscan_object(): its member function and
 * what that needs. */
struct rt_jscan_named {
    const char *const *names;
    size_t n_names;
    rt_jscan_named_fn member;
    void *ud;
    uint32_t *seen;
};

static inline bool rt_jscan_named_member(struct rt_jscan *c, struct rt_jscan_text key, void *ud) {
    struct rt_jscan_named *nm = ud;
    size_t w = rt_jscan_name_index(key, nm->names, nm->n_names);
    if (w == nm->n_names || (*nm->seen & UINT32_C(1) << w) || !nm->member(c, w, nm->ud))
        return false;
    *nm->seen |= UINT32_C(1) << w;
    return true;
}

/* An object whose keys are all in names[] (at most 32 of them), each at
 * most once; member gets the key's index. *seen: a bit per member read. */
static inline bool rt_jscan_named_object(struct rt_jscan *c, const char *const *names, size_t n_names,
                                      rt_jscan_named_fn member, void *ud, uint32_t *seen) {
    struct rt_jscan_named nm = {names, n_names < 32 ? n_names : 32, member, ud, seen};
    *seen = 0;
    return rt_jscan_object(c, NULL, rt_jscan_named_member, &nm);
}

/* [element, ...] after optional whitespace, calling element for each. */
static inline bool rt_jscan_array(struct rt_jscan *c, rt_jscan_element_fn element, void *ud) {
    if (!rt_jscan_take(c, '['))
        return false;
    if (rt_jscan_take(c, ']'))
        return true;
    size_t i = 0;
    do {
        if (!element(c, i++, ud))
            return false;
    } while (rt_jscan_take(c, ','));
    return rt_jscan_take(c, ']');
}

#endif
