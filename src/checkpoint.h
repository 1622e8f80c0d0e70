/* HDF5 checkpoints: one dataset per tensor named and laid out as PyTorch's
 * state_dict of the same torchvision-style model, plus the optimizer's state
 * by PyTorch's names and where training stood. Written under a temporary name
 * and renamed, so the file at PATH is always either the previous checkpoint
 * or the new one, whole. */
#ifndef BMST_CHECKPOINT_H
#define BMST_CHECKPOINT_H

#include <stdint.h>

#include "model.h"
#include "optim/optim.h"

/* What a checkpoint records of its optimizer. */
struct bmst_optim_record {
    int recorded; /* version 4; 0 for versions 2 and 3, which hold SGD's momentum alone */
    int kind;     /* registry index: SGD for versions 2 and 3 */
    int n_hypers;
    struct bmst_optim_hyper hypers[BMST_OPTIM_MAX_HYPERS];
    unsigned no_decay;
};

/* What a checkpoint says about the run besides the tensors: enough to rebuild
 * the same network and continue exactly. */
struct bmst_checkpoint_meta {
    char arch[32];       /* "resnet20" */
    int in_h, in_w, in_c; /* input shape the network was built for */
    int classes;
    /* 1: with InceptionV3's auxiliary classifier (its tensors are in the
     * file); the attribute is absent (read 0) in files from before it */
    int aux_logits;
    /* --stem (enum bmst_stem): written when chosen; absent (auto: by the
     * input size) in files from before it and runs without it */
    int stem;
    /* 1: weights only (bmst_dist import): the model's tensors and the
     * attributes above, no optimizer, epoch, step, seed or run record (read
     * as 0, and a loss scale of 1) */
    int weights_only;
    int epoch;           /* epochs completed */
    int64_t step;        /* optimizer steps taken, skipped ones included */
    uint64_t seed;       /* the run's seed: with step and epoch, the whole RNG state */
    float loss_scale;    /* dynamic loss scale (1 for fp32 and bf16) */
    int loss_scale_clean_steps; /* clean steps toward the next doubling */
    /* how the run was set up, so a resumed run can be checked against it
     * (format version 3 on; has_run_record is 0 for a version 2 file, and
     * every file written now has it) */
    int has_run_record;
    int batch;               /* --batch: per rank */
    int ranks;               /* processes in the job */
    int merge;               /* --merge */
    float lr;                /* --lr: the schedule's peak */
    float last_lr;           /* the rate of the last step taken */
    int planned_epochs;      /* --epochs of the run that wrote it */
    int64_t steps_per_epoch; /* optimizer steps in each of its epochs */
    /* --act-codec and its settings: written and read where has_codec_record
     * is set (the attributes are optional, so a file written before they were
     * recorded still reads, unchecked, and older programs read newer files) */
    int has_codec_record;
    char act_codec[16];
    int division_block, division_bits;
    /* --recompute (optional like act_codec; "none" where a file lacks it) */
    char recompute[16];
    /* --prune-* of a pruned run (optional attributes: has_prune_record is 0
     * for a dense run and for a file written before they were recorded) */
    int has_prune_record;
    float prune_to, prune_start;
    float prune_end; /* resolved: the run's --epochs where --prune-end was not given */
    int prune_every;
    char prune_scope[8]; /* "global" or "layer" */
    /* where inside an epoch the run stood (format version 5; all 0 for a
     * checkpoint written at an epoch's end): a run stopped by a signal or
     * saved by --save-every continues from the next step */
    int64_t epoch_steps;    /* steps of epoch `epoch` (0-based) already taken */
    double epoch_loss_mean; /* the sum of those steps' losses, mean over the ranks */
    int64_t epoch_applied;  /* how many of them the optimizer applied */
    /* written, not read: [ranks][n_buffers] every rank's running statistics
     * in the model's own order, inside an epoch where each rank's follow its
     * own batches (no --sync-bn); NULL for none */
    const float *rank_buffers;
    int has_rank_buffers; /* read: the file holds them (bmst_checkpoint_load_rank_buffers) */
    /* the best test accuracy so far (0 to 1) and the epoch (1-based) it came
     * at; 0 and 0 before the first evaluation (version 5) */
    double best_accuracy;
    int best_epoch;
    /* read, not written: the optimizer's record comes from the optimizer */
    struct bmst_optim_record optim;
};

/* Saves model weights, BN running statistics, the optimizer's kind,
 * hyperparameters, step count and state, and meta (which must hold the run
 * record); refuses (-1, nothing written) when any tensor holds inf or NaN. */
int bmst_checkpoint_save(const char *path, const struct bmst_model *m, const struct bmst_optim *o,
                         const struct bmst_checkpoint_meta *meta);
/* Saves a weights-only checkpoint: the model's tensors (running statistics
 * included) and meta's network (arch, input shape, classes, aux_logits,
 * stem); the rest of meta is not written. Refuses inf and NaN as
 * bmst_checkpoint_save does; written atomically. */
int bmst_checkpoint_save_weights(const char *path, const struct bmst_model *m,
                                 const struct bmst_checkpoint_meta *meta);
/* Reads only meta (to build the right network before loading); -1 for a
 * format version this program does not know or values out of range. */
int bmst_checkpoint_read_meta(const char *path, struct bmst_checkpoint_meta *meta);
/* Loads every tensor of the model (it must match by name and shape, and hold
 * no inf or NaN) and, when o is not NULL, the optimizer's state and step
 * count, which must be of o's kind. */
int bmst_checkpoint_load(const char *path, struct bmst_model *m, struct bmst_optim *o);
/* --init: loads the model's tensors but those `skip` marks (per parameter
 * index; NULL: none), which keep their values, from a full or weights-only
 * checkpoint; each loaded one must match by name and shape and be finite. */
int bmst_checkpoint_load_weights(const char *path, struct bmst_model *m, const unsigned char *skip);

/* Loads row `rank` of the file's every-rank running statistics into the
 * model's buffers (after bmst_checkpoint_load, which loaded rank 0's). */
int bmst_checkpoint_load_rank_buffers(const char *path, struct bmst_model *m, int rank);

/* Writes the current gradients, in PyTorch layout, as /grad/<name> of a new
 * file: for comparing against another implementation (the parity tests). */
int bmst_checkpoint_save_gradients(const char *path, const struct bmst_model *m);

#endif
