/* ratchetctl: read-only status, policy checks, evidence replay and log
 * verification. It never changes ratchet's state. */
#include <stdio.h>
#include <string.h>

#include "common/jsoncheck.h"
#include "common/util.h"
#include "ctl/ctl.h"

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"status", cmd_status_main, "[--url URL] [--bot ID] [--json]: bots, windows and time to demotion"},
    {"policy", cmd_policy_main, "check FILE | show: validate a policy file, print the default"},
    {"replay", cmd_replay_main, "[--policy F] [--against OLD] [--json] EVIDENCE: re-run history"},
    {"cvss", cmd_cvss_main, "VECTOR...: CVSS v3.0/v3.1 base scores"},
    {"log", cmd_log_main, "verify | show: check or read the signed command log (auditors)"},
    {"keygen", cmd_keygen_main, "--out DIR [--name NAME]: a new Ed25519 signing key pair"},
    {"reasons", cmd_reasons_main, "[--json]: every reason code with its plain-English message"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ratchetctl COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nratchetctl COMMAND --help describes each command. See ratchetctl(1).\n");
}

int main(int argc, char **argv) {
    rt_json_alloc_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "ratchetctl: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
