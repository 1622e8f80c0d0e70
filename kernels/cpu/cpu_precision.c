/* The CPU backend's vtable entry points, and how it emulates the half types.
 *
 * Every kernel of the CPU backend computes in fp32. Under fp16 or bf16 each
 * entry point here runs that kernel and then rounds what it stored to the
 * activation type, keeping the value as a float: what the GPU would store in
 * the half type, with the GPU's overflow to inf, so loss scaling, its skipped
 * steps and its checkpointed scale are exercised without a GPU. Rounding is
 * idempotent, so rounding a whole output that was partly rounded already
 * (concat, accumulation) is harmless.
 *
 * What is rounded matches the CUDA backend: activations and their gradients,
 * the compute copy of the weights, and convolution weight gradients (cuDNN
 * computes them in the half type). Fully connected weight and bias gradients,
 * batch-norm parameters and statistics, probabilities, targets and the loss
 * stay fp32. */
#include "cpu_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void cpu_round_to(enum bmst_dtype dtype, float *x, size_t n) {
    switch (dtype) {
    case BMST_F32: break;
    case BMST_F16:
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(_Float16)x[i];
        break;
    case BMST_BF16:
#pragma omp parallel for schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            x[i] = bmst_bf16_value(bmst_bf16_bits(x[i]));
        break;
    }
}

static void round_act(struct bmst_backend *be, void *x, size_t n) {
    cpu_round_to(be->act_dtype, x, n);
}

static size_t conv_in_count(const struct bmst_conv_desc *d) {
    return (size_t)d->n * d->h * d->w * d->c;
}

static size_t conv_out_count(const struct bmst_conv_desc *d) {
    return (size_t)d->n * d->out_h * d->out_w * d->k;
}

static size_t pool_in_count(const struct bmst_pool_desc *d) {
    return (size_t)d->n * d->h * d->w * d->c;
}

static size_t pool_out_count(const struct bmst_pool_desc *d) {
    return (size_t)d->n * d->out_h * d->out_w * d->c;
}

static void vt_upload_act(struct bmst_backend *be, void *dst, const float *src, size_t n) {
    memcpy(dst, src, n * sizeof(float));
    round_act(be, dst, n);
}

static void vt_download_act(struct bmst_backend *be, float *dst, const void *src, size_t n) {
    (void)be;
    memcpy(dst, src, n * sizeof(float));
}

static void vt_cast_weights(struct bmst_backend *be, size_t n, const float *src, void *dst) {
    if (dst != src) memcpy(dst, src, n * sizeof(float));
    round_act(be, dst, n);
}

static void vt_conv_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                        const void *w, void *y, void *ws) {
    cpu_conv_fwd(be, d, x, w, y, ws);
    round_act(be, y, conv_out_count(d));
}

static void vt_conv_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d,
                             const void *dy, const void *w, void *dx, int accumulate, void *ws) {
    cpu_conv_bwd_data(be, d, dy, w, dx, accumulate, ws);
    round_act(be, dx, conv_in_count(d));
}

static void vt_conv_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d,
                               const void *x, const void *dy, float *dw, void *ws) {
    cpu_conv_bwd_filter(be, d, x, dy, dw, ws);
    round_act(be, dw, (size_t)d->k * d->r * d->s * d->c);
}

static void vt_bn_fwd_train(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                            const float *gamma, const float *beta, void *y, float *save_mean,
                            float *save_invstd, float *running_mean, float *running_var) {
    cpu_bn_fwd_train(be, d, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var);
    round_act(be, y, d->rows * d->c);
}

static void vt_bn_fwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                           const float *gamma, const float *beta, const float *running_mean,
                           const float *running_var, void *y) {
    cpu_bn_fwd_eval(be, d, x, gamma, beta, running_mean, running_var, y);
    round_act(be, y, d->rows * d->c);
}

static void vt_bn_bwd(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                      const void *dy, const float *gamma, const float *save_mean,
                      const float *save_invstd, void *dx, float *dgamma, float *dbeta,
                      int accumulate) {
    cpu_bn_bwd(be, d, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, accumulate);
    round_act(be, dx, d->rows * d->c);
}

static void vt_relu_fwd(struct bmst_backend *be, size_t n, const void *x, void *y) {
    cpu_relu_fwd(be, n, x, y); /* exact: the input is already in the type */
}

static void vt_relu_bwd(struct bmst_backend *be, size_t n, const void *y, const void *dy, void *dx,
                        int accumulate) {
    cpu_relu_bwd(be, n, y, dy, dx, accumulate);
    if (accumulate) round_act(be, dx, n);
}

static void vt_add_fwd(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y) {
    cpu_add_fwd(be, n, a, b, y);
    round_act(be, y, n);
}

static void vt_pass_grad(struct bmst_backend *be, size_t n, const void *src, void *dst,
                         int accumulate) {
    cpu_pass_grad(be, n, src, dst, accumulate);
    if (accumulate) round_act(be, dst, n);
}

static void vt_maxpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                           void *y) {
    cpu_maxpool_fwd(be, d, x, y); /* exact: a selection */
}

static void vt_maxpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                           const void *dy, void *dx, int accumulate) {
    cpu_maxpool_bwd(be, d, x, dy, dx, accumulate);
    round_act(be, dx, pool_in_count(d));
}

static void vt_avgpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x,
                           void *y) {
    cpu_avgpool_fwd(be, d, x, y);
    round_act(be, y, pool_out_count(d));
}

static void vt_avgpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d,
                           const void *dy, void *dx, int accumulate) {
    cpu_avgpool_bwd(be, d, dy, dx, accumulate);
    round_act(be, dx, pool_in_count(d));
}

static void vt_gap_fwd(struct bmst_backend *be, int n, int hw, int c, const void *x, void *y) {
    cpu_gap_fwd(be, n, hw, c, x, y);
    round_act(be, y, (size_t)n * c);
}

static void vt_gap_bwd(struct bmst_backend *be, int n, int hw, int c, const void *dy, void *dx,
                       int accumulate) {
    cpu_gap_bwd(be, n, hw, c, dy, dx, accumulate);
    round_act(be, dx, (size_t)n * hw * c);
}

static void vt_fc_fwd(struct bmst_backend *be, int n, int in, int out, const void *x,
                      const void *w, const float *b, void *y) {
    cpu_fc_fwd(be, n, in, out, x, w, b, y);
    round_act(be, y, (size_t)n * out);
}

static void vt_fc_bwd_data(struct bmst_backend *be, int n, int in, int out, const void *dy,
                           const void *w, void *dx, int accumulate) {
    cpu_fc_bwd_data(be, n, in, out, dy, w, dx, accumulate);
    round_act(be, dx, (size_t)n * in);
}

static void vt_fc_bwd_filter(struct bmst_backend *be, int n, int in, int out, const void *x,
                             const void *dy, float *dw, float *db) {
    cpu_fc_bwd_filter(be, n, in, out, x, dy, dw, db); /* fp32 out, as cuBLAS writes it */
}

static void vt_concat_fwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                          int c_part, const void *x, void *y) {
    cpu_concat_fwd(be, rows, c_total, c_offset, c_part, x, y); /* a copy: exact */
}

static void vt_concat_bwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                          int c_part, const void *dy, void *dx, int accumulate) {
    cpu_concat_bwd(be, rows, c_total, c_offset, c_part, dy, dx, accumulate);
    if (accumulate) round_act(be, dx, rows * c_part);
}

static void vt_mix_fwd(struct bmst_backend *be, enum bmst_dtype dtype, int m, size_t chunk,
                       const float *coef, const void *x, void *y) {
    cpu_mix_fwd(be, m, chunk, coef, x, y);
    cpu_round_to(dtype, y, chunk);
}

static void vt_mix_bwd(struct bmst_backend *be, int m, size_t chunk, const float *coef,
                       const void *dy, void *dx, int accumulate) {
    cpu_mix_bwd(be, m, chunk, coef, dy, dx, accumulate);
    round_act(be, dx, (size_t)m * chunk);
}

static void vt_xent_fwd(struct bmst_backend *be, int n, int k, const void *logits,
                        const float *targets, float *probs, float *loss) {
    *loss = cpu_xent_fwd(be, n, k, logits, targets, probs);
}

static void vt_xent_bwd(struct bmst_backend *be, int n, int k, const float *probs,
                        const float *targets, const float *scale, void *dlogits) {
    cpu_xent_bwd(be, n, k, probs, targets, *scale, dlogits);
    round_act(be, dlogits, (size_t)n * k);
}

void cpu_fill_vtable(struct bmst_backend *be) {
    be->upload_act = vt_upload_act;
    be->download_act = vt_download_act;
    be->cast_weights = vt_cast_weights;
    be->conv_plan = cpu_conv_plan;
    be->conv_fwd = vt_conv_fwd;
    be->conv_bwd_data = vt_conv_bwd_data;
    be->conv_bwd_filter = vt_conv_bwd_filter;
    be->bn_fwd_train = vt_bn_fwd_train;
    be->bn_fwd_eval = vt_bn_fwd_eval;
    be->bn_bwd = vt_bn_bwd;
    be->relu_fwd = vt_relu_fwd;
    be->relu_bwd = vt_relu_bwd;
    be->add_fwd = vt_add_fwd;
    be->pass_grad = vt_pass_grad;
    be->maxpool_fwd = vt_maxpool_fwd;
    be->maxpool_bwd = vt_maxpool_bwd;
    be->avgpool_fwd = vt_avgpool_fwd;
    be->avgpool_bwd = vt_avgpool_bwd;
    be->gap_fwd = vt_gap_fwd;
    be->gap_bwd = vt_gap_bwd;
    be->fc_fwd = vt_fc_fwd;
    be->fc_bwd_data = vt_fc_bwd_data;
    be->fc_bwd_filter = vt_fc_bwd_filter;
    be->concat_fwd = vt_concat_fwd;
    be->concat_bwd = vt_concat_bwd;
    be->mix_fwd = vt_mix_fwd;
    be->mix_bwd = vt_mix_bwd;
    be->xent_fwd = vt_xent_fwd;
    be->xent_bwd = vt_xent_bwd;
    be->optim = cpu_optim_kernels; /* they write the compute copy themselves */
    be->sum_squares = cpu_sum_squares;
    be->scale = cpu_scale;
    be->unscale_sum_squares = cpu_unscale_sum_squares;
}
