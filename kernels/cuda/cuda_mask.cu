/* The pruning mask's pass on the GPU (backend.h, bmst_optim_kernels.mask_apply),
 * as kernels/cpu/cpu_mask.c: where bit i % 32 of word i / 32 of `keep` is 0,
 * the weight, its optimizer state and its compute copy become exactly zero.
 * Each thread owns its elements, so the result is the CPU's bit for bit. */
#include "cuda_internal.h"

#define MASK_APPLY_THREADS 256

template <typename T>
__global__ void mask_apply_kernel(size_t n, const uint32_t *keep, float *p, float *s0, float *s1,
                                  T *p_act) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        if ((keep[i / 32] >> (i % 32)) & 1u) continue;
        p[i] = 0.0f;
        if (s0) s0[i] = 0.0f;
        if (s1) s1[i] = 0.0f;
        if (p_act) p_act[i] = from_f32<T>(0.0f);
    }
}

void cuda_mask_apply(struct bmst_backend *be, size_t n, const uint32_t *keep, float *p, float *s0,
                     float *s1, void *p_act) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  mask_apply_kernel<T><<<cuda_blocks(n, MASK_APPLY_THREADS), MASK_APPLY_THREADS,
                                         0, s>>>(n, keep, p, s0, s1, (T *)p_act));
    CUDA_CHECK_LAUNCH();
}
