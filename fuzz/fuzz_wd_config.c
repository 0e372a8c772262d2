/* The watchdog's configuration file (watchdog/config.h rt_wd_config_parse;
 * rt_wd_config_load only reads the file and calls it).
 * Invariants: 0 with a configuration, or -EINVAL with 1..RT_POLICY_MAX_ERRORS
 * positioned errors (-ENOMEM aside); an accepted configuration is usable by
 * the modules it feeds: 1..RT_WD_LISTEN_MAX listeners, bot labels that the
 * Alertmanager and Prometheus parsers accept, a Prometheus bot label that
 * rt_prom_parse takes, intervals and timeouts > 0. */
#include <errno.h>

#include "feeds/alertmanager.h"
#include "feeds/prometheus.h"
#include "fuzz/fuzz_common.h"
#include "watchdog/config.h"

static void check_errors(const struct rt_policy_errors *errs) {
    FZ_CHECK(errs->n >= 1 && errs->n <= RT_POLICY_MAX_ERRORS);
    for (size_t i = 0; i < errs->n; i++)
        FZ_CHECK(fz_terminated(errs->e[i].text, sizeof errs->e[i].text) && errs->e[i].text[0]);
}

/* A label the feeds will be asked to read the bot id from. */
static void check_label(const char *label) {
    FZ_CHECK(label && rt_am_label_name_valid(label));
    struct rt_prom_result res;
    struct rt_prom_opts o = {.bot_label = label};
    static const char body[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}";
    FZ_CHECK(rt_prom_parse(body, sizeof body - 1, &o, &res) == 0);
    rt_prom_result_clear(&res);
}

static void check_ok(const struct rt_wd_config *c) {
    FZ_CHECK(c->n_listen >= 1 && c->n_listen <= RT_WD_LISTEN_MAX);
    FZ_CHECK(c->state_dir && c->state_dir[0] == '/');
    FZ_CHECK(c->max_body_bytes > 0);
    FZ_CHECK(c->http_client.timeout_us > 0 && c->http_client.max_concurrency > 0);
    if (c->alertmanager.enabled) {
        check_label(c->alertmanager.bot_label);
        FZ_CHECK(c->alertmanager.p0_matcher && c->alertmanager.poll_interval_us > 0);
        /* the daemon parses the matcher at start; exercise it here too */
        struct rt_am_matchers m;
        char err[RT_AM_ERR_MAX];
        if (rt_am_matchers_parse(c->alertmanager.p0_matcher, &m, err, sizeof err) == 0)
            rt_am_matchers_free(&m);
    }
    if (c->prometheus.enabled) {
        check_label(c->prometheus.bot_label);
        FZ_CHECK(c->prometheus.interval_us > 0 && c->prometheus.error_rate_query);
    }
    if (c->drift.kind != RT_WD_DRIFT_OFF)
        FZ_CHECK(c->drift.interval_us > 0);
    if (c->cvss.kind != RT_WD_CVSS_OFF)
        FZ_CHECK(c->cvss.interval_us > 0);
}

/* The parse call again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_wd_config *cfg = NULL;
    struct rt_policy_errors errs;
    rt_wd_config_parse((const char *)data, size, &cfg, &errs);
    rt_wd_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct rt_wd_config *cfg = NULL;
    struct rt_policy_errors errs;
    int r = rt_wd_config_parse((const char *)data, size, &cfg, &errs);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r == -EINVAL)
        check_errors(&errs);
    if (r == 0) {
        FZ_CHECK(cfg != NULL);
        check_ok(cfg);
    }
    rt_wd_config_free(cfg);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
