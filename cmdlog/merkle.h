/* RFC 6962 Merkle tree hashing over SHA-256, kept as a compact range: the
 * roots of the perfect subtrees that make up the tree, one per set bit of
 * its size (at most 64 hashes), so appending a leaf and computing the root
 * cost O(log n) and the writer never holds the leaves.
 *   leaf hash = SHA-256(0x00 || entry)
 *   node hash = SHA-256(0x01 || left || right)
 *   MTH of n > 1 leaves splits at the largest power of two k < n:
 *   MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])); MTH of nothing = SHA-256(""). */
#ifndef RATCHET_CMDLOG_MERKLE_H
#define RATCHET_CMDLOG_MERKLE_H

#include <stddef.h>
#include <stdint.h>

struct rt_merkle {
    uint64_t size;
    unsigned n;            /* subtree roots in use: popcount(size) */
    uint8_t peaks[64][32]; /* largest (leftmost) subtree first */
};

void rt_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[32]);
void rt_merkle_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);

void rt_merkle_init(struct rt_merkle *m);
void rt_merkle_append(struct rt_merkle *m, const uint8_t leaf_hash[32]);
void rt_merkle_root(const struct rt_merkle *m, uint8_t root[32]);

#endif
