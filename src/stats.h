/* Timers, memory peaks and the per-epoch report (terminal line and CSV row). */
#ifndef BMST_STATS_H
#define BMST_STATS_H

#include <stdio.h>

enum bmst_phase {
    BMST_PHASE_DATA,      /* waiting for the loader */
    BMST_PHASE_FORWARD,
    BMST_PHASE_BACKWARD,
    BMST_PHASE_ALLREDUCE,
    BMST_PHASE_OPTIMIZER,
    /* not a phase of its own: the part of backward during which gradient
     * buckets were already being all-reduced (ALLREDUCE is what was left to
     * wait for after backward) */
    BMST_PHASE_ALLREDUCE_HIDDEN,
    BMST_PHASE_COUNT
};

struct bmst_epoch_stats {
    int epoch; /* 1-based */
    double train_loss;
    float lr;
    int has_val;          /* the dataset has /val, scored after every epoch: */
    double val_loss;      /* its mean cross-entropy */
    double val_accuracy;  /* and top-1 accuracy, a fraction */
    int has_test;         /* /test was scored after this epoch (every epoch without /val) */
    double test_loss;
    double test_accuracy; /* fraction */
    double seconds;       /* the training part of the epoch */
    double eval_seconds;
    double phase[BMST_PHASE_COUNT];
    long images; /* samples entering the network during training */
    double planned_mib;
    double peak_rss_mib;
    double device_used_mib; /* the GPU's used memory (cudaMemGetInfo); 0 on the CPU */
    long skipped_steps;     /* fp16 steps skipped for inf/NaN gradients, so far */
    float loss_scale;       /* fp16's scale at the epoch's end (1 otherwise) */
    double tflops;          /* training FLOP/s achieved (op table's count), in TFLOP/s */
    double mfu;             /* tflops over the devices' peak (mfu.h); 0 where the peak is unknown */
    double sparsity;        /* --prune-to: the fraction of conv and fc weights pruned; < 0: off */
};

double bmst_now(void);            /* monotonic seconds */
double bmst_peak_rss_mib(void);   /* process high-water mark */

void bmst_stats_print_epoch(FILE *f, const struct bmst_epoch_stats *s, int epochs);
/* The CSV file: opened (for a resumed run, appended to) with, when new,
 * `comments` (the run's description, "# " lines; NULL: none) and the column
 * header written first (val_loss and val_accuracy columns when `has_val`),
 * a row per epoch (test_loss and test_accuracy empty where /test was not
 * scored), closed. Each returns 0, or -1 with "cannot write the CSV file
 * PATH: REASON" (a full disk is an error, not a short file). */
int bmst_stats_csv_open(const char *path, int append, const char *comments, int has_val,
                        FILE **out);
int bmst_stats_csv_row(FILE *f, const char *path, const struct bmst_epoch_stats *s);
int bmst_stats_csv_close(FILE *f, const char *path);

#endif
