#include "common/daemon.h"

#include <getopt.h>
#include <stdio.h>
#include <syslog.h>

#include "common/jsoncheck.h"
#include "common/log.h"
#include "common/version.h"

static void usage(FILE *f, const char *name) {
    fprintf(f, "usage: %s --config FILE [--check-config] [--log-level LEVEL]\n"
               "       %s --version\n", name, name);
}

int rt_daemon_parse_args(const char *name, int argc, char **argv, struct rt_daemon_args *out) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *out = (struct rt_daemon_args){.log_level = LOG_INFO};
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': out->config = optarg; break;
        case 'k': out->check_only = true; break;
        case 'l':
            if (rt_log_level_from_name(optarg, &out->log_level) < 0) {
                fprintf(stderr, "%s: unknown log level \"%s\"\n", name, optarg);
                return 2;
            }
            break;
        case 'V': printf("%s %s\n", name, RATCHET_VERSION); return 0;
        case 'h': usage(stdout, name); return 0;
        default: usage(stderr, name); return 2;
        }
    }
    if (!out->config || optind != argc) {
        usage(stderr, name);
        return 2;
    }
    return -1;
}

int rt_daemon_load_policy(const char *policy_file, struct rt_policy **out) {
    struct rt_policy_errors errs = {0};
    int r = policy_file ? rt_policy_load_file(policy_file, out, &errs) : rt_policy_default(out);
    if (r < 0)
        rt_jcheck_print_errors(stderr, policy_file ? policy_file : "(default policy)", &errs, r);
    return r;
}
