/* What rank 0 prints before a training run's first epoch (what trains on
 * what and where, its planned memory, how the ranks share the work, and the
 * training FLOPs per image with the peak MFU is measured against: mfu.h)
 * and after its last (the summary). */
#ifndef BMST_RUN_HEADER_H
#define BMST_RUN_HEADER_H

#include <stdio.h>

#include "comm.h"
#include "dataset.h"
#include "stats.h"
#include "train.h"

/* The FLOPs and peak a run's TFLOP/s and MFU come from. */
struct bmst_run_flops {
    double image_flops; /* one training image's forward and backward, as the op table counts */
    double job_peak;    /* every rank's device's peak added up, in FLOP/s (0: one is unknown) */
};

/* Collective: fills *flops on every rank (each rank finds its own device's
 * peak, a CPU's measured here, all at once: ranks that share a node's cores
 * measure what they will train with) and, where `out` is not NULL, prints
 * the header lines on it. `planned_mib`: the run's planned memory. */
void bmst_run_header(FILE *out, const struct bmst_run_config *cfg,
                     const struct bmst_dataset_info *info, struct bmst_engine *engine,
                     struct bmst_comm *comm, double planned_mib, struct bmst_run_flops *flops);
/* The run's last line on `out`: the last epoch's accuracies (`last`), the
 * best one the run watched (/val's where there is one), and the means over
 * the epochs run since `first_epoch` (0-based; none: "nothing to do"). */
void bmst_run_summary(FILE *out, const struct bmst_run_config *cfg, int first_epoch,
                      const struct bmst_epoch_stats *last, double best_accuracy, int best_epoch,
                      double total_seconds, double total_images);

#endif
