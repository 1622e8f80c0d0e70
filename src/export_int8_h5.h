/* The compact int8 HDF5 (docs/checkpoint-format.md, "The int8 export"):
 * conv and fc weights as int8 per output channel with their scales (dense,
 * or a bitmask of the nonzero values and those values when that is
 * smaller), batch norm and biases in float32, all in PyTorch's names and
 * layouts, unfolded. Written by `export --format int8-h5`, scored by
 * `eval --checkpoint FILE`. */
#ifndef BMST_EXPORT_INT8_H5_H
#define BMST_EXPORT_INT8_H5_H

#include "checkpoint.h"
#include "model.h"

/* Writes `out` from m's loaded weights (those of `checkpoint`, described by
 * meta) and prints one line: the bytes written, how many tensors are int8 and
 * how many of them sparse. 0, or -1 with the reason (nothing written). */
int bmst_export_int8_h5(const struct bmst_model *m, const char *checkpoint,
                        const struct bmst_checkpoint_meta *meta, const char *out);

/* Whether `path` is an int8 export (its "format" attribute says so). */
int bmst_int8_h5_is(const char *path);
/* Its meta: what a checkpoint's meta says of the network (arch, input,
 * classes, aux_logits, epoch). -1 with one line naming `path`. */
int bmst_int8_h5_read_meta(const char *path, struct bmst_checkpoint_meta *meta);
/* Loads its tensors into m, the int8 ones dequantized (quantize.h). */
int bmst_int8_h5_load(const char *path, struct bmst_model *m);

#endif
