/* The bot registry format. */
#include <errno.h>
#include <string.h>

#include "feeds/registry.h"
#include "tests/unit/harness.h"

static int parse(const char *text, struct rt_registry *r, char *err) {
    return rt_registry_parse(text, strlen(text), r, err, 256);
}

TEST(parses_and_finds) {
    struct rt_registry r;
    char err[256];
    REQUIRE(parse("{\"version\":1,\"bots\":[{\"id\":\"zeta\",\"readiness\":\"general_live\"},"
                  "{\"id\":\"alpha\",\"readiness\":\"limited_live\",\"since\":\"2026-11-01T00:00:00Z\"}]}",
                  &r, err) == 0);
    CHECK_EQ_INT(r.n, 2);
    const struct rt_registry_entry *a = rt_registry_find(&r, "alpha");
    REQUIRE(a != NULL);
    CHECK_EQ_INT(a->readiness, RT_READY_LIMITED_LIVE);
    CHECK(a->has_since && a->since_us == INT64_C(1793491200000000));
    const struct rt_registry_entry *z = rt_registry_find(&r, "zeta");
    REQUIRE(z != NULL);
    CHECK(!z->has_since);
    CHECK(rt_registry_find(&r, "nobody") == NULL);
    rt_registry_free(&r);
    REQUIRE(parse("{\"version\":1,\"bots\":[]}", &r, err) == 0);
    CHECK_EQ_INT(r.n, 0);
    CHECK(rt_registry_find(&r, "x") == NULL);
    rt_registry_free(&r);
}

TEST(rejects_bad_registries) {
    static const struct { const char *text, *want; } cases[] = {
        {"", "invalid JSON"},
        {"[]", "expected {"},
        {"{\"bots\":[]}", "expected {"},
        {"{\"version\":2,\"bots\":[]}", "expected {"},
        {"{\"version\":1,\"bots\":[],\"extra\":1}", "expected {"},
        {"{\"version\":1,\"bots\":[1]}", "bots[0]: expected an object"},
        {"{\"version\":1,\"bots\":[{\"id\":\"a b\",\"readiness\":\"other\"}]}", "bots[0].id"},
        {"{\"version\":1,\"bots\":[{\"id\":\"a\",\"readiness\":\"shadow\"}]}", "bots[0].readiness"},
        {"{\"version\":1,\"bots\":[{\"id\":\"a\",\"readiness\":\"other\",\"since\":5}]}", "bots[0].since"},
        {"{\"version\":1,\"bots\":[{\"id\":\"a\",\"readiness\":\"other\",\"colour\":5}]}", "bots[0].colour: unknown key"},
        {"{\"version\":1,\"bots\":[{\"id\":\"a\",\"readiness\":\"other\"},{\"id\":\"a\",\"readiness\":\"other\"}]}", "listed twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt_registry r;
        char err[256] = "";
        int ret = parse(cases[i].text, &r, err);
        if (ret != -EINVAL || !strstr(err, cases[i].want))
            fprintf(stderr, "    case %zu: %d \"%s\"\n", i, ret, err);
        CHECK(ret == -EINVAL && strstr(err, cases[i].want));
    }
}

TEST_MAIN()
