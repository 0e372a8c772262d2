/* Lookups over the generated reason-code registry. */
#include <stdio.h>
#include <string.h>

#include "gen/reason_codes.h"
#include "policy/policy.h"

const struct rt_reason_info *rt_reason_find(const char *code) {
    for (size_t i = 0; i < rt_n_reasons; i++)
        if (strcmp(rt_reasons[i].code, code) == 0)
            return &rt_reasons[i];
    return NULL;
}

const char *rt_reason_demote_code(int cond) {
    if (cond < 0 || cond >= RT_COND_COUNT)
        return NULL;
    char want[64];
    snprintf(want, sizeof(want), "demote.%s", rt_cond_name((enum rt_cond)cond));
    const struct rt_reason_info *r = rt_reason_find(want);
    return r ? r->code : NULL;
}
