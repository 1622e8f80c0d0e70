/* `train --init CKPT`: a new run that starts from a checkpoint's weights
 * (fine-tuning), not a resume: no optimizer state, epoch, step or seed is
 * taken from it. */
#ifndef BMST_INIT_WEIGHTS_H
#define BMST_INIT_WEIGHTS_H

#include <stdio.h>

#include "dataset.h"
#include "model.h"
#include "train.h"

/* Loads cfg->init_path's tensors into m, the run's freshly initialized
 * network for `info`'s data. Its network must be cfg's (--net; input sizes
 * may differ where the tensors' shapes do not); when its class count
 * differs from the data's, or with --reset-classifier, the classifiers (the
 * model's head) keep their fresh start from the run's seed, which one line
 * on `out` (NULL: none) says. 0, or -1 with one
 * line naming the first tensor that does not fit. */
int bmst_init_weights(const struct bmst_run_config *cfg, const struct bmst_dataset_info *info,
                      struct bmst_model *m, FILE *out);

#endif
