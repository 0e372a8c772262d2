/* Random inputs for the differential tests that hold the hand-written JSON
 * readers to their jansson references (test_alertmanager, test_prometheus,
 * test_registry): one seeded generator and one mutator. Deterministic: the
 * same seed gives the same inputs, so a failure repeats. */
#ifndef RATCHET_TEST_JSONGEN_H
#define RATCHET_TEST_JSONGEN_H

#include <stddef.h>
#include <stdint.h>

void rt_gen_seed(uint64_t seed);
/* A number in [0, n); n > 0. */
uint32_t rt_gen_below(uint32_t n);
const char *rt_gen_pick(const char *const *v, size_t n);
#define RT_GEN_PICK(arr) rt_gen_pick(arr, sizeof(arr) / sizeof((arr)[0]))

/* One random edit of s[0..len) within cap bytes: a byte replaced, removed
 * or inserted (from ALPHABET), a span repeated, or a cut. Returns the new
 * length. */
size_t rt_gen_mutate(char *s, size_t len, size_t cap, const char *alphabet);

#endif
