/* The optimizer step over the model's flat buffers: optional clipping of the
 * gradient's global norm, then SGD with momentum, Nesterov and weight decay. */
#ifndef BMST_OPTIM_H
#define BMST_OPTIM_H

#include "model.h"

/* Clips (when clip_norm > 0) and applies one SGD step. Returns the gradient's
 * global L2 norm before clipping when clipping, else 0 (the norm costs a pass). */
double bmst_optim_step(struct bmst_model *m, const struct bmst_sgd_desc *sgd, float clip_norm);

#endif
