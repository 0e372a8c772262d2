/* ratchet-enforcer: holds the signing key, appends the signed command log,
 * and is the only path to demotion. It has no network and no command to
 * undo anything. See ratchet-enforcer(8) and docs/enforcer.md. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "cmdlog/logkey.h"
#include "common/daemon.h"
#include "common/jsoncheck.h"
#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"
#include "enforcer/config.h"
#include "enforcer/core.h"
#include "enforcer/server.h"


struct daemon {
    struct event_base *base;
    struct rt_enf_config *cfg;
    struct rt_policy *policy;
    struct rt_log_key *key, *previous_key;
    struct rt_log_pubkey *trusted[RT_ENF_TRUSTED_KEYS_MAX];
    size_t n_trusted;
    struct enf_core *core;
    struct rt_enf_server *server;
    struct event *tick, *sigterm, *sigint;
    int64_t next_checkpoint_mono;
    uint64_t watchdog_usec;
    int exit_status;
};

static int64_t clock_us(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void fail_and_exit(struct daemon *d, const char *why) {
    rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, NULL, NULL, "%s; exiting (systemd restarts the enforcer, "
                                                             "which verifies the log before serving)", why);
    d->exit_status = 1;
    event_base_loopbreak(d->base);
}

/* ---- server callbacks ---- */

static int on_demote(const struct rt_msg_demote *req, struct rt_msg *reply, void *ud) {
    struct daemon *d = ud;
    int r = enf_core_demote(d->core, req, clock_us(CLOCK_REALTIME), reply);
    if (r == -EIO)
        fail_and_exit(d, "the command log failed");
    return r;
}

static int on_actuated(const struct rt_msg_actuated *req, struct rt_msg_actuated_ack *reply, void *ud) {
    struct daemon *d = ud;
    int r = enf_core_actuated(d->core, req, clock_us(CLOCK_REALTIME), reply);
    if (r == -EIO)
        fail_and_exit(d, "the command log failed");
    return r;
}

/* The demotions of one read are checkpointed together (enf_core_batch_end). */
static void on_batch_begin(void *ud) {
    struct daemon *d = ud;
    enf_core_batch_begin(d->core);
}

static int on_batch_end(void *ud) {
    struct daemon *d = ud;
    int r = enf_core_batch_end(d->core, clock_us(CLOCK_REALTIME));
    if (r < 0)
        fail_and_exit(d, "the command log failed");
    return r;
}

static void on_heartbeat(int64_t ts_us, void *ud) { (void)ts_us, (void)ud; }

static int on_readiness(const char *bot, struct rt_msg_readiness *reply, void *ud) {
    struct daemon *d = ud;
    return enf_core_readiness(d->core, bot, reply);
}

static void on_activity(void *ud) {
    struct daemon *d = ud;
    if (enf_core_watchdog_seen(d->core, clock_us(CLOCK_REALTIME), clock_us(CLOCK_BOOTTIME)) < 0)
        fail_and_exit(d, "the command log failed");
}

/* Once a second: the watchdog's silence, heartbeat checkpoints, and the
 * systemd keep-alive, all from the loop itself. */
static void on_tick(evutil_socket_t fd, short what, void *ud) {
    struct daemon *d = ud;
    (void)fd;
    (void)what;
    int64_t mono = clock_us(CLOCK_BOOTTIME);
    bool due = mono >= d->next_checkpoint_mono;
    if (due)
        d->next_checkpoint_mono = mono + d->cfg->checkpoint_interval_us;
    if (enf_core_tick(d->core, clock_us(CLOCK_REALTIME), mono, due) < 0) {
        fail_and_exit(d, "the command log failed");
        return;
    }
    if (d->watchdog_usec)
        sd_notify(0, "WATCHDOG=1");
    struct enf_core_stats st;
    enf_core_get_stats(d->core, &st);
    sd_notifyf(0, "STATUS=%llu records, %llu bots in Limited live, watchdog %s", (unsigned long long)st.records,
               (unsigned long long)st.limited_bots, st.watchdog_silent ? "SILENT" : "seen");
}

static void on_signal(evutil_socket_t sig, short what, void *ud) {
    struct daemon *d = ud;
    (void)what;
    rt_log(LOG_INFO, NULL, NULL, NULL, "signal %d: stopping", (int)sig);
    sd_notify(0, "STOPPING=1");
    event_base_loopexit(d->base, NULL);
}

/* ---- start-up checks: refuse to run in an unsafe setup ---- */

static int check_state_dir(const char *dir) {
    struct stat st;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (stat(dir, &st) < 0)
        return -errno;
    if (st.st_uid != geteuid() || (st.st_mode & 022)) {
        rt_log(LOG_ERR, NULL, NULL, NULL, "%s must be owned by the enforcer's user and writable by nobody else "
                                          "(owner %u, mode %04o)", dir, (unsigned)st.st_uid, st.st_mode & 07777);
        return -EPERM;
    }
    return 0;
}

static int load_private_key(const struct rt_enf_key_source *src, const char *what, const char *name,
                            struct rt_log_key **out) {
    _cleanup_free_ char *path = NULL;
    int r = rt_enf_key_path(src, getenv("CREDENTIALS_DIRECTORY"), &path);
    if (r < 0) {
        rt_log(LOG_ERR, NULL, NULL, NULL, "%s: %s", what,
               r == -ENXIO ? "no $CREDENTIALS_DIRECTORY (LoadCredential=)" : strerror(-r));
        return r;
    }
    char err[256] = "";
    r = rt_log_key_load(path, name, out, err, sizeof(err)); /* refuses group/other-readable keys */
    if (r < 0)
        rt_log(LOG_ERR, NULL, NULL, NULL, "%s %s: %s", what, path, err[0] ? err : strerror(-r));
    return r;
}

/* The signing key, the previous key of a rotation, and the public keys of
 * the log's earlier keys (its trust anchors). */
static int load_keys(struct daemon *d) {
    const struct rt_enf_config *cfg = d->cfg;
    int r = load_private_key(&cfg->key, "signing key", cfg->key_name, &d->key);
    if (r == 0 && cfg->previous_key.kind)
        r = load_private_key(&cfg->previous_key, "previous key", cfg->key_name, &d->previous_key);
    for (size_t i = 0; r == 0 && i < cfg->n_trusted_keys; i++) {
        char err[256] = "";
        r = rt_log_pubkey_load(cfg->trusted_keys[i], cfg->key_name, &d->trusted[i], err, sizeof(err));
        if (r < 0)
            rt_log(LOG_ERR, NULL, NULL, NULL, "trusted key %s: %s", cfg->trusted_keys[i], err[0] ? err : strerror(-r));
        else
            d->n_trusted++;
    }
    return r;
}

static int listen_fd(void) {
    int n = sd_listen_fds(1);
    if (n != 1) {
        rt_log(LOG_ERR, NULL, NULL, NULL, "no \"socket\" in the configuration and %d sockets from systemd "
                                          "(expected one, from ratchet-enforcer.socket)", n < 0 ? 0 : n);
        return -EBADF;
    }
    return SD_LISTEN_FDS_START;
}

static int start_server(struct daemon *d) {
    struct rt_enf_server_options o = {
        .socket_path = d->cfg->socket_path, .socket_mode = d->cfg->socket_mode,
        .has_socket_group = d->cfg->has_socket_group, .socket_group = d->cfg->socket_group, .listen_fd = -1,
        .allowed_uids = d->cfg->allowed_uids, .n_allowed_uids = d->cfg->n_allowed_uids,
        .allowed_gids = d->cfg->allowed_gids, .n_allowed_gids = d->cfg->n_allowed_gids,
        .max_connections = d->cfg->max_connections};
    memcpy(o.policy_sha256, d->policy->sha256, 32);
    if (!o.socket_path && (o.listen_fd = listen_fd()) < 0)
        return o.listen_fd;
    static const struct rt_enf_server_ops ops = {.on_demote = on_demote, .on_heartbeat = on_heartbeat,
                                                 .on_readiness_query = on_readiness, .on_peer_activity = on_activity,
                                                 .on_actuated = on_actuated, .on_batch_begin = on_batch_begin,
                                                 .on_batch_end = on_batch_end};
    d->server = rt_enf_server_new(d->base, &o, &ops, d);
    if (!d->server) {
        rt_log(LOG_ERR, NULL, NULL, NULL, "enforcer socket: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

static int start(struct daemon *d) {
    int r = check_state_dir(d->cfg->state_dir);
    if (r == 0)
        r = load_keys(d);
    if (r < 0)
        return r;
    char err[1024] = "";
    struct enf_core_options co = {.state_dir = d->cfg->state_dir, .origin = d->cfg->origin, .key = d->key,
                                  .previous_key = d->previous_key,
                                  .trusted = (const struct rt_log_pubkey *const *)d->trusted,
                                  .n_trusted = d->n_trusted, .policy = d->policy, .readiness_view = d->cfg->readiness_view,
                                  .watchdog_silence_us = d->cfg->watchdog_silence_us};
    r = enf_core_open(&co, clock_us(CLOCK_REALTIME), clock_us(CLOCK_BOOTTIME), &d->core, err, sizeof(err));
    if (r < 0) {
        rt_log(LOG_ERR, NULL, NULL, NULL, "refusing to start: %s", err); /* fail closed */
        return r;
    }
    r = rt_logw_set_append_only(enf_core_log(d->core));
    rt_log(r == 0 ? LOG_INFO : LOG_NOTICE, NULL, NULL, NULL, "append-only attribute on the log: %s",
           r == 0 ? "set" : r == -EPERM ? "not set (no CAP_LINUX_IMMUTABLE)" : strerror(-r));
    if ((r = start_server(d)) < 0)
        return r;
    d->next_checkpoint_mono = clock_us(CLOCK_BOOTTIME) + d->cfg->checkpoint_interval_us;
    d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
    d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
    struct timeval one = {1, 0};
    if (!d->tick || !d->sigterm || !d->sigint || event_add(d->tick, &one) < 0 || event_add(d->sigterm, NULL) < 0 ||
        event_add(d->sigint, NULL) < 0)
        return -ENOMEM;
    if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
        d->watchdog_usec = 0;
    struct enf_core_stats st;
    enf_core_get_stats(d->core, &st);
    rt_log(LOG_NOTICE, RT_MSGID_READY, NULL, NULL, "ready: log verified, %llu records, %llu bots in Limited live",
           (unsigned long long)st.records, (unsigned long long)st.limited_bots);
    sd_notify(0, "READY=1");
    return 0;
}

static void stop(struct daemon *d) {
    rt_enf_server_free(d->server);
    enf_core_close(d->core);
    if (d->tick)
        event_free(d->tick);
    if (d->sigterm)
        event_free(d->sigterm);
    if (d->sigint)
        event_free(d->sigint);
    if (d->base)
        event_base_free(d->base);
    rt_log_key_free(d->key);
    rt_log_key_free(d->previous_key);
    for (size_t i = 0; i < d->n_trusted; i++)
        rt_log_pubkey_free(d->trusted[i]);
    rt_policy_free(d->policy);
    rt_enf_config_free(d->cfg);
}

int main(int argc, char **argv) {
    rt_json_alloc_init();
    struct rt_daemon_args args;
    int status = rt_daemon_parse_args("ratchet-enforcer", argc, argv, &args);
    if (status >= 0)
        return status;
    rt_log_init("ratchet-enforcer", args.log_level);
    struct daemon d = {0};
    struct rt_policy_errors errs = {0};
    int r = rt_enf_config_load(args.config, &d.cfg, &errs);
    if (r < 0) {
        rt_jcheck_print_errors(stderr, args.config, &errs, r);
        return 1;
    }
    if (rt_daemon_load_policy(d.cfg->policy_file, &d.policy) < 0) {
        stop(&d);
        return 1;
    }
    if (args.check_only) {
        printf("%s: ok\n", args.config);
        stop(&d);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    d.base = event_base_new();
    if (!d.base || start(&d) < 0) {
        stop(&d);
        return 1;
    }
    event_base_dispatch(d.base);
    stop(&d);
    return d.exit_status;
}
