/* Training and evaluation runs: the step (BMST lambda, soft targets, forward,
 * backward, gradient all-reduce, optimizer), the epoch loop with its report,
 * checkpoints and resume. */
#ifndef BMST_TRAIN_H
#define BMST_TRAIN_H

#include <stdint.h>

#include "engine.h"
#include "models/models.h"
#include "schedule.h"

struct bmst_run_config {
    /* what to train on */
    const char *data_path;
    char arch[32];
    int mix_at;      /* enum bmst_mix_at */
    int merge;       /* BMST factor m: 1 (off), 2, 4 */
    float mix_alpha; /* lam ~ Beta(a, a) */
    /* optimization */
    int batch;
    int eval_batch;
    int epochs;
    struct bmst_schedule schedule; /* base_lr, kind, milestones, gamma; steps filled in */
    float warmup_epochs;
    float momentum;
    int nesterov;
    float weight_decay;
    float label_smoothing;
    float clip_norm; /* 0: off */
    int augment;     /* -1: automatic (on for images up to 64 px), 0 off, 1 on */
    /* where and in what precision */
    enum bmst_device_choice device;
    enum bmst_dtype precision;
    float loss_scale;      /* fp16: the first scale */
    int loss_scale_window; /* fp16: clean steps before the scale doubles */
    int capture;           /* replay the training pass as one recording (CUDA graph) */
    /* the run */
    uint64_t seed;
    int threads;
    int max_steps; /* > 0: stop every epoch after this many steps (smoke tests) */
    const char *save_path;
    const char *resume_path;
    const char *csv_path;
    const char *checkpoint_path; /* eval: the checkpoint to score */
};

/* Fills the defaults every command starts from. */
void bmst_run_config_defaults(struct bmst_run_config *cfg);

/* `bmst_dist train`: returns 0, or -1 with the reason in bmst_last_error(). */
int bmst_train(const struct bmst_run_config *cfg);
/* `bmst_dist eval`: a checkpoint on the dataset's test split. */
int bmst_eval(const struct bmst_run_config *cfg);

#endif
