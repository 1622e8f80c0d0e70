/* Private to the CPU backend: the entry points each kernels/cpu/ file defines,
 * so cpu_backend.c can fill the vtable, and the few helpers they share. */
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

/* cpu_conv.c */
int cpu_conv_plan(struct bmst_backend *be, const struct bmst_conv_desc *d, unsigned passes,
                  size_t *ws_bytes, char *why, size_t why_len);
void cpu_conv_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const float *x,
                  const float *w, float *y, void *ws);
void cpu_conv_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d, const float *dy,
                       const float *w, float *dx, int accumulate, void *ws);
void cpu_conv_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d, const float *x,
                         const float *dy, float *dw, void *ws);

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

/* cpu_bn.c */
void cpu_bn_fwd_train(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                      const float *gamma, const float *beta, float *y, float *save_mean,
                      float *save_invstd, float *running_mean, float *running_var);
void cpu_bn_fwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                     const float *gamma, const float *beta, const float *running_mean,
                     const float *running_var, float *y);
void cpu_bn_bwd(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                const float *dy, const float *gamma, const float *save_mean,
                const float *save_invstd, float *dx, float *dgamma, float *dbeta, int accumulate);

/* cpu_elementwise.c */
void cpu_relu_fwd(struct bmst_backend *be, size_t n, const float *x, float *y);
void cpu_relu_bwd(struct bmst_backend *be, size_t n, const float *y, const float *dy, float *dx,
                  int accumulate);
void cpu_add_fwd(struct bmst_backend *be, size_t n, const float *a, const float *b, float *y);
void cpu_pass_grad(struct bmst_backend *be, size_t n, const float *src, float *dst, int accumulate);
void cpu_concat_fwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset, int c_part,
                    const float *x, float *y);
void cpu_concat_bwd(struct bmst_backend *be, size_t rows, int c_total, int c_offset, int c_part,
                    const float *dy, float *dx, int accumulate);

/* cpu_pool.c */
void cpu_maxpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                     float *y);
void cpu_maxpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                     const float *dy, float *dx, int accumulate);
void cpu_avgpool_fwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                     float *y);
void cpu_avgpool_bwd(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *dy,
                     float *dx, int accumulate);
void cpu_gap_fwd(struct bmst_backend *be, int n, int hw, int c, const float *x, float *y);
void cpu_gap_bwd(struct bmst_backend *be, int n, int hw, int c, const float *dy, float *dx,
                 int accumulate);

/* cpu_fc.c */
void cpu_fc_fwd(struct bmst_backend *be, int n, int in, int out, const float *x, const float *w,
                const float *b, float *y);
void cpu_fc_bwd_data(struct bmst_backend *be, int n, int in, int out, const float *dy,
                     const float *w, float *dx, int accumulate);
void cpu_fc_bwd_filter(struct bmst_backend *be, int n, int in, int out, const float *x,
                       const float *dy, float *dw, float *db);

/* cpu_mix_loss.c */
void cpu_mix_fwd(struct bmst_backend *be, int m, size_t chunk, const float *coef, const float *x,
                 float *y);
void cpu_mix_bwd(struct bmst_backend *be, int m, size_t chunk, const float *coef, const float *dy,
                 float *dx, int accumulate);
float cpu_xent_fwd(struct bmst_backend *be, int n, int k, const float *logits, const float *targets,
                   float *probs);
void cpu_xent_bwd(struct bmst_backend *be, int n, int k, const float *probs, const float *targets,
                  float scale, float *dlogits);

/* cpu_optim.c */
extern const struct bmst_optim_kernels cpu_optim_kernels; /* the optimizers' fused passes */
double cpu_sum_squares(struct bmst_backend *be, size_t n, const float *x);
void cpu_scale(struct bmst_backend *be, size_t n, float *x, float s);
double cpu_unscale_sum_squares(struct bmst_backend *be, size_t n, float *g, float s);

/* cpu_precision.c: the vtable's compute entries, with half-type emulation */
void cpu_round_to(enum bmst_dtype dtype, float *x, size_t n);
void cpu_fill_vtable(struct bmst_backend *be);

/* cpu_blas_memory.c: under an address-space limit, has OpenBLAS take its
 * buffers for `threads` threads now, where they fit; -1 with the reason in
 * bmst_last_error() where they do not. Without a limit: nothing, 0. */
int cpu_blas_reserve(int threads);

#endif
