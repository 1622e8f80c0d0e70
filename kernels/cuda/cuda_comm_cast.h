/* Gradients on the wire in a half type, on the GPU: the device counterpart of
 * comm/wire.h for the NCCL communicator (comm/nccl.c, a C file, so this header
 * names no CUDA type: the stream is a cudaStream_t passed as void *).
 *
 * Both run on `stream` without synchronizing and round to nearest even
 * (__float2half_rn, __float2bfloat16_rn), as the host packing does. BMST_F32
 * is accepted too: packing then only scales, so a fp32 bucket with a prescale
 * other than 1 goes through the same call. src and dst may be the same
 * buffer when wire is BMST_F32. */
#ifndef BMST_CUDA_COMM_CAST_H
#define BMST_CUDA_COMM_CAST_H

#include <stddef.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] = src[i] * prescale, rounded to `wire` */
void bmst_cuda_pack_wire(void *stream, const float *src, void *dst, size_t n, enum bmst_dtype wire,
                         float prescale);
/* dst[i] = src[i] as fp32 */
void bmst_cuda_unpack_wire(void *stream, const void *src, float *dst, size_t n,
                           enum bmst_dtype wire);

#ifdef __cplusplus
}
#endif

#endif
