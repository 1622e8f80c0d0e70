/* Optimizer and gradient utilities over the flat parameter and gradient
 * buffers: SGD as torch.optim.SGD, the squared norm (for clipping and for
 * clipping), scaling, and the unscaling pass of loss scaling that also finds
 * inf and NaN. */
#include "cpu_internal.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>

/* Operation order matches PyTorch's foreach-free path term by term, so a step
 * gives the same float results:
 *   g = grad + wd * p;  buf = momentum * buf + g;
 *   g = nesterov ? g + momentum * buf : buf;  p = p - lr * g.
 * With momentum 0 PyTorch keeps no buffer and the step is p -= lr * g. */
void cpu_sgd_step(struct bmst_backend *be, const struct bmst_sgd_desc *d, size_t n, float *p,
                  const float *g, float *buf) {
    (void)be;
    const float lr = d->lr, mom = d->momentum, wd = d->weight_decay;
    if (mom == 0.0f || !buf) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            p[i] = p[i] - lr * gi;
        }
        return;
    }
    if (d->nesterov) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float b = mom * buf[i] + gi;
            buf[i] = b;
            p[i] = p[i] - lr * (gi + mom * b);
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float b = mom * buf[i] + gi;
            buf[i] = b;
            p[i] = p[i] - lr * b;
        }
    }
}

/* Blocks of this many elements are summed in double and combined in block
 * order, so the result does not depend on the thread count. */
#define SUMSQ_BLOCK 65536

double cpu_sum_squares(struct bmst_backend *be, size_t n, const float *x) {
    (void)be;
    const size_t blocks = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    if (blocks == 0) return 0.0;
    double *part = bmst_xmalloc(blocks * sizeof *part);
#pragma omp parallel for schedule(static) if (n > CPU_PAR_MIN)
    for (size_t b = 0; b < blocks; b++) {
        size_t end = (b + 1) * SUMSQ_BLOCK < n ? (b + 1) * SUMSQ_BLOCK : n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (size_t i = b * SUMSQ_BLOCK; i < end; i++)
            s += (double)x[i] * x[i];
        part[b] = s;
    }
    double total = 0.0;
    for (size_t b = 0; b < blocks; b++)
        total += part[b];
    free(part);
    return total;
}

void cpu_scale(struct bmst_backend *be, size_t n, float *x, float s) {
    (void)be;
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        x[i] *= s;
}

void cpu_unscale_check(struct bmst_backend *be, size_t n, float *g, float s, float *nonfinite) {
    (void)be;
    int bad = 0;
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        g[i] *= s;
        bad |= !isfinite(g[i]);
    }
    *nonfinite = bad ? 1.0f : 0.0f;
}
