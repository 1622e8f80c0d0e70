/* Activation ranges for an int8 ONNX model (export --int8 --calibrate N,
 * docs/cli.md "export"): the evaluation graph runs N batches of the
 * dataset's training split, in the file's order and unaugmented, and the
 * smallest and largest value every conv and fc input takes is recorded. */
#ifndef BMST_CALIBRATE_H
#define BMST_CALIBRATE_H

#include "engine.h"

/* Per value of e's evaluation graph: whether a conv or fc reads it, and its
 * range over the batches. Free with bmst_calibration_free. */
struct bmst_calibration {
    int batches;      /* batches run */
    char *observed;   /* [n_values] */
    float *min, *max; /* [n_values] */
};

/* Runs `batches` batches (of e's evaluation batch size) of data_path's
 * training split through e's evaluation graph, whose weights are loaded.
 * -1 with one line when the file cannot be read, does not fit the network,
 * or holds fewer than `batches` batches. */
int bmst_calibrate(struct bmst_engine *e, const char *data_path, int batches, int loader_threads,
                   struct bmst_calibration *out);
void bmst_calibration_free(struct bmst_calibration *c);

#endif
