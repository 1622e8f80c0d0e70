/* Fully connected layer, PyTorch's Linear layout w[out][in], as sgemm:
 *   y[n, out] = x[n, in] * w^T + b,  dx = dy * w,  dw = dy^T * x,  db = sum_n dy. */
#include "cpu_internal.h"

#include <cblas.h>

void cpu_fc_fwd(struct bmst_backend *be, int n, int in, int out, const float *x, const float *w,
                const float *b, float *y) {
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

void cpu_fc_bwd_data(struct bmst_backend *be, int n, int in, int out, const float *dy,
                     const float *w, float *dx, int accumulate) {
    (void)be;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                accumulate ? 1.0f : 0.0f, dx, in);
}

void cpu_fc_bwd_filter(struct bmst_backend *be, int n, int in, int out, const float *x,
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
