/* The ratchet-watchdog configuration file (docs/configuration.md is the
 * reference of every key). Parsing is as strict as the policy file's:
 * unknown keys, wrong types, duplicate keys, missing required keys and
 * out-of-range values are errors, reported as LINE:COL: message in a
 * struct rt_policy_errors (print them with rt_jcheck_print_errors()).
 *
 * The parser stores credential file paths, never credentials:
 * rt_wd_config_read_secret() reads one when the daemon needs it. */
#ifndef RATCHET_WD_CONFIG_H
#define RATCHET_WD_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "feeds/scan.h"     /* enum rt_scan_format */
#include "policy/policy.h"  /* struct rt_policy_errors */

/* Limits on what a configuration file may contain. */
#define RT_WD_CONFIG_MAX_BYTES (256 * 1024)
#define RT_WD_LISTEN_MAX 8
#define RT_WD_PATH_MAX 4095   /* bytes of a file or directory path */
#define RT_WD_SOCKET_PATH_MAX 107 /* a Unix socket path: sun_path less its NUL */
#define RT_WD_URL_MAX 2048
#define RT_WD_QUERY_MAX 4096  /* a PromQL expression */
#define RT_WD_MATCHER_MAX 1024
#define RT_WD_USERNAME_MAX 256
#define RT_WD_SECRET_MAX 4096 /* bytes of a credentials file, after trimming */
/* The control plane's URL up to its query: the "target" of actuated records. */
#define RT_WD_CONTROL_PLANE_TARGET_MAX 255

/* Defaults. */
#define RT_WD_DEFAULT_MAX_BODY_BYTES 1048576
#define RT_WD_DEFAULT_EVLOG_MAX_BYTES (UINT64_C(64) * 1024 * 1024)
#define RT_WD_DEFAULT_EVLOG_KEEP 5
#define RT_WD_DEFAULT_BOT_LABEL "bot"
#define RT_WD_DEFAULT_P0_MATCHER "severity=\"P0\""
#define RT_WD_DEFAULT_POLL_US (INT64_C(60) * 1000000)          /* bots url, alertmanager, prometheus */
#define RT_WD_DEFAULT_RESTART_GRACE_US (INT64_C(120) * 1000000)
#define RT_WD_DEFAULT_DRIFT_INTERVAL_US (INT64_C(300) * 1000000)
#define RT_WD_DEFAULT_CVSS_INTERVAL_US (INT64_C(3600) * 1000000)
#define RT_WD_DEFAULT_BACKFILL_MAX_US (INT64_C(6) * 3600 * 1000000)
#define RT_WD_DEFAULT_HTTP_TIMEOUT_US (INT64_C(10) * 1000000)
#define RT_WD_DEFAULT_HTTP_MAX_CONCURRENCY 8

enum rt_wd_auth_kind {
    RT_WD_AUTH_NONE = 0, /* "none" for the API; for a source: no "auth" key */
    RT_WD_AUTH_BEARER,
    RT_WD_AUTH_BASIC,
};

/* Credentials by reference: paths of files that hold them. */
struct rt_wd_auth {
    enum rt_wd_auth_kind kind;
    char *bearer_token_file; /* BEARER */
    char *username;          /* BASIC; never contains ':' */
    char *password_file;     /* BASIC */
};

struct rt_wd_tls {
    char *cert_file;
    char *key_file;
    char *client_ca_file; /* NULL: clients are not asked for certificates */
};

struct rt_wd_listen {
    char address[INET6_ADDRSTRLEN]; /* as written (a numeric address) */
    uint16_t port;
    struct sockaddr_storage addr;   /* address and port, ready for bind() */
    socklen_t addr_len;
    bool loopback;                  /* 127.0.0.0/8 or ::1 */
    bool has_tls;
    struct rt_wd_tls tls;
};

struct rt_wd_evidence_log {
    uint64_t max_bytes;
    unsigned keep;
};

enum rt_wd_bots_kind {
    RT_WD_BOTS_FILE = 1,
    RT_WD_BOTS_URL,
    RT_WD_BOTS_FROM_ENFORCER,
};

struct rt_wd_bots {
    enum rt_wd_bots_kind kind;
    char *file;          /* FILE */
    char *url;           /* URL */
    int64_t interval_us; /* URL */
    struct rt_wd_auth auth; /* URL */
};

/* Each source below is optional: one not configured is not polled, and its
 * condition gets no evidence from the watchdog. */
struct rt_wd_alertmanager {
    bool enabled;
    char *url;
    char *bot_label;
    char *p0_matcher; /* as written; feeds/alertmanager parses it */
    int64_t poll_interval_us;
    int64_t restart_grace_us; /* after Alertmanager starts, unlisted alerts are not resolved */
    struct rt_wd_auth auth;
};

struct rt_wd_prometheus {
    bool enabled;
    char *url;
    char *error_rate_query;
    char *bot_label;
    int64_t interval_us;
    int64_t backfill_max_us;
    struct rt_wd_auth auth;
};

enum rt_wd_drift_kind {
    RT_WD_DRIFT_OFF = 0,
    RT_WD_DRIFT_URL,
    RT_WD_DRIFT_PROMETHEUS, /* prometheus_query against the "prometheus" section's url and auth */
};

struct rt_wd_drift {
    enum rt_wd_drift_kind kind;
    char *url;              /* URL */
    char *prometheus_query; /* PROMETHEUS */
    int64_t interval_us;
    struct rt_wd_auth auth; /* URL */
};

enum rt_wd_cvss_kind {
    RT_WD_CVSS_OFF = 0,
    RT_WD_CVSS_URL,
    RT_WD_CVSS_DIR,
};

struct rt_wd_cvss {
    enum rt_wd_cvss_kind kind;
    char *url_template; /* URL: contains "{bot}" */
    char *dir;          /* DIR */
    enum rt_scan_format format;
    int64_t interval_us;
    struct rt_wd_auth auth; /* URL */
};

/* Where the watchdog pushes the enforcer's signed demote records
 * (watchdog/actuate.h). Optional: without it nothing is pushed. */
struct rt_wd_control_plane {
    bool enabled;
    char *url;      /* http(s), no credentials; up to its query at most RT_WD_CONTROL_PLANE_TARGET_MAX */
    char *log_dir;  /* the enforcer's state_dir, which holds commands.log */
    struct rt_wd_auth auth;
};

struct rt_wd_http_client {
    int64_t timeout_us;
    unsigned max_concurrency;
    char *ca_file; /* NULL: the system's trust store */
    /* TLS verification cannot be turned off: "insecure_skip_verify" only
     * accepts false. */
};

struct rt_wd_config {
    struct rt_wd_listen listen[RT_WD_LISTEN_MAX];
    size_t n_listen;
    struct rt_wd_auth auth;
    size_t max_body_bytes;
    char *policy_file; /* NULL: the embedded policy */
    char *state_dir;
    struct rt_wd_evidence_log evidence_log;
    struct rt_wd_bots bots;
    char *enforcer_socket;
    struct rt_wd_alertmanager alertmanager;
    struct rt_wd_prometheus prometheus;
    struct rt_wd_drift drift;
    struct rt_wd_cvss cvss;
    struct rt_wd_control_plane control_plane;
    struct rt_wd_http_client http_client;
};

/* Parse configuration text. Returns 0, -EINVAL with errs filled (every
 * error found, up to RT_POLICY_MAX_ERRORS, sorted by position) or -ENOMEM.
 * errs may be NULL. Free *out with rt_wd_config_free(). */
int rt_wd_config_parse(const char *text, size_t len, struct rt_wd_config **out, struct rt_policy_errors *errs);
/* Read PATH (at most RT_WD_CONFIG_MAX_BYTES) and parse it; I/O errors are
 * errs->e[0] with line 0. */
int rt_wd_config_load(const char *path, struct rt_wd_config **out, struct rt_policy_errors *errs);
void rt_wd_config_free(struct rt_wd_config *cfg);
void rt_wd_config_freep(struct rt_wd_config **cfg);

/* Buffer size that holds any secret rt_wd_config_read_secret() accepts. */
#define RT_WD_SECRET_BUFSZ (RT_WD_SECRET_MAX + 1)

/* Read a credentials file into buf (NUL-terminated) and return its length.
 * One trailing newline ("\n" or "\r\n") is removed. Refused: not a regular
 * file (-EINVAL), empty after trimming (-ENODATA), longer than
 * RT_WD_SECRET_MAX (-EFBIG), containing control characters such as a
 * second line (-EBADMSG: they would corrupt HTTP headers), not fitting in
 * cap (-ENOBUFS); open/read errors as -errno. *group_or_other_readable
 * (may be NULL) is set when the file's mode lets group or others read it:
 * the caller warns, it does not refuse (secrets mounted by orchestrators
 * are often 0644). buf is wiped on failure. */
int rt_wd_config_read_secret(const char *path, char *buf, size_t cap, bool *group_or_other_readable);

#endif
