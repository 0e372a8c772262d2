#include "common/jsonpos.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"

/* A cursor over the text; `at` is the position of s[at.offset]. Nothing here
 * recurses: nesting is skipped with a counter, and the path is followed one
 * segment at a time. */
struct scan {
    const char *s;
    size_t len;
    struct rt_jsonpos at;
};

static bool at_end(const struct scan *sc) { return sc->at.offset >= sc->len; }

static int peek(const struct scan *sc) {
    return at_end(sc) ? -1 : (unsigned char)sc->s[sc->at.offset];
}

static void advance(struct scan *sc) {
    if (at_end(sc))
        return;
    unsigned char c = (unsigned char)sc->s[sc->at.offset++];
    if (c == '\n') {
        if (sc->at.line < INT_MAX)
            sc->at.line++;
        sc->at.column = 1;
    } else if ((c & 0xC0) != 0x80 && sc->at.column < INT_MAX) {
        /* Only the first byte of a UTF-8 sequence is a new character. */
        sc->at.column++;
    }
}

static void skip_ws(struct scan *sc) {
    for (int c = peek(sc); c == ' ' || c == '\t' || c == '\r' || c == '\n'; c = peek(sc))
        advance(sc);
}

static int skip_string(struct scan *sc) {
    advance(sc); /* opening quote */
    while (!at_end(sc)) {
        int c = peek(sc);
        advance(sc);
        if (c == '"')
            return 0;
        if (c == '\\') {
            if (at_end(sc))
                return -EINVAL;
            advance(sc);
        }
    }
    return -EINVAL;
}

static int read_hex4(struct scan *sc, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = peek(sc);
        if (c >= '0' && c <= '9')
            v = v * 16 + (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
        advance(sc);
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, char buf[4]) {
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the \u escape after "\u" (a surrogate pair takes two escapes). */
static int read_unicode_escape(struct scan *sc, unsigned *cp) {
    int r = read_hex4(sc, cp);
    if (r < 0)
        return r;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return -EINVAL;
    if (*cp < 0xD800 || *cp > 0xDBFF)
        return 0;
    unsigned lo;
    if (peek(sc) != '\\')
        return -EINVAL;
    advance(sc);
    if (peek(sc) != 'u')
        return -EINVAL;
    advance(sc);
    r = read_hex4(sc, &lo);
    if (r < 0)
        return r;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return -EINVAL;
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    return 0;
}

/* Decode one character of a string body (after any backslash) into buf. */
static int read_string_char(struct scan *sc, char buf[4], size_t *n) {
    int c = peek(sc);
    advance(sc);
    if (c != '\\') {
        buf[0] = (char)c;
        *n = 1;
        return 0;
    }
    int e = peek(sc);
    advance(sc);
    static const char simple_from[] = "\"\\/bfnrt", simple_to[] = "\"\\/\b\f\n\r\t";
    const char *hit = e > 0 ? strchr(simple_from, e) : NULL;
    if (hit) {
        buf[0] = simple_to[hit - simple_from];
        *n = 1;
        return 0;
    }
    if (e != 'u')
        return -EINVAL;
    unsigned cp;
    int r = read_unicode_escape(sc, &cp);
    if (r < 0)
        return r;
    *n = utf8_encode(cp, buf);
    return 0;
}

/* Consume a string token, comparing its decoded value with target. */
static int match_string(struct scan *sc, const char *target, bool *matched) {
    size_t ti = 0;
    bool same = true;
    advance(sc); /* opening quote */
    for (;;) {
        if (at_end(sc))
            return -EINVAL;
        if (peek(sc) == '"') {
            advance(sc);
            break;
        }
        char buf[4];
        size_t n;
        int r = read_string_char(sc, buf, &n);
        if (r < 0)
            return r;
        for (size_t i = 0; i < n && same; i++) {
            if (target[ti] != '\0' && target[ti] == buf[i])
                ti++;
            else
                same = false;
        }
    }
    *matched = same && target[ti] == '\0';
    return 0;
}

static bool is_scalar_end(int c) {
    return c < 0 || c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' ||
           c == '\n' || c == ':';
}

static int skip_value(struct scan *sc) {
    int c = peek(sc);
    if (c == '"')
        return skip_string(sc);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        do {
            c = peek(sc);
            if (c < 0)
                return -EINVAL;
            if (c == '"') {
                int r = skip_string(sc);
                if (r < 0)
                    return r;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']')
                depth--;
            advance(sc);
        } while (depth > 0);
        return 0;
    }
    size_t start = sc->at.offset;
    while (!is_scalar_end(peek(sc)))
        advance(sc);
    return sc->at.offset > start ? 0 : -EINVAL;
}

/* After a member or element: "," (more follow) returns 1, the closer 0. */
static int after_item(struct scan *sc, char closer) {
    skip_ws(sc);
    int c = peek(sc);
    if (c == ',') {
        advance(sc);
        return 1;
    }
    return c == closer ? 0 : -EINVAL;
}

/* sc is at '{'. On success *found is positioned at the member's value. */
static int find_member(struct scan *sc, const char *name, struct rt_jsonpos *key, struct scan *found) {
    bool have = false;
    advance(sc);
    skip_ws(sc);
    if (peek(sc) == '}')
        return -ENOENT;
    for (;;) {
        skip_ws(sc);
        if (peek(sc) != '"')
            return -EINVAL;
        struct rt_jsonpos k = sc->at;
        bool matched;
        int r = match_string(sc, name, &matched);
        if (r < 0)
            return r;
        skip_ws(sc);
        if (peek(sc) != ':')
            return -EINVAL;
        advance(sc);
        skip_ws(sc);
        if (matched) {
            /* Keep scanning: with duplicate keys the last one wins. */
            have = true;
            *key = k;
            *found = *sc;
        }
        r = skip_value(sc);
        if (r < 0)
            return r;
        r = after_item(sc, '}');
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    return have ? 0 : -ENOENT;
}

/* A JSON-pointer array index: digits, no leading zero. */
static bool parse_index(const char *s, size_t *out) {
    size_t v = 0;
    if (!*s || (s[0] == '0' && s[1] != '\0'))
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
            return false;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* sc is at '['. */
static int find_element(struct scan *sc, const char *index, struct scan *found) {
    size_t want;
    if (!parse_index(index, &want))
        return -ENOENT;
    advance(sc);
    skip_ws(sc);
    if (peek(sc) == ']')
        return -ENOENT;
    for (size_t i = 0;; i++) {
        skip_ws(sc);
        if (i == want) {
            *found = *sc;
            return 0;
        }
        int r = skip_value(sc);
        if (r < 0)
            return r;
        r = after_item(sc, ']');
        if (r <= 0)
            return r < 0 ? r : -ENOENT;
    }
}

int rt_jsonpos_find(const char *text, size_t len, const char *const *segs, size_t nsegs,
                    struct rt_jsonpos *key, struct rt_jsonpos *value) {
    if ((!text && len > 0) || (!segs && nsegs > 0))
        return -EINVAL;
    if (nsegs > RT_JSONPOS_MAX_DEPTH)
        return -E2BIG;
    struct scan sc = {.s = text, .len = len, .at = {.line = 1, .column = 1, .offset = 0}};
    skip_ws(&sc);
    if (at_end(&sc))
        return -EINVAL;
    struct rt_jsonpos k = sc.at;
    for (size_t i = 0; i < nsegs; i++) {
        struct scan next;
        int r;
        if (!segs[i])
            return -EINVAL;
        if (peek(&sc) == '{') {
            r = find_member(&sc, segs[i], &k, &next);
        } else if (peek(&sc) == '[') {
            r = find_element(&sc, segs[i], &next);
            if (r == 0)
                k = next.at;
        } else {
            r = -ENOENT;
        }
        if (r < 0)
            return r;
        sc = next;
        if (at_end(&sc))
            return -EINVAL;
    }
    if (key)
        *key = k;
    if (value)
        *value = sc.at;
    return 0;
}

/* Split an RFC 6901 pointer (after its leading '/') in place. */
static int split_pointer(char *p, const char *segs[RT_JSONPOS_MAX_DEPTH], size_t *nsegs) {
    size_t n = 0;
    char *seg = p, *out = p;
    for (const char *in = p;; in++) {
        if (*in == '/' || *in == '\0') {
            if (n == RT_JSONPOS_MAX_DEPTH)
                return -E2BIG;
            bool last = *in == '\0';
            *out++ = '\0';
            segs[n++] = seg;
            if (last)
                break;
            seg = out;
        } else if (*in == '~') {
            if (in[1] != '0' && in[1] != '1')
                return -EINVAL;
            *out++ = in[1] == '0' ? '~' : '/';
            in++;
        } else {
            *out++ = *in;
        }
    }
    *nsegs = n;
    return 0;
}

int rt_jsonpos_find_pointer(const char *text, size_t len, const char *pointer,
                            struct rt_jsonpos *key, struct rt_jsonpos *value) {
    if (!pointer)
        return -EINVAL;
    if (pointer[0] == '\0')
        return rt_jsonpos_find(text, len, NULL, 0, key, value);
    if (pointer[0] != '/')
        return -EINVAL;
    _cleanup_free_ char *copy = strdup(pointer + 1);
    if (!copy)
        return -ENOMEM;
    const char *segs[RT_JSONPOS_MAX_DEPTH];
    size_t nsegs;
    int r = split_pointer(copy, segs, &nsegs);
    if (r < 0)
        return r;
    return rt_jsonpos_find(text, len, segs, nsegs, key, value);
}

struct rt_jsonpos rt_jsonpos_at_offset(const char *text, size_t len, size_t offset) {
    struct scan sc = {.s = text, .len = text ? len : 0, .at = {.line = 1, .column = 1, .offset = 0}};
    while (sc.at.offset < offset && !at_end(&sc))
        advance(&sc);
    return sc.at;
}
