/* Convolutions through cuDNN: NHWC activations and KRSC (NHWC) filters, fp32
 * accumulation.
 *
 * conv_plan prepares the passes a shape will run, at graph planning: the
 * shape's descriptors and, for each pass, the algorithm that the rules of
 * kernels/conv_choice.c take from cuDNN's ranking. The ranking is measured
 * (cudnnFind*, fastest first) or, on a deterministic backend, cuDNN's
 * heuristics (cudnnGet*_v7): measured times vary from run to run, and with
 * them the choice, while the heuristics answer the same for the same device,
 * library and shape. cuDNN ranks (algorithm, math type) pairs, and an
 * algorithm must run with the math type it was ranked with, so each pass has
 * its own convolution descriptor set to its algorithm's math type: running a
 * pass (inside a recorded CUDA graph too) changes no descriptor. The
 * workspace itself comes from the plan's arena, sized for the chosen pairs.
 *
 * fp32 runs on FMA math only (no TF32), so it matches the CPU oracle; fp16
 * and bf16 may run on tensor cores. In the half types cuDNN writes the filter
 * gradient in the half type: into the front of the workspace, then widened
 * into the fp32 gradient buffer. */
#include "cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_choice.h"

#define WORKSPACE_LIMIT ((size_t)256 << 20) /* per pass; faster algorithms past it are skipped */
#define DW_ALIGN 256
#define MAX_RANKED 64 /* entries read from one ranking: cuDNN 9 offers fewer than ten */

enum conv_pass_index { PASS_FWD, PASS_BWD_DATA, PASS_BWD_FILTER, PASS_COUNT };

static const unsigned pass_bit[PASS_COUNT] = {BMST_CONV_FWD, BMST_CONV_BWD_DATA,
                                              BMST_CONV_BWD_FILTER};
static const char *const pass_name[PASS_COUNT] = {"forward", "backward data", "backward filter"};

struct cuda_conv_pass {
    cudnnConvolutionDescriptor_t conv; /* NULL until planned; set to `algo`'s math type */
    int algo;                          /* a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    size_t bytes;                      /* the algorithm's workspace with that math type */
};

struct cuda_conv_plan {
    struct bmst_conv_desc d;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    struct cuda_conv_pass pass[PASS_COUNT];
    size_t dw_bytes; /* the half-type filter gradient at the workspace's front */
};

/* At planning a failed cuDNN call is a reason handed up to the planner (a
 * shape cuDNN cannot take), not the end of the process: evaluates to 0, or
 * to -1 with the function's name and cuDNN's message in why[]. */
#define PLAN_CALL(fn, ...) plan_status(fn(__VA_ARGS__), #fn, why, why_len)

static int plan_status(cudnnStatus_t s, const char *fn, char *why, size_t why_len) {
    if (s == CUDNN_STATUS_SUCCESS) return 0;
    snprintf(why, why_len, "%s: %s", fn, cudnnGetErrorString(s));
    return -1;
}

static cudnnDataType_t cudnn_type(enum bmst_dtype t) {
    switch (t) {
    case BMST_F16: return CUDNN_DATA_HALF;
    case BMST_BF16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
    }
}

/* cuDNN's math type in conv_choice's words; 0 for one this code does not know. */
static int known_math(cudnnMathType_t m, enum bmst_conv_math *out) {
    switch (m) {
    case CUDNN_DEFAULT_MATH: *out = BMST_CONV_MATH_DEFAULT; return 1;
    case CUDNN_TENSOR_OP_MATH: *out = BMST_CONV_MATH_TENSOR_OP; return 1;
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
        *out = BMST_CONV_MATH_TENSOR_OP_ALLOW_CONVERSION;
        return 1;
    case CUDNN_FMA_MATH: *out = BMST_CONV_MATH_FMA; return 1;
    }
    return 0;
}

static cudnnMathType_t cudnn_math(enum bmst_conv_math m) {
    switch (m) {
    case BMST_CONV_MATH_TENSOR_OP: return CUDNN_TENSOR_OP_MATH;
    case BMST_CONV_MATH_TENSOR_OP_ALLOW_CONVERSION: return CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    case BMST_CONV_MATH_FMA: return CUDNN_FMA_MATH;
    default: return CUDNN_DEFAULT_MATH;
    }
}

/* What cuDNN says `algo` needs for a pass with conv's current math type. */
static cudnnStatus_t workspace_query(struct cuda_impl *impl, const struct cuda_conv_plan *p,
                                     int pass, cudnnConvolutionDescriptor_t conv, int algo,
                                     size_t *bytes) {
    switch (pass) {
    case PASS_FWD:
        return cudnnGetConvolutionForwardWorkspaceSize(impl->cudnn, p->x, p->w, conv, p->y,
                                                       (cudnnConvolutionFwdAlgo_t)algo, bytes);
    case PASS_BWD_DATA:
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            impl->cudnn, p->w, p->y, conv, p->x, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
    default:
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            impl->cudnn, p->x, p->y, conv, p->w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
    }
}

/* cuDNN's ranking as candidates, in its order. Each runnable entry's
 * workspace is the larger of what the ranking reported and what cuDNN's
 * workspace query says for that algorithm with conv set to its math type;
 * an entry whose math type cannot be set or whose size cannot be queried is
 * not runnable. Leaves conv's math type changed: the caller sets the chosen one. */
template <typename Perf>
static void to_candidates(struct cuda_impl *impl, const struct cuda_conv_plan *p, int pass,
                          cudnnConvolutionDescriptor_t conv, const Perf *perf, int n,
                          struct bmst_conv_candidate *out) {
    for (int i = 0; i < n; i++) {
        struct bmst_conv_candidate *c = &out[i];
        size_t queried = 0;
        c->algo = (int)perf[i].algo;
        c->memory = perf[i].memory;
        c->deterministic = perf[i].determinism == CUDNN_DETERMINISTIC;
        c->math = BMST_CONV_MATH_DEFAULT;
        c->ok = perf[i].status == CUDNN_STATUS_SUCCESS && known_math(perf[i].mathType, &c->math) &&
                cudnnSetConvolutionMathType(conv, perf[i].mathType) == CUDNN_STATUS_SUCCESS &&
                workspace_query(impl, p, pass, conv, c->algo, &queried) == CUDNN_STATUS_SUCCESS;
        if (queried > c->memory) c->memory = queried;
    }
}

/* cuDNN's ranking of one pass's algorithms, best first, into out[] (*count
 * entries): measured, or from the heuristics on a deterministic backend. */
static int rank_pass(struct cuda_impl *impl, const struct cuda_conv_plan *p, int pass,
                     cudnnConvolutionDescriptor_t conv, struct bmst_conv_candidate *out,
                     int *count, char *why, size_t why_len) {
    cudnnHandle_t h = impl->cudnn;
    int max = 0, n = 0;
    switch (pass) {
    case PASS_FWD: {
        cudnnConvolutionFwdAlgoPerf_t perf[MAX_RANKED];
        if (PLAN_CALL(cudnnGetConvolutionForwardAlgorithmMaxCount, h, &max)) return -1;
        max = max < MAX_RANKED ? max : MAX_RANKED;
        if (impl->deterministic
                ? PLAN_CALL(cudnnGetConvolutionForwardAlgorithm_v7, h, p->x, p->w, conv, p->y, max,
                            &n, perf)
                : PLAN_CALL(cudnnFindConvolutionForwardAlgorithm, h, p->x, p->w, conv, p->y, max,
                            &n, perf))
            return -1;
        to_candidates(impl, p, pass, conv, perf, n, out);
        break;
    }
    case PASS_BWD_DATA: {
        cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_RANKED];
        if (PLAN_CALL(cudnnGetConvolutionBackwardDataAlgorithmMaxCount, h, &max)) return -1;
        max = max < MAX_RANKED ? max : MAX_RANKED;
        if (impl->deterministic
                ? PLAN_CALL(cudnnGetConvolutionBackwardDataAlgorithm_v7, h, p->w, p->y, conv, p->x,
                            max, &n, perf)
                : PLAN_CALL(cudnnFindConvolutionBackwardDataAlgorithm, h, p->w, p->y, conv, p->x,
                            max, &n, perf))
            return -1;
        to_candidates(impl, p, pass, conv, perf, n, out);
        break;
    }
    default: {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_RANKED];
        if (PLAN_CALL(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, h, &max)) return -1;
        max = max < MAX_RANKED ? max : MAX_RANKED;
        if (impl->deterministic
                ? PLAN_CALL(cudnnGetConvolutionBackwardFilterAlgorithm_v7, h, p->x, p->y, conv,
                            p->w, max, &n, perf)
                : PLAN_CALL(cudnnFindConvolutionBackwardFilterAlgorithm, h, p->x, p->y, conv,
                            p->w, max, &n, perf))
            return -1;
        to_candidates(impl, p, pass, conv, perf, n, out);
        break;
    }
    }
    *count = n;
    return 0;
}

/* Chooses one pass's algorithm into p->pass[pass]. On failure the pass may
 * hold a descriptor, which the caller drops. */
static int plan_pass(struct cuda_impl *impl, enum bmst_dtype precision, struct cuda_conv_plan *p,
                     int pass, char *why, size_t why_len) {
    struct cuda_conv_pass *ps = &p->pass[pass];
    const struct bmst_conv_desc *d = &p->d;
    /* ranked under the widest math the precision may use, so that every
     * pair the choice can take is among the candidates */
    if (PLAN_CALL(cudnnCreateConvolutionDescriptor, &ps->conv) ||
        PLAN_CALL(cudnnSetConvolution2dDescriptor, ps->conv, d->pad_h, d->pad_w, d->stride_h,
                  d->stride_w, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ||
        PLAN_CALL(cudnnSetConvolutionMathType, ps->conv,
                  precision == BMST_F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH))
        return -1;
    struct bmst_conv_candidate ranked[MAX_RANKED];
    int n = 0;
    if (rank_pass(impl, p, pass, ps->conv, ranked, &n, why, why_len) != 0) return -1;
    struct bmst_conv_constraints rules = {precision, impl->deterministic, WORKSPACE_LIMIT};
    char reason[256];
    int i = bmst_conv_choose(ranked, n, &rules, reason, sizeof reason);
    if (i < 0) {
        snprintf(why, why_len, "%s: %s", pass_name[pass], reason);
        return -1;
    }
    if (PLAN_CALL(cudnnSetConvolutionMathType, ps->conv, cudnn_math(ranked[i].math))) return -1;
    ps->algo = ranked[i].algo;
    ps->bytes = ranked[i].memory;
    return 0;
}

static void drop_pass(struct cuda_conv_pass *ps) {
    if (ps->conv) CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(ps->conv));
    memset(ps, 0, sizeof *ps);
}

static void drop_plan(struct cuda_conv_plan *p) {
    for (int i = 0; i < PASS_COUNT; i++) drop_pass(&p->pass[i]);
    if (p->x) CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
    if (p->y) CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
    if (p->w) CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
    memset(p, 0, sizeof *p);
}

/* The tensor and filter descriptors of a new shape, shared by its passes. */
static int describe(struct bmst_backend *be, const struct bmst_conv_desc *d,
                    struct cuda_conv_plan *p, char *why, size_t why_len) {
    memset(p, 0, sizeof *p);
    p->d = *d;
    cudnnDataType_t t = cudnn_type(be->act_dtype);
    if (PLAN_CALL(cudnnCreateTensorDescriptor, &p->x) ||
        PLAN_CALL(cudnnCreateTensorDescriptor, &p->y) ||
        PLAN_CALL(cudnnCreateFilterDescriptor, &p->w) ||
        PLAN_CALL(cudnnSetTensor4dDescriptor, p->x, CUDNN_TENSOR_NHWC, t, d->n, d->c, d->h, d->w) ||
        PLAN_CALL(cudnnSetTensor4dDescriptor, p->y, CUDNN_TENSOR_NHWC, t, d->n, d->k, d->out_h,
                  d->out_w) ||
        PLAN_CALL(cudnnSetFilter4dDescriptor, p->w, t, CUDNN_TENSOR_NHWC, d->k, d->c, d->r, d->s)) {
        drop_plan(p);
        return -1;
    }
    if (be->act_dtype != BMST_F32) {
        size_t dw = (size_t)d->k * d->r * d->s * d->c * be->act_bytes;
        p->dw_bytes = (dw + DW_ALIGN - 1) / DW_ALIGN * DW_ALIGN;
    }
    return 0;
}

static struct cuda_conv_plan *find_plan(struct cuda_impl *impl, const struct bmst_conv_desc *d) {
    for (int i = 0; i < impl->n_conv_plans; i++)
        if (memcmp(&impl->conv_plans[i].d, d, sizeof *d) == 0) return &impl->conv_plans[i];
    return NULL;
}

static struct cuda_conv_plan *add_plan(struct bmst_backend *be, const struct bmst_conv_desc *d,
                                       char *why, size_t why_len) {
    struct cuda_impl *impl = cuda_impl_of(be);
    if (impl->n_conv_plans == impl->cap_conv_plans) {
        impl->cap_conv_plans = impl->cap_conv_plans ? 2 * impl->cap_conv_plans : 64;
        impl->conv_plans = (struct cuda_conv_plan *)realloc(
            impl->conv_plans, (size_t)impl->cap_conv_plans * sizeof *impl->conv_plans);
        if (!impl->conv_plans) bmst_fatal("bmst", __FILE__, __LINE__, "realloc", "out of memory");
    }
    struct cuda_conv_plan *p = &impl->conv_plans[impl->n_conv_plans];
    if (describe(be, d, p, why, why_len) != 0) return NULL;
    impl->n_conv_plans++;
    return p;
}

static int cuda_conv_plan(struct bmst_backend *be, const struct bmst_conv_desc *d, unsigned passes,
                          size_t *ws_bytes, char *why, size_t why_len) {
    struct cuda_impl *impl = cuda_impl_of(be);
    *ws_bytes = 0;
    if (impl->capturing) {
        snprintf(why, why_len, "a convolution cannot be planned while a pass is being recorded");
        return -1;
    }
    struct cuda_conv_plan *p = find_plan(impl, d);
    if (!p && !(p = add_plan(be, d, why, why_len))) return -1;
    for (int pass = 0; pass < PASS_COUNT; pass++) {
        if (!(passes & pass_bit[pass])) continue;
        if (!p->pass[pass].conv && plan_pass(impl, be->act_dtype, p, pass, why, why_len) != 0) {
            drop_pass(&p->pass[pass]);
            return -1;
        }
        size_t bytes = p->pass[pass].bytes + (pass == PASS_BWD_FILTER ? p->dw_bytes : 0);
        if (bytes > *ws_bytes) *ws_bytes = bytes;
    }
    return 0;
}

/* The plan of a shape whose pass was planned. Running anything else is a
 * bug in the caller's planning, which must not turn into a silent plan (and
 * a cudnnFind, which allocates) in the middle of a step. */
static const struct cuda_conv_plan *planned(struct bmst_backend *be,
                                            const struct bmst_conv_desc *d, int pass) {
    const struct cuda_conv_plan *p = find_plan(cuda_impl_of(be), d);
    if (!p || !p->pass[pass].conv) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the %s pass of the %dx%d stride %d convolution of %dx%dx%dx%d into %d channels "
                 "was never planned (conv_plan)",
                 pass_name[pass], d->r, d->s, d->stride_h, d->n, d->h, d->w, d->c, d->k);
        bmst_fatal("bmst", __FILE__, __LINE__, "conv", msg);
    }
    return p;
}

static void cuda_conv_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                          const void *w, void *y, void *ws) {
    const struct cuda_conv_plan *p = planned(be, d, PASS_FWD);
    const struct cuda_conv_pass *ps = &p->pass[PASS_FWD];
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(cuda_impl_of(be)->cudnn, &one, p->x, x, p->w, w, ps->conv,
                                        (cudnnConvolutionFwdAlgo_t)ps->algo, ws, ps->bytes, &zero,
                                        p->y, y));
}

static void cuda_conv_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d,
                               const void *dy, const void *w, void *dx, int accumulate, void *ws) {
    const struct cuda_conv_plan *p = planned(be, d, PASS_BWD_DATA);
    const struct cuda_conv_pass *ps = &p->pass[PASS_BWD_DATA];
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(cuda_impl_of(be)->cudnn, &one, p->w, w, p->y, dy,
                                             ps->conv, (cudnnConvolutionBwdDataAlgo_t)ps->algo, ws,
                                             ps->bytes, &beta, p->x, dx));
}

static void cuda_conv_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d,
                                 const void *x, const void *dy, float *dw, void *ws) {
    const struct cuda_conv_plan *p = planned(be, d, PASS_BWD_FILTER);
    const struct cuda_conv_pass *ps = &p->pass[PASS_BWD_FILTER];
    const float one = 1.0f, zero = 0.0f;
    void *out = p->dw_bytes ? ws : (void *)dw;
    void *scratch = (char *)ws + p->dw_bytes;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda_impl_of(be)->cudnn, &one, p->x, x, p->y, dy,
                                               ps->conv,
                                               (cudnnConvolutionBwdFilterAlgo_t)ps->algo, scratch,
                                               ps->bytes, &zero, p->w, out));
    if (p->dw_bytes)
        cuda_cast_to_f32(be, be->act_dtype, (size_t)d->k * d->r * d->s * d->c, out, dw);
}

void cuda_conv_plans_free(struct cuda_impl *impl) {
    for (int i = 0; i < impl->n_conv_plans; i++) drop_plan(&impl->conv_plans[i]);
    free(impl->conv_plans);
    impl->conv_plans = NULL;
    impl->n_conv_plans = impl->cap_conv_plans = 0;
}

/* The kernel groups this file fills (backend.h), in the structs' field order. */
const struct bmst_conv_kernels cuda_conv_kernels = {
    /* .plan = */ cuda_conv_plan,
    /* .fwd = */ cuda_conv_fwd,
    /* .bwd_data = */ cuda_conv_bwd_data,
    /* .bwd_filter = */ cuda_conv_bwd_filter,
};
