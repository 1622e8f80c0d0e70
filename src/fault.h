/* --inject-fault RANK:STEP[:perturb|:nan|:sigterm]: what the tests make one
 * rank do at one step, to see the job notice (train.h, enum bmst_fault_kind). */
#ifndef BMST_FAULT_H
#define BMST_FAULT_H

#include "model.h"
#include "train.h"

/* At `step` on rank `rank`, before the step runs: fails (-1 with a message),
 * nudges one weight, makes one NaN, or raises SIGTERM, as f says; 0 and
 * nothing elsewhere. */
int bmst_fault_inject(const struct bmst_fault *f, int rank, struct bmst_model *m, long step);

#endif
