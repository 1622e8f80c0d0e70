/* Sizes and names of tensor element types and shapes. */
#include "tensor.h"

#include <string.h>

size_t bmst_dtype_size(enum bmst_dtype dtype) {
    switch (dtype) {
    case BMST_F32: return 4;
    case BMST_F16: return 2;
    case BMST_BF16: return 2;
    }
    return 0;
}

const char *bmst_dtype_name(enum bmst_dtype dtype) {
    switch (dtype) {
    case BMST_F32: return "fp32";
    case BMST_F16: return "fp16";
    case BMST_BF16: return "bf16";
    }
    return "?";
}

size_t bmst_shape_count(struct bmst_shape s) {
    return (size_t)s.n * (size_t)s.h * (size_t)s.w * (size_t)s.c;
}

struct bmst_shape bmst_shape_make(int n, int h, int w, int c) {
    struct bmst_shape s = {n, h, w, c};
    return s;
}

uint16_t bmst_bf16_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        if (u & 0x007fffffu) u |= 0x00400000u; /* a NaN stays a NaN after truncation */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even; overflows to inf */
    }
    return (uint16_t)(u >> 16);
}

float bmst_bf16_value(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}
