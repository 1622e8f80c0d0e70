/* The HDF5 pieces checkpoints are made of (checkpoint.c, checkpoint_optim.c):
 * scalar and string attributes, the model's tensors by name in PyTorch's
 * layouts (conv weights KRSC in memory, OIHW in the file), and the scan for
 * inf and NaN a checkpoint never holds. Callers hold the HDF5 lock. */
#ifndef BMST_CHECKPOINT_TENSORS_H
#define BMST_CHECKPOINT_TENSORS_H

#include <hdf5.h>

#include "model.h"

/* KRSC <-> OIHW ([k][r][s][c] <-> [k][c][r][s]); dims are PyTorch's [k, c, r, s]. */
void bmst_ckpt_krsc_to_oihw(const int *dims, const float *src, float *dst);
void bmst_ckpt_oihw_to_krsc(const int *dims, const float *src, float *dst);

/* Writers: 0, or -1 where HDF5 failed. */
int bmst_ckpt_write_attr(hid_t loc, const char *name, hid_t type, const void *value);
/* an array attribute of `count` values (count 1: a scalar) */
int bmst_ckpt_write_attr_array(hid_t loc, const char *name, hid_t type, int count,
                               const void *values);
int bmst_ckpt_write_string_attr(hid_t loc, const char *name, const char *value);
/* a float32 (mem_type H5T_NATIVE_FLOAT) or int64 dataset; ndim 0: a scalar */
int bmst_ckpt_write_tensor(hid_t group, const char *name, int ndim, const int *dims, hid_t mem_type,
                           const void *data);
/* Every parameter (only the trainable ones when weights_only) as
 * group/<name>, from host copies of the model's buffers; `scratch` holds the
 * largest parameter. */
int bmst_ckpt_write_params(hid_t group, const struct bmst_model *m, const float *host_weights,
                           const float *host_buffers, int weights_only, float *scratch);

/* What builds the network, at the file's root, shared by checkpoints and
 * the int8 HDF5: `format` and `version`, the architecture, input shape,
 * class count, --aux-logits, and --stem only when one was chosen (so that
 * older programs still read a file without one). */
struct bmst_checkpoint_meta;
int bmst_ckpt_write_network(hid_t file, const char *format, int version,
                            const struct bmst_checkpoint_meta *meta);
/* The optional --stem of such a file into meta->stem (left as it is when
 * absent); -1 with one line when it names no stem. */
int bmst_ckpt_read_stem(hid_t file, const char *path, struct bmst_checkpoint_meta *meta);

/* Readers: 0, or -1 with a message naming the file `path`. `where` names
 * loc in messages ("" for the file's root). */
int bmst_ckpt_read_attr(hid_t loc, const char *path, const char *where, const char *name,
                        hid_t type, void *out);
/* `count` values (count 1: a scalar) */
int bmst_ckpt_read_attr_array(hid_t loc, const char *path, const char *where, const char *name,
                              hid_t type, int count, void *out);
int bmst_ckpt_read_string_attr(hid_t loc, const char *path, const char *where, const char *name,
                               char *out, size_t size);
/* An int64 scalar dataset group/name. */
int bmst_ckpt_read_int64(hid_t group, const char *path, const char *where, const char *name,
                         int64_t *out);
/* Every parameter of group `where` into host copies of the model's buffers,
 * each checked against the model's shape and for inf and NaN. */
int bmst_ckpt_read_params(hid_t file, const char *path, const char *where,
                          const struct bmst_model *m, int weights_only, float *weights,
                          float *buffers, float *scratch);
/* The same but for the parameters `skip` marks (per index; NULL: none),
 * whose host copies are left as they are. */
int bmst_ckpt_read_params_except(hid_t file, const char *path, const char *where,
                                 const struct bmst_model *m, int weights_only,
                                 const unsigned char *skip, float *weights, float *buffers,
                                 float *scratch);

/* The first parameter whose host copy (weights or buffers; NULL: skipped)
 * holds inf or NaN, named in the error: "not writing the checkpoint PATH:
 * WHERE<name> holds ...". */
int bmst_ckpt_check_finite(const char *path, const struct bmst_model *m, const float *weights,
                           const float *buffers, const char *where);

/* A convolution's weight from PyTorch's OIHW into the engine's KRSC; dims
 * are PyTorch's [k, c, r, s]. */
void bmst_ckpt_oihw_to_krsc(const int *dims, const float *src, float *dst);

/* A host copy of `count` floats of backend memory (free() it). */
float *bmst_ckpt_host_copy(const struct bmst_model *m, const float *device, size_t count);
/* Scratch for one parameter: the largest's count of floats (free() it). */
float *bmst_ckpt_param_scratch(const struct bmst_model *m);

#endif
