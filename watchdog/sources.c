/* Evidence sources; see sources.h and docs/feeds.md. Each source has one
 * timer and at most one poll in flight; on success it is re-armed after its
 * interval, on failure after an exponential backoff capped at the interval. */
#include "watchdog/sources.h"

#include <curl/curl.h>
#include <malloc.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/rtime.h"
#include "common/util.h"
#include "feeds/drift.h"
#include "feeds/prometheus.h"
#include "feeds/registry.h"
#include "feeds/scan.h"

#define REGISTRY_FILE_INTERVAL_US (10 * RT_USEC_PER_SEC)
#define REGISTRY_MAX_BYTES (64u << 20)
#define URL_MAX 8192

struct wd_sources;

enum { PROM_INSTANT, PROM_RUNTIMEINFO, PROM_BACKFILL };

struct timer_ctx {
    struct wd_sources *s;
    enum wd_source src;
};

/* One poll in flight; freed in its done callback. */
struct poll {
    struct wd_sources *s;
    enum wd_source src;
    int64_t sent_wall_us;
    uint64_t token;       /* alertmanager */
    int phase;            /* prometheus: PROM_* */
    char bot[RT_BOT_ID_MAX + 1]; /* cvss per-bot */
};

struct wd_sources {
    struct event_base *base;
    const struct rt_wd_config *cfg;
    struct wd_core *core;
    struct rt_fetcher *fetcher;
    struct wd_source_health health[WD_SRC_COUNT];
    struct event *timer[WD_SRC_COUNT];
    struct timer_ctx timer_ctx[WD_SRC_COUNT];
    int64_t interval_us[WD_SRC_COUNT];
    int64_t backoff_ms[WD_SRC_COUNT];
    unsigned busy[WD_SRC_COUNT];      /* polls in flight */
    unsigned round_failures[WD_SRC_COUNT];
    struct rt_fetch_auth auth[WD_SRC_COUNT];
    char secret[WD_SRC_COUNT][RT_FETCH_SECRET_MAX + 1];
    struct rt_am_matchers p0_matchers;
    struct rt_am_config am;
    int64_t am_started_us;            /* when Alertmanager started, from its /api/v2/status */
    uint64_t am_first_token;          /* the first alerts poll of that Alertmanager, 0: none yet */
    int64_t prom_last_ok_us;          /* wall time of the last good error-rate query */
    int64_t prom_backfill_from_us;    /* a gap to fill from here, 0: none */
    struct timespec registry_mtime;
};

/* ---- helpers ---- */

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * RT_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* A response was parsed and applied (observations and the durable commit)
 * in the time since start_us: ratchet_source_apply_seconds. The response's
 * body and parse (tens of MB for 100,000 series) were freed between the
 * engine's long-lived allocations, where glibc keeps them: give them back,
 * so the resident size is the live state, not the last peak (measured with
 * 100,000 bots: 88 MiB -> 66 MiB; a few ms). */
static void applied(struct wd_sources *s, enum wd_source src, int64_t start_us) {
    s->health[src].last_apply_us = mono_us() - start_us;
    malloc_trim(0);
}

static void arm(struct wd_sources *s, enum wd_source src, int64_t in_us) {
    struct timeval tv = {.tv_sec = in_us / RT_USEC_PER_SEC, .tv_usec = in_us % RT_USEC_PER_SEC};
    evtimer_add(s->timer[src], &tv);
}

/* Records the outcome of a poll round and re-arms the source. */
static void finish(struct wd_sources *s, enum wd_source src, bool ok, const char *error) {
    wd_health_record(&s->health[src], src, ok, wd_now().wall_us, error);
    int64_t interval_ms = s->interval_us[src] / 1000;
    if (ok) {
        s->backoff_ms[src] = 0;
        arm(s, src, s->interval_us[src]);
        return;
    }
    s->backoff_ms[src] = rt_backoff_next(s->backoff_ms[src], 500, interval_ms, (uint64_t)src * 7919 + s->health[src].failures);
    arm(s, src, s->backoff_ms[src] * 1000);
}

static int load_auth(struct wd_sources *s, enum wd_source src, const struct rt_wd_auth *a, char *err, size_t errlen) {
    s->auth[src].kind = RT_FETCH_AUTH_NONE;
    if (a->kind == RT_WD_AUTH_NONE)
        return 0;
    const char *file = a->kind == RT_WD_AUTH_BEARER ? a->bearer_token_file : a->password_file;
    bool loose = false;
    int n = rt_wd_config_read_secret(file, s->secret[src], sizeof(s->secret[src]), &loose);
    if (n < 0) {
        snprintf(err, errlen, "%s credentials %s: %s", wd_source_name(src), file, strerror(-n));
        return n;
    }
    if (loose)
        rt_log(LOG_WARNING, NULL, NULL, NULL, "%s is readable by group or others", file);
    if (a->kind == RT_WD_AUTH_BEARER) {
        s->auth[src] = (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BEARER, .token = s->secret[src]};
    } else {
        s->auth[src] = (struct rt_fetch_auth){.kind = RT_FETCH_AUTH_BASIC, .user = a->username,
                                              .password = s->secret[src]};
    }
    return 0;
}

static char *escape(const char *s) { return curl_easy_escape(NULL, s, 0); }

static const char *short_error(const struct rt_fetch_result *r, char *buf, size_t cap) {
    if (r->outcome == RT_FETCH_HTTP_ERROR)
        snprintf(buf, cap, "HTTP %ld", r->http_status);
    else
        snprintf(buf, cap, "%s: %s", rt_fetch_outcome_name(r->outcome), r->error);
    return buf;
}

static void observe(struct wd_sources *s, const struct rt_evidence *ev) {
    int r = wd_core_observe(s->core, ev, wd_now());
    if (r == -EINVAL)
        rt_log(LOG_WARNING, NULL, ev->bot, rt_cond_name(ev->cond), "refused an invalid observation");
}

static void observe_value(struct wd_sources *s, const char *bot, enum rt_cond cond, int64_t ts, bool known,
                          double v, const char *detail) {
    struct rt_evidence ev = {.kind = RT_EVIDENCE_OBS, .ts_us = ts, .cond = cond, .known = known, .value = v};
    rt_strlcpy(ev.bot, bot, sizeof(ev.bot));
    rt_strlcpy(ev.source, wd_source_name(wd_source_of(cond)), sizeof(ev.source));
    if (detail)
        rt_strlcpy(ev.detail, detail, sizeof(ev.detail));
    observe(s, &ev);
}

static struct poll *new_poll(struct wd_sources *s, enum wd_source src) {
    struct poll *p = calloc(1, sizeof(*p));
    if (p) {
        p->s = s;
        p->src = src;
        p->sent_wall_us = wd_now().wall_us;
        s->busy[src]++;
    }
    return p;
}

/* At shutdown rt_fetcher_free() cancels polls: drop them quietly. */
static bool cancelled(const struct rt_fetch_result *res) {
    struct poll *p = res->userdata;
    if (res->outcome != RT_FETCH_CANCELLED)
        return false;
    p->s->busy[p->src]--;
    free(p);
    return true;
}

static bool start(struct wd_sources *s, struct poll *p, const char *url, rt_fetch_done_fn done) {
    int r = rt_fetch_get(s->fetcher, url, &s->auth[p->src], done, p);
    if (r == 0)
        return true;
    s->busy[p->src]--;
    free(p);
    return false;
}

/* ---- Alertmanager ---- */

static void am_done(const struct rt_fetch_result *res) {
    if (cancelled(res))
        return;
    struct poll *p = res->userdata;
    struct wd_sources *s = p->s;
    s->busy[WD_SRC_ALERTMANAGER]--;
    char err[RT_AM_ERR_MAX] = "";
    bool ok = false;
    if (res->outcome == RT_FETCH_OK) {
        struct rt_am_alert_list list = {0};
        /* Alertmanager keeps alerts in memory only: shortly after it starts,
         * an alert it does not list may just not have been re-sent yet */
        bool partial = p->sent_wall_us - s->am_started_us < s->cfg->alertmanager.restart_grace_us;
        int r = rt_am_alerts_parse(res->body, res->body_len, &s->am, &list, err, sizeof(err));
        if (r == 0)
            r = wd_core_p0_poll_end(s->core, p->token, list.alerts, list.n_alerts, p->sent_wall_us,
                                    partial ? s->am_first_token : 0, wd_now());
        ok = r == 0 || r == -ESTALE;
        if (r < 0 && !err[0])
            snprintf(err, sizeof(err), "%s", strerror(-r));
        rt_am_alert_list_free(&list);
        wd_core_commit(s->core);
    } else {
        wd_core_p0_poll_abort(s->core, p->token);
        short_error(res, err, sizeof(err));
    }
    if (!ok)
        wd_core_p0_poll_abort(s->core, p->token);
    finish(s, WD_SRC_ALERTMANAGER, ok, err);
    free(p);
}

static bool am_get_alerts(struct wd_sources *s) {
    char url[URL_MAX];
    /* Silenced and inhibited alerts are asked for on purpose: a silence must
     * not be a way to disable demotion. The filters only cut the response;
     * the parser applies the matchers again. */
    int n = snprintf(url, sizeof(url), "%s/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
                     s->cfg->alertmanager.url);
    for (size_t i = 0; i < s->p0_matchers.n && n > 0 && (size_t)n < sizeof(url); i++) {
        char m[RT_AM_MATCHERS_TEXT_MAX];
        if (rt_am_matcher_format(&s->p0_matchers.m[i], m, sizeof(m)) < 0)
            continue;
        _cleanup_free_ char *esc = escape(m);
        if (esc)
            n += snprintf(url + n, sizeof(url) - (size_t)n, "&filter=%s", esc);
    }
    struct poll *p = new_poll(s, WD_SRC_ALERTMANAGER);
    if (!p)
        return false;
    p->token = wd_core_p0_poll_begin(s->core);
    if (!s->am_first_token)
        s->am_first_token = p->token;
    return start(s, p, url, am_done);
}

static void note_am_start(struct wd_sources *s, int64_t started_us) {
    if (started_us == s->am_started_us)
        return;
    s->am_started_us = started_us;
    s->am_first_token = 0;
    int64_t until = started_us + s->cfg->alertmanager.restart_grace_us;
    if (wd_now().wall_us >= until)
        return;
    char at[RT_TIME_BUFSZ], end[RT_TIME_BUFSZ];
    rt_time_format(started_us, at);
    rt_time_format(until, end);
    rt_log(LOG_NOTICE, NULL, NULL, NULL, "alertmanager started at %s and may not know every active alert yet: "
           "until %s, alerts it has not listed are not taken as resolved", at, end);
}

/* A poll round asks for Alertmanager's start time first (am_status_done),
 * then for the alerts (am_done). */
static void am_status_done(const struct rt_fetch_result *res) {
    if (cancelled(res))
        return;
    struct poll *p = res->userdata;
    struct wd_sources *s = p->s;
    s->busy[WD_SRC_ALERTMANAGER]--;
    free(p);
    char err[RT_AM_ERR_MAX] = "status: ";
    int64_t started = 0;
    if (res->outcome != RT_FETCH_OK) {
        short_error(res, err + 8, sizeof(err) - 8);
    } else if (rt_am_status_parse(res->body, res->body_len, &started, err + 8, sizeof(err) - 8) == 0) {
        note_am_start(s, started);
        if (!am_get_alerts(s))
            finish(s, WD_SRC_ALERTMANAGER, false, "cannot queue the request");
        return;
    }
    finish(s, WD_SRC_ALERTMANAGER, false, err);
}

static void poll_alertmanager(struct wd_sources *s) {
    char url[URL_MAX];
    snprintf(url, sizeof(url), "%s/api/v2/status", s->cfg->alertmanager.url);
    struct poll *p = new_poll(s, WD_SRC_ALERTMANAGER);
    if (!p)
        return;
    if (!start(s, p, url, am_status_done))
        finish(s, WD_SRC_ALERTMANAGER, false, "cannot queue the request");
}

void wd_sources_reconcile_now(struct wd_sources *s) {
    if (s->cfg->alertmanager.enabled && s->busy[WD_SRC_ALERTMANAGER] == 0) {
        evtimer_del(s->timer[WD_SRC_ALERTMANAGER]);
        poll_alertmanager(s);
    }
}

/* ---- Prometheus (error rate) and drift from Prometheus ---- */

/* A successful query says something about every bot in the registry: those
 * without a sample have no data, which is unknown evidence at that time. */
static void observe_missing(struct wd_sources *s, enum rt_cond cond, const struct rt_prom_result *res, int64_t ts) {
    const struct rt_registry *reg = &s->core->registry;
    size_t j = 0;
    for (size_t i = 0; i < reg->n; i++) {
        while (j < res->n_samples && strcmp(res->samples[j].bot, reg->v[i].id) < 0)
            j++;
        if (j < res->n_samples && strcmp(res->samples[j].bot, reg->v[i].id) == 0)
            continue;
        observe_value(s, reg->v[i].id, cond, ts, false, 0, "no data");
    }
}

static void poll_prometheus(struct wd_sources *s);
static bool prom_backfill(struct wd_sources *s, int64_t from_us);

/* Applies a query or query_range response; false with err on failure. */
static bool prom_apply(struct wd_sources *s, const struct rt_fetch_result *res, bool instant, int64_t sent_us,
                       char *err, size_t errlen) {
    if (res->outcome != RT_FETCH_OK && !(res->outcome == RT_FETCH_HTTP_ERROR && res->body_len > 0)) {
        short_error(res, err, errlen);
        return false;
    }
    struct rt_prom_opts opt = {.bot_label = s->cfg->prometheus.bot_label, .merge = RT_PROM_MERGE_MAX};
    struct rt_prom_result pr = {0};
    int64_t start_us = mono_us();
    int r = rt_prom_parse(res->body, res->body_len, &opt, &pr);
    if (r == 0) {
        rt_fetch_release_body(res); /* 6.5 MB at 100,000 series, not needed by what follows */
        for (size_t i = 0; i < pr.n_samples; i++)
            observe_value(s, pr.samples[i].bot, RT_COND_ERROR_RATE, pr.samples[i].ts_us, pr.samples[i].known,
                          pr.samples[i].value, pr.samples[i].known ? NULL : "NaN");
        if (instant)
            observe_missing(s, RT_COND_ERROR_RATE, &pr, sent_us);
        wd_core_commit(s->core);
        applied(s, WD_SRC_PROMETHEUS, start_us);
    } else {
        snprintf(err, errlen, "%s%s%s", pr.error_type, pr.error_type[0] ? ": " : "", pr.error[0] ? pr.error : pr.message);
    }
    rt_prom_result_clear(&pr);
    return r == 0;
}

static void prom_done(const struct rt_fetch_result *res) {
    if (cancelled(res))
        return;
    struct poll *p = res->userdata;
    struct wd_sources *s = p->s;
    s->busy[WD_SRC_PROMETHEUS]--;
    char err[600] = "";
    bool ok;
    int64_t start_us = 0;
    switch (p->phase) {
    case PROM_RUNTIMEINFO:
        /* A Prometheus that restarted during the gap has no data from before
         * its start, and its look-back would repeat the last pre-outage
         * sample into the gap: backfill only from its start time. */
        ok = res->outcome == RT_FETCH_OK && rt_prom_parse_start_time(res->body, res->body_len, &start_us) == 0;
        if (ok) {
            int64_t from = s->prom_backfill_from_us > start_us ? s->prom_backfill_from_us : start_us;
            free(p);
            if (!prom_backfill(s, from))
                finish(s, WD_SRC_PROMETHEUS, false, "cannot queue the request");
            return;
        }
        short_error(res, err, sizeof(err));
        break;
    case PROM_BACKFILL:
        ok = prom_apply(s, res, false, p->sent_wall_us, err, sizeof(err));
        if (ok) {
            s->prom_backfill_from_us = 0;
            s->prom_last_ok_us = p->sent_wall_us; /* the gap is covered up to here */
            free(p);
            poll_prometheus(s); /* the instant query follows a successful backfill */
            return;
        }
        break;
    case PROM_INSTANT:
    default:
        ok = prom_apply(s, res, true, p->sent_wall_us, err, sizeof(err));
        if (ok)
            s->prom_last_ok_us = p->sent_wall_us;
        break;
    }
    finish(s, WD_SRC_PROMETHEUS, ok, err);
    free(p);
}

static bool prom_get(struct wd_sources *s, int phase, const char *url) {
    struct poll *p = new_poll(s, WD_SRC_PROMETHEUS);
    if (!p)
        return false;
    p->phase = phase;
    return start(s, p, url, prom_done);
}

static bool prom_backfill(struct wd_sources *s, int64_t from_us) {
    const struct rt_wd_prometheus *c = &s->cfg->prometheus;
    int64_t now = wd_now().wall_us;
    if (from_us >= now) {
        s->prom_backfill_from_us = 0;
        poll_prometheus(s);
        return true;
    }
    _cleanup_free_ char *q = escape(c->error_rate_query);
    if (!q)
        return false;
    char url[URL_MAX];
    rt_log(LOG_INFO, NULL, NULL, NULL, "prometheus: backfilling %" PRId64 " s of error-rate data",
           (now - from_us) / RT_USEC_PER_SEC);
    snprintf(url, sizeof(url), "%s/api/v1/query_range?query=%s&start=%.3f&end=%.3f&step=%" PRId64 "s", c->url, q,
             (double)from_us / 1e6, (double)now / 1e6, s->interval_us[WD_SRC_PROMETHEUS] / RT_USEC_PER_SEC);
    return prom_get(s, PROM_BACKFILL, url);
}

/* Where a backfill of the gap since the last good query starts: no further
 * back than backfill_max. */
static int64_t backfill_start(const struct wd_sources *s, int64_t now_us) {
    int64_t oldest = now_us - s->cfg->prometheus.backfill_max_us;
    return s->prom_last_ok_us > oldest ? s->prom_last_ok_us : oldest;
}

static void poll_prometheus(struct wd_sources *s) {
    const struct rt_wd_prometheus *c = &s->cfg->prometheus;
    int64_t now = wd_now().wall_us;
    if (s->prom_last_ok_us && now - s->prom_last_ok_us > 2 * s->interval_us[WD_SRC_PROMETHEUS] &&
        !s->prom_backfill_from_us) {
        /* after failed polls judge the windows on the data Prometheus kept */
        s->prom_backfill_from_us = backfill_start(s, now);
    }
    char url[URL_MAX];
    bool queued;
    if (s->prom_backfill_from_us) {
        snprintf(url, sizeof(url), "%s/api/v1/status/runtimeinfo", c->url);
        queued = prom_get(s, PROM_RUNTIMEINFO, url);
    } else {
        _cleanup_free_ char *q = escape(c->error_rate_query);
        snprintf(url, sizeof(url), "%s/api/v1/query?query=%s&time=%.3f", c->url, q ? q : "", (double)now / 1e6);
        queued = q && prom_get(s, PROM_INSTANT, url);
    }
    if (!queued)
        finish(s, WD_SRC_PROMETHEUS, false, "cannot queue the request");
}

/* ---- drift ---- */

static void observe_drift(struct wd_sources *s, const char *bot, int64_t ts, bool known, double drift,
                          bool has_tolerance, double tolerance) {
    struct rt_evidence ev = {.kind = RT_EVIDENCE_OBS, .ts_us = ts, .cond = RT_COND_RECON_DRIFT, .known = known,
                             .value = drift, .has_tolerance = has_tolerance, .tolerance = tolerance};
    rt_strlcpy(ev.bot, bot, sizeof(ev.bot));
    rt_strlcpy(ev.source, "drift", sizeof(ev.source));
    observe(s, &ev);
}

static void drift_done(const struct rt_fetch_result *res) {
    if (cancelled(res))
        return;
    struct poll *p = res->userdata;
    struct wd_sources *s = p->s;
    s->busy[WD_SRC_DRIFT]--;
    char err[512] = "";
    bool ok = false;
    if (res->outcome == RT_FETCH_OK) {
        struct rt_drift_feed feed = {0};
        struct rt_drift_errors errs = {0};
        struct rt_prom_result pr = {0};
        int64_t start_us = mono_us();
        /* The Prometheus form is applied from the parsed samples, as
         * rt_drift_parse_prom() would convert them, without its copy of
         * them (152 bytes per bot: 15 MB at 100,000 bots). */
        struct rt_prom_opts opt = {.bot_label = s->cfg->prometheus.bot_label, .merge = RT_PROM_MERGE_MAX_ABS};
        int r = s->cfg->drift.kind == RT_WD_DRIFT_PROMETHEUS ? rt_prom_parse(res->body, res->body_len, &opt, &pr)
                                                              : rt_drift_parse(res->body, res->body_len, &feed, &errs);
        ok = r == 0;
        if (ok)
            rt_fetch_release_body(res);
        for (size_t i = 0; ok && i < pr.n_samples; i++) {
            const struct rt_prom_sample *d = &pr.samples[i];
            observe_drift(s, d->bot, d->ts_us, d->known, d->known ? d->value : 0, false, 0);
        }
        for (size_t i = 0; ok && i < feed.n_entries; i++) {
            const struct rt_drift_entry *d = &feed.entries[i];
            observe_drift(s, d->bot, d->ts_us, d->known, d->drift, d->has_tolerance, d->tolerance);
        }
        if (!ok)
            snprintf(err, sizeof(err), "%s", errs.n ? errs.e[0].text : pr.message[0] ? pr.message : strerror(-r));
        if (ok) {
            wd_core_commit(s->core);
            applied(s, WD_SRC_DRIFT, start_us);
        }
        rt_drift_feed_clear(&feed);
        rt_prom_result_clear(&pr);
    } else {
        short_error(res, err, sizeof(err));
    }
    finish(s, WD_SRC_DRIFT, ok, err);
    free(p);
}

static void poll_drift(struct wd_sources *s) {
    const struct rt_wd_drift *d = &s->cfg->drift;
    char url[URL_MAX];
    if (d->kind == RT_WD_DRIFT_PROMETHEUS) {
        _cleanup_free_ char *q = escape(d->prometheus_query);
        if (!q)
            return finish(s, WD_SRC_DRIFT, false, "out of memory");
        snprintf(url, sizeof(url), "%s/api/v1/query?query=%s", s->cfg->prometheus.url, q);
    } else {
        snprintf(url, sizeof(url), "%s", d->url);
    }
    struct poll *p = new_poll(s, WD_SRC_DRIFT);
    if (p && !start(s, p, url, drift_done))
        finish(s, WD_SRC_DRIFT, false, "cannot queue the request");
}

/* ---- CVSS reports: one per bot in the registry ---- */

/* A report that could not be fetched or read fails the round: the source is
 * shown down (status, ratchet_source_up) with the bot and the reason. */
static void cvss_fail(struct wd_sources *s, const char *bot, const char *what, const char *why) {
    s->round_failures[WD_SRC_CVSS]++;
    snprintf(s->health[WD_SRC_CVSS].last_error, sizeof(s->health[WD_SRC_CVSS].last_error), "%s: %s%s", bot, what,
             why);
}

/* Applies one report; an unreadable one is unknown evidence and fails the
 * round (a truncated or garbled report is a broken source, not a finding). */
static void cvss_apply(struct wd_sources *s, const char *bot, const char *text, size_t len, int64_t ts) {
    struct rt_scan_options opt = {.format = s->cfg->cvss.format, .source = s->core->policy->cvss_source,
                                  .threshold = rt_policy_cond(s->core->policy, bot, RT_COND_CVSS)->threshold};
    struct rt_scan_result r;
    char detail[RT_SCAN_DETAIL_MAX + 1], err[200] = "";
    if (rt_scan_parse(text, len, &opt, &r, err, sizeof(err)) < 0) {
        observe_value(s, bot, RT_COND_CVSS, ts, false, 0, "report unreadable");
        cvss_fail(s, bot, "report unreadable: ", err);
        return;
    }
    rt_scan_detail(&r, detail);
    observe_value(s, bot, RT_COND_CVSS, ts, true, r.max_score, detail);
}

static void cvss_round_done(struct wd_sources *s) {
    if (s->busy[WD_SRC_CVSS] > 0)
        return;
    bool ok = s->round_failures[WD_SRC_CVSS] == 0;
    wd_core_commit(s->core);
    finish(s, WD_SRC_CVSS, ok, ok ? NULL : s->health[WD_SRC_CVSS].last_error);
}

static void cvss_done(const struct rt_fetch_result *res) {
    if (cancelled(res))
        return;
    struct poll *p = res->userdata;
    struct wd_sources *s = p->s;
    s->busy[WD_SRC_CVSS]--;
    char err[256] = "";
    if (res->outcome == RT_FETCH_OK) {
        cvss_apply(s, p->bot, res->body, res->body_len, p->sent_wall_us);
    } else if (res->outcome == RT_FETCH_HTTP_ERROR && res->http_status == 404) {
        observe_value(s, p->bot, RT_COND_CVSS, p->sent_wall_us, false, 0, "no report");
    } else {
        cvss_fail(s, p->bot, "", short_error(res, err, sizeof(err)));
    }
    free(p);
    cvss_round_done(s);
}

static bool cvss_url(const char *tmpl, const char *bot, char *url, size_t cap) {
    const char *at = strstr(tmpl, "{bot}");
    if (!at)
        return false;
    int n = snprintf(url, cap, "%.*s%s%s", (int)(at - tmpl), tmpl, bot, at + 5);
    return n > 0 && (size_t)n < cap; /* bot ids need no escaping: [A-Za-z0-9._:-] */
}

static void poll_cvss(struct wd_sources *s) {
    const struct rt_registry *reg = &s->core->registry;
    s->round_failures[WD_SRC_CVSS] = 0;
    s->busy[WD_SRC_CVSS]++; /* hold the round open while queueing */
    for (size_t i = 0; i < reg->n; i++) {
        const char *bot = reg->v[i].id;
        int64_t now = wd_now().wall_us;
        if (s->cfg->cvss.kind == RT_WD_CVSS_DIR) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s.json", s->cfg->cvss.dir, bot);
            char *text = NULL;
            size_t len = 0;
            int r = rt_read_file_bounded(path, RT_SCAN_MAX_BYTES, &text, &len);
            if (r == 0) {
                cvss_apply(s, bot, text, len, now);
            } else {
                observe_value(s, bot, RT_COND_CVSS, now, false, 0, r == -ENOENT ? "no report" : "report unreadable");
                if (r != -ENOENT)
                    cvss_fail(s, bot, "report unreadable: ", strerror(-r));
            }
            free(text);
            continue;
        }
        char url[URL_MAX];
        struct poll *p = cvss_url(s->cfg->cvss.url_template, bot, url, sizeof(url)) ? new_poll(s, WD_SRC_CVSS) : NULL;
        if (!p)
            continue;
        rt_strlcpy(p->bot, bot, sizeof(p->bot));
        if (!start(s, p, url, cvss_done))
            s->round_failures[WD_SRC_CVSS]++;
    }
    s->busy[WD_SRC_CVSS]--;
    cvss_round_done(s);
}

/* ---- registry ---- */

/* The text is not needed once parsed: the caller frees it before
 * apply_registry() (5 MB at 100,000 bots, next to the engine's growth). */
static int apply_registry(struct wd_sources *s, struct rt_registry *reg, int64_t start_us) {
    int r = wd_core_set_registry(s->core, reg, wd_now());
    if (r == 0)
        applied(s, WD_SRC_REGISTRY, start_us);
    return r;
}

static int load_registry_file(struct wd_sources *s, bool force, char *err, size_t errlen) {
    const char *path = s->cfg->bots.file;
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    if (!force && st.st_mtim.tv_sec == s->registry_mtime.tv_sec && st.st_mtim.tv_nsec == s->registry_mtime.tv_nsec)
        return 0;
    char *text = NULL;
    size_t len = 0;
    int r = rt_read_file_bounded(path, REGISTRY_MAX_BYTES, &text, &len);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    char perr[256] = "";
    struct rt_registry reg;
    int64_t start_us = mono_us();
    r = rt_registry_parse(text, len, &reg, perr, sizeof(perr));
    free(text);
    if (r == 0)
        r = apply_registry(s, &reg, start_us);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", path, perr[0] ? perr : strerror(-r));
        return r;
    }
    s->registry_mtime = st.st_mtim;
    return 0;
}

static void registry_done(const struct rt_fetch_result *res) {
    if (cancelled(res))
        return;
    struct poll *p = res->userdata;
    struct wd_sources *s = p->s;
    s->busy[WD_SRC_REGISTRY]--;
    char err[256] = "";
    bool ok = false;
    if (res->outcome == RT_FETCH_OK) {
        struct rt_registry reg;
        int64_t start_us = mono_us();
        int r = rt_registry_parse(res->body, res->body_len, &reg, err, sizeof(err));
        if (r == 0) {
            rt_fetch_release_body(res);
            r = apply_registry(s, &reg, start_us);
        }
        ok = r == 0;
    } else {
        short_error(res, err, sizeof(err));
    }
    finish(s, WD_SRC_REGISTRY, ok, err);
    free(p);
}

static void poll_registry(struct wd_sources *s) {
    if (s->cfg->bots.kind == RT_WD_BOTS_URL) {
        struct poll *p = new_poll(s, WD_SRC_REGISTRY);
        if (p && !start(s, p, s->cfg->bots.url, registry_done))
            finish(s, WD_SRC_REGISTRY, false, "cannot queue the request");
        return;
    }
    char err[512] = "";
    int r = load_registry_file(s, false, err, sizeof(err));
    finish(s, WD_SRC_REGISTRY, r == 0, err);
}

/* ---- lifecycle ---- */

static void on_source_timer(evutil_socket_t fd, short what, void *ud) {
    struct timer_ctx *t = ud;
    (void)fd;
    (void)what;
    if (t->s->busy[t->src])
        return;
    switch (t->src) {
    case WD_SRC_ALERTMANAGER: poll_alertmanager(t->s); break;
    case WD_SRC_PROMETHEUS: poll_prometheus(t->s); break;
    case WD_SRC_DRIFT: poll_drift(t->s); break;
    case WD_SRC_CVSS: poll_cvss(t->s); break;
    case WD_SRC_REGISTRY:
    default: poll_registry(t->s); break;
    }
}

int wd_sources_new(struct event_base *base, const struct rt_wd_config *cfg, struct wd_core *core,
                   struct wd_sources **out, char *err, size_t errlen) {
    struct wd_sources *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->base = base;
    s->cfg = cfg;
    s->core = core;
    struct rt_fetch_options fo = {.timeout_ms = cfg->http_client.timeout_us / 1000,
                                  .max_concurrent = cfg->http_client.max_concurrency,
                                  .ca_file = cfg->http_client.ca_file};
    s->fetcher = rt_fetcher_new(base, &fo);
    int r = s->fetcher ? 0 : -errno;
    if (r == 0) { /* the webhook needs these even when Alertmanager is not polled */
        const char *matcher = cfg->alertmanager.p0_matcher ? cfg->alertmanager.p0_matcher : "severity=\"P0\"";
        r = rt_am_matchers_parse(matcher, &s->p0_matchers, err, errlen);
        s->am = (struct rt_am_config){.p0 = &s->p0_matchers,
                                      .bot_label = cfg->alertmanager.bot_label ? cfg->alertmanager.bot_label : "bot"};
    }
    const struct rt_wd_auth *auths[WD_SRC_COUNT] = {&cfg->alertmanager.auth, &cfg->prometheus.auth,
                                                    cfg->drift.kind == RT_WD_DRIFT_PROMETHEUS ? &cfg->prometheus.auth : &cfg->drift.auth,
                                                    &cfg->cvss.auth, &cfg->bots.auth};
    for (int i = 0; r == 0 && i < WD_SRC_COUNT; i++)
        r = load_auth(s, (enum wd_source)i, auths[i], err, errlen);
    s->health[WD_SRC_ALERTMANAGER].configured = cfg->alertmanager.enabled;
    s->health[WD_SRC_PROMETHEUS].configured = cfg->prometheus.enabled;
    s->health[WD_SRC_DRIFT].configured = cfg->drift.kind != RT_WD_DRIFT_OFF;
    s->health[WD_SRC_CVSS].configured = cfg->cvss.kind != RT_WD_CVSS_OFF;
    s->health[WD_SRC_REGISTRY].configured = true;
    s->interval_us[WD_SRC_ALERTMANAGER] = cfg->alertmanager.poll_interval_us;
    s->interval_us[WD_SRC_PROMETHEUS] = cfg->prometheus.interval_us;
    s->interval_us[WD_SRC_DRIFT] = cfg->drift.interval_us;
    s->interval_us[WD_SRC_CVSS] = cfg->cvss.interval_us;
    s->interval_us[WD_SRC_REGISTRY] = cfg->bots.kind == RT_WD_BOTS_URL ? cfg->bots.interval_us : REGISTRY_FILE_INTERVAL_US;
    for (int i = 0; r == 0 && i < WD_SRC_COUNT; i++) {
        s->timer_ctx[i] = (struct timer_ctx){s, (enum wd_source)i};
        s->timer[i] = evtimer_new(base, on_source_timer, &s->timer_ctx[i]);
        if (!s->timer[i])
            r = -ENOMEM;
    }
    if (r < 0) {
        if (!err[0])
            snprintf(err, errlen, "sources: %s", strerror(-r));
        wd_sources_free(s);
        return r;
    }
    *out = s;
    return 0;
}

int wd_sources_start(struct wd_sources *s, char *err, size_t errlen) {
    if (s->cfg->bots.kind == RT_WD_BOTS_FILE) {
        int r = load_registry_file(s, true, err, errlen);
        wd_health_record(&s->health[WD_SRC_REGISTRY], WD_SRC_REGISTRY, r == 0, wd_now().wall_us, err);
        if (r < 0)
            return r;
        arm(s, WD_SRC_REGISTRY, REGISTRY_FILE_INTERVAL_US);
    } else if (s->cfg->bots.kind == RT_WD_BOTS_URL) {
        arm(s, WD_SRC_REGISTRY, 0);
    } else {
        snprintf(err, errlen, "bots: from_enforcer needs the enforcer's readiness view, which this version "
                              "does not read yet; use \"file\" or \"url\"");
        return -EOPNOTSUPP;
    }
    /* after the watchdog's own downtime, backfill from the newest error-rate
     * evidence it had applied */
    struct rt_now now = wd_now();
    for (size_t i = 0; i < s->core->registry.n; i++) {
        struct rt_cond_status st;
        if (rt_engine_cond_status(s->core->engine, s->core->registry.v[i].id, RT_COND_ERROR_RATE, now, &st) == 0 &&
            st.has_evidence && st.last_ts_us > s->prom_last_ok_us)
            s->prom_last_ok_us = st.last_ts_us;
    }
    /* a restart that missed even one poll backfills: the missed scrape may
     * be the healthy one that breaks a window */
    if (s->prom_last_ok_us && now.wall_us - s->prom_last_ok_us > s->interval_us[WD_SRC_PROMETHEUS])
        s->prom_backfill_from_us = backfill_start(s, now.wall_us);
    for (int i = 0; i < WD_SRC_REGISTRY; i++)
        if (s->health[i].configured)
            arm(s, (enum wd_source)i, 0);
    return 0;
}

const struct wd_source_health *wd_sources_health(const struct wd_sources *s) { return s->health; }

const struct rt_am_config *wd_sources_am_config(const struct wd_sources *s) { return &s->am; }

void wd_sources_free(struct wd_sources *s) {
    if (!s)
        return;
    rt_fetcher_free(s->fetcher); /* cancels polls: their callbacks still run */
    for (int i = 0; i < WD_SRC_COUNT; i++)
        if (s->timer[i])
            event_free(s->timer[i]);
    rt_am_matchers_free(&s->p0_matchers);
    explicit_bzero(s->secret, sizeof(s->secret));
    free(s);
}
