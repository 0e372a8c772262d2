#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int rt_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rt_fsync_dir(const char *dir) {
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

/* Directory part of path ("." when it has none), into buf. */
static int dir_of(const char *path, char *buf, size_t bufsz) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return rt_strlcpy(buf, ".", bufsz) ? 0 : -ENAMETOOLONG;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= bufsz)
        return -ENAMETOOLONG;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return 0;
}

static int write_temp(int fd, const void *data, size_t len, mode_t mode) {
    if (fchmod(fd, mode) < 0)
        return -errno;
    int r = rt_write_all(fd, data, len);
    if (r < 0)
        return r;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

int rt_atomic_replace_file(const char *path, const void *data, size_t len, mode_t mode) {
    char dir[PATH_MAX], tmp[PATH_MAX];
    int r = dir_of(path, dir, sizeof dir);
    if (r < 0)
        return r;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -ENAMETOOLONG;

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = write_temp(fd, data, len, mode);
    if (close(fd) < 0 && r == 0)
        r = -errno; /* NFS and friends report deferred write errors here */
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return rt_fsync_dir(dir);
}

int rt_read_file_bounded(const char *path, size_t max_bytes, char **buf, size_t *len) {
    if (max_bytes >= SIZE_MAX - 1)
        return -EINVAL;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes)
        return -EFBIG;

    /* Read one byte past the limit so growth and unsized files are caught. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
    if (cap > max_bytes + 1)
        cap = max_bytes + 1;
    _cleanup_free_ char *data = malloc(cap + 1);
    if (!data)
        return -ENOMEM;
    size_t have = 0;
    for (;;) {
        if (have == cap) {
            if (cap == max_bytes + 1)
                return -EFBIG;
            size_t ncap = cap > (max_bytes + 1) / 2 ? max_bytes + 1 : cap * 2;
            char *p = realloc(data, ncap + 1);
            if (!p)
                return -ENOMEM;
            data = p;
            cap = ncap;
        }
        ssize_t n = read(fd, data + have, cap - have);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    if (have > max_bytes)
        return -EFBIG;
    data[have] = '\0';
    *buf = data;
    data = NULL;
    *len = have;
    return 0;
}
