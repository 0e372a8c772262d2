/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * iSCSI, ext4 metadata and SSE4.2's crc32 instruction. Portable table-driven
 * software implementation; used to frame the records of the state store. */
#ifndef RATCHET_CRC32C_H
#define RATCHET_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The standard check value: CRC-32C of the ASCII bytes "123456789". */
#define RT_CRC32C_CHECK UINT32_C(0xE3069283)

/* CRC-32C of len bytes (initial value and final XOR 0xFFFFFFFF applied). */
uint32_t rt_crc32c(const void *data, size_t len);

/* Continue a checksum: rt_crc32c_extend(rt_crc32c(a), b) == rt_crc32c(a || b). */
uint32_t rt_crc32c_extend(uint32_t crc, const void *data, size_t len);

#endif
