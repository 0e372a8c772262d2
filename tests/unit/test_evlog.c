/* The evidence log: lines in the evidence-stream format, rotation by size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/evidence.h"
#include "watchdog/evlog.h"
#include "tests/unit/harness.h"

static struct rt_evidence sample(int i) {
    struct rt_evidence ev = {.kind = RT_EVIDENCE_OBS, .ts_us = INT64_C(1795000000000000) + i * 1000000,
                             .cond = RT_COND_ERROR_RATE, .known = true, .value = 0.02};
    snprintf(ev.bot, sizeof(ev.bot), "bot-%d", i);
    strcpy(ev.source, "prometheus");
    return ev;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

TEST(lines_parse_back_as_evidence) {
    char dir[] = "/tmp/ratchet-evlog-XXXXXX", path[256];
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/evidence.jsonl", dir);
    struct rt_evlog *l = NULL;
    REQUIRE(rt_evlog_open(path, 1 << 20, 3, &l) == 0);
    for (int i = 0; i < 10; i++) {
        struct rt_evidence ev = sample(i);
        REQUIRE(rt_evlog_append(l, &ev) == 0);
    }
    CHECK_EQ_INT(file_size(path), 0); /* buffered until flush */
    REQUIRE(rt_evlog_flush(l) == 0);
    CHECK_EQ_INT(rt_evlog_lines(l), 10);
    rt_evlog_close(l);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char line[RT_EVIDENCE_LINE_MAX + 2];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        struct rt_evidence ev;
        char err[128];
        CHECK(rt_evidence_parse(line, strlen(line), &ev, err, sizeof(err)) == 0);
        struct rt_evidence want = sample(n);
        CHECK_EQ_STR(ev.bot, want.bot);
        CHECK_EQ_INT(ev.ts_us, want.ts_us);
        n++;
    }
    fclose(f);
    CHECK_EQ_INT(n, 10);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST(rotates_by_size_and_keeps_n_files) {
    char dir[] = "/tmp/ratchet-evlog-XXXXXX", path[256], rot[300];
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/evidence.jsonl", dir);
    struct rt_evlog *l = NULL;
    REQUIRE(rt_evlog_open(path, 1000, 2, &l) == 0); /* ~10 lines per file */
    for (int i = 0; i < 200; i++) {
        struct rt_evidence ev = sample(i);
        REQUIRE(rt_evlog_append(l, &ev) == 0);
        if (i % 7 == 0)
            REQUIRE(rt_evlog_flush(l) == 0);
    }
    REQUIRE(rt_evlog_flush(l) == 0);
    CHECK(rt_evlog_rotations(l) >= 10);
    rt_evlog_close(l);
    CHECK(file_size(path) > 0 && file_size(path) <= 1000);
    snprintf(rot, sizeof(rot), "%s.1", path);
    CHECK(file_size(rot) > 0 && file_size(rot) <= 1000);
    snprintf(rot, sizeof(rot), "%s.2", path);
    CHECK(file_size(rot) > 0 && file_size(rot) <= 1000);
    snprintf(rot, sizeof(rot), "%s.3", path);
    CHECK_EQ_INT(file_size(rot), -1); /* bounded: only `keep` rotated files */
    /* reopening appends to the current file */
    long before = file_size(path);
    REQUIRE(rt_evlog_open(path, 1 << 20, 2, &l) == 0);
    struct rt_evidence ev = sample(999);
    REQUIRE(rt_evlog_append(l, &ev) == 0);
    rt_evlog_close(l); /* close flushes */
    CHECK(file_size(path) > before);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST(open_fails_cleanly_on_a_missing_directory) {
    struct rt_evlog *l = NULL;
    CHECK(rt_evlog_open("/nonexistent-dir-ratchet/evidence.jsonl", 1000, 2, &l) < 0);
    CHECK(l == NULL);
}

TEST_MAIN()
