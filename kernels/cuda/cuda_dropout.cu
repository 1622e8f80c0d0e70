/* Dropout's CUDA kernels: the mask drawn from a hash of the step's key (read
 * from the step's scalars in device memory, so a recorded step replays with
 * the step's own key), the node's salt and the element's index, exactly as
 * the CPU backend draws it (backend.h, struct bmst_dropout_desc). Forward and
 * backward draw it alike, so nothing is kept between them. Computes in fp32
 * and rounds once when it stores, as the other elementwise kernels. */
#include "cuda_internal.h"

#define DROPOUT_THREADS 256

/* splitmix64's finalizer, as rng.c's bmst_hash64 and cpu_dropout.c's */
__device__ __forceinline__ uint64_t dropout_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* dst = src * keep * scale, or dst += that; key holds the step's two words */
template <typename T>
__global__ void dropout_kernel(size_t n, uint32_t drop, float scale, uint32_t salt,
                               const uint32_t *key, const T *src, T *dst, int accumulate) {
    const uint64_t k = dropout_mix64(((uint64_t)key[1] << 32 | key[0]) ^ salt);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = (uint32_t)(dropout_mix64(k ^ i) >> 40) >= drop ? to_f32(src[i]) * scale : 0.0f;
        dst[i] = from_f32<T>(accumulate ? to_f32(dst[i]) + v : v);
    }
}

static void run(struct bmst_backend *be, const struct bmst_dropout_desc *d, const float *key,
                const void *src, void *dst, int accumulate) {
    if (d->n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  dropout_kernel<T><<<cuda_blocks(d->n, DROPOUT_THREADS), DROPOUT_THREADS, 0, s>>>(
                      d->n, d->drop, d->scale, d->salt, (const uint32_t *)key, (const T *)src,
                      (T *)dst, accumulate));
    CUDA_CHECK_LAUNCH();
}

static void cuda_dropout_fwd(struct bmst_backend *be, const struct bmst_dropout_desc *d,
                             const float *key, const void *x, void *y) {
    run(be, d, key, x, y, 0);
}

static void cuda_dropout_bwd(struct bmst_backend *be, const struct bmst_dropout_desc *d,
                             const float *key, const void *dy, void *dx, int accumulate) {
    run(be, d, key, dy, dx, accumulate);
}

const struct bmst_dropout_kernels cuda_dropout_kernels = {
    /* .fwd = */ cuda_dropout_fwd,
    /* .bwd = */ cuda_dropout_bwd,
};
