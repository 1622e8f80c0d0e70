/* The pruning mask in a checkpoint (docs/checkpoint-format.md, "/prune_mask",
 * version 6): the optimizer's flat bit buffer as it is in memory. Callers
 * hold the HDF5 lock. */
#ifndef BMST_CHECKPOINT_PRUNE_H
#define BMST_CHECKPOINT_PRUNE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

/* Writes `words` words of the mask as /prune_mask; 0, or -1 where HDF5 failed. */
int bmst_ckpt_prune_write(hid_t file, const uint32_t *mask, size_t words);
/* Whether the file holds a mask. */
int bmst_ckpt_prune_present(hid_t file);
/* Reads /prune_mask, which must hold `words` words; -1 with a message naming
 * `path` otherwise. */
int bmst_ckpt_prune_read(hid_t file, const char *path, uint32_t *mask, size_t words);

/* The run's --prune-* settings (meta->prune_*) as attributes; 0, or -1
 * where HDF5 failed. */
int bmst_ckpt_prune_write_record(hid_t file, const struct bmst_checkpoint_meta *meta);
/* Reads them where the file has them (setting has_prune_record); -1 with a
 * message naming `path` when they are there but unreadable. */
int bmst_ckpt_prune_read_record(hid_t file, const char *path, struct bmst_checkpoint_meta *meta);

#endif
