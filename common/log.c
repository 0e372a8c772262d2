#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* CODE_FILE/LINE would all point here, not at the caller. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <unistd.h>

/* Process-wide by nature (one stderr, one journal connection); written once
 * by rt_log_init() before the daemon starts its work. */
static struct {
    char ident[RT_LOG_IDENT_MAX + 1];
    int min_priority;
    bool journal;
} log_config = {"ratchet", LOG_INFO, false};

/* Field values (bot, condition) are ids; anything longer is cut here. */
#define FIELD_MAX 256

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",   [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",
    [LOG_ERR] = "error",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info",     [LOG_DEBUG] = "debug",
};

const char *rt_log_level_name(int priority) {
    if (priority < 0 || (size_t)priority >= ELEMENTSOF(level_names))
        return "unknown";
    return level_names[priority];
}

int rt_log_level_from_name(const char *name, int *priority) {
    if (!name || !priority)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(level_names); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *priority = (int)i;
            return 0;
        }
    }
    if (strcasecmp(name, "err") == 0) {
        *priority = LOG_ERR;
        return 0;
    }
    if (strcasecmp(name, "warn") == 0) {
        *priority = LOG_WARNING;
        return 0;
    }
    return -EINVAL;
}

bool rt_log_journal_stream_matches(const char *env, dev_t dev, ino_t ino) {
    uintmax_t want_dev, want_ino;
    int end = 0;

    if (!env || sscanf(env, "%ju:%ju%n", &want_dev, &want_ino, &end) != 2 || env[end] != '\0')
        return false;
    return want_dev == (uintmax_t)dev && want_ino == (uintmax_t)ino;
}

/* Per systemd.exec(5): JOURNAL_STREAM holds stderr's device and inode when
 * the service's stderr goes to the journal; a redirected stderr won't match.
 * The native socket must exist too: sd_journal_sendv() reports success
 * when it is missing, and the message would be lost. */
static bool stderr_is_journal(void) {
    const char *env = getenv("JOURNAL_STREAM");
    struct stat st;

    if (!env || fstat(STDERR_FILENO, &st) < 0)
        return false;
    if (!rt_log_journal_stream_matches(env, st.st_dev, st.st_ino))
        return false;
    return access("/run/systemd/journal/socket", W_OK) == 0;
}

void rt_log_init(const char *identifier, int min_priority) {
    rt_strlcpy(log_config.ident, identifier && *identifier ? identifier : "ratchet",
               sizeof(log_config.ident));
    if (min_priority < LOG_EMERG)
        min_priority = LOG_EMERG;
    if (min_priority > LOG_DEBUG)
        min_priority = LOG_DEBUG;
    log_config.min_priority = min_priority;
    log_config.journal = stderr_is_journal();
}

static void replace_control_chars(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static bool msgid_valid(const char *id) {
    size_t n = 0;
    for (; id[n]; n++)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return false;
    return n == 32;
}

/* Appends with snprintf semantics but never moves past the end of buf. */
static size_t append(char *buf, size_t size, size_t len, const char *fmt, ...) _printf_(4, 5);
static size_t append(char *buf, size_t size, size_t len, const char *fmt, ...) {
    va_list ap;
    int n;

    if (len + 1 >= size)
        return len;
    va_start(ap, fmt);
    n = vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return len;
    return (size_t)n >= size - len ? size - 1 : len + (size_t)n;
}

size_t rt_log_format_line(char *buf, size_t size, int priority, const char *bot,
                          const char *cond, const char *message) {
    size_t len = 0;

    if (size == 0)
        return 0;
    buf[0] = '\0';
    len = append(buf, size, len, "%s: %s", rt_log_level_name(priority), message);
    if (bot && cond)
        len = append(buf, size, len, " [bot=%s condition=%s]", bot, cond);
    else if (bot)
        len = append(buf, size, len, " [bot=%s]", bot);
    else if (cond)
        len = append(buf, size, len, " [condition=%s]", cond);
    replace_control_chars(buf);
    return len;
}

static void write_all_stderr(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report it */
        buf += n;
        len -= (size_t)n;
    }
}

static void log_to_stderr(int priority, const char *bot, const char *cond, const char *message) {
    char line[RT_LOG_MESSAGE_MAX + 3 * FIELD_MAX];
    size_t len = rt_log_format_line(line, sizeof(line) - 1, priority, bot, cond, message);

    line[len++] = '\n';
    write_all_stderr(line, len);
}

/* Returns 0 or the negative errno of sd_journal_sendv(). */
static int log_to_journal(int priority, const char *msgid, const char *bot, const char *cond,
                          const char *message) {
    char f_message[RT_LOG_MESSAGE_MAX + 16], f_priority[32], f_ident[RT_LOG_IDENT_MAX + 32];
    char f_msgid[64], f_bot[FIELD_MAX + 32], f_cond[FIELD_MAX + 32];
    struct iovec iov[6];
    int n = 0;

#define ADD_FIELD(buf, ...)                                              \
    do {                                                                 \
        int _len = snprintf(buf, sizeof(buf), __VA_ARGS__);              \
        if (_len < 0)                                                    \
            break;                                                       \
        iov[n].iov_base = buf;                                           \
        iov[n].iov_len = (size_t)_len < sizeof(buf) ? (size_t)_len : sizeof(buf) - 1; \
        n++;                                                             \
    } while (0)

    ADD_FIELD(f_message, "MESSAGE=%s", message);
    ADD_FIELD(f_priority, "PRIORITY=%d", priority);
    ADD_FIELD(f_ident, "SYSLOG_IDENTIFIER=%s", log_config.ident);
    if (msgid && msgid_valid(msgid))
        ADD_FIELD(f_msgid, "MESSAGE_ID=%s", msgid);
    if (bot)
        ADD_FIELD(f_bot, "RATCHET_BOT=%s", bot);
    if (cond)
        ADD_FIELD(f_cond, "RATCHET_CONDITION=%s", cond);
#undef ADD_FIELD
    return sd_journal_sendv(iov, n);
}

void rt_log(int priority, const char *msgid, const char *bot, const char *cond,
            const char *fmt, ...) {
    char message[RT_LOG_MESSAGE_MAX + 1];
    va_list ap;
    int n;

    if (priority > log_config.min_priority)
        return;
    va_start(ap, fmt);
    n = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (n < 0)
        rt_strlcpy(message, "(unformattable log message)", sizeof(message));
    else if ((size_t)n >= sizeof(message))
        memcpy(message + sizeof(message) - 4, "...", 4);
    replace_control_chars(message);

    if (log_config.journal && log_to_journal(priority, msgid, bot, cond, message) >= 0)
        return;
    log_to_stderr(priority, bot, cond, message);
}
