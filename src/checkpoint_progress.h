/* The part of a checkpoint (format version 5) that says where inside an
 * epoch, and how far into the run's best, training stood: the epoch's steps
 * taken, their loss and applied count, the best accuracy and its epoch, and
 * every rank's running statistics where they differ. Callers of the
 * writer and reader hold the HDF5 lock. */
#ifndef BMST_CHECKPOINT_PROGRESS_H
#define BMST_CHECKPOINT_PROGRESS_H

#include <hdf5.h>

#include "checkpoint.h"

/* Root attributes and, with meta->rank_buffers, /rank_buffers
 * [meta->ranks, n_buffers]. 0, or -1 where HDF5 failed. */
int bmst_ckpt_progress_write(hid_t file, const struct bmst_checkpoint_meta *meta, size_t n_buffers);
/* Fills meta's progress fields (zeros for versions before 5). 0, or -1 with
 * a message naming `path`. */
int bmst_ckpt_progress_read(hid_t file, const char *path, int version,
                            struct bmst_checkpoint_meta *meta);

#endif
