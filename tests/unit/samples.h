/* Data-driven checks over sample directories, shared by the policy and
 * configuration tests: every DIR/NAME.json must load (good samples), or fail
 * with -EINVAL and a first error matching NAME.expected ("LINE:COL: text"). */
#ifndef RATCHET_TEST_SAMPLES_H
#define RATCHET_TEST_SAMPLES_H

#include "policy/policy.h"

/* Loads path, frees what it loaded, returns the loader's result. */
typedef int (*rt_sample_load_fn)(const char *path, struct rt_policy_errors *errs);

/* Each returns the number of samples checked; failures are CHECKs. */
int rt_check_good_samples(const char *dir, rt_sample_load_fn load);
int rt_check_bad_samples(const char *dir, rt_sample_load_fn load);

#endif
