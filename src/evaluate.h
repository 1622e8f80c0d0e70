/* The evaluation pass. */
#ifndef BMST_EVALUATE_H
#define BMST_EVALUATE_H

#include "comm.h"
#include "eval_metrics.h"
#include "exec.h"
#include "loader.h"

/* Runs an evaluation graph on every batch of the loader's epoch 0 and adds
 * each valid sample to `counts` (made for the graph's classes), summed
 * across ranks at the end. host_logits: as below. */
int bmst_evaluate_counts(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                         float *host_logits, struct bmst_eval_counts *counts);
/* Scores a run of an evaluation graph on every batch of the loader's epoch 0: mean
 * cross-entropy and accuracy over the valid samples (reduced across ranks).
 * host_logits is caller-owned scratch of batch * classes floats. */
int bmst_evaluate(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                  float *host_logits, double *loss, double *accuracy);
/* bmst_evaluate after training epoch `epoch` of `epochs` (1-based), on the
 * split named `split` ("validation", "test"): an inf or NaN loss is an error
 * shared by the ranks (unless `allow_nonfinite`, --on-nan skip). */
int bmst_evaluate_epoch(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                        float *host_logits, const char *split, int epoch, int epochs,
                        int allow_nonfinite, double *loss, double *accuracy);

#endif
