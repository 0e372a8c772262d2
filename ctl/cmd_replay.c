/* ratchetctl replay: run the engine in simulated time over an evidence stream.
 * Malformed lines are all reported with their line numbers and then the run
 * fails without printing any decision: a partial answer would look complete. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "common/jsoncheck.h"
#include "ctl/ctl.h"
#include "gen/reason_codes.h"
#include "policy/replay.h"

#define MAX_REPORTED_ERRORS 20

struct replay_opts {
    const char *policy_path, *against_path, *evidence_path;
    bool json;
    double min_agreement; /* < 0: not set */
};

static void usage(FILE *f) {
    fprintf(f, "usage: ratchetctl replay [--policy FILE] [--json] EVIDENCE.jsonl\n"
               "       ratchetctl replay --policy NEW.json --against OLD.json [--min-agreement PCT] EVIDENCE.jsonl\n"
               "EVIDENCE may be - for standard input. See docs/evidence.md.\n");
}

static void rt_replay_freep(struct rt_replay **r) { rt_replay_free(*r); }

static int load_policy(const char *path, struct rt_policy **out) {
    struct rt_policy_errors errs = {0};
    int r = path ? rt_policy_load_file(path, out, &errs) : rt_policy_default(out);
    if (r < 0)
        rt_jcheck_print_errors(stderr, path ? path : "(default)", &errs, r);
    return r;
}

/* Reads one line of at most RT_EVIDENCE_LINE_MAX bytes; longer lines are
 * consumed and reported as too long (*too_long). Returns length or -1 at EOF. */
static long read_line(FILE *f, char *buf, size_t cap, bool *too_long) {
    *too_long = false;
    if (!fgets(buf, (int)cap, f))
        return -1;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        return (long)n;
    }
    if (n + 1 < cap)
        return (long)n; /* last line without a newline */
    int ch;
    while ((ch = fgetc(f)) != EOF && ch != '\n')
        ;
    *too_long = true;
    return (long)n;
}

static bool skippable(const char *line) {
    while (*line == ' ' || *line == '\t' || *line == '\r')
        line++;
    return *line == '\0' || *line == '#';
}

/* Feeds every line to each replay; returns the number of malformed lines. */
static long feed_stream(FILE *f, const char *name, struct rt_replay **runs, size_t n_runs, int *fatal) {
    char line[RT_EVIDENCE_LINE_MAX + 2];
    long errors = 0, lineno = 0;
    bool too_long;
    while (read_line(f, line, sizeof(line), &too_long) >= 0) {
        lineno++;
        struct rt_evidence ev;
        char err[256];
        int r = too_long ? -EINVAL : 0;
        if (too_long)
            snprintf(err, sizeof(err), "line longer than %d bytes", RT_EVIDENCE_LINE_MAX);
        else if (skippable(line))
            continue;
        else
            r = rt_evidence_parse(line, strlen(line), &ev, err, sizeof(err));
        if (r < 0) {
            if (++errors <= MAX_REPORTED_ERRORS)
                fprintf(stderr, "%s:%ld: %s\n", name, lineno, err);
            continue;
        }
        for (size_t i = 0; i < n_runs && errors == 0; i++) {
            r = rt_replay_feed(runs[i], &ev);
            if (r < 0) {
                fprintf(stderr, "%s:%ld: %s\n", name, lineno, strerror(-r));
                *fatal = r;
                return errors + 1;
            }
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error\n", name);
        *fatal = -EIO;
        errors++;
    }
    if (errors > MAX_REPORTED_ERRORS)
        fprintf(stderr, "%s: %ld malformed lines in all\n", name, errors);
    return errors;
}

static void print_json(const struct rt_decision_rec *d, struct rt_strbuf *b) {
    rt_sb_reset(b);
    rt_sb_puts(b, "{\"ts\":");
    rt_sb_json_time(b, d->ts_us);
    rt_sb_puts(b, ",\"bot\":");
    rt_sb_json_str(b, d->bot);
    rt_sb_printf(b, ",\"condition\":\"%s\",\"action\":\"demote\",\"reason_code\":", rt_cond_name(d->cond));
    rt_sb_json_str(b, d->reason_code);
    rt_sb_puts(b, ",\"window_start\":");
    rt_sb_json_time(b, d->window_start_us);
    rt_sb_puts(b, ",\"window_seconds\":");
    rt_sb_json_seconds(b, d->window_us);
    rt_sb_puts(b, ",\"unknown_seconds\":");
    rt_sb_json_seconds(b, d->unknown_us);
    rt_sb_puts(b, ",\"evidence_ts\":");
    rt_sb_json_time(b, d->evidence_ts_us);
    rt_sb_puts(b, ",\"evidence_value\":");
    if (!d->evidence_known)
        rt_sb_puts(b, "null");
    else if (d->cond == RT_COND_P0_ALERT)
        rt_sb_puts(b, d->evidence_value != 0 ? "true" : "false");
    else
        rt_sb_json_num(b, d->evidence_value);
    rt_sb_puts(b, ",\"threshold\":");
    if (d->has_threshold)
        rt_sb_json_num(b, d->threshold);
    else
        rt_sb_puts(b, "null");
    rt_sb_puts(b, "}");
    if (!b->oom)
        printf("%s\n", b->s);
}

static void print_human(const struct rt_decision_list *l) {
    printf("%-27s %-20s %-12s %-27s %-8s %s\n", "DEMOTED AT", "BOT", "CONDITION", "WINDOW START",
           "UNKNOWN", "REASON");
    for (size_t i = 0; i < l->n; i++) {
        const struct rt_decision_rec *d = &l->v[i];
        char ts[RT_TIME_BUFSZ], ws[RT_TIME_BUFSZ], unk[RT_DURATION_BUFSZ];
        rt_time_format(d->ts_us, ts);
        rt_time_format(d->window_start_us, ws);
        rt_duration_format(d->unknown_us, unk);
        const struct rt_reason_info *info = rt_reason_find(d->reason_code);
        printf("%-27s %-20s %-12s %-27s %-8s %s\n", ts, d->bot, rt_cond_name(d->cond), ws, unk,
               d->reason_code);
        printf("    %s\n", info ? info->user_message : "(no message)");
    }
    printf("%zu demotion%s\n", l->n, l->n == 1 ? "" : "s");
}

static bool same_decision(const struct rt_decision_rec *a, const struct rt_decision_rec *b) {
    return a->ts_us == b->ts_us && a->cond == b->cond && strcmp(a->bot, b->bot) == 0;
}

static bool contains(const struct rt_decision_list *l, const struct rt_decision_rec *d) {
    for (size_t i = 0; i < l->n; i++)
        if (same_decision(&l->v[i], d))
            return true;
    return false;
}

static void print_divergence(const char *side, const struct rt_decision_rec *d) {
    char ts[RT_TIME_BUFSZ];
    rt_time_format(d->ts_us, ts);
    printf("  only in %s: %s %s %s\n", side, ts, d->bot, rt_cond_name(d->cond));
}

/* Agreement = identical decisions / distinct decisions in either run. */
static int print_agreement(const struct rt_decision_list *nw, const struct rt_decision_list *old,
                           double min_agreement) {
    size_t same = 0;
    for (size_t i = 0; i < nw->n; i++)
        same += contains(old, &nw->v[i]);
    size_t distinct = nw->n + old->n - same;
    double pct = distinct ? 100.0 * (double)same / (double)distinct : 100.0;
    printf("agreement: %.2f%% (%zu of %zu decisions identical; new %zu, old %zu)\n", pct, same,
           distinct, nw->n, old->n);
    if (same != distinct) {
        printf("divergences:\n");
        for (size_t i = 0; i < nw->n; i++)
            if (!contains(old, &nw->v[i]))
                print_divergence("NEW", &nw->v[i]);
        for (size_t i = 0; i < old->n; i++)
            if (!contains(nw, &old->v[i]))
                print_divergence("OLD", &old->v[i]);
    }
    if (min_agreement >= 0 && pct < min_agreement) {
        fprintf(stderr, "ratchetctl: replay: agreement %.2f%% is below --min-agreement %.2f%%\n",
                pct, min_agreement);
        return 1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct replay_opts *o) {
    static const struct option longopts[] = {
        {"policy", required_argument, NULL, 'p'}, {"against", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},         {"min-agreement", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    *o = (struct replay_opts){.min_agreement = -1};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'p': o->policy_path = optarg; break;
        case 'a': o->against_path = optarg; break;
        case 'j': o->json = true; break;
        case 'm':
            o->min_agreement = strtod(optarg, &end);
            if (*end || !(o->min_agreement >= 0 && o->min_agreement <= 100)) {
                fprintf(stderr, "ratchetctl: replay: --min-agreement takes a percentage 0-100\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || (o->min_agreement >= 0 && !o->against_path) ||
        (o->against_path && o->json)) {
        usage(stderr);
        return 2;
    }
    o->evidence_path = argv[optind];
    return -1; /* continue */
}

int cmd_replay_main(int argc, char **argv) {
    struct replay_opts o;
    int st = parse_opts(argc, argv, &o);
    if (st >= 0)
        return st;
    _cleanup_(rt_policy_freep) struct rt_policy *pol = NULL, *old_pol = NULL;
    if (load_policy(o.policy_path, &pol) < 0 || (o.against_path && load_policy(o.against_path, &old_pol) < 0))
        return 1;
    _cleanup_(rt_replay_freep) struct rt_replay *run = rt_replay_new(pol);
    _cleanup_(rt_replay_freep) struct rt_replay *old_run = old_pol ? rt_replay_new(old_pol) : NULL;
    if (!run || (old_pol && !old_run))
        return 1;
    bool use_stdin = strcmp(o.evidence_path, "-") == 0;
    _cleanup_fclose_ FILE *f = use_stdin ? NULL : fopen(o.evidence_path, "re");
    if (!use_stdin && !f) {
        fprintf(stderr, "ratchetctl: replay: %s: %s\n", o.evidence_path, strerror(errno));
        return 1;
    }
    struct rt_replay *runs[2] = {run, old_run};
    int fatal = 0;
    long errors = feed_stream(use_stdin ? stdin : f, o.evidence_path, runs, old_run ? 2 : 1, &fatal);
    if (errors > 0 || fatal) {
        fprintf(stderr, "ratchetctl: replay: %s: no decisions printed because of the errors above\n",
                o.evidence_path);
        return 1;
    }
    struct rt_decision_list nw = {0}, old = {0};
    int r = rt_replay_finish(run, &nw);
    if (r == 0 && old_run)
        r = rt_replay_finish(old_run, &old);
    if (r < 0) {
        fprintf(stderr, "ratchetctl: replay: %s\n", strerror(-r));
        st = 1;
    } else if (old_run) {
        st = print_agreement(&nw, &old, o.min_agreement);
    } else if (o.json) {
        struct rt_strbuf b = {0};
        for (size_t i = 0; i < nw.n; i++)
            print_json(&nw.v[i], &b);
        rt_sb_free(&b);
        st = 0;
    } else {
        print_human(&nw);
        st = 0;
    }
    rt_decision_list_free(&nw);
    rt_decision_list_free(&old);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "ratchetctl: replay: write error\n");
        return 1;
    }
    return st;
}
