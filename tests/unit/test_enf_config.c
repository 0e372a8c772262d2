/* The enforcer's configuration parser (enforcer/config.c). Runs from the
 * repository root: it reads examples/enforcer.json, docs/enforcer.md and
 * the samples under tests/enforcer-config/. Each bad/NAME.json has a
 * NAME.expected holding "LINE:COL: text" of its first error.
 *
 * Names are looked up in a fixed table (root, ratchet-watchdog,
 * ratchet-oncall) so that the samples do not depend on the host's users;
 * one test uses the host's name service for "root". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/jsoncheck.h"
#include "common/util.h"
#include "enforcer/config.h"
#include "tests/unit/harness.h"
#include "tests/unit/samples.h"

#define SEC_US INT64_C(1000000)

/* ---- helpers ---- */

struct id_entry {
    const char *name;
    uint32_t id;
};

static const struct id_entry users[] = {{"root", 0}, {"ratchet-watchdog", 990}};
static const struct id_entry groups[] = {{"root", 0}, {"ratchet-watchdog", 990}, {"ratchet-oncall", 992}};

static int table_lookup(const struct id_entry *t, size_t n, const char *name, uint32_t *out) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            *out = t[i].id;
            return 0;
        }
    }
    return -ENOENT;
}

static int fake_user(const char *name, uid_t *out, void *ud) {
    (void)ud;
    uint32_t id;
    int r = table_lookup(users, ELEMENTSOF(users), name, &id);
    if (r == 0)
        *out = id;
    return r;
}

static int fake_group(const char *name, gid_t *out, void *ud) {
    (void)ud;
    uint32_t id;
    int r = table_lookup(groups, ELEMENTSOF(groups), name, &id);
    if (r == 0)
        *out = id;
    return r;
}

static const struct rt_enf_id_lookup fake = {fake_user, fake_group, NULL};

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

static int parse_q(const char *q, struct rt_enf_config **out, struct rt_policy_errors *errs) {
    _cleanup_free_ char *t = dq(q);
    if (!t)
        return -ENOMEM;
    return rt_enf_config_parse_with(t, strlen(t), &fake, out, errs);
}

static struct rt_enf_config *parse_ok(const char *q) {
    struct rt_enf_config *cfg = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q(q, &cfg, &errs);
    if (r != 0)
        print_errors(q, r, &errs);
    return cfg;
}

/* Line and column (1-based, ASCII texts) of the first occurrence of needle. */
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

/* The first error is at the first occurrence of `at` and contains want. */
static bool first_error_at(const char *q, const char *at, const char *want) {
    int line, col;
    pos_of(q, at, &line, &col);
    struct rt_enf_config *cfg = NULL;
    struct rt_policy_errors errs = {0};
    int r = parse_q(q, &cfg, &errs);
    bool ok = r == -EINVAL && !cfg && errs.n > 0 && errs.e[0].line == line && errs.e[0].column == col &&
              strstr(errs.e[0].text, want) != NULL;
    if (!ok) {
        print_errors(q, r, &errs);
        fprintf(stderr, "    want %d:%d: %s\n", line, col, want);
    }
    rt_enf_config_free(cfg);
    return ok;
}

static struct rt_enf_config *load_ok(const char *path) {
    struct rt_enf_config *cfg = NULL;
    struct rt_policy_errors errs = {0};
    int r = rt_enf_config_load_with(path, &fake, &cfg, &errs);
    if (r != 0)
        print_errors(path, r, &errs);
    return cfg;
}

#define REQUIRED "'allowed_peers': {'uids': [990]}, 'state_dir': '/var/lib/re', 'origin': 'ex.com/log', " \
                 "'key': {'file': '/etc/k'}"

/* ---- the example and the samples ---- */

TEST(example_parses_to_what_it_says) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c = load_ok("examples/enforcer.json");
    REQUIRE(c);
    CHECK_EQ_STR(c->socket_path, "/run/ratchet-enforcer/enforcer.sock");
    CHECK_EQ_INT(c->socket_mode, 0660);
    CHECK(c->has_socket_group);
    CHECK_EQ_INT(c->socket_group, 990);
    CHECK_EQ_INT(c->n_allowed_uids, 1);
    CHECK_EQ_INT(c->allowed_uids[0], 990);
    CHECK_EQ_INT(c->n_allowed_gids, 1);
    CHECK_EQ_INT(c->allowed_gids[0], 992);
    CHECK_EQ_STR(c->state_dir, "/var/lib/ratchet-enforcer");
    CHECK_EQ_STR(c->origin, "ratchet.example.com/commands");
    CHECK_EQ_INT(c->key.kind, RT_ENF_KEY_CREDENTIAL);
    CHECK_EQ_STR(c->key.credential, "enforcer.key");
    CHECK(c->key.file == NULL);
    CHECK_EQ_STR(c->key_name, "ratchet.example.com");
    CHECK_EQ_STR(c->policy_file, "/etc/ratchet/policy.json");
    CHECK_EQ_INT(c->checkpoint_interval_us, 300 * SEC_US);
    CHECK_EQ_INT(c->watchdog_silence_us, 120 * SEC_US);
    CHECK_EQ_STR(c->readiness_view, "/var/lib/ratchet-enforcer/readiness.json");
    CHECK_EQ_INT(c->max_connections, 4);
}

TEST(example_is_the_one_in_the_docs_and_every_key_is_documented) {
    _cleanup_free_ char *doc = NULL, *example = NULL;
    size_t doc_len, ex_len;
    REQUIRE(rt_read_file_bounded("docs/enforcer.md", 1 << 20, &doc, &doc_len) == 0);
    REQUIRE(rt_read_file_bounded("examples/enforcer.json", 1 << 20, &example, &ex_len) == 0);
    CHECK(strstr(doc, example) != NULL);
    static const char *const keys[] = {"version", "socket", "socket_mode", "socket_group", "allowed_peers", "uids",
                                       "gids", "state_dir", "origin", "key", "file", "credential", "key_name",
                                       "policy_file", "checkpoint_interval", "watchdog_silence", "readiness_view",
                                       "max_connections"};
    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "`%s`", keys[i]);
        if (!strstr(doc, quoted)) {
            fprintf(stderr, "    docs/enforcer.md does not mention %s\n", quoted);
            rt_test_failed = 1;
        }
        snprintf(quoted, sizeof quoted, "\"%s\"", keys[i]);
        /* the example shows every key but the other form of "key" */
        CHECK(strcmp(keys[i], "file") == 0 || strstr(example, quoted) != NULL);
    }
}

TEST(minimal_sample_gets_the_defaults) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c = load_ok("tests/enforcer-config/good/minimal.json");
    REQUIRE(c);
    CHECK(c->socket_path == NULL); /* socket activation */
    CHECK_EQ_INT(c->socket_mode, RT_ENF_DEFAULT_SOCKET_MODE);
    CHECK(!c->has_socket_group);
    CHECK_EQ_INT(c->n_allowed_uids, 1);
    CHECK_EQ_INT(c->n_allowed_gids, 0);
    CHECK_EQ_INT(c->key.kind, RT_ENF_KEY_FILE);
    CHECK_EQ_STR(c->key.file, "/etc/ratchet/enforcer.key");
    CHECK_EQ_INT(strncmp(c->key_name, c->origin, strlen(c->key_name)), 0); /* the origin's host part */
    CHECK(c->key_name != c->origin); /* its own copy */
    CHECK(c->policy_file == NULL);
    CHECK_EQ_INT(c->checkpoint_interval_us, 300 * SEC_US);
    CHECK_EQ_INT(c->watchdog_silence_us, 120 * SEC_US);
    CHECK_EQ_STR(c->readiness_view, "/var/lib/ratchet-enforcer/readiness.json");
    CHECK_EQ_INT(c->max_connections, 4);
}

TEST(full_sample) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c = load_ok("tests/enforcer-config/good/full.json");
    REQUIRE(c);
    CHECK_EQ_INT(c->socket_mode, 0640);
    CHECK_EQ_INT(c->socket_group, 990);
    CHECK_EQ_INT(c->n_allowed_uids, 2);
    CHECK_EQ_INT(c->allowed_uids[0], 990);
    CHECK_EQ_INT(c->allowed_uids[1], 0); /* root only because it is listed */
    CHECK_EQ_INT(c->n_allowed_gids, 3);
    CHECK_EQ_INT(c->allowed_gids[0], 991);
    CHECK_EQ_INT(c->allowed_gids[1], 992);
    CHECK_EQ_INT(c->allowed_gids[2], 0);
    /* '+' in the origin is fine with an explicit key name */
    CHECK_EQ_STR(c->origin, "ratchet.example.com/commands-v2");
    CHECK_EQ_STR(c->key_name, "ratchet-enforcer-2026");
    CHECK_EQ_INT(c->checkpoint_interval_us, 10 * SEC_US);
    CHECK_EQ_INT(c->watchdog_silence_us, 3600 * SEC_US);
    CHECK_EQ_STR(c->readiness_view, "/srv/ratchet/readiness.json");
    CHECK_EQ_INT(c->max_connections, 64);
}

TEST(range_edges_are_accepted) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c = load_ok("tests/enforcer-config/good/extremes.json");
    REQUIRE(c);
    CHECK_EQ_STR(c->socket_path, "/r");
    CHECK_EQ_INT(c->socket_mode, 0);
    CHECK_EQ_INT(c->allowed_uids[0], 4294967294u);
    CHECK_EQ_INT(c->allowed_gids[0], 0);
    CHECK_EQ_STR(c->readiness_view, "/readiness.json"); /* state_dir "/" */
    CHECK_EQ_INT(c->checkpoint_interval_us, 3600 * SEC_US);
    CHECK_EQ_INT(c->watchdog_silence_us, 5 * SEC_US);
    CHECK_EQ_INT(c->max_connections, 1);
}

static int load_enf(const char *path, struct rt_policy_errors *errs) {
    struct rt_enf_config *c = NULL;
    int r = rt_enf_config_load_with(path, &fake, &c, errs);
    CHECK(r == 0 ? c != NULL : c == NULL);
    rt_enf_config_free(c);
    return r;
}

TEST(sample_good_files_parse) { CHECK(rt_check_good_samples("tests/enforcer-config/good", load_enf) >= 4); }

TEST(sample_bad_files_report_expected_first_error) {
    CHECK(rt_check_bad_samples("tests/enforcer-config/bad", load_enf) >= 60);
}

/* ---- rules, inline ---- */

TEST(every_error_is_reported_in_position_order) {
    const char *q = "{'version': 2, 'max_connections': 0, " REQUIRED ", 'checkpoint_interval': '1s', 'bogus': 1}";
    struct rt_enf_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(parse_q(q, &c, &errs), -EINVAL);
    CHECK(c == NULL);
    REQUIRE(errs.n == 4);
    int line, col;
    pos_of(q, "2,", &line, &col);
    CHECK(errs.e[0].column == col && strstr(errs.e[0].text, "unsupported \"version\" 2"));
    pos_of(q, "0,", &line, &col);
    CHECK(errs.e[1].column == col && strstr(errs.e[1].text, "\"max_connections\" must be between 1 and 64"));
    pos_of(q, "'1s'", &line, &col);
    CHECK(errs.e[2].column == col && strstr(errs.e[2].text, "must be between 10s and 1h"));
    pos_of(q, "'bogus'", &line, &col);
    CHECK(errs.e[3].column == col && strstr(errs.e[3].text, "unknown key \"bogus\""));
}

TEST(unknown_root_key_suggests_the_nearest) {
    CHECK(first_error_at("{'version': 1, " REQUIRED ", 'watchdog_silense': '2m'}", "'watchdog_silense'",
                         "did you mean \"watchdog_silence\""));
    CHECK(first_error_at("{'version': 1, " REQUIRED ", 'max_connection': 2}", "'max_connection'",
                         "did you mean \"max_connections\""));
    CHECK(first_error_at("{'version': 1, " REQUIRED ", 'listen': []}", "'listen'",
                         "unknown key \"listen\" (docs/enforcer.md lists every key)"));
}

TEST(root_is_never_implied) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c = parse_ok("{'version': 1, " REQUIRED "}");
    REQUIRE(c);
    CHECK_EQ_INT(c->n_allowed_uids, 1);
    CHECK_EQ_INT(c->allowed_uids[0], 990);
    CHECK_EQ_INT(c->n_allowed_gids, 0);
    CHECK(first_error_at("{'version': 1, 'allowed_peers': {'uids': [], 'gids': []}, 'state_dir': '/s', "
                         "'origin': 'o', 'key': {'file': '/k'}}",
                         "{'uids'", "not even root"));
}

TEST(ids_by_number_and_by_name_are_the_same_and_not_listed_twice) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c =
        parse_ok("{'version': 1, 'allowed_peers': {'uids': ['ratchet-watchdog', 0], 'gids': ['ratchet-oncall']},"
                 " 'state_dir': '/s', 'origin': 'o', 'key': {'file': '/k'}}");
    REQUIRE(c);
    CHECK_EQ_INT(c->allowed_uids[0], 990);
    CHECK_EQ_INT(c->allowed_uids[1], 0);
    CHECK_EQ_INT(c->allowed_gids[0], 992);
    CHECK(first_error_at("{'version': 1, 'allowed_peers': {'uids': [990, 'ratchet-watchdog']}, 'state_dir': '/s',"
                         " 'origin': 'o', 'key': {'file': '/k'}}",
                         "'ratchet-watchdog'", "\"uids\" lists uid 990 twice"));
    /* a user's name is not a group's: the tables are separate */
    CHECK(first_error_at("{'version': 1, 'allowed_peers': {'uids': ['ratchet-oncall']}, 'state_dir': '/s',"
                         " 'origin': 'o', 'key': {'file': '/k'}}",
                         "'ratchet-oncall'", "unknown user \"ratchet-oncall\""));
}

TEST(names_are_resolved_with_the_system_name_service) {
    const char *text = "{\"version\": 1, \"allowed_peers\": {\"uids\": [\"root\"], \"gids\": [\"root\"]},"
                       " \"state_dir\": \"/s\", \"origin\": \"o\", \"key\": {\"file\": \"/k\"}}";
    struct rt_enf_config *c = NULL;
    struct rt_policy_errors errs = {0};
    REQUIRE(rt_enf_config_parse(text, strlen(text), &c, &errs) == 0);
    CHECK_EQ_INT(c->allowed_uids[0], 0);
    CHECK_EQ_INT(c->allowed_gids[0], 0);
    rt_enf_config_free(c);
    c = NULL;
    const char *unknown = "{\"version\": 1, \"allowed_peers\": {\"uids\": [\"rt-no-such-user-7q2x\"]},"
                          " \"state_dir\": \"/s\", \"origin\": \"o\", \"key\": {\"file\": \"/k\"}}";
    CHECK_EQ_INT(rt_enf_config_parse(unknown, strlen(unknown), &c, &errs), -EINVAL);
    CHECK(c == NULL);
    REQUIRE(errs.n == 1);
    CHECK(strstr(errs.e[0].text, "unknown user \"rt-no-such-user-7q2x\"") != NULL);
}

static int failing_user(const char *name, uid_t *out, void *ud) {
    (void)name;
    (void)out;
    (void)ud;
    return -EIO;
}

TEST(name_service_failure_is_reported_not_taken_for_unknown) {
    const struct rt_enf_id_lookup broken = {failing_user, NULL, NULL};
    const char *text = "{\"version\": 1, \"allowed_peers\": {\"uids\": [\"ratchet-watchdog\"]},"
                       " \"state_dir\": \"/s\", \"origin\": \"o\", \"key\": {\"file\": \"/k\"}}";
    struct rt_enf_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_enf_config_parse_with(text, strlen(text), &broken, &c, &errs), -EINVAL);
    REQUIRE(errs.n == 1);
    CHECK(strstr(errs.e[0].text, "cannot look up user \"ratchet-watchdog\"") != NULL);
}

TEST(socket_mode_forms) {
    static const struct {
        const char *text;
        int mode;
    } ok[] = {{"660", 0660}, {"0660", 0660}, {"0750", 0750}, {"0604", 0604}, {"0000", 0}};
    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        char q[512];
        snprintf(q, sizeof q, "{'version': 1, 'socket': '/run/e.sock', 'socket_mode': '%s', " REQUIRED "}",
                 ok[i].text);
        struct rt_enf_config *c = parse_ok(q);
        CHECK(c && (int)c->socket_mode == ok[i].mode);
        rt_enf_config_free(c);
    }
    static const char *const bad[] = {"66", "06600", "0o660", "0x1b0", "0660 ", "-660", "0777", "0662", "1660"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char q[512];
        snprintf(q, sizeof q, "{'version': 1, 'socket': '/run/e.sock', 'socket_mode': '%s', " REQUIRED "}",
                 bad[i]);
        struct rt_enf_config *c = NULL;
        struct rt_policy_errors errs = {0};
        CHECK_EQ_INT(parse_q(q, &c, &errs), -EINVAL);
        CHECK(c == NULL && errs.n == 1 && strstr(errs.e[0].text, "\"socket_mode\""));
    }
}

TEST(key_name_defaults_to_origin_and_follows_c2sp_rules) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c =
        parse_ok("{'version': 1, " REQUIRED ", 'key_name': 'ratchet-2026'}");
    REQUIRE(c);
    CHECK_EQ_STR(c->key_name, "ratchet-2026");
    /* a valid origin whose host part is not a key name (':') */
    CHECK(first_error_at("{'version': 1, 'allowed_peers': {'uids': [990]}, 'state_dir': '/s', 'origin': 'a:b',"
                         " 'key': {'file': '/k'}}",
                         "'a:b'", "set \"key_name\""));
    /* an invalid key_name is its own error, not a fallback to the origin */
    CHECK(first_error_at("{'version': 1, 'allowed_peers': {'uids': [990]}, 'state_dir': '/s', 'origin': 'a:b',"
                         " 'key': {'file': '/k'}, 'key_name': ''}",
                         "''", "\"key_name\" must not be empty"));
}

TEST(key_path_resolves_credentials_at_startup) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *f = parse_ok("{'version': 1, " REQUIRED "}");
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c = load_ok("examples/enforcer.json");
    REQUIRE(f && c);
    char *path = NULL;
    CHECK_EQ_INT(rt_enf_key_path(&f->key, NULL, &path), 0);
    CHECK_EQ_STR(path, "/etc/k");
    free(path);
    CHECK_EQ_INT(rt_enf_key_path(&c->key, "/run/credentials/ratchet-enforcer.service", &path), 0);
    CHECK_EQ_STR(path, "/run/credentials/ratchet-enforcer.service/enforcer.key");
    free(path);
    CHECK_EQ_INT(rt_enf_key_path(&c->key, "/run/creds/", &path), 0);
    CHECK_EQ_STR(path, "/run/creds/enforcer.key");
    free(path);
    path = (char *)"untouched";
    CHECK_EQ_INT(rt_enf_key_path(&c->key, NULL, &path), -ENXIO);
    CHECK(path == NULL);
    CHECK_EQ_INT(rt_enf_key_path(&c->key, "", &path), -ENXIO);
    CHECK_EQ_INT(rt_enf_key_path(&c->key, "relative/dir", &path), -ENXIO);
    char longdir[RT_ENF_PATH_MAX + 2];
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    CHECK_EQ_INT(rt_enf_key_path(&c->key, longdir, &path), -ENAMETOOLONG);
}

TEST(file_errors_have_no_position) {
    struct rt_enf_config *c = NULL;
    struct rt_policy_errors errs = {0};
    CHECK_EQ_INT(rt_enf_config_load("tests/enforcer-config/no-such-file.json", &c, &errs), -ENOENT);
    CHECK(c == NULL && errs.n == 1 && errs.e[0].line == 0 && strstr(errs.e[0].text, "cannot read"));

    char path[] = "/tmp/rt-enf-config-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    _cleanup_free_ char *big = malloc(RT_ENF_CONFIG_MAX_BYTES + 1);
    REQUIRE(big);
    memset(big, ' ', RT_ENF_CONFIG_MAX_BYTES + 1);
    big[0] = '{';
    big[RT_ENF_CONFIG_MAX_BYTES] = '}';
    CHECK(rt_write_all(fd, big, RT_ENF_CONFIG_MAX_BYTES + 1) == 0);
    close(fd);
    CHECK(rt_enf_config_load(path, &c, &errs) < 0);
    CHECK(c == NULL && errs.n == 1 && errs.e[0].line == 0 && strstr(errs.e[0].text, "larger than"));
    unlink(path);
    CHECK_EQ_INT(rt_enf_config_parse("{}", 2, NULL, NULL), -EINVAL);
}

TEST(durations_take_their_ranges) {
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *c =
        parse_ok("{'version': 1, " REQUIRED ", 'checkpoint_interval': '1h', 'watchdog_silence': '1m30s'}");
    REQUIRE(c);
    CHECK_EQ_INT(c->checkpoint_interval_us, 3600 * SEC_US);
    CHECK_EQ_INT(c->watchdog_silence_us, 90 * SEC_US);
    CHECK(first_error_at("{'version': 1, " REQUIRED ", 'watchdog_silence': '4999ms'}", "'4999ms'",
                         "must be between 5s and 1h"));
    CHECK(first_error_at("{'version': 1, " REQUIRED ", 'checkpoint_interval': '61m'}", "'61m'",
                         "must be between 10s and 1h"));
}

TEST_MAIN()
