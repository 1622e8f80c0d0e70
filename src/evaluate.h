/* The evaluation pass. */
#ifndef BMST_EVALUATE_H
#define BMST_EVALUATE_H

#include "comm.h"
#include "exec.h"
#include "loader.h"

/* Scores a run of an evaluation graph on every batch of the loader's epoch 0: mean
 * cross-entropy and accuracy over the valid samples (reduced across ranks).
 * host_logits is caller-owned scratch of batch * classes floats. */
int bmst_evaluate(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                  float *host_logits, double *loss, double *accuracy);

#endif
