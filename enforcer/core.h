/* The enforcer's state, rebuilt from the signed log at every start (the log
 * is the only source of truth): which bots are in Limited live since which
 * record, and which (bot, condition, window) were already recorded. It
 * checks each DEMOTE against its own copy of the policy, appends the signed
 * record (fdatasync'd) before acknowledging, and keeps the world-readable
 * readiness view in step. It also records, once per demote record, that the
 * control plane acknowledged it (an "actuated" record, reported by the
 * watchdog, which pushes the records). It has no command to undo anything. */
#ifndef RATCHET_ENF_CORE_H
#define RATCHET_ENF_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cmdlog/writer.h"
#include "common/proto.h"
#include "policy/policy.h"

struct enf_core;

struct enf_core_options {
    const char *state_dir;
    const char *origin;
    const struct rt_log_key *key;
    const struct rt_log_key *previous_key;       /* NULL, or the key to rotate away from */
    const struct rt_log_pubkey *const *trusted;  /* the log's earlier keys */
    size_t n_trusted;
    const struct rt_policy *policy;
    const char *readiness_view;
    int64_t watchdog_silence_us;
    const struct rt_logw_ops *log_ops; /* NULL: real I/O */
};

/* Opens (verifying) or creates the log, rebuilds the state, writes the
 * readiness view. When the log is still on previous_key, appends the
 * key_rotation record that hands over to key. -EBADMSG, -EKEYREJECTED etc.
 * with err saying why (fail closed). */
int enf_core_open(const struct enf_core_options *opt, int64_t now_wall_us, int64_t now_mono_us,
                  struct enf_core **out, char *err, size_t errlen);
void enf_core_close(struct enf_core *c);

/* The DEMOTE handler: fills reply with DEMOTE_ACK (recorded, duplicate,
 * already limited) or DEMOTE_REFUSED (the policy does not justify it).
 * Returns -EIO when the log failed: nothing may be acknowledged and the
 * enforcer must exit. */
int enf_core_demote(struct enf_core *c, const struct rt_msg_demote *req, int64_t now_wall_us,
                    struct rt_msg *reply);
/* Group commit. Between begin and end, enf_core_demote() appends each record
 * (signed and written) but leaves its fdatasync (rt_logw_defer_sync), the
 * signed checkpoint and the readiness view to enf_core_batch_end(), which
 * does them once for the batch. The caller sends the batch's
 * acknowledgements only after a successful end; -EIO (the log failed: the
 * enforcer must exit) means none may be sent. */
void enf_core_batch_begin(struct enf_core *c);
int enf_core_batch_end(struct enf_core *c, int64_t now_wall_us);
int enf_core_readiness(struct enf_core *c, const char *bot, struct rt_msg_readiness *reply);
/* The ACTUATED handler: the control plane took demote record req->for_seq.
 * Appends one signed actuated record (fdatasync'd, checkpointed) and fills
 * reply (RECORDED, or DUPLICATE with the earlier record's seq when that
 * demote record was already marked: never a second record). -EINVAL (nothing
 * written) when for_seq is not a demote record of the log or the status is
 * not 2xx; -EIO when the log failed (the enforcer must exit). */
int enf_core_actuated(struct enf_core *c, const struct rt_msg_actuated *req, int64_t now_wall_us,
                      struct rt_msg_actuated_ack *reply);
/* Any valid message from the watchdog. Records watchdog_back after a silence. */
int enf_core_watchdog_seen(struct enf_core *c, int64_t now_wall_us, int64_t now_mono_us);
/* Once a second: records watchdog_silent when the watchdog has been quiet too
 * long, and signs a checkpoint when `checkpoint_due`. -EIO if the log failed. */
int enf_core_tick(struct enf_core *c, int64_t now_wall_us, int64_t now_mono_us, bool checkpoint_due);

struct enf_core_stats {
    uint64_t records, demotions, duplicates, already_limited, refused, limited_bots;
    uint64_t actuated, actuated_duplicates, actuated_invalid;
    bool watchdog_silent;
};
void enf_core_get_stats(const struct enf_core *c, struct enf_core_stats *out);
struct rt_logw *enf_core_log(struct enf_core *c);

/* Why the policy does not justify a request ("" if it does). Pure. */
bool enf_policy_justifies(const struct rt_policy *p, const struct rt_msg_demote *d, int64_t now_wall_us,
                          char *why, size_t whylen);

#endif
