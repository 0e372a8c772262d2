/* CVSS v3.0 / v3.1 vector parsing and base scores, as FIRST's specification
 * documents define them (https://www.first.org/cvss/v3.1/specification-document,
 * https://www.first.org/cvss/v3.0/specification-document). Pure: no I/O.
 *
 * Parsing is strict: the prefix must be "CVSS:3.0/" or "CVSS:3.1/", every
 * base metric must be present exactly once, temporal and environmental
 * metrics are accepted (each at most once, "X" allowed) but only the base
 * score is computed. Metrics may appear in any order, as the specification
 * allows. Input is limited to RT_CVSS_VECTOR_MAX bytes. */
#ifndef RATCHET_CVSS_H
#define RATCHET_CVSS_H

#include <stddef.h>

#define RT_CVSS_VECTOR_MAX 256

enum rt_cvss_version {
    RT_CVSS_V3_0 = 0,
    RT_CVSS_V3_1,
};

/* Metrics in the specification's vector-string order (Table 15 of v3.1).
 * The first RT_CVSS_BASE_COUNT are the base metrics. */
enum rt_cvss_metric {
    RT_CVSS_AV = 0, RT_CVSS_AC, RT_CVSS_PR, RT_CVSS_UI, RT_CVSS_S,
    RT_CVSS_C, RT_CVSS_I, RT_CVSS_A,
    RT_CVSS_E, RT_CVSS_RL, RT_CVSS_RC,
    RT_CVSS_CR, RT_CVSS_IR, RT_CVSS_AR,
    RT_CVSS_MAV, RT_CVSS_MAC, RT_CVSS_MPR, RT_CVSS_MUI, RT_CVSS_MS,
    RT_CVSS_MC, RT_CVSS_MI, RT_CVSS_MA,
    RT_CVSS_METRIC_COUNT
};
#define RT_CVSS_BASE_COUNT 8

struct rt_cvss {
    enum rt_cvss_version version;
    /* The metric's value letter as written ('N', 'L', ...), 0 if absent.
     * After a successful parse every base metric is set. */
    char value[RT_CVSS_METRIC_COUNT];
};

/* Parse VECTOR into *out. Returns 0, or -EINVAL with a one-line message in
 * err (if errlen > 0), e.g. "unknown metric 'XX'", "missing base metric AV",
 * "duplicate metric 'AV'", "invalid value 'X' for metric AV". */
int rt_cvss_parse(const char *vector, struct rt_cvss *out, char *err, size_t errlen);

/* Base score of a parsed vector (0.0 .. 10.0, one decimal, exactly k/10),
 * rounded with the Roundup of the vector's own version. */
double rt_cvss_base_score(const struct rt_cvss *v);

/* Parse and score in one step. Returns 0 or -EINVAL (message in err). */
int rt_cvss_score(const char *vector, double *score, char *err, size_t errlen);

/* The specification's Roundup. v3.0: the smallest one-decimal number >= x
 * (ceil(x * 10) / 10). v3.1 (Appendix A): the same, computed on x rounded
 * to 5 decimal places first, so float noise such as 4.000000000000001
 * rounds to 4.0 rather than 4.1. */
double rt_cvss_roundup(enum rt_cvss_version version, double x);

/* Qualitative rating (v3.x Table 14): "None" 0.0, "Low" 0.1-3.9,
 * "Medium" 4.0-6.9, "High" 7.0-8.9, "Critical" 9.0-10.0. NULL if the score
 * is NaN or outside 0..10. */
const char *rt_cvss_severity(double score);

const char *rt_cvss_metric_name(enum rt_cvss_metric m); /* "AV", "MPR", ... */
const char *rt_cvss_version_name(enum rt_cvss_version v); /* "3.0", "3.1" */

#endif
