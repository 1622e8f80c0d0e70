/* Elementwise ops over flat buffers: ReLU (its backward from the output or
 * from the output's sign mask), add and its backward (gradient pass-through),
 * and channel concat. Simple loops the compiler vectorizes,
 * split over threads once a buffer is big enough to pay for the team.
 * No restrict on the same-index loops: callers may run them in place
 * (y == x, dx == dy), which `omp simd` allows and restrict would not. */
#include "cpu_internal.h"

#include <string.h>

static void cpu_relu_fwd(struct bmst_backend *be, size_t n, const float *x, float *y) {
    (void)be;
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* The mask comes from y: y > 0 exactly where x > 0, so the forward output is
 * all backward needs (and x may have been overwritten by it). */
static void cpu_relu_bwd(struct bmst_backend *be, size_t n, const float *y, const float *dy,
                         float *dx, int accumulate) {
    (void)be;
    if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float g = dy[i]; /* loaded unconditionally so the select vectorizes */
            dx[i] += y[i] > 0.0f ? g : 0.0f;
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] = y[i] > 0.0f ? g : 0.0f;
        }
    }
}

/* As cpu_relu_bwd, with y > 0 read from its sign mask (cpu_sign_mask.c):
 * the same selection, so the same bits. */
static void cpu_relu_bwd_mask(struct bmst_backend *be, size_t n, const uint32_t *y_mask,
                              const float *dy, float *dx, int accumulate) {
    (void)be;
    if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] += (y_mask[i / 32] >> (i % 32)) & 1u ? g : 0.0f;
        }
    } else {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] = (y_mask[i / 32] >> (i % 32)) & 1u ? g : 0.0f;
        }
    }
}

static void cpu_add_fwd(struct bmst_backend *be, size_t n, const float *a, const float *b,
                        float *y) {
    (void)be;
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

static void cpu_sub(struct bmst_backend *be, size_t n, const float *a, const float *b, float *y) {
    (void)be;
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] - b[i];
}

static void cpu_pass_grad(struct bmst_backend *be, size_t n, const float *src, float *dst,
                          int accumulate) {
    (void)be;
    if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n > CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dst[i] += src[i];
    } else if (dst != src) {
        memcpy(dst, src, n * sizeof *dst);
    }
}

static void cpu_concat_fwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                           int c_part, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (rows * (size_t)c_part > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * c_total + c_offset, x + r * c_part, (size_t)c_part * sizeof *y);
}

static void cpu_concat_bwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                           int c_part, const float *dy, float *dx, int accumulate) {
    (void)be;
#pragma omp parallel for schedule(static) if (rows * (size_t)c_part > CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict src = dy + r * c_total + c_offset;
        float *restrict dst = dx + r * c_part;
        if (accumulate) {
            for (int j = 0; j < c_part; j++)
                dst[j] += src[j];
        } else {
            memcpy(dst, src, (size_t)c_part * sizeof *dst);
        }
    }
}

/* The entry points: the fp32 kernels above, then what they stored rounded to
 * the activation type (cpu_precision.c) where they computed something new.
 * ReLU's forward, copies and overwriting backward passes keep values that are
 * in the type already. */
static void relu_fwd(struct bmst_backend *be, size_t n, const void *x, void *y) {
    cpu_relu_fwd(be, n, x, y);
}

static void relu_bwd(struct bmst_backend *be, size_t n, const void *y, const void *dy, void *dx,
                     int accumulate) {
    cpu_relu_bwd(be, n, y, dy, dx, accumulate);
    if (accumulate) cpu_round_to(be->act_dtype, dx, n);
}

static void relu_bwd_mask(struct bmst_backend *be, size_t n, const uint32_t *y_mask, const void *dy,
                          void *dx, int accumulate) {
    cpu_relu_bwd_mask(be, n, y_mask, dy, dx, accumulate);
    if (accumulate) cpu_round_to(be->act_dtype, dx, n);
}

static void add_fwd(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y) {
    cpu_add_fwd(be, n, a, b, y);
    cpu_round_to(be->act_dtype, y, n);
}

static void add_sub(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y) {
    cpu_sub(be, n, a, b, y);
    cpu_round_to(be->act_dtype, y, n);
}

static void add_bwd(struct bmst_backend *be, size_t n, const void *src, void *dst, int accumulate) {
    cpu_pass_grad(be, n, src, dst, accumulate);
    if (accumulate) cpu_round_to(be->act_dtype, dst, n);
}

static void concat_fwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset, int c_part,
                       const void *x, void *y) {
    cpu_concat_fwd(be, rows, c_total, c_offset, c_part, x, y);
}

static void concat_bwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset, int c_part,
                       const void *dy, void *dx, int accumulate) {
    cpu_concat_bwd(be, rows, c_total, c_offset, c_part, dy, dx, accumulate);
    if (accumulate) cpu_round_to(be->act_dtype, dx, rows * c_part);
}

const struct bmst_relu_kernels cpu_relu_kernels = {
    .fwd = relu_fwd,
    .bwd = relu_bwd,
    .bwd_mask = relu_bwd_mask,
};
const struct bmst_add_kernels cpu_add_kernels = {.fwd = add_fwd, .bwd = add_bwd, .sub = add_sub};
const struct bmst_concat_kernels cpu_concat_kernels = {.fwd = concat_fwd, .bwd = concat_bwd};
