/* Private to the CUDA backend: its state, the checked-call macros, the
 * element-type helpers every kernel file shares, and the entry points each
 * kernels/cuda/ file defines so cuda_backend.cu can fill the vtable.
 *
 * Every kernel is launched on impl->stream and never synchronizes: a step is a
 * stream of launches that can be recorded into one CUDA graph. Nothing here
 * allocates device memory after creation except through the backend's
 * reservation (cuda_backend.cu), with one exception: the fp32 staging buffer
 * of the asynchronous input upload (upload_stage), made on the first upload
 * from page-locked memory in a half type. The only other stream is
 * copy_stream, which carries that upload's host-to-device copy and is never
 * part of a recording. */
#ifndef BMST_CUDA_INTERNAL_H
#define BMST_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>

#include "backend.h"
#include "error.h"

struct cuda_conv_plan; /* cuda_conv.cu: algorithms chosen per shape */

struct cuda_impl {
    int device;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_workspace; /* given to cuBLAS so it never allocates during capture */
    size_t cublas_workspace_bytes;
    /* the reservation: one cudaMalloc that alloc() carves from */
    char *pool;
    size_t pool_bytes, pool_used;
    /* pinned host staging for upload_act / download_act */
    float *pinned;
    size_t pinned_count;
    /* upload_act from page-locked memory: the copy runs on copy_stream, after
     * compute_ready (recorded on stream) and before copy_done (which stream
     * waits for); a half type is copied into upload_stage (fp32, device,
     * outside the reservation) and cast from there on stream */
    cudaStream_t copy_stream;
    cudaEvent_t compute_ready, copy_done;
    float *upload_stage;
    size_t upload_stage_count;
    /* small device scratch made at creation: reductions (sum_squares) */
    double *reduce_scratch;
    size_t reduce_scratch_count;
    struct cuda_conv_plan *conv_plans;
    int n_conv_plans, cap_conv_plans;
    int deterministic; /* BMST_BACKEND_DETERMINISTIC: cuDNN's deterministic algorithms only */
    /* a recording is in progress (cuda_capture.cu), and the first library
     * failure it met: the reason capture_end gives, empty while there is none */
    int capturing;
    char capture_failure[256];
};

static inline struct cuda_impl *cuda_impl_of(struct bmst_backend *be) {
    return (struct cuda_impl *)be->impl;
}

/* Checked calls: a failure ends the job (bmst_fatal, src/base/error.h) with
 * the rank, host, file, line, call and the library's own message, except on
 * a thread that is recording a CUDA graph (cuda_capture.cu): there the first
 * failure becomes the reason the recording fails and the code goes on, since
 * what follows is only recorded, never run, and the recording is thrown
 * away. bmst_fatal called directly always ends the job: it also reports our
 * own invariants, which no recording excuses. */
void cuda_call_failed(const char *lib, const char *file, int line, const char *call,
                      const char *msg);
#define CUDA_CHECK_AS(call, what)                                                                  \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            cuda_call_failed("CUDA", __FILE__, __LINE__, what, cudaGetErrorString(e_));            \
    } while (0)
#define CUDA_CHECK(call) CUDA_CHECK_AS(call, #call)
#define CUDNN_CHECK(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t s_ = (call);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS)                                                            \
            cuda_call_failed("cuDNN", __FILE__, __LINE__, #call, cudnnGetErrorString(s_));         \
    } while (0)
#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            cuda_call_failed("cuBLAS", __FILE__, __LINE__, #call, cublasGetStatusString(s_));      \
    } while (0)
/* after a kernel launch: launch-configuration errors, without synchronizing */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK_AS(cudaGetLastError(), "kernel launch")

/* Element access in fp32 whatever the stored type. */
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

/* Runs BODY with T the C++ type of dtype. */
#define CUDA_DISPATCH(dtype, T, ...)                                                               \
    do {                                                                                           \
        switch (dtype) {                                                                           \
        case BMST_F32: { typedef float T; __VA_ARGS__; } break;                                    \
        case BMST_F16: { typedef __half T; __VA_ARGS__; } break;                                   \
        case BMST_BF16: { typedef __nv_bfloat16 T; __VA_ARGS__; } break;                           \
        }                                                                                          \
    } while (0)

/* Fixed-order block reductions for blockDim.x a multiple of 32 (at most
 * 1024): a butterfly within each warp, then warp 0 combines the warp results
 * in warp order. The result is returned to every thread; `sh` is 32 slots of
 * shared memory, free again when the call returns. */
static __device__ __forceinline__ double cuda_block_sum(double v, double *sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? sh[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    v = sh[0];
    __syncthreads(); /* every thread has read sh[0] before the next use */
    return v;
}

/* A 1-D grid covering n elements with a grid-stride loop. */
static inline unsigned cuda_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 65535 * 8 ? (b ? b : 1) : 65535 * 8);
}

/* cuda_capture.cu: the vtable's recording entries */
int cuda_capture_begin(struct bmst_backend *be, char *why, size_t why_len);
void *cuda_capture_end(struct bmst_backend *be, char *why, size_t why_len);
void cuda_replay(struct bmst_backend *be, void *recording);
void cuda_capture_free(struct bmst_backend *be, void *recording);

/* The ops' kernel groups (backend.h), each defined by the file named. */
extern const struct bmst_conv_kernels cuda_conv_kernels;           /* cuda_conv.cu */
extern const struct bmst_bn_kernels cuda_bn_kernels;               /* cuda_bn.cu */
extern const struct bmst_relu_kernels cuda_relu_kernels;           /* cuda_elementwise.cu */
extern const struct bmst_add_kernels cuda_add_kernels;             /* cuda_elementwise.cu */
extern const struct bmst_concat_kernels cuda_concat_kernels;       /* cuda_elementwise.cu */
extern const struct bmst_mix_kernels cuda_mix_kernels;             /* cuda_elementwise.cu */
extern const struct bmst_maxpool_kernels cuda_maxpool_kernels;     /* cuda_pool.cu */
extern const struct bmst_avgpool_kernels cuda_avgpool_kernels;     /* cuda_pool.cu */
extern const struct bmst_gap_kernels cuda_gap_kernels;             /* cuda_pool.cu */
extern const struct bmst_fc_kernels cuda_fc_kernels;               /* cuda_fc.cu */
extern const struct bmst_xent_kernels cuda_xent_kernels;           /* cuda_loss.cu */
extern const struct bmst_sign_mask_kernels cuda_sign_mask_kernels; /* cuda_sign_mask.cu */
extern const struct bmst_dropout_kernels cuda_dropout_kernels;     /* cuda_dropout.cu */
extern const struct bmst_division_kernels cuda_division_kernels;   /* cuda_division.cu */

/* cuda_conv.cu: the chosen algorithms' descriptors, released with the backend */
void cuda_conv_plans_free(struct cuda_impl *impl);

/* cuda_elementwise.cu: dst[i] = src[i] converted between fp32 and `dtype` */
void cuda_cast_from_f32(struct bmst_backend *be, enum bmst_dtype dtype, size_t n, const float *src,
                        void *dst);
void cuda_cast_to_f32(struct bmst_backend *be, enum bmst_dtype dtype, size_t n, const void *src,
                      float *dst);

/* cuda_optim.cu */
extern const struct bmst_optim_kernels cuda_optim_kernels; /* the optimizers' passes */
double cuda_sum_squares(struct bmst_backend *be, size_t n, const float *x);
void cuda_scale(struct bmst_backend *be, size_t n, float *x, float s);
double cuda_unscale_sum_squares(struct bmst_backend *be, size_t n, float *g, float s);

/* cuda_mask.cu: the pruning mask's pass (bmst_optim_kernels.mask_apply) */
void cuda_mask_apply(struct bmst_backend *be, size_t n, const uint32_t *keep, float *p, float *s0,
                     float *s1, void *p_act);

#endif
