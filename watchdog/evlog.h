/* The evidence log: every observation the watchdog applies, as one line of
 * the evidence stream (docs/evidence.md), so `ratchetctl replay` can re-run
 * real history. Rotated by size: evidence.jsonl, evidence.jsonl.1, ... */
#ifndef RATCHET_EVLOG_H
#define RATCHET_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#include "policy/evidence.h"

struct rt_evlog;

/* keep: how many rotated files to keep besides the current one. */
int rt_evlog_open(const char *path, uint64_t max_bytes, unsigned keep, struct rt_evlog **out);
/* Buffers one line (the buffer is written out at 256 KiB, so memory stays
 * bounded during a large scrape); rotates when the file would exceed
 * max_bytes. */
int rt_evlog_append(struct rt_evlog *l, const struct rt_evidence *ev);
/* Writes buffered lines to the file (no fsync: the log is history for
 * replay, not the source of truth; windows live in the state store). */
int rt_evlog_flush(struct rt_evlog *l);
void rt_evlog_close(struct rt_evlog *l);
uint64_t rt_evlog_lines(const struct rt_evlog *l);
uint64_t rt_evlog_rotations(const struct rt_evlog *l);

#endif
