/* Private to the CPU backend: the kernel groups and entry points each
 * kernels/cpu/ file defines, so cpu_backend.c can fill the vtable, and the few
 * helpers they share. */
#ifndef BMST_CPU_INTERNAL_H
#define BMST_CPU_INTERNAL_H

#include "backend.h"

#include <stddef.h>

/* Element counts below this run on one thread: forking a team costs more than
 * the work saves. */
#define CPU_PAR_MIN 32768

/* Rows are reduced in fixed-size blocks combined in block order, so a sum is
 * the same bit for bit whatever the thread count. */
#define CPU_REDUCE_BLOCK 256

/* Upper bound on the im2col buffer of one chunk of images; a single image
 * that needs more still gets its own buffer. Columns this size stay in
 * L2/L3 between im2col and sgemm: on 2 Zen 4 cores 2-8 MiB ran the 3x3
 * convolutions ~1.5x faster than 16-32 MiB chunks or one whole-batch sgemm. */
#ifndef CPU_CONV_WS_TARGET
#define CPU_CONV_WS_TARGET ((size_t)4 << 20)
#endif

struct cpu_impl {
    int threads; /* as given to bmst_backend_cpu_create; <= 0: OpenMP default */
};

/* The ops' kernel groups (backend.h), each defined by the file named: the fp32
 * kernels there, and their outputs rounded to the activation type. */
extern const struct bmst_conv_kernels cpu_conv_kernels;           /* cpu_conv.c */
extern const struct bmst_bn_kernels cpu_bn_kernels;               /* cpu_bn.c */
extern const struct bmst_relu_kernels cpu_relu_kernels;           /* cpu_elementwise.c */
extern const struct bmst_add_kernels cpu_add_kernels;             /* cpu_elementwise.c */
extern const struct bmst_concat_kernels cpu_concat_kernels;       /* cpu_elementwise.c */
extern const struct bmst_maxpool_kernels cpu_maxpool_kernels;     /* cpu_pool.c */
extern const struct bmst_avgpool_kernels cpu_avgpool_kernels;     /* cpu_pool.c */
extern const struct bmst_gap_kernels cpu_gap_kernels;             /* cpu_pool.c */
extern const struct bmst_fc_kernels cpu_fc_kernels;               /* cpu_fc.c */
extern const struct bmst_mix_kernels cpu_mix_kernels;             /* cpu_mix_loss.c */
extern const struct bmst_xent_kernels cpu_xent_kernels;           /* cpu_mix_loss.c */
extern const struct bmst_sign_mask_kernels cpu_sign_mask_kernels; /* cpu_sign_mask.c */
extern const struct bmst_dropout_kernels cpu_dropout_kernels;     /* cpu_dropout.c */
extern const struct bmst_division_kernels cpu_division_kernels;   /* cpu_division.c */

/* cpu_conv_direct.c: direct kernels for 16-, 32- and 64-channel outputs */
int cpu_conv_direct_fwd_applies(const struct bmst_conv_desc *d);
int cpu_conv_direct_bwd_data_applies(const struct bmst_conv_desc *d);
int cpu_conv_direct_bwd_filter_applies(const struct bmst_conv_desc *d);
size_t cpu_conv_direct_workspace_bytes(const struct bmst_conv_desc *d);
void cpu_conv_direct_fwd(const struct bmst_conv_desc *d, const float *x, const float *w, float *y,
                         void *ws);
void cpu_conv_direct_bwd_data(const struct bmst_conv_desc *d, const float *dy, const float *w,
                              float *dx, int accumulate, void *ws);
void cpu_conv_direct_bwd_filter(const struct bmst_conv_desc *d, const float *x, const float *dy,
                                float *dw, void *ws);

/* cpu_im2col.c: one chunk of `nb` images starting at image `n0` */
void cpu_im2col(const struct bmst_conv_desc *d, int n0, int nb, const float *x, float *col);
void cpu_col2im(const struct bmst_conv_desc *d, int n0, int nb, const float *col, float *dx,
                int accumulate);

/* cpu_optim.c */
extern const struct bmst_optim_kernels cpu_optim_kernels; /* the optimizers' fused passes */
double cpu_sum_squares(struct bmst_backend *be, size_t n, const float *x);
void cpu_scale(struct bmst_backend *be, size_t n, float *x, float s);
double cpu_unscale_sum_squares(struct bmst_backend *be, size_t n, float *g, float s);

/* cpu_mask.c: the pruning mask's pass (bmst_optim_kernels.mask_apply) */
void cpu_mask_apply(struct bmst_backend *be, size_t n, const uint32_t *keep, float *p, float *s0,
                    float *s1, void *p_act);

/* cpu_precision.c: the half types' rounding, the transfer and optimizer entries */
void cpu_round_to(enum bmst_dtype dtype, float *x, size_t n);
void cpu_fill_vtable(struct bmst_backend *be);

/* cpu_blas_memory.c: under an address-space limit, has OpenBLAS take its
 * buffers for `threads` threads now, where they fit; -1 with the reason in
 * bmst_last_error() where they do not. Without a limit: nothing, 0. */
int cpu_blas_reserve(int threads);

#endif
