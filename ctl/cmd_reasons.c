/* ratchetctl reasons: the reason-code registry, for on-call and control planes. */
#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"
#include "ctl/ctl.h"
#include "gen/reason_codes.h"

int cmd_reasons_main(int argc, char **argv) {
    bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "usage: ratchetctl reasons [--json]\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    for (size_t i = 0; i < rt_n_reasons; i++) {
        const struct rt_reason_info *r = &rt_reasons[i];
        if (!json) {
            printf("%s\n  user:     %s\n  operator: %s\n", r->code, r->user_message, r->operator_text);
            continue;
        }
        struct rt_strbuf b = {0};
        rt_sb_puts(&b, "{\"code\":");
        rt_sb_json_str(&b, r->code);
        rt_sb_puts(&b, ",\"user_message\":");
        rt_sb_json_str(&b, r->user_message);
        rt_sb_puts(&b, ",\"operator\":");
        rt_sb_json_str(&b, r->operator_text);
        rt_sb_puts(&b, "}");
        if (!b.oom)
            printf("%s\n", b.s);
        rt_sb_free(&b);
    }
    return 0;
}
