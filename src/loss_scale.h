/* Dynamic loss scaling for fp16 training: the loss gradient is multiplied by
 * the scale so small gradients survive the half type; a step whose gradients
 * hold inf or NaN is skipped and the scale halved; after `window` clean steps
 * in a row the scale doubles. bf16 and fp32 keep the scale at 1 and never
 * skip. */
#ifndef BMST_LOSS_SCALE_H
#define BMST_LOSS_SCALE_H

#include "tensor.h"

#define BMST_LOSS_SCALE_MAX 16777216.0f /* 2^24: doubling stops there */

struct bmst_loss_scaler {
    int enabled;
    float scale;
    int window;      /* clean steps before the scale doubles */
    int clean_steps; /* clean steps since the last change */
    long skipped;    /* steps skipped since the run (or resume) started */
};

void bmst_loss_scaler_init(struct bmst_loss_scaler *s, enum bmst_dtype act_dtype, float initial,
                           int window);

/* After a step's gradients were checked: returns 1 when the step must be
 * skipped (nonfinite), and moves the scale. */
int bmst_loss_scaler_update(struct bmst_loss_scaler *s, int nonfinite);

#endif
