/* The optimizer step over the model's flat buffers: optional clipping of the
 * gradient's global norm, then SGD with momentum, Nesterov and weight decay. */
#ifndef BMST_OPTIM_H
#define BMST_OPTIM_H

#include "model.h"

/* Clips (when clip_norm > 0) the gradients, whose global L2 norm the caller
 * has already measured as grad_norm, and applies one SGD step. `nonfinite`
 * (backend memory) is set to 1 when an updated weight is inf or NaN, else 0. */
void bmst_optim_step(struct bmst_model *m, const struct bmst_sgd_desc *sgd, float clip_norm,
                     double grad_norm, float *nonfinite);

#endif
