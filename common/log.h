/* Daemon logging. Under systemd's journal (JOURNAL_STREAM names stderr) each
 * call sends one structured entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and,
 * when given, MESSAGE_ID, RATCHET_BOT, RATCHET_CONDITION. Otherwise it writes
 * one plain line to stderr: "<level>: message [bot=X condition=Y]".
 *
 * The identifier, minimum level and output mode are process-wide and set once
 * at startup by rt_log_init() (before any other thread exists); without it,
 * lines go to stderr at level info and above. */
#ifndef RATCHET_LOG_H
#define RATCHET_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, ... */

#include "common/util.h"

/* MESSAGE_IDs (journalctl MESSAGE_ID=...). Fixed forever: operators and
 * alerting rules match on them. */
#define RT_MSGID_WINDOW_OPENED      "047c0cd96ea04ee6a2bbb733e4001af4"
#define RT_MSGID_WINDOW_CLOSED      "418befbef9814af5bf691db5de8a74b1"
#define RT_MSGID_DEMOTION_DECIDED   "e28eaf4b9b5249669b264306e7abfa62"
#define RT_MSGID_DEMOTION_ACKED     "e1d62af088ba470d8a934762f86f70c1"
#define RT_MSGID_DEMOTION_REFUSED   "5b0e7f3c9d2a4e61b8f0a3c7d9e1f246"
#define RT_MSGID_SOURCE_DOWN        "c341932d1351432f80fb8cfe89ad2ea0"
#define RT_MSGID_SOURCE_UP          "4c5093014a724f338a198fef59e9df20"
#define RT_MSGID_WEBHOOK_REJECTED   "42eaef836c404acf957d56da9418d68e"
#define RT_MSGID_STATE_STORE_ERROR  "71b97814eecf456b95b21bf5ba6e4e14"
#define RT_MSGID_CLOCK_STEP         "93f3efe85e134a059d2e6bd681e39901"
#define RT_MSGID_STARTUP            "18a2fc40f6854e0d942602663193d81a"
#define RT_MSGID_READY              "9041d430ee904389974d0be0bd4b9296"
#define RT_MSGID_KEY_ROTATED        "6f0c2a9d47b34e1e9b5d8a13c7e2f580"

/* Longest message kept; longer ones are cut and end in "...". */
#define RT_LOG_MESSAGE_MAX 2048
#define RT_LOG_IDENT_MAX 64

/* identifier: SYSLOG_IDENTIFIER (NULL: "ratchet"). min_priority: the least
 * severe priority still logged (LOG_INFO logs info and more severe).
 * Detects the journal from JOURNAL_STREAM and stderr. */
void rt_log_init(const char *identifier, int min_priority);

/* Logs when priority <= the minimum level. msgid: 32 lowercase hex digits or
 * NULL; bot, cond: NULL when not about one. Control characters in the
 * message are replaced by spaces so a line stays one line. */
void rt_log(int priority, const char *msgid, const char *bot, const char *cond,
            const char *fmt, ...) _printf_(5, 6);

/* "emerg" "alert" "crit" "error" "warning" "notice" "info" "debug". */
const char *rt_log_level_name(int priority);
/* Accepts the names above (and "err", "warn"); 0 or -EINVAL. */
int rt_log_level_from_name(const char *name, int *priority);

/* Exposed for tests. */
/* JOURNAL_STREAM is "DEV:INO" in decimal; true if it names (dev, ino). */
bool rt_log_journal_stream_matches(const char *env, dev_t dev, ino_t ino);
/* The plain line, without the newline; returns its length (truncated to fit). */
size_t rt_log_format_line(char *buf, size_t size, int priority, const char *bot,
                          const char *cond, const char *message);

#endif
