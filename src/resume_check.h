/* What resuming from a checkpoint may change about a run, judged against
 * what the checkpoint records of the run that wrote it (docs/cli.md,
 * "Resuming and extending a run"). */
#ifndef BMST_RESUME_CHECK_H
#define BMST_RESUME_CHECK_H

#include <stdio.h>

#include "checkpoint.h"
#include "schedule.h"
#include "train.h"

/* Refuses (-1 with the reason) another global batch (--batch times `ranks`)
 * and another --optimizer; for other ranks at the same global batch, another
 * --merge, another --lr or other optimizer settings (--momentum, --nesterov,
 * --betas, --eps, --weight-decay, --no-decay) prints one notice line on `out`
 * (NULL: none; ranks other than 0). A version 2 checkpoint records none of
 * them, a version 3 one not the optimizer's settings: one notice says so. */
int bmst_resume_check_settings(const struct bmst_run_config *cfg,
                               const struct bmst_checkpoint_meta *meta, int ranks, FILE *out);

/* One warning line on `out` when this run's cosine schedule (`plan`) spans
 * other steps than the checkpoint's did, with the rate of its last step and
 * the rate the re-planned schedule goes on at. */
void bmst_resume_warn_replanned(const struct bmst_run_config *cfg, const struct bmst_schedule *plan,
                                const struct bmst_checkpoint_meta *meta, FILE *out);

#endif
