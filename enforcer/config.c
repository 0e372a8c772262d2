/* Strict parser of the enforcer's configuration (docs/enforcer.md).
 *
 * The walk follows the watchdog's (watchdog/config.c): jansson parses,
 * rt_jcheck_fields() checks each object's keys, and every problem is
 * recorded with its position; nothing stops at the first error. Values are
 * copied into the struct as they are accepted; on any error the struct is
 * freed. */
#include "enforcer/config.h"

#include "cmdlog/logkey.h"
#include "cmdlog/record.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/jsoncheck.h"
#include "common/util.h"

#define SEC_US INT64_C(1000000)
/* getpwnam_r/getgrnam_r buffers grow up to this (huge groups in LDAP). */
#define NSS_BUF_START 16384
#define NSS_BUF_MAX (4 * 1024 * 1024)
#define ID_MAX UINT32_C(4294967294) /* (uid_t)-1 means "no id" to chown() and friends */

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == RT_ENF_SOCKET_PATH_MAX + 1,
               "RT_ENF_SOCKET_PATH_MAX follows sun_path");
_Static_assert(sizeof(uid_t) == 4 && sizeof(gid_t) == 4, "ids are 32-bit");

struct cfgparse {
    struct rt_jcheck jc;
    struct rt_enf_config *cfg;
    const struct rt_enf_id_lookup *lookup; /* may be NULL */
    int r; /* -ENOMEM once a copy failed */
};

/* ---- strings and paths (the shared helpers are in common/jsoncheck.h) ---- */

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
    rt_jcheck_take_path(&ps->jc, p, key, v, RT_ENF_PATH_MAX, out, &ps->r);
}

/* Printable ASCII other than the space: what a C2SP origin or key name may hold. */
static bool visible_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static void take_origin(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                        char **out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_ENF_ORIGIN_MAX, &s))
        return;
    if (!visible_ascii(s)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be printable ASCII without spaces (such as \"ratchet.example.com/commands\"), "
                        "not \"%s\"",
                        key, rt_jshow(s).s);
        return;
    }
    if (!rt_log_origin_valid(s)) { /* the log writer's rule: one check, at config time */
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be 1-%d of [A-Za-z0-9._:/-] (the command log's origin), not \"%s\"", key,
                        RT_ENF_ORIGIN_MAX, rt_jshow(s).s);
        return;
    }
    rt_jcheck_copy(s, out, &ps->r);
}

/* C2SP signed-note key names: no whitespace, no '+'. */
static void take_key_name(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                          char **out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_ENF_KEY_NAME_MAX, &s))
        return;
    if (!rt_log_key_name_valid(s)) { /* the key loader's rule: one check, at config time */
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be letters, digits, '.', '_' or '-', starting with a letter or digit, not \"%s\"",
                        key, rt_jshow(s).s);
        return;
    }
    rt_jcheck_copy(s, out, &ps->r);
}

/* A file name directly under $CREDENTIALS_DIRECTORY. */
static void take_credential(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                            char **out) {
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_ENF_CREDENTIAL_MAX, &s))
        return;
    if (!visible_ascii(s) || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be a credential name (a file name of printable ASCII without '/' or "
                        "spaces, as in LoadCredential=NAME:PATH), not \"%s\"",
                        key, rt_jshow(s).s);
        return;
    }
    rt_jcheck_copy(s, out, &ps->r);
}


static void take_max_connections(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                                 unsigned *out) {
    json_int_t i;
    if (rt_jcheck_integer(&ps->jc, p, key, v, 1, RT_ENF_MAX_CONNECTIONS_MAX, &i))
        *out = (unsigned)i;
}

/* Calls fn on the member `key` of the object at p if the field is present. */
#define WITH_FIELD(ps, p, fields, idx, fn, ...)                                   \
    do {                                                                          \
        if ((fields)[idx].value) {                                                \
            struct rt_jpath kp_ = rt_jpath_key((p), (fields)[idx].key);           \
            fn((ps), &kp_, (fields)[idx].key, (fields)[idx].value, __VA_ARGS__); \
        }                                                                         \
    } while (0)

/* ---- socket_mode ---- */

/* "0660" or "660": octal permission bits, at most 0777. */
static bool parse_octal_mode(const char *s, mode_t *out) {
    size_t n = strlen(s);
    if (n < 3 || n > 4)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return false;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > 0777)
        return false;
    *out = (mode_t)v;
    return true;
}

static void take_socket_mode(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                             mode_t *out) {
    if (!json_is_string(v)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" must be an octal string such as \"0660\", not %s", key,
                        rt_json_type_name(v));
        return;
    }
    const char *s = json_string_value(v);
    mode_t mode;
    if (!parse_octal_mode(s, &mode)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" must be octal permission bits from \"0000\" to \"0777\" such as \"0660\", not \"%s\"",
                        key, rt_jshow(s).s);
        return;
    }
    /* Connecting to a Unix socket needs write permission on it. Peers are
     * checked with SO_PEERCRED anyway; the mode keeps everybody else from
     * reaching that check at all. */
    if (mode & S_IWOTH) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"%s\" \"%s\" lets every local user connect; grant access through the group "
                        "(\"socket_group\") instead",
                        key, rt_jshow(s).s);
        return;
    }
    *out = mode;
}

/* ---- users and groups ---- */

static bool nss_not_found(int r) { return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM; }

/* Resolves a user (is_user) or group name with the name service. Returns
 * 0, -ENOENT, -ENOMEM or another -errno. */
static int nss_lookup_id(const char *name, bool is_user, uint32_t *out) {
    for (size_t cap = NSS_BUF_START; cap <= NSS_BUF_MAX; cap *= 4) {
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
            return -ENOMEM;
        int r;
        bool found;
        if (is_user) {
            struct passwd pw, *res = NULL;
            r = getpwnam_r(name, &pw, buf, cap, &res);
            found = r == 0 && res;
            if (found)
                *out = pw.pw_uid;
        } else {
            struct group gr, *res = NULL;
            r = getgrnam_r(name, &gr, buf, cap, &res);
            found = r == 0 && res;
            if (found)
                *out = gr.gr_gid;
        }
        if (found)
            return 0;
        if (r == ERANGE)
            continue;
        return nss_not_found(r) ? -ENOENT : -r;
    }
    return -ERANGE;
}

static int lookup_id(const struct cfgparse *ps, const char *name, bool is_user, uint32_t *out) {
    const struct rt_enf_id_lookup *l = ps->lookup;
    if (is_user && l && l->user) {
        uid_t uid;
        int r = l->user(name, &uid, l->ud);
        if (r == 0)
            *out = uid;
        return r;
    }
    if (!is_user && l && l->group) {
        gid_t gid;
        int r = l->group(name, &gid, l->ud);
        if (r == 0)
            *out = gid;
        return r;
    }
    return nss_lookup_id(name, is_user, out);
}

static bool all_digits(const char *s) {
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* A user (is_user) or group: a JSON integer, or a name resolved now. */
static bool take_id(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v, bool is_user,
                    uint32_t *out) {
    const char *what = is_user ? "user" : "group";
    if (json_is_integer(v)) {
        json_int_t i;
        if (!rt_jcheck_integer(&ps->jc, p, key, v, 0, (json_int_t)ID_MAX, &i))
            return false;
        *out = (uint32_t)i;
        return true;
    }
    if (!json_is_string(v)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" must be a %s name or a numeric id, not %s", key, what,
                        rt_json_type_name(v));
        return false;
    }
    const char *s;
    if (!rt_jcheck_string(&ps->jc, p, key, v, RT_ENF_ID_NAME_MAX, &s))
        return false;
    if (all_digits(s)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\": write the numeric %s id %s as a number, not a string",
                        key, what, s);
        return false;
    }
    int r = lookup_id(ps, s, is_user, out);
    if (r == -ENOENT) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\": unknown %s \"%s\"", key, what, rt_jshow(s).s);
        return false;
    }
    if (r < 0) {
        char buf[128];
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\": cannot look up %s \"%s\": %s", key, what,
                        rt_jshow(s).s, strerror_r(-r, buf, sizeof buf));
        return false;
    }
    return true;
}

static void take_socket_group(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                              struct rt_enf_config *cfg) {
    uint32_t gid;
    if (take_id(ps, p, key, v, false, &gid)) {
        cfg->socket_group = (gid_t)gid;
        cfg->has_socket_group = true;
    }
}

/* "uids" or "gids": each entry resolved, none twice. */
static void parse_id_list(struct cfgparse *ps, const struct rt_jpath *p, const char *key, const json_t *v,
                          bool is_user, uint32_t *ids, size_t *n) {
    if (!rt_jcheck_array(&ps->jc, p, key, v, 0, RT_ENF_PEERS_MAX))
        return;
    for (size_t i = 0; i < json_array_size(v); i++) {
        struct rt_jpath ep = rt_jpath_index(p, i);
        uint32_t id;
        if (!take_id(ps, &ep, key, json_array_get(v, i), is_user, &id))
            continue;
        size_t j = 0;
        while (j < *n && ids[j] != id)
            j++;
        if (j < *n) {
            rt_jcheck_error(&ps->jc, &ep, RT_JAT_VALUE, "\"%s\" lists %s %u twice", key, is_user ? "uid" : "gid",
                            id);
            continue;
        }
        ids[(*n)++] = id;
    }
}

static void take_allowed_peers(struct cfgparse *ps, const struct rt_jpath *p, const char *key, json_t *v,
                               struct rt_enf_config *cfg) {
    (void)key;
    enum { UIDS, GIDS, N };
    struct rt_jfield f[N] = {[UIDS] = {"uids", false}, [GIDS] = {"gids", false}};
    if (!rt_jcheck_fields(&ps->jc, p, v, f, N))
        return;
    if (!f[UIDS].value && !f[GIDS].value) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"allowed_peers\" needs \"uids\" or \"gids\" (no peer is allowed by default, not even root)");
        return;
    }
    size_t before = ps->jc.errs->n;
    WITH_FIELD(ps, p, f, UIDS, parse_id_list, true, cfg->allowed_uids, &cfg->n_allowed_uids);
    WITH_FIELD(ps, p, f, GIDS, parse_id_list, false, cfg->allowed_gids, &cfg->n_allowed_gids);
    if (ps->jc.errs->n == before && !ps->jc.overflow && cfg->n_allowed_uids + cfg->n_allowed_gids == 0)
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE,
                        "\"allowed_peers\" must list at least one uid or gid (no peer is allowed by default, "
                        "not even root)");
}

/* ---- key ---- */

static void take_key(struct cfgparse *ps, const struct rt_jpath *p, const char *key, json_t *v,
                     struct rt_enf_key_source *src) {
    static const char *const kinds[] = {"file", "credential"};
    char choices[64];
    rt_jchoices(kinds, ELEMENTSOF(kinds), choices, sizeof choices);
    if (!rt_jcheck_object(&ps->jc, p, v, "\"key\""))
        return;
    int which = -1;
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
        if (!json_object_get(v, kinds[i]))
            continue;
        if (which >= 0) {
            struct rt_jpath kp = rt_jpath_key(p, kinds[i]);
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_KEY, "\"%s\" takes only one of %s", key, choices);
            return;
        }
        which = (int)i;
    }
    if (which < 0) {
        /* Other keys are reported as unknown, with the allowed ones. */
        struct rt_jfield f[2] = {{.key = "file"}, {.key = "credential"}};
        rt_jcheck_fields(&ps->jc, p, v, f, 2);
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" needs one of %s", key, choices);
        return;
    }
    struct rt_jfield f[1] = {{.key = kinds[which], .required = true}};
    rt_jcheck_fields(&ps->jc, p, v, f, 1);
    if (which == 0) {
        src->kind = RT_ENF_KEY_FILE;
        WITH_FIELD(ps, p, f, 0, take_path, &src->file);
    } else {
        src->kind = RT_ENF_KEY_CREDENTIAL;
        WITH_FIELD(ps, p, f, 0, take_credential, &src->credential);
    }
}

/* "trusted_keys": public key files of the log's earlier keys. */
static void take_trusted_keys(struct cfgparse *ps, const struct rt_jpath *p, const char *key, json_t *v,
                              struct rt_enf_config *cfg) {
    if (!json_is_array(v)) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" must be an array of public key files, not %s", key,
                        rt_json_type_name(v));
        return;
    }
    if (json_array_size(v) > RT_ENF_TRUSTED_KEYS_MAX) {
        rt_jcheck_error(&ps->jc, p, RT_JAT_VALUE, "\"%s\" lists %zu keys; at most %d", key, json_array_size(v),
                        RT_ENF_TRUSTED_KEYS_MAX);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        struct rt_jpath ip = rt_jpath_index(p, i);
        take_path(ps, &ip, key, item, &cfg->trusted_keys[cfg->n_trusted_keys]);
        if (cfg->trusted_keys[cfg->n_trusted_keys])
            cfg->n_trusted_keys++;
    }
}

/* ---- the document ---- */

enum root_key {
    R_VERSION, R_SOCKET, R_SOCKET_MODE, R_SOCKET_GROUP, R_ALLOWED_PEERS, R_STATE_DIR, R_ORIGIN, R_KEY,
    R_KEY_NAME, R_PREVIOUS_KEY, R_TRUSTED_KEYS, R_POLICY_FILE, R_CHECKPOINT_INTERVAL, R_WATCHDOG_SILENCE, R_READINESS_VIEW, R_MAX_CONNECTIONS,
    R_COUNT
};

static void check_socket_options(struct cfgparse *ps, const struct rt_jpath *root, const struct rt_jfield *f) {
    if (f[R_SOCKET].value)
        return;
    static const enum root_key only_with_socket[] = {R_SOCKET_MODE, R_SOCKET_GROUP};
    static const char *const unit_setting[] = {"SocketMode=", "SocketGroup="};
    for (size_t i = 0; i < ELEMENTSOF(only_with_socket); i++) {
        const struct rt_jfield *fi = &f[only_with_socket[i]];
        if (!fi->value)
            continue;
        struct rt_jpath kp = rt_jpath_key(root, fi->key);
        rt_jcheck_error(&ps->jc, &kp, RT_JAT_KEY,
                        "\"%s\" applies only with \"socket\" (with socket activation, set %s in the .socket unit)",
                        fi->key, unit_setting[i]);
    }
}

/* A rotation needs two different keys. */
static void check_previous_key(struct cfgparse *ps, const struct rt_jpath *root) {
    const struct rt_enf_key_source *a = &ps->cfg->key, *b = &ps->cfg->previous_key;
    if (!a->kind || a->kind != b->kind)
        return;
    const char *x = a->kind == RT_ENF_KEY_FILE ? a->file : a->credential;
    const char *y = b->kind == RT_ENF_KEY_FILE ? b->file : b->credential;
    if (x && y && strcmp(x, y) == 0) {
        struct rt_jpath kp = rt_jpath_key(root, "previous_key");
        rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE, "\"previous_key\" names the same key as \"key\"");
    }
}

/* key_name and readiness_view default to values derived from others. */
static void derive_defaults(struct cfgparse *ps, const struct rt_jpath *root, const struct rt_jfield *f) {
    struct rt_enf_config *cfg = ps->cfg;
    if (!f[R_KEY_NAME].value && cfg->origin) {
        /* default: the origin's host part ("ratchet.example.com/commands" -> "ratchet.example.com") */
        char name[RT_ENF_KEY_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(cfg->origin, "/"), cfg->origin);
        if (!rt_log_key_name_valid(name)) {
            struct rt_jpath kp = rt_jpath_key(root, "origin");
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE,
                            "no signing key name can be derived from \"origin\": set \"key_name\"");
        } else {
            rt_jcheck_copy(name, &cfg->key_name, &ps->r);
        }
    }
    if (!f[R_READINESS_VIEW].value && cfg->state_dir) {
        size_t n = strlen(cfg->state_dir);
        const char *sep = cfg->state_dir[n - 1] == '/' ? "" : "/";
        char *view;
        if (asprintf(&view, "%s%s%s", cfg->state_dir, sep, RT_ENF_READINESS_VIEW_NAME) < 0) {
            ps->r = -ENOMEM;
            return;
        }
        if (strlen(view) > RT_ENF_PATH_MAX) {
            struct rt_jpath kp = rt_jpath_key(root, "state_dir");
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_VALUE,
                            "\"state_dir\" is too long to hold \"%s\": set \"readiness_view\"",
                            RT_ENF_READINESS_VIEW_NAME);
            free(view);
            return;
        }
        free(cfg->readiness_view);
        cfg->readiness_view = view;
    }
}

/* Levenshtein distance of short strings; larger than `cap` is reported as cap + 1. */
static size_t edit_distance(const char *a, const char *b, size_t cap) {
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN)
        return cap + 1;
    size_t row[MAXLEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

/* The root has more keys than an "allowed: ..." list can show in one
 * message, so its unknown keys are reported here, with the nearest known
 * key, and removed before rt_jcheck_fields() looks at the rest. */
static void take_out_unknown_root_keys(struct cfgparse *ps, const struct rt_jpath *root, json_t *v,
                                       const struct rt_jfield *f, size_t n) {
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(v, tmp, key, val) {
        (void)val;
        const char *nearest = NULL;
        size_t best = 3; /* a suggestion within two edits */
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) {
            known = strcmp(key, f[i].key) == 0;
            size_t d = edit_distance(key, f[i].key, 2);
            if (d < best) {
                best = d;
                nearest = f[i].key;
            }
        }
        if (known)
            continue;
        struct rt_jpath kp = rt_jpath_key(root, key);
        if (nearest)
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_KEY,
                            "unknown key \"%s\" (did you mean \"%s\"? docs/enforcer.md lists every key)",
                            rt_jshow(key).s, nearest);
        else
            rt_jcheck_error(&ps->jc, &kp, RT_JAT_KEY, "unknown key \"%s\" (docs/enforcer.md lists every key)",
                            rt_jshow(key).s);
        json_object_del(v, key);
    }
}

static void parse_root(struct cfgparse *ps, json_t *root) {
    const struct rt_jpath rootp = {.n = 0};
    struct rt_enf_config *cfg = ps->cfg;
    if (!json_is_object(root)) {
        rt_jcheck_error(&ps->jc, &rootp, RT_JAT_VALUE, "a configuration must be a JSON object, not %s",
                        rt_json_type_name(root));
        return;
    }
    struct rt_jfield f[R_COUNT] = {
        [R_VERSION] = {"version", true},
        [R_SOCKET] = {"socket", false},
        [R_SOCKET_MODE] = {"socket_mode", false},
        [R_SOCKET_GROUP] = {"socket_group", false},
        [R_ALLOWED_PEERS] = {"allowed_peers", true},
        [R_STATE_DIR] = {"state_dir", true},
        [R_ORIGIN] = {"origin", true},
        [R_KEY] = {"key", true},
        [R_KEY_NAME] = {"key_name", false},
        [R_PREVIOUS_KEY] = {"previous_key", false},
        [R_TRUSTED_KEYS] = {"trusted_keys", false},
        [R_POLICY_FILE] = {"policy_file", false},
        [R_CHECKPOINT_INTERVAL] = {"checkpoint_interval", false},
        [R_WATCHDOG_SILENCE] = {"watchdog_silence", false},
        [R_READINESS_VIEW] = {"readiness_view", false},
        [R_MAX_CONNECTIONS] = {"max_connections", false},
    };
    take_out_unknown_root_keys(ps, &rootp, root, f, R_COUNT);
    rt_jcheck_fields(&ps->jc, &rootp, root, f, R_COUNT);
    if (f[R_VERSION].value) {
        struct rt_jpath kp = rt_jpath_key(&rootp, "version");
        rt_jcheck_version(&ps->jc, &kp, f[R_VERSION].value, 1);
    }
    WITH_FIELD(ps, &rootp, f, R_SOCKET, take_path_max, RT_ENF_SOCKET_PATH_MAX, &cfg->socket_path);
    WITH_FIELD(ps, &rootp, f, R_SOCKET_MODE, take_socket_mode, &cfg->socket_mode);
    WITH_FIELD(ps, &rootp, f, R_SOCKET_GROUP, take_socket_group, cfg);
    check_socket_options(ps, &rootp, f);
    WITH_FIELD(ps, &rootp, f, R_ALLOWED_PEERS, take_allowed_peers, cfg);
    WITH_FIELD(ps, &rootp, f, R_STATE_DIR, take_path, &cfg->state_dir);
    WITH_FIELD(ps, &rootp, f, R_ORIGIN, take_origin, &cfg->origin);
    WITH_FIELD(ps, &rootp, f, R_KEY, take_key, &cfg->key);
    WITH_FIELD(ps, &rootp, f, R_KEY_NAME, take_key_name, &cfg->key_name);
    WITH_FIELD(ps, &rootp, f, R_PREVIOUS_KEY, take_key, &cfg->previous_key);
    WITH_FIELD(ps, &rootp, f, R_TRUSTED_KEYS, take_trusted_keys, cfg);
    check_previous_key(ps, &rootp);
    WITH_FIELD(ps, &rootp, f, R_POLICY_FILE, take_path, &cfg->policy_file);
    WITH_FIELD(ps, &rootp, f, R_CHECKPOINT_INTERVAL, take_duration, RT_ENF_CHECKPOINT_INTERVAL_MIN_US,
               RT_ENF_CHECKPOINT_INTERVAL_MAX_US, &cfg->checkpoint_interval_us);
    WITH_FIELD(ps, &rootp, f, R_WATCHDOG_SILENCE, take_duration, RT_ENF_WATCHDOG_SILENCE_MIN_US,
               RT_ENF_WATCHDOG_SILENCE_MAX_US, &cfg->watchdog_silence_us);
    WITH_FIELD(ps, &rootp, f, R_READINESS_VIEW, take_path, &cfg->readiness_view);
    WITH_FIELD(ps, &rootp, f, R_MAX_CONNECTIONS, take_max_connections, &cfg->max_connections);
    derive_defaults(ps, &rootp, f);
}

static void set_defaults(struct rt_enf_config *cfg) {
    cfg->socket_mode = RT_ENF_DEFAULT_SOCKET_MODE;
    cfg->checkpoint_interval_us = RT_ENF_DEFAULT_CHECKPOINT_INTERVAL_US;
    cfg->watchdog_silence_us = RT_ENF_DEFAULT_WATCHDOG_SILENCE_US;
    cfg->max_connections = RT_ENF_DEFAULT_MAX_CONNECTIONS;
}

void rt_enf_config_free(struct rt_enf_config *cfg) {
    if (!cfg)
        return;
    free(cfg->socket_path);
    free(cfg->state_dir);
    free(cfg->origin);
    free(cfg->key.file);
    free(cfg->key.credential);
    free(cfg->previous_key.file);
    free(cfg->previous_key.credential);
    for (size_t i = 0; i < cfg->n_trusted_keys; i++)
        free(cfg->trusted_keys[i]);
    free(cfg->key_name);
    free(cfg->policy_file);
    free(cfg->readiness_view);
    free(cfg);
}

void rt_enf_config_freep(struct rt_enf_config **cfg) {
    rt_enf_config_free(*cfg);
    *cfg = NULL;
}

int rt_enf_config_parse_with(const char *text, size_t len, const struct rt_enf_id_lookup *lookup,
                             struct rt_enf_config **out, struct rt_policy_errors *errs) {
    struct rt_policy_errors local;
    if (!errs)
        errs = &local;
    errs->n = 0;
    if (!out)
        return -EINVAL;
    *out = NULL;
    _cleanup_(json_decrefp) json_t *root =
        rt_jcheck_parse(text, len, RT_ENF_CONFIG_MAX_BYTES, "configuration", errs);
    if (!root)
        return -EINVAL;
    _cleanup_(rt_enf_config_freep) struct rt_enf_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return -ENOMEM;
    set_defaults(cfg);
    struct cfgparse ps = {.jc = {.text = text, .len = len, .errs = errs}, .cfg = cfg, .lookup = lookup};
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

int rt_enf_config_load_with(const char *path, const struct rt_enf_id_lookup *lookup, struct rt_enf_config **out,
                            struct rt_policy_errors *errs) {
    struct rt_policy_errors local;
    if (!errs)
        errs = &local;
    errs->n = 0;
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = rt_jcheck_read_file(path, RT_ENF_CONFIG_MAX_BYTES, "configuration", &text, &len, errs);
    if (r < 0)
        return r;
    return rt_enf_config_parse_with(text, len, lookup, out, errs);
}

int rt_enf_config_parse(const char *text, size_t len, struct rt_enf_config **out, struct rt_policy_errors *errs) {
    return rt_enf_config_parse_with(text, len, NULL, out, errs);
}

int rt_enf_config_load(const char *path, struct rt_enf_config **out, struct rt_policy_errors *errs) {
    return rt_enf_config_load_with(path, NULL, out, errs);
}

int rt_enf_key_path(const struct rt_enf_key_source *src, const char *credentials_dir, char **out) {
    if (!src || !out)
        return -EINVAL;
    *out = NULL;
    if (src->kind == RT_ENF_KEY_FILE) {
        *out = strdup(src->file);
        return *out ? 0 : -ENOMEM;
    }
    if (src->kind != RT_ENF_KEY_CREDENTIAL || !src->credential)
        return -EINVAL;
    if (!credentials_dir || credentials_dir[0] != '/')
        return -ENXIO;
    size_t n = strlen(credentials_dir);
    const char *sep = credentials_dir[n - 1] == '/' ? "" : "/";
    char *path;
    if (asprintf(&path, "%s%s%s", credentials_dir, sep, src->credential) < 0)
        return -ENOMEM;
    if (strlen(path) > RT_ENF_PATH_MAX) {
        free(path);
        return -ENAMETOOLONG;
    }
    *out = path;
    return 0;
}
