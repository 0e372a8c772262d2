/* ratchetctl cvss VECTOR...: print the CVSS v3.0/v3.1 base score of each
 * vector, one "SCORE VECTOR" line each. Invalid vectors are reported on
 * stderr and the others still scored; the exit status is then 1. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "feeds/cvss.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ratchetctl cvss VECTOR...\n"
               "\n"
               "Print the CVSS base score of each CVSS:3.0/ or CVSS:3.1/ vector, as\n"
               "\"SCORE VECTOR\" lines. Temporal and environmental metrics are accepted\n"
               "but only the base score is computed.\n"
               "Exit status: 0 all vectors valid, 1 some invalid, 2 usage error.\n");
}

/* Echo user input into an error line without control characters, and
 * bounded: anything past the parser's limit is elided. */
static void put_escaped(FILE *f, const char *s) {
    size_t n = 0;
    for (; s[n] && n <= RT_CVSS_VECTOR_MAX; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            fputc(ch, f);
        else
            fprintf(f, "\\x%02x", ch);
    }
    if (s[n])
        fputs("...", f);
}

int cmd_cvss_main(int argc, char **argv) {
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    else if (argc > 1 && argv[1][0] == '-') {
        fprintf(stderr, "ratchetctl: cvss: unknown option \"");
        put_escaped(stderr, argv[1]);
        fprintf(stderr, "\"\n");
        usage(stderr);
        return 2;
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }

    int status = 0;
    for (int k = first; k < argc; k++) {
        double score;
        char err[160];
        if (rt_cvss_score(argv[k], &score, err, sizeof(err)) < 0) {
            fflush(stdout); /* keep stdout/stderr in argument order on a shared terminal */
            fputs("ratchetctl: cvss: ", stderr);
            put_escaped(stderr, argv[k]);
            fprintf(stderr, ": %s\n", err);
            status = 1;
            continue;
        }
        printf("%.1f %s\n", score, argv[k]);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("ratchetctl: cvss: writing output");
        return 1;
    }
    return status;
}
