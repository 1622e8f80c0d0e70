/* Optimizer and gradient utilities over the flat parameter and gradient
 * buffers: the optimizers' fused passes (SGD as torch.optim.SGD, Adam and
 * AdamW as torch.optim.Adam / AdamW), each of which also writes the compute
 * copy of the weights and finds values it makes inf or NaN; the squared norm,
 * scaling, and the unscaling pass of loss scaling that also gives the
 * gradient's squared norm. */
#include "cpu_internal.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An optimizer pass runs over blocks of this many elements: a block is
 * updated and then its compute copy written while it is still in cache, so
 * the pass goes over memory once. Every element is computed alone, so the
 * bits depend neither on the blocks nor on the thread count. */
#define OPT_BLOCK 4096

/* One block [lo, hi) of an optimizer's update; returns 1 when a value it
 * wrote is inf or NaN. */
typedef int (*opt_block_fn)(const void *args, size_t lo, size_t hi);

/* Runs `update` over [0, n) block by block, rounding each updated block of
 * the weights `p` into the compute copy `p_act` (NULL: none). Returns 1.0f
 * when some block found inf or NaN, else 0.0f: the vtable's *nonfinite. */
static float run_blocks(struct bmst_backend *be, size_t n, opt_block_fn update, const void *args,
                        const float *p, void *p_act) {
    const size_t blocks = (n + OPT_BLOCK - 1) / OPT_BLOCK;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (n > CPU_PAR_MIN)
    for (size_t b = 0; b < blocks; b++) {
        size_t lo = b * OPT_BLOCK, hi = lo + OPT_BLOCK < n ? lo + OPT_BLOCK : n;
        bad |= update(args, lo, hi);
        if (p_act) {
            float *copy = (float *)p_act + lo;
            memcpy(copy, p + lo, (hi - lo) * sizeof *copy);
            cpu_round_to(be->act_dtype, copy, hi - lo);
        }
    }
    return bad ? 1.0f : 0.0f;
}

/* g + wd * p (PyTorch's grad.add(param, alpha=weight_decay)) where the
 * element decays; g itself where --no-decay exempts it */
static inline float with_decay(float g, float p, float wd, const unsigned char *decay, size_t i) {
    return !decay || decay[i] ? g + wd * p : g;
}

struct sgd_args {
    const struct bmst_sgd_desc *d;
    float *p;
    const float *g;
    float *buf;
};

/* Operation order matches PyTorch's foreach-free path term by term, so a step
 * gives the same float results:
 *   g = grad + wd * p;  buf = momentum * buf + g;
 *   g = nesterov ? g + momentum * buf : buf;  p = p - lr * g.
 * With momentum 0 PyTorch keeps no buffer and the step is p -= lr * g.
 * A non-finite momentum always shows in the weight: p - lr * inf is inf, and
 * p - 0 * inf is NaN. Inlined twice (sgd_block), for decay NULL and not. */
static inline __attribute__((always_inline)) int sgd_loops(const struct sgd_args *a, size_t lo,
                                                           size_t hi, const unsigned char *decay) {
    const struct bmst_sgd_desc *d = a->d;
    const float lr = d->lr, mom = d->momentum, wd = d->weight_decay;
    float *p = a->p, *buf = a->buf;
    const float *g = a->g;
    int bad = 0;
    if (mom == 0.0f || !buf) {
#pragma omp simd reduction(| : bad)
        for (size_t i = lo; i < hi; i++) {
            float gi = with_decay(g[i], p[i], wd, decay, i);
            p[i] = p[i] - lr * gi;
            bad |= !isfinite(p[i]);
        }
        return bad;
    }
    if (d->nesterov) {
#pragma omp simd reduction(| : bad)
        for (size_t i = lo; i < hi; i++) {
            float gi = with_decay(g[i], p[i], wd, decay, i);
            float b = mom * buf[i] + gi;
            buf[i] = b;
            p[i] = p[i] - lr * (gi + mom * b);
            bad |= !isfinite(p[i]);
        }
    } else {
#pragma omp simd reduction(| : bad)
        for (size_t i = lo; i < hi; i++) {
            float gi = with_decay(g[i], p[i], wd, decay, i);
            float b = mom * buf[i] + gi;
            buf[i] = b;
            p[i] = p[i] - lr * b;
            bad |= !isfinite(p[i]);
        }
    }
    return bad;
}

/* Each case compiled on its own, so that neither tests `decay` per element:
 * with a mask, its bytes are loaded unconditionally, which lets the loops be
 * vectorized (a load behind `decay != NULL` would not be: 7x slower). */
static int sgd_block(const void *args, size_t lo, size_t hi) {
    const struct sgd_args *a = args;
    return a->d->decay ? sgd_loops(a, lo, hi, a->d->decay) : sgd_loops(a, lo, hi, NULL);
}

static void sgd_step(struct bmst_backend *be, const struct bmst_sgd_desc *d, size_t n, float *p,
                     const float *g, float *buf, void *p_act, float *nonfinite) {
    struct sgd_args a = {d, p, g, buf};
    *nonfinite = run_blocks(be, n, sgd_block, &a, p, p_act);
}

struct adam_args {
    const struct bmst_adam_desc *d;
    float *p;
    const float *g;
    float *m, *v;
};

/* In the order of PyTorch's single-tensor Adam / AdamW:
 *   p = p * decay_factor;  g = grad + weight_decay * p   (where the element decays)
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;
 *   p = p - step_size * (m / (sqrt(v) / bias2_sqrt + eps)).
 * The flag covers the moments too: g * g overflows for |g| > 1.8e19, and an
 * inf in v alone would only freeze the weight (m / inf is 0). Inlined for
 * each case (adam_block). */
static inline __attribute__((always_inline)) int adam_loop(const struct adam_args *a, size_t lo,
                                                           size_t hi, const unsigned char *decay,
                                                           int with_l2) {
    const struct bmst_adam_desc *d = a->d;
    const float b1 = d->beta1, b2 = d->beta2, keep = d->decay_factor, l2 = d->weight_decay;
    const float one_b1 = d->one_minus_beta1, one_b2 = d->one_minus_beta2;
    const float step_size = d->step_size, bias2_sqrt = d->bias2_sqrt, eps = d->eps;
    float *p = a->p, *m = a->m, *v = a->v;
    const float *g = a->g;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (size_t i = lo; i < hi; i++) {
        /* selects rather than branches, which keep the loop vectorized */
        const int decays = !decay || decay[i];
        const float kept = p[i] * keep, g_l2 = with_l2 ? g[i] + l2 * kept : g[i];
        float pi = decays ? kept : p[i], gi = decays ? g_l2 : g[i];
        float mi = b1 * m[i] + one_b1 * gi;
        float vi = b2 * v[i] + one_b2 * gi * gi;
        pi = pi - step_size * (mi / (sqrtf(vi) / bias2_sqrt + eps));
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
        bad |= !isfinite(pi) | !isfinite(mi) | !isfinite(vi);
    }
    return bad;
}

/* As sgd_block: the loop compiled for each case, decay NULL or not, and an
 * L2 term (Adam) or none (AdamW: PyTorch skips the term rather than adding
 * 0 * p); a test of either inside the loop kept GCC from vectorizing it. */
static int adam_block(const void *args, size_t lo, size_t hi) {
    const struct adam_args *a = args;
    const unsigned char *decay = a->d->decay;
    if (a->d->weight_decay != 0.0f)
        return decay ? adam_loop(a, lo, hi, decay, 1) : adam_loop(a, lo, hi, NULL, 1);
    return decay ? adam_loop(a, lo, hi, decay, 0) : adam_loop(a, lo, hi, NULL, 0);
}

static void adam_step(struct bmst_backend *be, const struct bmst_adam_desc *d, size_t n, float *p,
                      const float *g, float *exp_avg, float *exp_avg_sq, void *p_act,
                      float *nonfinite) {
    struct adam_args a = {d, p, g, exp_avg, exp_avg_sq};
    *nonfinite = run_blocks(be, n, adam_block, &a, p, p_act);
}

const struct bmst_optim_kernels cpu_optim_kernels = {
    .sgd_step = sgd_step,
    .adam_step = adam_step,
    .mask_apply = cpu_mask_apply,
};

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
