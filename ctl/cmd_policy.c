/* ratchetctl policy: validate a policy file and show what it means, or
 * print the embedded default. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "common/jsoncheck.h"
#include "ctl/ctl.h"
#include "policy/policy.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ratchetctl policy check FILE\n"
               "       ratchetctl policy show\n"
               "\n"
               "check  validate FILE strictly; print the effective policy and exit 0, or print\n"
               "       every error as FILE:LINE:COL: message and exit 1\n"
               "show   print the embedded default policy (default-policy.json)\n");
}

/* Exact, unlike rt_duration_format (which keeps two units): a summary must
 * not round what the file says. Hours are the largest unit, as policies
 * are usually written in hours. */
static void format_duration_exact(int64_t us, char buf[RT_DURATION_BUFSZ]) {
    static const struct {
        int64_t us;
        const char *unit;
    } units[] = {{3600 * RT_USEC_PER_SEC, "h"}, {60 * RT_USEC_PER_SEC, "m"}, {RT_USEC_PER_SEC, "s"},
                 {1000, "ms"}, {1, "us"}};
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ELEMENTSOF(units) && us > 0; i++) {
        int64_t q = us / units[i].us;
        if (q == 0)
            continue;
        us -= q * units[i].us;
        int w = snprintf(buf + n, RT_DURATION_BUFSZ - n, "%" PRId64 "%s", q, units[i].unit);
        if (w < 0 || (size_t)w >= RT_DURATION_BUFSZ - n)
            return;
        n += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, RT_DURATION_BUFSZ, "0s");
}

/* rt_format_double() picks the shortest %g form, which writes 250 as
 * "2.5e+02"; whole numbers read better in full. */
static void format_number(char buf[32], double v) {
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, 32, "%.0f", v);
    else
        rt_format_double(buf, v);
}

static void format_cond(const struct rt_cond_policy *p, enum rt_cond c, char *buf, size_t cap) {
    char limit[64] = "", num[32], window[RT_DURATION_BUFSZ], age[RT_DURATION_BUFSZ];
    if (c == RT_COND_RECON_DRIFT) {
        if (p->has_threshold) {
            format_number(num, p->threshold);
            snprintf(limit, sizeof limit, "  tolerance=%s", num);
        } else {
            snprintf(limit, sizeof limit, "  tolerance=none (from evidence)");
        }
    } else if (p->has_threshold) {
        format_number(num, p->threshold);
        snprintf(limit, sizeof limit, "  threshold=%s (breach when above)", num);
    }
    format_duration_exact(p->window_us, window);
    format_duration_exact(p->max_evidence_age_us, age);
    snprintf(buf, cap, "enabled=%s%s  window=%s  max_evidence_age=%s  on_unknown=%s",
             p->enabled ? "yes" : "no", limit, window, age, rt_on_unknown_name(p->on_unknown));
}

static bool cond_equal(const struct rt_cond_policy *a, const struct rt_cond_policy *b) {
    return a->enabled == b->enabled && a->has_threshold == b->has_threshold &&
           (!a->has_threshold || a->threshold == b->threshold) && a->window_us == b->window_us &&
           a->max_evidence_age_us == b->max_evidence_age_us && a->on_unknown == b->on_unknown;
}

static void print_bot(const struct rt_policy *pol, const struct rt_bot_policy *b) {
    bool any = false;
    for (int c = 0; c < RT_COND_COUNT; c++) {
        if (cond_equal(&b->cond[c], &pol->cond[c]))
            continue;
        char line[256];
        format_cond(&b->cond[c], (enum rt_cond)c, line, sizeof line);
        printf("  %-20s %-12s %s\n", b->bot, rt_cond_name((enum rt_cond)c), line);
        any = true;
    }
    if (!any)
        printf("  %-20s (same as the conditions above)\n", b->bot);
}

static void print_summary(const char *path, const struct rt_policy *pol) {
    printf("%s: valid policy, version 1\n", path);
    printf("sha256: ");
    for (size_t i = 0; i < sizeof pol->sha256; i++)
        printf("%02x", pol->sha256[i]);
    printf("\ncvss_source: %s\n\nconditions:\n",
           pol->cvss_source == RT_CVSS_HIGHEST ? "highest" : "nvd_then_highest");
    for (int c = 0; c < RT_COND_COUNT; c++) {
        char line[256];
        format_cond(&pol->cond[c], (enum rt_cond)c, line, sizeof line);
        printf("  %-12s %s\n", rt_cond_name((enum rt_cond)c), line);
    }
    printf("\nper-bot overrides: %zu bot%s\n", pol->n_bots, pol->n_bots == 1 ? "" : "s");
    for (size_t i = 0; i < pol->n_bots; i++)
        print_bot(pol, &pol->bots[i]);
}

static int finish_stdout(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ratchetctl policy: error writing to standard output\n");
        return 1;
    }
    return 0;
}

static int policy_check(const char *path) {
    _cleanup_(rt_policy_freep) struct rt_policy *pol = NULL;
    struct rt_policy_errors errs = {0};
    int r = rt_policy_load_file(path, &pol, &errs);
    if (r < 0) {
        rt_jcheck_print_errors(stderr, path, &errs, r);
        return 1;
    }
    print_summary(path, pol);
    return finish_stdout();
}

static bool is_help_option(const char *arg) {
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cmd_policy_main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (is_help_option(argv[i]) || (i == 1 && strcmp(argv[i], "help") == 0)) {
            usage(stdout);
            return 0;
        }
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return policy_check(argv[2]);
    if (argc == 2 && strcmp(argv[1], "show") == 0) {
        fputs(rt_default_policy_json, stdout);
        return finish_stdout();
    }
    usage(stderr);
    return 2;
}
