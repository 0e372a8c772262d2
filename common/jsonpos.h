/* Source positions inside JSON text. jansson does not keep the position of
 * values, so validators that want to report FILE:LINE:COL re-scan the text
 * (already accepted by jansson) for the member they complain about.
 *
 * Lines and columns are 1-based. Columns count characters, not bytes (UTF-8
 * continuation bytes do not advance the column), as jansson's error columns
 * do. A tab is one column. Pure: no I/O, no allocation except in
 * rt_jsonpos_find_pointer(). */
#ifndef RATCHET_JSONPOS_H
#define RATCHET_JSONPOS_H

#include <stddef.h>

/* Longest path (number of segments) the scanner follows. */
#define RT_JSONPOS_MAX_DEPTH 64

struct rt_jsonpos {
    int line, column;
    size_t offset; /* byte offset from the start of the text */
};

/* Locate the member at the path segs[0..nsegs): object keys as decoded
 * strings, array elements as decimal indexes ("0", "12"). nsegs == 0 means
 * the root value. On success fills *key with the position of the member's
 * key (its opening quote) and *value with the first character of its value;
 * for array elements and the root, *key equals *value. Either may be NULL.
 * With duplicate keys the last one wins, as in jansson's json_object_get().
 * Returns 0, -ENOENT (no such member), -E2BIG (more than
 * RT_JSONPOS_MAX_DEPTH segments) or -EINVAL (malformed text). */
int rt_jsonpos_find(const char *text, size_t len, const char *const *segs, size_t nsegs,
                    struct rt_jsonpos *key, struct rt_jsonpos *value);

/* The same with an RFC 6901 JSON pointer: "" is the root, "/a/0/b~1c" is
 * a -> element 0 -> "b/c". Also -EINVAL for a malformed pointer, -ENOMEM. */
int rt_jsonpos_find_pointer(const char *text, size_t len, const char *pointer,
                            struct rt_jsonpos *key, struct rt_jsonpos *value);

/* Line and column of a byte offset (clamped to len). */
struct rt_jsonpos rt_jsonpos_at_offset(const char *text, size_t len, size_t offset);

#endif
