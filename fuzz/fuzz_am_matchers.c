/* Alertmanager/Prometheus label matchers (rt_am_matchers_parse), the P0
 * condition of the watchdog's configuration.
 * Invariants: on success at most RT_AM_MAX_MATCHERS matchers with valid
 * label names, and each one's canonical text (rt_am_matcher_format) parses
 * back to the same matcher; a missing label matches as ""; an equality
 * matcher matches its own value and an inequality one does not. */
#include <errno.h>

#include "feeds/alertmanager.h"
#include "fuzz/fuzz_common.h"

#define MAX_TEXT (RT_AM_MATCHERS_TEXT_MAX + 64)

static void check_roundtrip(const struct rt_am_matcher *m) {
    char text[2 * RT_AM_MATCHER_VALUE_MAX + RT_AM_LABEL_NAME_MAX + 16], err[RT_AM_ERR_MAX];
    int n = rt_am_matcher_format(m, text, sizeof text);
    FZ_CHECK(n > 0 && (size_t)n == strlen(text));
    struct rt_am_matchers again;
    int r = rt_am_matchers_parse(text, &again, err, sizeof err);
    if (r == -ENOMEM)
        return;
    if (r != 0)
        fprintf(stderr, "canonical text \"%s\" does not parse: %s\n", text, err);
    FZ_CHECK(r == 0);
    FZ_CHECK(again.n == 1);
    FZ_CHECK(again.m[0].op == m->op && strcmp(again.m[0].name, m->name) == 0 &&
             strcmp(again.m[0].value, m->value) == 0 && again.m[0].has_re == m->has_re);
    rt_am_matchers_free(&again);
}

static void check_match(const struct rt_am_matcher *m) {
    FZ_CHECK(rt_am_matcher_match(m, NULL) == rt_am_matcher_match(m, ""));
    if (m->op == RT_AM_MATCH_EQ)
        FZ_CHECK(rt_am_matcher_match(m, m->value));
    if (m->op == RT_AM_MATCH_NE)
        FZ_CHECK(!rt_am_matcher_match(m, m->value));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_TEXT)
        return 0;
    char *text = fz_cstr(data, size);
    struct rt_am_matchers m;
    char err[RT_AM_ERR_MAX];
    int r = rt_am_matchers_parse(text, &m, err, sizeof err);
    FZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    FZ_CHECK(fz_terminated(err, sizeof err));
    if (r == 0) {
        FZ_CHECK(m.n <= RT_AM_MAX_MATCHERS);
        for (size_t i = 0; i < m.n; i++) {
            FZ_CHECK(rt_am_label_name_valid(m.m[i].name));
            FZ_CHECK(m.m[i].has_re == (m.m[i].op == RT_AM_MATCH_RE || m.m[i].op == RT_AM_MATCH_NRE));
            check_roundtrip(&m.m[i]);
            check_match(&m.m[i]);
        }
        rt_am_matchers_free(&m);
    }
    free(text);
    return 0;
}
