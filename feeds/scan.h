/* Security scanner reports -> evidence for the `cvss` condition: the highest
 * CVSS v3 base score among a bot's open findings (0 when there are none) and
 * the ids of the findings that determine it. docs/feeds.md, "Security
 * findings (CVSS)", is the authoritative description of the rules.
 *
 * Formats: Trivy JSON (SchemaVersion 2), Grype JSON, OSV (one record, an
 * array of records, or osv-scanner output) and ratchet's native
 * {"findings":[...]}. Pure: no I/O; the caller reads the report. */
#ifndef RATCHET_SCAN_H
#define RATCHET_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"

/* Limits on what a report may make us hold or compute with. */
#define RT_SCAN_MAX_BYTES (64 * 1024 * 1024)
#define RT_SCAN_MAX_FINDINGS 100000 /* finding entries in one report */
#define RT_SCAN_ID_MAX 128          /* bytes of a finding id */
#define RT_SCAN_SOURCE_MAX 32       /* vendor label kept per hit (longer ones are cut) */
#define RT_SCAN_LIST_MAX 16         /* ids kept per list; `total` has the full count */
#define RT_SCAN_DETAIL_MAX 1024     /* bytes of rt_scan_detail() output, without the NUL */
/* A report's score disagrees with the score computed from its vector when
 * they differ by more than this. */
#define RT_SCAN_MISMATCH_TOLERANCE 0.05

enum rt_scan_format {
    RT_SCAN_AUTO = 0, /* detect from the report's shape */
    RT_SCAN_TRIVY,
    RT_SCAN_GRYPE,
    RT_SCAN_OSV,
    RT_SCAN_NATIVE,
};

struct rt_scan_options {
    enum rt_scan_format format;
    enum rt_cvss_source source; /* which vendor's score counts per finding */
    double threshold;           /* counts findings with score > threshold (strictly) */
};

/* One finding in a result list. */
struct rt_scan_hit {
    char id[RT_SCAN_ID_MAX + 1];
    char source[RT_SCAN_SOURCE_MAX + 1]; /* vendor whose score counts ("nvd", "redhat", ...); may be "" */
    double score;                         /* the score that counts (computed from the vector if there is one) */
    double reported;                      /* mismatch list only: the score the report states */
};

struct rt_scan_list {
    size_t total; /* findings that belong in the list; n <= RT_SCAN_LIST_MAX of them are kept */
    size_t n;
    struct rt_scan_hit hit[RT_SCAN_LIST_MAX];
};

struct rt_scan_result {
    enum rt_scan_format format; /* the format parsed (never RT_SCAN_AUTO) */
    double threshold;
    double max_score;           /* highest score among open scored findings; 0 if none */
    size_t n_entries;           /* finding entries read from the report (before merging by id) */
    size_t n_findings;          /* open findings, one per distinct id, scored or not */
    size_t n_above;             /* open findings with score > threshold */
    size_t n_closed;            /* entries that do not count: native "fixed", OSV "withdrawn" */
    size_t n_non_v3;            /* CVSS entries of other versions (v2, v4) that were ignored */
    struct rt_scan_list top;      /* findings with score == max_score, by id */
    struct rt_scan_list above;    /* findings with score > threshold, highest score first, then by id */
    struct rt_scan_list unscored; /* findings without any usable CVSS v3 score, by id */
    struct rt_scan_list mismatch; /* findings whose stated score disagrees with their vector, by id */
};

const char *rt_scan_format_name(enum rt_scan_format f); /* "auto" "trivy" "grype" "osv" "native" */
int rt_scan_format_from_name(const char *name, enum rt_scan_format *out); /* 0 or -EINVAL */

/* Parse one report and compute the evidence. Returns 0, or a negative errno
 * with a one-line message in err (if errlen > 0), the offending field first:
 *   -EINVAL  malformed JSON, unknown or ambiguous format, a wrong type or
 *            value in a field that is read ("Results[2].Vulnerabilities[0]
 *            .CVSS.nvd.V3Score: expected a number"), an invalid CVSS v3
 *            vector, an id that is empty, longer than RT_SCAN_ID_MAX bytes or
 *            contains control characters, a threshold outside 0..10;
 *   -E2BIG   more than RT_SCAN_MAX_FINDINGS entries, or more than
 *            RT_SCAN_MAX_BYTES of text;
 *   -ENOMEM.
 * *out is fully written on success and zeroed on failure. */
int rt_scan_parse(const char *text, size_t len, const struct rt_scan_options *opt,
                  struct rt_scan_result *out, char *err, size_t errlen);

/* A short human-readable summary for the evidence `detail` field, e.g.
 * "trivy: 2 of 5 findings > 7.0: CVE-2021-44228 (10.0, nvd), CVE-2021-33574
 * (9.8, nvd); 1 unscored: CVE-2004-0971". Lists are cut at item boundaries
 * with "+N more" so the text never exceeds RT_SCAN_DETAIL_MAX bytes.
 * Returns the length written (NUL not counted). */
size_t rt_scan_detail(const struct rt_scan_result *r, char buf[RT_SCAN_DETAIL_MAX + 1]);

#endif
