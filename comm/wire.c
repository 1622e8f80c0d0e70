/* fp16 through the compiler's _Float16 (IEEE binary16 with correct rounding);
 * bf16 through the base library's bit conversion. */
#include "wire.h"

#include <string.h>

static uint16_t f16_bits(float v) {
    _Float16 h = (_Float16)v;
    uint16_t u;
    memcpy(&u, &h, sizeof u);
    return u;
}

static float f16_value(uint16_t u) {
    _Float16 h;
    memcpy(&h, &u, sizeof h);
    return (float)h;
}

static uint16_t to_bits(enum bmst_dtype wire, float v) {
    return wire == BMST_F16 ? f16_bits(v) : bmst_bf16_bits(v);
}

static float from_bits(enum bmst_dtype wire, uint16_t u) {
    return wire == BMST_F16 ? f16_value(u) : bmst_bf16_value(u);
}

void bmst_wire_pack(enum bmst_dtype wire, const float *src, uint16_t *dst, size_t n,
                    float prescale) {
    for (size_t i = 0; i < n; i++)
        dst[i] = to_bits(wire, src[i] * prescale);
}

void bmst_wire_unpack(enum bmst_dtype wire, const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = from_bits(wire, src[i]);
}

void bmst_wire_sum(enum bmst_dtype wire, const uint16_t *in, uint16_t *inout, size_t n) {
    for (size_t i = 0; i < n; i++)
        inout[i] = to_bits(wire, from_bits(wire, in[i]) + from_bits(wire, inout[i]));
}
