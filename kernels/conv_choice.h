/* Which of cuDNN's convolution algorithms a pass runs with: the selection
 * rules as plain C over candidates in cuDNN's ranking order, so they build
 * and are tested without cudnn.h or a GPU. kernels/cuda/cuda_conv.cu maps
 * cuDNN's perf structs onto bmst_conv_candidate and calls bmst_conv_choose. */
#ifndef BMST_CONV_CHOICE_H
#define BMST_CONV_CHOICE_H

#include <stddef.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cudnnMathType_t in our own words: the math a candidate was measured or
 * ranked with, which the pass must then run with. */
enum bmst_conv_math {
    BMST_CONV_MATH_DEFAULT,                    /* on Ampere and later, TF32 for fp32 data */
    BMST_CONV_MATH_TENSOR_OP,                  /* tensor cores in the data's own type */
    BMST_CONV_MATH_TENSOR_OP_ALLOW_CONVERSION, /* tensor cores after down-converting data */
    BMST_CONV_MATH_FMA,                        /* CUDA cores, in fp32 arithmetic */
};

struct bmst_conv_candidate {
    int algo;      /* cuDNN's algorithm number, carried through */
    int ok;        /* cuDNN can run it: status success and a known workspace size */
    size_t memory; /* workspace bytes it needs with its math type */
    enum bmst_conv_math math;
    int deterministic; /* the same bits on every run (CUDNN_DETERMINISTIC) */
};

struct bmst_conv_constraints {
    enum bmst_dtype precision; /* the activations' type */
    int deterministic;         /* accept only deterministic algorithms */
    size_t workspace_limit;    /* bytes a pass may use */
};

/* The index of the first candidate (cuDNN ranks the best first) that is ok
 * and meets the constraints: fp32 runs on FMA math only (no TF32, so the CPU
 * oracle's numbers hold); the half types on their own type's tensor cores,
 * default or FMA math, never on a down-conversion. Returns -1 when none does,
 * with a one-line reason in why[] counting what each rule turned away. */
int bmst_conv_choose(const struct bmst_conv_candidate *candidates, int count,
                     const struct bmst_conv_constraints *k, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
