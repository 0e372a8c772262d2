/* The physical limit of durable appends on one file system: append a
 * ~300-byte line and fdatasync it, in a loop, for a fixed time.
 *   fsync_floor DIR SECONDS
 * Prints "fsync_floor ops=N seconds=S ops_per_s=R p50_ms=A p99_ms=B".
 * The file (DIR/fsync_floor.dat) is removed at the end. Each line is what a
 * signed command-log record costs the disk: the same size, the same
 * O_APPEND write + fdatasync (cmdlog/writer.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_BYTES 300
#define MAX_SAMPLES 2000000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One record-sized line: printable, LF-terminated, different each time. */
static void fill_line(char *buf, unsigned long i) {
    int n = snprintf(buf, LINE_BYTES, "{\"v\":1,\"seq\":%lu,\"type\":\"fsync_floor\",\"pad\":\"", i);
    memset(buf + n, 'x', (size_t)(LINE_BYTES - n - 3));
    memcpy(buf + LINE_BYTES - 3, "\"}\n", 3);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fsync_floor DIR SECONDS\n");
        return 2;
    }
    double secs = atof(argv[2]);
    char path[4096];
    snprintf(path, sizeof(path), "%s/fsync_floor.dat", argv[1]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    double *lat = malloc(MAX_SAMPLES * sizeof(*lat));
    if (fd < 0 || !lat) {
        fprintf(stderr, "fsync_floor: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char line[LINE_BYTES];
    unsigned long n = 0;
    double start = now_s(), end = start + secs, t = start;
    while (t < end && n < MAX_SAMPLES) {
        fill_line(line, n);
        double t0 = t;
        if (write(fd, line, LINE_BYTES) != LINE_BYTES || fdatasync(fd) < 0) {
            fprintf(stderr, "fsync_floor: %s: %s\n", path, strerror(errno));
            return 1;
        }
        t = now_s();
        lat[n++] = t - t0;
    }
    double elapsed = t - start;
    close(fd);
    unlink(path);
    qsort(lat, n, sizeof(*lat), cmp_double);
    printf("fsync_floor ops=%lu seconds=%.3f ops_per_s=%.1f p50_ms=%.3f p99_ms=%.3f\n", n, elapsed,
           (double)n / elapsed, n ? lat[n / 2] * 1e3 : 0, n ? lat[n * 99 / 100] * 1e3 : 0);
    free(lat);
    return 0;
}
