/* Evidence-stream lines: parsing, errors, and format round trip. */
#include <errno.h>
#include <string.h>

#include "policy/evidence.h"
#include "tests/unit/harness.h"

static int parse(const char *line, struct rt_evidence *ev, char *err) {
    return rt_evidence_parse(line, strlen(line), ev, err, 256);
}

TEST(parses_each_condition) {
    struct rt_evidence ev;
    char err[256];
    REQUIRE(parse("{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"alpha\",\"condition\":\"p0_alert\",\"value\":true}", &ev, err) == 0);
    CHECK_EQ_INT(ev.kind, RT_EVIDENCE_OBS);
    CHECK_EQ_INT(ev.cond, RT_COND_P0_ALERT);
    CHECK(ev.known && ev.value == 1);
    REQUIRE(parse("{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"error_rate\",\"value\":0.02,\"source\":\"prometheus\"}", &ev, err) == 0);
    CHECK_NEAR(ev.value, 0.02, 0);
    CHECK_EQ_STR(ev.source, "prometheus");
    REQUIRE(parse("{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"recon_drift\",\"value\":-12.5,\"tolerance\":10}", &ev, err) == 0);
    CHECK(ev.has_tolerance && ev.tolerance == 10 && ev.value == -12.5);
    REQUIRE(parse("{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":9.8,\"detail\":\"CVE-2021-44228\"}", &ev, err) == 0);
    CHECK_EQ_STR(ev.detail, "CVE-2021-44228");
    REQUIRE(parse("{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":null}", &ev, err) == 0);
    CHECK(!ev.known);
    REQUIRE(parse("{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"readiness\":\"limited_live\"}", &ev, err) == 0);
    CHECK_EQ_INT(ev.kind, RT_EVIDENCE_READINESS);
    CHECK_EQ_INT(ev.readiness, RT_READY_LIMITED_LIVE);
}

TEST(rejects_bad_lines_with_a_reason) {
    static const struct { const char *line, *want; } cases[] = {
        {"{", "invalid JSON"},
        {"[1,2]", "expected a JSON object"},
        {"{\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1}", "ts: missing"},
        {"{\"ts\":5,\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1}", "ts: expected a string"},
        {"{\"ts\":\"yesterday\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1}", "ts: not an RFC 3339"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a b\",\"condition\":\"cvss\",\"value\":1}", "bot: invalid id"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"uptime\",\"value\":1}", "condition: unknown"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\"}", "value: missing"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"p0_alert\",\"value\":1}", "value: expected true, false or null"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"error_rate\",\"value\":\"0.1\"}", "value: expected a number"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"error_rate\",\"value\":-0.1}", "cannot be negative"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":10.1}", "between 0 and 10"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1,\"tolerance\":1}", "tolerance: only recon_drift"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"recon_drift\",\"value\":1,\"tolerance\":-1}", "tolerance: expected a number >= 0"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1,\"colour\":1}", "colour: unknown key"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1,\"value\":2}", "invalid JSON"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":1e999}", "invalid JSON"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"readiness\":\"shadow\"}", "readiness: expected"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"readiness\":\"other\",\"value\":1}", "value: unknown key"},
        {"{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\\u0000b\",\"condition\":\"cvss\",\"value\":1}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt_evidence ev;
        char err[256] = "";
        int r = parse(cases[i].line, &ev, err);
        if (r != -EINVAL || !strstr(err, cases[i].want))
            fprintf(stderr, "    case %zu: r=%d err=\"%s\" want \"%s\"\n", i, r, err, cases[i].want);
        CHECK(r == -EINVAL && strstr(err, cases[i].want));
    }
}

TEST(oversized_line_is_refused) {
    static char line[RT_EVIDENCE_LINE_MAX + 100];
    memset(line, ' ', sizeof(line) - 1);
    struct rt_evidence ev;
    char err[256];
    CHECK_EQ_INT(rt_evidence_parse(line, sizeof(line) - 1, &ev, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "longer than") != NULL);
}

TEST(format_then_parse_is_identity) {
    static const char *const lines[] = {
        "{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"alpha\",\"condition\":\"p0_alert\",\"value\":true}",
        "{\"ts\":\"2026-11-02T10:00:00.250Z\",\"bot\":\"a.b-c:d_e\",\"condition\":\"error_rate\",\"value\":0.0123,\"source\":\"prometheus\"}",
        "{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"recon_drift\",\"value\":-12.5,\"tolerance\":10,\"detail\":\"q\\\"uote\"}",
        "{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"condition\":\"cvss\",\"value\":null}",
        "{\"ts\":\"2026-11-02T10:00:00Z\",\"bot\":\"a\",\"readiness\":\"general_live\"}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct rt_evidence ev;
        char err[256], out[RT_EVIDENCE_LINE_MAX + 1];
        REQUIRE(parse(lines[i], &ev, err) == 0);
        int n = rt_evidence_format(&ev, out, sizeof(out));
        REQUIRE(n > 0);
        CHECK_EQ_STR(out, lines[i]);
    }
    struct rt_evidence ev;
    char err[256], tiny[8];
    REQUIRE(parse(lines[0], &ev, err) == 0);
    CHECK_EQ_INT(rt_evidence_format(&ev, tiny, sizeof(tiny)), -ENOBUFS);
}

TEST_MAIN()
