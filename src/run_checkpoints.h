/* The checkpoints a training run writes inside an epoch (--save-every N, a
 * stop by SIGTERM or SIGUSR1) and the ranks' agreement to stop: every rank
 * takes part, since without --sync-bn each rank's running statistics are
 * its own until the epoch ends, and a resumed run must get them back. */
#ifndef BMST_RUN_CHECKPOINTS_H
#define BMST_RUN_CHECKPOINTS_H

#include <stdio.h>

#include "checkpoint.h"
#include "comm.h"
#include "train.h"

/* Every rank calls it after the same step. Inside an epoch
 * (meta->epoch_steps > 0) the ranks' loss sums are averaged into
 * meta->epoch_loss_mean and, with per_rank_stats, every rank's running
 * statistics are gathered into meta->rank_buffers; then rank 0 writes
 * `path`. Returns 0, or -1 on rank 0 with the reason (the caller ends the
 * job, as for an epoch's checkpoint). */
int bmst_run_checkpoint(struct bmst_comm *comm, const char *path, const struct bmst_model *m,
                        const struct bmst_optim *o, struct bmst_checkpoint_meta *meta,
                        double loss_sum, int per_rank_stats);

/* The stop signals (enum bmst_stop_signal bits) any rank has caught, on
 * every rank: one host all-reduce, at a point every rank reaches. */
unsigned bmst_stop_agree(struct bmst_comm *comm);

/* Every rank, once they agreed to stop after `step` (of `per_epoch` an
 * epoch) on `stop` (enum bmst_stop_signal bits) and any checkpoint is
 * written: rank 0 (out: its report stream; NULL elsewhere) says where and
 * what it kept; the ranks then wait for one another, so that none leaves
 * (and a launcher ends the job) before rank 0 has written. Returns
 * BMST_EXIT_STOPPED. */
int bmst_stop_report(FILE *out, struct bmst_comm *comm, const struct bmst_run_config *cfg,
                     long step, long per_epoch, unsigned stop);

#endif
