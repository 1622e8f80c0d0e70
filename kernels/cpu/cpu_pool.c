/* Pooling over NHWC: max and average windows with stride and zero padding,
 * and global average pooling. Inner loops run over channels, which are
 * contiguous in NHWC, so every window position is a vector op. */
#include "cpu_internal.h"

#include <float.h>
#include <string.h>

/* Channels one maxpool backward task owns; a multiple of 16 floats is a
 * whole number of cache lines, so tasks never share a line of dx. */
#define POOL_CHANNEL_BLOCK 32

static size_t pool_in_count(const struct bmst_pool_desc *d) {
    return (size_t)d->n * d->h * d->w * d->c;
}

/* The window's rows [*lo, *hi) that fall inside the input, for output index o. */
static void pool_window(int o, int k, int stride, int pad, int in, int *lo, int *hi) {
    int start = o * stride - pad;
    *lo = start < 0 ? 0 : start;
    *hi = start + k < in ? start + k : in;
}

/* The running maximum starts at the window's first element inside the input
 * and takes an element only when strictly greater, so the first maximum in
 * scan order wins (PyTorch's choice) and a NaN there stays. A window that is
 * all padding gives -FLT_MAX and arg-max 0, which backward skips. The
 * arg-max select is branch-free per channel so it vectorizes. */
static void cpu_maxpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                            float *y, uint8_t *argmax) {
    (void)be;
    const int H = d->h, W = d->w, C = d->c, OH = d->out_h, OW = d->out_w;
#pragma omp parallel for collapse(2) schedule(static) if (pool_in_count(d) > CPU_PAR_MIN)
    for (int n = 0; n < d->n; n++) {
        for (int oh = 0; oh < OH; oh++) {
            int ih_lo, ih_hi;
            pool_window(oh, d->kh, d->stride_h, d->pad_h, H, &ih_lo, &ih_hi);
            const int corner_h = oh * d->stride_h - d->pad_h;
            for (int ow = 0; ow < OW; ow++) {
                int iw_lo, iw_hi;
                pool_window(ow, d->kw, d->stride_w, d->pad_w, W, &iw_lo, &iw_hi);
                const int corner_w = ow * d->stride_w - d->pad_w;
                const size_t out = (((size_t)n * OH + oh) * OW + ow) * C;
                float *restrict yp = y + out;
                uint8_t *restrict ap = argmax ? argmax + out : NULL;
                if (ih_lo >= ih_hi || iw_lo >= iw_hi) { /* all padding */
                    for (int c = 0; c < C; c++)
                        yp[c] = -FLT_MAX;
                    if (ap) memset(ap, 0, (size_t)C);
                    continue;
                }
                for (int ih = ih_lo; ih < ih_hi; ih++) {
                    for (int iw = iw_lo; iw < iw_hi; iw++) {
                        const float *restrict xp = x + (((size_t)n * H + ih) * W + iw) * C;
                        const uint8_t at = (uint8_t)((ih - corner_h) * d->kw + (iw - corner_w));
                        if (ih == ih_lo && iw == iw_lo) {
                            memcpy(yp, xp, (size_t)C * sizeof *yp);
                            if (ap) memset(ap, at, (size_t)C);
                        } else if (ap) {
                            for (int c = 0; c < C; c++) {
                                float v = xp[c], b = yp[c];
                                yp[c] = v > b ? v : b;
                                ap[c] = v > b ? at : ap[c];
                            }
                        } else {
                            for (int c = 0; c < C; c++)
                                yp[c] = xp[c] > yp[c] ? xp[c] : yp[c];
                        }
                    }
                }
            }
        }
    }
}

/* Each output's gradient goes to the input its arg-max byte names. Windows
 * overlap, so a thread owns an (image, channel block) pair: what it scatters
 * never meets another thread's writes. */
static void cpu_maxpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d,
                            const uint8_t *argmax, const float *dy, float *dx, int accumulate) {
    (void)be;
    const int H = d->h, W = d->w, C = d->c, OH = d->out_h, OW = d->out_w;
    const int blocks = (C + POOL_CHANNEL_BLOCK - 1) / POOL_CHANNEL_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (pool_in_count(d) > CPU_PAR_MIN)
    for (int n = 0; n < d->n; n++) {
        for (int b = 0; b < blocks; b++) {
            const int c0 = b * POOL_CHANNEL_BLOCK;
            const int cn = C - c0 < POOL_CHANNEL_BLOCK ? C - c0 : POOL_CHANNEL_BLOCK;
            float *dx_img = dx + (size_t)n * H * W * C + c0;
            if (!accumulate) {
                for (size_t p = 0; p < (size_t)H * W; p++)
                    memset(dx_img + p * C, 0, (size_t)cn * sizeof *dx_img);
            }
            for (int oh = 0; oh < OH; oh++) {
                int ih_lo, ih_hi;
                pool_window(oh, d->kh, d->stride_h, d->pad_h, H, &ih_lo, &ih_hi);
                const int corner_h = oh * d->stride_h - d->pad_h;
                for (int ow = 0; ow < OW; ow++) {
                    int iw_lo, iw_hi;
                    pool_window(ow, d->kw, d->stride_w, d->pad_w, W, &iw_lo, &iw_hi);
                    if (ih_lo >= ih_hi || iw_lo >= iw_hi) continue; /* all padding */
                    const int corner = corner_h * W + ow * d->stride_w - d->pad_w;
                    const size_t out = (((size_t)n * OH + oh) * OW + ow) * C + c0;
                    const float *g = dy + out;
                    const uint8_t *a = argmax + out;
                    for (int c = 0; c < cn; c++) {
                        const int pix = corner + (a[c] / d->kw) * W + a[c] % d->kw;
                        dx_img[(size_t)pix * C + c] += g[c];
                    }
                }
            }
        }
    }
}

/* The divisor is always kh * kw: with count_include_pad the padding counts,
 * and floor-mode output sizes keep every window inside the padded input. */
static void cpu_avgpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                            float *y) {
    (void)be;
    const int H = d->h, W = d->w, C = d->c, OH = d->out_h, OW = d->out_w;
    const float inv = 1.0f / (float)(d->kh * d->kw);
#pragma omp parallel for collapse(2) schedule(static) if (pool_in_count(d) > CPU_PAR_MIN)
    for (int n = 0; n < d->n; n++) {
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                float *restrict yp = y + (((size_t)n * OH + oh) * OW + ow) * C;
                for (int c = 0; c < C; c++)
                    yp[c] = 0.0f;
                for (int i = 0; i < d->kh; i++) {
                    int ih = oh * d->stride_h - d->pad_h + i;
                    if (ih < 0 || ih >= H) continue;
                    for (int j = 0; j < d->kw; j++) {
                        int iw = ow * d->stride_w - d->pad_w + j;
                        if (iw < 0 || iw >= W) continue;
                        const float *restrict xp = x + (((size_t)n * H + ih) * W + iw) * C;
                        for (int c = 0; c < C; c++)
                            yp[c] += xp[c];
                    }
                }
                for (int c = 0; c < C; c++)
                    yp[c] *= inv;
            }
        }
    }
}

/* First and last output index whose window (start o*stride - pad, length k)
 * covers input index i; empty when lo > hi. */
static void pool_cover(int i, int k, int stride, int pad, int out, int *lo, int *hi) {
    int t = i + pad - k + 1; /* o*stride >= t */
    *lo = t <= 0 ? 0 : (t + stride - 1) / stride;
    *hi = (i + pad) / stride; /* o*stride <= i + pad */
    if (*hi > out - 1) *hi = out - 1;
}

/* A gather: each dx pixel sums the dy of the windows covering it, so threads
 * own disjoint dx rows and need no synchronisation. */
static void cpu_avgpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d,
                            const float *dy, float *dx, int accumulate) {
    (void)be;
    const int H = d->h, W = d->w, C = d->c, OH = d->out_h, OW = d->out_w;
    const float inv = 1.0f / (float)(d->kh * d->kw);
#pragma omp parallel for collapse(2) schedule(static) if (pool_in_count(d) > CPU_PAR_MIN)
    for (int n = 0; n < d->n; n++) {
        for (int ih = 0; ih < H; ih++) {
            int oh_lo, oh_hi;
            pool_cover(ih, d->kh, d->stride_h, d->pad_h, OH, &oh_lo, &oh_hi);
            for (int iw = 0; iw < W; iw++) {
                int ow_lo, ow_hi;
                pool_cover(iw, d->kw, d->stride_w, d->pad_w, OW, &ow_lo, &ow_hi);
                float *restrict dp = dx + (((size_t)n * H + ih) * W + iw) * C;
                if (!accumulate)
                    for (int c = 0; c < C; c++)
                        dp[c] = 0.0f;
                for (int oh = oh_lo; oh <= oh_hi; oh++) {
                    for (int ow = ow_lo; ow <= ow_hi; ow++) {
                        const float *restrict g = dy + (((size_t)n * OH + oh) * OW + ow) * C;
                        for (int c = 0; c < C; c++)
                            dp[c] += g[c] * inv;
                    }
                }
            }
        }
    }
}

static void cpu_gap_fwd(struct bmst_backend *be, int n, int hw, int c, const float *x, float *y) {
    (void)be;
    const float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) if ((size_t)n * hw * c > CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *restrict yp = y + (size_t)i * c;
        for (int j = 0; j < c; j++)
            yp[j] = 0.0f;
        for (int p = 0; p < hw; p++) {
            const float *restrict xp = x + ((size_t)i * hw + p) * c;
            for (int j = 0; j < c; j++)
                yp[j] += xp[j];
        }
        for (int j = 0; j < c; j++)
            yp[j] *= inv;
    }
}

static void cpu_gap_bwd(struct bmst_backend *be, int n, int hw, int c, const float *dy, float *dx,
                        int accumulate) {
    (void)be;
    const float inv = 1.0f / (float)hw;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * hw * c > CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < hw; p++) {
            const float *restrict g = dy + (size_t)i * c;
            float *restrict dp = dx + ((size_t)i * hw + p) * c;
            if (accumulate) {
                for (int j = 0; j < c; j++)
                    dp[j] += g[j] * inv;
            } else {
                for (int j = 0; j < c; j++)
                    dp[j] = g[j] * inv;
            }
        }
    }
}

/* The entry points: the fp32 kernels above, then what they stored rounded to
 * the activation type (cpu_precision.c). Max pooling's forward selects an
 * input, which is already in the type. */
static size_t pool_out_count(const struct bmst_pool_desc *d) {
    return (size_t)d->n * d->out_h * d->out_w * d->c;
}

static void maxpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                        void *y, uint8_t *argmax) {
    cpu_maxpool_fwd(be, d, x, y, argmax);
}

static void maxpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d,
                        const uint8_t *argmax, const void *dy, void *dx, int accumulate) {
    cpu_maxpool_bwd(be, d, argmax, dy, dx, accumulate);
    cpu_round_to(be->act_dtype, dx, pool_in_count(d));
}

static void avgpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                        void *y) {
    cpu_avgpool_fwd(be, d, x, y);
    cpu_round_to(be->act_dtype, y, pool_out_count(d));
}

static void avgpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *dy,
                        void *dx, int accumulate) {
    cpu_avgpool_bwd(be, d, dy, dx, accumulate);
    cpu_round_to(be->act_dtype, dx, pool_in_count(d));
}

static void gap_fwd(struct bmst_backend *be, int n, int hw, int c, const void *x, void *y) {
    cpu_gap_fwd(be, n, hw, c, x, y);
    cpu_round_to(be->act_dtype, y, (size_t)n * c);
}

static void gap_bwd(struct bmst_backend *be, int n, int hw, int c, const void *dy, void *dx,
                    int accumulate) {
    cpu_gap_bwd(be, n, hw, c, dy, dx, accumulate);
    cpu_round_to(be->act_dtype, dx, (size_t)n * hw * c);
}

const struct bmst_maxpool_kernels cpu_maxpool_kernels = {.fwd = maxpool_fwd, .bwd = maxpool_bwd};
const struct bmst_avgpool_kernels cpu_avgpool_kernels = {.fwd = avgpool_fwd, .bwd = avgpool_bwd};
const struct bmst_gap_kernels cpu_gap_kernels = {.fwd = gap_fwd, .bwd = gap_bwd};
