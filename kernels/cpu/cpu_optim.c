/* Optimizer and gradient utilities over the flat parameter and gradient
 * buffers: SGD as torch.optim.SGD (which also finds updated weights that are
 * inf or NaN), the squared norm, scaling, and the unscaling pass of loss
 * scaling that also gives the gradient's squared norm. */
#include "cpu_internal.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>

/* Operation order matches PyTorch's foreach-free path term by term, so a step
 * gives the same float results:
 *   g = grad + wd * p;  buf = momentum * buf + g;
 *   g = nesterov ? g + momentum * buf : buf;  p = p - lr * g.
 * With momentum 0 PyTorch keeps no buffer and the step is p -= lr * g.
 * Returns 1 when an updated weight is inf or NaN. A non-finite momentum
 * always shows there too: p - lr * inf is inf, and p - 0 * inf is NaN. */
int cpu_sgd_step(struct bmst_backend *be, const struct bmst_sgd_desc *d, size_t n, float *p,
                 const float *g, float *buf) {
    (void)be;
    const float lr = d->lr, mom = d->momentum, wd = d->weight_decay;
    int bad = 0;
    if (mom == 0.0f || !buf) {
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            p[i] = p[i] - lr * gi;
            bad |= !isfinite(p[i]);
        }
        return bad;
    }
    if (d->nesterov) {
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float b = mom * buf[i] + gi;
            buf[i] = b;
            p[i] = p[i] - lr * (gi + mom * b);
            bad |= !isfinite(p[i]);
        }
    } else {
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            float b = mom * buf[i] + gi;
            buf[i] = b;
            p[i] = p[i] - lr * b;
            bad |= !isfinite(p[i]);
        }
    }
    return bad;
}

/* Blocks of this many elements are summed in double and combined in block
 * order, so the result does not depend on the thread count. */
#define SUMSQ_BLOCK 65536

/* The sum of (x[i] * s)^2 in one pass, storing the products in `out` (which
 * may be x itself) unless it is NULL. */
static double sum_squares_blocked(size_t n, const float *x, float s, float *out) {
    const size_t blocks = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    if (blocks == 0) return 0.0;
    double *part = bmst_xmalloc(blocks * sizeof *part);
#pragma omp parallel for schedule(static) if (n > CPU_PAR_MIN)
    for (size_t b = 0; b < blocks; b++) {
        size_t end = (b + 1) * SUMSQ_BLOCK < n ? (b + 1) * SUMSQ_BLOCK : n;
        double sum = 0.0;
        if (out) {
#pragma omp simd reduction(+ : sum)
            for (size_t i = b * SUMSQ_BLOCK; i < end; i++) {
                float v = x[i] * s;
                out[i] = v;
                sum += (double)v * v;
            }
        } else {
#pragma omp simd reduction(+ : sum)
            for (size_t i = b * SUMSQ_BLOCK; i < end; i++) {
                float v = x[i] * s;
                sum += (double)v * v;
            }
        }
        part[b] = sum;
    }
    double total = 0.0;
    for (size_t b = 0; b < blocks; b++)
        total += part[b];
    free(part);
    return total;
}

/* x * 1 is x exactly, so this is the plain sum of squares */
double cpu_sum_squares(struct bmst_backend *be, size_t n, const float *x) {
    (void)be;
    return sum_squares_blocked(n, x, 1.0f, NULL);
}

void cpu_scale(struct bmst_backend *be, size_t n, float *x, float s) {
    (void)be;
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        x[i] *= s;
}

double cpu_unscale_sum_squares(struct bmst_backend *be, size_t n, float *g, float s) {
    (void)be;
    return sum_squares_blocked(n, g, s, g);
}
