/* ratchetctl keygen: a new Ed25519 key pair for the command log.
 * Writes DIR/<name>.key (PKCS#8 PEM, mode 0400) and DIR/<name>.pub (SPKI
 * PEM, 0644) and never overwrites either. The same files come from
 *   openssl genpkey -algorithm ed25519 -out NAME.key
 *   openssl pkey -in NAME.key -pubout -out NAME.pub */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmdlog/codec.h"
#include "cmdlog/logkey.h"
#include "common/util.h"
#include "ctl/ctl.h"

#define DEFAULT_NAME "ratchet-enforcer"

/* Also declared in ctl/ctl.h once registered in ctl/ratchetctl.c. */

static void usage(FILE *f) {
    fprintf(f, "usage: ratchetctl keygen --out DIR [--name NAME]\n"
               "Writes DIR/NAME.key (private, mode 0400) and DIR/NAME.pub (public); refuses to overwrite.\n"
               "NAME: 1-64 of [A-Za-z0-9._-], starting alphanumeric (default " DEFAULT_NAME ").\n");
}

int cmd_keygen_main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *dir = NULL, *name = DEFAULT_NAME;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!dir || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!rt_log_key_name_valid(name)) {
        fprintf(stderr, "ratchetctl keygen: invalid key name \"%s\"\n", name);
        return 2;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "ratchetctl keygen: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char key_path[PATH_MAX], pub_path[PATH_MAX], err[512];
    int n1 = snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name);
    int n2 = snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof key_path || (size_t)n2 >= sizeof pub_path) {
        fprintf(stderr, "ratchetctl keygen: %s: path too long\n", dir);
        return 1;
    }
    struct rt_log_key *key = NULL;
    if (rt_log_key_generate(name, &key) < 0) {
        fprintf(stderr, "ratchetctl keygen: cannot generate a key\n");
        return 1;
    }
    int r = rt_log_key_save(key, key_path, pub_path, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "ratchetctl keygen: %s\n", err);
        rt_log_key_free(key);
        return 1;
    }
    char id[9];
    rt_log_hex(rt_log_key_id_of(key), RT_LOG_KEY_ID_LEN, id);
    printf("private key: %s (mode 0400: only its owner may read it)\n"
           "public key:  %s\n"
           "key name:    %s\n"
           "key id:      %s\n",
           key_path, pub_path, name, id);
    rt_log_key_free(key);
    return 0;
}
