/* Status JSON and metrics; see status.h and docs/http-api.md. */
#include "watchdog/status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/rtime.h"
#include "common/util.h"

static const char *const outcome_names[WD_WEBHOOK_OUTCOME_COUNT] = {
    "accepted", "bad_request", "too_large", "unusable", "unavailable"};

const char *wd_webhook_outcome_name(enum wd_webhook_outcome o) {
    return (unsigned)o < WD_WEBHOOK_OUTCOME_COUNT ? outcome_names[o] : "invalid";
}

/* Bot ids, sorted, so output is stable. */
struct id_list {
    const char **v;
    size_t n, cap;
    bool oom;
};

static void collect_id(const char *bot, void *ud) {
    struct id_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        const char **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = bot;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int sorted_bots(const struct wd_core *c, struct id_list *l) {
    memset(l, 0, sizeof(*l));
    rt_engine_foreach_bot(c->engine, collect_id, l);
    if (l->oom) {
        free(l->v);
        return -ENOMEM;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_str);
    return 0;
}

static void json_value(struct rt_strbuf *b, enum rt_cond k, bool known, double v) {
    if (!known)
        rt_sb_puts(b, "null");
    else if (k == RT_COND_P0_ALERT)
        rt_sb_puts(b, v != 0 ? "true" : "false");
    else
        rt_sb_json_num(b, v);
}

static void cond_json(const struct wd_view *v, const char *bot, enum rt_cond k, struct rt_now now,
                      struct rt_strbuf *b) {
    struct rt_cond_status st;
    rt_engine_cond_status(v->core->engine, bot, k, now, &st);
    enum wd_source src = wd_source_of(k);
    rt_sb_printf(b, "\"%s\":{\"state\":\"%s\",\"window_open\":%s", rt_cond_name(k), rt_class_name(st.state),
                 st.window_open ? "true" : "false");
    if (st.window_open) {
        rt_sb_puts(b, ",\"window_start\":");
        rt_sb_json_time(b, st.window_start_us);
        rt_sb_puts(b, ",\"breach_seconds\":");
        rt_sb_json_seconds(b, now.wall_us - st.window_start_us);
        rt_sb_puts(b, ",\"unknown_seconds\":");
        rt_sb_json_seconds(b, st.unknown_us);
    }
    if (st.demote_in_us >= 0) {
        rt_sb_puts(b, ",\"demote_in_seconds\":");
        rt_sb_json_seconds(b, st.demote_in_us);
        rt_sb_puts(b, ",\"demote_at\":");
        rt_sb_json_time(b, now.wall_us + st.demote_in_us);
    }
    if (st.has_evidence) {
        rt_sb_puts(b, ",\"last_evidence\":{\"ts\":");
        rt_sb_json_time(b, st.last_ts_us);
        rt_sb_puts(b, ",\"age_seconds\":");
        rt_sb_json_seconds(b, st.last_age_us);
        rt_sb_puts(b, ",\"value\":");
        json_value(b, k, st.last_known, st.last_value);
        rt_sb_puts(b, "}");
    }
    struct rt_p0_bot_status ps;
    if (k == RT_COND_P0_ALERT && rt_p0track_bot_status(v->core->p0, bot, &ps) == 0)
        /* silenced and inhibited P0 alerts still count; on-call sees them */
        rt_sb_printf(b, ",\"p0_alerts\":{\"n_active\":%zu,\"n_silenced\":%zu,\"n_inhibited\":%zu}", ps.n_active,
                     ps.n_silenced, ps.n_inhibited);
    rt_sb_printf(b, ",\"source\":\"%s\",\"source_up\":%s}", wd_source_name(src),
                 v->health[src].up ? "true" : "false");
}

static void bot_json(const struct wd_view *v, const char *bot, struct rt_now now, struct rt_strbuf *b) {
    const struct wd_core *c = v->core;
    enum rt_readiness r = rt_engine_readiness(c->engine, bot);
    rt_sb_puts(b, "{\"bot\":");
    rt_sb_json_str(b, bot);
    rt_sb_printf(b, ",\"readiness\":\"%s\",\"in_registry\":%s", rt_readiness_name(r),
                 wd_core_bot_known(c, bot) ? "true" : "false");
    int64_t since = rt_engine_readiness_since(c->engine, bot);
    if (since != INT64_MIN) {
        rt_sb_puts(b, ",\"readiness_since\":");
        rt_sb_json_time(b, since);
    }
    int64_t best = -1;
    int best_k = -1;
    rt_sb_puts(b, ",\"conditions\":{");
    for (int k = 0; k < RT_COND_COUNT; k++) {
        if (k)
            rt_sb_puts(b, ",");
        cond_json(v, bot, (enum rt_cond)k, now, b);
        struct rt_cond_status st;
        rt_engine_cond_status(c->engine, bot, (enum rt_cond)k, now, &st);
        if (st.demote_in_us >= 0 && (best < 0 || st.demote_in_us < best)) {
            best = st.demote_in_us;
            best_k = k;
        }
    }
    rt_sb_puts(b, "}");
    if (best_k >= 0) {
        rt_sb_printf(b, ",\"next_demotion\":{\"condition\":\"%s\",\"in_seconds\":", rt_cond_name((enum rt_cond)best_k));
        rt_sb_json_seconds(b, best);
        rt_sb_puts(b, ",\"at\":");
        rt_sb_json_time(b, now.wall_us + best);
        rt_sb_puts(b, "}");
    }
    rt_sb_puts(b, "}");
}

static void sources_json(const struct wd_view *v, struct rt_strbuf *b) {
    rt_sb_puts(b, "\"sources\":{");
    for (int s = 0; s < WD_SRC_COUNT; s++) {
        const struct wd_source_health *h = &v->health[s];
        rt_sb_printf(b, "%s\"%s\":{\"configured\":%s,\"up\":%s", s ? "," : "", wd_source_name((enum wd_source)s),
                     h->configured ? "true" : "false", h->up ? "true" : "false");
        if (h->last_success_us) {
            rt_sb_puts(b, ",\"last_success\":");
            rt_sb_json_time(b, h->last_success_us);
        }
        if (h->last_error[0]) {
            rt_sb_puts(b, ",\"last_error\":");
            rt_sb_json_str(b, h->last_error);
        }
        rt_sb_puts(b, "}");
    }
    rt_sb_puts(b, "}");
}

struct json_list {
    struct rt_strbuf *b;
    size_t n;
};

static void pending_one(const struct rt_msg_demote *d, bool refused, const char *refusal, void *ud) {
    struct json_list *l = ud;
    struct rt_strbuf *b = l->b;
    if (l->n++)
        rt_sb_puts(b, ",");
    rt_sb_puts(b, "{\"bot\":");
    rt_sb_json_str(b, d->bot);
    rt_sb_printf(b, ",\"condition\":\"%s\",\"decided_at\":", rt_cond_name(d->cond));
    rt_sb_json_time(b, d->decided_at_us);
    rt_sb_printf(b, ",\"refused\":%s", refused ? "true" : "false");
    if (refused) {
        rt_sb_puts(b, ",\"refusal\":");
        rt_sb_json_str(b, refusal);
    }
    rt_sb_puts(b, "}");
}

#define STATUS_MAX_PENDING_ACTUATIONS 1000 /* listed; "pending" has the count */

static void actuation_one(uint64_t seq, const char *bot, enum wd_actuate_state st, void *ud) {
    struct json_list *l = ud;
    if (l->n++ >= STATUS_MAX_PENDING_ACTUATIONS)
        return;
    rt_sb_printf(l->b, "%s{\"seq\":%" PRIu64 ",\"bot\":", l->n > 1 ? "," : "", seq);
    rt_sb_json_str(l->b, bot);
    rt_sb_printf(l->b, ",\"state\":\"%s\"}", wd_actuate_state_name(st));
}

/* "control_plane": pushes of signed demote records (watchdog/actuate.h). */
static void control_plane_json(const struct wd_view *v, struct rt_strbuf *b) {
    if (!v->actuate) {
        rt_sb_puts(b, ",\"control_plane\":{\"configured\":false},\"pending_actuations\":[]");
        return;
    }
    struct wd_actuate_stats st;
    wd_actuate_get_stats(v->actuate, &st);
    rt_sb_puts(b, ",\"control_plane\":{\"configured\":true,\"target\":");
    rt_sb_json_str(b, st.target);
    rt_sb_printf(b, ",\"log_present\":%s,\"pending\":%zu,\"pushed\":%zu,\"overflow\":%s,\"pushes\":{",
                 st.log_present ? "true" : "false", st.pending, st.pushed, st.overflow ? "true" : "false");
    for (int o = 0; o < RT_FETCH_CANCELLED; o++)
        rt_sb_printf(b, "%s\"%s\":%" PRIu64, o ? "," : "", rt_fetch_outcome_name((enum rt_fetch_outcome)o),
                     st.pushes[o]);
    rt_sb_puts(b, "}");
    if (st.last_success_us) {
        rt_sb_puts(b, ",\"last_success\":");
        rt_sb_json_time(b, st.last_success_us);
    }
    if (st.last_error[0]) {
        rt_sb_puts(b, ",\"last_error\":");
        rt_sb_json_str(b, st.last_error);
    }
    rt_sb_puts(b, "},\"pending_actuations\":[");
    struct json_list l = {.b = b};
    wd_actuate_foreach_pending(v->actuate, actuation_one, &l);
    rt_sb_puts(b, "]");
}

int wd_status_json(const struct wd_view *v, struct rt_now now, const char *only_bot, struct rt_strbuf *out) {
    const struct wd_core *c = v->core;
    struct rt_cond_status probe;
    if (only_bot && rt_engine_cond_status(c->engine, only_bot, RT_COND_P0_ALERT, now, &probe) < 0)
        return -ENOENT;
    rt_sb_puts(out, "{\"generated_at\":");
    rt_sb_json_time(out, now.wall_us);
    rt_sb_puts(out, ",\"policy_sha256\":\"");
    for (int i = 0; i < 32; i++)
        rt_sb_printf(out, "%02x", c->policy->sha256[i]);
    rt_sb_puts(out, "\",");
    sources_json(v, out);
    struct rt_handoff_stats hs;
    rt_handoff_get_stats(c->handoff, &hs);
    rt_sb_printf(out, ",\"enforcer\":{\"connected\":%s,\"pending\":%" PRIu64 ",\"actuations_pending\":%" PRIu64 "}",
                 hs.connected ? "true" : "false", hs.pending, hs.actuations_pending);
    control_plane_json(v, out);
    rt_sb_puts(out, ",\"pending_demotions\":[");
    struct json_list pending = {.b = out};
    rt_handoff_foreach_pending(c->handoff, pending_one, &pending);
    rt_sb_puts(out, "],\"bots\":[");
    if (only_bot) {
        bot_json(v, only_bot, now, out);
    } else {
        struct id_list ids;
        if (sorted_bots(c, &ids) < 0)
            return -ENOMEM;
        for (size_t i = 0; i < ids.n; i++) {
            if (i)
                rt_sb_puts(out, ",");
            bot_json(v, ids.v[i], now, out);
        }
        free(ids.v);
    }
    rt_sb_puts(out, "]}");
    return out->oom ? -ENOMEM : 0;
}

/* ---- metrics ---- */

static void help(struct rt_strbuf *b, const char *name, const char *type, const char *text) {
    rt_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void latency_histogram(struct rt_strbuf *b, const char *name, const char *text,
                              const struct rt_handoff_latency *l) {
    help(b, name, "histogram", text);
    for (int i = 0; i < RT_HANDOFF_LATENCY_BUCKETS; i++)
        rt_sb_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)rt_handoff_latency_le_us[i] / 1e6, l->le[i]);
    rt_sb_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", name, l->count, name,
                 (double)l->sum_us / 1e6, name, l->count);
}

static void per_condition_metrics(const struct wd_view *v, struct rt_now now, struct rt_strbuf *b) {
    struct id_list ids;
    if (sorted_bots(v->core, &ids) < 0) {
        b->oom = true;
        return;
    }
    help(b, "ratchet_breach_seconds", "gauge", "How long the condition's current window has been open.");
    help(b, "ratchet_demotion_in_seconds", "gauge", "Time left until the window completes (only open windows of General-live bots).");
    for (size_t i = 0; i < ids.n; i++)
        for (int k = 0; k < RT_COND_COUNT; k++) {
            struct rt_cond_status st;
            rt_engine_cond_status(v->core->engine, ids.v[i], (enum rt_cond)k, now, &st);
            if (!st.window_open)
                continue;
            rt_sb_printf(b, "ratchet_breach_seconds{bot=\"%s\",condition=\"%s\"} %.3f\n", ids.v[i],
                         rt_cond_name((enum rt_cond)k), (double)(now.wall_us - st.window_start_us) / 1e6);
            if (st.demote_in_us >= 0)
                rt_sb_printf(b, "ratchet_demotion_in_seconds{bot=\"%s\",condition=\"%s\"} %.3f\n", ids.v[i],
                             rt_cond_name((enum rt_cond)k), (double)st.demote_in_us / 1e6);
        }
    help(b, "ratchet_bot_limited", "gauge", "1 if the bot is in Limited live.");
    for (size_t i = 0; i < ids.n; i++)
        rt_sb_printf(b, "ratchet_bot_limited{bot=\"%s\"} %d\n", ids.v[i],
                     rt_engine_readiness(v->core->engine, ids.v[i]) == RT_READY_LIMITED_LIVE);
    free(ids.v);
}

static void control_plane_metrics(const struct wd_view *v, struct rt_strbuf *out) {
    if (!v->actuate)
        return;
    struct wd_actuate_stats st;
    wd_actuate_get_stats(v->actuate, &st);
    help(out, "ratchet_control_plane_pushes_total", "counter", "Pushes of signed demote records to the control plane, by outcome.");
    for (int o = 0; o < RT_FETCH_CANCELLED; o++)
        rt_sb_printf(out, "ratchet_control_plane_pushes_total{outcome=\"%s\"} %" PRIu64 "\n",
                     rt_fetch_outcome_name((enum rt_fetch_outcome)o), st.pushes[o]);
    help(out, "ratchet_control_plane_pending", "gauge",
         "Demote records of the log without an actuated record (pushed: the control plane took them; the enforcer has not recorded it yet).");
    rt_sb_printf(out, "ratchet_control_plane_pending{state=\"waiting\"} %zu\n", st.pending - st.pushed);
    rt_sb_printf(out, "ratchet_control_plane_pending{state=\"pushed\"} %zu\n", st.pushed);
    help(out, "ratchet_control_plane_log_present", "gauge", "1 if the enforcer's commands.log could be read.");
    rt_sb_printf(out, "ratchet_control_plane_log_present %d\n", st.log_present);
    help(out, "ratchet_control_plane_last_success_timestamp_seconds", "gauge", "Unix time of the last 2xx answer, 0 if none.");
    rt_sb_printf(out, "ratchet_control_plane_last_success_timestamp_seconds %.3f\n", (double)st.last_success_us / 1e6);
}

int wd_metrics_text(const struct wd_view *v, struct rt_now now, struct rt_strbuf *out) {
    const struct wd_core *c = v->core;
    per_condition_metrics(v, now, out);
    help(out, "ratchet_source_up", "gauge", "1 if the source's last poll succeeded.");
    for (int s = 0; s < WD_SRC_COUNT; s++)
        if (v->health[s].configured)
            rt_sb_printf(out, "ratchet_source_up{source=\"%s\"} %d\n", wd_source_name((enum wd_source)s),
                         v->health[s].up);
    help(out, "ratchet_source_last_success_timestamp_seconds", "gauge", "Unix time of the source's last successful poll.");
    for (int s = 0; s < WD_SRC_COUNT; s++)
        if (v->health[s].configured)
            rt_sb_printf(out, "ratchet_source_last_success_timestamp_seconds{source=\"%s\"} %.3f\n",
                         wd_source_name((enum wd_source)s), (double)v->health[s].last_success_us / 1e6);
    help(out, "ratchet_source_apply_seconds", "gauge",
         "Time the source's last good response took to parse and apply, durable commit included.");
    for (int s = 0; s < WD_SRC_COUNT; s++)
        if (v->health[s].configured && v->health[s].last_apply_us)
            rt_sb_printf(out, "ratchet_source_apply_seconds{source=\"%s\"} %.6f\n",
                         wd_source_name((enum wd_source)s), (double)v->health[s].last_apply_us / 1e6);
    if (v->httpd) {
        struct rt_httpd_stats hs;
        rt_httpd_get_stats(v->httpd, &hs);
        help(out, "ratchet_http_requests_total", "counter", "HTTP requests by outcome at the HTTP layer.");
        for (int o = 0; o < RT_HTTPD_OUTCOME_COUNT; o++)
            rt_sb_printf(out, "ratchet_http_requests_total{outcome=\"%s\"} %" PRIu64 "\n",
                         rt_httpd_outcome_name((enum rt_httpd_outcome)o), hs.outcome[o]);
        help(out, "ratchet_http_auth_failures_total", "counter", "Requests refused 401.");
        rt_sb_printf(out, "ratchet_http_auth_failures_total{reason=\"missing\"} %" PRIu64 "\n", hs.auth_missing);
        rt_sb_printf(out, "ratchet_http_auth_failures_total{reason=\"invalid\"} %" PRIu64 "\n", hs.auth_invalid);
    }
    help(out, "ratchet_webhook_requests_total", "counter", "Alertmanager webhook deliveries handled, by outcome.");
    for (int o = 0; o < WD_WEBHOOK_OUTCOME_COUNT; o++)
        rt_sb_printf(out, "ratchet_webhook_requests_total{outcome=\"%s\"} %" PRIu64 "\n",
                     outcome_names[o], v->webhook[o]);
    struct rt_handoff_stats hs;
    rt_handoff_get_stats(c->handoff, &hs);
    help(out, "ratchet_demotion_requests_total", "counter", "Demotion requests by outcome.");
    rt_sb_printf(out, "ratchet_demotion_requests_total{outcome=\"submitted\"} %" PRIu64 "\n", hs.submitted);
    rt_sb_printf(out, "ratchet_demotion_requests_total{outcome=\"acknowledged\"} %" PRIu64 "\n", hs.acked);
    rt_sb_printf(out, "ratchet_demotion_requests_total{outcome=\"refused\"} %" PRIu64 "\n", hs.refused);
    latency_histogram(out, "ratchet_demotion_latency_seconds",
                      "From the completion of a window (the decision's decided_at) to the enforcer's acknowledgement "
                      "of the signed, fdatasync'd record.", &hs.since_complete);
    latency_histogram(out, "ratchet_demotion_handoff_seconds",
                      "From the decision to the enforcer's acknowledgement of the signed, fdatasync'd record.",
                      &hs.since_decision);
    help(out, "ratchet_demotion_requests_pending", "gauge", "Demotion requests not yet acknowledged by the enforcer.");
    rt_sb_printf(out, "ratchet_demotion_requests_pending %" PRIu64 "\n", hs.pending);
    help(out, "ratchet_actuation_reports_total", "counter",
         "ACTUATED reports to the enforcer by outcome (dropped: the connection was lost while one was unanswered).");
    rt_sb_printf(out, "ratchet_actuation_reports_total{outcome=\"acknowledged\"} %" PRIu64 "\n", hs.actuations_acked);
    rt_sb_printf(out, "ratchet_actuation_reports_total{outcome=\"duplicate\"} %" PRIu64 "\n", hs.actuations_duplicates);
    rt_sb_printf(out, "ratchet_actuation_reports_total{outcome=\"dropped\"} %" PRIu64 "\n", hs.actuations_dropped);
    help(out, "ratchet_actuation_reports_pending", "gauge", "ACTUATED reports not yet acknowledged by the enforcer.");
    rt_sb_printf(out, "ratchet_actuation_reports_pending %" PRIu64 "\n", hs.actuations_pending);
    control_plane_metrics(v, out);
    help(out, "ratchet_enforcer_connected", "gauge", "1 if connected to the enforcer.");
    rt_sb_printf(out, "ratchet_enforcer_connected %d\n", hs.connected);
    struct rt_journal_stats js;
    rt_winstore_get_stats(c->store, &js);
    help(out, "ratchet_state_store_commits_total", "counter", "Durable commits of the window store.");
    rt_sb_printf(out, "ratchet_state_store_commits_total %" PRIu64 "\n", js.commits);
    help(out, "ratchet_state_store_records_written_total", "counter", "Window records written (transitions).");
    rt_sb_printf(out, "ratchet_state_store_records_written_total %" PRIu64 "\n", js.records_written);
    help(out, "ratchet_state_store_compactions_total", "counter", "Compactions of the window store.");
    rt_sb_printf(out, "ratchet_state_store_compactions_total %" PRIu64 "\n", js.compactions);
    help(out, "ratchet_observations_total", "counter", "Observations applied to the engine.");
    rt_sb_printf(out, "ratchet_observations_total %" PRIu64 "\n", c->observations);
    help(out, "ratchet_observations_unknown_bot_total", "counter", "Observations ignored because the bot is not in the registry.");
    rt_sb_printf(out, "ratchet_observations_unknown_bot_total %" PRIu64 "\n", c->ignored_unknown_bot);
    help(out, "ratchet_bots", "gauge", "Bots tracked.");
    rt_sb_printf(out, "ratchet_bots %zu\n", rt_engine_bot_count(c->engine));
    help(out, "ratchet_start_time_seconds", "gauge", "Unix time the watchdog started.");
    rt_sb_printf(out, "ratchet_start_time_seconds %.3f\n", (double)v->started_us / 1e6);
    return out->oom ? -ENOMEM : 0;
}
