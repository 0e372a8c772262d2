/* Persistence of the engine's windows in the crash-safe journal
 * (common/journal.h). Records are written on transitions only (the engine's
 * change hook), committed in groups, and compacted into a snapshot when the
 * journal outgrows it. Restoring on another boot rebases the engine's
 * monotonic timeline onto the wall clock. */
#ifndef RATCHET_WINSTORE_H
#define RATCHET_WINSTORE_H

#include "common/journal.h"
#include "policy/engine.h"

#define RT_BOOT_ID_MAX 64

struct rt_winstore;

/* Opens (or creates) the store "windows" in dir, restores every bot into e
 * (which must be empty), installs the change hook, and rebases e if boot_id
 * differs from the saved one or is "" (unknown). A corrupt store is -EBADMSG with report->message
 * saying where; the engine must then be discarded. */
int rt_winstore_open(const char *dir, struct rt_engine *e, const char *boot_id, struct rt_now now,
                     const struct rt_journal_ops *ops, struct rt_winstore **out,
                     struct rt_journal_load_report *report);
/* Makes every transition since the last commit durable, then compacts if the
 * journal has outgrown the snapshot. -EIO: the store failed (see journal.h). */
int rt_winstore_commit(struct rt_winstore *w);
/* fn is called before every commit of the store, also the partial commits
 * of a large batch and compactions; if it fails, so does that commit (the
 * error is kept as for a failed put). The watchdog commits its pending
 * hand-offs there, so a decision's "fired" state is never durable before
 * the decision is. */
void rt_winstore_set_pre_commit(struct rt_winstore *w, int (*fn)(void *ud), void *ud);
/* Writes a full snapshot now (also records the current clock state). */
int rt_winstore_compact(struct rt_winstore *w);
void rt_winstore_close(struct rt_winstore *w);
void rt_winstore_get_stats(const struct rt_winstore *w, struct rt_journal_stats *out);
const char *rt_winstore_last_error(const struct rt_winstore *w);

/* Reads the current boot id (/proc/sys/kernel/random/boot_id) into buf. */
int rt_boot_id(char buf[RT_BOOT_ID_MAX + 1]);

#endif
