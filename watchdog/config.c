/* Strict parser of the watchdog's configuration (docs/configuration.md).
 *
 * The walk follows the policy parser's: jansson parses, rt_jcheck_fields()
 * checks each object's keys, and every problem is recorded with its
 * position; nothing stops at the first error. Values are copied into the
 * struct as they are accepted; on any error the struct is freed. */
#include "watchdog/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/jsoncheck.h"
#include "common/util.h"
#include "feeds/prometheus.h" /* RT_PROM_LABEL_MAX */

#define SEC_US INT64_C(1000000)
#define INTERVAL_MIN_US SEC_US
#define INTERVAL_MAX_US (INT64_C(24) * 3600 * SEC_US)
#define BACKFILL_MAX_US (INT64_C(7) * 86400 * SEC_US)
#define RESTART_GRACE_MAX_US (INT64_C(3600) * SEC_US)
#define HTTP_TIMEOUT_MAX_US (INT64_C(3600) * SEC_US)
#define MAX_BODY_MIN 1024
#define MAX_BODY_MAX (64 * 1024 * 1024)
#define EVLOG_MAX_BYTES_MIN (INT64_C(1) << 20)
#define EVLOG_MAX_BYTES_MAX (INT64_C(1) << 40)
#define EVLOG_KEEP_MAX 100
#define HTTP_MAX_CONCURRENCY 64
#define ADDRESS_MAX 253 /* longer than any numeric address; a host name gets the right message */

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == RT_WD_SOCKET_PATH_MAX + 1,
               "RT_WD_SOCKET_PATH_MAX follows sun_path");

struct cfgparse {
    struct rt_jcheck jc;
    struct rt_wd_config *cfg;
    int r; /* -ENOMEM once a copy failed */
};

/* ---- strings (the shared helpers are in common/jsoncheck.h) ---- */

static void take_string(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                        size_t max_len, char **out) {
    rt_jcheck_take_string(&ps->jc, p, key, v, max_len, out, &ps->r);
}

static void take_path_max(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                          size_t max_len, char **out) {
    rt_jcheck_take_path(&ps->jc, p, key, v, max_len, out, &ps->r);
}

static void take_duration(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                          int64_t min_us, int64_t max_us, int64_t *out) {
    rt_jcheck_duration(&ps->jc, p, key, v, min_us, max_us, out);
}

static void take_path(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                      char **out) {
    rt_jcheck_take_path(&ps->jc, p, key, v, RT_WD_PATH_MAX, out, &ps->r);
}

/* Why s is not an acceptable source URL, or NULL. */
static const char *url_problem(const char *s, bool *has_credentials) {
    const char *rest;
    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else
        return "must start with \"http://\" or \"https://\"";
    size_t authority = strcspn(rest, "/?#");
    if (authority == 0)
        return "has no host";
    *has_credentials = memchr(rest, '@', authority) != NULL;
    if (*has_credentials)
        return "must not contain credentials (use \"auth\")";
    for (const char *c = s; *c; c++) {
        if (*c == ' ')
            return "must not contain spaces (percent-encode them)";
        if ((unsigned char)*c >= 0x80)
            return "must be ASCII (percent-encode other characters)";
    }
    return NULL;
}

static bool check_url(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const char *s) {
    bool has_credentials = false;
    const char *why = url_problem(s, &has_credentials);
    if (why && has_credentials) /* do not copy a password into logs */
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" %s", key, why);
    else if (why)
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" %s: \"%s\"", key, why, rt_jshow(s).s);
    return !why;
}

static void take_url(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v, char **out) {
    const char *s;
    if (rt_jcheck_string(&ps->jc, p, key, v, RT_WD_URL_MAX, &s) && check_url(ps, p, key, s))
        rt_jcheck_copy(s, out, &ps->r);
}

/* "{bot}" at least once, and no other brace. */
static bool template_ok(const char *s) {
    bool seen = false;
    while (*s) {
        if (strncmp(s, "{bot}", 5) == 0) {
            seen = true;
            s += 5;
        } else if (*s == '{' || *s == '}') {
            return false;
        } else {
            s++;
        }
    }
    return seen;
}

static void take_url_template(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                              char **out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_WD_URL_MAX, &s) || !check_url(ps, p, key, s))
        return;
    if (!template_ok(s)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must contain the placeholder {bot} and no other braces: \"%s\"", key,
                        rt_jshow(s).s);
        return;
    }
    rt_jcheck_copy(s, out, &ps->r);
}

/* A Prometheus/Alertmanager label name: [A-Za-z_][A-Za-z0-9_]*. */
static bool label_name_valid(const char *s) {
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static void take_label(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                       char **out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_PROM_LABEL_MAX, &s))
        return;
    if (!label_name_valid(s)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be a label name ([A-Za-z_][A-Za-z0-9_]*), not \"%s\"", key, rt_jshow(s).s);
        return;
    }
    rt_jcheck_copy(s, out, &ps->r);
}


static void take_interval(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                          int64_t *out) {
    rt_jcheck_duration(&ps->jc, p, key, v, INTERVAL_MIN_US, INTERVAL_MAX_US, out);
}

/* Calls fn on the member `key` of the object at p if the field is present. */
#define WITH_FIELD(ps, p, fields, idx, fn, ...)                                   \
    do {                                                                          \
        if ((fields)[idx].value) {                                                \
            struct rt_jpath kp_ = rt_jpath_key((p), (fields)[idx].key);           \
            fn((ps), &kp_, (fields)[idx].key, (fields)[idx].value, __VA_ARGS__); \
        }                                                                         \
    } while (0)

/* ---- auth ---- */

static void parse_basic(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, struct rt_wd_auth *out) {
    enum { USERNAME, PASSWORD_FILE, N };
    struct rt_jfield f[N] = {[USERNAME] = {"username", true}, [PASSWORD_FILE] = {"password_file", true}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    if (f[USERNAME].value) {
        struct rt_jpath kp = rt_jpath_key(p, "username");
        const char *s;
        if (rt_jcheck_string(&ps->jc, &kp, "username", f[USERNAME].value, RT_WD_USERNAME_MAX, &s)) {
            if (strchr(s, ':'))
                rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE,
                                "\"username\" must not contain ':' (HTTP basic authentication)");
            else
                rt_jcheck_copy(s, &out->username, &ps->r);
        }
    }
    WITH_FIELD(ps, p, f, PASSWORD_FILE, take_path, &out->password_file);
}

/* {"bearer_token_file": PATH} | {"basic": {...}}; with allow_none also "none".
 * Returns whether v is one of these (the members may still have errors). */
static bool parse_auth(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, bool allow_none,
                       struct rt_wd_auth *out) {
    const char *want = allow_none ? "\"none\" or an object with \"bearer_token_file\" or \"basic\""
                                  : "an object with \"bearer_token_file\" or \"basic\"";
    if (json_is_string(v)) {
        if (allow_none && strcmp(json_string_value(v), "none") == 0) {
            out->kind = RT_WD_AUTH_NONE;
            return true;
        }
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"auth\" must be %s, not \"%s\"", want,
                        rt_jshow(json_string_value(v)).s);
        return false;
    }
    if (!json_is_object(v)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"auth\" must be %s, not %s", want, rt_json_type_name(v));
        return false;
    }
    enum { BEARER, BASIC, N };
    struct rt_jfield f[N] = {[BEARER] = {"bearer_token_file", false}, [BASIC] = {"basic", false}};
    rt_jcheck_fields(&ps->jc, p, v, f, N);
    if (f[BEARER].value && f[BASIC].value) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"auth\" takes \"bearer_token_file\" or \"basic\", not both");
        return false;
    }
    if (f[BEARER].value) {
        out->kind = RT_WD_AUTH_BEARER;
        WITH_FIELD(ps, p, f, BEARER, take_path, &out->bearer_token_file);
        return true;
    }
    if (f[BASIC].value) {
        out->kind = RT_WD_AUTH_BASIC;
        struct rt_jpath kp = rt_jpath_key(p, "basic");
        parse_basic(ps, &kp, f[BASIC].value, out);
        return true;
    }
    /* Unknown keys alone were reported with the allowed ones. */
    if (json_object_size(v) == 0)
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"auth\" needs \"bearer_token_file\" or \"basic\"");
    return false;
}

static void take_source_auth(struct cfgparse *ps, const struct rt_jpath *p, const char *key, json_t *v,
                             struct rt_wd_auth *out) {
    (void)key;
    parse_auth(ps, p, v, false, out);
}

/* ---- listen ---- */

static bool parse_address(struct cfgparse *ps, const struct rt_jpath *p, const json_t *v,
                          struct rt_wd_listen *out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, "address", v, ADDRESS_MAX, &s))
        return false;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&out->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;
    if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        out->addr_len = sizeof *in4;
        out->loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        out->addr_len = sizeof *in6;
        out->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    } else {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"address\" must be a numeric IPv4 or IPv6 address such as \"127.0.0.1\" or \"::1\" "
                        "(host names are not resolved), not \"%s\"",
                        rt_jshow(s).s);
        return false;
    }
    rt_strlcpy(out->address, s, sizeof out->address);
    return true;
}

static void parse_tls(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, struct rt_wd_tls *out) {
    enum { CERT, KEY, CLIENT_CA, N };
    struct rt_jfield f[N] = {
        [CERT] = {"cert_file", true}, [KEY] = {"key_file", true}, [CLIENT_CA] = {"client_ca_file", false}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    WITH_FIELD(ps, p, f, CERT, take_path, &out->cert_file);
    WITH_FIELD(ps, p, f, KEY, take_path, &out->key_file);
    WITH_FIELD(ps, p, f, CLIENT_CA, take_path, &out->client_ca_file);
}

/* Returns whether the entry is complete and valid (for the checks across entries). */
static bool parse_listen_entry(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, struct rt_wd_listen *out) {
    enum { ADDRESS, PORT, TLS, N };
    struct rt_jfield f[N] = {[ADDRESS] = {"address", true}, [PORT] = {"port", true}, [TLS] = {"tls", false}};
    size_t before = ps->jc.errs->n;
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return false;
    bool have_addr = false, have_port = false;
    if (f[ADDRESS].value) {
        struct rt_jpath kp = rt_jpath_key(p, "address");
        have_addr = parse_address(ps, &kp, f[ADDRESS].value, out);
    }
    if (f[PORT].value) {
        struct rt_jpath kp = rt_jpath_key(p, "port");
        json_int_t port;
        have_port = rt_jcheck_integer(&ps->jc, &kp, "port", f[PORT].value, 1, 65535, &port);
        if (have_port)
            out->port = (uint16_t)port;
    }
    if (have_addr && have_port) {
        if (out->addr.ss_family == AF_INET)
            ((struct sockaddr_in *)&out->addr)->sin_port = htons(out->port);
        else
            ((struct sockaddr_in6 *)&out->addr)->sin6_port = htons(out->port);
    }
    if (f[TLS].value) {
        struct rt_jpath kp = rt_jpath_key(p, "tls");
        out->has_tls = true;
        parse_tls(ps, &kp, f[TLS].value, &out->tls);
    }
    return have_addr && have_port && ps->jc.errs->n == before && !ps->jc.overflow;
}

static bool same_endpoint(const struct rt_wd_listen *a, const struct rt_wd_listen *b) {
    return a->port == b->port && a->addr_len == b->addr_len && a->addr.ss_family == b->addr.ss_family &&
           memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

/* Returns whether every entry is valid. */
static bool parse_listen(struct cfgparse *ps, const struct rt_jpath *p, json_t *v) {
    struct rt_wd_config *cfg = ps->cfg;
    if (!rt_jcheck_array(&ps->jc, p, "listen", v, 1, RT_WD_LISTEN_MAX))
        return false;
    bool all_ok = true;
    cfg->n_listen = json_array_size(v);
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct rt_jpath ep = rt_jpath_index(p, i);
        if (!parse_listen_entry(ps, &ep, json_array_get(v, i), &cfg->listen[i])) {
            all_ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (same_endpoint(&cfg->listen[j], &cfg->listen[i])) {
                rt_jcheck_error(&ps->jc, &ep, RT_JAT_VALUE, "listen[%zu] repeats listen[%zu] (%s port %u)", i, j,
                                cfg->listen[i].address, cfg->listen[i].port);
                all_ok = false;
                break;
            }
        }
    }
    return all_ok;
}

static void check_auth_none(struct cfgparse *ps, const struct rt_jpath *p) {
    const struct rt_wd_config *cfg = ps->cfg;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        if (!cfg->listen[i].loopback) {
            rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                            "auth \"none\" requires loopback-only listen addresses (listen[%zu] is %s)", i,
                            cfg->listen[i].address);
            return;
        }
    }
}

/* ---- small sections ---- */

static void parse_evidence_log(struct cfgparse *ps, const struct rt_jpath *p, json_t *v,
                               struct rt_wd_evidence_log *out) {
    enum { MAX_BYTES, KEEP, N };
    struct rt_jfield f[N] = {[MAX_BYTES] = {"max_bytes", false}, [KEEP] = {"keep", false}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    json_int_t i;
    struct rt_jpath kp = rt_jpath_key(p, "max_bytes");
    if (f[MAX_BYTES].value &&
        rt_jcheck_integer(&ps->jc, &kp, "max_bytes", f[MAX_BYTES].value, EVLOG_MAX_BYTES_MIN, EVLOG_MAX_BYTES_MAX, &i))
        out->max_bytes = (uint64_t)i;
    kp = rt_jpath_key(p, "keep");
    if (f[KEEP].value && rt_jcheck_integer(&ps->jc, &kp, "keep", f[KEEP].value, 1, EVLOG_KEEP_MAX, &i))
        out->keep = (unsigned)i;
}

static void parse_enforcer(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, char **socket_path) {
    enum { SOCKET, N };
    struct rt_jfield f[N] = {[SOCKET] = {"socket", true}};
    if (rt_jcheck_fields(&ps->jc, p, v, f, N))
        WITH_FIELD(ps, p, f, SOCKET, take_path_max, RT_WD_SOCKET_PATH_MAX, socket_path);
}

/* The URL up to its query or fragment is what actuated records name. */
static void take_control_plane_url(struct cfgparse *ps, const struct rt_jpath *p, const char *key,
                                   const json_t *v, char **out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_WD_URL_MAX, &s) || !check_url(ps, p, key, s))
        return;
    size_t target = strcspn(s, "?#");
    if (target > RT_WD_CONTROL_PLANE_TARGET_MAX) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be at most %d bytes before its query (the signed log records it)", key,
                        RT_WD_CONTROL_PLANE_TARGET_MAX);
        return;
    }
    rt_jcheck_copy(s, out, &ps->r);
}

static void parse_control_plane(struct cfgparse *ps, const struct rt_jpath *p, json_t *v,
                                struct rt_wd_control_plane *out) {
    enum { URL, AUTH, LOG_DIR, N };
    struct rt_jfield f[N] = {[URL] = {"url", true}, [AUTH] = {"auth", false}, [LOG_DIR] = {"log_dir", true}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    out->enabled = true;
    WITH_FIELD(ps, p, f, URL, take_control_plane_url, &out->url);
    WITH_FIELD(ps, p, f, AUTH, take_source_auth, &out->auth);
    WITH_FIELD(ps, p, f, LOG_DIR, take_path, &out->log_dir);
}

static void parse_http_client(struct cfgparse *ps, const struct rt_jpath *p, json_t *v,
                              struct rt_wd_http_client *out) {
    enum { TIMEOUT, MAX_CONCURRENCY, CA_FILE, INSECURE, N };
    struct rt_jfield f[N] = {[TIMEOUT] = {"timeout", false},
                             [MAX_CONCURRENCY] = {"max_concurrency", false},
                             [CA_FILE] = {"ca_file", false},
                             [INSECURE] = {"insecure_skip_verify", false}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    WITH_FIELD(ps, p, f, TIMEOUT, take_duration, SEC_US, HTTP_TIMEOUT_MAX_US, &out->timeout_us);
    if (f[MAX_CONCURRENCY].value) {
        struct rt_jpath kp = rt_jpath_key(p, "max_concurrency");
        json_int_t i;
        if (rt_jcheck_integer(&ps->jc, &kp, "max_concurrency", f[MAX_CONCURRENCY].value, 1, HTTP_MAX_CONCURRENCY, &i))
            out->max_concurrency = (unsigned)i;
    }
    WITH_FIELD(ps, p, f, CA_FILE, take_path, &out->ca_file);
    if (f[INSECURE].value) {
        /* Evidence decides demotions: a source we cannot authenticate could
         * keep a failing bot live or demote a healthy one. */
        struct rt_jpath kp = rt_jpath_key(p, "insecure_skip_verify");
        bool insecure;
        if (rt_jcheck_bool(&ps->jc, &kp, "insecure_skip_verify", f[INSECURE].value, &insecure) && insecure)
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE,
                            "\"insecure_skip_verify\": true is not supported: TLS certificates are always "
                            "verified (trust a private CA with \"ca_file\")");
    }
}

/* ---- sources ---- */

/* The one key of keys[0..n) that the object v has; reports none or several.
 * Returns its index or -1. */
static int pick_variant(struct cfgparse *ps, const struct rt_jpath *p, const char *section, json_t *v,
                        const char *const *keys, size_t n) {
    char name[48], choices[96];
    snprintf(name, sizeof name, "\"%s\"", section);
    if (!rt_jcheck_object(&ps->jc, p, v, name))
        return -1;
    rt_jchoices(keys, n, choices, sizeof choices);
    int found = -1;
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(v, keys[i]))
            continue;
        if (found >= 0) {
            struct rt_jpath kp = rt_jpath_key(p, keys[i]);
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_KEY, "%s takes only one of %s", name, choices);
            return -1;
        }
        found = (int)i;
    }
    if (found < 0)
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "%s needs one of %s", name, choices);
    return found;
}

static void parse_bots(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, struct rt_wd_bots *out) {
    static const char *const kinds[] = {"file", "url", "from_enforcer"};
    int which = pick_variant(ps, p, "bots", v, kinds, ELEMENTSOF(kinds));
    if (which == 0) {
        enum { FILE_, N };
        struct rt_jfield f[N] = {[FILE_] = {"file", true}};
        out->kind = RT_WD_BOTS_FILE;
        rt_jcheck_fields(&ps->jc, p, v, f, N);
        WITH_FIELD(ps, p, f, FILE_, take_path, &out->file);
    } else if (which == 1) {
        enum { URL, INTERVAL, AUTH, N };
        struct rt_jfield f[N] = {[URL] = {"url", true}, [INTERVAL] = {"interval", false}, [AUTH] = {"auth", false}};
        out->kind = RT_WD_BOTS_URL;
        out->interval_us = RT_WD_DEFAULT_POLL_US;
        rt_jcheck_fields(&ps->jc, p, v, f, N);
        WITH_FIELD(ps, p, f, URL, take_url, &out->url);
        WITH_FIELD(ps, p, f, INTERVAL, take_interval, &out->interval_us);
        WITH_FIELD(ps, p, f, AUTH, take_source_auth, &out->auth);
    } else if (which == 2) {
        enum { FROM_ENFORCER, N };
        struct rt_jfield f[N] = {[FROM_ENFORCER] = {"from_enforcer", true}};
        out->kind = RT_WD_BOTS_FROM_ENFORCER;
        rt_jcheck_fields(&ps->jc, p, v, f, N);
        struct rt_jpath kp = rt_jpath_key(p, "from_enforcer");
        bool yes;
        if (rt_jcheck_bool(&ps->jc, &kp, "from_enforcer", f[FROM_ENFORCER].value, &yes) && !yes)
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE,
                            "\"from_enforcer\" must be true (to list the bots here, use \"file\" or \"url\")");
    }
}

static void parse_alertmanager(struct cfgparse *ps, const struct rt_jpath *p, json_t *v,
                               struct rt_wd_alertmanager *out) {
    enum { URL, BOT_LABEL, P0_MATCHER, POLL_INTERVAL, RESTART_GRACE, AUTH, N };
    struct rt_jfield f[N] = {[URL] = {"url", true},
                             [BOT_LABEL] = {"bot_label", false},
                             [P0_MATCHER] = {"p0_matcher", false},
                             [POLL_INTERVAL] = {"poll_interval", false},
                             [RESTART_GRACE] = {"restart_grace", false},
                             [AUTH] = {"auth", false}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    out->enabled = true;
    out->poll_interval_us = RT_WD_DEFAULT_POLL_US;
    out->restart_grace_us = RT_WD_DEFAULT_RESTART_GRACE_US;
    rt_jcheck_copy(RT_WD_DEFAULT_BOT_LABEL, &out->bot_label, &ps->r);
    rt_jcheck_copy(RT_WD_DEFAULT_P0_MATCHER, &out->p0_matcher, &ps->r);
    WITH_FIELD(ps, p, f, URL, take_url, &out->url);
    WITH_FIELD(ps, p, f, BOT_LABEL, take_label, &out->bot_label);
    WITH_FIELD(ps, p, f, P0_MATCHER, take_string, RT_WD_MATCHER_MAX, &out->p0_matcher);
    WITH_FIELD(ps, p, f, POLL_INTERVAL, take_interval, &out->poll_interval_us);
    WITH_FIELD(ps, p, f, RESTART_GRACE, take_duration, INTERVAL_MIN_US, RESTART_GRACE_MAX_US, &out->restart_grace_us);
    WITH_FIELD(ps, p, f, AUTH, take_source_auth, &out->auth);
}

static void parse_prometheus(struct cfgparse *ps, const struct rt_jpath *p, json_t *v,
                             struct rt_wd_prometheus *out) {
    enum { URL, QUERY, BOT_LABEL, INTERVAL, BACKFILL_MAX, AUTH, N };
    struct rt_jfield f[N] = {[URL] = {"url", true},
                             [QUERY] = {"error_rate_query", true},
                             [BOT_LABEL] = {"bot_label", false},
                             [INTERVAL] = {"interval", false},
                             [BACKFILL_MAX] = {"backfill_max", false},
                             [AUTH] = {"auth", false}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    out->enabled = true;
    out->interval_us = RT_WD_DEFAULT_POLL_US;
    out->backfill_max_us = RT_WD_DEFAULT_BACKFILL_MAX_US;
    rt_jcheck_copy(RT_WD_DEFAULT_BOT_LABEL, &out->bot_label, &ps->r);
    WITH_FIELD(ps, p, f, URL, take_url, &out->url);
    WITH_FIELD(ps, p, f, QUERY, take_string, RT_WD_QUERY_MAX, &out->error_rate_query);
    WITH_FIELD(ps, p, f, BOT_LABEL, take_label, &out->bot_label);
    WITH_FIELD(ps, p, f, INTERVAL, take_interval, &out->interval_us);
    WITH_FIELD(ps, p, f, BACKFILL_MAX, take_duration, 1, BACKFILL_MAX_US, &out->backfill_max_us);
    WITH_FIELD(ps, p, f, AUTH, take_source_auth, &out->auth);
}

static void parse_drift(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, struct rt_wd_drift *out) {
    static const char *const kinds[] = {"url", "prometheus_query"};
    int which = pick_variant(ps, p, "drift", v, kinds, ELEMENTSOF(kinds));
    out->interval_us = RT_WD_DEFAULT_DRIFT_INTERVAL_US;
    if (which == 0) {
        enum { URL, INTERVAL, AUTH, N };
        struct rt_jfield f[N] = {[URL] = {"url", true}, [INTERVAL] = {"interval", false}, [AUTH] = {"auth", false}};
        out->kind = RT_WD_DRIFT_URL;
        rt_jcheck_fields(&ps->jc, p, v, f, N);
        WITH_FIELD(ps, p, f, URL, take_url, &out->url);
        WITH_FIELD(ps, p, f, INTERVAL, take_interval, &out->interval_us);
        WITH_FIELD(ps, p, f, AUTH, take_source_auth, &out->auth);
    } else if (which == 1) {
        enum { QUERY, INTERVAL, N };
        struct rt_jfield f[N] = {[QUERY] = {"prometheus_query", true}, [INTERVAL] = {"interval", false}};
        out->kind = RT_WD_DRIFT_PROMETHEUS;
        rt_jcheck_fields(&ps->jc, p, v, f, N);
        WITH_FIELD(ps, p, f, QUERY, take_string, RT_WD_QUERY_MAX, &out->prometheus_query);
        WITH_FIELD(ps, p, f, INTERVAL, take_interval, &out->interval_us);
    }
}

static void take_scan_format(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                             enum rt_scan_format *out) {
    const char *names[RT_SCAN_NATIVE + 1];
    for (int i = RT_SCAN_AUTO; i <= RT_SCAN_NATIVE; i++)
        names[i] = rt_scan_format_name((enum rt_scan_format)i);
    int i;
    if (rt_jcheck_enum(&ps->jc, p, key, v, names, ELEMENTSOF(names), &i))
        *out = (enum rt_scan_format)i;
}

static void parse_cvss(struct cfgparse *ps, const struct rt_jpath *p, json_t *v, struct rt_wd_cvss *out) {
    static const char *const kinds[] = {"url_template", "dir"};
    int which = pick_variant(ps, p, "cvss", v, kinds, ELEMENTSOF(kinds));
    if (which < 0)
        return;
    enum { WHERE, FORMAT, INTERVAL, AUTH, N };
    struct rt_jfield f[N] = {[WHERE] = {kinds[which], true},
                             [FORMAT] = {"format", false},
                             [INTERVAL] = {"interval", false},
                             [AUTH] = {"auth", false}};
    /* A directory is read locally: no credentials. */
    size_t n = which == 0 ? N : AUTH;
    out->format = RT_SCAN_AUTO;
    out->interval_us = RT_WD_DEFAULT_CVSS_INTERVAL_US;
    rt_jcheck_fields(&ps->jc, p, v, f, n);
    if (which == 0) {
        out->kind = RT_WD_CVSS_URL;
        WITH_FIELD(ps, p, f, WHERE, take_url_template, &out->url_template);
        WITH_FIELD(ps, p, f, AUTH, take_source_auth, &out->auth);
    } else {
        out->kind = RT_WD_CVSS_DIR;
        WITH_FIELD(ps, p, f, WHERE, take_path, &out->dir);
    }
    WITH_FIELD(ps, p, f, FORMAT, take_scan_format, &out->format);
    WITH_FIELD(ps, p, f, INTERVAL, take_interval, &out->interval_us);
}

/* ---- the document ---- */

enum root_key {
    R_VERSION, R_LISTEN, R_AUTH, R_MAX_BODY_BYTES, R_POLICY_FILE, R_STATE_DIR, R_EVIDENCE_LOG, R_BOTS,
    R_ENFORCER, R_ALERTMANAGER, R_PROMETHEUS, R_DRIFT, R_CVSS, R_CONTROL_PLANE, R_HTTP_CLIENT, R_COUNT
};

static void parse_sections(struct cfgparse *ps, const struct rt_jpath *root, struct rt_jfield *f) {
    struct rt_wd_config *cfg = ps->cfg;
    json_int_t i;
    struct rt_jpath kp = rt_jpath_key(root, "max_body_bytes");
    if (f[R_MAX_BODY_BYTES].value &&
        rt_jcheck_integer(&ps->jc, &kp, "max_body_bytes", f[R_MAX_BODY_BYTES].value, MAX_BODY_MIN, MAX_BODY_MAX, &i))
        cfg->max_body_bytes = (size_t)i;
    WITH_FIELD(ps, root, f, R_POLICY_FILE, take_path, &cfg->policy_file);
    WITH_FIELD(ps, root, f, R_STATE_DIR, take_path, &cfg->state_dir);
#define SECTION(idx, fn, ...)                                        \
    do {                                                             \
        if (f[idx].value) {                                          \
            struct rt_jpath sp_ = rt_jpath_key(root, f[idx].key);    \
            fn(ps, &sp_, f[idx].value, __VA_ARGS__);                 \
        }                                                            \
    } while (0)
    SECTION(R_EVIDENCE_LOG, parse_evidence_log, &cfg->evidence_log);
    SECTION(R_BOTS, parse_bots, &cfg->bots);
    SECTION(R_ENFORCER, parse_enforcer, &cfg->enforcer_socket);
    SECTION(R_ALERTMANAGER, parse_alertmanager, &cfg->alertmanager);
    SECTION(R_PROMETHEUS, parse_prometheus, &cfg->prometheus);
    SECTION(R_DRIFT, parse_drift, &cfg->drift);
    SECTION(R_CVSS, parse_cvss, &cfg->cvss);
    SECTION(R_CONTROL_PLANE, parse_control_plane, &cfg->control_plane);
    SECTION(R_HTTP_CLIENT, parse_http_client, &cfg->http_client);
#undef SECTION
}

static void parse_root(struct cfgparse *ps, json_t *root) {
    const struct rt_jpath rootp = {.n = 0};
    if (!json_is_object(root)) {
        rt_jcheck_error(&ps->jc, &rootp, RT_JAT_VALUE, "a configuration must be a JSON object, not %s",
                        rt_json_type_name(root));
        return;
    }
    struct rt_jfield f[R_COUNT] = {
        [R_VERSION] = {"version", true},        [R_LISTEN] = {"listen", true},
        [R_AUTH] = {"auth", false},              [R_MAX_BODY_BYTES] = {"max_body_bytes", false},
        [R_POLICY_FILE] = {"policy_file", false}, [R_STATE_DIR] = {"state_dir", true},
        [R_EVIDENCE_LOG] = {"evidence_log", false}, [R_BOTS] = {"bots", true},
        [R_ENFORCER] = {"enforcer", true},      [R_ALERTMANAGER] = {"alertmanager", false},
        [R_PROMETHEUS] = {"prometheus", false},  [R_DRIFT] = {"drift", false},
        [R_CVSS] = {"cvss", false},              [R_CONTROL_PLANE] = {"control_plane", false},
        [R_HTTP_CLIENT] = {"http_client", false},
    };
    rt_jcheck_fields(&ps->jc, &rootp, root, f, R_COUNT);
    if (!f[R_AUTH].value)
        rt_jcheck_error(&ps->jc, &rootp, RT_JAT_VALUE,
                        "missing required key \"auth\" (the watchdog does not start without one; "
                        "\"none\" is allowed with loopback-only listen addresses)");
    if (f[R_VERSION].value) {
        struct rt_jpath kp = rt_jpath_key(&rootp, "version");
        rt_jcheck_version(&ps->jc, &kp, f[R_VERSION].value, 1);
    }
    bool listen_ok = false;
    if (f[R_LISTEN].value) {
        struct rt_jpath kp = rt_jpath_key(&rootp, "listen");
        listen_ok = parse_listen(ps, &kp, f[R_LISTEN].value);
    }
    if (f[R_AUTH].value) {
        struct rt_jpath kp = rt_jpath_key(&rootp, "auth");
        bool auth_ok = parse_auth(ps, &kp, f[R_AUTH].value, true, &ps->cfg->auth);
        if (auth_ok && listen_ok && ps->cfg->auth.kind == RT_WD_AUTH_NONE)
            check_auth_none(ps, &kp);
    }
    parse_sections(ps, &rootp, f);
    if (ps->cfg->drift.kind == RT_WD_DRIFT_PROMETHEUS && f[R_PROMETHEUS].value == NULL) {
        struct rt_jpath kp = rt_jpath_key(&rootp, "drift");
        kp = rt_jpath_key(&kp, "prometheus_query");
        rt_jcheck_error(&ps->jc, &kp, RT_JAT_KEY,
                        "\"prometheus_query\" needs a \"prometheus\" section (its url and auth are used)");
    }
    const struct rt_wd_control_plane *cp = &ps->cfg->control_plane;
    if (cp->log_dir && ps->cfg->state_dir && strcmp(cp->log_dir, ps->cfg->state_dir) == 0) {
        struct rt_jpath kp = rt_jpath_key(&rootp, "control_plane");
        kp = rt_jpath_key(&kp, "log_dir");
        rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE,
                        "\"log_dir\" is the enforcer's state_dir, not the watchdog's own \"state_dir\"");
    }
}

static void set_defaults(struct rt_wd_config *cfg) {
    cfg->max_body_bytes = RT_WD_DEFAULT_MAX_BODY_BYTES;
    cfg->evidence_log.max_bytes = RT_WD_DEFAULT_EVLOG_MAX_BYTES;
    cfg->evidence_log.keep = RT_WD_DEFAULT_EVLOG_KEEP;
    cfg->http_client.timeout_us = RT_WD_DEFAULT_HTTP_TIMEOUT_US;
    cfg->http_client.max_concurrency = RT_WD_DEFAULT_HTTP_MAX_CONCURRENCY;
}

static void auth_free(struct rt_wd_auth *a) {
    free(a->bearer_token_file);
    free(a->username);
    free(a->password_file);
}

void rt_wd_config_free(struct rt_wd_config *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; i < RT_WD_LISTEN_MAX; i++) {
        free(cfg->listen[i].tls.cert_file);
        free(cfg->listen[i].tls.key_file);
        free(cfg->listen[i].tls.client_ca_file);
    }
    auth_free(&cfg->auth);
    free(cfg->policy_file);
    free(cfg->state_dir);
    free(cfg->bots.file);
    free(cfg->bots.url);
    auth_free(&cfg->bots.auth);
    free(cfg->enforcer_socket);
    free(cfg->alertmanager.url);
    free(cfg->alertmanager.bot_label);
    free(cfg->alertmanager.p0_matcher);
    auth_free(&cfg->alertmanager.auth);
    free(cfg->prometheus.url);
    free(cfg->prometheus.error_rate_query);
    free(cfg->prometheus.bot_label);
    auth_free(&cfg->prometheus.auth);
    free(cfg->drift.url);
    free(cfg->drift.prometheus_query);
    auth_free(&cfg->drift.auth);
    free(cfg->cvss.url_template);
    free(cfg->cvss.dir);
    auth_free(&cfg->cvss.auth);
    free(cfg->control_plane.url);
    free(cfg->control_plane.log_dir);
    auth_free(&cfg->control_plane.auth);
    free(cfg->http_client.ca_file);
    free(cfg);
}

void rt_wd_config_freep(struct rt_wd_config **cfg) {
    rt_wd_config_free(*cfg);
    *cfg = NULL;
}

int rt_wd_config_parse(const char *text, size_t len, struct rt_wd_config **out, struct rt_policy_errors *errs) {
    struct rt_policy_errors local;
    if (!errs)
        errs = &local;
    errs->n = 0;
    if (!out)
        return -EINVAL;
    _cleanup_(json_decrefp) json_t *root = rt_jcheck_parse(text, len, RT_WD_CONFIG_MAX_BYTES, "configuration", errs);
    if (!root)
        return -EINVAL;
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return -ENOMEM;
    set_defaults(cfg);
    struct cfgparse ps = {.jc = {.text = text, .len = len, .errs = errs}, .cfg = cfg};
    parse_root(&ps, root);
    if (ps.r < 0)
        return ps.r;
    int r = rt_jcheck_finish(&ps.jc);
    if (r < 0)
        return r;
    *out = cfg;
    cfg = NULL;
    return 0;
}

int rt_wd_config_load(const char *path, struct rt_wd_config **out, struct rt_policy_errors *errs) {
    struct rt_policy_errors local;
    if (!errs)
        errs = &local;
    errs->n = 0;
    if (!path || !out)
        return -EINVAL;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = rt_jcheck_read_file(path, RT_WD_CONFIG_MAX_BYTES, "configuration", &text, &len, errs);
    if (r < 0)
        return r;
    return rt_wd_config_parse(text, len, out, errs);
}

/* ---- credentials ---- */

static bool secret_bytes_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Reads at most cap bytes; returns the count or -errno. */
static ssize_t read_upto(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        n += (size_t)k;
    }
    return (ssize_t)n;
}

static int read_secret_into(int fd, char *buf, size_t cap) {
    /* Room for the largest secret, "\r\n", and one byte to detect more. */
    char tmp[RT_WD_SECRET_MAX + 3];
    ssize_t got = read_upto(fd, tmp, sizeof tmp);
    int r;
    if (got < 0) {
        r = (int)got;
    } else {
        size_t n = (size_t)got;
        bool whole = n < sizeof tmp;
        if (n > 0 && tmp[n - 1] == '\n') {
            n--;
            if (n > 0 && tmp[n - 1] == '\r')
                n--;
        }
        if (!whole || n > RT_WD_SECRET_MAX)
            r = -EFBIG;
        else if (n == 0)
            r = -ENODATA;
        else if (!secret_bytes_ok(tmp, n))
            r = -EBADMSG;
        else if (n + 1 > cap)
            r = -ENOBUFS;
        else {
            memcpy(buf, tmp, n);
            buf[n] = '\0';
            r = (int)n;
        }
    }
    explicit_bzero(tmp, sizeof tmp);
    return r;
}

int rt_wd_config_read_secret(const char *path, char *buf, size_t cap, bool *group_or_other_readable) {
    if (group_or_other_readable)
        *group_or_other_readable = false;
    if (!path || !buf || cap == 0)
        return -EINVAL;
    buf[0] = '\0';
    /* O_NONBLOCK: a FIFO must not block the open; it is refused below. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    int r = read_secret_into(fd, buf, cap);
    if (r < 0) {
        explicit_bzero(buf, cap);
        return r;
    }
    if (group_or_other_readable)
        *group_or_other_readable = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    return r;
}
