/* The CUDA backend object: device, streams and library handles, memory (one
 * reservation that the plan's allocations are carved from), host<->device
 * transfers (the inputs asynchronously from page-locked memory), and the
 * vtable. Recording a CUDA graph is cuda_capture.cu's. */
#include "cuda_internal.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUDA_ALIGN 256                          /* what cudaMalloc itself guarantees */
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLAS never allocates while recording */
#define REDUCE_SCRATCH_COUNT ((size_t)1 << 17)  /* doubles: batch norm up to 16384 channels */

static int cuda_reserve(struct bmst_backend *be, size_t bytes, char *why, size_t why_len) {
    struct cuda_impl *impl = cuda_impl_of(be);
    if (impl->pool) bmst_fatal("bmst", __FILE__, __LINE__, "reserve", "reserved twice");
    if (cudaMalloc((void **)&impl->pool, bytes) != cudaSuccess) {
        (void)cudaGetLastError(); /* an out-of-memory answer, not a broken context */
        impl->pool = NULL;
        size_t free_bytes = 0, total = 0;
        CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
        snprintf(why, why_len, "out of device memory: the plan needs %.1f MiB, the GPU has %.1f MiB free",
                 (double)bytes / (1 << 20), (double)free_bytes / (1 << 20));
        return -1;
    }
    impl->pool_bytes = bytes;
    impl->pool_used = 0;
    return 0;
}

static int in_pool(const struct cuda_impl *impl, const void *p) {
    return impl->pool && (const char *)p >= impl->pool &&
           (const char *)p < impl->pool + impl->pool_bytes;
}

/* Carved from the reservation while it lasts (the planned buffers); anything
 * beyond it (a benchmark's scratch) is its own cudaMalloc. */
static void *cuda_alloc(struct bmst_backend *be, size_t bytes) {
    struct cuda_impl *impl = cuda_impl_of(be);
    size_t rounded = (bytes + CUDA_ALIGN - 1) / CUDA_ALIGN * CUDA_ALIGN;
    if (rounded == 0) rounded = CUDA_ALIGN;
    if (impl->pool && impl->pool_used + rounded <= impl->pool_bytes) {
        void *p = impl->pool + impl->pool_used;
        impl->pool_used += rounded;
        return p;
    }
    void *p = NULL;
    if (cudaMalloc(&p, rounded) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    return p;
}

static void cuda_free(struct bmst_backend *be, void *ptr) {
    if (!ptr || in_pool(cuda_impl_of(be), ptr)) return; /* the reservation goes as a whole */
    CUDA_CHECK(cudaFree(ptr));
}

/* Transfers with the host stay out of recordings: nothing runs while
 * recording, so one the host waits for would bring nothing back, and one it
 * does not wait for would read the host memory as it is at each replay. The
 * executor makes none there, so one is a bug that ends the process, unlike
 * a call the libraries refuse while recording, which only gives the
 * recording up (cuda_capture.cu). */
static void not_recording(const struct cuda_impl *impl, const char *what) {
    if (impl->capturing)
        bmst_fatal("bmst", __FILE__, __LINE__, what, "a host transfer while recording");
}

/* Host to device in stream order; from pageable memory CUDA has copied the
 * source out by the time the call returns, so the caller may reuse it. */
static void cuda_to_device(struct bmst_backend *be, void *dst, const void *src, size_t bytes) {
    not_recording(cuda_impl_of(be), "to_device");
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_impl_of(be)->stream));
}

static void cuda_to_host(struct bmst_backend *be, void *dst, const void *src, size_t bytes) {
    struct cuda_impl *impl = cuda_impl_of(be);
    not_recording(impl, "to_host");
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, impl->stream));
    CUDA_CHECK(cudaStreamSynchronize(impl->stream));
}

static void cuda_copy(struct bmst_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_impl_of(be)->stream));
}

static void cuda_zero(struct bmst_backend *be, void *dst, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda_impl_of(be)->stream));
}

static void cuda_sync(struct bmst_backend *be) {
    CUDA_CHECK(cudaStreamSynchronize(cuda_impl_of(be)->stream));
}

static size_t cuda_device_used_bytes(struct bmst_backend *be) {
    (void)be;
    size_t free_bytes = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
    return total - free_bytes;
}

static void *cuda_stream(struct bmst_backend *be) {
    return (void *)cuda_impl_of(be)->stream;
}

/* Pinned staging for the inputs and logits, grown on the first use. */
static void *staging(struct cuda_impl *impl, size_t bytes) {
    size_t count = (bytes + sizeof(float) - 1) / sizeof(float);
    if (count > impl->pinned_count) {
        if (impl->pinned) CUDA_CHECK(cudaFreeHost(impl->pinned));
        CUDA_CHECK(cudaMallocHost((void **)&impl->pinned, count * sizeof(float)));
        impl->pinned_count = count;
    }
    return impl->pinned;
}

/* Page-locked host memory (the loader's batches), which a copy can read
 * while the host goes on. */
static void *cuda_host_alloc(struct bmst_backend *be, size_t bytes) {
    void *p = NULL;
    /* the calling thread may not have chosen a device yet: pin for this one */
    CUDA_CHECK(cudaSetDevice(cuda_impl_of(be)->device));
    CUDA_CHECK(cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault));
    return p;
}

static void cuda_host_free(struct bmst_backend *be, void *ptr) {
    (void)be;
    if (ptr) CUDA_CHECK(cudaFreeHost(ptr));
}

/* 1 when p lies in page-locked (allocated or registered) host memory. */
static int page_locked(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* not a pointer CUDA knows: pageable */
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}

/* The fp32 device staging of an asynchronous upload in a half type, grown to
 * n floats: the one device allocation outside the reservation, made by the
 * first upload (and again only by a larger one, which first waits for the
 * casts that may still read the old buffer). NULL when the device has not
 * the memory. */
static float *upload_stage(struct cuda_impl *impl, size_t n) {
    if (n <= impl->upload_stage_count) return impl->upload_stage;
    if (impl->upload_stage) {
        CUDA_CHECK(cudaStreamSynchronize(impl->stream));
        CUDA_CHECK(cudaFree(impl->upload_stage));
        impl->upload_stage = NULL;
        impl->upload_stage_count = 0;
    }
    if (cudaMalloc((void **)&impl->upload_stage, n * sizeof(float)) != cudaSuccess) {
        (void)cudaGetLastError(); /* out of memory: the caller copies synchronously */
        impl->upload_stage = NULL;
        return NULL;
    }
    impl->upload_stage_count = n;
    return impl->upload_stage;
}

/* From page-locked memory: the copy runs on the copy stream once the compute
 * stream's earlier work is done (which may still read dst or the staging),
 * and the compute stream's later work waits for it; fp32 lands in dst, a
 * half type in the fp32 staging and is cast into dst on the compute stream
 * (rounding to nearest even, as the host conversion below). The host does
 * not wait: src must stay unchanged until the next sync. Returns 0 where it
 * cannot (no memory for the staging). */
static int upload_async(struct bmst_backend *be, void *dst, const float *src, size_t n) {
    struct cuda_impl *impl = cuda_impl_of(be);
    float *target = be->act_dtype == BMST_F32 ? (float *)dst : upload_stage(impl, n);
    if (!target) return 0;
    CUDA_CHECK(cudaEventRecord(impl->compute_ready, impl->stream));
    CUDA_CHECK(cudaStreamWaitEvent(impl->copy_stream, impl->compute_ready, 0));
    CUDA_CHECK(cudaMemcpyAsync(target, src, n * sizeof(float), cudaMemcpyHostToDevice,
                               impl->copy_stream));
    CUDA_CHECK(cudaEventRecord(impl->copy_done, impl->copy_stream));
    CUDA_CHECK(cudaStreamWaitEvent(impl->stream, impl->copy_done, 0));
    if (be->act_dtype != BMST_F32) cuda_cast_from_f32(be, be->act_dtype, n, target, dst);
    return 1;
}

/* From page-locked memory asynchronously (upload_async); from pageable
 * memory the host converts to the activation type into pinned staging and
 * one copy moves it, waited for, since the staging is reused. */
static void cuda_upload_act(struct bmst_backend *be, void *dst, const float *src, size_t n) {
    struct cuda_impl *impl = cuda_impl_of(be);
    not_recording(impl, "upload_act");
    if (n && page_locked(src) && upload_async(be, dst, src, n)) return;
    void *stage = staging(impl, n * be->act_bytes);
    switch (be->act_dtype) {
    case BMST_F32: memcpy(stage, src, n * sizeof(float)); break;
    case BMST_F16:
        for (size_t i = 0; i < n; i++) ((__half *)stage)[i] = __float2half_rn(src[i]);
        break;
    case BMST_BF16:
        for (size_t i = 0; i < n; i++) ((__nv_bfloat16 *)stage)[i] = __float2bfloat16_rn(src[i]);
        break;
    }
    CUDA_CHECK(cudaMemcpyAsync(dst, stage, n * be->act_bytes, cudaMemcpyHostToDevice, impl->stream));
    CUDA_CHECK(cudaStreamSynchronize(impl->stream));
}

static void cuda_download_act(struct bmst_backend *be, float *dst, const void *src, size_t n) {
    struct cuda_impl *impl = cuda_impl_of(be);
    not_recording(impl, "download_act");
    void *stage = staging(impl, n * be->act_bytes);
    cuda_to_host(be, stage, src, n * be->act_bytes);
    switch (be->act_dtype) {
    case BMST_F32: memcpy(dst, stage, n * sizeof(float)); break;
    case BMST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = __half2float(((const __half *)stage)[i]);
        break;
    case BMST_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = __bfloat162float(((const __nv_bfloat16 *)stage)[i]);
        break;
    }
}

static void cuda_cast_weights(struct bmst_backend *be, size_t n, const float *src, void *dst) {
    cuda_cast_from_f32(be, be->act_dtype, n, src, dst);
}

static void cuda_destroy(struct bmst_backend *be) {
    if (!be) return;
    struct cuda_impl *impl = cuda_impl_of(be);
    CUDA_CHECK(cudaStreamSynchronize(impl->stream));
    CUDA_CHECK(cudaStreamSynchronize(impl->copy_stream));
    cuda_conv_plans_free(impl);
    if (impl->pool) CUDA_CHECK(cudaFree(impl->pool));
    if (impl->reduce_scratch) CUDA_CHECK(cudaFree(impl->reduce_scratch));
    if (impl->cublas_workspace) CUDA_CHECK(cudaFree(impl->cublas_workspace));
    if (impl->pinned) CUDA_CHECK(cudaFreeHost(impl->pinned));
    if (impl->upload_stage) CUDA_CHECK(cudaFree(impl->upload_stage));
    CUBLAS_CHECK(cublasDestroy(impl->cublas));
    CUDNN_CHECK(cudnnDestroy(impl->cudnn));
    CUDA_CHECK(cudaEventDestroy(impl->compute_ready));
    CUDA_CHECK(cudaEventDestroy(impl->copy_done));
    CUDA_CHECK(cudaStreamDestroy(impl->copy_stream));
    CUDA_CHECK(cudaStreamDestroy(impl->stream));
    free(impl);
    free(be);
}

static void fill_vtable(struct bmst_backend *be) {
    be->reserve = cuda_reserve;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->to_device = cuda_to_device;
    be->to_host = cuda_to_host;
    be->copy = cuda_copy;
    be->zero = cuda_zero;
    be->sync = cuda_sync;
    be->device_used_bytes = cuda_device_used_bytes;
    be->stream = cuda_stream;
    be->upload_act = cuda_upload_act;
    be->download_act = cuda_download_act;
    be->host_alloc = cuda_host_alloc;
    be->host_free = cuda_host_free;
    be->cast_weights = cuda_cast_weights;
    be->capture_begin = cuda_capture_begin;
    be->capture_end = cuda_capture_end;
    be->replay = cuda_replay;
    be->capture_free = cuda_capture_free;
    be->conv = &cuda_conv_kernels;
    be->bn = &cuda_bn_kernels;
    be->relu = &cuda_relu_kernels;
    be->add = &cuda_add_kernels;
    be->maxpool = &cuda_maxpool_kernels;
    be->avgpool = &cuda_avgpool_kernels;
    be->gap = &cuda_gap_kernels;
    be->fc = &cuda_fc_kernels;
    be->concat = &cuda_concat_kernels;
    be->mix = &cuda_mix_kernels;
    be->xent = &cuda_xent_kernels;
    be->sign_mask = &cuda_sign_mask_kernels;
    be->division = &cuda_division_kernels;
    be->dropout = &cuda_dropout_kernels;
    be->optim = cuda_optim_kernels;
    be->sum_squares = cuda_sum_squares;
    be->scale = cuda_scale;
    be->unscale_sum_squares = cuda_unscale_sum_squares;
    be->destroy = cuda_destroy;
}

extern "C" struct bmst_backend *bmst_backend_cuda_create(int device, enum bmst_dtype act_dtype,
                                                         unsigned flags, char *why,
                                                         size_t why_len) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        /* the runtime says "insufficient driver" also where there is no
         * driver at all; the driver's version (0 without libcuda) tells */
        int driver = 0, runtime = 0;
        if (e == cudaErrorInsufficientDriver && cudaDriverGetVersion(&driver) == cudaSuccess &&
            driver == 0)
            snprintf(why, why_len, "no NVIDIA driver: libcuda.so.1 not found");
        else if (e == cudaErrorInsufficientDriver && cudaRuntimeGetVersion(&runtime) == cudaSuccess)
            snprintf(why, why_len,
                     "the NVIDIA driver supports CUDA %d.%d, older than this build's CUDA "
                     "runtime %d.%d",
                     driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
        else
            snprintf(why, why_len, "no CUDA device is visible (%s)",
                     e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        (void)cudaGetLastError();
        return NULL;
    }
    /* one process per GPU: rank k of a node takes visible GPU k; a process
     * that sees only its own GPU (Slurm's --gpus-per-task) takes that one */
    device %= count;
    CUDA_CHECK(cudaSetDevice(device));
    struct cuda_impl *impl = (struct cuda_impl *)calloc(1, sizeof *impl);
    struct bmst_backend *be = (struct bmst_backend *)calloc(1, sizeof *be);
    if (!impl || !be) bmst_fatal("bmst", __FILE__, __LINE__, "calloc", "out of host memory");
    impl->device = device;
    impl->deterministic = (flags & BMST_BACKEND_DETERMINISTIC) != 0;
    CUDA_CHECK(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&impl->copy_stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&impl->compute_ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&impl->copy_done, cudaEventDisableTiming));
    CUDNN_CHECK(cudnnCreate(&impl->cudnn));
    CUDNN_CHECK(cudnnSetStream(impl->cudnn, impl->stream));
    CUBLAS_CHECK(cublasCreate(&impl->cublas));
    CUBLAS_CHECK(cublasSetStream(impl->cublas, impl->stream));
    /* a workspace of its own on its one stream also keeps cuBLAS's results
     * the same bits on every run (its documented reproducibility holds), with
     * or without --deterministic */
    impl->cublas_workspace_bytes = CUBLAS_WORKSPACE_BYTES;
    CUDA_CHECK(cudaMalloc(&impl->cublas_workspace, impl->cublas_workspace_bytes));
    CUBLAS_CHECK(cublasSetWorkspace(impl->cublas, impl->cublas_workspace,
                                    impl->cublas_workspace_bytes));
    /* the default math mode with CUBLAS_COMPUTE_32F (cuda_fc.cu) never uses
     * TF32, so fp32 stays fp32: the CPU oracle's numbers, the baseline's meaning */
    CUBLAS_CHECK(cublasSetMathMode(impl->cublas, CUBLAS_DEFAULT_MATH));
    impl->reduce_scratch_count = REDUCE_SCRATCH_COUNT;
    CUDA_CHECK(cudaMalloc((void **)&impl->reduce_scratch,
                          impl->reduce_scratch_count * sizeof(double)));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    static char name[320];
    snprintf(name, sizeof name, "cuda (%s)", prop.name);
    be->name = name;
    be->impl = impl;
    be->act_dtype = act_dtype;
    be->act_bytes = act_dtype == BMST_F32 ? sizeof(float) : 2;
    fill_vtable(be);
    return be;
}
