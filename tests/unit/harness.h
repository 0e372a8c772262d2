/* Minimal unit-test harness. Each test file defines TEST(name) functions and
 * ends with TEST_MAIN(). A failed CHECK marks the test failed and continues;
 * REQUIRE returns from the test. The binary prints one line per test and a
 * closing "N passed, N failed"; it exits non-zero if any test failed. */
#ifndef RATCHET_TEST_HARNESS_H
#define RATCHET_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*rt_test_fn)(void);
struct rt_test_case { const char *name; rt_test_fn fn; };

#define RT_MAX_TESTS 512
extern struct rt_test_case rt_tests[RT_MAX_TESTS];
extern int rt_n_tests;
extern int rt_test_failed; /* set by CHECK in the running test */

#define TEST(name)                                                              \
    static void test_##name(void);                                              \
    __attribute__((constructor)) static void register_##name(void) {            \
        if (rt_n_tests < RT_MAX_TESTS)                                          \
            rt_tests[rt_n_tests++] = (struct rt_test_case){#name, test_##name}; \
    }                                                                           \
    static void test_##name(void)

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "    %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            rt_test_failed = 1;                                                  \
        }                                                                        \
    } while (0)

#define REQUIRE(cond)                                                            \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "    %s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            rt_test_failed = 1;                                                  \
            return;                                                              \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
    do {                                                                         \
        long long _a = (long long)(a), _b = (long long)(b);                      \
        if (_a != _b) {                                                          \
            fprintf(stderr, "    %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, \
                    __LINE__, #a, #b, _a, _b);                                   \
            rt_test_failed = 1;                                                  \
        }                                                                        \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                       \
    do {                                                                         \
        const char *_a = (a), *_b = (b);                                         \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                 \
            fprintf(stderr, "    %s:%d: %s == %s failed: \"%s\" != \"%s\"\n",    \
                    __FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
            rt_test_failed = 1;                                                  \
        }                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, eps)                                                    \
    do {                                                                         \
        double _a = (a), _b = (b);                                               \
        if (!(fabs(_a - _b) <= (eps))) {                                         \
            fprintf(stderr, "    %s:%d: %s ~= %s failed: %.9g != %.9g\n",        \
                    __FILE__, __LINE__, #a, #b, _a, _b);                         \
            rt_test_failed = 1;                                                  \
        }                                                                        \
    } while (0)

int rt_test_main(int argc, char **argv);
#define TEST_MAIN() int main(int argc, char **argv) { return rt_test_main(argc, argv); }

#endif
