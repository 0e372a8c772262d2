#include "common/jsoncheck.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/jsonpos.h"
#include "common/rtime.h"

/* ---- paths ---- */

struct rt_jpath rt_jpath_key(const struct rt_jpath *p, const char *key) {
    struct rt_jpath c = *p;
    if (c.n < RT_JPATH_MAX)
        c.seg[c.n++] = (struct rt_jseg){.key = key};
    return c;
}

struct rt_jpath rt_jpath_index(const struct rt_jpath *p, size_t index) {
    struct rt_jpath c = *p;
    if (c.n < RT_JPATH_MAX)
        c.seg[c.n++] = (struct rt_jseg){.index = index};
    return c;
}

void rt_jpath_format(const struct rt_jpath *p, char *buf, size_t size) {
    if (size == 0)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < p->n && used < size; i++) {
        int w;
        if (p->seg[i].key)
            w = snprintf(buf + used, size - used, "%s%s", i > 0 ? "." : "", rt_jshow(p->seg[i].key).s);
        else
            w = snprintf(buf + used, size - used, "[%zu]", p->seg[i].index);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

/* ---- messages ---- */

struct rt_jshown rt_jshow(const char *s) {
    struct rt_jshown out;
    size_t n = 0;
    for (; s[n] && n < RT_JSHOW_MAX; n++) {
        unsigned char c = (unsigned char)s[n];
        out.s[n] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
    }
    if (s[n]) {
        /* Do not cut a UTF-8 sequence: back off while the first byte left
         * out continues the previous character. */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        memcpy(out.s + n, "...", 3);
        n += 3;
    }
    out.s[n] = '\0';
    return out;
}

const char *rt_json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* ---- error collection ---- */

static void set_error(struct rt_policy_error *e, int line, int column, const char *fmt, va_list ap)
    _printf_(4, 0);
static void set_error(struct rt_policy_error *e, int line, int column, const char *fmt, va_list ap) {
    e->line = line;
    e->column = column;
    vsnprintf(e->text, sizeof e->text, fmt, ap);
}

static void locate(const struct rt_jcheck *c, const struct rt_jpath *p, enum rt_jat where, int *line,
                   int *column) {
    char idx[RT_JPATH_MAX][24];
    const char *segs[RT_JPATH_MAX];
    for (size_t i = 0; i < p->n; i++) {
        if (p->seg[i].key) {
            segs[i] = p->seg[i].key;
        } else {
            snprintf(idx[i], sizeof idx[i], "%zu", p->seg[i].index);
            segs[i] = idx[i];
        }
    }
    struct rt_jsonpos key, value;
    *line = *column = 0;
    if (rt_jsonpos_find(c->text, c->len, segs, p->n, &key, &value) == 0) {
        *line = where == RT_JAT_KEY ? key.line : value.line;
        *column = where == RT_JAT_KEY ? key.column : value.column;
    }
}

void rt_jcheck_error(struct rt_jcheck *c, const struct rt_jpath *p, enum rt_jat where, const char *fmt, ...) {
    if (c->errs->n >= RT_POLICY_MAX_ERRORS) {
        c->overflow = true;
        return;
    }
    int line, column;
    locate(c, p, where, &line, &column);
    va_list ap;
    va_start(ap, fmt);
    set_error(&c->errs->e[c->errs->n++], line, column, fmt, ap);
    va_end(ap);
}

void rt_jcheck_error_nopos(struct rt_policy_errors *errs, const char *fmt, ...) {
    if (errs->n >= RT_POLICY_MAX_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    set_error(&errs->e[errs->n++], 0, 0, fmt, ap);
    va_end(ap);
}

static void sort_errors(struct rt_policy_errors *errs) {
    /* Insertion sort: stable, and n is at most RT_POLICY_MAX_ERRORS. */
    for (size_t i = 1; i < errs->n; i++) {
        struct rt_policy_error e = errs->e[i];
        size_t j = i;
        while (j > 0 && (errs->e[j - 1].line > e.line ||
                         (errs->e[j - 1].line == e.line && errs->e[j - 1].column > e.column))) {
            errs->e[j] = errs->e[j - 1];
            j--;
        }
        errs->e[j] = e;
    }
}

int rt_jcheck_finish(struct rt_jcheck *c) {
    sort_errors(c->errs);
    if (c->overflow) {
        struct rt_policy_error *last = &c->errs->e[RT_POLICY_MAX_ERRORS - 1];
        last->line = last->column = 0;
        snprintf(last->text, sizeof last->text, "too many errors; only the first %d are shown",
                 RT_POLICY_MAX_ERRORS - 1);
    }
    return c->errs->n > 0 ? -EINVAL : 0;
}

void rt_jcheck_print_errors(FILE *f, const char *path, const struct rt_policy_errors *errs, int r) {
    for (size_t i = 0; i < errs->n; i++) {
        if (errs->e[i].line > 0)
            fprintf(f, "%s:%d:%d: %s\n", path, errs->e[i].line, errs->e[i].column, errs->e[i].text);
        else
            fprintf(f, "%s: %s\n", path, errs->e[i].text);
    }
    if (errs->n == 0)
        fprintf(f, "%s: %s\n", path, strerror(-r));
}

/* ---- loading ---- */

json_t *rt_jcheck_parse(const char *text, size_t len, size_t max_bytes, const char *what,
                        struct rt_policy_errors *errs) {
    errs->n = 0;
    if (!text && len > 0) {
        rt_jcheck_error_nopos(errs, "no %s text", what);
        return NULL;
    }
    if (len > max_bytes) {
        rt_jcheck_error_nopos(errs, "%s is larger than %zu bytes", what, max_bytes);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root)
        return root;
    /* jansson stops at the first syntax error; its column is that of the
     * token's last character, and 0 at the very start of a line. */
    struct rt_policy_error *e = &errs->e[0];
    e->line = jerr.line > 0 ? jerr.line : 1;
    e->column = jerr.column > 0 ? jerr.column : 1;
    snprintf(e->text, sizeof e->text, "%s", jerr.text);
    for (char *t = e->text; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            *t = '?';
    errs->n = 1;
    return NULL;
}

int rt_jcheck_read_file(const char *path, size_t max_bytes, const char *what, char **text, size_t *len,
                        struct rt_policy_errors *errs) {
    errs->n = 0;
    int r = rt_read_file_bounded(path, max_bytes, text, len);
    if (r == -EFBIG) {
        rt_jcheck_error_nopos(errs, "%s is larger than %zu bytes", what, max_bytes);
        return r;
    }
    if (r < 0) {
        char buf[128];
        rt_jcheck_error_nopos(errs, "cannot read: %s", strerror_r(-r, buf, sizeof buf));
        return r;
    }
    return 0;
}

/* ---- value checks ---- */

bool rt_jcheck_version(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v, json_int_t supported) {
    if (!json_is_integer(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"version\" must be the integer %" JSON_INTEGER_FORMAT ", not %s",
                        supported, rt_json_type_name(v));
        return false;
    }
    if (json_integer_value(v) != supported) {
        rt_jcheck_error(c, p, RT_JAT_VALUE,
                        "unsupported \"version\" %" JSON_INTEGER_FORMAT
                        " (this ratchet reads version %" JSON_INTEGER_FORMAT ")",
                        json_integer_value(v), supported);
        return false;
    }
    return true;
}

bool rt_jcheck_object(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v, const char *what) {
    if (json_is_object(v))
        return true;
    rt_jcheck_error(c, p, RT_JAT_VALUE, "%s must be an object, not %s", what, rt_json_type_name(v));
    return false;
}

bool rt_jcheck_array(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                     size_t min, size_t max) {
    if (!json_is_array(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be an array, not %s", key, rt_json_type_name(v));
        return false;
    }
    size_t n = json_array_size(v);
    if (n < min || n > max) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must have %zu to %zu entries, not %zu", key, min, max, n);
        return false;
    }
    return true;
}

bool rt_jcheck_bool(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v, bool *out) {
    if (!json_is_boolean(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be true or false, not %s", key, rt_json_type_name(v));
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool rt_jcheck_number(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                      double *out) {
    if (!json_is_number(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be a number, not %s", key, rt_json_type_name(v));
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be a finite number", key);
        return false;
    }
    *out = d;
    return true;
}

bool rt_jcheck_integer(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                       json_int_t min, json_int_t max, json_int_t *out) {
    if (!json_is_integer(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be an integer, not %s", key, rt_json_type_name(v));
        return false;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        rt_jcheck_error(c, p, RT_JAT_VALUE,
                        "\"%s\" must be between %" JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT
                        ", not %" JSON_INTEGER_FORMAT,
                        key, min, max, i);
        return false;
    }
    *out = i;
    return true;
}

static bool has_control_char(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool rt_jcheck_string(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                      size_t max_len, const char **out) {
    if (!json_is_string(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be a string, not %s", key, rt_json_type_name(v));
        return false;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must not be empty", key);
        return false;
    }
    if (len > max_len) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" is longer than %zu bytes", key, max_len);
        return false;
    }
    /* jansson refuses \u0000 by default, so strlen(s) == len. */
    if (has_control_char(s)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must not contain control characters", key);
        return false;
    }
    *out = s;
    return true;
}

bool rt_jcheck_duration(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                        int64_t min_us, int64_t max_us, int64_t *out) {
    if (!json_is_string(v)) {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be a duration string such as \"24h\" or \"15m\", not %s",
                        key, rt_json_type_name(v));
        return false;
    }
    const char *s = json_string_value(v);
    int64_t us;
    int r = rt_duration_parse(s, &us);
    if (r == -EINVAL) {
        rt_jcheck_error(c, p, RT_JAT_VALUE,
                        "\"%s\": invalid duration \"%s\" (use e.g. 500ms, 90s, 15m, 24h, 1h30m, 7d)", key,
                        rt_jshow(s).s);
        return false;
    }
    if (r < 0 || us < min_us || us > max_us) {
        char lo[RT_DURATION_BUFSZ], hi[RT_DURATION_BUFSZ];
        rt_duration_format(min_us, lo);
        rt_duration_format(max_us, hi);
        if (min_us <= 1)
            rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\": duration \"%s\" must be greater than 0 and at most %s",
                            key, rt_jshow(s).s, hi);
        else
            rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\": duration \"%s\" must be between %s and %s", key,
                            rt_jshow(s).s, lo, hi);
        return false;
    }
    *out = us;
    return true;
}

/* "\"a\", \"b\" or \"c\"" */
void rt_jchoices(const char *const *names, size_t n, char *buf, size_t size) {
    size_t total = 0, shown = 0, used = 0;
    if (size == 0)
        return;
    for (size_t i = 0; i < n; i++)
        total += names[i] != NULL;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        if (!names[i])
            continue;
        const char *sep = shown == 0 ? "" : shown + 1 == total ? " or " : ", ";
        int w = snprintf(buf + used, size - used, "%s\"%s\"", sep, names[i]);
        if (w < 0)
            return;
        used += (size_t)w;
        shown++;
    }
}

bool rt_jcheck_enum(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                    const char *const *names, size_t n, int *out) {
    for (size_t i = 0; json_is_string(v) && i < n; i++) {
        if (names[i] && strcmp(json_string_value(v), names[i]) == 0) {
            *out = (int)i;
            return true;
        }
    }
    char choices[160];
    rt_jchoices(names, n, choices, sizeof choices);
    if (json_is_string(v))
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be %s, not \"%s\"", key, choices,
                        rt_jshow(json_string_value(v)).s);
    else
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be %s, not %s", key, choices, rt_json_type_name(v));
    return false;
}

void rt_jcheck_unknown_key(struct rt_jcheck *c, const struct rt_jpath *kp, const char *key, const char *context,
                           const char *allowed) {
    if (context)
        rt_jcheck_error(c, kp, RT_JAT_KEY, "unknown key \"%s\" in %s (allowed: %s)", rt_jshow(key).s, context,
                        allowed);
    else
        rt_jcheck_error(c, kp, RT_JAT_KEY, "unknown key \"%s\" (allowed: %s)", rt_jshow(key).s, allowed);
}

static void format_keys(const struct rt_jfield *fields, size_t n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", fields[i].key);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

bool rt_jcheck_fields(struct rt_jcheck *c, const struct rt_jpath *p, json_t *v, struct rt_jfield *fields,
                      size_t n) {
    char name[96], context[100];
    rt_jpath_format(p, name, sizeof name);
    snprintf(context, sizeof context, "\"%s\"", name);
    for (size_t i = 0; i < n; i++)
        fields[i].value = NULL;
    if (!rt_jcheck_object(c, p, v, p->n > 0 ? context : "the document"))
        return false;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        size_t i = 0;
        while (i < n && strcmp(key, fields[i].key) != 0)
            i++;
        if (i < n) {
            fields[i].value = val;
            continue;
        }
        char allowed[160];
        format_keys(fields, n, allowed, sizeof allowed);
        struct rt_jpath kp = rt_jpath_key(p, key);
        rt_jcheck_unknown_key(c, &kp, key, p->n > 0 ? context : NULL, allowed);
    }
    for (size_t i = 0; i < n; i++) {
        if (!fields[i].required || fields[i].value)
            continue;
        if (p->n > 0)
            rt_jcheck_error(c, p, RT_JAT_VALUE, "missing required key \"%s\" in %s", fields[i].key, context);
        else
            rt_jcheck_error(c, p, RT_JAT_VALUE, "missing required key \"%s\"", fields[i].key);
    }
    return true;
}

void rt_jcheck_copy(const char *s, char **out, int *err) {
    char *copy = strdup(s);
    if (!copy) {
        *err = -ENOMEM;
        return;
    }
    free(*out);
    *out = copy;
}

bool rt_jcheck_take_string(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                           size_t max_len, char **out, int *err) {
    const char *s;
    if (!rt_jcheck_string(c, p, key, v, max_len, &s))
        return false;
    rt_jcheck_copy(s, out, err);
    return true;
}

bool rt_jcheck_take_path(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                         size_t max_len, char **out, int *err) {
    const char *s;
    if (!rt_jcheck_string(c, p, key, v, max_len, &s))
        return false;
    if (s[0] != '/') {
        rt_jcheck_error(c, p, RT_JAT_VALUE, "\"%s\" must be an absolute path, not \"%s\"", key, rt_jshow(s).s);
        return false;
    }
    rt_jcheck_copy(s, out, err);
    return true;
}

static void *json_malloc_or_abort(size_t n) {
    void *p = malloc(n);
    if (!p && n > 0) {
        static const char msg[] = "ratchet: out of memory inside jansson: aborting (see rt_json_alloc_init)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
    return p;
}

void rt_json_alloc_init(void) { json_set_alloc_funcs(json_malloc_or_abort, free); }
