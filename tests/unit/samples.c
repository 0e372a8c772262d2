#include "tests/unit/samples.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/jsoncheck.h"
#include "common/util.h"
#include "tests/unit/harness.h"

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

static bool is_json(const char *name) {
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static bool bad_sample_matches(const char *dir, const char *name, rt_sample_load_fn load) {
    char path[512], exp_path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(exp_path, sizeof exp_path, "%s/%.*s.expected", dir, (int)(strlen(name) - 5), name);
    _cleanup_free_ char *exp = NULL;
    size_t exp_len;
    int line, col;
    char want[256];
    if (rt_read_file_bounded(exp_path, 4096, &exp, &exp_len) < 0 ||
        sscanf(exp, "%d:%d: %255[^\n]", &line, &col, want) != 3) {
        fprintf(stderr, "    %s: missing or malformed\n", exp_path);
        return false;
    }
    struct rt_policy_errors errs = {0};
    int r = load(path, &errs);
    bool ok = r == -EINVAL && errs.n > 0 && errs.e[0].line == line && errs.e[0].column == col &&
              strstr(errs.e[0].text, want) != NULL;
    if (!ok) {
        rt_jcheck_print_errors(stderr, path, &errs, r);
        fprintf(stderr, "    want %d:%d: %s\n", line, col, want);
    }
    return ok;
}

static int for_each_sample(const char *dir, rt_sample_load_fn load, bool bad) {
    _cleanup_(closedirp) DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "    %s: %s\n", dir, strerror(errno));
        CHECK(d != NULL);
        return 0;
    }
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (!is_json(de->d_name))
            continue;
        if (bad) {
            CHECK(bad_sample_matches(dir, de->d_name, load));
        } else {
            char path[512];
            struct rt_policy_errors errs = {0};
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            int r = load(path, &errs);
            if (r != 0)
                rt_jcheck_print_errors(stderr, path, &errs, r);
            CHECK_EQ_INT(r, 0);
        }
        n++;
    }
    return n;
}

int rt_check_good_samples(const char *dir, rt_sample_load_fn load) { return for_each_sample(dir, load, false); }

int rt_check_bad_samples(const char *dir, rt_sample_load_fn load) { return for_each_sample(dir, load, true); }
