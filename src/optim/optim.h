/* The optimizer: one module that owns its kind, its hyperparameters, its
 * named state buffers (flat, in the parameters' layout, so the update is one
 * pass) and its step count. Each kind is a file of its own (sgd.c, adam.c,
 * adamw.c) registered in registry.c; its update is one fused backend pass
 * (kernels/backend.h, "Optimizers") that also writes the compute copy of the
 * weights and flags values it makes inf or NaN. Checkpoints save the state by
 * PyTorch's names (src/checkpoint_optim.c). */
#ifndef BMST_OPTIM_H
#define BMST_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* --no-decay's words, as bits: parameters exempt from weight decay */
enum bmst_no_decay {
    BMST_NO_DECAY_BN = 1u << 0,   /* "bn": every batch norm's weight and bias */
    BMST_NO_DECAY_BIAS = 1u << 1, /* "bias": the other layers' biases (the classifier's) */
};

/* The hyperparameters of every kind; each reads its own (docs/cli.md). */
struct bmst_optim_config {
    int kind;            /* index in the registry (bmst_optim_kind_find); 0 is SGD */
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    double beta1, beta2; /* Adam, AdamW: doubles, as PyTorch's Python floats */
    float eps;           /* Adam, AdamW */
    float weight_decay;  /* L2 for SGD and Adam, decoupled for AdamW */
    unsigned no_decay;   /* enum bmst_no_decay bits */
    int masked;          /* keep a pruning mask (--prune-to, src/prune.h) */
    /* which parameters it holds (param_groups.h): --freeze's prefixes (NULL:
     * none), which it holds no state for and never changes, and
     * --freeze-bn */
    const char *freeze;
    int freeze_bn;
    /* --lr-head: the classifier's peak learning rate, below 0 for --lr's;
     * its rate is the scheduled one times lr_head / lr_peak (--lr, above 0) */
    float lr_head, lr_peak;
};

#define BMST_OPTIM_MAX_STATE 2
#define BMST_OPTIM_MAX_HYPERS 4

/* A state buffer: PyTorch's name for it, and what messages call it. */
struct bmst_optim_state_name {
    const char *name; /* "momentum_buffer", "exp_avg", "exp_avg_sq" */
    const char *what; /* "momentum", ... */
};

/* A hyperparameter as a checkpoint records it and resuming compares it. */
struct bmst_optim_hyper {
    const char *name;   /* PyTorch's param_groups key: "momentum", "betas", "eps", ... */
    const char *option; /* the command line's: "--momentum", "--betas", ... */
    int count;          /* 2 for betas, else 1 */
    int flag;           /* an on/off option (--nesterov): the value is 0 or 1 */
    double value[2];
};

struct bmst_optim;

/* Weights [begin, begin + count) of the model's flat layout, all trained at
 * the scheduled rate times lr_scale: the body's range and the head's. */
struct bmst_optim_range {
    size_t begin, count;
    float lr_scale;
};

#define BMST_OPTIM_MAX_RANGES 8

/* One kind of optimizer: what its file registers. */
struct bmst_optim_type {
    const char *name; /* the --optimizer word, and the checkpoint's `kind` */
    int n_state;
    struct bmst_optim_state_name state[BMST_OPTIM_MAX_STATE];
    int keeps_step; /* PyTorch keeps a `step` per parameter (Adam, AdamW) */
    /* the backend has this kind's kernel */
    int (*supported)(const struct bmst_backend *be);
    /* the hyperparameters it reads from c, in PyTorch's names; returns how many */
    int (*hypers)(const struct bmst_optim_config *c, struct bmst_optim_hyper *out);
    /* the fused pass at rate lr over the weights of range r; o->steps
     * already counts this update */
    void (*update)(const struct bmst_optim *o, const struct bmst_optim_range *r, float lr,
                   float *nonfinite);
};

struct bmst_optim {
    const struct bmst_optim_type *type; /* NULL: no optimizer (an evaluation-only engine) */
    struct bmst_optim_config cfg;
    struct bmst_model *model;
    /* [n_weights - first] each, named type->state[i]: the trainable
     * weights' only (the model's n_frozen weights before them have none) */
    float *state[BMST_OPTIM_MAX_STATE];
    size_t first; /* the first trainable weight: the model's n_frozen */
    /* the trainable weights, in runs of one rate (--lr-head's head apart) */
    struct bmst_optim_range ranges[BMST_OPTIM_MAX_RANGES];
    int n_ranges;
    unsigned char *decay;               /* [n_weights] 1: decays; NULL: all do (no --no-decay) */
    /* [ceil(n_weights / 32)] backend memory, bit i % 32 of word i / 32 for
     * weight i, 1: kept, 0: pruned (src/prune.h chooses them); NULL without
     * cfg.masked. All 1 after bmst_optim_allocate. */
    uint32_t *mask;
    int64_t steps;                      /* updates applied: PyTorch's `step` */
};

/* The registry (registry.c): the kind named `name`, or -1. */
int bmst_optim_kind_find(const char *name);
const struct bmst_optim_type *bmst_optim_type_of(int kind);
/* "sgd, adam, adamw", for messages */
const char *bmst_optim_kind_names(void);

/* What every command starts from: SGD, momentum 0.9, betas 0.9,0.999, eps
 * 1e-8, weight decay 5e-4, nothing exempt. */
void bmst_optim_config_defaults(struct bmst_optim_config *c);

/* Sets o up for m's parameters (the table complete, its frozen ones
 * placed first, nothing allocated yet). Returns -1 with the reason where
 * the backend has no kernel for the kind. */
int bmst_optim_init(struct bmst_optim *o, struct bmst_model *m, const struct bmst_optim_config *c);
/* The backend memory bmst_optim_allocate takes, and in how many allocations. */
size_t bmst_optim_bytes(const struct bmst_optim *o);
int bmst_optim_allocations(const struct bmst_optim *o);
/* Allocates the state, zeroed (PyTorch's before the first step), and the
 * decay mask. Returns -1 when out of memory. */
int bmst_optim_allocate(struct bmst_optim *o);
void bmst_optim_free(struct bmst_optim *o);

/* Floats in each state buffer: the trainable weights'. */
size_t bmst_optim_state_count(const struct bmst_optim *o);

/* Clips (when clip_norm > 0) the trainable weights' gradients, whose global
 * L2 norm the caller has already measured as grad_norm, counts the update
 * and applies it at rate lr (the head at lr * cfg.lr_head / cfg.lr_peak). `nonfinite` (backend memory) is set to 1 when the update made a
 * weight or state value inf or NaN, else 0. */
void bmst_optim_step(struct bmst_optim *o, float lr, float clip_norm, double grad_norm,
                     float *nonfinite);

/* Zeroes the pruned weights (o->mask), their state in every buffer of the
 * kind and their compute copy: what follows each step once a mask prunes. */
void bmst_optim_apply_mask(struct bmst_optim *o);
/* Words of o->mask: ceil(n_weights / 32). */
size_t bmst_optim_mask_words(const struct bmst_optim *o);

/* For the kinds' files: where range r's weights, gradients, state, compute
 * copy and decay mask begin. */
struct bmst_optim_span {
    float *weights, *grads;
    float *state[BMST_OPTIM_MAX_STATE];
    void *act;
    const unsigned char *decay;
};
void bmst_optim_pointers(const struct bmst_optim *o, const struct bmst_optim_range *r,
                         struct bmst_optim_span *s);

/* For the kinds' files: the compute copy their pass writes (NULL under fp32,
 * where the weights are the copy). */
void *bmst_optim_compute_copy(const struct bmst_optim *o);

/* The hyperparameters of c's kind, in PyTorch's names; returns how many. */
int bmst_optim_hypers(const struct bmst_optim_config *c, struct bmst_optim_hyper *out);

/* --no-decay: "bn", "bias", "bn,bias" or "none". Returns -1 with a one-line
 * message for anything else. */
int bmst_no_decay_parse(const char *text, unsigned *bits);
/* The words for bits, as bmst_no_decay_parse reads them. */
const char *bmst_no_decay_name(unsigned bits);

#endif
