/* `bmst_dist export`: a checkpoint's network as an ONNX model (docs/cli.md,
 * "export"). */
#ifndef BMST_EXPORT_ONNX_H
#define BMST_EXPORT_ONNX_H

#include "cli.h"

/* Writes cli->out_path from cli->run.checkpoint_path. Returns 0, or -1 with
 * the reason in bmst_last_error(). */
int bmst_export_onnx(const struct bmst_cli *cli);

#endif
