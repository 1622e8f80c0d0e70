/* `bmst_dist predict --checkpoint C --data D [--split test|val|train]
 * --out P.csv|P.h5 [--logits]`: each sample's index, label, top-5 classes
 * with their softmax probabilities and, with --logits, its logits, under a
 * checkpoint's network (built as eval builds it, and scoring the same
 * inputs, so its top-1 agreement is eval's accuracy). */
#ifndef BMST_PREDICT_H
#define BMST_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* One split's predictions, in sample order. */
struct bmst_predictions {
    size_t n; /* samples */
    int top;  /* classes ranked per sample: 5, or fewer classes */
    int classes;
    int with_logits;    /* logits is filled */
    int64_t *index;     /* [n] the sample's index in the split */
    int32_t *label;     /* [n] */
    int32_t *top_class; /* [n][top] best first */
    float *top_prob;    /* [n][top] softmax probabilities */
    float *logits;      /* [n][classes], or NULL */
};

/* 0, or -1 with one line. */
int bmst_predict(const struct bmst_cli *cli);

/* predict_write.c: P.csv (a header row, then one row per sample) or P.h5
 * (one dataset per column), by the name's ending; written atomically. */
int bmst_predictions_write(const struct bmst_predictions *p, const char *path,
                           const char *checkpoint, const char *split);
/* 0 when path names a format predict writes (.csv, .h5, .hdf5); else -1
 * with a message. */
int bmst_predictions_check_path(const char *path);

#endif
