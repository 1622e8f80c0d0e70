/* The CPU backend's transfer entry points, and how it emulates
 * the half types.
 *
 * Every kernel of the CPU backend computes in fp32. Under fp16 or bf16 each
 * entry point (here, and in each op's kernel group, defined in the op's own
 * kernel file) runs that kernel and then rounds what it stored to the
 * activation type with cpu_round_to, keeping the value as a float: what the GPU would store in
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
    case BMST_F32:
        break;
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

void cpu_fill_vtable(struct bmst_backend *be) {
    be->upload_act = vt_upload_act;
    be->download_act = vt_download_act;
    be->cast_weights = vt_cast_weights;
    be->optim = cpu_optim_kernels; /* they write the compute copy themselves */
    be->sum_squares = cpu_sum_squares;
    be->scale = cpu_scale;
    be->unscale_sum_squares = cpu_unscale_sum_squares;
}
