/* `bmst_dist export` (docs/cli.md, "export"): a checkpoint's network as
 * ONNX (fp32 or int8) or as the compact int8 HDF5. */
#ifndef BMST_EXPORT_H
#define BMST_EXPORT_H

#include "cli.h"

/* Writes cli->out_path from cli->run.checkpoint_path. Returns 0, or -1 with
 * the reason in bmst_last_error() (and no file written). */
int bmst_export(const struct bmst_cli *cli);

#endif
