/* Alertmanager input: label matchers, webhook payloads (version "4") and the
 * `GET /api/v2/alerts` response, reduced to the alerts ratchet acts on.
 * Pure: no I/O. docs/alertmanager.md describes what is accepted and why.
 *
 * An alert is *usable* when its full label set matches the P0 matchers and
 * its bot label holds a valid bot id (rt_bot_id_valid). Parsers keep only
 * usable alerts; the others are counted per reason and skipped. */
#ifndef RATCHET_ALERTMANAGER_H
#define RATCHET_ALERTMANAGER_H

#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/* ---- limits on what input can make us hold ---- */
#define RT_AM_MAX_MATCHERS 8
#define RT_AM_MATCHERS_TEXT_MAX 2048 /* bytes of a matcher list */
#define RT_AM_LABEL_NAME_MAX 128
#define RT_AM_MATCHER_VALUE_MAX 512  /* bytes of one matcher value, after unquoting */
#define RT_AM_MAX_ALERTS 10000       /* per webhook payload */
#define RT_AM_API_MAX_ALERTS 100000  /* per /api/v2/alerts response */
#define RT_AM_MAX_BODY (32u << 20)   /* bytes of a payload or response */
#define RT_AM_FINGERPRINT_MAX 64
#define RT_AM_ALERTNAME_MAX 128      /* longer alert names are cut (at a UTF-8 boundary) */
#define RT_AM_NAME_MAX 128           /* receiver: cut like alertname */
#define RT_AM_GROUP_KEY_MAX 512      /* groupKey: cut like alertname */
#define RT_AM_ERR_MAX 200            /* suggested size of error buffers */

/* Error classes of the parsers (negative errno values), for the HTTP layer. */
#define RT_AM_EBADREQ (-EBADMSG)  /* 400: malformed, wrong types, unsupported version */
#define RT_AM_EUNUSABLE (-ENODATA) /* 422: well-formed, but no alert is usable */
#define RT_AM_ETOOLARGE (-EFBIG)  /* 413: more than RT_AM_MAX_BODY bytes */

/* HTTP status for a parser's return value: 0 -> 200, RT_AM_EBADREQ -> 400,
 * RT_AM_ETOOLARGE -> 413, RT_AM_EUNUSABLE -> 422, anything else (-ENOMEM) -> 500. */
int rt_am_http_status(int rc);

/* ---- matchers: Alertmanager / Prometheus syntax ---- */

enum rt_am_match_op {
    RT_AM_MATCH_EQ = 0, /* =  */
    RT_AM_MATCH_NE,     /* != */
    RT_AM_MATCH_RE,     /* =~ anchored on both sides */
    RT_AM_MATCH_NRE,    /* !~ anchored on both sides */
};

struct rt_am_matcher {
    enum rt_am_match_op op;
    char name[RT_AM_LABEL_NAME_MAX + 1];
    char value[RT_AM_MATCHER_VALUE_MAX + 1]; /* unquoted */
    bool has_re;
    regex_t re; /* "^(" value ")$", REG_EXTENDED | REG_NOSUB */
};

/* Owns compiled regexes: never copy by value; free with rt_am_matchers_free. */
struct rt_am_matchers {
    size_t n;
    struct rt_am_matcher m[RT_AM_MAX_MATCHERS];
};

/* Parse `severity="P0"`, `{severity=~"P0|critical", team!="test"}`, ...
 * Comma separated, optional braces, at most RT_AM_MAX_MATCHERS. Values are
 * double-quoted (escapes \" \\ \n; any other backslash is kept for the
 * regex) or unquoted (no blanks, quotes, commas or braces). Label names:
 * [a-zA-Z_:][a-zA-Z0-9_:]*. Regexes are POSIX ERE; Go/RE2-only syntax that
 * POSIX would read differently ((?i), \d, \w, ...) is refused rather than
 * silently changing meaning. Returns 0 or -EINVAL with a message in err
 * ("matcher 2: invalid regex ..."); on error *out holds nothing to free.
 * -ENOMEM if regcomp runs out of memory. */
int rt_am_matchers_parse(const char *text, struct rt_am_matchers *out, char *err, size_t errlen);
void rt_am_matchers_free(struct rt_am_matchers *m);

/* A missing label matches as the empty string, as in Prometheus. */
bool rt_am_matcher_match(const struct rt_am_matcher *m, const char *value_or_null);
/* Label lookup: value of label NAME, or NULL when absent. */
typedef const char *(*rt_am_label_fn)(const char *name, void *userdata);
/* All matchers must match (an empty list matches everything). */
bool rt_am_matchers_match(const struct rt_am_matchers *m, rt_am_label_fn get, void *userdata);

/* Canonical text of one matcher (`name="value"` with \" \\ \n escaped), for
 * the API's `filter` query parameter. Returns the length or -ENOBUFS. */
int rt_am_matcher_format(const struct rt_am_matcher *m, char *buf, size_t cap);

bool rt_am_label_name_valid(const char *name);
/* 1..RT_AM_FINGERPRINT_MAX hex digits. */
bool rt_am_fingerprint_valid(const char *s);

/* ---- alerts ---- */

/* What ratchet needs to know to act on an alert. */
struct rt_am_config {
    const struct rt_am_matchers *p0; /* the P0 condition; NULL or empty matches every alert */
    const char *bot_label;           /* label holding the bot id, e.g. "bot" */
};

enum rt_am_ignore {
    RT_AM_IGN_NOT_P0 = 0, /* the P0 matchers do not match the labels */
    RT_AM_IGN_NO_BOT,     /* P0, but the bot label is missing or empty */
    RT_AM_IGN_BAD_BOT,    /* P0, but the bot label is not a valid bot id */
    RT_AM_IGN_COUNT
};
const char *rt_am_ignore_name(enum rt_am_ignore r); /* "not_p0" "no_bot" "bad_bot" */

enum rt_am_state {
    RT_AM_STATE_NONE = 0,    /* webhook: no state field */
    RT_AM_STATE_ACTIVE,      /* API states */
    RT_AM_STATE_SUPPRESSED,
    RT_AM_STATE_UNPROCESSED,
};
const char *rt_am_state_name(enum rt_am_state s);

/* A usable alert (the P0 matchers matched its full label set). */
struct rt_am_alert {
    char fingerprint[RT_AM_FINGERPRINT_MAX + 1]; /* lower-case hex */
    char bot[RT_BOT_ID_MAX + 1];                 /* value of the bot label */
    char alertname[RT_AM_ALERTNAME_MAX + 1];     /* "" if the label is absent */
    bool firing;          /* webhook: status "firing"; API: always true (listed = active) */
    int64_t starts_at_us;
    bool has_ends_at;     /* false for Go's zero time 0001-01-01T00:00:00Z ("none") */
    int64_t ends_at_us;   /* webhook: resolved at; API: valid until */
    /* API only */
    enum rt_am_state state;
    bool silenced;        /* status.silencedBy is not empty */
    bool inhibited;       /* status.inhibitedBy is not empty */
    bool has_updated_at;
    int64_t updated_at_us;
};

struct rt_am_alert_list {
    struct rt_am_alert *alerts; /* usable alerts only, in input order */
    size_t n_alerts;
    size_t n_received;          /* alerts in the input */
    size_t n_ignored;           /* sum of ignored[] */
    size_t ignored[RT_AM_IGN_COUNT];
};
void rt_am_alert_list_free(struct rt_am_alert_list *l); /* frees alerts; the struct stays */

struct rt_am_webhook {
    char receiver[RT_AM_NAME_MAX + 1];
    bool firing;                 /* group status: "firing" (true) or "resolved" */
    int version;                 /* 4 */
    char group_key[RT_AM_GROUP_KEY_MAX + 1];
    int64_t truncated_alerts;    /* alerts Alertmanager left out (max_alerts) */
    struct rt_am_alert_list list;
};
void rt_am_webhook_free(struct rt_am_webhook *w);

/* Parse a webhook body (payload version "4"). Returns 0 (at least one usable
 * alert), RT_AM_EBADREQ, RT_AM_EUNUSABLE (out->list holds the counts),
 * RT_AM_ETOOLARGE or -ENOMEM. The message in err is short and names the
 * offending field: "alerts[3].startsAt: not an RFC 3339 time". Free *out with
 * rt_am_webhook_free() whatever the result. */
int rt_am_webhook_parse(const char *body, size_t len, const struct rt_am_config *cfg,
                        struct rt_am_webhook *out, char *err, size_t errlen);

/* rt_am_webhook_parse() with the whole body loaded by jansson, without the
 * hand-written scanner that reads the usual payload. The same answer (return
 * value, message, *out) for every input: the reference for the differential
 * tests and the fuzz harness. */
int rt_am_webhook_parse_jansson(const char *body, size_t len, const struct rt_am_config *cfg,
                                struct rt_am_webhook *out, char *err, size_t errlen);

/* Parse a `GET /api/v2/alerts` response (a JSON array of gettableAlert).
 * An empty or all-ignored list is valid (returns 0): it says no P0 alert is
 * active. Errors as for the webhook (never RT_AM_EUNUSABLE); messages name
 * the element: "[2].status.state: expected active, suppressed or unprocessed".
 * Free *out with rt_am_alert_list_free() whatever the result. */
int rt_am_alerts_parse(const char *body, size_t len, const struct rt_am_config *cfg,
                       struct rt_am_alert_list *out, char *err, size_t errlen);

/* Parse a `GET /api/v2/status` response for the time Alertmanager started:
 * its "uptime" field, which despite the name is an RFC 3339 time. Other
 * fields are not checked. Alertmanager keeps alerts in memory only, so a
 * recent start means its clients may not have re-sent them all yet (see
 * rt_p0track_poll_partial). Returns 0, RT_AM_EBADREQ or RT_AM_ETOOLARGE with
 * a message in err ("uptime: missing"). */
int rt_am_status_parse(const char *body, size_t len, int64_t *started_us, char *err, size_t errlen);

#endif
