/* Achieved FLOP/s and MFU (model FLOPs utilization): the training FLOPs of
 * the op table (ops/op.h) over the time they took, against the device's
 * peak for the precision in use: a GPU's from NVIDIA's datasheets (dense
 * figures, no sparsity), a CPU's measured: the fastest of the backend's own
 * convolution kernels at start-up.
 * docs/cli.md, "MFU", cites the table's sources. */
#ifndef BMST_MFU_H
#define BMST_MFU_H

#include "backend.h"
#include "graph.h"
#include "tensor.h"

/* FLOPs of one training step of planned graph g (its whole batch): forward
 * and backward, as the op table counts them, backward only for the nodes it
 * runs (none of a frozen prefix). */
void bmst_graph_train_flops(const struct bmst_graph *g, double *forward, double *backward);

/* A GPU's datasheet peak in FLOP/s for `precision` (fp32: CUDA cores, as the
 * CUDA backend keeps fp32 off TF32; fp16, bf16: dense tensor cores), from
 * its name as the driver reports it ("NVIDIA H100 80GB HBM3"); 0 for a GPU
 * the table does not hold. *model: the table's row ("H100 SXM"), or NULL. */
double bmst_gpu_peak_flops(const char *device_name, enum bmst_dtype precision, const char **model);

/* The backend's matrix-multiply rate in FLOP/s in its activation type, as a
 * 1x1 convolution over 1x1 images ([n, n] x [n, n], no im2col): the fastest
 * of ten runs. Its buffers come after the plan's, outside the reservation. 0
 * where the backend cannot plan it. */
double bmst_gemm_flops(struct bmst_backend *be, int n);

/* The peak a run's MFU is measured against, per device, in FLOP/s: a GPU's
 * from the table; a CPU's measured, the fastest rate of the backend's
 * convolution kernels (matrix products of 512 and 1024 through the sgemm
 * path, a 3x3 convolution of 64 channels through the direct kernels; each
 * the best of a few runs; about 0.1 s). *source says which ("H100 SXM" or
 * "measured"). 0 where unknown. */
double bmst_peak_flops(struct bmst_backend *be, enum bmst_dtype precision, const char **source);

#endif
