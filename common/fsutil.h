/* Small file-system helpers with durable-write semantics. All return 0 (or a
 * length) on success and a negative errno on failure; none of them retries
 * fsync after an error (after a failed fsync Linux may already have dropped
 * the dirty pages, so a retry that "succeeds" would lie). */
#ifndef RATCHET_FSUTIL_H
#define RATCHET_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Write all len bytes, looping on short writes and EINTR. A write that makes
 * no progress is -EIO; a non-blocking fd that would block is -EAGAIN. */
int rt_write_all(int fd, const void *buf, size_t len);

/* fsync() the directory itself, making renames/creations/unlinks of its
 * entries durable. */
int rt_fsync_dir(const char *dir);

/* Replace path atomically and durably: write a temporary file in the same
 * directory ("<path>.tmp.XXXXXX"), chmod it to mode, fsync, rename over path,
 * fsync the directory. Readers see either the old or the new content. On
 * failure before the rename the temporary is removed and path is untouched;
 * a failure of the final directory fsync is returned although the rename
 * has happened (the new content is visible but may not survive a crash). */
int rt_atomic_replace_file(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole file of at most max_bytes bytes into a new NUL-terminated
 * buffer (*len excludes the terminator; free *buf). Larger files are -EFBIG,
 * also for files whose size is not known in advance (pipes, /proc). */
int rt_read_file_bounded(const char *path, size_t max_bytes, char **buf, size_t *len);

#endif
