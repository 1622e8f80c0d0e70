/* CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), as TFRecord files
 * (TensorBoard's event files) checksum their records. Debian packages no
 * C library for it, so it is here. */
#ifndef BMST_CRC32C_H
#define BMST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of `bytes` bytes ("123456789" gives 0xE3069283). */
uint32_t bmst_crc32c(const void *data, size_t bytes);
/* TFRecord's masked form: rotated right by 15 bits, plus 0xa282ead8. */
uint32_t bmst_crc32c_masked(const void *data, size_t bytes);

#endif
