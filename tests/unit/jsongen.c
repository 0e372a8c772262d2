#include "tests/unit/jsongen.h"

#include <string.h>

static uint64_t gen_state;

void rt_gen_seed(uint64_t seed) { gen_state = seed; }

/* splitmix64 */
static uint64_t next(void) {
    uint64_t z = (gen_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t rt_gen_below(uint32_t n) { return (uint32_t)(next() % n); }

const char *rt_gen_pick(const char *const *v, size_t n) { return v[rt_gen_below((uint32_t)n)]; }

size_t rt_gen_mutate(char *s, size_t len, size_t cap, const char *alphabet) {
    size_t at = len ? rt_gen_below((uint32_t)len) : 0;
    char c = alphabet[rt_gen_below((uint32_t)strlen(alphabet))];
    switch (rt_gen_below(5)) {
    case 0:
        if (len)
            s[at] = c;
        return len;
    case 1:
        if (len)
            memmove(s + at, s + at + 1, len - at - 1);
        return len ? len - 1 : 0;
    case 2:
        if (len + 1 >= cap)
            return len;
        memmove(s + at + 1, s + at, len - at);
        s[at] = c;
        return len + 1;
    case 3: {
        size_t n = 1 + rt_gen_below(16);
        if (at + n > len || len + n >= cap)
            return len;
        memmove(s + at + n, s + at, len - at);
        return len + n;
    }
    default:
        return at; /* cut */
    }
}
