/* The reconciliation-drift feed in both forms (feeds/drift.h): the feed's
 * own JSON document (rt_drift_parse) and a Prometheus response
 * (rt_drift_parse_prom, bot label "bot" and "venue_bot").
 * Invariants: documented return values only; a rejected document yields no
 * entries and at least one error, errors sorted by index, at most
 * RT_DRIFT_MAX_ERRORS; an accepted one has distinct valid bot ids, finite
 * known drifts (0 when unknown), finite tolerances >= 0, bounded units;
 * the Prometheus form is sorted by (bot, ts) and carries no tolerance. */
#include <errno.h>
#include <math.h>

#include "feeds/drift.h"
#include "fuzz/fuzz_common.h"

static void check_entry(const struct rt_drift_entry *e) {
    FZ_CHECK(fz_terminated(e->bot, sizeof e->bot) && rt_bot_id_valid(e->bot));
    FZ_CHECK(fz_terminated(e->unit, sizeof e->unit));
    FZ_CHECK(e->known ? isfinite(e->drift) : e->drift == 0);
    FZ_CHECK(!e->has_tolerance || (isfinite(e->tolerance) && e->tolerance >= 0));
}

static void check_doc(const uint8_t *data, size_t size) {
    struct rt_drift_feed f;
    struct rt_drift_errors errs;
    int r = rt_drift_parse((const char *)data, size, &f, &errs);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r == -EINVAL) {
        FZ_CHECK(f.n_entries == 0 && errs.n >= 1 && errs.n <= RT_DRIFT_MAX_ERRORS);
        for (size_t i = 0; i < errs.n; i++) {
            FZ_CHECK(fz_terminated(errs.e[i].text, sizeof errs.e[i].text) && errs.e[i].text[0]);
            FZ_CHECK(errs.e[i].index >= -1);
            /* the last entry may be the "N more" note */
            FZ_CHECK(i == 0 || i + 1 == RT_DRIFT_MAX_ERRORS || errs.e[i - 1].index <= errs.e[i].index);
        }
    }
    if (r == 0) {
        FZ_CHECK(f.n_entries <= RT_DRIFT_MAX_BOTS);
        for (size_t i = 0; i < f.n_entries; i++) {
            check_entry(&f.entries[i]);
            for (size_t j = 0; j < i && j < 64; j++)
                FZ_CHECK(strcmp(f.entries[i].bot, f.entries[j].bot) != 0);
        }
    }
    rt_drift_feed_clear(&f);
}

static void check_prom(const uint8_t *data, size_t size, const char *label) {
    struct rt_drift_feed f;
    struct rt_prom_result prom;
    int r = rt_drift_parse_prom((const char *)data, size, label, &f, &prom);
    FZ_CHECK(r == 0 || r == -EREMOTEIO || r == -EMEDIUMTYPE || r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
    if (r < 0)
        FZ_CHECK(f.n_entries == 0);
    for (size_t i = 0; i < f.n_entries; i++) {
        check_entry(&f.entries[i]);
        FZ_CHECK(!f.entries[i].has_tolerance);
        FZ_CHECK(f.entries[i].ts_us <= f.generated_at_us);
        if (i > 0) {
            int c = strcmp(f.entries[i - 1].bot, f.entries[i].bot);
            FZ_CHECK(c < 0 || (c == 0 && f.entries[i - 1].ts_us < f.entries[i].ts_us));
        }
    }
    rt_drift_feed_clear(&f);
    rt_prom_result_clear(&prom);
}

/* The parse calls again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_drift_feed f;
    struct rt_drift_errors errs;
    struct rt_prom_result prom;
    rt_drift_parse((const char *)data, size, &f, &errs);
    rt_drift_feed_clear(&f);
    rt_drift_parse_prom((const char *)data, size, NULL, &f, &prom);
    rt_drift_feed_clear(&f);
    rt_prom_result_clear(&prom);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_doc(data, size);
    check_prom(data, size, NULL);
    check_prom(data, size, "venue_bot");
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
