/* Elementwise kernels of the CUDA backend: ReLU and its backward (from the
 * output or from its sign mask), add and the gradient pass-through, channel
 * concat, the BMST mix and its backward, and the conversions between fp32
 * and the activation type.
 *
 * Every kernel loads its inputs in fp32 (to_f32), computes in fp32 and rounds
 * once when it stores (from_f32), which is what the CPU backend emulates.
 * Same-index kernels take no __restrict__: callers may run them in place
 * (y == x, dx == dy), and each thread reads an element before it writes it. */
#include "cuda_internal.h"

#define EW_THREADS 256

/* The first index and the stride of a grid-stride loop, in size_t. */
#define GRID_START() ((size_t)blockIdx.x * blockDim.x + threadIdx.x)
#define GRID_STRIDE() ((size_t)gridDim.x * blockDim.x)

template <typename T> __global__ void relu_fwd_kernel(size_t n, const T *x, T *y) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        float v = to_f32(x[i]);
        y[i] = from_f32<T>(v > 0.0f ? v : 0.0f);
    }
}

/* The mask is y > 0, as on the CPU: y > 0 exactly where x > 0, and x may have
 * been overwritten by y. */
template <typename T>
__global__ void relu_bwd_kernel(size_t n, const T *y, const T *dy, T *dx, int accumulate) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        float g = to_f32(y[i]) > 0.0f ? to_f32(dy[i]) : 0.0f;
        dx[i] = from_f32<T>(accumulate ? to_f32(dx[i]) + g : g);
    }
}

/* The same selection from y's sign mask (cuda_sign_mask.cu). */
template <typename T>
__global__ void relu_bwd_mask_kernel(size_t n, const uint32_t *y_mask, const T *dy, T *dx,
                                     int accumulate) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        float g = (y_mask[i / 32] >> (i % 32)) & 1u ? to_f32(dy[i]) : 0.0f;
        dx[i] = from_f32<T>(accumulate ? to_f32(dx[i]) + g : g);
    }
}

template <typename T> __global__ void add_kernel(size_t n, const T *a, const T *b, T *y) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE())
        y[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <typename T> __global__ void sub_kernel(size_t n, const T *a, const T *b, T *y) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE())
        y[i] = from_f32<T>(to_f32(a[i]) - to_f32(b[i]));
}

/* dst += src; the overwrite case is a plain copy (cudaMemcpyAsync). */
template <typename T> __global__ void accumulate_kernel(size_t n, const T *src, T *dst) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE())
        dst[i] = from_f32<T>(to_f32(dst[i]) + to_f32(src[i]));
}

/* One thread per element of the part [rows][c_part]; y / dy is [rows][c_total]. */
template <typename T>
__global__ void concat_fwd_kernel(size_t rows, int c_total, int c_offset, int c_part, const T *x,
                                  T *y) {
    const size_t n = rows * (size_t)c_part;
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        size_t r = i / (size_t)c_part;
        size_t j = i - r * (size_t)c_part;
        y[r * (size_t)c_total + (size_t)c_offset + j] = x[i];
    }
}

template <typename T>
__global__ void concat_bwd_kernel(size_t rows, int c_total, int c_offset, int c_part, const T *dy,
                                  T *dx, int accumulate) {
    const size_t n = rows * (size_t)c_part;
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        size_t r = i / (size_t)c_part;
        size_t j = i - r * (size_t)c_part;
        T g = dy[r * (size_t)c_total + (size_t)c_offset + j];
        dx[i] = accumulate ? from_f32<T>(to_f32(dx[i]) + to_f32(g)) : g;
    }
}

/* The m mix weights, read once per thread from device memory into registers:
 * the fully unrolled guarded loop keeps the array out of local memory. */
static __device__ __forceinline__ void load_coef(int m, const float *coef, float *cf) {
#pragma unroll
    for (int j = 0; j < BMST_MAX_MIX; j++)
        cf[j] = j < m ? coef[j] : 0.0f;
}

/* y[i] = coef[0] * x[i] + coef[1] * x[chunk + i] + ..., summed in chunk order
 * as the CPU does. */
template <typename T>
__global__ void mix_fwd_kernel(int m, size_t chunk, const float *coef, const T *x, T *y) {
    float cf[BMST_MAX_MIX];
    load_coef(m, coef, cf);
    for (size_t i = GRID_START(); i < chunk; i += GRID_STRIDE()) {
        float acc = cf[0] * to_f32(x[i]);
#pragma unroll
        for (int j = 1; j < BMST_MAX_MIX; j++)
            if (j < m) acc += cf[j] * to_f32(x[(size_t)j * chunk + i]);
        y[i] = from_f32<T>(acc);
    }
}

/* dx[j * chunk + i] = coef[j] * dy[i]: one thread reads dy[i] once and writes
 * its m gradients, each write coalesced across the warp. */
template <typename T>
__global__ void mix_bwd_kernel(int m, size_t chunk, const float *coef, const T *dy, T *dx,
                               int accumulate) {
    float cf[BMST_MAX_MIX];
    load_coef(m, coef, cf);
    for (size_t i = GRID_START(); i < chunk; i += GRID_STRIDE()) {
        float g = to_f32(dy[i]);
#pragma unroll
        for (int j = 0; j < BMST_MAX_MIX; j++) {
            if (j < m) {
                T *d = dx + (size_t)j * chunk + i;
                float v = cf[j] * g;
                *d = from_f32<T>(accumulate ? to_f32(*d) + v : v);
            }
        }
    }
}

template <typename T> __global__ void cast_from_f32_kernel(size_t n, const float *src, T *dst) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE())
        dst[i] = from_f32<T>(src[i]);
}

template <typename T> __global__ void cast_to_f32_kernel(size_t n, const T *src, float *dst) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE())
        dst[i] = to_f32(src[i]);
}

static void cuda_relu_fwd(struct bmst_backend *be, size_t n, const void *x, void *y) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  relu_fwd_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, (const T *)x, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_relu_bwd(struct bmst_backend *be, size_t n, const void *y, const void *dy,
                          void *dx, int accumulate) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  relu_bwd_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, (const T *)y, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

static void cuda_relu_bwd_mask(struct bmst_backend *be, size_t n, const uint32_t *y_mask,
                               const void *dy, void *dx, int accumulate) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  relu_bwd_mask_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, y_mask, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

static void cuda_add_fwd(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  add_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, (const T *)a, (const T *)b, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_sub(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  sub_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, (const T *)a, (const T *)b, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_pass_grad(struct bmst_backend *be, size_t n, const void *src, void *dst,
                           int accumulate) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    if (!accumulate) {
        /* the element size follows from the dtype */
        const size_t bytes = n * (be->act_dtype == BMST_F32 ? sizeof(float) : sizeof(__half));
        if (dst != src) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
        return;
    }
    CUDA_DISPATCH(be->act_dtype, T,
                  accumulate_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, (const T *)src, (T *)dst));
    CUDA_CHECK_LAUNCH();
}

static void cuda_concat_fwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                            int c_part, const void *x, void *y) {
    if (rows == 0 || c_part <= 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    const size_t n = rows * (size_t)c_part;
    CUDA_DISPATCH(be->act_dtype, T,
                  concat_fwd_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      rows, c_total, c_offset, c_part, (const T *)x, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_concat_bwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                            int c_part, const void *dy, void *dx, int accumulate) {
    if (rows == 0 || c_part <= 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    const size_t n = rows * (size_t)c_part;
    CUDA_DISPATCH(be->act_dtype, T,
                  concat_bwd_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      rows, c_total, c_offset, c_part, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

static void check_mix_count(int m) {
    if (m < 1 || m > BMST_MAX_MIX)
        bmst_fatal("bmst", __FILE__, __LINE__, "mix", "chunk count outside 1..BMST_MAX_MIX");
}

static void cuda_mix_fwd(struct bmst_backend *be, enum bmst_dtype dtype, int m, size_t chunk,
                         const float *coef, const void *x, void *y) {
    check_mix_count(m);
    if (chunk == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(dtype, T,
                  mix_fwd_kernel<T><<<cuda_blocks(chunk, EW_THREADS), EW_THREADS, 0, s>>>(
                      m, chunk, coef, (const T *)x, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_mix_bwd(struct bmst_backend *be, int m, size_t chunk, const float *coef,
                         const void *dy, void *dx, int accumulate) {
    check_mix_count(m);
    if (chunk == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  mix_bwd_kernel<T><<<cuda_blocks(chunk, EW_THREADS), EW_THREADS, 0, s>>>(
                      m, chunk, coef, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

void cuda_cast_from_f32(struct bmst_backend *be, enum bmst_dtype dtype, size_t n, const float *src,
                        void *dst) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    if (dtype == BMST_F32) {
        if (dst != (const void *)src)
            CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
        return;
    }
    CUDA_DISPATCH(dtype, T,
                  cast_from_f32_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, src, (T *)dst));
    CUDA_CHECK_LAUNCH();
}

void cuda_cast_to_f32(struct bmst_backend *be, enum bmst_dtype dtype, size_t n, const void *src,
                      float *dst) {
    if (n == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    if (dtype == BMST_F32) {
        if ((const void *)dst != src)
            CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
        return;
    }
    CUDA_DISPATCH(dtype, T,
                  cast_to_f32_kernel<T><<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(
                      n, (const T *)src, dst));
    CUDA_CHECK_LAUNCH();
}

/* The kernel groups this file fills (backend.h), in the structs' field order. */
const struct bmst_relu_kernels cuda_relu_kernels = {
    /* .fwd = */ cuda_relu_fwd,
    /* .bwd = */ cuda_relu_bwd,
    /* .bwd_mask = */ cuda_relu_bwd_mask,
};
const struct bmst_add_kernels cuda_add_kernels = {
    /* .fwd = */ cuda_add_fwd,
    /* .bwd = */ cuda_pass_grad,
    /* .sub = */ cuda_sub,
};
const struct bmst_concat_kernels cuda_concat_kernels = {
    /* .fwd = */ cuda_concat_fwd,
    /* .bwd = */ cuda_concat_bwd,
};
const struct bmst_mix_kernels cuda_mix_kernels = {
    /* .fwd = */ cuda_mix_fwd,
    /* .bwd = */ cuda_mix_bwd,
};
