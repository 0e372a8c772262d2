/* The bot registry format. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "feeds/registry.h"
#include "tests/unit/harness.h"
#include "tests/unit/jsongen.h"

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

/* ---- the streaming scanner against the jansson reference ---- */


struct doc {
    char *s;
    size_t len, cap;
};

static void put(struct doc *d, const char *text) {
    size_t k = strlen(text);
    if (d->len + k + 1 > d->cap) {
        d->cap = (d->len + k + 1) * 2;
        d->s = realloc(d->s, d->cap);
    }
    memcpy(d->s + d->len, text, k + 1);
    d->len += k;
}

static void ws(struct doc *d) {
    static const char *const spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  ", "  "};
    put(d, spaces[rt_gen_below(ELEMENTSOF(spaces))]);
}

/* In a plain document, only the first n_plain choices of each list: those
 * the scanner reads itself. */
static bool plain_only;
#define ANY(list, n_plain) (list)[rt_gen_below(plain_only ? (n_plain) : ELEMENTSOF(list))]

static const char *const odd_values[] = {"5", "null", "true", "false", "-0", "\"\"", "[]", "{}", "[1]", "{\"a\":1}",
                                         "1.5", "01", "1e2", "12345678901234567890"};

static void value(struct doc *d, const char *const *good, size_t n_good, size_t n_plain) {
    if (rt_gen_below(5) == 0)
        put(d, ANY(odd_values, 6));
    else
        put(d, good[rt_gen_below(plain_only ? n_plain : n_good)]);
}

static void entry(struct doc *d) {
    static const char *const ids[] = {
        "\"alpha\"", "\"zeta\"", "\"a\"", "\"bot-000001\"", "\"A.b_c:d-e\"", "\"alpha\"", "\"-bad\"", "\"a b\"",
        "\"\"", "\"al\x7fpha\"",
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",  /* 64 */
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* 65 */
        "\"caf\\u00e9\"", "\"caf\xc3\xa9\"", "\"x\\\"y\"", "\"\\u0061\"", "\"al\x1fpha\"", "\"\x80\"",
    };
    static const char *const readiness[] = {"\"general_live\"", "\"limited_live\"", "\"other\"", "\"shadow\"",
                                            "\"\"", "\"General_live\"", "\"other\\u0000\"", "\"oth\\u0065r\""};
    static const char *const since[] = {"\"2026-11-01T00:00:00Z\"", "\"2026-11-01T00:00:00.123456+02:00\"",
                                        "\"2026-13-01T00:00:00Z\"", "\"yesterday\"", "\"2026-11-01T00:00:00.1234567891Z\"",
                                        "\"2026-02-29T00:00:00Z\"", "\"2024-02-29T23:59:60.5z\""};
    static const char *const extra[] = {"\"colour\"", "\"\"", "\"ID\"", "\"id \"", "\"i\\u0064\""};
    if (rt_gen_below(12) == 0) {
        put(d, ANY(odd_values, 6));
        return;
    }
    put(d, "{");
    size_t n = rt_gen_below(5);
    for (size_t k = 0; k < n; k++) {
        if (k)
            put(d, ",");
        ws(d);
        size_t which = rt_gen_below(10);
        if (which < 3) {
            put(d, "\"id\"");
        } else if (which < 6) {
            put(d, "\"readiness\"");
        } else if (which < 8) {
            put(d, "\"since\"");
        } else {
            put(d, ANY(extra, 4));
        }
        ws(d);
        put(d, ":");
        ws(d);
        if (which < 3)
            value(d, ids, ELEMENTSOF(ids), 12);
        else if (which < 6)
            value(d, readiness, ELEMENTSOF(readiness), 6);
        else if (which < 8)
            value(d, since, ELEMENTSOF(since), ELEMENTSOF(since));
        else
            put(d, ANY(odd_values, 6));
        ws(d);
    }
    put(d, "}");
}

/* Mostly well-formed registries, with every kind of wrong value. */
static void document(struct doc *d) {
    static const char *const versions[] = {"1", "1", "1", "2", "\"1\"", "-0", "null", "-1", "1.0", "01", "1e0",
                                           "99999999999999999999"};
    plain_only = rt_gen_below(2);
    d->len = 0;
    put(d, "");
    ws(d);
    put(d, rt_gen_below(20) || plain_only ? "{" : "[");
    size_t n_keys = rt_gen_below(8) == 0 ? rt_gen_below(4) : 2, first = rt_gen_below(2);
    for (size_t k = 0; k < n_keys; k++) {
        if (k)
            put(d, ",");
        ws(d);
        size_t which = k < 2 && rt_gen_below(8) ? (k + first) % 2 : 2 + rt_gen_below(3);
        if (which == 0) {
            put(d, "\"version\":");
            ws(d);
            put(d, ANY(versions, 8));
        } else if (which == 1 || which == 2) {
            put(d, "\"bots\":");
            ws(d);
            if (rt_gen_below(15) == 0) {
                put(d, ANY(odd_values, 6));
            } else {
                put(d, "[");
                size_t n = rt_gen_below(6);
                for (size_t i = 0; i < n; i++) {
                    if (i)
                        put(d, ",");
                    ws(d);
                    entry(d);
                    ws(d);
                }
                put(d, "]");
            }
        } else {
            put(d, which == 3 || plain_only ? "\"extra\":" : "\"vers\\u0069on\":");
            put(d, ANY(odd_values, 6));
        }
        ws(d);
    }
    put(d, "}");
    ws(d);
}

/* Byte-level damage: a byte removed, inserted or replaced, a cut, garbage. */
static void damage(struct doc *d) {
    static const char bytes[] = "{}[]\",:\\ 0a1-.eE\n\x01\x80";
    size_t times = 1 + rt_gen_below(3);
    for (size_t t = 0; t < times && d->len > 0; t++) {
        size_t at = rt_gen_below(d->len);
        switch (rt_gen_below(5)) {
        case 0: memmove(d->s + at, d->s + at + 1, d->len - at); d->len--; break;
        case 1:
            put(d, " ");
            memmove(d->s + at + 1, d->s + at, d->len - at - 1);
            d->s[at] = bytes[rt_gen_below(sizeof(bytes) - 1)];
            break;
        case 2: d->s[at] = rt_gen_below(2) ? bytes[rt_gen_below(sizeof(bytes) - 1)] : (char)rt_gen_below(256); break;
        case 3: d->len = at; break;
        default: put(d, rt_gen_below(2) ? "x" : "\0"); d->len += 0; break;
        }
    }
}

static bool same_registry(const struct rt_registry *a, const struct rt_registry *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].id, b->v[i].id) || a->v[i].readiness != b->v[i].readiness ||
            a->v[i].has_since != b->v[i].has_since || a->v[i].since_us != b->v[i].since_us)
            return false;
    return true;
}

struct tally {
    size_t plain_ok, plain_err, fallback;
};

/* The scanner gives the reference's answer or declines; the full parser
 * always gives the reference's answer. */
static bool agree(const char *text, size_t len, size_t errlen, struct tally *t) {
    struct rt_registry p, d, f;
    char perr[256] = "", derr[256] = "", ferr[256] = "";
    int rp = rt_registry_parse_plain(text, len, &p, perr, errlen);
    int rd = rt_registry_parse_dom(text, len, &d, derr, errlen);
    int rf = rt_registry_parse(text, len, &f, ferr, errlen);
    bool ok = rf == rd && strcmp(ferr, derr) == 0 && same_registry(&f, &d);
    if (rp == -EOPNOTSUPP) {
        t->fallback++;
        ok &= p.n == 0 && p.v == NULL && perr[0] == '\0';
    } else {
        *(rp == 0 ? &t->plain_ok : &t->plain_err) += 1;
        ok &= rp == rd && strcmp(perr, derr) == 0 && same_registry(&p, &d);
    }
    if (!ok)
        fprintf(stderr, "    differ on [%.*s]: plain %d \"%s\", dom %d \"%s\", parse %d \"%s\"\n", (int)len, text, rp, perr,
                rd, derr, rf, ferr);
    rt_registry_free(&p);
    rt_registry_free(&d);
    rt_registry_free(&f);
    return ok;
}

TEST(streaming_parser_matches_the_reference) {
    static const size_t errlens[] = {256, 256, 256, 48, 9, 1};
    struct doc d = {0};
    struct tally t = {0};
    size_t failures = 0;
    rt_gen_seed(7);
    for (int i = 0; i < 60000 && failures < 5; i++) {
        document(&d);
        if (rt_gen_below(4) == 0)
            damage(&d);
        failures += !agree(d.s, d.len, errlens[rt_gen_below(ELEMENTSOF(errlens))], &t);
    }
    free(d.s);
    CHECK_EQ_INT(failures, 0);
    fprintf(stderr, "    scanner: %zu accepted, %zu refused; reference: %zu\n", t.plain_ok, t.plain_err, t.fallback);
    CHECK(t.plain_ok > 1000 && t.plain_err > 10000 && t.fallback > 10000);
}

TEST(streaming_parser_reads_the_usual_forms) {
    static const char *const docs[] = {
        "{\"version\":1,\"bots\":[{\"id\":\"bot-000000\",\"readiness\":\"general_live\"}]}",
        "{\n  \"version\": 1,\n  \"bots\": [\n    {\"id\": \"alpha\", \"readiness\": \"limited_live\",\n"
        "     \"since\": \"2026-11-01T00:00:00.25+01:00\"},\n    {\"readiness\": \"other\", \"id\": \"mm-eth-01\"}\n  ]\n}\n",
        "\r\n\t{\"bots\":[],\"version\":1}",
    };
    for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
        struct rt_registry r;
        char err[256] = "";
        CHECK_EQ_INT(rt_registry_parse_plain(docs[i], strlen(docs[i]), &r, err, sizeof(err)), 0);
        rt_registry_free(&r);
    }
    CHECK(sizeof(struct rt_registry_entry) <= 24);
}

/* 100,000 bots, as the benchmark writes them, and one more. */
TEST(streaming_parser_at_the_limit) {
    struct doc d = {0};
    struct tally t = {0};
    char id[64];
    put(&d, "{\"version\":1,\"bots\":[");
    for (int i = 0; i <= RT_REGISTRY_MAX_BOTS; i++) {
        if (i == RT_REGISTRY_MAX_BOTS) {
            size_t len = d.len;
            put(&d, "]}");
            CHECK(agree(d.s, d.len, 256, &t));
            d.len = len;
            put(&d, ",");
        }
        snprintf(id, sizeof(id), "%s{\"id\":\"bot-%06d\",\"readiness\":\"general_live\"}", i ? "," : "",
                 (i * 7919) % 100003);
        put(&d, id + (i == RT_REGISTRY_MAX_BOTS));
    }
    put(&d, "]}");
    CHECK(agree(d.s, d.len, 256, &t));
    CHECK_EQ_INT(t.plain_ok, 1);
    CHECK_EQ_INT(t.plain_err, 1);
    struct rt_registry r;
    char err[256] = "";
    CHECK_EQ_INT(rt_registry_parse(d.s, d.len, &r, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "more than 100000 bots") != NULL);
    free(d.s);
}

TEST_MAIN()
