/* Evidence-stream lines (policy/evidence.h rt_evidence_parse) and their
 * canonical form (rt_evidence_format).
 * Invariants: 0 or -EINVAL with a reason; an accepted line has a valid bot,
 * a known condition or readiness, finite values within the condition's
 * range; format -> parse gives back the same evidence (the header's
 * promise: "Parsing the output yields ev"), and formatting that again gives
 * the same bytes. */
#include <errno.h>
#include <math.h>

#include "fuzz/fuzz_common.h"
#include "policy/evidence.h"

static bool same(const struct rt_evidence *a, const struct rt_evidence *b) {
    if (a->kind != b->kind || a->ts_us != b->ts_us || strcmp(a->bot, b->bot) != 0)
        return false;
    if (a->kind == RT_EVIDENCE_READINESS)
        return a->readiness == b->readiness;
    return a->cond == b->cond && a->known == b->known && (!a->known || a->value == b->value) &&
           a->has_tolerance == b->has_tolerance && (!a->has_tolerance || a->tolerance == b->tolerance) &&
           strcmp(a->source, b->source) == 0 && strcmp(a->detail, b->detail) == 0;
}

static void check_valid(const struct rt_evidence *ev) {
    FZ_CHECK(fz_terminated(ev->bot, sizeof ev->bot) && rt_bot_id_valid(ev->bot));
    if (ev->kind == RT_EVIDENCE_READINESS) {
        FZ_CHECK(ev->readiness <= RT_READY_OTHER);
        return;
    }
    FZ_CHECK(ev->kind == RT_EVIDENCE_OBS && ev->cond < RT_COND_COUNT);
    FZ_CHECK(fz_terminated(ev->source, sizeof ev->source) && fz_terminated(ev->detail, sizeof ev->detail));
    if (ev->known) {
        FZ_CHECK(isfinite(ev->value));
        FZ_CHECK(ev->cond != RT_COND_P0_ALERT || ev->value == 0 || ev->value == 1);
        FZ_CHECK(ev->cond != RT_COND_ERROR_RATE || ev->value >= 0);
        FZ_CHECK(ev->cond != RT_COND_CVSS || (ev->value >= 0 && ev->value <= 10));
    }
    FZ_CHECK(!ev->has_tolerance || (ev->cond == RT_COND_RECON_DRIFT && isfinite(ev->tolerance) && ev->tolerance >= 0));
}

static void check(const uint8_t *data, size_t size) {
    struct rt_evidence ev, again;
    char err[256];
    err[0] = '\0';
    int r = rt_evidence_parse((const char *)data, size, &ev, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EINVAL);
    FZ_CHECK(fz_terminated(err, sizeof err));
    if (r < 0) {
        FZ_CHECK(err[0]);
        return;
    }
    check_valid(&ev);
    static char line[4 * RT_EVIDENCE_LINE_MAX], line2[4 * RT_EVIDENCE_LINE_MAX];
    int n = rt_evidence_format(&ev, line, sizeof line);
    FZ_CHECK(n > 0);
    r = rt_evidence_parse(line, (size_t)n, &again, err, sizeof err);
    if (r != 0)
        fprintf(stderr, "canonical line does not parse (%s): %s\n", err, line);
    FZ_CHECK(r == 0);
    FZ_CHECK(same(&ev, &again));
    int n2 = rt_evidence_format(&again, line2, sizeof line2);
    FZ_CHECK(n2 == n && memcmp(line, line2, (size_t)n) == 0);
}

/* The parse call again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_evidence ev;
    char err[256];
    rt_evidence_parse((const char *)data, size, &ev, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size);
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
