/* ratchetctl status: what on-call needs to know, read from the watchdog's
 * GET /api/v1/status. On a terminal: a table and one sentence per open
 * window ("alpha will be demoted in 3h12m because ..."); otherwise (or with
 * --json) the JSON as the watchdog sent it. Read-only. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "ctl/ctl.h"
#include "policy/policy.h"

#define DEFAULT_URL "http://127.0.0.1:8470"
#define MAX_RESPONSE (256u << 20)

static void usage(FILE *f) {
    fprintf(f, "usage: ratchetctl status [--url URL] [--bot ID] [--json]\n"
               "URL is the watchdog's base URL (default " DEFAULT_URL ", or $RATCHET_URL).\n");
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    struct rt_strbuf *b = ud;
    if (b->len + size * n > MAX_RESPONSE)
        return 0;
    rt_sb_putn(b, p, size * n);
    return b->oom ? 0 : size * n;
}

static int fetch(const char *url, struct rt_strbuf *body, long *status, char *err, size_t errlen) {
    CURL *c = curl_easy_init();
    if (!c)
        return -ENOMEM;
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
        return -EIO;
    }
    return 0;
}

static const char *str(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void fmt_seconds(json_t *v, char buf[RT_DURATION_BUFSZ]) {
    if (!json_is_number(v)) {
        snprintf(buf, RT_DURATION_BUFSZ, "-");
        return;
    }
    rt_duration_format((int64_t)(json_number_value(v) * 1e6), buf);
}

static void fmt_evidence(const char *cond, json_t *ev, char *buf, size_t cap) {
    if (!json_is_object(ev)) {
        snprintf(buf, cap, "none");
        return;
    }
    char age[RT_DURATION_BUFSZ], value[48];
    fmt_seconds(json_object_get(ev, "age_seconds"), age);
    json_t *v = json_object_get(ev, "value");
    if (json_is_null(v))
        snprintf(value, sizeof(value), "unknown");
    else if (strcmp(cond, "p0_alert") == 0)
        snprintf(value, sizeof(value), "%s", json_is_true(v) ? "active" : "not active");
    else
        snprintf(value, sizeof(value), "%g", json_number_value(v));
    snprintf(buf, cap, "%s, %s ago", value, age);
}

static const char *because(const char *cond) {
    if (strcmp(cond, "p0_alert") == 0)
        return "a P0 alert has been active";
    if (strcmp(cond, "error_rate") == 0)
        return "its error rate has been above the limit";
    if (strcmp(cond, "recon_drift") == 0)
        return "its reconciliation drift has been outside tolerance";
    return "it has had a security finding above the CVSS limit";
}

/* One table row per open window (or one row for a bot with none). */
static void print_bot(json_t *bot, struct rt_strbuf *why) {
    const char *id = str(bot, "bot"), *ready = str(bot, "readiness");
    json_t *conds = json_object_get(bot, "conditions");
    const char *k;
    json_t *c;
    bool any = false;
    json_object_foreach(conds, k, c) {
        if (!json_is_true(json_object_get(c, "window_open")))
            continue;
        any = true;
        char in[RT_DURATION_BUFSZ], ev[96], unk[RT_DURATION_BUFSZ];
        fmt_seconds(json_object_get(c, "demote_in_seconds"), in);
        fmt_seconds(json_object_get(c, "unknown_seconds"), unk);
        fmt_evidence(k, json_object_get(c, "last_evidence"), ev, sizeof(ev));
        const char *state = str(c, "state");
        printf("%-20s %-13s %-12s %-8s %-27s %-12s %s\n", id, ready, k, state, str(c, "window_start"), in, ev);
        if (json_is_number(json_object_get(c, "demote_in_seconds")))
            rt_sb_printf(why, "%s will be demoted in %s (at %s) because %s since %s; evidence %s%s%s%s.\n", id, in,
                         str(c, "demote_at"), because(k), str(c, "window_start"), ev,
                         strcmp(state, "unknown") == 0 ? " (unknown now: the window is held, not reset)" : "",
                         json_number_value(json_object_get(c, "unknown_seconds")) > 0 ? "; unknown for " : "",
                         json_number_value(json_object_get(c, "unknown_seconds")) > 0 ? unk : "");
    }
    if (!any)
        printf("%-20s %-13s %-12s %-8s %-27s %-12s %s\n", id, ready, "-", "ok", "-", "-", "-");
}

static void print_table(json_t *root) {
    json_t *sources = json_object_get(root, "sources"), *enf = json_object_get(root, "enforcer");
    const char *k;
    json_t *s;
    printf("sources:");
    json_object_foreach(sources, k, s) if (json_is_true(json_object_get(s, "configured")))
        printf(" %s %s", k, json_is_true(json_object_get(s, "up")) ? "up" : "DOWN");
    printf("; enforcer %s, %lld demotion(s) pending\n\n",
           json_is_true(json_object_get(enf, "connected")) ? "connected" : "NOT CONNECTED",
           (long long)json_integer_value(json_object_get(enf, "pending")));
    printf("%-20s %-13s %-12s %-8s %-27s %-12s %s\n", "BOT", "READINESS", "IN BREACH", "STATE", "SINCE",
           "DEMOTION IN", "LAST EVIDENCE");
    struct rt_strbuf why = {0};
    size_t i;
    json_t *bot;
    json_array_foreach(json_object_get(root, "bots"), i, bot)
        print_bot(bot, &why);
    if (why.len)
        printf("\n%s", why.s);
    rt_sb_free(&why);
}

int cmd_status_main(int argc, char **argv) {
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'}, {"bot", required_argument, NULL, 'b'},
                                         {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *base = getenv("RATCHET_URL") ? getenv("RATCHET_URL") : DEFAULT_URL, *bot = NULL;
    bool json = !isatty(STDOUT_FILENO);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': base = optarg; break;
        case 'b': bot = optarg; break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || (bot && !rt_bot_id_valid(bot))) {
        usage(stderr);
        return 2;
    }
    char url[4096], err[CURL_ERROR_SIZE + 64] = "";
    snprintf(url, sizeof(url), "%s/api/v1/status%s%s", base, bot ? "?bot=" : "", bot ? bot : "");
    struct rt_strbuf body = {0};
    long status = 0;
    int r = fetch(url, &body, &status, err, sizeof(err));
    if (r < 0 || status != 200) {
        fprintf(stderr, "ratchetctl: status: %s: %s\n", url, r < 0 ? err : body.s ? body.s : "no body");
        rt_sb_free(&body);
        return 1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body.s, body.len, 0, &jerr);
    if (!root) {
        fprintf(stderr, "ratchetctl: status: %s: not JSON: %s\n", url, jerr.text);
        rt_sb_free(&body);
        return 1;
    }
    if (json)
        printf("%s\n", body.s);
    else
        print_table(root);
    json_decref(root);
    rt_sb_free(&body);
    return fflush(stdout) == 0 ? 0 : 1;
}
