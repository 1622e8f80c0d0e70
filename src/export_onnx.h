/* `bmst_dist export` as ONNX (docs/cli.md, "export"): fp32, or with --int8
 * int8 weights (and, calibrated, uint8 activations) as a QDQ model. */
#ifndef BMST_EXPORT_ONNX_H
#define BMST_EXPORT_ONNX_H

#include "calibrate.h"
#include "checkpoint.h"
#include "engine.h"

/* Writes `out` from e's evaluation graph and loaded weights (those of
 * `checkpoint`, described by meta), int8 when `int8`, with activation
 * quantization from `cal` (NULL: none), and prints one line saying what was
 * written. Returns 0, or -1 with the reason in bmst_last_error(). */
int bmst_export_onnx(const struct bmst_engine *e, const char *checkpoint,
                     const struct bmst_checkpoint_meta *meta, int int8,
                     const struct bmst_calibration *cal, const char *out);

#endif
