/* Gradual magnitude pruning (--prune-to, docs/cli.md "Pruning"): Zhu &
 * Gupta's cubic schedule from sparsity 0 at step t0 to S at step t1, masks
 * re-chosen every N steps from the weights' magnitudes over every conv and
 * fc weight (global) or layer by layer, and kept in the optimizer's flat bit
 * buffer (struct bmst_optim.mask), which zeroes the pruned weights and their
 * optimizer state after every step. The weights are the same on every rank
 * after the all-reduce and ties break by position, so every rank chooses the
 * same mask. */
#ifndef BMST_PRUNE_H
#define BMST_PRUNE_H

#include <stdint.h>

#include "optim/optim.h"

enum bmst_prune_scope {
    BMST_PRUNE_GLOBAL, /* the smallest magnitudes over all prunable weights together */
    BMST_PRUNE_LAYER,  /* each conv or fc weight tensor pruned to the sparsity on its own */
};

/* The command line's pruning options; to == 0: no pruning. */
struct bmst_prune_config {
    float to;    /* --prune-to S: the final sparsity, in [0, 1) */
    float start; /* --prune-start E0: epochs (fractions allowed) */
    float end;   /* --prune-end E1: epochs; < 0: the run's --epochs */
    int every;   /* --prune-every N: steps between mask updates */
    enum bmst_prune_scope scope;
};

/* The schedule in steps (t counts the optimizer steps taken). */
struct bmst_prune_plan {
    double to;
    long t0, t1; /* E0 and E1 times the steps per epoch, rounded */
    long every;
    enum bmst_prune_scope scope;
};

void bmst_prune_config_defaults(struct bmst_prune_config *c);
/* "global" or "layer"; -1 with a one-line message for anything else. */
int bmst_prune_scope_parse(const char *text, enum bmst_prune_scope *scope);
const char *bmst_prune_scope_name(enum bmst_prune_scope scope);

/* The plan of c for a run of `epochs` epochs of `steps_per_epoch` steps. */
void bmst_prune_plan_make(const struct bmst_prune_config *c, int epochs, long steps_per_epoch,
                          struct bmst_prune_plan *plan);
/* Whether the mask is chosen again after step t: t0, t0 + N, t0 + 2N, ...
 * up to t1, and t1 itself. */
int bmst_prune_due(const struct bmst_prune_plan *plan, long t);
/* The sparsity in force after step t: 0 before t0, then
 * S * (1 - (1 - (u - t0) / (t1 - t0))^3) at the last update u <= t, and S
 * from t1 on. */
double bmst_prune_target(const struct bmst_prune_plan *plan, long t);

/* Conv and fc weights (trainable, two or more dimensions) are pruned; batch
 * norm's parameters and biases never. */
int bmst_prune_prunable(const struct bmst_param *p);

/* A run's pruning: the plan and host copies of the mask and weights for
 * choosing it. */
struct bmst_prune {
    struct bmst_optim *optim; /* its mask is the one applied */
    struct bmst_prune_plan plan;
    uint32_t *host;  /* [mask words] the mask's host copy */
    float *weights;  /* [n_weights] the weights' host copy, while choosing */
    uint64_t *keys;  /* [prunable] |w|'s bits above the position: unique, so ties break alike */
    size_t prunable; /* conv and fc weights in all */
};

/* Starts from the optimizer's current mask (all kept, or a resumed one). */
void bmst_prune_init(struct bmst_prune *p, struct bmst_optim *o,
                     const struct bmst_prune_plan *plan);
void bmst_prune_free(struct bmst_prune *p);
/* Chooses the mask for `sparsity` from the current weights: in each group
 * (all prunable weights, or each tensor) the round(sparsity * n) of smallest
 * magnitude, the earlier position first among equals, are pruned. */
void bmst_prune_choose(struct bmst_prune *p, double sparsity);
/* After optimizer step t: chooses the mask when due, and from t0 on zeroes
 * the pruned weights and their state. */
void bmst_prune_after_step(struct bmst_prune *p, long t);
/* The fraction of conv and fc weights the mask prunes now. */
double bmst_prune_sparsity(const struct bmst_prune *p);

#endif
