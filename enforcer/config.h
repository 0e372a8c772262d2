/* The ratchet-enforcer configuration file (docs/enforcer.md is the reference
 * of every key). Parsing is as strict as the watchdog's (watchdog/config.h):
 * unknown keys, wrong types, duplicate keys, missing required keys and
 * out-of-range values are errors, reported as LINE:COL: message in a
 * struct rt_policy_errors (print them with rt_jcheck_print_errors()).
 *
 * User and group names in "allowed_peers" and "socket_group" are resolved
 * (getpwnam_r/getgrnam_r) while parsing: a name that does not exist is an
 * error, and the struct holds numbers only. The signing key is stored by
 * reference: a file path, or a systemd credential name that
 * rt_enf_key_path() resolves at startup. */
#ifndef RATCHET_ENF_CONFIG_H
#define RATCHET_ENF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy/policy.h" /* struct rt_policy_errors */

/* Limits on what a configuration file may contain. */
#define RT_ENF_CONFIG_MAX_BYTES (64 * 1024)
#define RT_ENF_PATH_MAX 4095        /* bytes of a file or directory path */
#define RT_ENF_SOCKET_PATH_MAX 107  /* a Unix socket path: sun_path less its NUL */
#define RT_ENF_ORIGIN_MAX 128
#define RT_ENF_KEY_NAME_MAX 128
#define RT_ENF_CREDENTIAL_MAX 255   /* a file name under $CREDENTIALS_DIRECTORY */
#define RT_ENF_PEERS_MAX 32         /* entries of "uids", and of "gids" */
#define RT_ENF_ID_NAME_MAX 64       /* a user or group name */
#define RT_ENF_MAX_CONNECTIONS_MAX 64

/* Defaults. */
#define RT_ENF_DEFAULT_SOCKET_MODE 0660
#define RT_ENF_DEFAULT_MAX_CONNECTIONS 4
#define RT_ENF_DEFAULT_CHECKPOINT_INTERVAL_US (INT64_C(300) * 1000000)
#define RT_ENF_DEFAULT_WATCHDOG_SILENCE_US (INT64_C(120) * 1000000)
#define RT_ENF_READINESS_VIEW_NAME "readiness.json" /* under state_dir by default */

/* Ranges. */
#define RT_ENF_CHECKPOINT_INTERVAL_MIN_US (INT64_C(10) * 1000000)
#define RT_ENF_CHECKPOINT_INTERVAL_MAX_US (INT64_C(3600) * 1000000)
#define RT_ENF_WATCHDOG_SILENCE_MIN_US (INT64_C(5) * 1000000)
#define RT_ENF_WATCHDOG_SILENCE_MAX_US (INT64_C(3600) * 1000000)

enum rt_enf_key_kind {
    RT_ENF_KEY_FILE = 1,   /* key.file: a path */
    RT_ENF_KEY_CREDENTIAL, /* key.credential: a name under $CREDENTIALS_DIRECTORY */
};

/* Where a private key comes from. */
struct rt_enf_key_source {
    enum rt_enf_key_kind kind; /* 0: not configured */
    char *file;                /* RT_ENF_KEY_FILE */
    char *credential;          /* RT_ENF_KEY_CREDENTIAL */
};

/* Earlier public keys of the log (trust anchors after key rotations). */
#define RT_ENF_TRUSTED_KEYS_MAX 16

struct rt_enf_config {
    char *socket_path;      /* NULL: the socket comes from systemd (sd_listen_fds) */
    mode_t socket_mode;     /* with socket_path only; never grants "other" write */
    bool has_socket_group;  /* with socket_path only */
    gid_t socket_group;
    uid_t allowed_uids[RT_ENF_PEERS_MAX];
    size_t n_allowed_uids;
    gid_t allowed_gids[RT_ENF_PEERS_MAX];
    size_t n_allowed_gids;  /* n_allowed_uids + n_allowed_gids >= 1 */
    char *state_dir;
    char *origin;           /* 1..128 of printable ASCII without spaces */
    struct rt_enf_key_source key;          /* the signing key */
    struct rt_enf_key_source previous_key; /* kind 0: none; the key to rotate away from */
    char *trusted_keys[RT_ENF_TRUSTED_KEYS_MAX]; /* public key files: earlier keys of the log */
    size_t n_trusted_keys;
    char *key_name;         /* never NULL: defaults to origin */
    char *policy_file;      /* NULL: the embedded policy */
    int64_t checkpoint_interval_us;
    int64_t watchdog_silence_us;
    char *readiness_view;   /* never NULL: defaults to <state_dir>/readiness.json */
    unsigned max_connections;
};

/* Parse configuration text. Returns 0, -EINVAL with errs filled (every
 * error found, up to RT_POLICY_MAX_ERRORS, sorted by position) or -ENOMEM.
 * errs may be NULL. Free *out with rt_enf_config_free(). */
int rt_enf_config_parse(const char *text, size_t len, struct rt_enf_config **out, struct rt_policy_errors *errs);
/* Read PATH (at most RT_ENF_CONFIG_MAX_BYTES) and parse it; I/O errors are
 * errs->e[0] with line 0. */
int rt_enf_config_load(const char *path, struct rt_enf_config **out, struct rt_policy_errors *errs);

/* Name lookups for "allowed_peers" and "socket_group". Each returns 0,
 * -ENOENT for a name that does not exist, or another negative errno. The
 * functions above use getpwnam_r()/getgrnam_r(); tests pass their own
 * table so that they do not depend on the host's users. A NULL lookup or
 * member means the system's. */
struct rt_enf_id_lookup {
    int (*user)(const char *name, uid_t *out, void *ud);
    int (*group)(const char *name, gid_t *out, void *ud);
    void *ud;
};
int rt_enf_config_parse_with(const char *text, size_t len, const struct rt_enf_id_lookup *lookup,
                             struct rt_enf_config **out, struct rt_policy_errors *errs);
int rt_enf_config_load_with(const char *path, const struct rt_enf_id_lookup *lookup, struct rt_enf_config **out,
                            struct rt_policy_errors *errs);
void rt_enf_config_free(struct rt_enf_config *cfg);
void rt_enf_config_freep(struct rt_enf_config **cfg);

/* The path of a private key: key.file as is, or key.credential under
 * credentials_dir (pass getenv("CREDENTIALS_DIRECTORY")). Returns 0 with a
 * new string in *out, -ENXIO for a credential without an absolute
 * credentials_dir (not started by systemd with LoadCredential=),
 * -ENAMETOOLONG, -ENOMEM. */
int rt_enf_key_path(const struct rt_enf_key_source *src, const char *credentials_dir, char **out);

#endif
