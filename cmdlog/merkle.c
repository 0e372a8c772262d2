#include "cmdlog/merkle.h"

#include <stdlib.h>
#include <string.h>

#include "cmdlog/codec.h"

void rt_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[32]) {
    uint8_t stackbuf[4096];
    uint8_t *buf = len < sizeof stackbuf ? stackbuf : malloc(len + 1);
    if (!buf)
        abort(); /* a 16 KiB line cannot fail to allocate short of OOM */
    buf[0] = 0x00;
    memcpy(buf + 1, entry, len);
    rt_log_sha256(buf, len + 1, out);
    if (buf != stackbuf)
        free(buf);
}

void rt_merkle_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]) {
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    rt_log_sha256(buf, sizeof buf, out);
}

void rt_merkle_init(struct rt_merkle *m) { memset(m, 0, sizeof *m); }

void rt_merkle_append(struct rt_merkle *m, const uint8_t leaf_hash[32]) {
    uint8_t h[32];
    memcpy(h, leaf_hash, 32);
    /* Each trailing 1 bit of the old size is a complete subtree of the same
     * height as the one being carried: merge them, like binary addition. */
    for (uint64_t s = m->size; s & 1; s >>= 1)
        rt_merkle_node_hash(m->peaks[--m->n], h, h);
    memcpy(m->peaks[m->n++], h, 32);
    m->size++;
}

void rt_merkle_root(const struct rt_merkle *m, uint8_t root[32]) {
    if (m->n == 0) {
        rt_log_sha256("", 0, root);
        return;
    }
    uint8_t h[32];
    memcpy(h, m->peaks[m->n - 1], 32);
    for (unsigned i = m->n - 1; i-- > 0;)
        rt_merkle_node_hash(m->peaks[i], h, h);
    memcpy(root, h, 32);
}
