#include "watchdog/evlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/strbuf.h"
#include "common/util.h"

/* Lines are written out once this much is buffered, so that a scrape of
 * 100,000 series does not hold its whole evidence (15 MB) in memory until
 * the commit. */
#define EVLOG_BUFFER_MAX (256u * 1024)

struct rt_evlog {
    char *path;
    int fd;
    uint64_t size, max_bytes, lines, rotations;
    unsigned keep;
    struct rt_strbuf buf;
};

static int open_current(struct rt_evlog *l) {
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (l->fd < 0)
        return -errno;
    struct stat st;
    if (fstat(l->fd, &st) < 0)
        return -errno;
    l->size = (uint64_t)st.st_size;
    return 0;
}

int rt_evlog_open(const char *path, uint64_t max_bytes, unsigned keep, struct rt_evlog **out) {
    struct rt_evlog *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->path = strdup(path);
    l->max_bytes = max_bytes;
    l->keep = keep;
    l->fd = -1;
    int r = l->path ? open_current(l) : -ENOMEM;
    if (r < 0) {
        rt_evlog_close(l);
        return r;
    }
    *out = l;
    return 0;
}

static int rotate(struct rt_evlog *l) {
    size_t n = strlen(l->path) + 16;
    _cleanup_free_ char *from = malloc(n), *to = malloc(n);
    if (!from || !to)
        return -ENOMEM;
    for (unsigned i = l->keep; i >= 1; i--) {
        snprintf(to, n, "%s.%u", l->path, i);
        if (i == 1)
            snprintf(from, n, "%s", l->path);
        else
            snprintf(from, n, "%s.%u", l->path, i - 1);
        if (rename(from, to) < 0 && errno != ENOENT)
            return -errno;
    }
    close(l->fd);
    l->fd = -1;
    l->rotations++;
    return open_current(l);
}

int rt_evlog_flush(struct rt_evlog *l) {
    if (l->buf.oom)
        return -ENOMEM;
    if (l->buf.len == 0)
        return 0;
    int r = rt_write_all(l->fd, l->buf.s, l->buf.len);
    if (r == 0)
        l->size += l->buf.len;
    rt_sb_reset(&l->buf);
    return r;
}

int rt_evlog_append(struct rt_evlog *l, const struct rt_evidence *ev) {
    char line[RT_EVIDENCE_LINE_MAX + 2];
    int n = rt_evidence_format(ev, line, sizeof(line) - 1);
    if (n < 0)
        return n;
    line[n++] = '\n';
    if (l->size + l->buf.len + (size_t)n > l->max_bytes && l->size + l->buf.len > 0) {
        int r = rt_evlog_flush(l);
        if (r == 0)
            r = rotate(l);
        if (r < 0)
            return r;
    }
    rt_sb_putn(&l->buf, line, (size_t)n);
    l->lines++;
    if (l->buf.oom)
        return -ENOMEM;
    return l->buf.len >= EVLOG_BUFFER_MAX ? rt_evlog_flush(l) : 0;
}

void rt_evlog_close(struct rt_evlog *l) {
    if (!l)
        return;
    if (l->fd >= 0) {
        rt_evlog_flush(l);
        close(l->fd);
    }
    rt_sb_free(&l->buf);
    free(l->path);
    free(l);
}

uint64_t rt_evlog_lines(const struct rt_evlog *l) { return l->lines; }
uint64_t rt_evlog_rotations(const struct rt_evlog *l) { return l->rotations; }
