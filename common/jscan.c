#include "common/jscan.h"

bool rt_jscan_note_key(struct rt_jscan_keys *keys, struct rt_jscan_text key) {
    for (size_t i = 0; i < keys->n; i++)
        if (keys->v[i].n == key.n && memcmp(keys->v[i].s, key.s, key.n) == 0)
            return false;
    keys->v[keys->n++] = key;
    return true;
}

size_t rt_jscan_name_index(struct rt_jscan_text t, const char *const *names, size_t n_names) {
    size_t w = 0;
    while (w < n_names && !rt_jscan_text_is(t, names[w]))
        w++;
    return w;
}
