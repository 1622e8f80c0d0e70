/* Batch norm over [rows][c] (NHWC flattened), as PyTorch's BatchNorm2d.
 * Per-channel sums are taken in double over fixed blocks of rows and the
 * block partials are combined in block order: accurate batch statistics, and
 * the same bits on every run whatever the thread count (no atomics, no
 * reduction clause whose combine order OpenMP leaves open). */
#include "cpu_internal.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per block b, channel j: s1[b*c + j] = sum of a, s2[b*c + j] = sum of a*b over
 * the block's rows, where a and b depend on the caller (see bn_block_sums). */
struct bn_partials {
    size_t blocks;
    double *s1, *s2;
};

/* Elements between two rows of x and dx: c, or more for a channel prefix of
 * a wider buffer. */
static size_t bn_x_stride(const struct bmst_bn_desc *d) {
    BMST_ASSERT(d->x_stride == 0 || d->x_stride >= d->c);
    return d->x_stride ? (size_t)d->x_stride : (size_t)d->c;
}

static size_t bn_blocks(size_t rows) {
    return rows ? (rows + CPU_REDUCE_BLOCK - 1) / CPU_REDUCE_BLOCK : 1;
}

/* mode 0 (forward): s1 = sum (x - shift), s2 = sum (x - shift)^2. The shift (a
 * per-channel sample of x) keeps E[a^2] - E[a]^2 from cancelling when the
 * mean is large next to the spread.
 * mode 1 (backward): s1 = sum dy, s2 = sum dy * (x - shift), shift = mean. */
static void bn_block_sums(const struct bmst_bn_desc *d, const float *x, const float *dy,
                          const double *shift, int mode, struct bn_partials *p) {
    const int c = d->c;
    const size_t rows = d->rows, xs = bn_x_stride(d);
    p->blocks = bn_blocks(rows);
    p->s1 = bmst_xcalloc(p->blocks * (size_t)c, sizeof(double));
    p->s2 = bmst_xcalloc(p->blocks * (size_t)c, sizeof(double));

#pragma omp parallel for schedule(static) if (rows * (size_t)c > CPU_PAR_MIN)
    for (size_t b = 0; b < p->blocks; b++) {
        double *restrict s1 = p->s1 + b * c;
        double *restrict s2 = p->s2 + b * c;
        size_t r_end = (b + 1) * CPU_REDUCE_BLOCK < rows ? (b + 1) * CPU_REDUCE_BLOCK : rows;
        for (size_t r = b * CPU_REDUCE_BLOCK; r < r_end; r++) {
            const float *restrict xr = x + r * xs;
            if (mode == 0) {
                for (int j = 0; j < c; j++) {
                    double a = (double)xr[j] - shift[j];
                    s1[j] += a;
                    s2[j] += a * a;
                }
            } else {
                const float *restrict gr = dy + r * c;
                for (int j = 0; j < c; j++) {
                    double g = gr[j];
                    s1[j] += g;
                    s2[j] += g * ((double)xr[j] - shift[j]);
                }
            }
        }
    }
}

/* Totals per channel, blocks added in index order. */
static void bn_combine(const struct bn_partials *p, int c, double *t1, double *t2) {
    for (int j = 0; j < c; j++)
        t1[j] = t2[j] = 0.0;
    for (size_t b = 0; b < p->blocks; b++) {
        for (int j = 0; j < c; j++) {
            t1[j] += p->s1[b * c + j];
            t2[j] += p->s2[b * c + j];
        }
    }
    free(p->s1);
    free(p->s2);
}

/* y = (x - mean) * (gamma * invstd) + beta for each row. */
static void bn_apply(const struct bmst_bn_desc *d, const float *x, const float *mean,
                     const float *scale, const float *beta, float *y) {
    const int c = d->c;
    const size_t xs = bn_x_stride(d);
#pragma omp parallel for schedule(static) if (d->rows * (size_t)c > CPU_PAR_MIN)
    for (size_t r = 0; r < d->rows; r++) {
        const float *restrict xr = x + r * xs;
        float *restrict yr = y + r * c;
        for (int j = 0; j < c; j++)
            yr[j] = (xr[j] - mean[j]) * scale[j] + beta[j];
    }
}

/* The rows the statistics are taken over: this batch's, or every rank's. */
static size_t bn_total_rows(const struct bmst_bn_desc *d) {
    return d->sync ? d->rows * (size_t)d->sync->world : d->rows;
}

/* The shift for the forward sums: the first row here; with sync the mean over
 * every rank's rows (one extra reduction), since all ranks must use one. */
static void bn_shift(const struct bmst_bn_desc *d, const float *x, double *shift, double *t1,
                     double *t2) {
    const int c = d->c;
    if (!d->sync) {
        for (int j = 0; j < c; j++)
            shift[j] = x[j];
        return;
    }
    for (int j = 0; j < c; j++)
        shift[j] = 0.0;
    struct bn_partials p;
    bn_block_sums(d, x, NULL, shift, 0, &p);
    bn_combine(&p, c, t1, t2);
    d->sync->allreduce_f64(d->sync->ctx, t1, (size_t)c);
    for (int j = 0; j < c; j++)
        shift[j] = t1[j] / (double)bn_total_rows(d);
}

static void cpu_bn_fwd_train(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                             const float *gamma, const float *beta, float *y, float *save_mean,
                             float *save_invstd, float *running_mean, float *running_var) {
    (void)be;
    const int c = d->c;
    const size_t rows = bn_total_rows(d);
    BMST_ASSERT(d->rows > 0);
    double *shift = bmst_xmalloc((size_t)c * 3 * sizeof(double));
    double *t1 = shift + c, *t2 = shift + 2 * (size_t)c;
    bn_shift(d, x, shift, t1, t2);

    struct bn_partials p;
    bn_block_sums(d, x, NULL, shift, 0, &p);
    bn_combine(&p, c, t1, t2);
    if (d->sync) d->sync->allreduce_f64(d->sync->ctx, t1, 2 * (size_t)c); /* t1, t2 adjoin */

    float *scale = bmst_xmalloc((size_t)c * sizeof(float));
    for (int j = 0; j < c; j++) {
        double m_shifted = t1[j] / (double)rows;
        double var = t2[j] / (double)rows - m_shifted * m_shifted; /* biased */
        if (var < 0.0) var = 0.0;
        double mean = shift[j] + m_shifted;
        double invstd = 1.0 / sqrt(var + d->eps);
        /* PyTorch updates running_var with the unbiased estimate; one row has
         * none, so keep the biased one rather than divide by zero */
        double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
        save_mean[j] = (float)mean;
        save_invstd[j] = (float)invstd;
        scale[j] = (float)(gamma[j] * invstd);
        if (running_mean)
            running_mean[j] = (1.0f - d->momentum) * running_mean[j] + d->momentum * (float)mean;
        if (running_var)
            running_var[j] = (1.0f - d->momentum) * running_var[j] + d->momentum * (float)unbiased;
    }
    bn_apply(d, x, save_mean, scale, beta, y);
    free(scale);
    free(shift);
}

static void cpu_bn_fwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                            const float *gamma, const float *beta, const float *running_mean,
                            const float *running_var, float *y) {
    (void)be;
    const int c = d->c;
    float *scale = bmst_xmalloc((size_t)c * sizeof(float));
    for (int j = 0; j < c; j++)
        scale[j] = gamma[j] / sqrtf(running_var[j] + d->eps);
    bn_apply(d, x, running_mean, scale, beta, y);
    free(scale);
}

/* The training normalization with kept statistics: scale from the float
 * invstd (fwd_train's came from its double), so a rerun can differ from the
 * forward in the last bit of an element. */
static void cpu_bn_fwd_saved(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                             const float *gamma, const float *beta, const float *save_mean,
                             const float *save_invstd, float *y) {
    (void)be;
    float *scale = bmst_xmalloc((size_t)d->c * sizeof(float));
    for (int j = 0; j < d->c; j++)
        scale[j] = (float)((double)gamma[j] * save_invstd[j]);
    bn_apply(d, x, save_mean, scale, beta, y);
    free(scale);
}

/* With xhat = (x - mean) * invstd, N = rows:
 *   dbeta = sum dy,  dgamma = sum dy * xhat,
 *   dx = gamma * invstd / N * (N * dy - dbeta - xhat * dgamma). */
static void cpu_bn_bwd(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                       const float *dy, const float *gamma, const float *save_mean,
                       const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                       int accumulate) {
    (void)be;
    const int c = d->c;
    const size_t rows = d->rows, total = bn_total_rows(d), xs = bn_x_stride(d);
    double *mean = bmst_xmalloc((size_t)c * 3 * sizeof(double));
    double *t1 = mean + c, *t2 = mean + 2 * (size_t)c;
    for (int j = 0; j < c; j++)
        mean[j] = save_mean[j];

    struct bn_partials p;
    bn_block_sums(d, x, dy, mean, 1, &p);
    bn_combine(&p, c, t1, t2);
    /* this rank's own parameter gradients; the all-reduce adds the others' */
    for (int j = 0; j < c; j++) {
        dbeta[j] = (float)t1[j];
        dgamma[j] = (float)(t2[j] * save_invstd[j]);
    }
    if (d->sync) d->sync->allreduce_f64(d->sync->ctx, t1, 2 * (size_t)c); /* t1, t2 adjoin */
    if (!dx) {
        free(mean);
        return;
    }

    /* dx = k * dy - k / N * dbeta - xhat * k / N * dgamma, with k = gamma * invstd
     * and the sums over all N rows (every rank's with sync); folded into
     * dx = a * dy + b * (x - mean) + e per channel */
    float *coef = bmst_xmalloc((size_t)c * 4 * sizeof(float));
    float *ca = coef, *cb = coef + c, *ce = coef + 2 * (size_t)c, *cm = coef + 3 * (size_t)c;
    for (int j = 0; j < c; j++) {
        double invstd = save_invstd[j];
        double db = t1[j], dg = t2[j] * invstd;
        double k = gamma[j] * invstd;
        ca[j] = (float)k;
        cb[j] = (float)(-k / (double)total * dg * invstd);
        ce[j] = (float)(-k / (double)total * db);
        cm[j] = save_mean[j];
    }
#pragma omp parallel for schedule(static) if (rows * (size_t)c > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * xs;
        const float *restrict gr = dy + r * c;
        float *restrict dr = dx + r * xs;
        if (accumulate) {
            for (int j = 0; j < c; j++)
                dr[j] += ca[j] * gr[j] + cb[j] * (xr[j] - cm[j]) + ce[j];
        } else {
            for (int j = 0; j < c; j++)
                dr[j] = ca[j] * gr[j] + cb[j] * (xr[j] - cm[j]) + ce[j];
        }
    }
    free(coef);
    free(mean);
}

static void cpu_bn_bwd_eval(const struct bmst_bn_desc *d, const float *dy, const float *gamma,
                            const float *running_var, float *dx, int accumulate) {
    const int c = d->c;
    const size_t rows = d->rows, xs = bn_x_stride(d);
    float *scale = bmst_xmalloc((size_t)c * sizeof(float));
    for (int j = 0; j < c; j++)
        scale[j] = gamma[j] / sqrtf(running_var[j] + d->eps);
#pragma omp parallel for schedule(static) if (rows * (size_t)c > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict gr = dy + r * c;
        float *restrict dr = dx + r * xs;
        for (int j = 0; j < c; j++)
            dr[j] = accumulate ? dr[j] + scale[j] * gr[j] : scale[j] * gr[j];
    }
    free(scale);
}

/* The entry points: the fp32 kernels above, then their activation outputs
 * rounded to the activation type (cpu_precision.c); statistics, parameters
 * and their gradients stay fp32. */
static void bn_fwd_train(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                         const float *gamma, const float *beta, void *y, float *save_mean,
                         float *save_invstd, float *running_mean, float *running_var) {
    cpu_bn_fwd_train(be, d, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var);
    cpu_round_to(be->act_dtype, y, d->rows * d->c);
}

static void bn_fwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                        const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, void *y) {
    cpu_bn_fwd_eval(be, d, x, gamma, beta, running_mean, running_var, y);
    cpu_round_to(be->act_dtype, y, d->rows * d->c);
}

static void bn_fwd_saved(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                         const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, void *y) {
    cpu_bn_fwd_saved(be, d, x, gamma, beta, save_mean, save_invstd, y);
    cpu_round_to(be->act_dtype, y, d->rows * d->c);
}

/* dx rounded to the activation type, row by row where it is a channel
 * prefix (the channels between belong to other values) */
static void round_dx(struct bmst_backend *be, const struct bmst_bn_desc *d, void *dx) {
    size_t xs = bn_x_stride(d);
    if (xs == (size_t)d->c) {
        cpu_round_to(be->act_dtype, dx, d->rows * d->c);
        return;
    }
    for (size_t r = 0; r < d->rows; r++)
        cpu_round_to(be->act_dtype, (float *)dx + r * xs, (size_t)d->c);
}

static void bn_bwd(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                   const void *dy, const float *gamma, const float *save_mean,
                   const float *save_invstd, void *dx, float *dgamma, float *dbeta,
                   int accumulate) {
    cpu_bn_bwd(be, d, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, accumulate);
    if (dx) round_dx(be, d, dx);
}

static void bn_bwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *dy,
                        const float *gamma, const float *running_var, void *dx, int accumulate) {
    cpu_bn_bwd_eval(d, dy, gamma, running_var, dx, accumulate);
    round_dx(be, d, dx);
}

const struct bmst_bn_kernels cpu_bn_kernels = {
    .fwd_train = bn_fwd_train,
    .fwd_eval = bn_fwd_eval,
    .bwd = bn_bwd,
    .bwd_eval = bn_bwd_eval,
    .fwd_saved = bn_fwd_saved,
};
