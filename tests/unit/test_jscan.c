/* The shared JSON scanner primitives (common/jscan.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jscan.h"
#include "common/util.h"
#include "tests/unit/harness.h"

/* The cursor over a copy of text in a buffer of exactly its size, so that
 * ASan catches a read past the end. */
static struct rt_jscan over(const char *text, char **buf) {
    size_t n = strlen(text);
    *buf = malloc(n ? n : 1);
    memcpy(*buf, text, n);
    return (struct rt_jscan){*buf, *buf + n};
}

TEST(ws_and_take) {
    char *b;
    struct rt_jscan c = over("", &b);
    rt_jscan_ws(&c);
    CHECK(c.p == c.end);
    CHECK(!rt_jscan_peek(&c, '{'));
    CHECK(!rt_jscan_take(&c, '{'));
    free(b);

    c = over(" \t\r\n", &b);
    CHECK(!rt_jscan_take(&c, ' '));
    CHECK(c.p == c.end);
    free(b);

    c = over(" \f{", &b); /* form feed is not JSON whitespace */
    CHECK(!rt_jscan_peek(&c, '{'));
    CHECK(c.p == b + 1);
    free(b);

    c = over("\n { x", &b);
    CHECK(rt_jscan_peek(&c, '{'));
    CHECK(c.p == b + 2);
    CHECK(rt_jscan_take(&c, '{'));
    CHECK(!rt_jscan_take(&c, 'y'));
    CHECK(rt_jscan_take(&c, 'x'));
    CHECK(c.p == c.end);
    free(b);
}

TEST(plain_strings) {
    char *b;
    struct rt_jscan_text t;
    struct rt_jscan c = over("  \"abc\" ", &b);
    REQUIRE(rt_jscan_plain_string(&c, &t));
    CHECK(rt_jscan_text_is(t, "abc"));
    CHECK(!rt_jscan_text_is(t, "ab"));
    CHECK(!rt_jscan_text_is(t, "abcd"));
    CHECK(c.p == b + 7);
    free(b);

    c = over("\"\"", &b);
    REQUIRE(rt_jscan_plain_string(&c, &t));
    CHECK(t.n == 0 && rt_jscan_text_is(t, ""));
    free(b);

    static const char *const refused[] = {
        "",          "   ",         "\"",       "\"abc",    "\"ab\\\"c\"", "\"a\\nb\"",
        "\"a\tb\"",  "\"a\nb\"",    "\"\x1f\"", "\"\xc3\xa9\"", "abc",
        "'abc'",
    };
    for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
        c = over(refused[i], &b);
        CHECK(!rt_jscan_plain_string(&c, &t));
        free(b);
    }
    /* 0x7F is ASCII and plain; 0x80 and above are not. */
    c = over("\"\x7f~ \"", &b);
    CHECK(rt_jscan_plain_string(&c, &t) && t.n == 3);
    free(b);
    CHECK(rt_jscan_plain_char('\x7f') && rt_jscan_plain_char(' ') && rt_jscan_plain_char('~'));
    CHECK(!rt_jscan_plain_char('\x1f') && !rt_jscan_plain_char('\x80') && !rt_jscan_plain_char('"') &&
          !rt_jscan_plain_char('\\'));
}

TEST(keys) {
    char *b;
    struct rt_jscan_text k;
    struct rt_jscan c = over(" \"a\" : 1", &b);
    REQUIRE(rt_jscan_key(&c, &k));
    CHECK(rt_jscan_text_is(k, "a"));
    CHECK(*c.p == ' ');
    free(b);
    static const char *const refused[] = {"\"a\"", "\"a\"  ", "\"a\" 1", "\"a", "a:"};
    for (size_t i = 0; i < ELEMENTSOF(refused); i++) { /* the key at the end of the input */
        c = over(refused[i], &b);
        CHECK(!rt_jscan_key(&c, &k));
        free(b);
    }
}

struct members {
    size_t n;
    struct rt_jscan_text key[8];
    struct rt_jscan_text value[8];
};

static bool string_member(struct rt_jscan *c, struct rt_jscan_text key, void *ud) {
    struct members *m = ud;
    if (m->n == ELEMENTSOF(m->key))
        return false;
    m->key[m->n] = key;
    return rt_jscan_plain_string(c, &m->value[m->n++]);
}

/* m points into the text until the next call. */
static bool object(const char *text, size_t max_keys, struct members *m) {
    static char *b;
    free(b);
    struct rt_jscan c = over(text, &b);
    struct rt_jscan_text keys[8];
    struct rt_jscan_keys seen = {keys, 0, max_keys};
    *m = (struct members){0};
    bool ok = rt_jscan_object(&c, max_keys ? &seen : NULL, string_member, m);
    if (ok)
        rt_jscan_ws(&c);
    return ok && c.p == c.end;
}

TEST(objects) {
    struct members m;
    CHECK(object("{}", 8, &m) && m.n == 0);
    CHECK(object(" { } ", 8, &m) && m.n == 0);
    REQUIRE(object("{\"a\":\"1\", \"b\" : \"2\"}", 8, &m));
    CHECK(m.n == 2 && rt_jscan_text_is(m.key[1], "b") && rt_jscan_text_is(m.value[1], "2"));
    CHECK(!object("{\"a\":\"1\",\"a\":\"2\"}", 8, &m)); /* duplicate */
    CHECK(object("{\"a\":\"1\",\"a\":\"2\"}", 0, &m));  /* no key list: the member decides */
    CHECK(object("{\"a\":\"1\",\"b\":\"2\"}", 2, &m));
    CHECK(!object("{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}", 2, &m)); /* too many */
    static const char *const refused[] = {
        "", " ", "{", "{\"a\"", "{\"a\":", "{\"a\":\"1\"", "{\"a\":\"1\",", "{\"a\":\"1\",}",
        "{,}", "{\"a\" \"1\"}", "[]", "{\"a\":1}", "{\"a\\u0041\":\"1\"}",
    };
    for (size_t i = 0; i < ELEMENTSOF(refused); i++)
        CHECK(!object(refused[i], 8, &m));
}

static const char *const fields[] = {"x", "y", "z"};

static bool named_member(struct rt_jscan *c, size_t which, void *ud) {
    size_t *sum = ud;
    struct rt_jscan_text v;
    *sum += which + 1;
    return rt_jscan_plain_string(c, &v);
}

static bool named(const char *text, uint32_t *seen) {
    char *b;
    struct rt_jscan c = over(text, &b);
    size_t sum = 0;
    bool ok = rt_jscan_named_object(&c, fields, ELEMENTSOF(fields), named_member, &sum, seen);
    free(b);
    return ok;
}

TEST(name_index) {
    struct rt_jscan_text t = {"yz", 1}; /* "y" */
    CHECK(rt_jscan_name_index(t, fields, ELEMENTSOF(fields)) == 1);
    t.n = 2;
    CHECK(rt_jscan_name_index(t, fields, ELEMENTSOF(fields)) == ELEMENTSOF(fields));
    t.n = 0;
    CHECK(rt_jscan_name_index(t, fields, ELEMENTSOF(fields)) == ELEMENTSOF(fields));
    CHECK(rt_jscan_text_is(t, ""));
    struct rt_jscan_text nul = {"a\0b", 3}; /* a NUL in the text ends no comparison early */
    CHECK(!rt_jscan_text_is(nul, "a"));
    const char *lit = "a";
    CHECK(!rt_jscan_text_is(nul, lit));
}

TEST(named_objects) {
    uint32_t seen = 123;
    CHECK(named("{}", &seen) && seen == 0);
    CHECK(named("{\"z\":\"\",\"x\":\"\"}", &seen) && seen == (1u << 2 | 1u << 0));
    CHECK(!named("{\"x\":\"\",\"x\":\"\"}", &seen)); /* twice */
    CHECK(!named("{\"w\":\"\"}", &seen));           /* unknown */
    CHECK(!named("{\"xx\":\"\"}", &seen));
    CHECK(!named("{\"x\":\"\"", &seen));
}

static bool count_element(struct rt_jscan *c, size_t i, void *ud) {
    size_t *n = ud;
    struct rt_jscan_text v;
    if (i != *n)
        return false;
    (*n)++;
    return rt_jscan_plain_string(c, &v);
}

static bool array(const char *text, size_t *n) {
    char *b;
    struct rt_jscan c = over(text, &b);
    *n = 0;
    bool ok = rt_jscan_array(&c, count_element, n);
    free(b);
    return ok;
}

TEST(arrays) {
    size_t n;
    CHECK(array("[]", &n) && n == 0);
    CHECK(array(" [ \"a\" , \"b\",\"c\" ]", &n) && n == 3);
    static const char *const refused[] = {"", "  ", "[", "[\"a\"", "[\"a\",", "[\"a\",]", "[,]", "{}", "[1]"};
    for (size_t i = 0; i < ELEMENTSOF(refused); i++)
        CHECK(!array(refused[i], &n));
}

TEST_MAIN()
