/* ratchet-watchdog: receives Alertmanager webhooks, polls the evidence
 * sources, tracks every bot's windows and hands demotions to the enforcer.
 * One libevent loop, no threads. See ratchet-watchdog(8). */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "common/daemon.h"
#include "common/jsoncheck.h"
#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"
#include "watchdog/actuate.h"
#include "watchdog/api.h"
#include "watchdog/config.h"
#include "watchdog/core.h"
#include "watchdog/sources.h"

struct daemon {
    struct event_base *base;
    struct rt_wd_config *cfg;
    struct rt_policy *policy;
    struct wd_core core;
    bool core_open;
    struct wd_sources *sources;
    struct wd_actuate *actuate; /* NULL without a control plane */
    struct rt_httpd *httpd;
    struct wd_api api;
    struct event *tick, *sigterm, *sigint;
    uint64_t watchdog_usec;
    int exit_status;
};

static int check_matcher(const struct rt_wd_config *cfg) {
    if (!cfg->alertmanager.enabled)
        return 0;
    struct rt_am_matchers m;
    char err[256];
    int r = rt_am_matchers_parse(cfg->alertmanager.p0_matcher, &m, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "alertmanager.p0_matcher: %s\n", err);
        return r;
    }
    rt_am_matchers_free(&m);
    return 0;
}

static void set_status(struct daemon *d) {
    struct rt_handoff_stats hs;
    rt_handoff_get_stats(d->core.handoff, &hs);
    sd_notifyf(0, "STATUS=%zu bots, %llu decisions, %llu pending, enforcer %s", rt_engine_bot_count(d->core.engine),
               (unsigned long long)d->core.decisions, (unsigned long long)hs.pending,
               hs.connected ? "connected" : "disconnected");
}

/* Once a second: advance windows, persist, tell systemd we are alive. The
 * keep-alive comes from the loop itself, so a hung loop gets killed. */
static void on_tick(evutil_socket_t fd, short what, void *ud) {
    struct daemon *d = ud;
    (void)fd;
    (void)what;
    if (wd_core_tick(&d->core, wd_now()) < 0 || d->core.failed) {
        rt_log(LOG_CRIT, RT_MSGID_STATE_STORE_ERROR, NULL, NULL,
               "the state store failed; exiting so that systemd restarts the watchdog from durable state");
        d->exit_status = 1;
        event_base_loopbreak(d->base);
        return;
    }
    if (d->watchdog_usec)
        sd_notify(0, "WATCHDOG=1");
    set_status(d);
}

static void on_signal(evutil_socket_t sig, short what, void *ud) {
    struct daemon *d = ud;
    (void)what;
    rt_log(LOG_INFO, NULL, NULL, NULL, "signal %d: stopping", (int)sig);
    sd_notify(0, "STOPPING=1");
    event_base_loopexit(d->base, NULL);
}

/* The control plane took demote record seq: the enforcer records it. */
static int on_pushed(uint64_t seq, unsigned http_status, const char *target, void *ud) {
    struct daemon *d = ud;
    int r = rt_handoff_actuated(d->core.handoff, seq, http_status, target);
    if (r < 0)
        rt_log(LOG_ERR, NULL, NULL, NULL, "cannot queue the actuation of log record %llu for the enforcer: %s",
               (unsigned long long)seq, strerror(-r));
    return r < 0 ? r : 0;
}

static int start_actuate(struct daemon *d, char *err, size_t errlen) {
    const struct rt_wd_control_plane *cp = &d->cfg->control_plane;
    if (!cp->enabled)
        return 0;
    char secret[RT_FETCH_SECRET_MAX + 1] = "";
    struct rt_fetch_auth auth = {.kind = RT_FETCH_AUTH_NONE};
    if (cp->auth.kind != RT_WD_AUTH_NONE) {
        bool loose = false;
        const char *file = cp->auth.kind == RT_WD_AUTH_BEARER ? cp->auth.bearer_token_file : cp->auth.password_file;
        int n = rt_wd_config_read_secret(file, secret, sizeof(secret), &loose);
        if (n < 0) {
            snprintf(err, errlen, "control_plane credentials %s: %s", file, strerror(-n));
            return n;
        }
        if (loose)
            rt_log(LOG_WARNING, NULL, NULL, NULL, "%s is readable by group or others", file);
        auth = cp->auth.kind == RT_WD_AUTH_BEARER
                   ? (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BEARER, .token = secret}
                   : (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BASIC, .user = cp->auth.username, .password = secret};
    }
    struct wd_actuate_options o = {
        .log_dir = cp->log_dir, .url = cp->url, .auth = &auth, .on_pushed = on_pushed, .ud = d,
        .fetch = {.timeout_ms = d->cfg->http_client.timeout_us / 1000, .ca_file = d->cfg->http_client.ca_file}};
    int r = wd_actuate_new(d->base, &o, &d->actuate, err, errlen);
    explicit_bzero(secret, sizeof(secret));
    return r;
}

static int start_http(struct daemon *d, char *err, size_t errlen) {
    struct rt_httpd_listener ls[RT_WD_LISTEN_MAX];
    for (size_t i = 0; i < d->cfg->n_listen; i++) {
        const struct rt_wd_listen *l = &d->cfg->listen[i];
        ls[i] = (struct rt_httpd_listener){.addr = l->address, .port = l->port,
                                           .tls_cert_file = l->has_tls ? l->tls.cert_file : NULL,
                                           .tls_key_file = l->has_tls ? l->tls.key_file : NULL,
                                           .tls_client_ca_file = l->has_tls ? l->tls.client_ca_file : NULL};
    }
    char secret[RT_FETCH_SECRET_MAX + 1] = "";
    const struct rt_wd_auth *a = &d->cfg->auth;
    if (a->kind != RT_WD_AUTH_NONE) {
        bool loose = false;
        const char *file = a->kind == RT_WD_AUTH_BEARER ? a->bearer_token_file : a->password_file;
        int n = rt_wd_config_read_secret(file, secret, sizeof(secret), &loose);
        if (n < 0) {
            snprintf(err, errlen, "auth: %s: %s", file, strerror(-n));
            return n;
        }
        if (loose)
            rt_log(LOG_WARNING, NULL, NULL, NULL, "%s is readable by group or others", file);
    }
    struct rt_httpd_options o = {.listeners = ls, .n_listeners = d->cfg->n_listen,
                                 .max_body_bytes = d->cfg->max_body_bytes,
                                 .auth = a->kind == RT_WD_AUTH_BEARER  ? RT_HTTPD_AUTH_BEARER
                                         : a->kind == RT_WD_AUTH_BASIC ? RT_HTTPD_AUTH_BASIC
                                                                       : RT_HTTPD_AUTH_NONE,
                                 .bearer_token = secret, .basic_user = a->username, .basic_password = secret,
                                 .errbuf = err, .errbuf_size = errlen};
    d->httpd = rt_httpd_new(d->base, &o);
    explicit_bzero(secret, sizeof(secret));
    if (!d->httpd)
        return -errno;
    d->api = (struct wd_api){.core = &d->core, .sources = d->sources, .httpd = d->httpd, .actuate = d->actuate,
                             .started_us = wd_now().wall_us};
    return wd_api_register(&d->api);
}

static int start(struct daemon *d) {
    char err[1024] = "";
    struct wd_core_options co = {.state_dir = d->cfg->state_dir, .enforcer_socket = d->cfg->enforcer_socket,
                                 .evlog_max_bytes = d->cfg->evidence_log.max_bytes,
                                 .evlog_keep = d->cfg->evidence_log.keep};
    int r = wd_core_open(&d->core, d->base, d->policy, &co, err, sizeof(err));
    d->core_open = r == 0 || d->core.engine;
    if (r == 0)
        r = wd_sources_new(d->base, d->cfg, &d->core, &d->sources, err, sizeof(err));
    if (r == 0)
        r = wd_sources_start(d->sources, err, sizeof(err)); /* the registry, before READY */
    if (r == 0)
        r = start_actuate(d, err, sizeof(err));
    if (r == 0)
        r = start_http(d, err, sizeof(err));
    if (r < 0) {
        rt_log(LOG_ERR, NULL, NULL, NULL, "cannot start: %s", err[0] ? err : strerror(-r));
        return r;
    }
    d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
    d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
    struct timeval one = {1, 0};
    if (!d->tick || !d->sigterm || !d->sigint || event_add(d->tick, &one) < 0 || event_add(d->sigterm, NULL) < 0 ||
        event_add(d->sigint, NULL) < 0)
        return -ENOMEM;
    if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0)
        d->watchdog_usec = 0;
    if (d->watchdog_usec && d->watchdog_usec < 2 * RT_USEC_PER_SEC)
        rt_log(LOG_WARNING, NULL, NULL, NULL, "WatchdogSec below 2 s: the 1 s keep-alive may be too slow");
    rt_log(LOG_NOTICE, RT_MSGID_READY, NULL, NULL, "ready: %zu bots restored, listening on %zu address%s",
           rt_engine_bot_count(d->core.engine), d->cfg->n_listen, d->cfg->n_listen == 1 ? "" : "es");
    sd_notify(0, "READY=1");
    set_status(d);
    return 0;
}

static void stop(struct daemon *d) {
    rt_httpd_free(d->httpd);
    wd_sources_free(d->sources);
    wd_actuate_free(d->actuate); /* before the hand-off it reports to */
    if (d->core_open)
        wd_core_close(&d->core);
    if (d->tick)
        event_free(d->tick);
    if (d->sigterm)
        event_free(d->sigterm);
    if (d->sigint)
        event_free(d->sigint);
    if (d->base)
        event_base_free(d->base);
    rt_policy_free(d->policy);
    rt_wd_config_free(d->cfg);
}

int main(int argc, char **argv) {
    rt_json_alloc_init();
    struct rt_daemon_args args;
    int status = rt_daemon_parse_args("ratchet-watchdog", argc, argv, &args);
    if (status >= 0)
        return status;
    rt_log_init("ratchet-watchdog", args.log_level);
    struct daemon d = {0};
    struct rt_policy_errors errs = {0};
    int r = rt_wd_config_load(args.config, &d.cfg, &errs);
    if (r < 0) {
        rt_jcheck_print_errors(stderr, args.config, &errs, r);
        return 1;
    }
    if (rt_daemon_load_policy(d.cfg->policy_file, &d.policy) < 0 || check_matcher(d.cfg) < 0) {
        stop(&d);
        return 1;
    }
    if (args.check_only) {
        printf("%s: ok\n", args.config);
        stop(&d);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    d.base = rt_httpd_base_new();
    if (!d.base || start(&d) < 0) {
        stop(&d);
        return 1;
    }
    event_base_dispatch(d.base);
    stop(&d);
    return d.exit_status;
}
