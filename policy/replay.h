/* Replay: run the engine in simulated time over an evidence stream.
 * Simulated now = the largest ts seen so far; at the end the engine is
 * advanced to the last ts. Decisions come out sorted by (ts, bot, condition). */
#ifndef RATCHET_REPLAY_H
#define RATCHET_REPLAY_H

#include <stddef.h>

#include "policy/engine.h"
#include "policy/evidence.h"
#include "policy/policy.h"

struct rt_decision_rec {
    char bot[RT_BOT_ID_MAX + 1];
    enum rt_cond cond;
    const char *reason_code; /* static string from the registry */
    int64_t ts_us, window_start_us, window_us, unknown_us, evidence_ts_us;
    bool evidence_known, has_threshold;
    double evidence_value, threshold;
};

struct rt_decision_list {
    struct rt_decision_rec *v;
    size_t n, cap;
};

void rt_decision_list_free(struct rt_decision_list *l);

/* Streaming form: feed items in arrival order, then finish. */
struct rt_replay;
struct rt_replay *rt_replay_new(const struct rt_policy *policy);
int rt_replay_feed(struct rt_replay *r, const struct rt_evidence *ev);
/* Advances to the last ts and appends the sorted decisions to out. */
int rt_replay_finish(struct rt_replay *r, struct rt_decision_list *out);
void rt_replay_free(struct rt_replay *r);

/* Runs a whole stream; returns 0 or a negative errno (-ENOMEM, -EINVAL for an
 * observation the engine refuses). */
int rt_replay(const struct rt_policy *policy, const struct rt_evidence *items, size_t n,
              struct rt_decision_list *out);

#endif
