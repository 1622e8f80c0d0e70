/* Gradients on the wire in a half type, on the host: packing fp32 values
 * (times a prescale) into 16-bit fp16 or bf16 words with round-to-nearest-
 * even, unpacking them, and summing two packed buffers (the reduction an MPI
 * operator applies at every hop: each partial sum is rounded to the wire
 * type, as NCCL does on the GPU). */
#ifndef BMST_COMM_WIRE_H
#define BMST_COMM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

void bmst_wire_pack(enum bmst_dtype wire, const float *src, uint16_t *dst, size_t n,
                    float prescale);
void bmst_wire_unpack(enum bmst_dtype wire, const uint16_t *src, float *dst, size_t n);
/* inout[i] = round(in[i] + inout[i]) in the wire type */
void bmst_wire_sum(enum bmst_dtype wire, const uint16_t *in, uint16_t *inout, size_t n);

#endif
