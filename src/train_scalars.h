/* The scalars a training run writes for TensorBoard (--tensorboard), by
 * tag: per step (every --log-every steps) "step/loss" (rank 0's), "step/lr",
 * "step/loss_scale", "step/images_per_second" (the job's, since the epoch
 * began); per epoch "epoch/NAME" for every CSV column NAME but `epoch`
 * (test_loss and test_accuracy only after an epoch that scored /test), and
 * with an activation codec "epoch/act_codec_ratio", at the run's step count
 * (docs/cli.md, "TensorBoard"). */
#ifndef BMST_TRAIN_SCALARS_H
#define BMST_TRAIN_SCALARS_H

#include "stats.h"
#include "tensorboard.h"

int bmst_train_scalars_step(struct bmst_tb *t, long step, double loss, double lr, double loss_scale,
                            double images_per_second);
/* `job`: the epoch as the CSV row has it (every rank's images, the slowest
 * rank's time); codec_ratio: what --act-codec plain would keep for backward
 * over what the run's codec keeps, 0 for none (plain). Flushes the file. */
int bmst_train_scalars_epoch(struct bmst_tb *t, long step, const struct bmst_epoch_stats *job,
                             double codec_ratio);

#endif
