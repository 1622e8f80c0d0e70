/* Training and evaluation runs: the step (BMST lambda, soft targets, forward,
 * backward, gradient all-reduce, optimizer), the epoch loop with its report,
 * checkpoints and resume. */
#ifndef BMST_TRAIN_H
#define BMST_TRAIN_H

#include <stdint.h>

#include "comm.h"
#include "engine.h"
#include "models/models.h"
#include "optim/optim.h"
#include "prune.h"
#include "schedule.h"

/* --inject-fault RANK:STEP[:perturb|:nan]: what rank `rank` does at
 * optimizer step `step` (0-based). rank < 0: none. */
enum bmst_fault_kind {
    BMST_FAULT_FAIL,    /* fails with a message */
    BMST_FAULT_PERTURB, /* changes one of its weights: --check-replicas must notice */
    BMST_FAULT_NAN,     /* makes one of its weights NaN, which ReLU hides from the loss:
                           the inf/NaN guard must notice */
    BMST_FAULT_SIGTERM, /* sends itself SIGTERM before the step: the job must stop after it */
};

struct bmst_fault {
    int rank;
    long step;
    enum bmst_fault_kind kind;
};

struct bmst_run_config {
    /* what to train on */
    const char *data_path;
    char arch[32];
    int mix_at;      /* enum bmst_mix_at */
    int aux_logits;  /* InceptionV3's auxiliary classifier, its loss weighted 0.4 */
    int stem;        /* --stem: enum bmst_stem (auto: by the input size) */
    int merge;       /* BMST factor m: 1 (off), 2, 4 */
    float mix_alpha; /* lam ~ Beta(a, a) */
    /* optimization */
    int batch;
    int eval_batch;
    int epochs;
    struct bmst_schedule schedule; /* base_lr, kind, milestones, gamma; steps filled in */
    float warmup_epochs;
    struct bmst_optim_config optim; /* --optimizer and its hyperparameters */
    float label_smoothing;
    float clip_norm; /* 0: off */
    struct bmst_prune_config prune; /* --prune-to and its schedule (prune.h) */
    int augment;     /* -1 or 1: on (pad + crop + flip up to 64 px, random resized
                        crops above), 0 off */
    int loader_threads; /* threads that augment batches, beside the reader */
    int prefetch;       /* batches the loader keeps ready */
    /* where and in what precision */
    enum bmst_device_choice device;
    enum bmst_dtype precision;
    float loss_scale;      /* fp16: the first scale */
    int loss_scale_window; /* fp16: clean steps before the scale doubles */
    int capture;           /* replay the training pass as one recording (CUDA graph) */
    int deterministic;     /* GPU: the same bits on every run (cuDNN's deterministic algorithms) */
    enum bmst_act_codec act_codec; /* how backward's activations are kept (saved.h) */
    int division_block, division_bits; /* --division-block, --division-bits: its B and Q */
    enum bmst_recompute recompute;     /* what backward reruns instead of keeping (recompute.h) */
    /* several processes (docs/distributed.md) */
    int sync_bn;               /* batch-norm statistics over every rank's batch */
    enum bmst_dtype grad_comm; /* what gradients travel as */
    int bucket_mib;            /* gradient all-reduce bucket size */
    float comm_timeout;        /* seconds a collective may wait for the other ranks */
    int check_replicas;        /* compare every rank's weights after every step */
    int skip_nonfinite;        /* --on-nan skip: drop a step with inf/NaN gradients and put
                                  back inf/NaN running statistics, instead of ending the run */
    struct bmst_fault fault;   /* tests only: make one rank fail at one step */
    const char *report_path;   /* JSON: every rank's timings and memory per epoch */
    /* the run */
    uint64_t seed;
    int threads;
    int max_steps; /* > 0: stop every epoch after this many steps (smoke tests) */
    const char *save_path;
    const char *resume_path;
    const char *init_path; /* --init: the weights (only) a new run starts from */
    int reset_classifier;  /* --reset-classifier: with --init, the head starts fresh */
    const char *csv_path;
    const char *checkpoint_path; /* eval: the checkpoint to score */
    /* stopping and requeueing (docs/cli.md, "Stopping and requeueing") */
    int resume_auto;            /* --resume auto: resume_path is save_path when it exists */
    int save_every;             /* > 0: also checkpoint to save_path every N global steps */
    const char *keep_best_path; /* the checkpoint of the best accuracy so far (on /val when
                                   the dataset has one, else on /test) */
    int eval_test_every;        /* --eval-test every-epoch: /test after every epoch even
                                   where /val is watched (default: at the run's end) */
    int eval_split;             /* eval --split: enum bmst_split, BMST_SPLIT_TEST or _VAL */
    const char *confusion_path; /* eval --confusion: the confusion matrix as CSV */
    int int8;                   /* eval, export --int8: conv and fc weights in int8 (quantize.h) */
    const char *tensorboard_dir; /* rank 0 writes TensorBoard scalars there (train_scalars.h) */
    int log_every;               /* steps between per-step TensorBoard scalars */
    /* the command line as given, for the report */
    int argc;
    char *const *argv;
};

/* Fills the defaults every command starts from. */
void bmst_run_config_defaults(struct bmst_run_config *cfg);

/* `bmst_dist train` on the job's ranks (comm: see comm.h; the run takes it
 * over and ends it). Returns 0, BMST_EXIT_STOPPED (signals.h) when SIGTERM
 * or SIGUSR1 stopped it, or -1 with the reason in bmst_last_error(); in a
 * job of several ranks a failure ends every rank instead of returning. */
int bmst_train(const struct bmst_run_config *cfg, struct bmst_comm *comm);
/* `bmst_dist eval`: a checkpoint on the dataset's test split (or its
 * validation split: --split val), the split shared among the ranks. */
int bmst_eval(const struct bmst_run_config *cfg, struct bmst_comm *comm);

#endif
