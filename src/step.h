/* One training step: forward, backward, the gradient all-reduce, the inf/NaN
 * guard and the optimizer. */
#ifndef BMST_STEP_H
#define BMST_STEP_H

#include <stdint.h>

#include "comm.h"
#include "exec.h"
#include "grad_sync.h"
#include "loader.h"
#include "loss_scale.h"
#include "optim/optim.h"
#include "prune.h"
#include "stats.h"

/* What a step found holding inf or NaN (bits of bmst_step_result.found). */
enum bmst_nonfinite {
    BMST_NONFINITE_LOSS = 1u << 0,    /* this rank's loss */
    BMST_NONFINITE_GRADS = 1u << 1,   /* the reduced gradients: the same on every rank */
    BMST_NONFINITE_STATS = 1u << 2,   /* this rank's batch-norm running statistics */
    BMST_NONFINITE_WEIGHTS = 1u << 3, /* the weights the update wrote: the same on every rank */
};

/* The guard's account of one step. */
struct bmst_step_result {
    unsigned found;   /* enum bmst_nonfinite bits */
    int applied;      /* the optimizer changed the weights (the gradients were finite) */
    int at_min_scale; /* fp16: the gradients overflowed with the loss scale at its floor */
    double grad_norm; /* global L2 norm of the reduced, unscaled gradients, before clipping */
    /* enum bmst_stop_signal bits this rank caught, set by the caller after
     * the step; after bmst_step_result_combine, what any rank caught */
    unsigned stop;
};

struct bmst_step_config {
    uint64_t seed;
    float mix_alpha;
    float label_smoothing;
    float clip_norm;
    int skip_nonfinite; /* --on-nan skip: count a step with inf/NaN gradients as skipped */
    /* optional, with skip_nonfinite: [n_buffers] backend memory where the step
     * keeps the running statistics it started from, to put them back when it
     * leaves them inf or NaN */
    float *stats_backup;
    struct bmst_step_result *result; /* optional: filled by every step */
    struct bmst_optim *optim;        /* the graph's model's optimizer */
    struct bmst_prune *prune;        /* --prune-to: the mask after each step; NULL: none */
    float lr;                        /* set per step by the caller */
};

/* Soft targets [batch, classes] from labels: one-hot smoothed toward uniform
 * by eps ((1 - eps) * onehot + eps / classes). The mix node merges them. */
void bmst_soft_targets(const int32_t *labels, int batch, int classes, float eps, float *targets);

/* lam ~ Beta(alpha, alpha) for draw `draw`: a pure function of the seed and
 * the draw, so a resumed run draws the same values. Rank r of W draws
 * step * W + r: every rank merges its own batch with its own lam. */
float bmst_step_lambda(uint64_t seed, long draw, float alpha);

/* The dropout key of draw `draw` (drawn as the lambda's: step * W + r), a
 * pure function of the seed and the draw, as the two uint32 words the
 * dropout kernels read, stored bit for bit into key[0..1] (the step's
 * BMST_SCALAR_DROPOUT_KEY scalars). */
void bmst_step_dropout_key(uint64_t seed, long draw, float *key);

/* Trains on one batch: targets, lambda, forward, backward with the gradient
 * all-reduce overlapped (sync; NULL in a one-process run), then the guard:
 * one pass unscales the gradients and sums their squares (their norm, and
 * inf/NaN in any of them), the running statistics are checked, and the
 * optimizer runs only on finite gradients, flagging weights it makes inf or
 * NaN. What was found goes to cfg->result; what to do about it is the
 * caller's (--on-nan), except that non-finite running statistics are put
 * back from cfg->stats_backup when there is one. Adds the phases' seconds to
 * phase[]; returns this rank's loss. host_targets is caller-owned scratch of
 * batch * classes floats. */
float bmst_train_step(struct bmst_exec *x, struct bmst_grad_sync *sync,
                      const struct bmst_step_config *cfg, long step, const struct bmst_batch *b,
                      float *host_targets, struct bmst_loss_scaler *scaler, double *phase);

/* With several ranks: what any rank found, and the stop signals any rank
 * caught, on every rank (one host all-reduce), so that every rank judges
 * the step alike and they all stop after the same step. */
void bmst_step_result_combine(struct bmst_step_result *r, struct bmst_comm *comm);

/* What --on-nan (skip_nonfinite) makes of a step's result, which is every
 * rank's (bmst_step_result_combine): 0 to go on, or -1 with the reason,
 * naming what held inf or NaN and `where` (the step, as the progress bar
 * numbers it), stored as a shared error (every rank meets it). loss_scaling:
 * fp16's scaler is on, and skips overflowing steps itself while its scale
 * can come down. */
int bmst_step_judge(const struct bmst_step_result *r, int skip_nonfinite, int loss_scaling,
                    const char *where);


#endif
