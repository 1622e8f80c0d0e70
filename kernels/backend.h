/* The compute backend interface: one struct of function pointers that every
 * backend (cpu/, later cuda/) fills. The graph executor calls only these, so it
 * never includes a device header.
 *
 * Conventions for every op:
 *  - Activations are NHWC, conv filters KRSC ([out channels][kh][kw][in channels]),
 *    fully connected weights [out][in] (PyTorch's Linear layout).
 *  - Pointers are device pointers of the backend (host memory for the CPU).
 *  - Backward functions that write an input gradient take `accumulate`:
 *    0 overwrites the destination, 1 adds to it. A tensor read by several
 *    nodes gets its gradient from the first backward with accumulate = 0 and
 *    the others with accumulate = 1.
 *  - Parameter gradients (dw, db, dgamma, dbeta) are always overwritten: each
 *    parameter is used by exactly one node.
 */
#ifndef BMST_BACKEND_H
#define BMST_BACKEND_H

#include <stddef.h>

struct bmst_backend;

/* A 2-D convolution without bias. Input [n, h, w, c], filters [k, r, s, c],
 * output [n, out_h, out_w, k] with out = (in + 2*pad - kernel) / stride + 1. */
struct bmst_conv_desc {
    int n, h, w, c;
    int k, r, s;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int out_h, out_w;
};

/* Batch norm over `rows` = N*H*W rows of `c` channels (NHWC is row-major [rows][c]). */
struct bmst_bn_desc {
    size_t rows;
    int c;
    float eps;      /* 1e-5 as PyTorch */
    float momentum; /* 0.1: running = (1 - momentum) * running + momentum * batch */
};

/* Max or average pooling window over NHWC input; average pooling counts the
 * zero padding in the divisor (PyTorch's count_include_pad = True). */
struct bmst_pool_desc {
    int n, h, w, c;
    int kh, kw;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int out_h, out_w;
};

/* SGD with momentum as torch.optim.SGD (dampening 0):
 *   g = grad + weight_decay * p;  buf = momentum * buf + g;
 *   g = nesterov ? g + momentum * buf : buf;  p -= lr * g
 * `buf` starts at zero, which gives buf = g on the first step as in PyTorch. */
struct bmst_sgd_desc {
    float lr;
    float momentum;
    float weight_decay;
    int nesterov;
};

struct bmst_backend {
    const char *name;
    void *impl; /* backend-private state (thread count, handles, streams) */

    /* memory */
    void *(*alloc)(struct bmst_backend *be, size_t bytes); /* NULL when out of memory */
    void (*free)(struct bmst_backend *be, void *ptr);
    void (*to_device)(struct bmst_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*to_host)(struct bmst_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(struct bmst_backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(struct bmst_backend *be, void *dst, size_t bytes);
    void (*sync)(struct bmst_backend *be);

    /* convolution; `ws` is scratch of conv_workspace_bytes(desc) bytes */
    size_t (*conv_workspace_bytes)(struct bmst_backend *be, const struct bmst_conv_desc *d);
    void (*conv_fwd)(struct bmst_backend *be, const struct bmst_conv_desc *d, const float *x,
                     const float *w, float *y, void *ws);
    void (*conv_bwd_data)(struct bmst_backend *be, const struct bmst_conv_desc *d, const float *dy,
                          const float *w, float *dx, int accumulate, void *ws);
    void (*conv_bwd_filter)(struct bmst_backend *be, const struct bmst_conv_desc *d,
                            const float *x, const float *dy, float *dw, void *ws);

    /* batch norm; save_mean / save_invstd are [c] scratch kept for backward,
     * running_var is updated with the unbiased batch variance as PyTorch does */
    void (*bn_fwd_train)(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                         const float *gamma, const float *beta, float *y, float *save_mean,
                         float *save_invstd, float *running_mean, float *running_var);
    void (*bn_fwd_eval)(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                        const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, float *y);
    void (*bn_bwd)(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                   const float *dy, const float *gamma, const float *save_mean,
                   const float *save_invstd, float *dx, float *dgamma, float *dbeta,
                   int accumulate);

    /* elementwise */
    void (*relu_fwd)(struct bmst_backend *be, size_t n, const float *x, float *y);
    void (*relu_bwd)(struct bmst_backend *be, size_t n, const float *y, const float *dy, float *dx,
                     int accumulate);
    void (*add_fwd)(struct bmst_backend *be, size_t n, const float *a, const float *b, float *y);
    /* dst = src (accumulate 0) or dst += src (accumulate 1): the backward of add */
    void (*pass_grad)(struct bmst_backend *be, size_t n, const float *src, float *dst,
                      int accumulate);

    /* pooling; max pooling backward finds the arg-max again from x */
    void (*maxpool_fwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                        float *y);
    void (*maxpool_bwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                        const float *dy, float *dx, int accumulate);
    void (*avgpool_fwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *x,
                        float *y);
    void (*avgpool_bwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const float *dy,
                        float *dx, int accumulate);
    /* global average pool: x [n, hw, c] -> y [n, c] */
    void (*gap_fwd)(struct bmst_backend *be, int n, int hw, int c, const float *x, float *y);
    void (*gap_bwd)(struct bmst_backend *be, int n, int hw, int c, const float *dy, float *dx,
                    int accumulate);

    /* fully connected: y[n, out] = x[n, in] * w[out, in]^T + b[out] */
    void (*fc_fwd)(struct bmst_backend *be, int n, int in, int out, const float *x,
                   const float *w, const float *b, float *y);
    void (*fc_bwd_data)(struct bmst_backend *be, int n, int in, int out, const float *dy,
                        const float *w, float *dx, int accumulate);
    void (*fc_bwd_filter)(struct bmst_backend *be, int n, int in, int out, const float *x,
                          const float *dy, float *dw, float *db);

    /* channel concat: copy x [rows, c_part] into channels [c_offset, c_offset + c_part)
     * of y [rows, c_total], and the reverse for the gradient */
    void (*concat_fwd)(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                       int c_part, const float *x, float *y);
    void (*concat_bwd)(struct bmst_backend *be, size_t rows, int c_total, int c_offset,
                       int c_part, const float *dy, float *dx, int accumulate);

    /* BMST mix: x holds m chunks of `chunk` elements each; y[i] = sum_j coef[j] * x[j*chunk + i].
     * coef is a host array of m weights (see train's lambda fold). */
    void (*mix_fwd)(struct bmst_backend *be, int m, size_t chunk, const float *coef,
                    const float *x, float *y);
    void (*mix_bwd)(struct bmst_backend *be, int m, size_t chunk, const float *coef,
                    const float *dy, float *dx, int accumulate);

    /* softmax cross-entropy against soft targets [n, k]: writes probs [n, k] and
     * returns the mean loss over n; backward: dlogits = (probs - targets) / n */
    float (*xent_fwd)(struct bmst_backend *be, int n, int k, const float *logits,
                      const float *targets, float *probs);
    void (*xent_bwd)(struct bmst_backend *be, int n, int k, const float *probs,
                     const float *targets, float *dlogits);

    /* optimizer and gradient utilities over flat buffers */
    void (*sgd_step)(struct bmst_backend *be, const struct bmst_sgd_desc *d, size_t n, float *p,
                     const float *g, float *buf);
    double (*sum_squares)(struct bmst_backend *be, size_t n, const float *x);
    void (*scale)(struct bmst_backend *be, size_t n, float *x, float s);

    void (*destroy)(struct bmst_backend *be);
};

/* The CPU backend; threads <= 0 means OpenMP's default. */
struct bmst_backend *bmst_backend_cpu_create(int threads);

/* Call first in main(): where OpenBLAS did not recognize the CPU and fell back
 * to its generic kernels, re-executes the program with OPENBLAS_CORETYPE set
 * from the CPU's features (kernels/cpu/cpu_blas_select.c). Returns otherwise. */
void bmst_cpu_blas_select(char **argv);

#endif
