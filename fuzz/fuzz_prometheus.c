/* Prometheus HTTP API responses (feeds/prometheus.h rt_prom_parse), with two
 * option sets (default bot label and MAX merge; label "instance", MAX_ABS
 * merge and a 3-sample cap), the runtimeinfo parser
 * (rt_prom_parse_start_time) and the sample-value parser.
 * Invariants: the same answer, field for field, as rt_prom_parse_jansson()
 * (every series through jansson, without the vector scanner); documented
 * return values only; on failure no samples and zero
 * counts; on success samples strictly sorted by (bot, ts), valid bot ids,
 * known values finite and unknown ones 0, at most max_samples, skip counts
 * within the series count; a type only on success or after the type was
 * read; every text field NUL-terminated. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "feeds/prometheus.h"
#include "fuzz/fuzz_common.h"
#include "policy/policy.h"

static void check_result(int r, const struct rt_prom_result *res, size_t max) {
    FZ_CHECK(r == 0 || r == -EREMOTEIO || r == -EMEDIUMTYPE || r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
    FZ_CHECK(fz_terminated(res->warning, sizeof res->warning) && fz_terminated(res->error_type, sizeof res->error_type) &&
             fz_terminated(res->error, sizeof res->error) && fz_terminated(res->message, sizeof res->message));
    FZ_CHECK(res->type <= RT_PROM_TYPE_STRING);
    if (r < 0) {
        FZ_CHECK(res->n_samples == 0 && res->n_series == 0 && res->no_bot == 0 && res->invalid_bot == 0 &&
                 res->bad_series == 0 && res->duplicates == 0);
        FZ_CHECK(r != -EMEDIUMTYPE || res->type == RT_PROM_TYPE_SCALAR || res->type == RT_PROM_TYPE_STRING);
        return;
    }
    FZ_CHECK(res->type == RT_PROM_TYPE_VECTOR || res->type == RT_PROM_TYPE_MATRIX);
    FZ_CHECK(res->n_samples <= max);
    FZ_CHECK(res->no_bot + res->invalid_bot + res->bad_series <= res->n_series);
    for (size_t i = 0; i < res->n_samples; i++) {
        const struct rt_prom_sample *s = &res->samples[i];
        FZ_CHECK(s->bot && rt_bot_id_valid(s->bot));
        FZ_CHECK(s->known ? isfinite(s->value) : s->value == 0);
        if (i > 0) {
            int c = strcmp(res->samples[i - 1].bot, s->bot);
            FZ_CHECK(c < 0 || (c == 0 && res->samples[i - 1].ts_us < s->ts_us));
        }
    }
}

/* The scanner of usual vector series must give jansson's answer exactly. */
static void check_same(int ra, const struct rt_prom_result *a, int rb, const struct rt_prom_result *b) {
    FZ_CHECK(ra == rb && a->type == b->type && a->n_samples == b->n_samples && a->n_series == b->n_series);
    FZ_CHECK(a->no_bot == b->no_bot && a->invalid_bot == b->invalid_bot && a->bad_series == b->bad_series &&
             a->duplicates == b->duplicates && a->n_warnings == b->n_warnings);
    FZ_CHECK(strcmp(a->warning, b->warning) == 0 && strcmp(a->error_type, b->error_type) == 0 &&
             strcmp(a->error, b->error) == 0 && strcmp(a->message, b->message) == 0);
    for (size_t i = 0; i < a->n_samples; i++) {
        const struct rt_prom_sample *x = &a->samples[i], *y = &b->samples[i];
        FZ_CHECK(strcmp(x->bot, y->bot) == 0 && x->ts_us == y->ts_us && x->known == y->known &&
                 memcmp(&x->value, &y->value, sizeof x->value) == 0);
    }
}

static void parse_with(const uint8_t *data, size_t size, const struct rt_prom_opts *o, size_t max) {
    struct rt_prom_result res, ref;
    int r = rt_prom_parse((const char *)data, size, o, &res);
    check_result(r, &res, max);
    int rr = rt_prom_parse_jansson((const char *)data, size, o, &ref);
    check_same(r, &res, rr, &ref);
    rt_prom_result_clear(&res);
    rt_prom_result_clear(&ref);
    FZ_CHECK(res.samples == NULL && res.n_samples == 0);
}

/* The parse calls again, for fz_alloc_failure_pass (no invariants). */
static void parse_only(const uint8_t *data, size_t size) {
    struct rt_prom_opts a = {.bot_label = NULL, .merge = RT_PROM_MERGE_MAX};
    struct rt_prom_opts b = {.bot_label = "instance", .merge = RT_PROM_MERGE_MAX_ABS, .max_samples = 3};
    struct rt_prom_result res;
    rt_prom_parse((const char *)data, size, &a, &res);
    rt_prom_result_clear(&res);
    rt_prom_parse((const char *)data, size, &b, &res);
    rt_prom_result_clear(&res);
    int64_t start;
    rt_prom_parse_start_time((const char *)data, size, &start);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct rt_prom_opts a = {.bot_label = NULL, .merge = RT_PROM_MERGE_MAX};
    struct rt_prom_opts b = {.bot_label = "instance", .merge = RT_PROM_MERGE_MAX_ABS, .max_samples = 3};
    parse_with(data, size, &a, RT_PROM_MAX_SAMPLES);
    parse_with(data, size, &b, 3);

    int64_t start = 0;
    int r = rt_prom_parse_start_time((const char *)data, size, &start);
    FZ_CHECK(r == 0 || r == -EBADMSG);

    if (size <= 64) {
        char *s = fz_cstr(data, size);
        bool known = true;
        double v = 1;
        r = rt_prom_parse_value(s, &known, &v);
        FZ_CHECK(r == 0 || r == -EINVAL);
        FZ_CHECK(r < 0 || !known || isfinite(v));
        free(s);
    }
    fz_alloc_failure_pass(parse_only, data, size);
    return 0;
}
