/* Strict validation of JSON documents with positions: the shared machinery
 * of the policy parser (policy/policy.c) and the watchdog's configuration
 * parser (watchdog/config.c).
 *
 * jansson parses the text (rejecting duplicate keys); a validator then walks
 * the tree, keeping the path of the value it looks at in a struct rt_jpath.
 * Every problem is recorded in a struct rt_policy_errors with the line and
 * column of the offending key or value, which common/jsonpos.c finds by
 * re-scanning the text. After the walk, rt_jcheck_finish() sorts the errors
 * by position and marks an overflow with a final "too many errors" note.
 *
 * Errors use the policy's error type (one type for every strict JSON file,
 * so one printer serves them all). Messages quote keys and strings from the
 * file through rt_jshow(): at most 40 characters, no control characters.
 * The helpers record an error and return false when the value does not
 * qualify; they never store into *out then. */
#ifndef RATCHET_JSONCHECK_H
#define RATCHET_JSONCHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/util.h"
#include "policy/policy.h" /* struct rt_policy_errors, RT_POLICY_MAX_ERRORS */

/* Deepest path a validator keeps; deeper segments are dropped, so an error
 * there is positioned at its deepest kept ancestor. */
#define RT_JPATH_MAX 8

/* One step: an object key (key != NULL) or an array index. */
struct rt_jseg {
    const char *key; /* borrowed from the json_t tree */
    size_t index;
};

struct rt_jpath {
    struct rt_jseg seg[RT_JPATH_MAX];
    size_t n;
};

/* The path of a member or element below p (p itself is not changed). */
struct rt_jpath rt_jpath_key(const struct rt_jpath *p, const char *key);
struct rt_jpath rt_jpath_index(const struct rt_jpath *p, size_t index);

/* "listen[0].tls", "auth.basic"; "" for the root. Truncated to fit. */
void rt_jpath_format(const struct rt_jpath *p, char *buf, size_t size);

/* Where an error points: the member's key or the first character of its value. */
enum rt_jat { RT_JAT_KEY, RT_JAT_VALUE };

/* One validation run over one text. */
struct rt_jcheck {
    const char *text;
    size_t len;
    struct rt_policy_errors *errs;
    bool overflow; /* more errors than fit */
};

#define RT_JSHOW_MAX 40
struct rt_jshown {
    char s[RT_JSHOW_MAX + 4];
};
/* s cut to RT_JSHOW_MAX bytes (at a UTF-8 boundary, with "..."), with
 * control characters, quotes and backslashes replaced by '?'. */
struct rt_jshown rt_jshow(const char *s);

/* "an object", "a string", "an integer", "a number", "true", "null", ... */
const char *rt_json_type_name(const json_t *v);

void rt_jcheck_error(struct rt_jcheck *c, const struct rt_jpath *p, enum rt_jat where, const char *fmt, ...)
    _printf_(4, 5);
/* An error without position (size, I/O): line and column 0. */
void rt_jcheck_error_nopos(struct rt_policy_errors *errs, const char *fmt, ...) _printf_(2, 3);
/* Sort by position and replace the last entry with the overflow note if
 * needed. Returns 0 if no error was recorded, else -EINVAL. */
int rt_jcheck_finish(struct rt_jcheck *c);

/* Print errors as "FILE:LINE:COL: message" ("FILE: message" without a
 * position); with no recorded error, "FILE: strerror(-r)". */
void rt_jcheck_print_errors(FILE *f, const char *path, const struct rt_policy_errors *errs, int r);

/* Parse text of at most max_bytes with duplicate keys rejected. On failure
 * returns NULL with one error in errs: the size ("WHAT is larger than N
 * bytes") or jansson's syntax error at jansson's position. errs->n is reset. */
json_t *rt_jcheck_parse(const char *text, size_t len, size_t max_bytes, const char *what,
                        struct rt_policy_errors *errs);

/* Read a whole file of at most max_bytes. Failures are recorded without
 * position ("WHAT is larger than N bytes", "cannot read: ...") and returned
 * as negative errno. errs->n is reset. */
int rt_jcheck_read_file(const char *path, size_t max_bytes, const char *what, char **text, size_t *len,
                        struct rt_policy_errors *errs);

/* ---- value checks; `key` names the member in messages ---- */

/* "version": must be the integer `supported`. */
bool rt_jcheck_version(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v, json_int_t supported);
/* what: a noun phrase for the message "WHAT must be an object, not ...". */
bool rt_jcheck_object(struct rt_jcheck *c, const struct rt_jpath *p, const json_t *v, const char *what);
/* An array of min..max elements. */
bool rt_jcheck_array(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                     size_t min, size_t max);
bool rt_jcheck_bool(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v, bool *out);
/* A finite number (integer or real). */
bool rt_jcheck_number(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                      double *out);
/* An integer (not a real such as 1.0) in min..max. */
bool rt_jcheck_integer(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                       json_int_t min, json_int_t max, json_int_t *out);
/* A non-empty string of at most max_len bytes without control characters.
 * *out points into v. */
bool rt_jcheck_string(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                      size_t max_len, const char **out);
/* A duration string (rt_duration_parse) in min_us..max_us; min_us <= 1
 * means "greater than 0". */
bool rt_jcheck_duration(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                        int64_t min_us, int64_t max_us, int64_t *out);
/* "\"a\", \"b\" or \"c\"" for messages; NULL names are skipped. Truncated to fit. */
void rt_jchoices(const char *const *names, size_t n, char *buf, size_t size);
/* One of names[0..n) (NULL entries are skipped); *out is its index. */
bool rt_jcheck_enum(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                    const char *const *names, size_t n, int *out);

/* "unknown key "KEY" in CONTEXT (allowed: ALLOWED)" at the key; context
 * NULL leaves out " in CONTEXT". kp is the path of the member itself. */
void rt_jcheck_unknown_key(struct rt_jcheck *c, const struct rt_jpath *kp, const char *key, const char *context,
                           const char *allowed);

/* ---- copies into configuration structs ----
 * A failed allocation sets *err to -ENOMEM and keeps the old value. */
void rt_jcheck_copy(const char *s, char **out, int *err);
/* A string (as rt_jcheck_string) copied into *out; false if invalid. */
bool rt_jcheck_take_string(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                           size_t max_len, char **out, int *err);
/* An absolute path of at most max_len bytes copied into *out; false if invalid. */
bool rt_jcheck_take_path(struct rt_jcheck *c, const struct rt_jpath *p, const char *key, const json_t *v,
                         size_t max_len, char **out, int *err);

/* The keys an object may have. */
struct rt_jfield {
    const char *key;
    bool required;
    json_t *value; /* filled by rt_jcheck_fields(): the member, or NULL */
};

/* Checks that v (at p) is an object whose keys are all among fields[0..n),
 * and that the required ones are present; fills fields[i].value. Unknown keys
 * are reported with the allowed ones, missing keys at the object's opening
 * brace; both name the object by its path ("in \"listen[0].tls\""), except
 * at the root. Returns false only if v is not an object. */
bool rt_jcheck_fields(struct rt_jcheck *c, const struct rt_jpath *p, json_t *v, struct rt_jfield *fields,
                      size_t n);

/* jansson 2.14 does not survive a failed allocation inside json_loadb():
 * its lexer drops the byte it could not save and goes on, which yields a
 * wrong string or an assert() or a read past its buffer (load.c, lex_save).
 * Every ratchet program therefore makes a failed jansson allocation fatal:
 * the daemon is restarted by systemd and the sender retries, instead of a
 * half-parsed document being acted on. Call first thing in main(). */
void rt_json_alloc_init(void);

#endif
