/* The compute backend interface: one struct of function pointers that every
 * backend (cpu/, cuda/) fills: memory and transfers, recording, the
 * optimizer's passes, and a group of kernels per op kind (struct
 * bmst_conv_kernels, ...), each filled by the backend's kernel file for that
 * op, NULL where the backend lacks it. The graph executor calls only these,
 * so it never includes a device header.
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
#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bmst_backend;

/* The passes of a convolution, as bits of conv_plan's mask. */
enum bmst_conv_pass {
    BMST_CONV_FWD = 1u << 0,
    BMST_CONV_BWD_DATA = 1u << 1,   /* the input's gradient */
    BMST_CONV_BWD_FILTER = 1u << 2, /* the filters' gradient */
};
#define BMST_CONV_ALL_PASSES (BMST_CONV_FWD | BMST_CONV_BWD_DATA | BMST_CONV_BWD_FILTER)

/* Backend options beyond the device and precision (bmst_backend_cuda_create). */
enum bmst_backend_flag {
    /* every run gives the same bits: on the GPU, cuDNN only through
     * deterministic algorithms, chosen by its heuristics rather than by
     * timing (which can rank differently from one run to the next) */
    BMST_BACKEND_DETERMINISTIC = 1u << 0,
};

/* A 2-D convolution without bias. Input [n, h, w, c], filters [k, r, s, c],
 * output [n, out_h, out_w, k] with out = (in + 2*pad - kernel) / stride + 1. */
struct bmst_conv_desc {
    int n, h, w, c;
    int k, r, s;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int out_h, out_w;
};

/* Synchronized batch norm: the batch statistics are taken over every rank's
 * batch (rows * world rows in all). The backend reduces its own rows to
 * per-channel double sums in backend memory and calls allreduce_f64 on them
 * (in place, summed over ranks, ordered with the backend's work): forward
 * sums x for the mean, then (x - mean) and (x - mean)^2 for the variance;
 * backward sums dy and dy * (x - mean). dgamma and dbeta stay this rank's
 * own sums (the gradient all-reduce adds them up with every other weight). */
struct bmst_bn_sync {
    void (*allreduce_f64)(void *ctx, double *sums, size_t count);
    void *ctx;
    int world;
};

/* Batch norm over `rows` = N*H*W rows of `c` channels (NHWC is row-major [rows][c]). */
struct bmst_bn_desc {
    size_t rows;
    int c;
    /* elements between two rows of x and of dx (0: c). More than c where x
     * is a channel prefix of a wider buffer, a dense block's running
     * concatenation; y and dy are always [rows][c] */
    int x_stride;
    float eps;      /* the layer's: 1e-5 as PyTorch's default, 1e-3 in Inception3 */
    float momentum; /* 0.1: running = (1 - momentum) * running + momentum * batch */
    const struct bmst_bn_sync *sync; /* NULL: this rank's batch alone */
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

/* ---- Optimizers (src/optim/): one fused pass per step over the fp32 flat
 * buffers of the weights `p`, their gradients `g` and the optimizer's state,
 * all in the parameters' layout. Every pass also refreshes the compute copy
 * `p_act` (act_dtype) when it is not NULL, and sets *nonfinite (backend
 * memory) to 1 when a weight or state value it writes is inf or NaN, else to
 * 0. `decay` (backend memory, one byte per element, 1: decays) exempts
 * elements from weight decay (--no-decay); NULL: every element decays. ---- */

/* SGD with momentum as torch.optim.SGD (dampening 0):
 *   g = grad + weight_decay * p;  buf = momentum * buf + g;
 *   g = nesterov ? g + momentum * buf : buf;  p -= lr * g
 * `buf` starts at zero, which gives buf = g on the first step as in PyTorch. */
struct bmst_sgd_desc {
    float lr;
    float momentum;
    float weight_decay;
    int nesterov;
    const unsigned char *decay;
};

/* Adam and AdamW as torch.optim.Adam / AdamW (amsgrad off), at step t >= 1:
 *   p *= decay_factor (AdamW's decoupled decay);  g = grad + weight_decay * p (Adam's L2);
 *   m = beta1 * m + one_minus_beta1 * g;  v = beta2 * v + one_minus_beta2 * g * g;
 *   p -= step_size * (m / (sqrt(v) / bias2_sqrt + eps))
 * The caller works out the step's terms in double, as PyTorch does from its
 * Python floats: 1 - beta, step_size = lr / (1 - beta1^t), bias2_sqrt =
 * sqrt(1 - beta2^t), and for AdamW decay_factor = 1 - lr * wd with
 * weight_decay 0 (for Adam: decay_factor 1). Elements `decay` exempts take
 * neither. */
struct bmst_adam_desc {
    float beta1, beta2, eps;
    float one_minus_beta1, one_minus_beta2;
    float weight_decay;
    float decay_factor;
    float step_size;
    float bias2_sqrt;
    const unsigned char *decay;
};

/* The optimizer kernels a backend has; src/optim/ refuses, before the first
 * step, an optimizer whose kernel is NULL. */
struct bmst_optim_kernels {
    void (*sgd_step)(struct bmst_backend *be, const struct bmst_sgd_desc *d, size_t n, float *p,
                     const float *g, float *buf, void *p_act, float *nonfinite);
    void (*adam_step)(struct bmst_backend *be, const struct bmst_adam_desc *d, size_t n, float *p,
                      const float *g, float *exp_avg, float *exp_avg_sq, void *p_act,
                      float *nonfinite);
    /* Pruning (--prune-to, src/prune.c): zeroes element i of the weights p, of
     * the optimizer's state s0 and s1 (each may be NULL) and of the compute
     * copy p_act (act_dtype; NULL: none) wherever bit i % 32 of word i / 32 of
     * `keep` (backend memory) is 0; the other elements are left as they are. */
    void (*mask_apply)(struct bmst_backend *be, size_t n, const uint32_t *keep, float *p,
                       float *s0, float *s1, void *p_act);
};

/* Where the step's changing scalars live: a small fp32 block in device memory
 * that the executor writes before each step, so that ops read them through a
 * pointer and a recorded (captured) step replays with this step's values. */
enum bmst_scalar {
    BMST_SCALAR_MIX = 0,                          /* BMST_MAX_MIX chunk weights */
    BMST_SCALAR_LOSS_SCALE = 8,                   /* multiplies the loss gradient */
    BMST_SCALAR_LOSS = 9,                         /* written by xent_fwd */
    BMST_SCALAR_NONFINITE = 10,                   /* written by the optimizer: 1 or 0 */
    BMST_SCALAR_DROPOUT_KEY = 11, /* the step's dropout key: two uint32 words (low, high) */
    /* InceptionV3's auxiliary classifier (--aux-logits): its loss's gradient
     * scale (its weight times the loss scale, set by the executor) and its loss */
    BMST_SCALAR_AUX_LOSS_SCALE = 13,
    BMST_SCALAR_AUX_LOSS = 14,
    BMST_SCALAR_COUNT = 16,
};
#define BMST_MAX_MIX 8

/* The ops' kernel groups. Every entry takes the backend first; tensors in the
 * activation type are `void *`, fp32 ones `float *`. */

/* convolution; x, w, y, dy, dx in act_dtype; dw is fp32 (the gradient
 * buffer); `ws` is scratch of the bytes plan gave for the passes. plan
 * prepares the passes in `passes` (enum bmst_conv_pass bits) of one shape,
 * before any of them runs and outside a recording: the CUDA backend chooses
 * each pass's cuDNN algorithm here. Planning a shape again adds passes;
 * *ws_bytes is what the passes asked for need. Running a pass that was not
 * planned ends the process as a bug. plan returns -1 with a one-line reason
 * in why[] where a pass has no usable algorithm. */
struct bmst_conv_kernels {
    int (*plan)(struct bmst_backend *be, const struct bmst_conv_desc *d, unsigned passes,
                size_t *ws_bytes, char *why, size_t why_len);
    void (*fwd)(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                const void *w, void *y, void *ws);
    void (*bwd_data)(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *dy,
                     const void *w, void *dx, int accumulate, void *ws);
    void (*bwd_filter)(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                       const void *dy, float *dw, void *ws);
};

/* batch norm; x, y, dy, dx in act_dtype, the rest fp32. save_mean /
 * save_invstd are [c] scratch kept for backward; running_var is updated
 * with the unbiased batch variance as PyTorch does. bwd's dx may be NULL
 * (the input takes no gradient: a frozen layer before it): dgamma and dbeta
 * alone */
struct bmst_bn_kernels {
    void (*fwd_train)(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                      const float *gamma, const float *beta, void *y, float *save_mean,
                      float *save_invstd, float *running_mean, float *running_var);
    void (*fwd_eval)(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                     const float *gamma, const float *beta, const float *running_mean,
                     const float *running_var, void *y);
    void (*bwd)(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                const void *dy, const float *gamma, const float *save_mean,
                const float *save_invstd, void *dx, float *dgamma, float *dbeta, int accumulate);
    /* backward of a batch norm with fixed statistics (fwd_eval's, in a
     * training graph: --freeze-bn) and frozen weight and bias: a per-channel
     * scale, dx = dy * gamma / sqrtf(running_var + eps), added to dx when
     * accumulating; dx has x's row stride */
    void (*bwd_eval)(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *dy,
                     const float *gamma, const float *running_var, void *dx, int accumulate);
    /* training's normalization again with the statistics fwd_train kept
     * (y = (x - save_mean) * gamma * save_invstd + beta), running statistics
     * untouched: a reversible unit's rerun in backward (ops/reversible.c) */
    void (*fwd_saved)(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                      const float *gamma, const float *beta, const float *save_mean,
                      const float *save_invstd, void *y);
};

/* elementwise, in act_dtype; backward reads only whether y > 0, from y
 * itself or (bwd_mask) from a sign mask of it, as sign_mask's pack makes it */
struct bmst_relu_kernels {
    void (*fwd)(struct bmst_backend *be, size_t n, const void *x, void *y);
    void (*bwd)(struct bmst_backend *be, size_t n, const void *y, const void *dy, void *dx,
                int accumulate);
    void (*bwd_mask)(struct bmst_backend *be, size_t n, const uint32_t *y_mask, const void *dy,
                     void *dx, int accumulate);
};

/* y = a + b in act_dtype; backward passes the gradient on to each input:
 * dst = src (accumulate 0) or dst += src (accumulate 1); sub: y = a - b (a
 * reversible unit's input rebuilt from its output, ops/reversible.c) */
struct bmst_add_kernels {
    void (*fwd)(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y);
    void (*bwd)(struct bmst_backend *be, size_t n, const void *src, void *dst, int accumulate);
    void (*sub)(struct bmst_backend *be, size_t n, const void *a, const void *b, void *y);
};

/* pooling, in act_dtype. Max pooling's forward records, when argmax is not
 * NULL, each output's arg-max as one byte: its place in the window, row * kw +
 * column, counted from the window's corner before clipping to the input (the
 * first maximum in scan order, taking an element only when strictly greater).
 * Backward routes dy through those bytes alone, so training keeps a byte per
 * output instead of the whole input (a window has at most
 * BMST_MAXPOOL_MAX_WINDOW elements). */
#define BMST_MAXPOOL_MAX_WINDOW 256
struct bmst_maxpool_kernels {
    void (*fwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x, void *y,
                uint8_t *argmax);
    void (*bwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const uint8_t *argmax,
                const void *dy, void *dx, int accumulate);
};

struct bmst_avgpool_kernels {
    void (*fwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *x, void *y);
    void (*bwd)(struct bmst_backend *be, const struct bmst_pool_desc *d, const void *dy, void *dx,
                int accumulate);
};

/* global average pool: x [n, hw, c] -> y [n, c] */
struct bmst_gap_kernels {
    void (*fwd)(struct bmst_backend *be, int n, int hw, int c, const void *x, void *y);
    void (*bwd)(struct bmst_backend *be, int n, int hw, int c, const void *dy, void *dx,
                int accumulate);
};

/* fully connected: y[n, out] = x[n, in] * w[out, in]^T + b[out]; x, w, y,
 * dy, dx in act_dtype; b, dw, db fp32 */
struct bmst_fc_kernels {
    void (*fwd)(struct bmst_backend *be, int n, int in, int out, const void *x, const void *w,
                const float *b, void *y);
    void (*bwd_data)(struct bmst_backend *be, int n, int in, int out, const void *dy, const void *w,
                     void *dx, int accumulate);
    void (*bwd_filter)(struct bmst_backend *be, int n, int in, int out, const void *x,
                       const void *dy, float *dw, float *db);
};

/* channel concat, in act_dtype: copy x [rows, c_part] into channels
 * [c_offset, c_offset + c_part) of y [rows, c_total], and the reverse for
 * the gradient */
struct bmst_concat_kernels {
    void (*fwd)(struct bmst_backend *be, size_t rows, int c_total, int c_offset, int c_part,
                const void *x, void *y);
    void (*bwd)(struct bmst_backend *be, size_t rows, int c_total, int c_offset, int c_part,
                const void *dy, void *dx, int accumulate);
};

/* BMST mix in `dtype` (act_dtype for activations, BMST_F32 for targets):
 * x holds m chunks of `chunk` elements each; y[i] = sum_j coef[j] * x[j*chunk + i].
 * coef is device memory (the step's BMST_SCALAR_MIX block). */
struct bmst_mix_kernels {
    void (*fwd)(struct bmst_backend *be, enum bmst_dtype dtype, int m, size_t chunk,
                const float *coef, const void *x, void *y);
    void (*bwd)(struct bmst_backend *be, int m, size_t chunk, const float *coef, const void *dy,
                void *dx, int accumulate);
};

/* softmax cross-entropy of logits (act_dtype) against fp32 soft targets
 * [n, k]: writes fp32 probs [n, k] and the mean loss over n to *loss
 * (device memory); backward: dlogits = *scale * (probs - targets) / n */
struct bmst_xent_kernels {
    void (*fwd)(struct bmst_backend *be, int n, int k, const void *logits, const float *targets,
                float *probs, float *loss);
    void (*bwd)(struct bmst_backend *be, int n, int k, const float *probs, const float *targets,
                const float *scale, void *dlogits);
};

/* Dropout in training, as PyTorch's: y = x * keep / (1 - p) over n elements
 * in act_dtype. Whether element i is kept is a pure function of the step's
 * key (`key`: the BMST_SCALAR_DROPOUT_KEY words, device memory), the node's
 * salt and i, so backward draws the mask again instead of keeping it:
 *   k = hash64(key ^ salt), h = hash64(k ^ i), kept iff (h >> 40) >= drop,
 * with hash64 splitmix64's finalizer (rng.c's bmst_hash64) and drop =
 * p * 2^24 rounded (the op's builder sets it). Backward: dx = dy * keep /
 * (1 - p). */
struct bmst_dropout_desc {
    size_t n;
    uint32_t drop; /* of 2^24: elements whose 24 hash bits fall below are dropped */
    float scale;   /* 1 / (1 - p) */
    uint32_t salt; /* the node's: distinct dropout layers draw distinct masks */
};

struct bmst_dropout_kernels {
    void (*fwd)(struct bmst_backend *be, const struct bmst_dropout_desc *d, const float *key,
                const void *x, void *y);
    void (*bwd)(struct bmst_backend *be, const struct bmst_dropout_desc *d, const float *key,
                const void *dy, void *dx, int accumulate);
};

/* The 1-bit ReLU codec of saved activations: pack sets bit i % 32 of
 * bits[i / 32] to x[i] > 0 for x in act_dtype, n bits in ceil(n / 32) words
 * (the unused bits of the last word 0): all ReLU's backward reads of its
 * output (relu bwd_mask). */
struct bmst_sign_mask_kernels {
    void (*pack)(struct bmst_backend *be, size_t n, const void *x, uint32_t *bits);
};

/* The DIVISION codec of saved activations (src/saved.c): a value x of
 * shape [n, h, w, c] (NHWC, act_dtype) kept as its low-frequency part, the
 * means of block x block tiles (a tile at the bottom or right edge averages
 * only its real elements), and its high-frequency part, x minus the tile
 * means, quantized per (sample, channel) to `bits` bits (1, 2, 4 or 8) by
 * round to nearest between that part's minimum and maximum.
 * decode(encode(x)) = tile mean + lo + code * step, rounded to act_dtype. */
struct bmst_division_desc {
    int n, h, w, c;
    int block, bits;
};

/* Where the parts lie in the stored form, in bytes from its start, each
 * section 16-byte aligned: `lfc` [n, ceil(h/block), ceil(w/block), c] tile
 * means, `lo` and `step` [n, c] the high-frequency part's minimum and
 * quantization step, all in act_dtype (elem_bytes each); `codes` the codes,
 * element e of sample s (NHWC order within the sample) in bits
 * [(e*bits) % 8, +bits) of byte s*row_bytes + e*bits/8, so no byte holds two
 * samples' codes; `bytes` in all. */
struct bmst_division_layout {
    size_t lfc, lo, step, codes, row_bytes, bytes;
};

static inline size_t bmst_division_align(size_t x) {
    return (x + 15) / 16 * 16;
}

static inline struct bmst_division_layout
bmst_division_layout_of(const struct bmst_division_desc *d, size_t elem_bytes) {
    struct bmst_division_layout l;
    const size_t hb = (size_t)(d->h + d->block - 1) / (size_t)d->block;
    const size_t wb = (size_t)(d->w + d->block - 1) / (size_t)d->block;
    const size_t per_channel = (size_t)d->n * (size_t)d->c * elem_bytes;
    l.lfc = 0;
    l.lo = bmst_division_align(hb * wb * per_channel);
    l.step = l.lo + bmst_division_align(per_channel);
    l.codes = l.step + bmst_division_align(per_channel);
    l.row_bytes = ((size_t)d->h * (size_t)d->w * (size_t)d->c * (size_t)d->bits + 7) / 8;
    l.bytes = l.codes + bmst_division_align((size_t)d->n * l.row_bytes);
    return l;
}

struct bmst_division_kernels {
    /* x (act_dtype) into `stored`, laid out as bmst_division_layout_of says */
    void (*encode)(struct bmst_backend *be, const struct bmst_division_desc *d, const void *x,
                   void *stored);
    /* stored back into x (act_dtype, the value's size) */
    void (*decode)(struct bmst_backend *be, const struct bmst_division_desc *d, const void *stored,
                   void *x);
};

struct bmst_backend {
    const char *name;
    void *impl; /* backend-private state (thread count, handles, streams) */

    /* The precision of activations, their gradients and the copy of the
     * weights that convolutions and fully connected layers read: BMST_F32,
     * BMST_F16 or BMST_BF16. Everything else (master weights, their gradients,
     * optimizer state, batch-norm parameters and statistics, targets, loss) is
     * fp32. act_bytes is the size of one stored activation element: 2 for a
     * half type on the GPU; the CPU stores half values as floats rounded to the
     * half type (an emulation with the GPU's numerics), so 4 there. */
    enum bmst_dtype act_dtype;
    size_t act_bytes;

    /* memory */
    /* optional: one allocation of `bytes` from which later alloc() calls are
     * carved until it is used up (the CUDA backend's single cudaMalloc);
     * returns -1 with a one-line reason in why[] when the device has not that
     * much */
    int (*reserve)(struct bmst_backend *be, size_t bytes, char *why, size_t why_len);
    void *(*alloc)(struct bmst_backend *be, size_t bytes); /* NULL when out of memory */
    void (*free)(struct bmst_backend *be, void *ptr);
    void (*to_device)(struct bmst_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*to_host)(struct bmst_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(struct bmst_backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(struct bmst_backend *be, void *dst, size_t bytes);
    void (*sync)(struct bmst_backend *be);
    /* optional: bytes the device reports in use (cudaMemGetInfo); NULL on the CPU */
    size_t (*device_used_bytes)(struct bmst_backend *be);
    /* optional: the queue the backend's work runs on (a cudaStream_t), so a
     * communication library can order its transfers with it; NULL on the CPU */
    void *(*stream)(struct bmst_backend *be);

    /* host fp32 <-> activations in act_dtype (inputs in, logits out);
     * host_src must stay unchanged until the backend's next sync (the copy may
     * still be running until then) */
    void (*upload_act)(struct bmst_backend *be, void *dst, const float *host_src, size_t n);
    void (*download_act)(struct bmst_backend *be, float *host_dst, const void *src, size_t n);
    /* optional: page-locked host memory for buffers upload_act reads (the
     * loader's batches), so the copy can run asynchronously; NULL on the CPU,
     * where the caller uses malloc/free */
    void *(*host_alloc)(struct bmst_backend *be, size_t bytes);
    void (*host_free)(struct bmst_backend *be, void *ptr);
    /* the compute copy of the weights: dst[i] = src[i] in act_dtype */
    void (*cast_weights)(struct bmst_backend *be, size_t n, const float *src, void *dst);

    /* optional (NULL where unsupported, as on the CPU): record every call made
     * between capture_begin and capture_end without running it, and replay the
     * record later with the memory contents of that moment (a CUDA graph).
     * Nothing runs while recording, whether or not the recording succeeds.
     * capture_begin returns 0, or -1 with a one-line reason in why[] when no
     * recording could start. While recording, a call the device library
     * refuses does not end the process: the first such failure is kept and
     * capture_end returns NULL with it (the library, the call and the
     * library's message) in why[], leaving the backend usable for eager work;
     * capture_end also returns NULL with a reason when the finished recording
     * cannot be made replayable. Failures of the backend's own invariants
     * stay fatal. */
    int (*capture_begin)(struct bmst_backend *be, char *why, size_t why_len);
    void *(*capture_end)(struct bmst_backend *be, char *why, size_t why_len);
    void (*replay)(struct bmst_backend *be, void *recording);
    void (*capture_free)(struct bmst_backend *be, void *recording);

    /* The ops' kernels, one group per op kind (the structs below), each
     * filled whole by the backend's kernel file for that op, or NULL where
     * this backend lacks the op: planning a graph that uses it then fails
     * with one line naming the op and the backend (src/graph.c), so a
     * missing kernel is never called. */
    const struct bmst_conv_kernels *conv;
    const struct bmst_bn_kernels *bn;
    const struct bmst_relu_kernels *relu;
    const struct bmst_add_kernels *add;
    const struct bmst_maxpool_kernels *maxpool;
    const struct bmst_avgpool_kernels *avgpool;
    const struct bmst_gap_kernels *gap;
    const struct bmst_fc_kernels *fc;
    const struct bmst_concat_kernels *concat;
    const struct bmst_mix_kernels *mix;
    const struct bmst_xent_kernels *xent;
    const struct bmst_dropout_kernels *dropout;
    /* the 1-bit ReLU codec of saved activations (src/saved.c) */
    const struct bmst_sign_mask_kernels *sign_mask;
    /* the DIVISION codec of saved activations (src/saved.c) */
    const struct bmst_division_kernels *division;

    /* the optimizers' fused passes (struct bmst_optim_kernels) */
    struct bmst_optim_kernels optim;
    /* sum of x[i]^2 in double, in an order that depends on n alone. Squares
     * of finite floats cannot overflow a double sum, so the result is inf or
     * NaN exactly when an element of x is. */
    double (*sum_squares)(struct bmst_backend *be, size_t n, const float *x);
    void (*scale)(struct bmst_backend *be, size_t n, float *x, float s);
    /* g *= s and the sum of the squares of the results in double, in one
     * pass: the unscaling of loss scaling, the gradient's norm and its
     * inf/NaN check at once */
    double (*unscale_sum_squares)(struct bmst_backend *be, size_t n, float *g, float s);

    void (*destroy)(struct bmst_backend *be);
};

/* The CPU backend; threads <= 0 means OpenMP's default. Returns NULL with the
 * reason in bmst_last_error() where an address-space limit (ulimit -v) leaves
 * no room for OpenBLAS's buffers (kernels/cpu/cpu_blas_memory.c). */
struct bmst_backend *bmst_backend_cpu_create(int threads, enum bmst_dtype act_dtype);

/* The CUDA backend on visible GPU `device` modulo the number visible (the
 * node-local rank goes here: one process per GPU); `flags` are enum
 * bmst_backend_flag bits. Returns NULL and a one-line reason in why[] where
 * there is no usable GPU or the program was built without CUDA. */
struct bmst_backend *bmst_backend_cuda_create(int device, enum bmst_dtype act_dtype,
                                              unsigned flags, char *why, size_t why_len);

/* Call first in main(): where OpenBLAS did not recognize the CPU and fell back
 * to its generic kernels, re-executes the program with OPENBLAS_CORETYPE set
 * from the CPU's features (kernels/cpu/cpu_blas_select.c). Returns otherwise. */
void bmst_cpu_blas_select(char **argv);

#ifdef __cplusplus
}
#endif

#endif
