#include "feeds/alertmanager.h"

#include "common/jsoncheck.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/jscan.h"
#include "common/rtime.h"
#include "common/util.h"

static void json_put(json_t **j) {
    if (*j)
        json_decref(*j);
}

_printf_(4, 5) static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int rt_am_http_status(int rc) {
    switch (rc) {
    case 0: return 200;
    case RT_AM_EBADREQ: return 400;
    case RT_AM_ETOOLARGE: return 413;
    case RT_AM_EUNUSABLE: return 422;
    default: return 500;
    }
}

/* ---------------------------------------------------------------- matchers */

static bool label_start_char(char c) { return isalpha((unsigned char)c) || c == '_' || c == ':'; }
static bool label_char(char c) { return label_start_char(c) || isdigit((unsigned char)c); }

bool rt_am_label_name_valid(const char *name) {
    if (!name || !label_start_char(name[0]))
        return false;
    size_t n = 0;
    for (; name[n]; n++)
        if (!label_char(name[n]))
            return false;
    return n <= RT_AM_LABEL_NAME_MAX;
}

bool rt_am_fingerprint_valid(const char *s) {
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]))
            return false;
    return n >= 1 && n <= RT_AM_FINGERPRINT_MAX;
}

struct lexer {
    const char *s;
    size_t pos;
    size_t idx; /* 1-based number of the matcher being read, for messages */
    char *err;
    size_t errlen;
};

static void skip_blanks(struct lexer *lx) {
    while (isspace((unsigned char)lx->s[lx->pos]))
        lx->pos++;
}

static int lex_name(struct lexer *lx, char name[RT_AM_LABEL_NAME_MAX + 1]) {
    size_t start = lx->pos;
    if (!label_start_char(lx->s[start]))
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: expected a label name at offset %zu",
                    lx->idx, start);
    while (label_char(lx->s[lx->pos]))
        lx->pos++;
    size_t n = lx->pos - start;
    if (n > RT_AM_LABEL_NAME_MAX)
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: label name longer than %d bytes", lx->idx,
                    RT_AM_LABEL_NAME_MAX);
    memcpy(name, lx->s + start, n);
    name[n] = '\0';
    return 0;
}

static int lex_op(struct lexer *lx, const char *name, enum rt_am_match_op *op) {
    const char *p = lx->s + lx->pos;
    if (p[0] == '=' && p[1] == '~')
        *op = RT_AM_MATCH_RE;
    else if (p[0] == '!' && p[1] == '~')
        *op = RT_AM_MATCH_NRE;
    else if (p[0] == '!' && p[1] == '=')
        *op = RT_AM_MATCH_NE;
    else if (p[0] == '=')
        *op = RT_AM_MATCH_EQ;
    else
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: expected =, !=, =~ or !~ after \"%s\"",
                    lx->idx, name);
    lx->pos += *op == RT_AM_MATCH_EQ ? 1 : 2;
    return 0;
}

static int put_value_char(struct lexer *lx, char *value, size_t *n, char c) {
    if (*n >= RT_AM_MATCHER_VALUE_MAX)
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: value longer than %d bytes", lx->idx,
                    RT_AM_MATCHER_VALUE_MAX);
    value[(*n)++] = c;
    return 0;
}

/* Quoted: \" \\ \n are escapes; any other backslash is kept, so a regex
 * such as "a\.b" means what it says. */
static int lex_quoted(struct lexer *lx, char *value, size_t *n) {
    lx->pos++; /* opening quote */
    for (;;) {
        char c = lx->s[lx->pos];
        if (c == '\0')
            return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: unterminated quoted value", lx->idx);
        lx->pos++;
        if (c == '"')
            return 0;
        if (c == '\\') {
            char e = lx->s[lx->pos];
            if (e == '"' || e == '\\' || e == 'n') {
                lx->pos++;
                c = e == 'n' ? '\n' : e;
            }
        }
        int r = put_value_char(lx, value, n, c);
        if (r < 0)
            return r;
    }
}

static int lex_unquoted(struct lexer *lx, char *value, size_t *n) {
    for (;;) {
        char c = lx->s[lx->pos];
        if (c == '\0' || c == ',' || c == '}' || isspace((unsigned char)c))
            return 0;
        if (c == '"' || c == '{')
            return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: unexpected '%c' in an unquoted value",
                        lx->idx, c);
        int r = put_value_char(lx, value, n, c);
        if (r < 0)
            return r;
        lx->pos++;
    }
}

/* Index just past the bracket expression starting at v[i] == '[', or 0 if
 * it is unterminated or holds a backslash. */
static size_t skip_bracket(const char *v, size_t i, bool *backslash) {
    size_t j = i + 1;
    if (v[j] == '^')
        j++;
    if (v[j] == ']')
        j++;
    for (; v[j] && v[j] != ']'; j++) {
        if (v[j] == '\\')
            *backslash = true;
        if (v[j] == '[' && (v[j + 1] == ':' || v[j + 1] == '=' || v[j + 1] == '.')) {
            char kind = v[j + 1];
            const char *close = NULL;
            for (size_t k = j + 2; v[k] && v[k + 1]; k++)
                if (v[k] == kind && v[k + 1] == ']') {
                    close = v + k;
                    break;
                }
            if (!close)
                return 0;
            j = (size_t)(close - v) + 1;
        }
    }
    return v[j] == ']' ? j + 1 : 0;
}

/* glibc's regcomp copies a repeated part once per repetition (x+ is x x*,
 * x{2,5} is five copies, nested repetitions multiply), and its compile and
 * match times grow steeply (cubic and worse) when a repeated part can match
 * the empty string. Short regexes such as "x++++++++++++++++++++++++++++++"
 * (2^30 copies), "(x?){0,1000}" or "((((x?)+)+)+)((((x?)+)+)+)" exhaust
 * memory or take minutes, at start or for every alert; and matching time
 * grows with the expanded size (10,000 elements: seconds per 4 KB label
 * value). Real matchers are a few dozen elements, so refuse: a repetition of something that can be
 * empty (always redundant: "(x?)+" is "x*"), regexes that expand beyond
 * REGEX_SIZE_MAX elements, and repetitions nested more than
 * REGEX_REPEAT_DEPTH deep (chained as in "x+*", or through groups). */
#define REGEX_SIZE_MAX 1000
#define REGEX_REPEAT_DEPTH 4

static size_t size_mul(size_t a, size_t b) { return b && a > (REGEX_SIZE_MAX + 1) / b ? REGEX_SIZE_MAX + 1 : a * b; }

static size_t size_add(size_t a, size_t b) { return a + b > REGEX_SIZE_MAX + 1 ? REGEX_SIZE_MAX + 1 : a + b; }

/* An element and the repetition operators after it. */
struct rx_item {
    size_t size;    /* elements after expansion */
    size_t nest;    /* repetition operators nested in it */
    bool empty;     /* may match the empty string */
    bool bad;       /* a repetition of something that may be empty */
};

/* Applies the operators at v[*i] (*, +, ?, {n}, {n,}, {n,m}, possibly
 * chained) to it and moves *i past them. */
static void rx_repeat(const char *v, size_t *i, struct rx_item *it) {
    for (;;) {
        size_t j = *i, copies = 1, min = 1;
        if (v[j] == '*' || v[j] == '?' || v[j] == '+') {
            copies = v[j] == '+' ? 2 : 1;
            min = v[j] == '+';
            j++;
        } else if (v[j] == '{') { /* an interval: check_regex refuses any other "{" */
            size_t n = 0, m = 0;
            bool comma = false, has_m = false;
            for (j++; isdigit((unsigned char)v[j]); j++)
                n = size_add(size_mul(n, 10), (size_t)(v[j] - '0'));
            if (v[j] == ',') {
                comma = true;
                for (j++; isdigit((unsigned char)v[j]); j++, has_m = true)
                    m = size_add(size_mul(m, 10), (size_t)(v[j] - '0'));
            }
            if (v[j] != '}')
                return;
            j++;
            copies = !comma ? n : has_m ? m : size_add(n, 1);
            min = n;
        } else {
            return;
        }
        it->bad |= it->empty;
        it->empty = min == 0;
        it->size = size_mul(it->size, copies ? copies : 1);
        it->nest++;
        *i = j;
    }
}

/* Per open group: its size, deepest nesting, whether a finished branch may
 * be empty, and whether the current branch may be empty so far. v is
 * balanced (check_regex). */
struct rx_group {
    size_t size, nest;
    bool any_empty, branch_empty;
};

static bool regex_cost_ok(const char *v) {
    struct rx_group g[RT_AM_MATCHER_VALUE_MAX + 2]; /* depth <= strlen(v) */
    size_t depth = 0;
    bool bad = false;
    g[0] = (struct rx_group){0, 0, false, true};
    for (size_t i = 0; v[i];) {
        struct rx_item it = {1, 0, false, false};
        if (v[i] == '(') {
            g[++depth] = (struct rx_group){0, 0, false, true};
            i++;
            continue;
        }
        if (v[i] == '|') {
            g[depth].any_empty |= g[depth].branch_empty;
            g[depth].branch_empty = true;
            i++;
            continue;
        }
        if (v[i] == ')') {
            const struct rx_group *in = &g[depth--];
            it = (struct rx_item){in->size ? in->size : 1, in->nest, in->any_empty || in->branch_empty, false};
            i++;
        } else if (v[i] == '\\') {
            i += 2;
        } else if (v[i] == '[') {
            bool backslash = false;
            size_t j = skip_bracket(v, i, &backslash);
            i = j ? j : i + 1;
        } else {
            it.empty = v[i] == '^' || v[i] == '$'; /* anchors match the empty string */
            i++;
        }
        rx_repeat(v, &i, &it);
        bad |= it.bad;
        g[depth].size = size_add(g[depth].size, it.size);
        g[depth].nest = it.nest > g[depth].nest ? it.nest : g[depth].nest;
        g[depth].branch_empty &= it.empty;
    }
    return !bad && g[0].size <= REGEX_SIZE_MAX && g[0].nest <= REGEX_REPEAT_DEPTH;
}

/* Length of the interval {n}, {n,} or {n,m} at v (v[0] == '{'), 0 if it is
 * not one. */
static size_t interval_len(const char *v) {
    size_t j = 1;
    if (!isdigit((unsigned char)v[j]))
        return 0;
    while (isdigit((unsigned char)v[j]))
        j++;
    if (v[j] == ',')
        for (j++; isdigit((unsigned char)v[j]); j++)
            ;
    return v[j] == '}' ? j + 1 : 0;
}

/* POSIX ERE and Go's RE2 agree on the common subset; refuse what the two
 * would read differently, unbalanced parentheses (which would break the
 * ^(...)$ anchoring), and repetitions that would exhaust memory. */
static int check_regex(struct lexer *lx, const char *v) {
    size_t depth = 0;
    for (size_t i = 0; v[i];) {
        char c = v[i];
        if (c == '\\') {
            char e = v[i + 1];
            if (e == '\0')
                return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: regex ends with a backslash", lx->idx);
            if (isalnum((unsigned char)e))
                return fail(lx->err, lx->errlen, -EINVAL,
                            "matcher %zu: regex escape \\%c is not POSIX ERE (use a bracket expression such as [0-9])",
                            lx->idx, e);
            i += 2;
            continue;
        }
        if (c == '[') {
            bool backslash = false;
            size_t j = skip_bracket(v, i, &backslash);
            if (j == 0)
                return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: regex has an unterminated [", lx->idx);
            if (backslash)
                return fail(lx->err, lx->errlen, -EINVAL,
                            "matcher %zu: a backslash inside [...] is literal in POSIX ERE; leave it out", lx->idx);
            i = j;
            continue;
        }
        if (c == '(' && v[i + 1] == '?')
            return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: regex (?...) groups and flags are not POSIX ERE",
                        lx->idx);
        if (c == '{' && interval_len(v + i) == 0) /* RE2 reads "{,3}" or "{x}" as text, glibc does not */
            return fail(lx->err, lx->errlen, -EINVAL,
                        "matcher %zu: regex { starts no interval {n}, {n,} or {n,m} (write \\{ for a brace)", lx->idx);
        if (c == '(')
            depth++;
        if (c == ')') {
            if (depth == 0)
                return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: regex has an unbalanced )", lx->idx);
            depth--;
        }
        i++;
    }
    if (depth != 0)
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: regex has an unbalanced (", lx->idx);
    if (!regex_cost_ok(v))
        return fail(lx->err, lx->errlen, -EINVAL,
                    "matcher %zu: regex too costly for regcomp: a repetition of something that can be empty, "
                    "repetitions nested more than %d deep, or more than %d elements once expanded",
                    lx->idx, REGEX_REPEAT_DEPTH, REGEX_SIZE_MAX);
    return 0;
}

static int compile_regex(struct lexer *lx, struct rt_am_matcher *m) {
    int r = check_regex(lx, m->value);
    if (r < 0)
        return r;
    char pattern[RT_AM_MATCHER_VALUE_MAX + 8];
    snprintf(pattern, sizeof pattern, "^(%s)$", m->value);
    int rc = regcomp(&m->re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc == REG_ESPACE)
        return fail(lx->err, lx->errlen, -ENOMEM, "matcher %zu: out of memory compiling the regex", lx->idx);
    if (rc != 0) {
        char why[96];
        regerror(rc, &m->re, why, sizeof why);
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: invalid regex: %s", lx->idx, why);
    }
    m->has_re = true;
    return 0;
}

static int lex_matcher(struct lexer *lx, struct rt_am_matcher *m) {
    int r = lex_name(lx, m->name);
    if (r < 0)
        return r;
    skip_blanks(lx);
    if ((r = lex_op(lx, m->name, &m->op)) < 0)
        return r;
    skip_blanks(lx);
    size_t n = 0;
    r = lx->s[lx->pos] == '"' ? lex_quoted(lx, m->value, &n) : lex_unquoted(lx, m->value, &n);
    if (r < 0)
        return r;
    m->value[n] = '\0';
    if (m->op == RT_AM_MATCH_RE || m->op == RT_AM_MATCH_NRE)
        return compile_regex(lx, m);
    return 0;
}

/* Reads matchers until the end of the list; leaves lx->pos at '}' or NUL. */
static int lex_list(struct lexer *lx, struct rt_am_matchers *out) {
    for (;;) {
        skip_blanks(lx);
        char c = lx->s[lx->pos];
        if (c == '\0' || c == '}')
            return 0; /* empty list or trailing comma */
        if (out->n == RT_AM_MAX_MATCHERS)
            return fail(lx->err, lx->errlen, -EINVAL, "more than %d matchers", RT_AM_MAX_MATCHERS);
        lx->idx = out->n + 1;
        struct rt_am_matcher *m = &out->m[out->n];
        memset(m, 0, sizeof *m);
        int r = lex_matcher(lx, m);
        if (r < 0)
            return r; /* a failed regcomp leaves nothing to free */
        out->n++;
        skip_blanks(lx);
        c = lx->s[lx->pos];
        if (c == ',') {
            lx->pos++;
            continue;
        }
        if (c == '\0' || c == '}')
            return 0;
        return fail(lx->err, lx->errlen, -EINVAL, "matcher %zu: expected ',' after the value at offset %zu",
                    lx->idx, lx->pos);
    }
}

int rt_am_matchers_parse(const char *text, struct rt_am_matchers *out, char *err, size_t errlen) {
    out->n = 0;
    if (!text)
        return fail(err, errlen, -EINVAL, "empty matcher list");
    if (strlen(text) > RT_AM_MATCHERS_TEXT_MAX)
        return fail(err, errlen, -EINVAL, "matcher list longer than %d bytes", RT_AM_MATCHERS_TEXT_MAX);
    struct lexer lx = {.s = text, .err = err, .errlen = errlen};
    skip_blanks(&lx);
    bool braced = text[lx.pos] == '{';
    if (braced)
        lx.pos++;
    int r = lex_list(&lx, out);
    if (r == 0 && braced && text[lx.pos] != '}')
        r = fail(err, errlen, -EINVAL, "missing closing '}'");
    if (r == 0 && !braced && text[lx.pos] == '}')
        r = fail(err, errlen, -EINVAL, "unexpected '}' at offset %zu", lx.pos);
    if (r == 0) {
        if (braced)
            lx.pos++;
        skip_blanks(&lx);
        if (text[lx.pos] != '\0')
            r = fail(err, errlen, -EINVAL, "unexpected text after the matcher list at offset %zu", lx.pos);
    }
    if (r == 0 && out->n == 0)
        r = fail(err, errlen, -EINVAL, "empty matcher list");
    if (r < 0)
        rt_am_matchers_free(out);
    return r;
}

void rt_am_matchers_free(struct rt_am_matchers *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        if (m->m[i].has_re) {
            regfree(&m->m[i].re);
            m->m[i].has_re = false;
        }
    m->n = 0;
}

bool rt_am_matcher_match(const struct rt_am_matcher *m, const char *value_or_null) {
    const char *v = value_or_null ? value_or_null : "";
    switch (m->op) {
    case RT_AM_MATCH_EQ: return strcmp(v, m->value) == 0;
    case RT_AM_MATCH_NE: return strcmp(v, m->value) != 0;
    case RT_AM_MATCH_RE: return m->has_re && regexec(&m->re, v, 0, NULL, 0) == 0;
    case RT_AM_MATCH_NRE: return m->has_re && regexec(&m->re, v, 0, NULL, 0) != 0;
    }
    return false;
}

bool rt_am_matchers_match(const struct rt_am_matchers *m, rt_am_label_fn get, void *userdata) {
    if (!m)
        return true;
    for (size_t i = 0; i < m->n; i++)
        if (!rt_am_matcher_match(&m->m[i], get(m->m[i].name, userdata)))
            return false;
    return true;
}

int rt_am_matcher_format(const struct rt_am_matcher *m, char *buf, size_t cap) {
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    size_t n = 0;
    bool ok = true;
#define PUT(ch) do { if (n + 1 < cap) buf[n] = (ch); else ok = false; n++; } while (0)
    for (const char *p = m->name; *p; p++)
        PUT(*p);
    for (const char *p = ops[m->op]; *p; p++)
        PUT(*p);
    PUT('"');
    for (const char *p = m->value; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '\n')
            PUT('\\');
        PUT(*p == '\n' ? 'n' : *p);
    }
    PUT('"');
#undef PUT
    if (!ok || cap == 0)
        return -ENOBUFS;
    buf[n] = '\0';
    return (int)n;
}

/* ------------------------------------------------------------ JSON helpers */

/* Copy at most cap-1 bytes without splitting a UTF-8 sequence. */
static void copy_cut(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Where an error is: "alerts[3]" or "[3]" plus a field. */
struct at {
    const char *prefix;
    char *err;
    size_t errlen;
};

static int bad_type(const struct at *at, const char *field, const char *want, const json_t *v) {
    return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s: expected %s, got %s", at->prefix, field, want,
                rt_json_type_name(v));
}

static int get_string(const struct at *at, json_t *obj, const char *field, bool required, const char **out) {
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s: missing", at->prefix, field);
        return 0;
    }
    if (!json_is_string(v))
        return bad_type(at, field, "a string", v);
    *out = json_string_value(v);
    return 0;
}

/* An object whose values are all strings (labels, annotations). */
static int check_string_map(const struct at *at, json_t *obj, const char *field, bool required, json_t **out) {
    json_t *v = json_object_get(obj, field);
    if (out)
        *out = v;
    if (!v) {
        if (required)
            return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s: missing", at->prefix, field);
        return 0;
    }
    if (!json_is_object(v))
        return bad_type(at, field, "an object", v);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!json_is_string(val))
            return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s.%.64s: expected a string, got %s", at->prefix,
                        field, key, rt_json_type_name(val));
    }
    return 0;
}

static int64_t go_zero_time_us(void) {
    return rt_days_from_civil(1, 1, 1) * 86400 * RT_USEC_PER_SEC;
}

/* Parses an RFC 3339 field; *has is false for Go's zero time. */
static int get_time(const struct at *at, json_t *obj, const char *field, bool required, bool *has, int64_t *us) {
    const char *s;
    int r = get_string(at, obj, field, required, &s);
    *has = false;
    *us = 0;
    if (r < 0 || !s)
        return r;
    if (rt_time_parse(s, us) < 0)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s: not an RFC 3339 time", at->prefix, field);
    *has = *us != go_zero_time_us();
    return 0;
}

static int get_fingerprint(const struct at *at, json_t *obj, char out[RT_AM_FINGERPRINT_MAX + 1]) {
    const char *s;
    int r = get_string(at, obj, "fingerprint", true, &s);
    if (r < 0)
        return r;
    if (!rt_am_fingerprint_valid(s))
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sfingerprint: expected 1 to %d hex digits", at->prefix,
                    RT_AM_FINGERPRINT_MAX);
    size_t i = 0;
    for (; s[i]; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
    return 0;
}

static int check_string_array(const struct at *at, json_t *obj, const char *field, bool required, size_t *n) {
    json_t *v = json_object_get(obj, field);
    *n = 0;
    if (!v) {
        if (required)
            return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s: missing", at->prefix, field);
        return 0;
    }
    if (!json_is_array(v))
        return bad_type(at, field, "an array", v);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e))
            return fail(at->err, at->errlen, RT_AM_EBADREQ, "%s%s[%zu]: expected a string, got %s", at->prefix,
                        field, i, rt_json_type_name(e));
    }
    *n = json_array_size(v);
    return 0;
}

static const char *label_of(const char *name, void *userdata) {
    return json_string_value(json_object_get((json_t *)userdata, name));
}

/* Decides whether an alert with these labels is usable; fills bot and
 * alertname. Returns true, or false with *why set. */
static bool classify(const struct rt_am_config *cfg, rt_am_label_fn get, void *labels, struct rt_am_alert *a,
                     enum rt_am_ignore *why) {
    if (!rt_am_matchers_match(cfg->p0, get, labels)) {
        *why = RT_AM_IGN_NOT_P0;
        return false;
    }
    const char *bot = cfg->bot_label ? get(cfg->bot_label, labels) : NULL;
    if (!bot || !*bot) {
        *why = RT_AM_IGN_NO_BOT;
        return false;
    }
    if (!rt_bot_id_valid(bot)) {
        *why = RT_AM_IGN_BAD_BOT;
        return false;
    }
    rt_strlcpy(a->bot, bot, sizeof a->bot);
    const char *name = get("alertname", labels);
    copy_cut(a->alertname, sizeof a->alertname, name ? name : "");
    return true;
}

static int list_push(struct rt_am_alert_list *l, size_t *cap, const struct rt_am_alert *a) {
    if (l->n_alerts == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct rt_am_alert *na = realloc(l->alerts, ncap * sizeof *na);
        if (!na)
            return -ENOMEM;
        l->alerts = na;
        *cap = ncap;
    }
    l->alerts[l->n_alerts++] = *a;
    return 0;
}

/* Keeps a usable alert, counts an ignored one. */
static int keep_or_count(const struct rt_am_config *cfg, rt_am_label_fn get, void *labels, struct rt_am_alert *a,
                         struct rt_am_alert_list *l, size_t *cap) {
    enum rt_am_ignore why;
    if (classify(cfg, get, labels, a, &why))
        return list_push(l, cap, a);
    l->ignored[why]++;
    l->n_ignored++;
    return 0;
}

static json_t *load(const char *body, size_t len, char *err, size_t errlen, int *rc) {
    if (len > RT_AM_MAX_BODY) {
        *rc = fail(err, errlen, RT_AM_ETOOLARGE, "body larger than %u bytes", RT_AM_MAX_BODY);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        *rc = fail(err, errlen, RT_AM_EBADREQ, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                   jerr.text);
    return root;
}

/* ----------------------------------------------------------------- webhook */

static int parse_webhook_alert(const struct at *at, json_t *o, struct rt_am_alert *a, json_t **labels) {
    memset(a, 0, sizeof *a);
    const char *status;
    int r = get_string(at, o, "status", true, &status);
    if (r < 0)
        return r;
    if (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sstatus: expected \"firing\" or \"resolved\"", at->prefix);
    a->firing = status[0] == 'f';
    const char *url;
    bool has_start;
    if ((r = check_string_map(at, o, "labels", true, labels)) < 0 ||
        (r = check_string_map(at, o, "annotations", false, NULL)) < 0 ||
        (r = get_time(at, o, "startsAt", true, &has_start, &a->starts_at_us)) < 0 ||
        (r = get_time(at, o, "endsAt", true, &a->has_ends_at, &a->ends_at_us)) < 0 ||
        (r = get_string(at, o, "generatorURL", false, &url)) < 0 ||
        (r = get_fingerprint(at, o, a->fingerprint)) < 0)
        return r;
    if (!has_start)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sstartsAt: zero time", at->prefix);
    if (!a->firing && !a->has_ends_at)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sendsAt: resolved alert without an end time", at->prefix);
    return 0;
}

static int parse_webhook_top(const struct at *at, json_t *root, struct rt_am_webhook *out) {
    const char *version, *status, *receiver, *group_key, *url;
    int r = get_string(at, root, "version", true, &version);
    if (r < 0)
        return r;
    if (strcmp(version, "4") != 0)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "version: unsupported \"%.16s\" (this receiver reads \"4\")",
                    version);
    out->version = 4;
    if ((r = get_string(at, root, "status", true, &status)) < 0)
        return r;
    if (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "status: expected \"firing\" or \"resolved\"");
    out->firing = status[0] == 'f';
    if ((r = get_string(at, root, "receiver", false, &receiver)) < 0 ||
        (r = get_string(at, root, "groupKey", false, &group_key)) < 0 ||
        (r = get_string(at, root, "externalURL", false, &url)) < 0 ||
        (r = check_string_map(at, root, "groupLabels", false, NULL)) < 0 ||
        (r = check_string_map(at, root, "commonLabels", false, NULL)) < 0 ||
        (r = check_string_map(at, root, "commonAnnotations", false, NULL)) < 0)
        return r;
    copy_cut(out->receiver, sizeof out->receiver, receiver ? receiver : "");
    copy_cut(out->group_key, sizeof out->group_key, group_key ? group_key : "");
    json_t *t = json_object_get(root, "truncatedAlerts");
    if (t && !json_is_integer(t))
        return bad_type(at, "truncatedAlerts", "an integer", t);
    if (t && json_integer_value(t) < 0)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "truncatedAlerts: negative");
    out->truncated_alerts = t ? json_integer_value(t) : 0;
    return 0;
}

static int unusable(const struct rt_am_alert_list *l, const char *bot_label, char *err, size_t errlen) {
    if (l->n_received == 0)
        return fail(err, errlen, RT_AM_EUNUSABLE, "no usable alert: the payload has no alerts");
    return fail(err, errlen, RT_AM_EUNUSABLE,
                "no usable alert: %zu received, %zu not P0, %zu without a \"%.64s\" label, %zu with an invalid bot id",
                l->n_received, l->ignored[RT_AM_IGN_NOT_P0], l->ignored[RT_AM_IGN_NO_BOT],
                bot_label ? bot_label : "", l->ignored[RT_AM_IGN_BAD_BOT]);
}

static int webhook_parse(const char *body, size_t len, const struct rt_am_config *cfg, struct rt_am_webhook *out,
                         char *err, size_t errlen) {
    int r = 0;
    _cleanup_(json_put) json_t *root = load(body, len, err, errlen, &r);
    if (!root)
        return r;
    struct at top = {.prefix = "", .err = err, .errlen = errlen};
    if (!json_is_object(root))
        return fail(err, errlen, RT_AM_EBADREQ, "payload: expected an object, got %s", rt_json_type_name(root));
    if ((r = parse_webhook_top(&top, root, out)) < 0)
        return r;
    json_t *alerts = json_object_get(root, "alerts");
    if (!alerts)
        return fail(err, errlen, RT_AM_EBADREQ, "alerts: missing");
    if (!json_is_array(alerts))
        return bad_type(&top, "alerts", "an array", alerts);
    if (json_array_size(alerts) > RT_AM_MAX_ALERTS)
        return fail(err, errlen, RT_AM_EBADREQ, "alerts: more than %d alerts", RT_AM_MAX_ALERTS);
    size_t i, cap = 0;
    json_t *o;
    json_array_foreach(alerts, i, o) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "alerts[%zu]", i);
        char dotted[34];
        snprintf(dotted, sizeof dotted, "%s.", prefix);
        struct at at = {.prefix = dotted, .err = err, .errlen = errlen};
        if (!json_is_object(o))
            return fail(err, errlen, RT_AM_EBADREQ, "%s: expected an object, got %s", prefix, rt_json_type_name(o));
        struct rt_am_alert a;
        json_t *labels;
        if ((r = parse_webhook_alert(&at, o, &a, &labels)) < 0)
            return r;
        out->list.n_received++;
        if ((r = keep_or_count(cfg, label_of, labels, &a, &out->list, &cap)) < 0)
            return fail(err, errlen, r, "out of memory");
    }
    if (out->list.n_alerts == 0)
        return unusable(&out->list, cfg->bot_label, err, errlen);
    return 0;
}

/* ------------------------------------------------- webhook without jansson
 *
 * jansson builds a DOM of a few dozen small allocations for every payload,
 * which was most of the CPU a webhook costs (docs/performance.md, "webhook
 * ingest"). The usual payload is read here instead, straight from the text:
 * the members Alertmanager sends and no others, each once, of the types
 * above; strings of printable ASCII whose escapes are \" \\ \/ \b \f \n \r
 * \t or a \uXXXX that is neither NUL nor a surrogate; truncatedAlerts a
 * plain non-negative integer. The scanner only says something when the
 * jansson path would say the same: a success, or RT_AM_EUNUSABLE with the
 * same counts. For anything else (not JSON, an unknown or duplicate member,
 * an escaped or non-ASCII key, a wrong type, a field the checks refuse,
 * more than FAST_MAX_LABELS labels...) it declines and the whole body goes
 * to jansson, which decides and words the error. rt_am_webhook_parse_jansson()
 * turns the scanner off: tests/unit/test_alertmanager.c and
 * fuzz/fuzz_am_webhook.c check that both paths agree. */

#define FAST_DECLINED 1
#define FAST_MAX_LABELS 64 /* per string map; more: jansson */
#define FAST_STACK 8192    /* decoded strings of bodies up to this size stay on the stack */

/* The cursor first, so that a member or element function can get back the
 * struct scan from the struct rt_jscan it is given. */
struct scan {
    struct rt_jscan c;
    char *arena; /* decoded strings, NUL-terminated; never more bytes than the body */
    size_t used, cap;
};

struct fast_labels {
    size_t n;
    struct rt_jscan_text name[FAST_MAX_LABELS]; /* raw keys: no escapes */
    const char *value[FAST_MAX_LABELS];      /* decoded, in the arena */
};

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \uXXXX at p[0] == 'u', before end, as UTF-8 into out; false for NUL
 * (jansson refuses it), surrogates (pairs are left to jansson) and bad hex. */
static bool sc_unicode(const char *p, const char *end, char *out, size_t *n) {
    if (end - p < 5)
        return false;
    unsigned v = 0;
    for (size_t k = 1; k <= 4; k++) {
        int d = hex_digit(p[k]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
        return false;
    if (v < 0x80) {
        out[0] = (char)v, *n = 1;
    } else if (v < 0x800) {
        out[0] = (char)(0xC0 | v >> 6), out[1] = (char)(0x80 | (v & 0x3F)), *n = 2;
    } else {
        out[0] = (char)(0xE0 | v >> 12), out[1] = (char)(0x80 | (v >> 6 & 0x3F));
        out[2] = (char)(0x80 | (v & 0x3F)), *n = 3;
    }
    return true;
}

/* One escape at p[0] == '\\', before end, into out; returns the bytes of
 * text it took, 0 if declined. */
static size_t sc_escape(const char *p, const char *end, char *out, size_t *n) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (end - p < 2)
        return 0;
    char e = p[1];
    const char *f = e ? strchr(from, e) : NULL;
    if (f) {
        out[0] = to[f - from], *n = 1;
        return 2;
    }
    return e == 'u' && sc_unicode(p + 1, end, out, n) ? 6 : 0;
}

/* A string value, decoded into the arena: *out is NUL-terminated. */
static bool sc_string(struct scan *sc, const char **out) {
    if (!rt_jscan_take(&sc->c, '"'))
        return false;
    /* The decoded text is never longer than its JSON text, quotes included. */
    const char *end = sc->c.end;
    if ((size_t)(end - sc->c.p) + 1 > sc->cap - sc->used)
        return false;
    char *d = sc->arena + sc->used;
    size_t n = 0;
    for (const char *p = sc->c.p; p < end;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            d[n] = '\0';
            sc->used += n + 1;
            sc->c.p = p + 1;
            *out = d;
            return true;
        }
        if (c < 0x20 || c >= 0x80)
            return false;
        if (c != '\\') {
            d[n++] = (char)c, p++;
            continue;
        }
        size_t got, took = sc_escape(p, end, d + n, &got);
        if (!took)
            return false;
        n += got, p += took;
    }
    return false;
}

static bool label_member(struct rt_jscan *c, struct rt_jscan_text key, void *ud) {
    (void)key; /* kept by rt_jscan_object() in l->name */
    struct fast_labels *l = ud;
    const char *value;
    if (!sc_string((struct scan *)c, &value))
        return false;
    l->value[l->n++] = value;
    return true;
}

/* {"name": "value", ...}: distinct names, string values. Into *l if not NULL. */
static bool sc_string_map(struct scan *sc, struct fast_labels *l) {
    struct fast_labels scratch;
    if (!l)
        l = &scratch;
    l->n = 0;
    struct rt_jscan_keys names = {l->name, 0, FAST_MAX_LABELS};
    return rt_jscan_object(&sc->c, &names, label_member, l);
}

static const char *fast_label_of(const char *name, void *userdata) {
    const struct fast_labels *l = userdata;
    for (size_t j = 0; j < l->n; j++)
        if (rt_jscan_text_is(l->name[j], name))
            return l->value[j];
    return NULL;
}

/* The webhook checks of a time field, on its decoded text. */
static bool fast_time(const char *s, bool *has, int64_t *us) {
    if (rt_time_parse(s, us) < 0)
        return false;
    *has = *us != go_zero_time_us();
    return true;
}

enum { AF_STATUS, AF_LABELS, AF_ANNOTATIONS, AF_STARTS, AF_ENDS, AF_URL, AF_FINGERPRINT, AF_COUNT };
static const char *const alert_fields[AF_COUNT] = {"status",   "labels",       "annotations", "startsAt",
                                                   "endsAt",   "generatorURL", "fingerprint"};
#define AF_REQUIRED (1u << AF_STATUS | 1u << AF_LABELS | 1u << AF_STARTS | 1u << AF_ENDS | 1u << AF_FINGERPRINT)

struct fast_alert {
    struct rt_am_alert a;
    struct fast_labels labels;
    bool has_start;
};

static bool alert_member(struct rt_jscan *c, size_t which, void *ud) {
    struct scan *sc = (struct scan *)c;
    struct fast_alert *fa = ud;
    const char *s;
    switch (which) {
    case AF_LABELS: return sc_string_map(sc, &fa->labels);
    case AF_ANNOTATIONS: return sc_string_map(sc, NULL);
    case AF_URL: return sc_string(sc, &s);
    }
    if (!sc_string(sc, &s))
        return false;
    switch (which) {
    case AF_STATUS:
        fa->a.firing = strcmp(s, "firing") == 0;
        return fa->a.firing || strcmp(s, "resolved") == 0;
    case AF_STARTS: return fast_time(s, &fa->has_start, &fa->a.starts_at_us);
    case AF_ENDS: return fast_time(s, &fa->a.has_ends_at, &fa->a.ends_at_us);
    default: /* AF_FINGERPRINT */
        if (!rt_am_fingerprint_valid(s))
            return false;
        for (size_t i = 0; s[i]; i++)
            fa->a.fingerprint[i] = (char)tolower((unsigned char)s[i]);
        return true;
    }
}

struct fast_webhook {
    const struct rt_am_config *cfg;
    struct rt_am_webhook *out;
    size_t cap;              /* of out->list.alerts */
    int rc;                  /* -ENOMEM when keeping an alert failed */
    const char *receiver, *group_key;
};

/* One alert of the array, classified and kept or counted at once. */
static bool sc_alert(struct rt_jscan *c, size_t i, void *ud) {
    (void)i;
    struct fast_webhook *fw = ud;
    struct fast_alert fa;
    memset(&fa.a, 0, sizeof fa.a);
    fa.labels.n = 0;
    fa.has_start = false;
    uint32_t seen;
    if (!rt_jscan_named_object(c, alert_fields, AF_COUNT, alert_member, &fa, &seen))
        return false;
    if ((seen & AF_REQUIRED) != AF_REQUIRED || !fa.has_start || (!fa.a.firing && !fa.a.has_ends_at))
        return false;
    struct rt_am_alert_list *l = &fw->out->list;
    if (l->n_received == RT_AM_MAX_ALERTS)
        return false;
    l->n_received++;
    fw->rc = keep_or_count(fw->cfg, fast_label_of, &fa.labels, &fa.a, l, &fw->cap);
    return fw->rc == 0;
}

/* truncatedAlerts: digits without a leading zero, at most 18 of them (no
 * sign, fraction or exponent: those are jansson's to judge). */
static bool sc_count(struct rt_jscan *c, int64_t *out) {
    rt_jscan_ws(c);
    const char *k = c->p;
    size_t digits = 0;
    int64_t v = 0;
    for (; k < c->end && *k >= '0' && *k <= '9'; k++, digits++) {
        if (digits == 18)
            return false;
        v = v * 10 + (*k - '0');
    }
    if (digits == 0 || (digits > 1 && *c->p == '0'))
        return false;
    c->p = k;
    *out = v;
    return true;
}

enum { WF_RECEIVER, WF_STATUS, WF_ALERTS, WF_GROUP_LABELS, WF_COMMON_LABELS, WF_COMMON_ANNOTATIONS,
       WF_EXTERNAL_URL, WF_VERSION, WF_GROUP_KEY, WF_TRUNCATED, WF_COUNT };
static const char *const webhook_fields[WF_COUNT] = {
    "receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
    "version", "groupKey", "truncatedAlerts"};
#define WF_REQUIRED (1u << WF_STATUS | 1u << WF_ALERTS | 1u << WF_VERSION)

static bool webhook_member(struct rt_jscan *c, size_t which, void *ud) {
    struct scan *sc = (struct scan *)c;
    struct fast_webhook *fw = ud;
    const char *s;
    switch (which) {
    case WF_ALERTS: return rt_jscan_array(c, sc_alert, fw);
    case WF_GROUP_LABELS:
    case WF_COMMON_LABELS:
    case WF_COMMON_ANNOTATIONS: return sc_string_map(sc, NULL);
    case WF_TRUNCATED: return sc_count(c, &fw->out->truncated_alerts);
    case WF_RECEIVER: return sc_string(sc, &fw->receiver);
    case WF_GROUP_KEY: return sc_string(sc, &fw->group_key);
    }
    if (!sc_string(sc, &s))
        return false;
    switch (which) {
    case WF_STATUS:
        fw->out->firing = strcmp(s, "firing") == 0;
        return fw->out->firing || strcmp(s, "resolved") == 0;
    case WF_VERSION: return strcmp(s, "4") == 0;
    default: return true; /* WF_EXTERNAL_URL */
    }
}

/* The whole payload: 0, RT_AM_EUNUSABLE, -ENOMEM, or FAST_DECLINED. */
static int webhook_scan(struct scan *sc, const struct rt_am_config *cfg, struct rt_am_webhook *out, char *err,
                        size_t errlen) {
    struct fast_webhook fw = {.cfg = cfg, .out = out};
    uint32_t seen;
    bool ok = rt_jscan_named_object(&sc->c, webhook_fields, WF_COUNT, webhook_member, &fw, &seen);
    if (fw.rc < 0)
        return fail(err, errlen, fw.rc, "out of memory");
    rt_jscan_ws(&sc->c);
    if (!ok || sc->c.p != sc->c.end || (seen & WF_REQUIRED) != WF_REQUIRED)
        return FAST_DECLINED;
    out->version = 4;
    copy_cut(out->receiver, sizeof out->receiver, fw.receiver ? fw.receiver : "");
    copy_cut(out->group_key, sizeof out->group_key, fw.group_key ? fw.group_key : "");
    if (out->list.n_alerts == 0)
        return unusable(&out->list, cfg->bot_label, err, errlen);
    return 0;
}

static int webhook_fast(const char *body, size_t len, const struct rt_am_config *cfg, struct rt_am_webhook *out,
                        char *err, size_t errlen) {
    if (!body || len > RT_AM_MAX_BODY)
        return FAST_DECLINED;
    char stack[FAST_STACK];
    _cleanup_free_ char *heap = NULL;
    struct scan sc = {.c = {body, body + len}, .arena = stack, .cap = sizeof stack};
    if (len + 1 > sizeof stack) {
        heap = malloc(len + 1);
        if (!heap)
            return fail(err, errlen, -ENOMEM, "out of memory");
        sc.arena = heap;
        sc.cap = len + 1;
    }
    return webhook_scan(&sc, cfg, out, err, errlen);
}

void rt_am_webhook_free(struct rt_am_webhook *w) {
    if (w)
        rt_am_alert_list_free(&w->list);
}

void rt_am_alert_list_free(struct rt_am_alert_list *l) {
    if (!l)
        return;
    free(l->alerts);
    l->alerts = NULL;
    l->n_alerts = 0;
}

/* --------------------------------------------------------- /api/v2/alerts */

static int parse_api_status(const struct at *at, json_t *o, struct rt_am_alert *a) {
    json_t *st = json_object_get(o, "status");
    if (!st)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sstatus: missing", at->prefix);
    if (!json_is_object(st))
        return bad_type(at, "status", "an object", st);
    char sub[48];
    snprintf(sub, sizeof sub, "%sstatus.", at->prefix);
    struct at sat = {.prefix = sub, .err = at->err, .errlen = at->errlen};
    const char *state;
    int r = get_string(&sat, st, "state", true, &state);
    if (r < 0)
        return r;
    if (strcmp(state, "active") == 0)
        a->state = RT_AM_STATE_ACTIVE;
    else if (strcmp(state, "suppressed") == 0)
        a->state = RT_AM_STATE_SUPPRESSED;
    else if (strcmp(state, "unprocessed") == 0)
        a->state = RT_AM_STATE_UNPROCESSED;
    else
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sstate: expected active, suppressed or unprocessed", sub);
    size_t n_silenced, n_inhibited;
    if ((r = check_string_array(&sat, st, "silencedBy", true, &n_silenced)) < 0 ||
        (r = check_string_array(&sat, st, "inhibitedBy", true, &n_inhibited)) < 0)
        return r;
    a->silenced = n_silenced > 0;
    a->inhibited = n_inhibited > 0;
    return 0;
}

/* The API writes times truncated to the millisecond, so an alert listed as
 * starting at .682 may have started as late as .682999999 (the webhook has
 * its nanoseconds). A window that a poll opens must not start before the
 * alert did, or the demotion would come early: take the last microsecond
 * the text allows (us parsed from s, a valid RFC 3339 time). */
static int64_t latest_us(const char *s, int64_t us) {
    const char *frac = strchr(s, '.');
    size_t digits = frac ? strspn(frac + 1, "0123456789") : 0;
    int64_t unit = 1;
    for (size_t i = digits; i < 6; i++)
        unit *= 10;
    return us + unit - 1;
}

static int parse_api_alert(const struct at *at, json_t *o, struct rt_am_alert *a, json_t **labels) {
    memset(a, 0, sizeof *a);
    a->firing = true;
    const char *url;
    bool has_start;
    int r;
    if ((r = check_string_map(at, o, "labels", true, labels)) < 0 ||
        (r = check_string_map(at, o, "annotations", false, NULL)) < 0 ||
        (r = get_time(at, o, "startsAt", true, &has_start, &a->starts_at_us)) < 0 ||
        (r = get_time(at, o, "endsAt", true, &a->has_ends_at, &a->ends_at_us)) < 0 ||
        (r = get_time(at, o, "updatedAt", false, &a->has_updated_at, &a->updated_at_us)) < 0 ||
        (r = get_string(at, o, "generatorURL", false, &url)) < 0 ||
        (r = get_fingerprint(at, o, a->fingerprint)) < 0 || (r = parse_api_status(at, o, a)) < 0)
        return r;
    json_t *recv = json_object_get(o, "receivers");
    if (recv && !json_is_array(recv))
        return bad_type(at, "receivers", "an array", recv);
    if (!has_start)
        return fail(at->err, at->errlen, RT_AM_EBADREQ, "%sstartsAt: zero time", at->prefix);
    a->starts_at_us = latest_us(json_string_value(json_object_get(o, "startsAt")), a->starts_at_us);
    return 0;
}

static int alerts_parse(const char *body, size_t len, const struct rt_am_config *cfg, struct rt_am_alert_list *out,
                        char *err, size_t errlen) {
    int r = 0;
    _cleanup_(json_put) json_t *root = load(body, len, err, errlen, &r);
    if (!root)
        return r;
    if (!json_is_array(root))
        return fail(err, errlen, RT_AM_EBADREQ, "response: expected an array, got %s", rt_json_type_name(root));
    if (json_array_size(root) > RT_AM_API_MAX_ALERTS)
        return fail(err, errlen, RT_AM_EBADREQ, "response: more than %d alerts", RT_AM_API_MAX_ALERTS);
    size_t i, cap = 0;
    json_t *o;
    json_array_foreach(root, i, o) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "[%zu].", i);
        struct at at = {.prefix = prefix, .err = err, .errlen = errlen};
        if (!json_is_object(o))
            return fail(err, errlen, RT_AM_EBADREQ, "[%zu]: expected an object, got %s", i, rt_json_type_name(o));
        struct rt_am_alert a;
        json_t *labels;
        if ((r = parse_api_alert(&at, o, &a, &labels)) < 0)
            return r;
        out->n_received++;
        if ((r = keep_or_count(cfg, label_of, labels, &a, out, &cap)) < 0)
            return fail(err, errlen, r, "out of memory");
    }
    return 0;
}

/* --------------------------------------------------------- /api/v2/status */

static int status_parse(const char *body, size_t len, int64_t *started_us, char *err, size_t errlen) {
    int r = 0;
    _cleanup_(json_put) json_t *root = load(body, len, err, errlen, &r);
    if (!root)
        return r;
    if (!json_is_object(root))
        return fail(err, errlen, RT_AM_EBADREQ, "response: expected an object, got %s", rt_json_type_name(root));
    struct at at = {.prefix = "", .err = err, .errlen = errlen};
    bool has;
    if ((r = get_time(&at, root, "uptime", true, &has, started_us)) < 0)
        return r;
    if (!has)
        return fail(err, errlen, RT_AM_EBADREQ, "uptime: zero time");
    return 0;
}

/* Messages quote input (keys, versions, jansson's "near '...'"), possibly cut
 * inside a UTF-8 sequence; keep them printable ASCII so that any JSON encoder
 * accepts them in an error body. */
static void ascii_only(char *err, size_t errlen) {
    for (size_t i = 0; err && i < errlen && err[i]; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            err[i] = '?';
}

static int webhook_parse_with(const char *body, size_t len, const struct rt_am_config *cfg, struct rt_am_webhook *out,
                              char *err, size_t errlen, bool fast) {
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    int r = fast ? webhook_fast(body, len, cfg, out, err, errlen) : FAST_DECLINED;
    if (r == FAST_DECLINED) {
        rt_am_webhook_free(out);
        memset(out, 0, sizeof *out);
        r = webhook_parse(body, len, cfg, out, err, errlen);
    }
    ascii_only(err, errlen);
    return r;
}

int rt_am_webhook_parse(const char *body, size_t len, const struct rt_am_config *cfg, struct rt_am_webhook *out,
                        char *err, size_t errlen) {
    return webhook_parse_with(body, len, cfg, out, err, errlen, true);
}

int rt_am_webhook_parse_jansson(const char *body, size_t len, const struct rt_am_config *cfg,
                                struct rt_am_webhook *out, char *err, size_t errlen) {
    return webhook_parse_with(body, len, cfg, out, err, errlen, false);
}

int rt_am_alerts_parse(const char *body, size_t len, const struct rt_am_config *cfg, struct rt_am_alert_list *out,
                       char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    int r = alerts_parse(body, len, cfg, out, err, errlen);
    ascii_only(err, errlen);
    return r;
}

int rt_am_status_parse(const char *body, size_t len, int64_t *started_us, char *err, size_t errlen) {
    *started_us = 0;
    if (err && errlen)
        err[0] = '\0';
    int r = status_parse(body, len, started_us, err, errlen);
    if (r < 0)
        *started_us = 0;
    ascii_only(err, errlen);
    return r;
}

/* ------------------------------------------------------------------- names */

const char *rt_am_ignore_name(enum rt_am_ignore r) {
    switch (r) {
    case RT_AM_IGN_NOT_P0: return "not_p0";
    case RT_AM_IGN_NO_BOT: return "no_bot";
    case RT_AM_IGN_BAD_BOT: return "bad_bot";
    case RT_AM_IGN_COUNT: break;
    }
    return "?";
}

const char *rt_am_state_name(enum rt_am_state s) {
    switch (s) {
    case RT_AM_STATE_NONE: return "none";
    case RT_AM_STATE_ACTIVE: return "active";
    case RT_AM_STATE_SUPPRESSED: return "suppressed";
    case RT_AM_STATE_UNPROCESSED: return "unprocessed";
    }
    return "?";
}
