/* The 1-bit ReLU codec's packing (backend.h, struct bmst_sign_mask_kernels):
 * one bit per element saying whether it is positive, 32 to a word, which is
 * all ReLU's backward needs of its output (src/saved.c; cpu_elementwise.c
 * reads it). Each word is one thread's, so the bits do not depend on the
 * thread count. */
#include "cpu_internal.h"

static void sign_mask_pack(struct bmst_backend *be, size_t n, const void *xv, uint32_t *bits) {
    (void)be;
    const float *x = xv;
    const size_t words = (n + 31) / 32;
#pragma omp parallel for schedule(static) if (n > CPU_PAR_MIN)
    for (size_t w = 0; w < words; w++) {
        const size_t first = w * 32, count = n - first < 32 ? n - first : 32;
        uint32_t word = 0;
        for (size_t b = 0; b < count; b++)
            word |= (uint32_t)(x[first + b] > 0.0f) << b;
        bits[w] = word;
    }
}

const struct bmst_sign_mask_kernels cpu_sign_mask_kernels = {
    .pack = sign_mask_pack,
};
