#include "common/util.h"

#include <string.h>

bool rt_strlcpy(char *dst, const char *src, size_t dstsz) {
    size_t n = strlen(src);
    if (dstsz == 0)
        return false;
    if (n >= dstsz) {
        memcpy(dst, src, dstsz - 1);
        dst[dstsz - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}
