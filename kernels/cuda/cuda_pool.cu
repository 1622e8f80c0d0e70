/* Pooling kernels of the CUDA backend over NHWC: max and average windows with
 * stride and zero padding (average counts the padding, PyTorch's
 * count_include_pad = True), and global average pooling.
 *
 * One thread per output element in the forward passes and one per input
 * element in the backward passes: a backward thread gathers from the output
 * windows that cover its element, so no two threads write the same place, no
 * atomics are needed, and every sum is taken in the CPU backend's order (the
 * old value first, then windows in (oh, ow) order), in fp32, rounded once. The
 * channel is the fastest index, so a warp touches consecutive channels. */
#include "cuda_internal.h"

#include <float.h>

#define POOL_THREADS 256

#define GRID_START() ((size_t)blockIdx.x * blockDim.x + threadIdx.x)
#define GRID_STRIDE() ((size_t)gridDim.x * blockDim.x)

/* The window's input rows [*lo, *hi) for output index o (as cpu_pool.c). */
static __device__ __forceinline__ void pool_window(int o, int k, int stride, int pad, int in,
                                                   int *lo, int *hi) {
    int start = o * stride - pad;
    *lo = start < 0 ? 0 : start;
    *hi = start + k < in ? start + k : in;
}

/* First and last output index whose window covers input index i; empty when
 * lo > hi (as cpu_pool.c). i + pad >= 0, so the divisions truncate as floor. */
static __device__ __forceinline__ void pool_cover(int i, int k, int stride, int pad, int out,
                                                  int *lo, int *hi) {
    int t = i + pad - k + 1; /* o * stride >= t */
    *lo = t <= 0 ? 0 : (t + stride - 1) / stride;
    *hi = (i + pad) / stride; /* o * stride <= i + pad */
    if (*hi > out - 1) *hi = out - 1;
}

/* Splits an NHWC element index into image, row, column and channel. */
static __device__ __forceinline__ void nhwc_split(size_t idx, int h, int w, int c, int *n,
                                                  int *y, int *x, int *ch) {
    size_t pix = idx / (size_t)c;
    *ch = (int)(idx - pix * (size_t)c);
    size_t row = pix / (size_t)w;
    *x = (int)(pix - row * (size_t)w);
    size_t img = row / (size_t)h;
    *y = (int)(row - img * (size_t)h);
    *n = (int)img;
}

/* The running maximum starts at the window's first element inside the input
 * and takes an element only when strictly greater, as on the CPU: the first
 * maximum in scan order wins and a NaN there stays. A window that is all
 * padding gives -FLT_MAX (inf in a half type) and arg-max 0. argmax (may be
 * NULL) gets the maximum's place in the window, as backend.h says. */
template <typename T>
__global__ void maxpool_fwd_kernel(struct bmst_pool_desc d, const T *x, T *y, uint8_t *argmax) {
    const size_t total = (size_t)d.n * d.out_h * d.out_w * d.c;
    for (size_t idx = GRID_START(); idx < total; idx += GRID_STRIDE()) {
        int n, oh, ow, c;
        nhwc_split(idx, d.out_h, d.out_w, d.c, &n, &oh, &ow, &c);
        int ih_lo, ih_hi, iw_lo, iw_hi;
        pool_window(oh, d.kh, d.stride_h, d.pad_h, d.h, &ih_lo, &ih_hi);
        pool_window(ow, d.kw, d.stride_w, d.pad_w, d.w, &iw_lo, &iw_hi);
        const int corner_h = oh * d.stride_h - d.pad_h, corner_w = ow * d.stride_w - d.pad_w;
        const T *xi = x + (size_t)n * d.h * d.w * d.c + c;
        float best = -FLT_MAX;
        int at = 0;
        for (int ih = ih_lo; ih < ih_hi; ih++) {
            for (int iw = iw_lo; iw < iw_hi; iw++) {
                float v = to_f32(xi[((size_t)ih * d.w + iw) * d.c]);
                if ((ih == ih_lo && iw == iw_lo) || v > best) {
                    best = v;
                    at = (ih - corner_h) * d.kw + (iw - corner_w);
                }
            }
        }
        y[idx] = from_f32<T>(best);
        if (argmax) argmax[idx] = (uint8_t)at;
    }
}

/* The backward thread of input pixel (ih, iw) adds dy of every covering
 * window whose arg-max byte names it, in (oh, ow) order as the CPU adds. */
template <typename T>
__global__ void maxpool_bwd_kernel(struct bmst_pool_desc d, const uint8_t *argmax, const T *dy,
                                   T *dx, int accumulate) {
    const size_t total = (size_t)d.n * d.h * d.w * d.c;
    const int C = d.c;
    for (size_t idx = GRID_START(); idx < total; idx += GRID_STRIDE()) {
        int n, ih, iw, c;
        nhwc_split(idx, d.h, d.w, C, &n, &ih, &iw, &c);
        int oh_lo, oh_hi, ow_lo, ow_hi;
        pool_cover(ih, d.kh, d.stride_h, d.pad_h, d.out_h, &oh_lo, &oh_hi);
        pool_cover(iw, d.kw, d.stride_w, d.pad_w, d.out_w, &ow_lo, &ow_hi);
        const size_t img_out = (size_t)n * d.out_h * d.out_w * C + c;
        float acc = accumulate ? to_f32(dx[idx]) : 0.0f;
        for (int oh = oh_lo; oh <= oh_hi; oh++) {
            const int row = ih - (oh * d.stride_h - d.pad_h);
            for (int ow = ow_lo; ow <= ow_hi; ow++) {
                /* the window covers (ih, iw), so it is not all padding */
                const int me = row * d.kw + iw - (ow * d.stride_w - d.pad_w);
                const size_t out = img_out + ((size_t)oh * d.out_w + ow) * C;
                if (argmax[out] == me) acc += to_f32(dy[out]);
            }
        }
        dx[idx] = from_f32<T>(acc);
    }
}

/* The divisor is always kh * kw (count_include_pad); the sum runs in window
 * order from zero and is scaled at the end, as on the CPU. */
template <typename T>
__global__ void avgpool_fwd_kernel(struct bmst_pool_desc d, const T *x, T *y) {
    const size_t total = (size_t)d.n * d.out_h * d.out_w * d.c;
    const float inv = 1.0f / (float)(d.kh * d.kw);
    for (size_t idx = GRID_START(); idx < total; idx += GRID_STRIDE()) {
        int n, oh, ow, c;
        nhwc_split(idx, d.out_h, d.out_w, d.c, &n, &oh, &ow, &c);
        int ih_lo, ih_hi, iw_lo, iw_hi;
        pool_window(oh, d.kh, d.stride_h, d.pad_h, d.h, &ih_lo, &ih_hi);
        pool_window(ow, d.kw, d.stride_w, d.pad_w, d.w, &iw_lo, &iw_hi);
        const T *xi = x + (size_t)n * d.h * d.w * d.c + c;
        float sum = 0.0f;
        for (int ih = ih_lo; ih < ih_hi; ih++)
            for (int iw = iw_lo; iw < iw_hi; iw++)
                sum += to_f32(xi[((size_t)ih * d.w + iw) * d.c]);
        y[idx] = from_f32<T>(sum * inv);
    }
}

template <typename T>
__global__ void avgpool_bwd_kernel(struct bmst_pool_desc d, const T *dy, T *dx, int accumulate) {
    const size_t total = (size_t)d.n * d.h * d.w * d.c;
    const float inv = 1.0f / (float)(d.kh * d.kw);
    for (size_t idx = GRID_START(); idx < total; idx += GRID_STRIDE()) {
        int n, ih, iw, c;
        nhwc_split(idx, d.h, d.w, d.c, &n, &ih, &iw, &c);
        int oh_lo, oh_hi, ow_lo, ow_hi;
        pool_cover(ih, d.kh, d.stride_h, d.pad_h, d.out_h, &oh_lo, &oh_hi);
        pool_cover(iw, d.kw, d.stride_w, d.pad_w, d.out_w, &ow_lo, &ow_hi);
        const T *gi = dy + (size_t)n * d.out_h * d.out_w * d.c + c;
        float acc = accumulate ? to_f32(dx[idx]) : 0.0f;
        for (int oh = oh_lo; oh <= oh_hi; oh++)
            for (int ow = ow_lo; ow <= ow_hi; ow++)
                acc += to_f32(gi[((size_t)oh * d.out_w + ow) * d.c]) * inv;
        dx[idx] = from_f32<T>(acc);
    }
}

/* One thread per (image, channel): the hw pixels are summed in order, so the
 * result is the CPU's sum; a warp reads consecutive channels of a pixel. */
template <typename T>
__global__ void gap_fwd_kernel(int n, int hw, int c, const T *x, T *y) {
    const size_t total = (size_t)n * c;
    const float inv = 1.0f / (float)hw;
    for (size_t idx = GRID_START(); idx < total; idx += GRID_STRIDE()) {
        size_t img = idx / (size_t)c;
        size_t ch = idx - img * (size_t)c;
        const T *xp = x + img * (size_t)hw * c + ch;
        float sum = 0.0f;
        for (int p = 0; p < hw; p++)
            sum += to_f32(xp[(size_t)p * c]);
        y[idx] = from_f32<T>(sum * inv);
    }
}

template <typename T>
__global__ void gap_bwd_kernel(int n, int hw, int c, const T *dy, T *dx, int accumulate) {
    const size_t total = (size_t)n * hw * c;
    const float inv = 1.0f / (float)hw;
    for (size_t idx = GRID_START(); idx < total; idx += GRID_STRIDE()) {
        size_t pix = idx / (size_t)c;
        size_t ch = idx - pix * (size_t)c;
        size_t img = pix / (size_t)hw;
        float g = to_f32(dy[img * (size_t)c + ch]) * inv;
        dx[idx] = from_f32<T>(accumulate ? to_f32(dx[idx]) + g : g);
    }
}

static size_t pool_in_count(const struct bmst_pool_desc *d) {
    return (size_t)d->n * d->h * d->w * d->c;
}

static size_t pool_out_count(const struct bmst_pool_desc *d) {
    return (size_t)d->n * d->out_h * d->out_w * d->c;
}

static void cuda_maxpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                             void *y, uint8_t *argmax) {
    const size_t total = pool_out_count(d);
    if (total == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  maxpool_fwd_kernel<T><<<cuda_blocks(total, POOL_THREADS), POOL_THREADS, 0, s>>>(
                      *d, (const T *)x, (T *)y, argmax));
    CUDA_CHECK_LAUNCH();
}

static void cuda_maxpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d,
                             const uint8_t *argmax, const void *dy, void *dx, int accumulate) {
    const size_t total = pool_in_count(d);
    if (total == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  maxpool_bwd_kernel<T><<<cuda_blocks(total, POOL_THREADS), POOL_THREADS, 0, s>>>(
                      *d, argmax, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

static void cuda_avgpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                             void *y) {
    const size_t total = pool_out_count(d);
    if (total == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  avgpool_fwd_kernel<T><<<cuda_blocks(total, POOL_THREADS), POOL_THREADS, 0, s>>>(
                      *d, (const T *)x, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_avgpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d,
                             const void *dy, void *dx, int accumulate) {
    const size_t total = pool_in_count(d);
    if (total == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  avgpool_bwd_kernel<T><<<cuda_blocks(total, POOL_THREADS), POOL_THREADS, 0, s>>>(
                      *d, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

static void cuda_gap_fwd(struct bmst_backend *be, int n, int hw, int c, const void *x, void *y) {
    const size_t total = (size_t)n * c;
    if (n <= 0 || c <= 0 || hw <= 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  gap_fwd_kernel<T><<<cuda_blocks(total, POOL_THREADS), POOL_THREADS, 0, s>>>(
                      n, hw, c, (const T *)x, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_gap_bwd(struct bmst_backend *be, int n, int hw, int c, const void *dy, void *dx,
                         int accumulate) {
    if (n <= 0 || c <= 0 || hw <= 0) return;
    const size_t total = (size_t)n * hw * c;
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_DISPATCH(be->act_dtype, T,
                  gap_bwd_kernel<T><<<cuda_blocks(total, POOL_THREADS), POOL_THREADS, 0, s>>>(
                      n, hw, c, (const T *)dy, (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

/* The kernel groups this file fills (backend.h), in the structs' field order. */
const struct bmst_maxpool_kernels cuda_maxpool_kernels = {
    /* .fwd = */ cuda_maxpool_fwd,
    /* .bwd = */ cuda_maxpool_bwd,
};
const struct bmst_avgpool_kernels cuda_avgpool_kernels = {
    /* .fwd = */ cuda_avgpool_fwd,
    /* .bwd = */ cuda_avgpool_bwd,
};
const struct bmst_gap_kernels cuda_gap_kernels = {
    /* .fwd = */ cuda_gap_fwd,
    /* .bwd = */ cuda_gap_bwd,
};
