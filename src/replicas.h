/* Keeping the ranks' copies of the model in step: the check that they hold
 * the same bits, and the averaging of batch-norm running statistics (which
 * each rank updates from its own batch unless --sync-bn). */
#ifndef BMST_REPLICAS_H
#define BMST_REPLICAS_H

#include "comm.h"
#include "model.h"
#include "optim/optim.h"

/* Collective: compares a checksum of every rank's weights and optimizer state
 * (and running statistics when `with_buffers`) on rank 0. Returns -1 on rank
 * 0 with a message naming the first rank that differs, 0 otherwise. */
int bmst_replicas_check(struct bmst_comm *comm, const struct bmst_model *m,
                        const struct bmst_optim *o, int with_buffers, long step);
/* Collective: every rank's running statistics become the ranks' mean. */
void bmst_replicas_average_buffers(struct bmst_comm *comm, struct bmst_model *m);

#endif
