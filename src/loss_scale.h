/* Dynamic loss scaling for fp16 training: the loss gradient is multiplied by
 * the scale so small gradients survive the half type; a step whose gradients
 * hold inf or NaN is skipped and the scale halved, down to a floor; after
 * `window` clean steps in a row the scale doubles. bf16 and fp32 keep the
 * scale at 1 and never skip. */
#ifndef BMST_LOSS_SCALE_H
#define BMST_LOSS_SCALE_H

#include "tensor.h"

#define BMST_LOSS_SCALE_MAX 16777216.0f /* 2^24: doubling stops there */
/* Halving stops at 1: below it the scale no longer keeps small gradients
 * from underflowing, and gradients that overflow at 1 overflow unscaled, so
 * a smaller scale would only hide the cause (and at 0 every step would be
 * skipped for 0 * inf). --loss-scale cannot start below it either. */
#define BMST_LOSS_SCALE_MIN 1.0f

struct bmst_loss_scaler {
    int enabled;
    float scale;
    int window;      /* clean steps before the scale doubles */
    int clean_steps; /* clean steps since the last change */
    long skipped;    /* steps skipped since the run (or resume) started */
};

/* What the scaler makes of a step's gradient check. */
enum bmst_scaler_verdict {
    BMST_SCALER_APPLY = 0,       /* clean (or no scaling): apply the step */
    BMST_SCALER_SKIP = 1,        /* overflow: skip the step; the scale was halved */
    BMST_SCALER_SKIP_AT_MIN = 2, /* overflow with the scale already at its floor:
                                    skipped, but scaling is not the cause */
};

void bmst_loss_scaler_init(struct bmst_loss_scaler *s, enum bmst_dtype act_dtype, float initial,
                           int window);

/* After a step's gradients were checked: whether the step must be skipped,
 * and moves the scale. */
enum bmst_scaler_verdict bmst_loss_scaler_update(struct bmst_loss_scaler *s, int nonfinite);

#endif
