/* Convolution on the CPU as im2col + OpenBLAS sgemm, a chunk of images at a
 * time so the column buffer stays bounded and mostly in cache:
 *   forward     y[npix, K]    = col[npix, RSC] * W[K, RSC]^T
 *   bwd data    dcol[npix, RSC] = dy[npix, K] * W[K, RSC], then col2im
 *   bwd filter  dW[K, RSC]   += dy[npix, K]^T * col[npix, RSC]
 * A 1x1, stride 1, unpadded convolution needs no column buffer: x already is
 * [npix, C]. Narrow layers (16, 32 or 64 channels out) take the direct kernels of
 * cpu_conv_direct.c instead (backward data: for stride 1). */
#include "cpu_internal.h"

#include <cblas.h>
#include <string.h>

/* x is its own column matrix */
static int conv_is_pointwise(const struct bmst_conv_desc *d) {
    return d->r == 1 && d->s == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

static size_t conv_col_bytes_per_image(const struct bmst_conv_desc *d) {
    return (size_t)d->out_h * d->out_w * d->r * d->s * d->c * sizeof(float);
}

/* Images per chunk: as many as fit the workspace target, at least one. */
static int conv_chunk_images(const struct bmst_conv_desc *d) {
    size_t per_image = conv_col_bytes_per_image(d);
    size_t nb = per_image ? CPU_CONV_WS_TARGET / per_image : (size_t)d->n;
    if (nb < 1) nb = 1;
    if (nb > (size_t)d->n) nb = (size_t)d->n;
    return (int)nb;
}

/* Nothing to choose and nothing that can fail: the scratch is the column
 * buffer or the direct kernels' padded copy, one size for every pass. */
static int cpu_conv_plan(struct bmst_backend *be, const struct bmst_conv_desc *d, unsigned passes,
                         size_t *ws_bytes, char *why, size_t why_len) {
    (void)be, (void)passes, (void)why, (void)why_len;
    *ws_bytes = 0;
    if (conv_is_pointwise(d) || d->n <= 0) return 0;
    size_t columns = (size_t)conv_chunk_images(d) * conv_col_bytes_per_image(d);
    size_t direct = cpu_conv_direct_workspace_bytes(d);
    *ws_bytes = direct > columns ? direct : columns;
    return 0;
}

static void cpu_conv_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const float *x,
                         const float *w, float *y, void *ws) {
    (void)be;
    const int K = d->k, RSC = d->r * d->s * d->c;
    const int npix = d->out_h * d->out_w;
    if (conv_is_pointwise(d)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->n * npix, K, RSC, 1.0f, x, RSC, w,
                    RSC, 0.0f, y, K);
        return;
    }
    if (cpu_conv_direct_fwd_applies(d)) {
        cpu_conv_direct_fwd(d, x, w, y, ws);
        return;
    }
    float *col = ws;
    const int nb_max = conv_chunk_images(d);
    for (int n0 = 0; n0 < d->n; n0 += nb_max) {
        int nb = d->n - n0 < nb_max ? d->n - n0 : nb_max;
        cpu_im2col(d, n0, nb, x, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb * npix, K, RSC, 1.0f, col, RSC, w,
                    RSC, 0.0f, y + (size_t)n0 * npix * K, K);
    }
}

static void cpu_conv_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d,
                              const float *dy, const float *w, float *dx, int accumulate,
                              void *ws) {
    (void)be;
    const int K = d->k, RSC = d->r * d->s * d->c;
    const int npix = d->out_h * d->out_w;
    if (conv_is_pointwise(d)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->n * npix, RSC, K, 1.0f, dy, K, w,
                    RSC, accumulate ? 1.0f : 0.0f, dx, RSC);
        return;
    }
    if (cpu_conv_direct_bwd_data_applies(d)) {
        if (d->n > 0) cpu_conv_direct_bwd_data(d, dy, w, dx, accumulate, ws);
        return;
    }
    float *dcol = ws;
    const int nb_max = conv_chunk_images(d);
    for (int n0 = 0; n0 < d->n; n0 += nb_max) {
        int nb = d->n - n0 < nb_max ? d->n - n0 : nb_max;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb * npix, RSC, K, 1.0f,
                    dy + (size_t)n0 * npix * K, K, w, RSC, 0.0f, dcol, RSC);
        cpu_col2im(d, n0, nb, dcol, dx, accumulate);
    }
}

static void cpu_conv_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d,
                                const float *x, const float *dy, float *dw, void *ws) {
    (void)be;
    const int K = d->k, RSC = d->r * d->s * d->c;
    const int npix = d->out_h * d->out_w;
    if (conv_is_pointwise(d)) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, RSC, d->n * npix, 1.0f, dy, K, x,
                    RSC, 0.0f, dw, RSC);
        return;
    }
    if (cpu_conv_direct_bwd_filter_applies(d) && d->n > 0) {
        cpu_conv_direct_bwd_filter(d, x, dy, dw, ws);
        return;
    }
    if (d->n <= 0) { /* no chunk to overwrite dW: it is zero */
        memset(dw, 0, (size_t)K * RSC * sizeof *dw);
        return;
    }
    float *col = ws;
    const int nb_max = conv_chunk_images(d);
    for (int n0 = 0; n0 < d->n; n0 += nb_max) {
        int nb = d->n - n0 < nb_max ? d->n - n0 : nb_max;
        cpu_im2col(d, n0, nb, x, col);
        /* the first chunk overwrites dW, the rest add to it */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, RSC, nb * npix, 1.0f,
                    dy + (size_t)n0 * npix * K, K, col, RSC, n0 == 0 ? 0.0f : 1.0f, dw, RSC);
    }
}

/* The entry points: the fp32 kernels above, then what they stored rounded to
 * the activation type (cpu_precision.c); weight gradients too, since cuDNN
 * computes them in the half type. */
static void conv_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                     const void *w, void *y, void *ws) {
    cpu_conv_fwd(be, d, x, w, y, ws);
    cpu_round_to(be->act_dtype, y, (size_t)d->n * d->out_h * d->out_w * d->k);
}

static void conv_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *dy,
                          const void *w, void *dx, int accumulate, void *ws) {
    cpu_conv_bwd_data(be, d, dy, w, dx, accumulate, ws);
    cpu_round_to(be->act_dtype, dx, (size_t)d->n * d->h * d->w * d->c);
}

static void conv_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                            const void *dy, float *dw, void *ws) {
    cpu_conv_bwd_filter(be, d, x, dy, dw, ws);
    cpu_round_to(be->act_dtype, dw, (size_t)d->k * d->r * d->s * d->c);
}

const struct bmst_conv_kernels cpu_conv_kernels = {
    .plan = cpu_conv_plan,
    .fwd = conv_fwd,
    .bwd_data = conv_bwd_data,
    .bwd_filter = conv_bwd_filter,
};
