/* Fully connected layers through cuBLAS. Row-major y[n, out] = x[n, in] *
 * w[out, in]^T + b is, read column-major, Y(out x n) = W^T * X with W an
 * (in x out) matrix of leading dimension in: one cublasGemmEx, fp32
 * accumulation (CUBLAS_COMPUTE_32F, never TF32). The bias is written into y
 * first and added by the product (beta = 1), so a half-type y is rounded once.
 * The weight gradient is written in fp32 straight from half inputs; the bias
 * gradient is a column sum of our own. */
#include "cuda_internal.h"

static cudaDataType_t blas_type(enum bmst_dtype t) {
    switch (t) {
    case BMST_F16: return CUDA_R_16F;
    case BMST_BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
    }
}

template <typename T>
__global__ void broadcast_bias(int n, int out, const float *b, T *y) {
    size_t total = (size_t)n * out;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(b[i % out]);
}

/* db[o] = sum over rows of dy[., o], in row order: the CPU's order. */
template <typename T>
__global__ void column_sums(int n, int out, const T *dy, float *db) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += to_f32(dy[(size_t)i * out + o]);
    db[o] = s;
}

static void cuda_fc_fwd(struct bmst_backend *be, int n, int in, int out, const void *x,
                        const void *w, const float *b, void *y) {
    struct cuda_impl *impl = cuda_impl_of(be);
    size_t total = (size_t)n * out;
    CUDA_DISPATCH(be->act_dtype, T,
                  broadcast_bias<T><<<cuda_blocks(total, 256), 256, 0, impl->stream>>>(
                      n, out, b, (T *)y));
    CUDA_CHECK_LAUNCH();
    const float one = 1.0f;
    cudaDataType_t t = blas_type(be->act_dtype);
    CUBLAS_CHECK(cublasGemmEx(impl->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, t, in,
                              x, t, in, &one, y, t, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static void cuda_fc_bwd_data(struct bmst_backend *be, int n, int in, int out, const void *dy,
                             const void *w, void *dx, int accumulate) {
    struct cuda_impl *impl = cuda_impl_of(be);
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cudaDataType_t t = blas_type(be->act_dtype);
    /* DX(in x n) = W(in x out) * DY(out x n) */
    CUBLAS_CHECK(cublasGemmEx(impl->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, t, in,
                              dy, t, out, &beta, dx, t, in, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
}

static void cuda_fc_bwd_filter(struct bmst_backend *be, int n, int in, int out, const void *x,
                               const void *dy, float *dw, float *db) {
    struct cuda_impl *impl = cuda_impl_of(be);
    const float one = 1.0f, zero = 0.0f;
    cudaDataType_t t = blas_type(be->act_dtype);
    /* DW(in x out) = X(in x n) * DY(out x n)^T, written in fp32 */
    CUBLAS_CHECK(cublasGemmEx(impl->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, t, in,
                              dy, t, out, &zero, dw, CUDA_R_32F, in, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
    CUDA_DISPATCH(be->act_dtype, T,
                  column_sums<T><<<(out + 127) / 128, 128, 0, impl->stream>>>(n, out,
                                                                              (const T *)dy, db));
    CUDA_CHECK_LAUNCH();
}

/* The kernel groups this file fills (backend.h), in the structs' field order. */
const struct bmst_fc_kernels cuda_fc_kernels = {
    /* .fwd = */ cuda_fc_fwd,
    /* .bwd_data = */ cuda_fc_bwd_data,
    /* .bwd_filter = */ cuda_fc_bwd_filter,
};
