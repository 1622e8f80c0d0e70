/* Packing fp32 gradients into the wire type of a NCCL all-reduce and back
 * (cuda_comm_cast.h). Grid-stride loops of one element per step: the buckets
 * are large and these kernels are bound by memory bandwidth. */
#include "cuda_comm_cast.h"

#include "cuda_internal.h"

#define WIRE_THREADS 256

template <typename T>
__global__ void pack_wire_kernel(size_t n, const float *src, T *dst, float prescale) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = from_f32<T>(src[i] * prescale);
}

template <typename T> __global__ void unpack_wire_kernel(size_t n, const T *src, float *dst) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = to_f32(src[i]);
}

extern "C" void bmst_cuda_pack_wire(void *stream, const float *src, void *dst, size_t n,
                                    enum bmst_dtype wire, float prescale) {
    if (n == 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    CUDA_DISPATCH(wire, T,
                  pack_wire_kernel<T><<<cuda_blocks(n, WIRE_THREADS), WIRE_THREADS, 0, s>>>(
                      n, src, (T *)dst, prescale));
    CUDA_CHECK_LAUNCH();
}

extern "C" void bmst_cuda_unpack_wire(void *stream, const void *src, float *dst, size_t n,
                                      enum bmst_dtype wire) {
    if (n == 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    CUDA_DISPATCH(wire, T,
                  unpack_wire_kernel<T><<<cuda_blocks(n, WIRE_THREADS), WIRE_THREADS, 0, s>>>(
                      n, (const T *)src, dst));
    CUDA_CHECK_LAUNCH();
}
