/* AdamW as torch.optim.AdamW (amsgrad off): Adam whose weight decay is
 * decoupled from the gradient, p *= 1 - lr * weight_decay before the update.
 * Its state is Adam's: exp_avg, exp_avg_sq and step. */
#include "optim/adam.h"

static void update(const struct bmst_optim *o, const struct bmst_optim_range *r, float lr,
                   float *nonfinite) {
    bmst_adam_update(o, r, lr, 1, nonfinite);
}

const struct bmst_optim_type bmst_optim_adamw = BMST_ADAM_TYPE("adamw", update);
