/* The BMST batch merge (a weighted sum of m equal chunks of the batch) and
 * the softmax cross-entropy loss against soft (mixed) targets. */
#include "cpu_internal.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>

static void cpu_mix_fwd(struct bmst_backend *be, int m, size_t chunk, const float *coef,
                        const float *x, float *y) {
    (void)be;
    const float c0 = coef[0];
#pragma omp parallel for simd schedule(static) if (chunk > CPU_PAR_MIN)
    for (size_t i = 0; i < chunk; i++)
        y[i] = c0 * x[i];
    /* one pass per further chunk keeps each loop a plain fused multiply-add
     * stream over two arrays */
    for (int j = 1; j < m; j++) {
        const float cj = coef[j];
        const float *restrict xj = x + (size_t)j * chunk;
#pragma omp parallel for simd schedule(static) if (chunk > CPU_PAR_MIN)
        for (size_t i = 0; i < chunk; i++)
            y[i] += cj * xj[i];
    }
}

static void cpu_mix_bwd(struct bmst_backend *be, int m, size_t chunk, const float *coef,
                        const float *dy, float *dx, int accumulate) {
    (void)be;
    for (int j = 0; j < m; j++) {
        const float cj = coef[j];
        float *restrict dxj = dx + (size_t)j * chunk;
        if (accumulate) {
#pragma omp parallel for simd schedule(static) if (chunk > CPU_PAR_MIN)
            for (size_t i = 0; i < chunk; i++)
                dxj[i] += cj * dy[i];
        } else {
#pragma omp parallel for simd schedule(static) if (chunk > CPU_PAR_MIN)
            for (size_t i = 0; i < chunk; i++)
                dxj[i] = cj * dy[i];
        }
    }
}

/* Per row: probs = softmax(z); loss = -sum_k t_k * log p_k, computed as
 * -sum_k t_k * (z_k - max - log sum exp(z - max)) so a zero probability never
 * meets log. Row losses are summed in row order: the same bits every run. */
static float cpu_xent_fwd(struct bmst_backend *be, int n, int k, const float *logits,
                          const float *targets, float *probs) {
    (void)be;
    double *row_loss = bmst_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *row_loss);
#pragma omp parallel for schedule(static) if ((size_t)n * k > CPU_PAR_MIN / 4)
    for (int i = 0; i < n; i++) {
        const float *restrict z = logits + (size_t)i * k;
        const float *restrict t = targets + (size_t)i * k;
        float *restrict p = probs + (size_t)i * k;
        float zmax = z[0];
        for (int j = 1; j < k; j++)
            zmax = z[j] > zmax ? z[j] : zmax;
        double sum = 0.0;
        for (int j = 0; j < k; j++) {
            p[j] = expf(z[j] - zmax);
            sum += p[j];
        }
        const float inv = (float)(1.0 / sum);
        const double lse = log(sum);
        double loss = 0.0;
        for (int j = 0; j < k; j++) {
            p[j] *= inv;
            loss -= (double)t[j] * ((double)z[j] - zmax - lse);
        }
        row_loss[i] = loss;
    }
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += row_loss[i];
    free(row_loss);
    return n > 0 ? (float)(total / n) : 0.0f;
}

static void cpu_xent_bwd(struct bmst_backend *be, int n, int k, const float *probs,
                         const float *targets, float scale, float *dlogits) {
    (void)be;
    const size_t count = (size_t)n * k;
    const float inv_n = scale / (float)n;
#pragma omp parallel for simd schedule(static) if (count > CPU_PAR_MIN)
    for (size_t i = 0; i < count; i++)
        dlogits[i] = (probs[i] - targets[i]) * inv_n;
}

/* The entry points: the fp32 kernels above, then the activation outputs
 * rounded to their type (cpu_precision.c): the mix's to the type it mixes
 * (fp32 for the targets), the logits' gradient to the activation type;
 * probabilities and the loss stay fp32. */
static void mix_fwd(struct bmst_backend *be, enum bmst_dtype dtype, int m, size_t chunk,
                    const float *coef, const void *x, void *y) {
    cpu_mix_fwd(be, m, chunk, coef, x, y);
    cpu_round_to(dtype, y, chunk);
}

static void mix_bwd(struct bmst_backend *be, int m, size_t chunk, const float *coef, const void *dy,
                    void *dx, int accumulate) {
    cpu_mix_bwd(be, m, chunk, coef, dy, dx, accumulate);
    cpu_round_to(be->act_dtype, dx, (size_t)m * chunk);
}

static void xent_fwd(struct bmst_backend *be, int n, int k, const void *logits,
                     const float *targets, float *probs, float *loss) {
    *loss = cpu_xent_fwd(be, n, k, logits, targets, probs);
}

static void xent_bwd(struct bmst_backend *be, int n, int k, const float *probs,
                     const float *targets, const float *scale, void *dlogits) {
    cpu_xent_bwd(be, n, k, probs, targets, *scale, dlogits);
    cpu_round_to(be->act_dtype, dlogits, (size_t)n * k);
}

const struct bmst_mix_kernels cpu_mix_kernels = {.fwd = mix_fwd, .bwd = mix_bwd};
const struct bmst_xent_kernels cpu_xent_kernels = {.fwd = xent_fwd, .bwd = xent_bwd};
