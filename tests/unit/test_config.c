/* The watchdog's configuration parser (watchdog/config.c) and the shared
 * strict-JSON machinery (common/jsoncheck.c). Runs from the repository root:
 * it reads examples/watchdog.json, docs/configuration.md and the samples
 * under tests/config/. Each tests/config/bad/NAME.json has a NAME.expected
 * holding "LINE:COL: text" of its first error. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/jsoncheck.h"
#include "common/util.h"
#include "tests/unit/harness.h"
#include "tests/unit/samples.h"
#include "watchdog/config.h"

#define SEC_US INT64_C(1000000)
#define MIN_US (60 * SEC_US)
#define HOUR_US (60 * MIN_US)

/* ---- helpers ---- */

/* Test texts use ' for " so they stay readable; positions do not change. */
static char *dq(const char *s) {
    char *t = strdup(s);
    for (char *p = t; p && *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static void print_errors(const char *what, int r, const struct rt_policy_errors *errs) {
    fprintf(stderr, "    input: %s\n    r=%d, %zu error(s)\n", what, r, errs->n);
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "    got %d:%d: %s\n", errs->e[i].line, errs->e[i].column, errs->e[i].text);
}

static int parse_q(const char *q, struct rt_wd_config **out, struct rt_policy_errors *errs) {
    _cleanup_free_ char *t = dq(q);
    if (!t)
        return -ENOMEM;
    return rt_wd_config_parse(t, strlen(t), out, errs);
}

/* The first error is at line:col and contains want. */
static bool first_error(const char *q, int line, int col, const char *want) {
    struct rt_wd_config *cfg = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q(q, &cfg, &errs);
    bool ok = r == -EINVAL && !cfg && errs.n > 0 && errs.e[0].line == line && errs.e[0].column == col &&
              strstr(errs.e[0].text, want) != NULL;
    if (!ok)
        print_errors(q, r, &errs);
    rt_wd_config_free(cfg);
    return ok;
}

/* Line and column (1-based, ASCII texts) of the first occurrence of needle:
 * where an error about that token must point. */
static void pos_of(const char *q, const char *needle, int *line, int *col) {
    const char *hit = strstr(q, needle);
    *line = *col = -1;
    if (!hit)
        return;
    *line = 1;
    *col = 1;
    for (const char *c = q; c < hit; c++) {
        if (*c == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* The first error points at the first occurrence of `at` and contains want. */
static bool first_error_at(const char *q, const char *at, const char *want) {
    int line, col;
    pos_of(q, at, &line, &col);
    return first_error(q, line, col, want);
}

static struct rt_wd_config *load_ok(const char *path) {
    struct rt_wd_config *cfg = NULL;
    struct rt_policy_errors errs = {0};
    int r = rt_wd_config_load(path, &cfg, &errs);
    if (r != 0)
        print_errors(path, r, &errs);
    return r == 0 ? cfg : NULL;
}

/* The required keys, for texts that test one other thing. Each starts with
 * "{'version': 1," on line 1. */
#define REQUIRED_AFTER_LISTEN                                                     \
    " 'auth': 'none', 'state_dir': '/s', 'bots': {'file': '/b'},"                 \
    " 'enforcer': {'socket': '/e.sock'}"
#define REQUIRED                                                                  \
    " 'listen': [{'address': '127.0.0.1', 'port': 1}]," REQUIRED_AFTER_LISTEN

static struct rt_wd_config *parse_ok(const char *q) {
    struct rt_wd_config *cfg = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q(q, &cfg, &errs);
    if (r != 0)
        print_errors(q, r, &errs);
    return r == 0 ? cfg : NULL;
}

static uint16_t sockaddr_port(const struct rt_wd_listen *l) {
    if (l->addr.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

/* ---- good configurations ---- */

TEST(minimal_sets_the_defaults) {
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *c = load_ok("tests/config/good/minimal.json");
    REQUIRE(c);
    REQUIRE(c->n_listen == 1);
    CHECK_EQ_STR(c->listen[0].address, "127.0.0.1");
    CHECK_EQ_INT(c->listen[0].port, 8470);
    CHECK(c->listen[0].loopback);
    CHECK(!c->listen[0].has_tls);
    CHECK_EQ_INT(c->listen[0].addr.ss_family, AF_INET);
    CHECK_EQ_INT(c->listen[0].addr_len, sizeof(struct sockaddr_in));
    CHECK_EQ_INT(sockaddr_port(&c->listen[0]), 8470);
    CHECK_EQ_INT(ntohl(((struct sockaddr_in *)&c->listen[0].addr)->sin_addr.s_addr), 0x7f000001);
    CHECK_EQ_INT(c->auth.kind, RT_WD_AUTH_NONE);
    CHECK_EQ_INT(c->max_body_bytes, 1048576);
    CHECK(c->policy_file == NULL);
    CHECK_EQ_STR(c->state_dir, "/var/lib/ratchet");
    CHECK_EQ_INT(c->evidence_log.max_bytes, 64 * 1024 * 1024);
    CHECK_EQ_INT(c->evidence_log.keep, 5);
    CHECK_EQ_INT(c->bots.kind, RT_WD_BOTS_FILE);
    CHECK_EQ_STR(c->bots.file, "/etc/ratchet/bots.json");
    CHECK_EQ_STR(c->enforcer_socket, "/run/ratchet/enforcer.sock");
    CHECK(!c->alertmanager.enabled);
    CHECK(!c->prometheus.enabled);
    CHECK_EQ_INT(c->drift.kind, RT_WD_DRIFT_OFF);
    CHECK_EQ_INT(c->cvss.kind, RT_WD_CVSS_OFF);
    CHECK_EQ_INT(c->http_client.timeout_us, 10 * SEC_US);
    CHECK_EQ_INT(c->http_client.max_concurrency, 8);
    CHECK(c->http_client.ca_file == NULL);
}

TEST(full_sets_every_value) {
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *c = load_ok("tests/config/good/full.json");
    REQUIRE(c);
    REQUIRE(c->n_listen == 3);
    CHECK_EQ_STR(c->listen[0].address, "::1");
    CHECK_EQ_INT(c->listen[0].port, 1);
    CHECK(c->listen[0].loopback);
    CHECK_EQ_INT(c->listen[0].addr.ss_family, AF_INET6);
    CHECK_EQ_INT(c->listen[0].addr_len, sizeof(struct sockaddr_in6));
    CHECK_EQ_INT(sockaddr_port(&c->listen[0]), 1);
    CHECK_EQ_STR(c->listen[1].address, "127.0.0.2");
    CHECK_EQ_INT(c->listen[1].port, 65535);
    CHECK(c->listen[1].loopback);
    CHECK_EQ_STR(c->listen[2].address, "0.0.0.0");
    CHECK(!c->listen[2].loopback);
    CHECK(c->listen[2].has_tls);
    CHECK_EQ_STR(c->listen[2].tls.cert_file, "/c.pem");
    CHECK_EQ_STR(c->listen[2].tls.key_file, "/k.pem");
    CHECK(c->listen[2].tls.client_ca_file == NULL);
    CHECK_EQ_INT(c->auth.kind, RT_WD_AUTH_BASIC);
    CHECK_EQ_STR(c->auth.username, "oncall");
    CHECK_EQ_STR(c->auth.password_file, "/s/api-password");
    CHECK_EQ_INT(c->max_body_bytes, 67108864);
    CHECK_EQ_STR(c->policy_file, "/etc/ratchet/strict-policy.json");
    CHECK_EQ_STR(c->state_dir, "/srv/ratchet/state");
    CHECK_EQ_INT(c->evidence_log.max_bytes, 1048576);
    CHECK_EQ_INT(c->evidence_log.keep, 100);
    CHECK_EQ_INT(c->bots.kind, RT_WD_BOTS_URL);
    CHECK_EQ_STR(c->bots.url, "http://127.0.0.1:7000/bots");
    CHECK_EQ_INT(c->bots.interval_us, 30 * SEC_US);
    CHECK_EQ_INT(c->bots.auth.kind, RT_WD_AUTH_BASIC);
    CHECK_EQ_STR(c->bots.auth.username, "wd");
    CHECK_EQ_STR(c->bots.auth.password_file, "/s/registry");
    CHECK_EQ_STR(c->enforcer_socket, "/run/ratchet/e.sock");
    CHECK(c->alertmanager.enabled);
    CHECK_EQ_STR(c->alertmanager.url, "http://am:9093/");
    CHECK_EQ_STR(c->alertmanager.bot_label, "strategy_id");
    CHECK_EQ_STR(c->alertmanager.p0_matcher, "priority=~\"P0|critical\"");
    CHECK_EQ_INT(c->alertmanager.poll_interval_us, 15 * SEC_US);
    CHECK_EQ_INT(c->alertmanager.restart_grace_us, 5 * MIN_US);
    CHECK_EQ_INT(c->alertmanager.auth.kind, RT_WD_AUTH_BEARER);
    CHECK_EQ_STR(c->alertmanager.auth.bearer_token_file, "/s/am");
    CHECK(c->prometheus.enabled);
    CHECK_EQ_STR(c->prometheus.url, "https://prom.example:9090/prefix");
    CHECK_EQ_STR(c->prometheus.error_rate_query, "max by (bot) (bot:error_ratio:rate5m)");
    CHECK_EQ_STR(c->prometheus.bot_label, "bot");
    CHECK_EQ_INT(c->prometheus.interval_us, 2 * MIN_US);
    CHECK_EQ_INT(c->prometheus.backfill_max_us, 24 * HOUR_US);
    CHECK_EQ_INT(c->prometheus.auth.kind, RT_WD_AUTH_NONE);
    CHECK_EQ_INT(c->drift.kind, RT_WD_DRIFT_URL);
    CHECK_EQ_STR(c->drift.url, "https://recon.example/drift.json");
    CHECK_EQ_INT(c->drift.interval_us, 10 * MIN_US);
    CHECK_EQ_INT(c->drift.auth.kind, RT_WD_AUTH_BEARER);
    CHECK_EQ_STR(c->drift.auth.bearer_token_file, "/s/recon");
    CHECK_EQ_INT(c->cvss.kind, RT_WD_CVSS_DIR);
    CHECK_EQ_STR(c->cvss.dir, "/var/lib/scanner/reports");
    CHECK_EQ_INT(c->cvss.format, RT_SCAN_TRIVY);
    CHECK_EQ_INT(c->cvss.interval_us, 6 * HOUR_US);
    CHECK(c->cvss.url_template == NULL);
    CHECK_EQ_INT(c->http_client.timeout_us, MIN_US);
    CHECK_EQ_INT(c->http_client.max_concurrency, 64);
    CHECK_EQ_STR(c->http_client.ca_file, "/etc/ssl/internal.pem");
}

TEST(tls_listener_with_client_certificates) {
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *c = load_ok("tests/config/good/tls.json");
    REQUIRE(c);
    REQUIRE(c->n_listen == 1);
    CHECK_EQ_STR(c->listen[0].address, "192.0.2.10");
    CHECK_EQ_INT(c->listen[0].port, 8443);
    CHECK(!c->listen[0].loopback);
    CHECK(c->listen[0].has_tls);
    CHECK_EQ_STR(c->listen[0].tls.cert_file, "/etc/ratchet/tls/server.crt");
    CHECK_EQ_STR(c->listen[0].tls.key_file, "/etc/ratchet/tls/server.key");
    CHECK_EQ_STR(c->listen[0].tls.client_ca_file, "/etc/ratchet/tls/client-ca.crt");
    CHECK_EQ_INT(c->auth.kind, RT_WD_AUTH_BEARER);
    CHECK_EQ_STR(c->auth.bearer_token_file, "/etc/ratchet/secrets/api-token");
    CHECK_EQ_INT(c->bots.kind, RT_WD_BOTS_FROM_ENFORCER);
    CHECK(c->bots.file == NULL && c->bots.url == NULL);
}

TEST(basic_auth_on_ipv6_and_bots_from_url) {
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *c = load_ok("tests/config/good/basic-auth.json");
    REQUIRE(c);
    CHECK_EQ_STR(c->listen[0].address, "2001:db8::5");
    CHECK(!c->listen[0].loopback);
    CHECK_EQ_INT(c->listen[0].addr.ss_family, AF_INET6);
    CHECK_EQ_INT(sockaddr_port(&c->listen[0]), 8470);
    CHECK_EQ_INT(c->auth.kind, RT_WD_AUTH_BASIC);
    CHECK_EQ_STR(c->auth.username, "on-call");
    CHECK_EQ_STR(c->auth.password_file, "/etc/ratchet/secrets/api-password");
    CHECK(c->auth.bearer_token_file == NULL);
    CHECK_EQ_INT(c->bots.kind, RT_WD_BOTS_URL);
    CHECK_EQ_STR(c->bots.url, "https://registry.example/bots");
    CHECK_EQ_INT(c->bots.interval_us, MIN_US);
    CHECK_EQ_INT(c->bots.auth.kind, RT_WD_AUTH_NONE);
}

TEST(source_defaults_and_alternative_variants) {
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *c = load_ok("tests/config/good/sources-alt.json");
    REQUIRE(c);
    CHECK(c->alertmanager.enabled);
    CHECK_EQ_STR(c->alertmanager.url, "https://am.example");
    CHECK_EQ_STR(c->alertmanager.bot_label, "bot");
    CHECK_EQ_STR(c->alertmanager.p0_matcher, "severity=\"P0\"");
    CHECK_EQ_INT(c->alertmanager.poll_interval_us, MIN_US);
    CHECK_EQ_INT(c->alertmanager.restart_grace_us, 2 * MIN_US);
    CHECK_EQ_INT(c->alertmanager.auth.kind, RT_WD_AUTH_NONE);
    CHECK(c->prometheus.enabled);
    CHECK_EQ_STR(c->prometheus.error_rate_query, "bot:error_ratio:rate5m");
    CHECK_EQ_STR(c->prometheus.bot_label, "bot");
    CHECK_EQ_INT(c->prometheus.interval_us, MIN_US);
    CHECK_EQ_INT(c->prometheus.backfill_max_us, 6 * HOUR_US);
    CHECK_EQ_INT(c->drift.kind, RT_WD_DRIFT_PROMETHEUS);
    CHECK_EQ_STR(c->drift.prometheus_query, "bot:recon_drift:max");
    CHECK_EQ_INT(c->drift.interval_us, 5 * MIN_US);
    CHECK(c->drift.url == NULL);
    CHECK_EQ_INT(c->cvss.kind, RT_WD_CVSS_URL);
    CHECK_EQ_STR(c->cvss.url_template, "https://scanner.example/r/{bot}?fmt=json&b={bot}");
    CHECK_EQ_INT(c->cvss.format, RT_SCAN_OSV);
    CHECK_EQ_INT(c->cvss.interval_us, HOUR_US);
}

TEST(documented_example_parses) {
    _cleanup_(rt_wd_config_freep) struct rt_wd_config *c = load_ok("examples/watchdog.json");
    REQUIRE(c);
    CHECK_EQ_INT(c->n_listen, 2);
    CHECK(c->listen[1].has_tls && c->listen[1].tls.client_ca_file);
    CHECK_EQ_INT(c->auth.kind, RT_WD_AUTH_BEARER);
    CHECK_EQ_STR(c->policy_file, "/etc/ratchet/policy.json");
    CHECK_EQ_INT(c->bots.kind, RT_WD_BOTS_URL);
    CHECK(c->alertmanager.enabled && c->prometheus.enabled);
    CHECK_EQ_INT(c->prometheus.auth.kind, RT_WD_AUTH_BASIC);
    CHECK_EQ_INT(c->drift.kind, RT_WD_DRIFT_PROMETHEUS);
    CHECK_EQ_INT(c->cvss.kind, RT_WD_CVSS_URL);
    CHECK_EQ_INT(c->cvss.format, RT_SCAN_AUTO);
    CHECK_EQ_STR(c->http_client.ca_file, "/etc/ratchet/tls/internal-ca.crt");
}

/* Every key of the example is documented as `key`. */
static void check_keys_documented(const json_t *v, const char *doc, int *n) {
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            check_keys_documented(json_array_get(v, i), doc, n);
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        char quoted[80];
        snprintf(quoted, sizeof quoted, "`%s`", key);
        if (!strstr(doc, quoted)) {
            fprintf(stderr, "    docs/configuration.md does not mention %s\n", quoted);
            rt_test_failed = 1;
        }
        (*n)++;
        check_keys_documented(val, doc, n);
    }
}

TEST(example_keys_are_documented) {
    _cleanup_free_ char *doc = NULL, *example = NULL;
    size_t doc_len, ex_len;
    REQUIRE(rt_read_file_bounded("docs/configuration.md", 1 << 20, &doc, &doc_len) == 0);
    REQUIRE(rt_read_file_bounded("examples/watchdog.json", 1 << 20, &example, &ex_len) == 0);
    _cleanup_(json_decrefp) json_t *root = json_loadb(example, ex_len, 0, NULL);
    REQUIRE(root);
    int n = 0;
    check_keys_documented(root, doc, &n);
    CHECK(n >= 40);
    /* The example in the document is the file. */
    CHECK(strstr(doc, example) != NULL);
    /* And so are the keys of the variants the example does not use. */
    static const char *const others[] = {"`file`",           "`from_enforcer`", "`dir`",
                                         "`client_ca_file`", "`\"none\"`",        "`prometheus_query`"};
    for (size_t i = 0; i < ELEMENTSOF(others); i++)
        CHECK(strstr(doc, others[i]) != NULL);
}

/* ---- rules, inline ---- */

TEST(loopback_is_127_slash_8_and_ipv6_1_only) {
    struct rt_wd_config *c = parse_ok("{'version': 1, 'listen': [{'address': '127.255.0.9', 'port': 1},"
                                      " {'address': '::1', 'port': 2}]," REQUIRED_AFTER_LISTEN "}");
    CHECK(c && c->listen[0].loopback && c->listen[1].loopback);
    rt_wd_config_free(c);
    CHECK(first_error_at("{'version': 1, 'listen': [{'address': '::ffff:127.0.0.1', 'port': 1}],"
                         REQUIRED_AFTER_LISTEN "}",
                         "'none'", "auth \"none\" requires loopback-only listen addresses"));
    CHECK(first_error_at("{'version': 1, 'listen': [{'address': '128.0.0.1', 'port': 1}]," REQUIRED_AFTER_LISTEN "}",
                         "'none'", "(listen[0] is 128.0.0.1)"));
    /* With authentication any address is fine. */
    c = parse_ok("{'version': 1, 'listen': [{'address': '::', 'port': 1}], 'auth': {'bearer_token_file': '/t'},"
                 " 'state_dir': '/s', 'bots': {'file': '/b'}, 'enforcer': {'socket': '/e.sock'}}");
    CHECK(c && !c->listen[0].loopback);
    rt_wd_config_free(c);
}

TEST(auth_none_is_not_checked_against_a_broken_listen) {
    /* The listen error is the only one: "none" may be right once it is fixed. */
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q("{'version': 1, 'listen': [{'address': 'example.com', 'port': 1}]," REQUIRED_AFTER_LISTEN "}",
                    &c, &errs);
    CHECK_EQ_INT(r, -EINVAL);
    CHECK_EQ_INT(errs.n, 1);
    CHECK(strstr(errs.e[0].text, "host names are not resolved") != NULL);
}

TEST(same_endpoint_twice_is_refused_across_spellings) {
    CHECK(first_error_at("{'version': 1, 'listen': [{'address': '::1', 'port': 5},"
                         " {'address': '0:0::1', 'port': 5}]," REQUIRED_AFTER_LISTEN "}",
                         "{'address': '0:0::1'", "listen[1] repeats listen[0]"));
    struct rt_wd_config *c = parse_ok("{'version': 1, 'listen': [{'address': '::1', 'port': 5},"
                                      " {'address': '::1', 'port': 6}]," REQUIRED_AFTER_LISTEN "}");
    CHECK(c != NULL);
    rt_wd_config_free(c);
}

TEST(missing_keys_are_reported_at_the_object) {
    CHECK(first_error_at("{'version': 1, 'listen': [{'port': 1}]," REQUIRED_AFTER_LISTEN "}", "{'port'",
                         "missing required key \"address\" in \"listen[0]\""));
    CHECK(first_error_at("{'version': 1," REQUIRED ", 'enforcer2': {}}", "'enforcer2'",
                         "unknown key \"enforcer2\""));
    CHECK(first_error_at("{'version': 1," REQUIRED ", 'alertmanager': {}}", "{}",
                         "missing required key \"url\" in \"alertmanager\""));
    CHECK(first_error_at("{'version': 1, 'listen': [{'address': '::1', 'port': 1}], 'state_dir': '/s',"
                         " 'bots': {'file': '/b'},"
                         " 'enforcer': {'socket': '/e.sock'}}",
                         "{", "missing required key \"auth\""));
}

TEST(all_errors_are_reported_in_document_order) {
    static const char q[] = "{'version': 1, 'listen': [{'address': '127.0.0.1', 'port': 0}],\n"
                            " 'auth': 'none', 'state_dir': 'rel', 'bots': {'file': '/b', 'x': 1},\n"
                            " 'enforcer': {'socket': '/e.sock'}, 'http_client': {'max_concurrency': '8'}}";
    /* Reported in this order whatever order the checks run in. */
    static const struct {
        const char *at, *want;
    } expect[] = {
        {"0}]", "\"port\" must be between 1 and 65535"},
        {"'rel'", "\"state_dir\" must be an absolute path"},
        {"'x'", "unknown key \"x\" in \"bots\""},
        {"'8'", "\"max_concurrency\" must be an integer"},
    };
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(parse_q(q, &c, &errs), -EINVAL);
    CHECK(c == NULL);
    REQUIRE(errs.n == ELEMENTSOF(expect));
    for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
        int line, col;
        pos_of(q, expect[i].at, &line, &col);
        CHECK_EQ_INT(errs.e[i].line, line);
        CHECK_EQ_INT(errs.e[i].column, col);
        CHECK(strstr(errs.e[i].text, expect[i].want) != NULL);
    }
}

TEST(error_list_is_capped) {
    /* 40 unknown keys: 31 errors and the note. */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "{'version': 1," REQUIRED);
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, ", 'k%02d': 1", i);
    snprintf(text + n, sizeof text - n, "}");
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(parse_q(text, &c, &errs), -EINVAL);
    REQUIRE(errs.n == RT_POLICY_MAX_ERRORS);
    CHECK(strstr(errs.e[0].text, "\"k00\"") != NULL);
    CHECK_EQ_INT(errs.e[RT_POLICY_MAX_ERRORS - 1].line, 0);
    CHECK(strstr(errs.e[RT_POLICY_MAX_ERRORS - 1].text, "too many errors") != NULL);
}

TEST(strings_are_bounded_and_clean) {
    char text[8192];
    char longpath[RT_WD_PATH_MAX + 2];
    longpath[0] = '/';
    memset(longpath + 1, 'p', RT_WD_PATH_MAX);
    longpath[RT_WD_PATH_MAX + 1] = '\0';
    snprintf(text, sizeof text, "{'version': 1," REQUIRED ", 'policy_file': '%s'}", longpath);
    CHECK(first_error_at(text, "'/pp", "\"policy_file\" is longer than 4095 bytes"));
    longpath[RT_WD_PATH_MAX] = '\0'; /* exactly the limit */
    snprintf(text, sizeof text, "{'version': 1," REQUIRED ", 'policy_file': '%s'}", longpath);
    struct rt_wd_config *c = parse_ok(text);
    CHECK(c && strlen(c->policy_file) == RT_WD_PATH_MAX);
    rt_wd_config_free(c);
    CHECK(first_error_at("{'version': 1," REQUIRED ", 'policy_file': '/a\\nb'}", "'/a", "control characters"));
    CHECK(first_error_at("{'version': 1," REQUIRED ", 'policy_file': ''}", "''", "must not be empty"));
    CHECK(first_error_at("{'version': 1," REQUIRED ", 'alertmanager': {'url': 'https://a b'}}", "'https",
                         "must not contain spaces"));
    CHECK(first_error_at("{'version': 1," REQUIRED ", 'alertmanager': {'url': 'HTTPS://am'}}", "'HTTPS",
                         "must start with \"http://\" or \"https://\""));
}

TEST(url_credentials_are_not_echoed) {
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(parse_q("{'version': 1," REQUIRED ", 'prometheus': {'url': 'https://u:hunter2@p',"
                         " 'error_rate_query': 'q'}}",
                         &c, &errs),
                 -EINVAL);
    REQUIRE(errs.n == 1);
    CHECK(strstr(errs.e[0].text, "credentials") != NULL);
    CHECK(strstr(errs.e[0].text, "hunter2") == NULL);
}

TEST(input_size_and_syntax) {
    size_t big = RT_WD_CONFIG_MAX_BYTES + 1;
    char *text = malloc(big);
    REQUIRE(text);
    memset(text, ' ', big);
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_wd_config_parse(text, big, &c, &errs), -EINVAL);
    free(text);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].line, 0);
    CHECK(strstr(errs.e[0].text, "configuration is larger than 262144 bytes") != NULL);
    CHECK(first_error("", 1, 1, "unexpected token"));
    CHECK(first_error("{'version': 1,\n 'version': 1}", 2, 10, "duplicate object key"));
    CHECK_EQ_INT(rt_wd_config_parse(NULL, 3, &c, &errs), -EINVAL);
    CHECK(errs.n == 1 && strstr(errs.e[0].text, "no configuration text"));
    CHECK_EQ_INT(rt_wd_config_parse("{}", 2, NULL, &errs), -EINVAL);
    /* errs may be NULL. */
    CHECK_EQ_INT(rt_wd_config_parse("{}", 2, &c, NULL), -EINVAL);
    CHECK(c == NULL);
}

TEST(load_errors_have_no_position) {
    struct rt_wd_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_wd_config_load("tests/config/no-such-file.json", &c, &errs), -ENOENT);
    REQUIRE(errs.n == 1);
    CHECK_EQ_INT(errs.e[0].line, 0);
    CHECK(strstr(errs.e[0].text, "cannot read") != NULL);
    CHECK_EQ_INT(rt_wd_config_load(NULL, &c, &errs), -EINVAL);
    CHECK(c == NULL);
}

/* ---- sample files ---- */

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

static int load_wd(const char *path, struct rt_policy_errors *errs) {
    struct rt_wd_config *c = NULL;
    int r = rt_wd_config_load(path, &c, errs);
    CHECK(r == 0 ? c != NULL : c == NULL);
    rt_wd_config_free(c);
    return r;
}

TEST(sample_good_files_parse) { CHECK(rt_check_good_samples("tests/config/good", load_wd) >= 5); }

TEST(sample_bad_files_report_expected_first_error) {
    CHECK(rt_check_bad_samples("tests/config/bad", load_wd) >= 60);
}

/* ---- secrets ---- */

struct tmpdir {
    char path[64];
};

static void tmpdir_remove(struct tmpdir *t) {
    if (!t->path[0])
        return;
    _cleanup_(closedirp) DIR *d = opendir(t->path);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        unlinkat(dirfd(d), de->d_name, 0);
    }
    rmdir(t->path);
}

static bool tmpdir_make(struct tmpdir *t) {
    snprintf(t->path, sizeof t->path, "/tmp/rt-test-config.XXXXXX");
    if (!mkdtemp(t->path)) {
        t->path[0] = '\0';
        return false;
    }
    return true;
}

static const char *write_file(const struct tmpdir *t, const char *name, const void *data, size_t len, mode_t mode,
                              char path[128]) {
    snprintf(path, 128, "%s/%s", t->path, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    bool ok = rt_write_all(fd, data, len) == 0 && fchmod(fd, mode) == 0;
    close(fd);
    return ok ? path : NULL;
}

static int secret_of(const struct tmpdir *t, const char *content, size_t len, mode_t mode, char *buf,
                     size_t cap, bool *loose) {
    char path[128];
    if (!write_file(t, "s", content, len, mode, path))
        return -999;
    return rt_wd_config_read_secret(path, buf, cap, loose);
}

TEST(secret_trims_one_newline) {
    _cleanup_(tmpdir_remove) struct tmpdir t = {{0}};
    REQUIRE(tmpdir_make(&t));
    char buf[RT_WD_SECRET_BUFSZ];
    bool loose = true;
    CHECK_EQ_INT(secret_of(&t, "tok3n\n", 6, 0600, buf, sizeof buf, &loose), 5);
    CHECK_EQ_STR(buf, "tok3n");
    CHECK(!loose);
    CHECK_EQ_INT(secret_of(&t, "tok3n", 5, 0400, buf, sizeof buf, &loose), 5);
    CHECK_EQ_STR(buf, "tok3n");
    CHECK_EQ_INT(secret_of(&t, "pass word\r\n", 11, 0600, buf, sizeof buf, NULL), 9);
    CHECK_EQ_STR(buf, "pass word");
    /* Only one newline is trimmed: the second is a control character. */
    CHECK_EQ_INT(secret_of(&t, "tok3n\n\n", 7, 0600, buf, sizeof buf, NULL), -EBADMSG);
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(secret_of(&t, "line1\nline2\n", 12, 0600, buf, sizeof buf, NULL), -EBADMSG);
    CHECK_EQ_INT(secret_of(&t, "a\0b", 3, 0600, buf, sizeof buf, NULL), -EBADMSG);
}

TEST(secret_refuses_empty_and_oversized) {
    _cleanup_(tmpdir_remove) struct tmpdir t = {{0}};
    REQUIRE(tmpdir_make(&t));
    char buf[RT_WD_SECRET_BUFSZ];
    CHECK_EQ_INT(secret_of(&t, "", 0, 0600, buf, sizeof buf, NULL), -ENODATA);
    CHECK_EQ_INT(secret_of(&t, "\n", 1, 0600, buf, sizeof buf, NULL), -ENODATA);
    CHECK_EQ_INT(secret_of(&t, "\r\n", 2, 0600, buf, sizeof buf, NULL), -ENODATA);
    static char big[RT_WD_SECRET_MAX + 3];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(secret_of(&t, big, RT_WD_SECRET_MAX, 0600, buf, sizeof buf, NULL), RT_WD_SECRET_MAX);
    CHECK_EQ_INT(strlen(buf), RT_WD_SECRET_MAX);
    big[RT_WD_SECRET_MAX] = '\r';
    big[RT_WD_SECRET_MAX + 1] = '\n';
    CHECK_EQ_INT(secret_of(&t, big, RT_WD_SECRET_MAX + 2, 0600, buf, sizeof buf, NULL), RT_WD_SECRET_MAX);
    big[RT_WD_SECRET_MAX] = 'x';
    CHECK_EQ_INT(secret_of(&t, big, RT_WD_SECRET_MAX + 1, 0600, buf, sizeof buf, NULL), -EFBIG);
    CHECK_EQ_INT(secret_of(&t, big, sizeof big, 0600, buf, sizeof buf, NULL), -EFBIG);
    CHECK_EQ_STR(buf, "");
    /* The caller's buffer bounds it too. */
    char small[4];
    CHECK_EQ_INT(secret_of(&t, "abcd", 4, 0600, small, sizeof small, NULL), -ENOBUFS);
    CHECK_EQ_INT(secret_of(&t, "abc", 3, 0600, small, sizeof small, NULL), 3);
    CHECK_EQ_STR(small, "abc");
}

TEST(secret_flags_group_or_other_readable) {
    _cleanup_(tmpdir_remove) struct tmpdir t = {{0}};
    REQUIRE(tmpdir_make(&t));
    char buf[64];
    bool loose = false;
    CHECK_EQ_INT(secret_of(&t, "s3cret", 6, 0640, buf, sizeof buf, &loose), 6);
    CHECK(loose);
    loose = false;
    CHECK_EQ_INT(secret_of(&t, "s3cret", 6, 0604, buf, sizeof buf, &loose), 6);
    CHECK(loose);
    CHECK_EQ_INT(secret_of(&t, "s3cret", 6, 0620, buf, sizeof buf, &loose), 6);
    CHECK(!loose); /* group may write, not read */
    CHECK_EQ_INT(secret_of(&t, "s3cret", 6, 0600, buf, sizeof buf, &loose), 6);
    CHECK(!loose);
}

TEST(secret_refuses_what_is_not_a_regular_file) {
    _cleanup_(tmpdir_remove) struct tmpdir t = {{0}};
    REQUIRE(tmpdir_make(&t));
    char buf[64], path[128];
    bool loose = true;
    CHECK_EQ_INT(rt_wd_config_read_secret(t.path, buf, sizeof buf, &loose), -EINVAL);
    CHECK(!loose);
    snprintf(path, sizeof path, "%s/fifo", t.path);
    REQUIRE(mkfifo(path, 0600) == 0);
    /* Must not block waiting for a writer. */
    CHECK_EQ_INT(rt_wd_config_read_secret(path, buf, sizeof buf, NULL), -EINVAL);
    snprintf(path, sizeof path, "%s/missing", t.path);
    CHECK_EQ_INT(rt_wd_config_read_secret(path, buf, sizeof buf, NULL), -ENOENT);
    CHECK_EQ_INT(rt_wd_config_read_secret(NULL, buf, sizeof buf, NULL), -EINVAL);
    CHECK_EQ_INT(rt_wd_config_read_secret(path, buf, 0, NULL), -EINVAL);
}

/* ---- common/jsoncheck.c ---- */

TEST(jsoncheck_paths_and_choices) {
    const struct rt_jpath root = {.n = 0};
    struct rt_jpath a = rt_jpath_key(&root, "listen");
    struct rt_jpath b = rt_jpath_index(&a, 3);
    struct rt_jpath c = rt_jpath_key(&b, "tls");
    char buf[64];
    rt_jpath_format(&c, buf, sizeof buf);
    CHECK_EQ_STR(buf, "listen[3].tls");
    rt_jpath_format(&root, buf, sizeof buf);
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(a.n, 1); /* children do not change their parent */
    struct rt_jpath deep = root;
    for (int i = 0; i < RT_JPATH_MAX + 3; i++)
        deep = rt_jpath_key(&deep, "k");
    CHECK_EQ_INT(deep.n, RT_JPATH_MAX);
    rt_jpath_format(&c, buf, 8);
    CHECK_EQ_INT(strlen(buf), 7);

    static const char *const three[] = {"a", NULL, "b", "c"};
    rt_jchoices(three, ELEMENTSOF(three), buf, sizeof buf);
    CHECK_EQ_STR(buf, "\"a\", \"b\" or \"c\"");
    rt_jchoices(three, 1, buf, sizeof buf);
    CHECK_EQ_STR(buf, "\"a\"");
    CHECK_EQ_STR(rt_jshow("a\"b\\c\nd").s, "a?b?c?d");
    CHECK_EQ_STR(rt_jshow("0123456789012345678901234567890123456789xyz").s,
                 "0123456789012345678901234567890123456789...");
    CHECK_EQ_STR(rt_jshow("0123456789012345678901234567890123456789").s,
                 "0123456789012345678901234567890123456789");
    /* "\xc3\xa9" (one character) straddling the cut is left out whole. */
    CHECK_EQ_STR(rt_jshow("012345678901234567890123456789012345678\xc3\xa9x").s,
                 "012345678901234567890123456789012345678...");
}

TEST(jsoncheck_errors_print_with_file_positions) {
    struct rt_policy_errors errs = {.n = 2};
    errs.e[0] = (struct rt_policy_error){.line = 3, .column = 7, .text = "bad"};
    errs.e[1] = (struct rt_policy_error){.line = 0, .column = 0, .text = "note"};
    char out[256] = {0};
    FILE *f = fmemopen(out, sizeof out - 1, "w");
    REQUIRE(f);
    rt_jcheck_print_errors(f, "w.json", &errs, -EINVAL);
    errs.n = 0;
    rt_jcheck_print_errors(f, "w.json", &errs, -ENOENT);
    fclose(f);
    CHECK_EQ_STR(out, "w.json:3:7: bad\nw.json: note\nw.json: No such file or directory\n");
}

TEST_MAIN()
