/* Small shared helpers: cleanup attributes (after systemd's CODING_STYLE),
 * bounded string copies, and array sizing. No I/O here. */
#ifndef RATCHET_UTIL_H
#define RATCHET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

static inline void freep(void *p) { free(*(void **)p); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

/* Copy at most dstsz-1 bytes and NUL-terminate; returns false if truncated. */
bool rt_strlcpy(char *dst, const char *src, size_t dstsz);

/* xmalloc-style helpers abort on OOM only where callers cannot recover;
 * library code returns -ENOMEM instead and does not use these. */

#endif
