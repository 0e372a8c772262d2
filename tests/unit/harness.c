#include "tests/unit/harness.h"

struct rt_test_case rt_tests[RT_MAX_TESTS];
int rt_n_tests;
int rt_test_failed;

/* argv[1], if given, runs only the tests whose name contains it. */
int rt_test_main(int argc, char **argv) {
    int passed = 0, failed = 0;
    const char *only = argc > 1 ? argv[1] : NULL;
    for (int i = 0; i < rt_n_tests; i++) {
        if (only && !strstr(rt_tests[i].name, only))
            continue;
        rt_test_failed = 0;
        rt_tests[i].fn();
        printf("%s %s\n", rt_test_failed ? "FAIL" : "ok  ", rt_tests[i].name);
        fflush(stdout);
        if (rt_test_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
