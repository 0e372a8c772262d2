/* What the two daemons' main() functions share: the command line and the
 * policy they load at start-up. */
#ifndef RATCHET_DAEMON_H
#define RATCHET_DAEMON_H

#include <stdbool.h>

#include "policy/policy.h"

struct rt_daemon_args {
    const char *config; /* --config FILE */
    bool check_only;    /* --check-config */
    int log_level;      /* --log-level LEVEL (syslog priority); LOG_INFO by default */
};

/* Parses NAME --config FILE [--check-config] [--log-level LEVEL] | --version
 * | --help. Returns -1 when the daemon goes on with *out filled in, otherwise
 * the exit status: 0 after --version or --help, 2 after a usage error (said
 * on stderr). */
int rt_daemon_parse_args(const char *name, int argc, char **argv, struct rt_daemon_args *out);

/* The policy file named by the configuration, or the embedded default when
 * POLICY_FILE is NULL. Errors are printed on stderr as FILE:LINE:COL. */
int rt_daemon_load_policy(const char *policy_file, struct rt_policy **out);

#endif
