/* The 1-bit ReLU codec's packing on the GPU (backend.h, struct
 * bmst_sign_mask_kernels): bit i % 32 of word i / 32 says whether element i
 * is positive, as the CPU packs it; cuda_elementwise.cu's ReLU backward reads
 * it. A warp packs a word with one ballot, lane k giving bit k, so no two
 * threads write the same word and no atomics are needed. */
#include "cuda_internal.h"

#define MASK_THREADS 256 /* a multiple of the warp: every warp packs whole words */

template <typename T> __global__ void sign_mask_pack_kernel(size_t n, const T *x, uint32_t *bits) {
    const size_t words = (n + 31) / 32;
    const unsigned lane = threadIdx.x & 31;
    const size_t first_warp = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const size_t warps = (size_t)gridDim.x * blockDim.x / 32;
    /* w is the same for the 32 lanes of a warp, so they stay converged */
    for (size_t w = first_warp; w < words; w += warps) {
        const size_t i = w * 32 + lane;
        const int positive = i < n && to_f32(x[i]) > 0.0f;
        const unsigned word = __ballot_sync(0xffffffffu, positive);
        if (lane == 0) bits[w] = word;
    }
}

static void sign_mask_pack(struct bmst_backend *be, size_t n, const void *x, uint32_t *bits) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    const size_t threads = (n + 31) / 32 * 32; /* a lane for every bit of every word */
    CUDA_DISPATCH(
        be->act_dtype, T,
        sign_mask_pack_kernel<T>
        <<<cuda_blocks(threads, MASK_THREADS), MASK_THREADS, 0, s>>>(n, (const T *)x, bits));
    CUDA_CHECK_LAUNCH();
}

const struct bmst_sign_mask_kernels cuda_sign_mask_kernels = {
    /* .pack = */ sign_mask_pack,
};
