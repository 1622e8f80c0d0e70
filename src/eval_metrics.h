/* What `eval` reports beyond the loss: top-1 and top-k accuracy (k = 5, or
 * the class count when there are fewer), the confusion matrix and the
 * per-class accuracy it gives, as counts summed across ranks, printed as a
 * table and written as CSV (--confusion). */
#ifndef BMST_EVAL_METRICS_H
#define BMST_EVAL_METRICS_H

#include <stdio.h>

#include "comm.h"
#include "dataset.h"

#define BMST_EVAL_TOP_K 5

struct bmst_eval_counts {
    int classes;
    int top_k;       /* BMST_EVAL_TOP_K, or classes when there are fewer */
    double loss_sum; /* cross-entropy summed over the samples */
    double samples;
    double top1, topk; /* samples whose label is the arg max, is among the k largest */
    /* [classes * classes]: row = true class, column = predicted (the arg
     * max, the first of equal largest logits) */
    double *confusion;
};

void bmst_eval_counts_init(struct bmst_eval_counts *c, int classes);
void bmst_eval_counts_free(struct bmst_eval_counts *c);
/* Adds one sample's logits z[classes] with true class `label`. */
void bmst_eval_counts_add(struct bmst_eval_counts *c, const float *z, int label);
/* Sums every rank's counts (one host all-reduce). */
void bmst_eval_counts_reduce(struct bmst_eval_counts *c, struct bmst_comm *comm);

/* "per-class accuracy (top-1):" then one line per class: its number, name,
 * correct / samples and the accuracy ("-" for a class with no sample). */
void bmst_eval_counts_print_classes(const struct bmst_eval_counts *c, const struct bmst_dataset *ds,
                                    FILE *out);
/* The confusion matrix as CSV at path (replaced whole): a header
 * "true\predicted,0,1,...", then a row per true class, its number first.
 * -1 with one line when the file cannot be written. */
int bmst_eval_counts_write_confusion(const struct bmst_eval_counts *c, const char *path);

#endif
