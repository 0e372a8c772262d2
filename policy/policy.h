/* The demotion policy: four conditions, each with its own window per bot.
 * Parsing is strict (unknown keys, wrong types, NaN, non-positive windows
 * are errors reported as FILE:LINE:COL: message). Pure: no I/O except
 * rt_policy_load_file(), which only reads the file and calls the parser. */
#ifndef RATCHET_POLICY_H
#define RATCHET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rt_cond {
    RT_COND_P0_ALERT = 0,
    RT_COND_ERROR_RATE,
    RT_COND_RECON_DRIFT,
    RT_COND_CVSS,
    RT_COND_COUNT
};

enum rt_on_unknown {
    RT_ON_UNKNOWN_HOLD = 0, /* default: unknown neither closes nor completes a window */
    RT_ON_UNKNOWN_RESET,    /* unknown closes the window */
    RT_ON_UNKNOWN_BREACH,   /* unknown counts as breach (fail closed) */
};

/* Which vendor's CVSS score counts when a report carries several. */
enum rt_cvss_source {
    RT_CVSS_NVD_THEN_HIGHEST = 0,
    RT_CVSS_HIGHEST,
};

#define RT_BOT_ID_MAX 64

/* Limits on what a policy file may make us hold in memory or compute with. */
#define RT_POLICY_MAX_BYTES (1024 * 1024)
#define RT_POLICY_MAX_BOTS 100000
/* Windows and evidence ages above a year are refused: no real policy wants
 * them, and it keeps window arithmetic on int64 microseconds far from overflow. */
#define RT_POLICY_MAX_DURATION_US (INT64_C(365) * 86400 * 1000000)

struct rt_cond_policy {
    bool enabled;
    /* error_rate, cvss: breach when value > threshold (strictly).
     * recon_drift: breach when |value| > tolerance; has_threshold=false means
     * "no policy tolerance": the evidence must carry one, else it is unknown. */
    bool has_threshold;
    double threshold;
    int64_t window_us;
    int64_t max_evidence_age_us;
    enum rt_on_unknown on_unknown;
};

struct rt_bot_policy {
    char bot[RT_BOT_ID_MAX + 1];
    struct rt_cond_policy cond[RT_COND_COUNT]; /* fully merged over the defaults */
};

struct rt_policy {
    struct rt_cond_policy cond[RT_COND_COUNT];
    struct rt_bot_policy *bots; /* sorted by bot id, for bsearch */
    size_t n_bots;
    enum rt_cvss_source cvss_source;
    unsigned char sha256[32]; /* SHA-256 of the source text (embedded default if none) */
};

/* One parse/validation error; messages are "LINE:COL: text" positioned at the
 * offending key or value. `text` holds the message only; line and column are
 * 1-based, and line 0 means the error has no position (I/O, input size, or
 * the "too many errors" note that replaces the last entry when there are
 * more than RT_POLICY_MAX_ERRORS). Errors are sorted by position. */
struct rt_policy_error {
    int line, column;
    char text[200];
};

#define RT_POLICY_MAX_ERRORS 32
struct rt_policy_errors {
    size_t n;
    struct rt_policy_error e[RT_POLICY_MAX_ERRORS];
};

/* Stable ids used in files, evidence and reason codes. */
const char *rt_cond_name(enum rt_cond c);
int rt_cond_from_name(const char *name, enum rt_cond *out); /* 0 or -EINVAL */
const char *rt_on_unknown_name(enum rt_on_unknown u);

/* The guide's rule, compiled in. The same text is installed as
 * default-policy.json; `ratchetctl policy show` prints it. */
extern const char rt_default_policy_json[];

/* Parse policy JSON text. On failure returns -EINVAL with errs filled (all
 * errors found, up to the max). Caller frees with rt_policy_free(). */
int rt_policy_parse(const char *text, size_t len, struct rt_policy **out, struct rt_policy_errors *errs);
int rt_policy_default(struct rt_policy **out);
/* Reads FILE then parses; I/O errors are reported as errs->e[0] with line 0. */
int rt_policy_load_file(const char *path, struct rt_policy **out, struct rt_policy_errors *errs);
void rt_policy_free(struct rt_policy *p);
/* For _cleanup_(rt_policy_freep). */
void rt_policy_freep(struct rt_policy **p);

/* Effective policy of one condition for one bot (per-bot overrides merged).
 * bot NULL or without overrides: the global policy. NULL if c is out of range. */
const struct rt_cond_policy *rt_policy_cond(const struct rt_policy *p, const char *bot, enum rt_cond c);

/* Bot ids: 1..64 chars of [A-Za-z0-9._:-], starting with an alphanumeric. */
bool rt_bot_id_valid(const char *bot);

#endif
