/* The pruning mask's pass on the CPU (backend.h, bmst_optim_kernels.mask_apply):
 * after every optimizer step, pruned weights and their optimizer state go
 * back to exactly zero, so neither momentum nor weight decay revives them. */
#include "cpu_internal.h"

#include <stdint.h>

void cpu_mask_apply(struct bmst_backend *be, size_t n, const uint32_t *keep, float *p, float *s0,
                    float *s1, void *p_act) {
    (void)be; /* the CPU keeps every type in floats: the copy is zeroed as one */
    const size_t words = (n + 31) / 32;
#pragma omp parallel for schedule(static) if (n > CPU_PAR_MIN)
    for (size_t w = 0; w < words; w++) {
        uint32_t bits = keep[w];
        if (bits == 0xffffffffu) continue; /* nothing pruned in these 32 */
        size_t hi = w * 32 + 32 < n ? w * 32 + 32 : n;
        for (size_t i = w * 32; i < hi; i++) {
            if ((bits >> (i % 32)) & 1u) continue;
            p[i] = 0.0f;
            if (s0) s0[i] = 0.0f;
            if (s1) s1[i] = 0.0f;
            if (p_act) ((float *)p_act)[i] = 0.0f;
        }
    }
}
