/* The optimizer's part of a checkpoint (docs/checkpoint-format.md,
 * "/optimizer"): its kind, hyperparameters and --no-decay as attributes of
 * /optimizer, its step count, and each state buffer by PyTorch's name as
 * /optimizer/<name>/<parameter> in PyTorch's layouts. Versions 2 and 3 hold
 * SGD's momentum alone, as /optimizer/momentum/<parameter>. Callers hold the
 * HDF5 lock. */
#ifndef BMST_CHECKPOINT_OPTIM_H
#define BMST_CHECKPOINT_OPTIM_H

#include <hdf5.h>

#include "checkpoint.h"
#include "optim/optim.h"

/* Writes /optimizer from host copies of o's state buffers; -1 where HDF5
 * failed. `scratch` holds the largest parameter. */
int bmst_checkpoint_optim_write(hid_t file, const struct bmst_optim *o,
                                float *const host_state[BMST_OPTIM_MAX_STATE], float *scratch);
/* Reads what a file of format `version` records of its optimizer; -1 with a
 * message naming `path` for a kind this program does not know or values no
 * run writes. */
int bmst_checkpoint_optim_read_record(hid_t file, const char *path, int version,
                                      struct bmst_optim_record *r);
/* Reads o's state into host copies (each [n_weights]) and its step count;
 * -1 with a message when the file holds another kind's state, or a tensor is
 * missing, misshapen or not finite. */
int bmst_checkpoint_optim_read_state(hid_t file, const char *path, int version,
                                     const struct bmst_optim *o,
                                     float *const host_state[BMST_OPTIM_MAX_STATE], int64_t *steps,
                                     float *scratch);

#endif
