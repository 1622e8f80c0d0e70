/* Optimizer and gradient utilities of the CUDA backend over the fp32 flat
 * parameter and gradient buffers, as kernels/cpu/cpu_optim.c: the SGD and
 * Adam/AdamW steps (each one pass that also refreshes the compute copy of the
 * weights in the activation type and flags values it makes inf or NaN), the
 * squared norm, scaling, and the unscaling pass of loss scaling that also
 * gives the squared norm.
 *
 * sum_squares and unscale_sum_squares are the calls here that wait for the
 * device: they reduce in double to a per-block partial in
 * impl->reduce_scratch, add the partials in one block in a fixed order and
 * copy the total back. The block count depends on n only, so the result has
 * the same bits every run. Scratch: SUMSQ_MAX_BLOCKS + 1 doubles. */
#include "cuda_internal.h"

#include <math.h>

#define OPT_THREADS 256
#define SUMSQ_THREADS 256
#define SUMSQ_MAX_BLOCKS 1024

#define GRID_START() ((size_t)blockIdx.x * blockDim.x + threadIdx.x)
#define GRID_STRIDE() ((size_t)gridDim.x * blockDim.x)

enum sgd_mode { SGD_PLAIN, SGD_MOMENTUM, SGD_NESTEROV };

/* Term for term the CPU's order (PyTorch's foreach-free path):
 *   g = grad + wd * p;  buf = momentum * buf + g;
 *   g = nesterov ? g + momentum * buf : buf;  p = p - lr * g.
 * Plain (momentum 0 or no buffer) is p = p - lr * (grad + wd * p); elements
 * --no-decay exempts (decay[i] == 0) take grad alone. p_act may
 * be NULL, or even p itself in fp32: p is read before anything is written.
 * Any thread that writes an inf or NaN weight stores 1 to the flag, which the
 * caller zeroed first on the same stream: concurrent stores of one value. */
template <typename T>
__global__ void sgd_kernel(size_t n, int mode, float lr, float mom, float wd,
                           const unsigned char *decay, float *p, const float *g, float *buf,
                           T *p_act, float *nonfinite) {
    int bad = 0;
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        float pi = p[i];
        float gi = !decay || decay[i] ? g[i] + wd * pi : g[i];
        float step;
        if (mode == SGD_PLAIN) {
            step = gi;
        } else {
            float b = mom * buf[i] + gi;
            buf[i] = b;
            step = mode == SGD_NESTEROV ? gi + mom * b : b;
        }
        pi = pi - lr * step;
        p[i] = pi;
        if (p_act) p_act[i] = from_f32<T>(pi);
        bad |= !isfinite(pi);
    }
    if (bad) *nonfinite = 1.0f;
}

/* The CPU's order (PyTorch's single-tensor Adam / AdamW):
 *   p = p * decay_factor;  g = grad + weight_decay * p   (where the element decays)
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;
 *   p = p - step_size * (m / (sqrt(v) / bias2_sqrt + eps)).
 * The flag covers the moments too (g * g can overflow where g does not).
 * sqrtf and the division are IEEE-rounded (nvcc's default without
 * --use_fast_math), as on the CPU. */
template <typename T>
__global__ void adam_kernel(size_t n, struct bmst_adam_desc d, float *p, const float *g, float *m,
                            float *v, T *p_act, float *nonfinite) {
    int bad = 0;
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        float pi = p[i], gi = g[i];
        if (!d.decay || d.decay[i]) {
            pi = pi * d.decay_factor;
            if (d.weight_decay != 0.0f) gi = gi + d.weight_decay * pi;
        }
        float mi = d.beta1 * m[i] + d.one_minus_beta1 * gi;
        float vi = d.beta2 * v[i] + d.one_minus_beta2 * gi * gi;
        pi = pi - d.step_size * (mi / (sqrtf(vi) / d.bias2_sqrt + d.eps));
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
        if (p_act) p_act[i] = from_f32<T>(pi);
        bad |= !isfinite(pi) | !isfinite(mi) | !isfinite(vi);
    }
    if (bad) *nonfinite = 1.0f;
}


/* Per block, the sum of (x[i] * scale)^2; the products are stored in `out`
 * (x itself, for unscaling) unless it is NULL. */
__global__ void sumsq_partial_kernel(size_t n, const float *x, float scale, float *out,
                                     double *partial) {
    __shared__ double sh[32];
    double s = 0.0;
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE()) {
        float v = x[i] * scale;
        if (out) out[i] = v;
        s += (double)v * v;
    }
    s = cuda_block_sum(s, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sumsq_total_kernel(int parts, const double *partial, double *total) {
    __shared__ double sh[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < parts; i += blockDim.x)
        s += partial[i];
    s = cuda_block_sum(s, sh);
    if (threadIdx.x == 0) *total = s;
}

__global__ void scale_kernel(size_t n, float *x, float s) {
    for (size_t i = GRID_START(); i < n; i += GRID_STRIDE())
        x[i] *= s;
}

static void sgd_step(struct bmst_backend *be, const struct bmst_sgd_desc *d, size_t n, float *p,
                     const float *g, float *buf, void *p_act, float *nonfinite) {
    cudaStream_t s = cuda_impl_of(be)->stream;
    /* 0.0f is all zero bits */
    CUDA_CHECK(cudaMemsetAsync(nonfinite, 0, sizeof(float), s));
    if (n == 0) return;
    const int mode = d->momentum == 0.0f || !buf ? SGD_PLAIN
                     : d->nesterov               ? SGD_NESTEROV
                                                 : SGD_MOMENTUM;
    CUDA_DISPATCH(be->act_dtype, T,
                  sgd_kernel<T><<<cuda_blocks(n, OPT_THREADS), OPT_THREADS, 0, s>>>(
                      n, mode, d->lr, d->momentum, d->weight_decay, d->decay, p, g, buf,
                      (T *)p_act, nonfinite));
    CUDA_CHECK_LAUNCH();
}

static void adam_step(struct bmst_backend *be, const struct bmst_adam_desc *d, size_t n, float *p,
                      const float *g, float *exp_avg, float *exp_avg_sq, void *p_act,
                      float *nonfinite) {
    cudaStream_t s = cuda_impl_of(be)->stream;
    CUDA_CHECK(cudaMemsetAsync(nonfinite, 0, sizeof(float), s));
    if (n == 0) return;
    CUDA_DISPATCH(be->act_dtype, T,
                  adam_kernel<T><<<cuda_blocks(n, OPT_THREADS), OPT_THREADS, 0, s>>>(
                      n, *d, p, g, exp_avg, exp_avg_sq, (T *)p_act, nonfinite));
    CUDA_CHECK_LAUNCH();
}

const struct bmst_optim_kernels cuda_optim_kernels = {
    /* .sgd_step = */ sgd_step,
    /* .adam_step = */ adam_step,
    /* .mask_apply = */ cuda_mask_apply,
};

/* The sum of (x[i] * scale)^2, products stored in `out` unless NULL; `what`
 * names the caller in failures. */
static double sum_squares(struct bmst_backend *be, size_t n, const float *x, float scale,
                          float *out, const char *what) {
    struct cuda_impl *impl = cuda_impl_of(be);
    if (n == 0) return 0.0;
    if (impl->capturing)
        bmst_fatal("bmst", __FILE__, __LINE__, what,
                  "reads a result back to the host, which a capture cannot record");
    /* at least 1024 elements a thread block before adding blocks: the count
     * is a function of n alone, which keeps the sum's order fixed */
    size_t want = (n + (size_t)SUMSQ_THREADS * 4 - 1) / ((size_t)SUMSQ_THREADS * 4);
    const int blocks = (int)(want < SUMSQ_MAX_BLOCKS ? want : SUMSQ_MAX_BLOCKS);
    if (impl->reduce_scratch == NULL || impl->reduce_scratch_count < (size_t)blocks + 1)
        bmst_fatal("bmst", __FILE__, __LINE__, what, "reduce_scratch too small");
    cudaStream_t s = impl->stream;
    double *partial = impl->reduce_scratch, *total = impl->reduce_scratch + blocks;
    sumsq_partial_kernel<<<blocks, SUMSQ_THREADS, 0, s>>>(n, x, scale, out, partial);
    CUDA_CHECK_LAUNCH();
    sumsq_total_kernel<<<1, SUMSQ_THREADS, 0, s>>>(blocks, partial, total);
    CUDA_CHECK_LAUNCH();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpyAsync(&result, total, sizeof result, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return result;
}

/* x * 1 is x exactly, so this is the plain sum of squares */
double cuda_sum_squares(struct bmst_backend *be, size_t n, const float *x) {
    return sum_squares(be, n, x, 1.0f, NULL, "sum_squares");
}

void cuda_scale(struct bmst_backend *be, size_t n, float *x, float s) {
    if (n == 0) return;
    cudaStream_t st = cuda_impl_of(be)->stream;
    scale_kernel<<<cuda_blocks(n, OPT_THREADS), OPT_THREADS, 0, st>>>(n, x, s);
    CUDA_CHECK_LAUNCH();
}

double cuda_unscale_sum_squares(struct bmst_backend *be, size_t n, float *g, float s) {
    return sum_squares(be, n, g, s, g, "unscale_sum_squares");
}
