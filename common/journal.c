#include "common/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/fsutil.h"
#include "common/util.h"

/* ---- format constants (docs/state-store.md) ---- */

#define FORMAT_VERSION 1u
#define HEADER_SIZE 32u
#define FRAME_SIZE 8u /* u32 length + u32 crc */
#define PAYLOAD_MIN 3u /* u16 key length + one key byte */
#define PAYLOAD_MAX (2u + RT_JOURNAL_KEY_MAX + RT_JOURNAL_VALUE_MAX)
#define RECORD_MAX (FRAME_SIZE + PAYLOAD_MAX)
#define END_MARKER UINT32_C(0xFFFFFFFF) /* snapshot footer, in the length slot */
#define FOOTER_SIZE 24u
#define IO_BUF_SIZE (256u << 10) /* > 2 * RECORD_MAX, so any record fits */
#define PENDING_KEEP (1u << 20)  /* buffer capacity kept between commits */

static const uint8_t snap_magic[8] = {'R', 'T', 'C', 'H', 'S', 'N', 'A', 'P'};
static const uint8_t journal_magic[8] = {'R', 'T', 'C', 'H', 'J', 'R', 'N', 'L'};

struct rt_journal {
    char dir[PATH_MAX];
    char name[RT_JOURNAL_NAME_MAX + 1];
    const struct rt_journal_ops *ops;
    bool read_only;
    int lock_fd;
    int fd; /* current journal generation, O_APPEND; -1 before creation */
    uint64_t generation;
    uint64_t journal_bytes, snapshot_bytes, snapshot_records;

    uint8_t *pending;
    size_t pending_len, pending_cap;
    uint64_t pending_records;

    uint64_t bytes_written, records_written, commits, compactions;
    bool failed;
    int fail_errno;
    char last_error[RT_JOURNAL_MESSAGE_MAX];

    /* identity of the snapshot read at load, to detect concurrent compaction */
    bool snap_seen;
    dev_t snap_dev;
    ino_t snap_ino;
};

struct rt_journal_snapshot {
    const struct rt_journal_ops *ops;
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t records, body_bytes, file_bytes;
    int err; /* sticky: first error */
};

/* ---- little-endian helpers ---- */

static void put_le16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_le64(const uint8_t *p) { return get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }

/* A frame's CRC covers its length field and payload, not the CRC slot. */
static uint32_t frame_crc(const uint8_t *frame, uint32_t payload_len) {
    return rt_crc32c_extend(rt_crc32c(frame, 4), frame + FRAME_SIZE, payload_len);
}

static size_t encode_record(uint8_t *dst, const void *key, size_t key_len, const void *value,
                            size_t value_len) {
    uint32_t payload = (uint32_t)(2 + key_len + value_len);
    put_le32(dst, payload);
    put_le16(dst + FRAME_SIZE, (uint16_t)key_len);
    memcpy(dst + FRAME_SIZE + 2, key, key_len);
    if (value_len)
        memcpy(dst + FRAME_SIZE + 2 + key_len, value, value_len);
    put_le32(dst + 4, frame_crc(dst, payload));
    return FRAME_SIZE + payload;
}

static void encode_header(uint8_t h[HEADER_SIZE], const uint8_t magic[8], uint64_t generation) {
    memset(h, 0, HEADER_SIZE);
    memcpy(h, magic, 8);
    put_le32(h + 8, FORMAT_VERSION);
    put_le64(h + 16, generation);
    put_le32(h + 28, rt_crc32c(h, 28));
}

static int check_record_args(const void *key, size_t key_len, const void *value, size_t value_len) {
    if (key_len == 0 || !key || (value_len > 0 && !value))
        return -EINVAL;
    if (key_len > RT_JOURNAL_KEY_MAX || value_len > RT_JOURNAL_VALUE_MAX)
        return -E2BIG;
    return 0;
}

/* ---- paths and messages ---- */

_printf_(2, 3) static int path_fmt(char buf[PATH_MAX], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int snap_path(const struct rt_journal *j, char buf[PATH_MAX]) {
    return path_fmt(buf, "%s/%s.snap", j->dir, j->name);
}
static int tmp_path(const struct rt_journal *j, char buf[PATH_MAX]) {
    return path_fmt(buf, "%s/%s.snap.tmp", j->dir, j->name);
}
static int journal_path(const struct rt_journal *j, uint64_t gen, char buf[PATH_MAX]) {
    return path_fmt(buf, "%s/%s.journal.%" PRIu64, j->dir, j->name, gen);
}

/* Append to a fixed message buffer, silently truncating. */
_printf_(2, 3) static void msg_append(char buf[RT_JOURNAL_MESSAGE_MAX], const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used + 1 >= RT_JOURNAL_MESSAGE_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, RT_JOURNAL_MESSAGE_MAX - used, fmt, ap);
    va_end(ap);
}

_printf_(2, 3) static void msg_set(char buf[RT_JOURNAL_MESSAGE_MAX], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, RT_JOURNAL_MESSAGE_MAX, fmt, ap);
    va_end(ap);
}

static int set_error(struct rt_journal *j, int err, const char *op, const char *path) {
    j->last_error[0] = '\0';
    msg_append(j->last_error, "%s %s: %s", op, path, strerror(-err));
    return err;
}

/* Enter the failed state: every later call returns -EIO. */
static int journal_fail(struct rt_journal *j, int err, const char *op, const char *path) {
    set_error(j, err, op, path);
    if (!j->failed) {
        j->failed = true;
        j->fail_errno = -err;
    }
    return -EIO;
}

/* ---- writing through the (injectable) ops ---- */

static int ops_write_all(const struct rt_journal_ops *ops, int fd, const uint8_t *buf, size_t len) {
    while (len > 0) {
        ssize_t n = ops->write_fn(ops->ctx, fd, buf, len);
        if (n == -EINTR)
            continue;
        if (n < 0)
            return (int)n;
        if (n == 0 || (size_t)n > len)
            return -EIO;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t real_write(void *ctx, int fd, const void *buf, size_t len) {
    (void)ctx;
    ssize_t n = write(fd, buf, len);
    return n < 0 ? -errno : n;
}
static int real_fdatasync(void *ctx, int fd) {
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}
static int real_rename(void *ctx, const char *from, const char *to) {
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}
static int real_fsync_dir(void *ctx, const char *dir) {
    (void)ctx;
    return rt_fsync_dir(dir);
}

const struct rt_journal_ops rt_journal_real_ops = {
    .write_fn = real_write,
    .fdatasync_fn = real_fdatasync,
    .rename_fn = real_rename,
    .fsync_dir_fn = real_fsync_dir,
    .ctx = NULL,
};

/* ---- buffered positional reader ---- */

struct reader {
    int fd;
    uint64_t size; /* fixed when loading starts; later appends are not read */
    uint8_t *buf;
    uint64_t buf_off;
    size_t buf_len;
};

static int reader_init(struct reader *rd, int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EBADMSG;
    *rd = (struct reader){.fd = fd, .size = (uint64_t)st.st_size};
    rd->buf = malloc(IO_BUF_SIZE);
    return rd->buf ? 0 : -ENOMEM;
}

/* Point *out at bytes [off, off+len) (len <= IO_BUF_SIZE); -ENODATA if the
 * file ends first. The pointer is valid until the next call. */
static int reader_get(struct reader *rd, uint64_t off, size_t len, const uint8_t **out) {
    if (off > rd->size || len > rd->size - off)
        return -ENODATA;
    if (off >= rd->buf_off && off - rd->buf_off + len <= rd->buf_len) {
        *out = rd->buf + (off - rd->buf_off);
        return 0;
    }
    uint64_t left = rd->size - off;
    size_t want = left < IO_BUF_SIZE ? (size_t)left : IO_BUF_SIZE;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(rd->fd, rd->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break; /* shrank under us: what is missing is missing */
        got += (size_t)n;
    }
    rd->buf_off = off;
    rd->buf_len = got;
    if (got < len)
        return -ENODATA;
    *out = rd->buf;
    return 0;
}

/* ---- record parsing ---- */

enum rec_status {
    REC_OK = 0,
    REC_END,        /* snapshot end marker */
    REC_INCOMPLETE, /* the file ends inside the frame */
    REC_BAD_LENGTH,
    REC_BAD_CRC,
    REC_MALFORMED, /* checksum fine, key/value layout impossible: never a torn write */
};

static const char *rec_status_text(enum rec_status st) {
    switch (st) {
    case REC_OK: return "valid";
    case REC_END: return "unexpected end marker";
    case REC_INCOMPLETE: return "incomplete";
    case REC_BAD_LENGTH: return "impossible length";
    case REC_BAD_CRC: return "checksum mismatch";
    case REC_MALFORMED: return "malformed (checksum valid)";
    }
    return "?";
}

/* Parse the frame at off: returns an enum rec_status or a negative errno.
 * `scanning` only asks "is a valid record here?" and skips the CRC when the
 * layout is already impossible. */
static int parse_record(struct reader *rd, uint64_t off, bool scanning,
                        struct rt_journal_record *rec, uint32_t *total) {
    const uint8_t *p;
    int r = reader_get(rd, off, FRAME_SIZE, &p);
    if (r < 0)
        return r == -ENODATA ? REC_INCOMPLETE : r;
    uint32_t len = get_le32(p);
    if (len == END_MARKER)
        return REC_END;
    if (len < PAYLOAD_MIN || len > PAYLOAD_MAX)
        return REC_BAD_LENGTH;
    r = reader_get(rd, off, FRAME_SIZE + len, &p);
    if (r < 0)
        return r == -ENODATA ? REC_INCOMPLETE : r;

    size_t key_len = get_le16(p + FRAME_SIZE);
    bool layout_ok = key_len >= 1 && key_len <= RT_JOURNAL_KEY_MAX && 2 + key_len <= len &&
                     len - 2 - key_len <= RT_JOURNAL_VALUE_MAX;
    if (!layout_ok && scanning)
        return REC_BAD_CRC;
    if (frame_crc(p, len) != get_le32(p + 4))
        return REC_BAD_CRC;
    if (!layout_ok)
        return REC_MALFORMED;
    *rec = (struct rt_journal_record){
        .key = p + FRAME_SIZE + 2,
        .key_len = key_len,
        .value = p + FRAME_SIZE + 2 + key_len,
        .value_len = len - 2 - key_len,
    };
    *total = FRAME_SIZE + len;
    return REC_OK;
}

/* Is there a valid record anywhere in [from, end of file)? Tells a torn
 * tail (nothing valid follows) from damage inside the file. */
static int find_valid_record(struct reader *rd, uint64_t from, uint64_t *found) {
    for (uint64_t pos = from; pos + FRAME_SIZE + PAYLOAD_MIN <= rd->size; pos++) {
        struct rt_journal_record rec;
        uint32_t total;
        int st = parse_record(rd, pos, true, &rec, &total);
        if (st < 0)
            return st;
        if (st == REC_OK) {
            *found = pos;
            return 1;
        }
    }
    return 0;
}

/* ---- loading ---- */

struct loader {
    struct rt_journal *j;
    rt_journal_record_fn fn;
    void *userdata;
    struct rt_journal_load_report *rep;
};

_printf_(2, 3) static int load_error(struct loader *ld, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->rep->message, sizeof ld->rep->message, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

static int io_error(struct loader *ld, int err, const char *op, const char *path) {
    msg_set(ld->rep->message, "%s %s: %s", op, path, strerror(-err));
    return err;
}

static int deliver(struct loader *ld, struct rt_journal_record *rec, const char *path,
                   uint64_t off) {
    if (!ld->fn)
        return 0;
    int r = ld->fn(rec, ld->userdata);
    if (r < 0)
        msg_set(ld->rep->message, "%s: record at offset %" PRIu64 " rejected by the caller: %s",
                path, off, strerror(-r));
    return r;
}

static int check_header(struct loader *ld, struct reader *rd, const uint8_t magic[8],
                        const char *path, uint64_t *generation) {
    const uint8_t *h;
    int r = reader_get(rd, 0, HEADER_SIZE, &h);
    if (r == -ENODATA)
        return load_error(ld, "%s: truncated header (%" PRIu64 " bytes)", path, rd->size);
    if (r < 0)
        return io_error(ld, r, "read", path);
    if (memcmp(h, magic, 8) != 0)
        return load_error(ld, "%s: bad magic, not a ratchet %s", path,
                          magic == snap_magic ? "snapshot" : "journal");
    if (get_le32(h + 8) != FORMAT_VERSION)
        return load_error(ld, "%s: unsupported format version %" PRIu32 " (this build reads %u)",
                          path, get_le32(h + 8), FORMAT_VERSION);
    if (get_le32(h + 28) != rt_crc32c(h, 28))
        return load_error(ld, "%s: header checksum mismatch", path);
    if (get_le32(h + 12) != 0 || get_le32(h + 24) != 0)
        return load_error(ld, "%s: unsupported header flags", path);
    *generation = get_le64(h + 16);
    return 0;
}

static int check_footer(struct loader *ld, struct reader *rd, uint64_t off, uint64_t records,
                        const char *path) {
    const uint8_t *f;
    int r = reader_get(rd, off, FOOTER_SIZE, &f);
    if (r == -ENODATA)
        return load_error(ld, "%s: truncated end marker at offset %" PRIu64, path, off);
    if (r < 0)
        return io_error(ld, r, "read", path);
    if (get_le32(f + 4) != rt_crc32c(f + 8, 16))
        return load_error(ld, "%s: end marker checksum mismatch at offset %" PRIu64, path, off);
    if (get_le64(f + 8) != records || get_le64(f + 16) != off - HEADER_SIZE)
        return load_error(ld, "%s: end marker says %" PRIu64 " records in %" PRIu64
                          " bytes, found %" PRIu64 " in %" PRIu64, path, get_le64(f + 8),
                          get_le64(f + 16), records, off - HEADER_SIZE);
    if (off + FOOTER_SIZE != rd->size)
        return load_error(ld, "%s: %" PRIu64 " unexpected bytes after the end marker", path,
                          rd->size - off - FOOTER_SIZE);
    return 0;
}

/* A snapshot is only ever renamed into place complete and synced, so any
 * defect in it is damage, never a crash signature. */
static int read_snapshot_records(struct loader *ld, struct reader *rd, const char *path) {
    uint64_t off = HEADER_SIZE, records = 0;
    for (;;) {
        struct rt_journal_record rec;
        uint32_t total;
        int st = parse_record(rd, off, false, &rec, &total);
        if (st < 0)
            return io_error(ld, st, "read", path);
        if (st == REC_END)
            break;
        if (st != REC_OK)
            return load_error(ld, "%s: record at offset %" PRIu64 ": %s%s", path, off,
                              rec_status_text(st),
                              st == REC_INCOMPLETE ? " (snapshot truncated)" : "");
        rec.from_snapshot = true;
        int r = deliver(ld, &rec, path, off);
        if (r < 0)
            return r;
        records++;
        off += total;
    }
    int r = check_footer(ld, rd, off, records, path);
    if (r < 0)
        return r;
    ld->rep->snapshot_records = records;
    ld->rep->snapshot_bytes = rd->size;
    ld->j->snapshot_records = records;
    ld->j->snapshot_bytes = rd->size;
    return 0;
}

static int read_journal_records(struct loader *ld, struct reader *rd, const char *path) {
    struct rt_journal_load_report *rep = ld->rep;
    uint64_t gen, off = HEADER_SIZE;
    int r = check_header(ld, rd, journal_magic, path, &gen);
    if (r < 0)
        return r;
    if (gen != ld->j->generation)
        return load_error(ld, "%s: header names generation %" PRIu64 ", snapshot expects %" PRIu64,
                          path, gen, ld->j->generation);
    while (off < rd->size) {
        struct rt_journal_record rec;
        uint32_t total;
        int st = parse_record(rd, off, false, &rec, &total);
        if (st < 0)
            return io_error(ld, st, "read", path);
        if (st == REC_OK) {
            rec.from_snapshot = false;
            r = deliver(ld, &rec, path, off);
            if (r < 0)
                return r;
            rep->journal_records++;
            off += total;
            continue;
        }
        if (st == REC_MALFORMED)
            return load_error(ld, "%s: record at offset %" PRIu64 ": %s", path, off,
                              rec_status_text(st));
        uint64_t next = 0;
        r = find_valid_record(rd, off + 1, &next);
        if (r < 0)
            return io_error(ld, r, "read", path);
        if (r > 0)
            return load_error(ld, "%s: record at offset %" PRIu64 ": %s, and a valid record"
                              " follows at offset %" PRIu64 ": damage inside the journal, not a"
                              " torn write", path, off, rec_status_text(st), next);
        rep->torn_tail = true;
        rep->torn_offset = off;
        rep->torn_bytes = rd->size - off;
        msg_append(rep->message, "%s: torn tail at offset %" PRIu64 ", %" PRIu64
                   " bytes dropped (%s record)", path, off, rep->torn_bytes, rec_status_text(st));
        break;
    }
    rep->journal_bytes = off;
    ld->j->journal_bytes = off;
    return 0;
}

/* "<name>.journal.<gen>" -> JOURNAL, "<name>.snap.tmp" -> TMP. */
enum entry_kind { ENTRY_OTHER, ENTRY_JOURNAL, ENTRY_TMP };

static bool parse_generation(const char *s, uint64_t *out) {
    size_t n = strlen(s);
    if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static enum entry_kind classify_entry(const struct rt_journal *j, const char *fname,
                                      uint64_t *gen) {
    size_t n = strlen(j->name);
    if (strncmp(fname, j->name, n) != 0)
        return ENTRY_OTHER;
    const char *rest = fname + n;
    if (strcmp(rest, ".snap.tmp") == 0)
        return ENTRY_TMP;
    if (strncmp(rest, ".journal.", 9) == 0 && parse_generation(rest + 9, gen))
        return ENTRY_JOURNAL;
    return ENTRY_OTHER;
}

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

/* Count leftovers of interrupted compactions and refuse stores whose
 * journals contradict the snapshot: a journal newer than the snapshot (or
 * any journal without one) is created before the snapshot that names it
 * and receives records only after that, so it must be header-only. */
static int scan_directory(struct loader *ld, bool have_snap) {
    struct rt_journal *j = ld->j;
    _cleanup_(closedirp) DIR *d = opendir(j->dir);
    if (!d)
        return io_error(ld, -errno, "open directory", j->dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t gen = 0;
        enum entry_kind kind = classify_entry(j, de->d_name, &gen);
        if (kind == ENTRY_OTHER || (have_snap && gen == j->generation && kind == ENTRY_JOURNAL))
            continue;
        if (kind == ENTRY_TMP || (have_snap && gen < j->generation)) {
            ld->rep->stale_files++;
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return io_error(ld, -errno, "stat", de->d_name);
        }
        if ((uint64_t)st.st_size > HEADER_SIZE) {
            if (have_snap)
                return load_error(ld, "%s/%s: journal generation %" PRIu64 " is newer than the"
                                  " snapshot's (%" PRIu64 ") and holds records", j->dir,
                                  de->d_name, gen, j->generation);
            return load_error(ld, "%s/%s: holds records but %s.snap is missing", j->dir,
                              de->d_name, j->name);
        }
        ld->rep->stale_files++;
    }
    return 0;
}

/* Stale files are re-detected on every open, so their removal need not be
 * durable and errors are ignored. */
static void remove_stale(struct rt_journal *j, bool have_snap) {
    _cleanup_(closedirp) DIR *d = opendir(j->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t gen = 0;
        enum entry_kind kind = classify_entry(j, de->d_name, &gen);
        if (kind == ENTRY_TMP || (kind == ENTRY_JOURNAL && (!have_snap || gen != j->generation)))
            unlinkat(dirfd(d), de->d_name, 0);
    }
}

static void free_reader(struct reader *rd) { free(rd->buf); }

static int load_snapshot(struct loader *ld, int fd, const char *path) {
    _cleanup_(free_reader) struct reader rd = {0};
    int r = reader_init(&rd, fd);
    if (r == -EBADMSG)
        return load_error(ld, "%s: not a regular file", path);
    if (r < 0)
        return io_error(ld, r, "stat", path);
    r = check_header(ld, &rd, snap_magic, path, &ld->j->generation);
    if (r < 0)
        return r;
    ld->rep->generation = ld->j->generation;
    r = scan_directory(ld, true);
    if (r < 0)
        return r;
    return read_snapshot_records(ld, &rd, path);
}

static int load_journal(struct loader *ld) {
    struct rt_journal *j = ld->j;
    char path[PATH_MAX];
    int r = journal_path(j, j->generation, path);
    if (r < 0)
        return r;
    int fd = open(path, (j->read_only ? O_RDONLY : O_RDWR | O_APPEND) | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return load_error(ld, "%s: missing, but the snapshot names generation %" PRIu64, path,
                          j->generation);
    if (fd < 0)
        return io_error(ld, -errno, "open", path);
    j->fd = fd;

    _cleanup_(free_reader) struct reader rd = {0};
    r = reader_init(&rd, fd);
    if (r == -EBADMSG)
        return load_error(ld, "%s: not a regular file", path);
    if (r < 0)
        return io_error(ld, r, "stat", path);
    r = read_journal_records(ld, &rd, path);
    if (r < 0 || !ld->rep->torn_tail || j->read_only)
        return r;

    /* The crash signature: cut it off so new records follow valid ones. */
    if (ftruncate(fd, (off_t)ld->rep->journal_bytes) < 0)
        return io_error(ld, -errno, "truncate", path);
    r = j->ops->fdatasync_fn(j->ops->ctx, fd);
    if (r < 0)
        return io_error(ld, r, "fdatasync", path);
    ld->rep->truncated = true;
    msg_append(ld->rep->message, ", truncated");
    return 0;
}

static int ensure_directory(struct loader *ld, bool *missing) {
    struct rt_journal *j = ld->j;
    struct stat st;
    *missing = false;
    if (stat(j->dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : io_error(ld, -ENOTDIR, "open directory", j->dir);
    if (errno != ENOENT)
        return io_error(ld, -errno, "stat", j->dir);
    if (j->read_only) {
        *missing = true;
        return 0;
    }
    if (mkdir(j->dir, 0700) < 0 && errno != EEXIST)
        return io_error(ld, -errno, "create directory", j->dir);
    char parent[PATH_MAX];
    const char *slash = strrchr(j->dir, '/');
    int r = slash ? path_fmt(parent, "%.*s", slash == j->dir ? 1 : (int)(slash - j->dir), j->dir)
                  : path_fmt(parent, ".");
    if (r < 0)
        return r;
    r = j->ops->fsync_dir_fn(j->ops->ctx, parent);
    return r < 0 ? io_error(ld, r, "fsync directory", parent) : 0;
}

static int take_lock(struct loader *ld) {
    struct rt_journal *j = ld->j;
    char path[PATH_MAX];
    int r = path_fmt(path, "%s/%s.lock", j->dir, j->name);
    if (r < 0)
        return r;
    j->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->lock_fd < 0)
        return io_error(ld, -errno, "open", path);
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
        return io_error(ld, r, "lock", path);
    }
    return 0;
}

static int install_generation(struct rt_journal *j, uint64_t gen, rt_journal_dump_fn dump,
                              void *userdata);

static int load_store(struct loader *ld) {
    struct rt_journal *j = ld->j;
    bool missing;
    int r = ensure_directory(ld, &missing);
    if (r < 0 || missing)
        return r;
    if (!j->read_only && (r = take_lock(ld)) < 0)
        return r;

    char path[PATH_MAX];
    if ((r = snap_path(j, path)) < 0)
        return r;
    _cleanup_close_ int snap_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (snap_fd < 0 && errno != ENOENT)
        return io_error(ld, -errno, "open", path);
    if (snap_fd < 0) {
        /* Never created, or creation crashed before the snapshot's rename. */
        r = scan_directory(ld, false);
        if (r < 0 || j->read_only)
            return r;
        remove_stale(j, false);
        r = install_generation(j, 1, NULL, NULL);
        if (r < 0)
            msg_set(ld->rep->message, "creating the store: %s", j->last_error);
        else if (ld->rep->stale_files)
            msg_set(ld->rep->message, "%u leftover file(s) of an interrupted creation, removed",
                    ld->rep->stale_files);
        ld->rep->generation = j->generation;
        ld->rep->journal_bytes = j->journal_bytes;
        ld->rep->snapshot_bytes = j->snapshot_bytes;
        return r;
    }

    ld->rep->existed = true;
    struct stat st;
    if (fstat(snap_fd, &st) == 0) {
        j->snap_seen = true;
        j->snap_dev = st.st_dev;
        j->snap_ino = st.st_ino;
    }
    r = load_snapshot(ld, snap_fd, path);
    if (r < 0)
        return r;
    r = load_journal(ld);
    if (r < 0)
        return r;
    if (ld->rep->stale_files) {
        msg_append(ld->rep->message, "%s%u leftover file(s) of an interrupted compaction%s",
                   ld->rep->message[0] ? "; " : "", ld->rep->stale_files,
                   j->read_only ? "" : ", removed");
        if (!j->read_only)
            remove_stale(j, true);
    }
    return 0;
}

static bool name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > RT_JOURNAL_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int journal_new(const char *dir, const char *name, const struct rt_journal_ops *ops,
                       bool read_only, struct rt_journal **out) {
    if (!dir || !name || !dir[0] || !name_valid(name))
        return -EINVAL;
    if (ops && (!ops->write_fn || !ops->fdatasync_fn || !ops->rename_fn || !ops->fsync_dir_fn))
        return -EINVAL;
    struct rt_journal *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->lock_fd = j->fd = -1;
    j->ops = ops ? ops : &rt_journal_real_ops;
    j->read_only = read_only;
    /* Paths built from dir must leave room for "/<name>.journal.<20 digits>". */
    if (!rt_strlcpy(j->dir, dir, sizeof j->dir - RT_JOURNAL_NAME_MAX - 32)) {
        free(j);
        return -ENAMETOOLONG;
    }
    rt_strlcpy(j->name, name, sizeof j->name);
    *out = j;
    return 0;
}

static void init_report(struct rt_journal_load_report *rep) { memset(rep, 0, sizeof *rep); }

int rt_journal_open(const char *dir, const char *name, const struct rt_journal_ops *ops,
                    rt_journal_record_fn fn, void *userdata, struct rt_journal **out,
                    struct rt_journal_load_report *report) {
    struct rt_journal_load_report local;
    struct rt_journal_load_report *rep = report ? report : &local;
    init_report(rep);
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct rt_journal *j;
    int r = journal_new(dir, name, ops, false, &j);
    if (r < 0) {
        msg_set(rep->message, "invalid store directory or name");
        return r;
    }
    struct loader ld = {.j = j, .fn = fn, .userdata = userdata, .rep = rep};
    r = load_store(&ld);
    if (r < 0) {
        if (!rep->message[0])
            msg_set(rep->message, "%s/%s: %s", dir, name, strerror(-r));
        rt_journal_close(j);
        return r;
    }
    *out = j;
    return 0;
}

/* Did a compaction replace the snapshot since we opened it? */
static bool snapshot_replaced(const struct rt_journal *j) {
    char path[PATH_MAX];
    struct stat st;
    if (snap_path(j, path) < 0)
        return false;
    if (stat(path, &st) < 0)
        return j->snap_seen;
    return !j->snap_seen || st.st_dev != j->snap_dev || st.st_ino != j->snap_ino;
}

int rt_journal_load(const char *dir, const char *name, rt_journal_record_fn fn, void *userdata,
                    struct rt_journal_load_report *report) {
    struct rt_journal_load_report local;
    struct rt_journal_load_report *rep = report ? report : &local;
    init_report(rep);
    struct rt_journal *j;
    int r = journal_new(dir, name, NULL, true, &j);
    if (r < 0) {
        msg_set(rep->message, "invalid store directory or name");
        return r;
    }
    struct loader ld = {.j = j, .fn = fn, .userdata = userdata, .rep = rep};
    r = load_store(&ld);
    if (r == -EBADMSG && snapshot_replaced(j)) {
        msg_set(rep->message, "%s/%s: replaced while reading, retry", dir, name);
        r = -EAGAIN;
    }
    rt_journal_close(j);
    return r;
}

void rt_journal_close(struct rt_journal *j) {
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    if (j->lock_fd >= 0)
        close(j->lock_fd); /* releases the flock */
    free(j->pending);
    free(j);
}

/* ---- writing ---- */

int rt_journal_put(struct rt_journal *j, const void *key, size_t key_len, const void *value,
                   size_t value_len) {
    if (!j)
        return -EINVAL;
    if (j->failed)
        return -EIO;
    int r = check_record_args(key, key_len, value, value_len);
    if (r < 0)
        return r;
    size_t need = j->pending_len + FRAME_SIZE + 2 + key_len + value_len;
    if (need > RT_JOURNAL_PENDING_MAX)
        return -ENOBUFS;
    if (need > j->pending_cap) {
        size_t cap = j->pending_cap ? j->pending_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > RT_JOURNAL_PENDING_MAX)
            cap = RT_JOURNAL_PENDING_MAX;
        uint8_t *p = realloc(j->pending, cap);
        if (!p)
            return -ENOMEM;
        j->pending = p;
        j->pending_cap = cap;
    }
    j->pending_len += encode_record(j->pending + j->pending_len, key, key_len, value, value_len);
    j->pending_records++;
    return 0;
}

int rt_journal_delete(struct rt_journal *j, const void *key, size_t key_len) {
    return rt_journal_put(j, key, key_len, NULL, 0);
}

static void drop_pending(struct rt_journal *j) {
    j->pending_len = 0;
    j->pending_records = 0;
    if (j->pending_cap > PENDING_KEEP) {
        free(j->pending);
        j->pending = NULL;
        j->pending_cap = 0;
    }
}

int rt_journal_commit(struct rt_journal *j) {
    if (!j)
        return -EINVAL;
    if (j->failed)
        return -EIO;
    if (j->pending_len == 0)
        return 0;
    char path[PATH_MAX];
    if (journal_path(j, j->generation, path) < 0)
        rt_strlcpy(path, j->name, sizeof path);

    int r = ops_write_all(j->ops, j->fd, j->pending, j->pending_len);
    if (r < 0) {
        drop_pending(j);
        return journal_fail(j, r, "write", path);
    }
    r = j->ops->fdatasync_fn(j->ops->ctx, j->fd);
    if (r < 0) {
        drop_pending(j);
        return journal_fail(j, r, "fdatasync", path); /* never retried: fsyncgate */
    }
    j->journal_bytes += j->pending_len;
    j->bytes_written += j->pending_len;
    j->records_written += j->pending_records;
    j->commits++;
    drop_pending(j);
    return 0;
}

/* ---- snapshots and compaction ---- */

static void snapshot_flush(struct rt_journal_snapshot *w) {
    if (w->err || w->len == 0)
        return;
    int r = ops_write_all(w->ops, w->fd, w->buf, w->len);
    if (r < 0)
        w->err = r;
    else
        w->file_bytes += w->len;
    w->len = 0;
}

static void snapshot_reserve(struct rt_journal_snapshot *w, size_t n) {
    if (w->len + n > IO_BUF_SIZE)
        snapshot_flush(w);
}

int rt_journal_snapshot_add(struct rt_journal_snapshot *w, const void *key, size_t key_len,
                            const void *value, size_t value_len) {
    if (!w)
        return -EINVAL;
    if (w->err)
        return w->err;
    int r = check_record_args(key, key_len, value, value_len);
    if (r < 0)
        return w->err = r;
    if (value_len == 0)
        return 0; /* the snapshot is the full state: nothing to delete */
    size_t n = FRAME_SIZE + 2 + key_len + value_len;
    snapshot_reserve(w, n);
    if (w->err)
        return w->err;
    w->len += encode_record(w->buf + w->len, key, key_len, value, value_len);
    w->records++;
    w->body_bytes += n;
    return 0;
}

static void snapshot_footer(struct rt_journal_snapshot *w) {
    snapshot_reserve(w, FOOTER_SIZE);
    if (w->err)
        return;
    uint8_t *f = w->buf + w->len;
    put_le32(f, END_MARKER);
    put_le64(f + 8, w->records);
    put_le64(f + 16, w->body_bytes);
    put_le32(f + 4, rt_crc32c(f + 8, 16));
    w->len += FOOTER_SIZE;
}

/* Write and fdatasync "<name>.snap.tmp" for generation gen. */
static int write_snapshot(struct rt_journal *j, const char *path, uint64_t gen,
                          rt_journal_dump_fn dump, void *userdata,
                          struct rt_journal_snapshot *w) {
    *w = (struct rt_journal_snapshot){.ops = j->ops, .fd = -1};
    w->buf = malloc(IO_BUF_SIZE);
    if (!w->buf)
        return -ENOMEM;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int r = w->fd < 0 ? -errno : 0;
    if (r < 0)
        return set_error(j, r, "create", path);
    encode_header(w->buf, snap_magic, gen);
    w->len = HEADER_SIZE;
    if (dump && (r = dump(w, userdata)) < 0)
        return set_error(j, r, "snapshot callback for", path);
    snapshot_footer(w);
    snapshot_flush(w);
    if (w->err)
        return set_error(j, w->err, "write", path);
    r = j->ops->fdatasync_fn(j->ops->ctx, w->fd);
    if (r < 0)
        return set_error(j, r, "fdatasync", path);
    r = close(w->fd) < 0 ? -errno : 0;
    w->fd = -1;
    return r < 0 ? set_error(j, r, "close", path) : 0;
}

static int create_journal(struct rt_journal *j, const char *path, uint64_t gen, int *fd) {
    *fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (*fd < 0)
        return set_error(j, -errno, "create", path);
    uint8_t h[HEADER_SIZE];
    encode_header(h, journal_magic, gen);
    int r = ops_write_all(j->ops, *fd, h, sizeof h);
    if (r < 0)
        return set_error(j, r, "write", path);
    r = j->ops->fdatasync_fn(j->ops->ctx, *fd);
    return r < 0 ? set_error(j, r, "fdatasync", path) : 0;
}

/* Make generation gen current: new empty journal, then the snapshot that
 * names it. The journal exists (durably) before the snapshot is renamed, so
 * a snapshot whose journal is missing is always damage. Errors before the
 * rename undo everything; from the rename on the outcome on disk is
 * uncertain and the handle fails. */
static int install_generation(struct rt_journal *j, uint64_t gen, rt_journal_dump_fn dump,
                              void *userdata) {
    char jpath[PATH_MAX], tmp[PATH_MAX], snap[PATH_MAX];
    int r;
    if ((r = journal_path(j, gen, jpath)) < 0 || (r = tmp_path(j, tmp)) < 0 ||
        (r = snap_path(j, snap)) < 0)
        return r;

    int jfd = -1;
    struct rt_journal_snapshot w = {.fd = -1};
    r = create_journal(j, jpath, gen, &jfd);
    if (r == 0)
        r = write_snapshot(j, tmp, gen, dump, userdata, &w);
    if (r == 0 && (r = j->ops->fsync_dir_fn(j->ops->ctx, j->dir)) < 0)
        set_error(j, r, "fsync directory", j->dir);
    free(w.buf);
    if (w.fd >= 0)
        close(w.fd);
    if (r < 0) {
        if (jfd >= 0)
            close(jfd);
        unlink(tmp);
        unlink(jpath);
        return r;
    }

    r = j->ops->rename_fn(j->ops->ctx, tmp, snap);
    if (r < 0) {
        close(jfd);
        return journal_fail(j, r, "rename", tmp);
    }
    r = j->ops->fsync_dir_fn(j->ops->ctx, j->dir);
    if (r < 0) {
        close(jfd);
        return journal_fail(j, r, "fsync directory", j->dir);
    }

    if (j->fd >= 0) {
        char old[PATH_MAX];
        close(j->fd);
        /* Its records are in the new snapshot; a failed unlink is retried at open. */
        if (journal_path(j, j->generation, old) == 0)
            unlink(old);
    }
    j->fd = jfd;
    j->generation = gen;
    j->journal_bytes = HEADER_SIZE;
    j->snapshot_bytes = w.file_bytes;
    j->snapshot_records = w.records;
    j->bytes_written += HEADER_SIZE + w.file_bytes;
    return 0;
}

int rt_journal_compact(struct rt_journal *j, rt_journal_dump_fn dump, void *userdata) {
    if (!j || !dump)
        return -EINVAL;
    int r = rt_journal_commit(j);
    if (r < 0)
        return r;
    if (j->generation == UINT64_MAX)
        return -EOVERFLOW;
    r = install_generation(j, j->generation + 1, dump, userdata);
    if (r == 0)
        j->compactions++;
    return r;
}

bool rt_journal_should_compact(const struct rt_journal *j) {
    uint64_t limit = j->snapshot_bytes > RT_JOURNAL_COMPACT_MIN ? j->snapshot_bytes
                                                                : RT_JOURNAL_COMPACT_MIN;
    return !j->failed && j->journal_bytes > limit;
}

void rt_journal_get_stats(const struct rt_journal *j, struct rt_journal_stats *out) {
    *out = (struct rt_journal_stats){
        .generation = j->generation,
        .journal_bytes = j->journal_bytes,
        .snapshot_bytes = j->snapshot_bytes,
        .snapshot_records = j->snapshot_records,
        .pending_records = j->pending_records,
        .pending_bytes = j->pending_len,
        .bytes_written = j->bytes_written,
        .records_written = j->records_written,
        .commits = j->commits,
        .compactions = j->compactions,
        .failed = j->failed,
        .fail_errno = j->fail_errno,
    };
}

const char *rt_journal_last_error(const struct rt_journal *j) { return j->last_error; }
