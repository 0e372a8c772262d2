/* Replay over an evidence stream (policy/replay.h), as `ratchetctl replay`
 * runs it: the input is JSON lines; blank and '#' lines are skipped, lines
 * rt_evidence_parse refuses are counted and skipped, the others are fed in
 * arrival order; run under the default policy and under a policy of
 * second-long windows (so short streams demote).
 * Invariants: the engine refuses no parsed evidence; decisions come out
 * sorted by (ts, bot, condition); none is early (ts >= window_start +
 * window), each window is the policy's for that bot and condition, the
 * unknown time fits inside the window's span, the evidence in force is not
 * from the future, and the reason code is the condition's. Then a failure
 * pass (fuzz_common.h) makes one of the engine's allocations fail. */
#include <errno.h>

#include "fuzz/fuzz_common.h"
#include "policy/replay.h"

#define MAX_LINES 512

static struct rt_policy *policies[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char small[] =
        "{\"version\":1,\"conditions\":{"
        "\"p0_alert\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\"},"
        "\"error_rate\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\",\"on_unknown\":\"reset\"},"
        "\"recon_drift\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\",\"tolerance\":100},"
        "\"cvss\":{\"window\":\"10s\",\"max_evidence_age\":\"5s\",\"on_unknown\":\"breach\"}},"
        "\"bots\":{\"alpha\":{\"cvss\":{\"window\":\"3s\"}}}}";
    struct rt_policy_errors errs;
    if (rt_policy_default(&policies[0]) < 0 || rt_policy_parse(small, sizeof small - 1, &policies[1], &errs) < 0)
        abort();
    return 0;
}

static bool skippable(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    return i == n || s[i] == '#';
}

static void check_decisions(const struct rt_policy *p, const struct rt_decision_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        const struct rt_decision_rec *d = &l->v[i];
        FZ_CHECK(rt_bot_id_valid(d->bot) && d->cond < RT_COND_COUNT);
        const struct rt_cond_policy *cp = rt_policy_cond(p, d->bot, d->cond);
        FZ_CHECK(cp && cp->enabled && d->window_us == cp->window_us);
        FZ_CHECK(d->ts_us >= d->window_start_us + d->window_us);
        FZ_CHECK(d->unknown_us >= 0 && d->unknown_us <= d->ts_us - d->window_start_us);
        FZ_CHECK(d->evidence_ts_us <= d->ts_us);
        FZ_CHECK(d->reason_code && strncmp(d->reason_code, "demote.", 7) == 0 &&
                 strcmp(d->reason_code + 7, rt_cond_name(d->cond)) == 0);
        if (i > 0) {
            const struct rt_decision_rec *e = &l->v[i - 1];
            int c = strcmp(e->bot, d->bot);
            FZ_CHECK(e->ts_us < d->ts_us || (e->ts_us == d->ts_us && (c < 0 || (c == 0 && e->cond <= d->cond))));
        }
    }
}

static void run(const struct rt_policy *p, const char *text, size_t size) {
    struct rt_replay *rp = rt_replay_new(p);
    FZ_CHECK(rp != NULL);
    size_t lines = 0;
    for (size_t off = 0; off < size && lines < MAX_LINES; lines++) {
        const char *nl = memchr(text + off, '\n', size - off);
        size_t len = (size_t)((nl ? nl : text + size) - (text + off));
        const char *line = text + off;
        off += len + 1;
        if (skippable(line, len))
            continue;
        struct rt_evidence ev;
        char err[256];
        if (rt_evidence_parse(line, len, &ev, err, sizeof err) < 0)
            continue;
        int r = rt_replay_feed(rp, &ev);
        FZ_CHECK(r == 0);
    }
    struct rt_decision_list out = {0};
    FZ_CHECK(rt_replay_finish(rp, &out) == 0);
    check_decisions(p, &out);
    rt_decision_list_free(&out);
    rt_replay_free(rp);
}

/* The replay again, for fz_alloc_failure_pass: no invariants, but every
 * error path of the engine and the replay must free what it took. */
static void replay_only(const uint8_t *data, size_t size) {
    struct rt_replay *rp = rt_replay_new(policies[1]);
    if (!rp)
        return;
    const char *text = (const char *)data;
    size_t lines = 0;
    int r = 0;
    for (size_t off = 0; off < size && lines < MAX_LINES && r == 0; lines++) {
        const char *nl = memchr(text + off, '\n', size - off);
        size_t len = (size_t)((nl ? nl : text + size) - (text + off));
        struct rt_evidence ev;
        char err[256];
        if (!skippable(text + off, len) && rt_evidence_parse(text + off, len, &ev, err, sizeof err) == 0)
            r = rt_replay_feed(rp, &ev);
        off += len + 1;
    }
    struct rt_decision_list out = {0};
    if (r == 0)
        rt_replay_finish(rp, &out);
    rt_decision_list_free(&out);
    rt_replay_free(rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (size_t i = 0; i < 2; i++)
        run(policies[i], (const char *)data, size);
    fz_alloc_failure_pass(replay_only, data, size);
    return 0;
}
