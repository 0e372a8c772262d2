/* The enforcer's configuration file (enforcer/config.h
 * rt_enf_config_parse_with; the _load variants only read the file), with a
 * fixed user/group table so that runs do not depend on the host.
 * Invariants: 0 with a configuration, or -EINVAL with 1..RT_POLICY_MAX_ERRORS
 * errors (-ENOMEM aside); an accepted configuration is one the enforcer can
 * start with: at least one allowed peer, a signing key, a key name and an
 * origin that the command-log writer accepts, a socket mode that never lets
 * "other" write, intervals in their documented ranges. */
#include <errno.h>

#include "cmdlog/logkey.h"
#include "cmdlog/record.h"
#include "enforcer/config.h"
#include "fuzz/fuzz_common.h"

struct id {
    const char *name;
    unsigned id;
};

static const struct id users[] = {{"root", 0}, {"ratchet-watchdog", 990}, {"nobody", 65534}};
static const struct id groups[] = {{"root", 0}, {"ratchet-watchdog", 990}, {"ratchet-oncall", 992}};

static int find(const struct id *t, size_t n, const char *name, unsigned *out) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return *out = t[i].id, 0;
    return -ENOENT;
}

static int user(const char *name, uid_t *out, void *ud) {
    (void)ud;
    unsigned v;
    int r = find(users, sizeof users / sizeof users[0], name, &v);
    *out = (uid_t)v;
    return r;
}

static int group(const char *name, gid_t *out, void *ud) {
    (void)ud;
    unsigned v;
    int r = find(groups, sizeof groups / sizeof groups[0], name, &v);
    *out = (gid_t)v;
    return r;
}

static void check_ok(const struct rt_enf_config *c) {
    FZ_CHECK(c->n_allowed_uids + c->n_allowed_gids >= 1);
    FZ_CHECK(c->n_allowed_uids <= RT_ENF_PEERS_MAX && c->n_allowed_gids <= RT_ENF_PEERS_MAX);
    FZ_CHECK(c->state_dir && c->state_dir[0] == '/');
    FZ_CHECK(c->origin && rt_log_origin_valid(c->origin));
    FZ_CHECK(c->key_name && rt_log_key_name_valid(c->key_name));
    FZ_CHECK(c->key.kind == RT_ENF_KEY_FILE || c->key.kind == RT_ENF_KEY_CREDENTIAL);
    FZ_CHECK(c->key.kind != RT_ENF_KEY_FILE || (c->key.file && c->key.file[0] == '/'));
    FZ_CHECK(c->n_trusted_keys <= RT_ENF_TRUSTED_KEYS_MAX);
    FZ_CHECK(c->readiness_view && c->readiness_view[0] == '/');
    FZ_CHECK((c->socket_mode & 0002) == 0);
    FZ_CHECK(c->checkpoint_interval_us >= RT_ENF_CHECKPOINT_INTERVAL_MIN_US &&
             c->checkpoint_interval_us <= RT_ENF_CHECKPOINT_INTERVAL_MAX_US);
    FZ_CHECK(c->watchdog_silence_us >= RT_ENF_WATCHDOG_SILENCE_MIN_US &&
             c->watchdog_silence_us <= RT_ENF_WATCHDOG_SILENCE_MAX_US);
    FZ_CHECK(c->max_connections >= 1 && c->max_connections <= RT_ENF_MAX_CONNECTIONS_MAX);
}

/* The parse call again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    static const struct rt_enf_id_lookup lookup = {.user = user, .group = group};
    struct rt_enf_config *cfg = NULL;
    struct rt_policy_errors errs;
    rt_enf_config_parse_with((const char *)data, size, &lookup, &cfg, &errs);
    rt_enf_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const struct rt_enf_id_lookup lookup = {.user = user, .group = group};
    struct rt_enf_config *cfg = NULL;
    struct rt_policy_errors errs;
    int r = rt_enf_config_parse_with((const char *)data, size, &lookup, &cfg, &errs);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r == -EINVAL) {
        FZ_CHECK(errs.n >= 1 && errs.n <= RT_POLICY_MAX_ERRORS);
        for (size_t i = 0; i < errs.n; i++)
            FZ_CHECK(fz_terminated(errs.e[i].text, sizeof errs.e[i].text) && errs.e[i].text[0]);
    }
    if (r == 0) {
        FZ_CHECK(cfg != NULL);
        check_ok(cfg);
    }
    rt_enf_config_free(cfg);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
