/* Softmax cross-entropy of the CUDA backend against fp32 soft targets, as
 * kernels/cpu/cpu_mix_loss.c computes it: per row, probs = softmax(z) and
 * loss = -sum_k t_k * (z_k - max - log sum exp(z - max)), so a zero
 * probability never meets log; the row sums are taken in double.
 *
 * The mean loss is reduced without atomics: block b handles rows b, b + G,
 * ... (G blocks, a function of n only) and writes the sum of its rows' losses
 * to impl->reduce_scratch[b]; a one-block kernel adds the G partials in a
 * fixed order and writes the mean to *loss. Both reductions are fixed trees,
 * so the loss has the same bits every run. Scratch: XENT_MAX_BLOCKS doubles. */
#include "cuda_internal.h"

#define XENT_MAX_BLOCKS 1024 /* bounds the partials (the scratch) */
#define XENT_SUM_THREADS 256
#define XENT_BWD_THREADS 256


/* The maximum as the CPU takes it: a value replaces the running one only when
 * strictly greater, so NaN never wins; every thread starts from z[0], which
 * makes the result NaN exactly when z[0] is NaN, as on the CPU. */
static __device__ __forceinline__ float max_keep(float a, float b) { return b > a ? b : a; }

static __device__ float block_max(float v, float *sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v = max_keep(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = sh[lane < warps ? lane : 0];
        for (int o = 16; o > 0; o >>= 1)
            v = max_keep(v, __shfl_xor_sync(0xffffffffu, v, o));
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    v = sh[0];
    __syncthreads();
    return v;
}

/* A block per row (grid-strided over rows). Pass 1: the maximum; pass 2: the
 * sum of exp(z - max) in double; pass 3: probabilities exp(z - max) * (1/sum)
 * (exp recomputed rather than stored and reread) and the row loss. */
template <typename T>
__global__ void xent_fwd_kernel(int n, int k, const T *logits, const float *targets, float *probs,
                                double *partial) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    double block_loss = 0.0; /* thread 0's: this block's rows, in row order */
    for (int row = blockIdx.x; row < n; row += gridDim.x) {
        const T *z = logits + (size_t)row * k;
        const float *t = targets + (size_t)row * k;
        float *p = probs + (size_t)row * k;
        float zmax = to_f32(z[0]);
        for (int j = threadIdx.x; j < k; j += blockDim.x)
            zmax = max_keep(zmax, to_f32(z[j]));
        zmax = block_max(zmax, shf);
        double sum = 0.0;
        for (int j = threadIdx.x; j < k; j += blockDim.x)
            sum += (double)expf(to_f32(z[j]) - zmax);
        sum = cuda_block_sum(sum, shd);
        const float inv = (float)(1.0 / sum);
        const double lse = log(sum);
        double loss = 0.0;
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
            float zj = to_f32(z[j]);
            p[j] = expf(zj - zmax) * inv;
            loss -= (double)t[j] * ((double)zj - (double)zmax - lse);
        }
        loss = cuda_block_sum(loss, shd);
        block_loss += loss;
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = block_loss;
}

/* One block: the mean of the row losses from the G partials. */
__global__ void xent_mean_kernel(int parts, int n, const double *partial, float *loss) {
    __shared__ double shd[32];
    double v = 0.0;
    for (int i = threadIdx.x; i < parts; i += blockDim.x)
        v += partial[i];
    v = cuda_block_sum(v, shd);
    if (threadIdx.x == 0) *loss = (float)(v / (double)n);
}

/* dlogits = (probs - targets) * (scale / n), with scale read on the device so
 * a recorded step replays with the current loss scale. */
template <typename T>
__global__ void xent_bwd_kernel(size_t count, int n, const float *probs, const float *targets,
                                const float *scale, T *dlogits) {
    const float inv_n = *scale / (float)n;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        dlogits[i] = from_f32<T>((probs[i] - targets[i]) * inv_n);
}

static void cuda_xent_fwd(struct bmst_backend *be, int n, int k, const void *logits,
                          const float *targets, float *probs, float *loss) {
    struct cuda_impl *impl = cuda_impl_of(be);
    cudaStream_t s = impl->stream;
    if (n <= 0 || k <= 0) { /* no rows: the mean is taken as 0, as the CPU */
        CUDA_CHECK(cudaMemsetAsync(loss, 0, sizeof(float), s));
        return;
    }
    const int blocks = n < XENT_MAX_BLOCKS ? n : XENT_MAX_BLOCKS;
    if (impl->reduce_scratch == NULL || impl->reduce_scratch_count < (size_t)blocks)
        bmst_fatal("bmst", __FILE__, __LINE__, "xent_fwd", "reduce_scratch too small");
    /* a thread per class up to 256, in whole warps */
    int threads = k <= 32 ? 32 : k <= 64 ? 64 : k <= 128 ? 128 : 256;
    CUDA_DISPATCH(be->act_dtype, T,
                  xent_fwd_kernel<T><<<blocks, threads, 0, s>>>(n, k, (const T *)logits, targets,
                                                                probs, impl->reduce_scratch));
    CUDA_CHECK_LAUNCH();
    xent_mean_kernel<<<1, XENT_SUM_THREADS, 0, s>>>(blocks, n, impl->reduce_scratch, loss);
    CUDA_CHECK_LAUNCH();
}

static void cuda_xent_bwd(struct bmst_backend *be, int n, int k, const float *probs,
                          const float *targets, const float *scale, void *dlogits) {
    if (n <= 0 || k <= 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    const size_t count = (size_t)n * k;
    CUDA_DISPATCH(be->act_dtype, T,
                  xent_bwd_kernel<T><<<cuda_blocks(count, XENT_BWD_THREADS), XENT_BWD_THREADS, 0,
                                       s>>>(count, n, probs, targets, scale, (T *)dlogits));
    CUDA_CHECK_LAUNCH();
}

/* The kernel groups this file fills (backend.h), in the structs' field order. */
const struct bmst_xent_kernels cuda_xent_kernels = {
    /* .fwd = */ cuda_xent_fwd,
    /* .bwd = */ cuda_xent_bwd,
};
