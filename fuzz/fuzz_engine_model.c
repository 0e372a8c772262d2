/* The window engine against the reference model (differential): the
 * property test of tests/unit/test_property.c, with the fuzzer choosing the
 * cases instead of a seeded generator, so that coverage guides it to the
 * corners (equal timestamps, evidence going stale exactly at the deadline,
 * readiness changes at a completion, thresholds hit exactly).
 *
 * The input is a program: a policy (per condition window, evidence age,
 * on_unknown and threshold or tolerance from the boundary values of
 * test_property.c, optional per-bot overrides), written as a policy file and
 * parsed by rt_policy_parse, and a stream of observations and readiness
 * changes in seconds, mostly in time order with some late ones. The model
 * (tests/unit/refmodel.c, written from docs/policy.md, not from the engine)
 * and rt_replay run it; streams outside the model's domain are skipped, and
 * general_live changes that find the bot already in General live are
 * dropped (the doc leaves them open), as the property test does.
 * Invariant: the engine's decisions equal the model's, field by field. */
#include <errno.h>
#include <inttypes.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "fuzz/fuzz_common.h"
#include "policy/replay.h"
#include "tests/unit/refmodel.h"

#define MAX_BOTS 3
#define MAX_ITEMS 160
#define MAX_TS 400
#define DEC_MAX (RM_MAX_BOTS + RM_MAX_ITEMS)
#define SEC RT_USEC_PER_SEC

static const char *const names[MAX_BOTS] = {"arb-btc-2", "mm-eth-01", "mm.sol:3"}; /* sorted */
static const double er_values[] = {0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.5, 0.6, 1.0};
static const double er_thresholds[] = {0, 0.01, 0.02, 0.5};
static const double cvss_values[] = {0, 3.5, 5.0, 6.9, 7.0, 7.1, 9.0, 9.8, 10.0};
static const double cvss_thresholds[] = {0, 5.0, 7.0, 9.0};
static const double drift_values[] = {0, 50, -50, 100, -100, 250, -250, 260, -1000};
static const double tolerances[] = {0, 100, 250};

#define PICK(in, arr) ((arr)[fz_u8(in) % ELEMENTSOF(arr)])

struct model_case {
    struct rm_policy policy;
    struct rt_strbuf json;
    size_t n_bots, n;
    struct rm_item items[MAX_ITEMS];
};

/* One condition's keys (every key, so the file states the whole policy). */
static void gen_cond(struct fz_in *in, enum rt_cond c, struct rm_cond_policy *cp, struct rt_strbuf *j) {
    cp->window_s = 1 + fz_u8(in) % 60;
    cp->max_age_s = 1 + fz_u8(in) % 30;
    cp->on_unknown = (enum rt_on_unknown)(fz_u8(in) % 3);
    rt_sb_printf(j, "\"%s\":{\"window\":\"%" PRId64 "s\",\"max_evidence_age\":\"%" PRId64 "s\",\"on_unknown\":\"%s\"",
                 rt_cond_name(c), cp->window_s, cp->max_age_s, rt_on_unknown_name(cp->on_unknown));
    cp->has_threshold = c != RT_COND_P0_ALERT;
    if (c == RT_COND_ERROR_RATE)
        cp->threshold = PICK(in, er_thresholds);
    else if (c == RT_COND_CVSS)
        cp->threshold = PICK(in, cvss_thresholds);
    else if (c == RT_COND_RECON_DRIFT) {
        uint8_t t = fz_u8(in);
        cp->has_threshold = t % 4 != 3;
        cp->threshold = tolerances[t % 3];
    }
    if (cp->has_threshold) {
        rt_sb_printf(j, ",\"%s\":", c == RT_COND_RECON_DRIFT ? "tolerance" : "threshold");
        rt_sb_json_num(j, cp->threshold);
    } else if (c == RT_COND_RECON_DRIFT) {
        rt_sb_puts(j, ",\"tolerance\":null");
    }
    rt_sb_puts(j, "}");
}

static void gen_policy(struct fz_in *in, struct model_case *mc) {
    struct rm_cond_policy global[RT_COND_COUNT];
    rt_sb_puts(&mc->json, "{\"version\":1,\"conditions\":{");
    for (int c = 0; c < RT_COND_COUNT; c++) {
        if (c)
            rt_sb_puts(&mc->json, ",");
        gen_cond(in, (enum rt_cond)c, &global[c], &mc->json);
    }
    rt_sb_puts(&mc->json, "},\"bots\":{");
    mc->policy.n_bots = mc->n_bots;
    const char *sep = "";
    uint8_t overrides = fz_u8(in);
    for (size_t b = 0; b < mc->n_bots; b++) {
        memcpy(mc->policy.cond[b], global, sizeof global);
        if (!(overrides >> b & 1))
            continue;
        uint8_t which = fz_u8(in) % (1 << RT_COND_COUNT);
        rt_sb_printf(&mc->json, "%s\"%s\":{", sep, names[b]);
        sep = ",";
        const char *csep = "";
        for (int c = 0; c < RT_COND_COUNT; c++) {
            if (!(which >> c & 1))
                continue;
            rt_sb_puts(&mc->json, csep);
            csep = ",";
            gen_cond(in, (enum rt_cond)c, &mc->policy.cond[b][c], &mc->json);
        }
        rt_sb_puts(&mc->json, "}");
    }
    rt_sb_puts(&mc->json, "}}");
}

static struct rm_item gen_obs(struct fz_in *in, unsigned bot, int64_t ts) {
    uint8_t k = fz_u8(in);
    struct rm_item it = {.bot = bot, .cond = (enum rt_cond)(k % RT_COND_COUNT), .ts = ts, .known = (k >> 2) % 8 != 0};
    switch (it.cond) {
    case RT_COND_P0_ALERT: it.value = (k >> 5) & 1; break;
    case RT_COND_ERROR_RATE: it.value = PICK(in, er_values); break;
    case RT_COND_CVSS: it.value = PICK(in, cvss_values); break;
    default: {
        it.value = PICK(in, drift_values);
        uint8_t t = fz_u8(in);
        it.has_tolerance = t % 3 == 0;
        it.tolerance = tolerances[t % 3];
        break;
    }
    }
    if (!it.known)
        it.value = 0;
    return it;
}

static void gen_items(struct fz_in *in, struct model_case *mc) {
    int64_t now = fz_u8(in) % 20;
    while (mc->n < MAX_ITEMS && in->n > 0 && now <= MAX_TS) {
        uint8_t op = fz_u8(in);
        unsigned bot = (unsigned)(op % mc->n_bots);
        int64_t step = (op >> 2) % 8; /* 0..7 s */
        switch (op >> 5) {
        case 0: /* readiness change */
            mc->items[mc->n++] = (struct rm_item){.is_readiness = true, .bot = bot, .ts = now,
                                                  .readiness = (enum rt_readiness)(fz_u8(in) % 3)};
            break;
        case 1: { /* a late observation: does not move time */
            int64_t back = fz_u8(in) % 26;
            mc->items[mc->n++] = gen_obs(in, bot, now > back ? now - back : 0);
            continue;
        }
        case 2: /* a long gap */
            step += 8 + fz_u8(in) % 28;
            /* fall through */
        default:
            mc->items[mc->n++] = gen_obs(in, bot, now);
            break;
        }
        now += step;
    }
}

static void to_evidence(const struct rm_item *it, struct rt_evidence *ev) {
    memset(ev, 0, sizeof *ev);
    ev->kind = it->is_readiness ? RT_EVIDENCE_READINESS : RT_EVIDENCE_OBS;
    ev->ts_us = it->ts * SEC;
    rt_strlcpy(ev->bot, names[it->bot], sizeof ev->bot);
    ev->cond = it->cond;
    ev->known = it->known;
    ev->value = it->value;
    ev->has_tolerance = it->has_tolerance;
    ev->tolerance = it->tolerance;
    ev->readiness = it->readiness;
}

static void report(const struct model_case *mc, const struct rm_decision *m, size_t n_m,
                   const struct rt_decision_list *eng) {
    fprintf(stderr, "engine and model disagree\npolicy: %s\nitems:\n", mc->json.s);
    for (size_t i = 0; i < mc->n; i++) {
        struct rt_evidence ev;
        char line[RT_EVIDENCE_LINE_MAX];
        to_evidence(&mc->items[i], &ev);
        if (rt_evidence_format(&ev, line, sizeof line) > 0)
            fprintf(stderr, "  t=%" PRId64 " %s\n", mc->items[i].ts, line);
    }
    fprintf(stderr, "model (%zu):\n", n_m);
    for (size_t i = 0; i < n_m; i++)
        fprintf(stderr, "  t=%" PRId64 " %s %s start=%" PRId64 " window=%" PRId64 " unknown=%" PRId64 "\n", m[i].ts,
                names[m[i].bot], rt_cond_name(m[i].cond), m[i].window_start, m[i].window_s, m[i].unknown_s);
    fprintf(stderr, "engine (%zu):\n", eng->n);
    for (size_t i = 0; i < eng->n; i++) {
        const struct rt_decision_rec *d = &eng->v[i];
        fprintf(stderr, "  t=%g %s %s start=%g window=%g unknown=%g\n", (double)d->ts_us / SEC, d->bot,
                rt_cond_name(d->cond), (double)d->window_start_us / SEC, (double)d->window_us / SEC,
                (double)d->unknown_us / SEC);
    }
}

static bool same(const struct rm_decision *m, size_t n_m, const struct rt_decision_list *eng) {
    if (eng->n != n_m)
        return false;
    for (size_t i = 0; i < n_m; i++) {
        const struct rt_decision_rec *d = &eng->v[i];
        if (strcmp(d->bot, names[m[i].bot]) != 0 || d->cond != m[i].cond || d->ts_us != m[i].ts * SEC ||
            d->window_start_us != m[i].window_start * SEC || d->window_us != m[i].window_s * SEC ||
            d->unknown_us != m[i].unknown_s * SEC)
            return false;
    }
    return true;
}

/* Runs the model, dropping no-op promotions first. -1: outside its domain. */
static int run_model(struct model_case *mc, struct rm_decision *out, size_t *n_out) {
    bool noop[MAX_ITEMS];
    int r = rm_run(&mc->policy, mc->items, mc->n, out, DEC_MAX, n_out, noop);
    if (r < 0)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < mc->n; i++)
        if (!noop[i])
            mc->items[k++] = mc->items[i];
    if (k == mc->n)
        return 0;
    mc->n = k;
    return rm_run(&mc->policy, mc->items, mc->n, out, DEC_MAX, n_out, NULL) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    static struct model_case mc;
    static struct rm_decision model[DEC_MAX];
    static struct rt_evidence ev[MAX_ITEMS];
    memset(&mc.policy, 0, sizeof mc.policy);
    mc.json = (struct rt_strbuf){0};
    mc.n = 0;
    mc.n_bots = 1 + fz_u8(&in) % MAX_BOTS;
    gen_policy(&in, &mc);
    gen_items(&in, &mc);
    FZ_CHECK(!mc.json.oom);

    struct rt_policy *pol = NULL;
    struct rt_policy_errors errs;
    int r = rt_policy_parse(mc.json.s, mc.json.len, &pol, &errs);
    if (r != 0)
        fprintf(stderr, "generated policy refused: %s\n%s\n", errs.n ? errs.e[0].text : "", mc.json.s);
    FZ_CHECK(r == 0);

    size_t n_model = 0;
    if (run_model(&mc, model, &n_model) == 0) {
        for (size_t i = 0; i < mc.n; i++)
            to_evidence(&mc.items[i], &ev[i]);
        struct rt_decision_list eng = {0};
        FZ_CHECK(rt_replay(pol, ev, mc.n, &eng) == 0);
        if (!same(model, n_model, &eng))
            report(&mc, model, n_model, &eng);
        FZ_CHECK(same(model, n_model, &eng));
        rt_decision_list_free(&eng);
    }
    rt_policy_free(pol);
    rt_sb_free(&mc.json);
    return 0;
}
