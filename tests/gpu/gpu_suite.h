/* The GPU suite's groups (tests/gpu/): each compares the CUDA backend with the
 * CPU backend, the oracle, in one precision, recording failures with CHECK.
 * test_gpu_backend.c runs every group in a process of its own. */
#ifndef BMST_GPU_SUITE_H
#define BMST_GPU_SUITE_H

#include "tensor.h"

/* gpu_ops.c: every op forward and backward, the ReLU codec's sign mask, the
 * DIVISION codec's encode and decode, the inputs' upload, and a recording
 * broken on purpose */
void gpu_ops_group(enum bmst_dtype precision);
/* gpu_steps.c: two whole resnet18 training steps, recorded as a CUDA graph,
 * op by op, and with a recording broken on purpose, against the CPU */
void gpu_steps_group(enum bmst_dtype precision);
/* gpu_steps.c: --deterministic gives the same bits in two runs */
void gpu_deterministic_group(enum bmst_dtype precision);
/* gpu_steps.c: --act-codec relu-mask gives plain's bits */
void gpu_codec_group(enum bmst_dtype precision);

#endif
