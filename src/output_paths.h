/* The files a training run reads and writes, checked together before any of
 * them is opened for writing: no two options may name the same file (the
 * same inode, or for a file still to be made the same place, whatever the
 * spelling: ./x.h5, x.h5, a symlink), and every output must be writable where
 * it is: a file name, not a folder, in a folder that exists and takes new
 * files. So `--save X --data X` or `--save runs/` fails at once, not after an
 * epoch or after the dataset is gone. */
#ifndef BMST_OUTPUT_PATHS_H
#define BMST_OUTPUT_PATHS_H

#include "train.h"

/* 0, or -1 with one message naming the option(s) and the reason. */
int bmst_output_paths_check(const struct bmst_run_config *cfg);

#endif
