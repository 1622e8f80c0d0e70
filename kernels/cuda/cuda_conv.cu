/* Convolutions through cuDNN: NHWC activations and KRSC (NHWC) filters, fp32
 * accumulation. Each distinct shape gets a plan the first time it is seen (at
 * graph planning): its descriptors and, for each of the three passes, the
 * fastest algorithm cuDNN measures (cudnnFind*) within a workspace limit. The
 * workspace itself comes from the plan's arena.
 *
 * fp32 runs on FMA math only (no TF32), so it matches the CPU oracle; fp16
 * and bf16 run on tensor cores. In the half types cuDNN writes the filter
 * gradient in the half type: into the front of the workspace, then widened
 * into the fp32 gradient buffer. */
#include "cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#define WORKSPACE_LIMIT ((size_t)256 << 20) /* per pass; faster algorithms past it are skipped */
#define DW_ALIGN 256

struct cuda_conv_plan {
    struct bmst_conv_desc d;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t fwd_bytes, bwd_data_bytes, bwd_filter_bytes;
    size_t dw_bytes; /* the half-type filter gradient at the workspace's front */
};

static cudnnDataType_t cudnn_type(enum bmst_dtype t) {
    switch (t) {
    case BMST_F16: return CUDNN_DATA_HALF;
    case BMST_BF16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
    }
}

/* The first (fastest) measured algorithm that succeeded within the limit. */
#define PICK(perf, count, out_algo, out_bytes, what)                                               \
    do {                                                                                           \
        int found_ = 0;                                                                            \
        for (int i_ = 0; i_ < (count) && !found_; i_++) {                                          \
            if ((perf)[i_].status != CUDNN_STATUS_SUCCESS || (perf)[i_].memory > WORKSPACE_LIMIT)   \
                continue;                                                                          \
            (out_algo) = (perf)[i_].algo;                                                          \
            (out_bytes) = (perf)[i_].memory;                                                       \
            found_ = 1;                                                                            \
        }                                                                                          \
        if (!found_) cuda_fail("cuDNN", __FILE__, __LINE__, what, "no algorithm for this shape"); \
    } while (0)

static void choose_algorithms(struct cuda_impl *impl, struct cuda_conv_plan *p) {
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(impl->cudnn, p->x, p->w, p->conv, p->y,
                                                     CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, fwd));
    PICK(fwd, n, p->fwd, p->fwd_bytes, "cudnnFindConvolutionForwardAlgorithm");
    cudnnConvolutionBwdDataAlgoPerf_t bd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
        impl->cudnn, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, bd));
    PICK(bd, n, p->bwd_data, p->bwd_data_bytes, "cudnnFindConvolutionBackwardDataAlgorithm");
    cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
        impl->cudnn, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, bf));
    PICK(bf, n, p->bwd_filter, p->bwd_filter_bytes, "cudnnFindConvolutionBackwardFilterAlgorithm");
}

static struct cuda_conv_plan *plan_for(struct bmst_backend *be, const struct bmst_conv_desc *d) {
    struct cuda_impl *impl = cuda_impl_of(be);
    for (int i = 0; i < impl->n_conv_plans; i++)
        if (memcmp(&impl->conv_plans[i].d, d, sizeof *d) == 0) return &impl->conv_plans[i];
    if (impl->capturing)
        cuda_fail("bmst", __FILE__, __LINE__, "conv plan", "a new shape while recording");
    if (impl->n_conv_plans == impl->cap_conv_plans) {
        impl->cap_conv_plans = impl->cap_conv_plans ? 2 * impl->cap_conv_plans : 64;
        impl->conv_plans = (struct cuda_conv_plan *)realloc(
            impl->conv_plans, (size_t)impl->cap_conv_plans * sizeof *impl->conv_plans);
        if (!impl->conv_plans) cuda_fail("bmst", __FILE__, __LINE__, "realloc", "out of memory");
    }
    struct cuda_conv_plan *p = &impl->conv_plans[impl->n_conv_plans++];
    memset(p, 0, sizeof *p);
    p->d = *d;
    cudnnDataType_t t = cudnn_type(be->act_dtype);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, t, d->n, d->c, d->h, d->w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, t, d->n, d->k, d->out_h,
                                           d->out_w));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, t, CUDNN_TENSOR_NHWC, d->k, d->c, d->r, d->s));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d->pad_h, d->pad_w, d->stride_h,
                                                d->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(
        p->conv, be->act_dtype == BMST_F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
    if (be->act_dtype != BMST_F32) {
        size_t dw = (size_t)d->k * d->r * d->s * d->c * be->act_bytes;
        p->dw_bytes = (dw + DW_ALIGN - 1) / DW_ALIGN * DW_ALIGN;
    }
    choose_algorithms(impl, p);
    return p;
}

size_t cuda_conv_workspace_bytes(struct bmst_backend *be, const struct bmst_conv_desc *d) {
    const struct cuda_conv_plan *p = plan_for(be, d);
    size_t most = p->fwd_bytes > p->bwd_data_bytes ? p->fwd_bytes : p->bwd_data_bytes;
    size_t filter = p->dw_bytes + p->bwd_filter_bytes;
    return most > filter ? most : filter;
}

void cuda_conv_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                   const void *w, void *y, void *ws) {
    const struct cuda_conv_plan *p = plan_for(be, d);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(cuda_impl_of(be)->cudnn, &one, p->x, x, p->w, w, p->conv,
                                        p->fwd, ws, p->fwd_bytes, &zero, p->y, y));
}

void cuda_conv_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *dy,
                        const void *w, void *dx, int accumulate, void *ws) {
    const struct cuda_conv_plan *p = plan_for(be, d);
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(cuda_impl_of(be)->cudnn, &one, p->w, w, p->y, dy,
                                             p->conv, p->bwd_data, ws, p->bwd_data_bytes, &beta,
                                             p->x, dx));
}

void cuda_conv_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                          const void *dy, float *dw, void *ws) {
    const struct cuda_conv_plan *p = plan_for(be, d);
    const float one = 1.0f, zero = 0.0f;
    void *out = p->dw_bytes ? ws : (void *)dw;
    void *scratch = (char *)ws + p->dw_bytes;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda_impl_of(be)->cudnn, &one, p->x, x, p->y, dy,
                                               p->conv, p->bwd_filter, scratch,
                                               p->bwd_filter_bytes, &zero, p->w, out));
    if (p->dw_bytes)
        cuda_cast_to_f32(be, be->act_dtype, (size_t)d->k * d->r * d->s * d->c, out, dw);
}

void cuda_conv_plans_free(struct cuda_impl *impl) {
    for (int i = 0; i < impl->n_conv_plans; i++) {
        struct cuda_conv_plan *p = &impl->conv_plans[i];
        CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
        CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
        CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
        CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(p->conv));
    }
    free(impl->conv_plans);
    impl->conv_plans = NULL;
    impl->n_conv_plans = impl->cap_conv_plans = 0;
}
