/* Fully connected layer, PyTorch's Linear layout w[out][in], as sgemm:
 *   y[n, out] = x[n, in] * w^T + b,  dx = dy * w,  dw = dy^T * x,  db = sum_n dy. */
#include "cpu_internal.h"

#include <cblas.h>

static void cpu_fc_fwd(struct bmst_backend *be, int n, int in, int out, const float *x,
                       const float *w, const float *b, float *y) {
    (void)be;
    /* y starts as the bias on every row; sgemm adds x * w^T with beta = 1 */
    for (int i = 0; i < n; i++) {
        float *restrict yr = y + (size_t)i * out;
        for (int j = 0; j < out; j++)
            yr[j] = b ? b[j] : 0.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 1.0f, y,
                out);
}

static void cpu_fc_bwd_data(struct bmst_backend *be, int n, int in, int out, const float *dy,
                            const float *w, float *dx, int accumulate) {
    (void)be;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                accumulate ? 1.0f : 0.0f, dx, in);
}

static void cpu_fc_bwd_filter(struct bmst_backend *be, int n, int in, int out, const float *x,
                              const float *dy, float *dw, float *db) {
    (void)be;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw,
                in);
    if (!db) return;
    /* rows added in order: the same bits every run */
    for (int j = 0; j < out; j++)
        db[j] = 0.0f;
    for (int i = 0; i < n; i++) {
        const float *restrict g = dy + (size_t)i * out;
        for (int j = 0; j < out; j++)
            db[j] += g[j];
    }
}

/* The entry points: the fp32 kernels above, then the activation outputs
 * rounded to the activation type (cpu_precision.c); the weight and bias
 * gradients stay fp32, as cuBLAS writes them. */
static void fc_fwd(struct bmst_backend *be, int n, int in, int out, const void *x, const void *w,
                   const float *b, void *y) {
    cpu_fc_fwd(be, n, in, out, x, w, b, y);
    cpu_round_to(be->act_dtype, y, (size_t)n * out);
}

static void fc_bwd_data(struct bmst_backend *be, int n, int in, int out, const void *dy,
                        const void *w, void *dx, int accumulate) {
    cpu_fc_bwd_data(be, n, in, out, dy, w, dx, accumulate);
    cpu_round_to(be->act_dtype, dx, (size_t)n * in);
}

static void fc_bwd_filter(struct bmst_backend *be, int n, int in, int out, const void *x,
                          const void *dy, float *dw, float *db) {
    cpu_fc_bwd_filter(be, n, in, out, x, dy, dw, db);
}

const struct bmst_fc_kernels cpu_fc_kernels = {
    .fwd = fc_fwd,
    .bwd_data = fc_bwd_data,
    .bwd_filter = fc_bwd_filter,
};
