/* CRC-32C (src/base/crc32c.c) against published check values: RFC 3720's
 * (iSCSI) 32 zero bytes, 32 0xFF bytes and 0..31, the catalogue's
 * "123456789", and TFRecord's masking of it. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "crc32c.h"

int main(void) {
    unsigned char buf[32];
    CHECK(bmst_crc32c("123456789", 9) == 0xE3069283u, "123456789: %08x",
          bmst_crc32c("123456789", 9));
    memset(buf, 0, sizeof buf);
    CHECK(bmst_crc32c(buf, 32) == 0x8A9136AAu, "32 zeros: %08x", bmst_crc32c(buf, 32));
    memset(buf, 0xFF, sizeof buf);
    CHECK(bmst_crc32c(buf, 32) == 0x62A8AB43u, "32 0xFF: %08x", bmst_crc32c(buf, 32));
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    CHECK(bmst_crc32c(buf, 32) == 0x46DD794Eu, "0..31: %08x", bmst_crc32c(buf, 32));
    CHECK(bmst_crc32c("", 0) == 0u, "empty");
    uint32_t c = 0xE3069283u, masked = ((c >> 15) | (c << 17)) + 0xa282ead8u;
    CHECK(bmst_crc32c_masked("123456789", 9) == masked, "masked: %08x",
          bmst_crc32c_masked("123456789", 9));
    return check_finish("crc32c");
}
