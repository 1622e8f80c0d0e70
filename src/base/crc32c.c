/* CRC-32C (crc32c.h), bit by bit over the reflected polynomial 0x82F63B78:
 * event records are a few hundred bytes, so a table would buy nothing. */
#include "crc32c.h"

uint32_t bmst_crc32c(const void *data, size_t bytes) {
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < bytes; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1u ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

uint32_t bmst_crc32c_masked(const void *data, size_t bytes) {
    uint32_t c = bmst_crc32c(data, bytes);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}
