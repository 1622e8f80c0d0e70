/* One training step and one evaluation pass over a graph. */
#ifndef BMST_STEP_H
#define BMST_STEP_H

#include <stdint.h>

#include "comm.h"
#include "grad_sync.h"
#include "graph.h"
#include "loader.h"
#include "loss_scale.h"
#include "stats.h"

struct bmst_step_config {
    uint64_t seed;
    float mix_alpha;
    float label_smoothing;
    float clip_norm;
    int skip_nonfinite; /* drop a step whose reduced gradients hold inf/NaN (fp32, bf16 too) */
    struct bmst_sgd_desc sgd; /* lr set per step by the caller */
};

/* Soft targets [batch, classes] from labels: one-hot smoothed toward uniform
 * by eps ((1 - eps) * onehot + eps / classes). The mix node merges them. */
void bmst_soft_targets(const int32_t *labels, int batch, int classes, float eps, float *targets);

/* lam ~ Beta(alpha, alpha) for draw `draw`: a pure function of the seed and
 * the draw, so a resumed run draws the same values. Rank r of W draws
 * step * W + r: every rank merges its own batch with its own lam. */
float bmst_step_lambda(uint64_t seed, long draw, float alpha);

/* Trains on one batch: targets, lambda, forward, backward with the gradient
 * all-reduce overlapped (sync; NULL in a one-process run), unscaling and the
 * inf/NaN check, optimizer (skipped when the scaler or skip_nonfinite says
 * so). Adds the phases' seconds to phase[]; returns this rank's loss.
 * host_targets is caller-owned scratch of batch * classes floats. */
float bmst_train_step(struct bmst_graph *g, struct bmst_grad_sync *sync,
                      const struct bmst_step_config *cfg, long step, const struct bmst_batch *b,
                      float *host_targets, struct bmst_loss_scaler *scaler, double *phase);

/* Scores an evaluation graph on every batch of the loader's epoch 0: mean
 * cross-entropy and accuracy over the valid samples (reduced across ranks).
 * host_logits is caller-owned scratch of batch * classes floats. */
int bmst_evaluate(struct bmst_graph *g, struct bmst_loader *loader, struct bmst_comm *comm,
                  float *host_logits, double *loss, double *accuracy);

#endif
