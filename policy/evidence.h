/* The evidence stream (docs/evidence.md): JSON lines, one observation or
 * readiness change each. Pure parsing and formatting. */
#ifndef RATCHET_EVIDENCE_H
#define RATCHET_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/engine.h"
#include "policy/policy.h"

#define RT_EVIDENCE_LINE_MAX 4096
#define RT_EVIDENCE_SOURCE_MAX 64
#define RT_EVIDENCE_DETAIL_MAX 1024

enum rt_evidence_kind { RT_EVIDENCE_OBS = 0, RT_EVIDENCE_READINESS };

struct rt_evidence {
    enum rt_evidence_kind kind;
    int64_t ts_us;
    char bot[RT_BOT_ID_MAX + 1];
    /* RT_EVIDENCE_OBS */
    enum rt_cond cond;
    bool known;
    double value;
    bool has_tolerance;
    double tolerance;
    char source[RT_EVIDENCE_SOURCE_MAX + 1];
    char detail[RT_EVIDENCE_DETAIL_MAX + 1];
    /* RT_EVIDENCE_READINESS */
    enum rt_readiness readiness;
};

/* Parse one line (without its newline). Returns 0 or -EINVAL with a
 * human-readable reason in err ("bot: invalid id", "value: expected true,
 * false or null for p0_alert", ...). */
int rt_evidence_parse(const char *line, size_t len, struct rt_evidence *out, char *err, size_t errlen);

/* Format one evidence line as compact JSON with keys in a fixed order, no
 * newline. Returns the length, or -ENOBUFS. Parsing the output yields ev. */
int rt_evidence_format(const struct rt_evidence *ev, char *buf, size_t cap);

/* View of an observation line as an engine observation (bot points into ev). */
void rt_evidence_to_obs(const struct rt_evidence *ev, struct rt_obs *obs);

#endif
