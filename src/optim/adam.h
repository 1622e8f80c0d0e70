/* What Adam and AdamW share (adam.c): the hyperparameters and the fused
 * pass, which differ only in where weight decay goes. */
#ifndef BMST_OPTIM_ADAM_H
#define BMST_OPTIM_ADAM_H

#include "optim/optim.h"

int bmst_adam_supported(const struct bmst_backend *be);
/* betas, eps and weight_decay */
int bmst_adam_hypers(const struct bmst_optim_config *c, struct bmst_optim_hyper *out);
/* decoupled: AdamW's p *= 1 - lr * weight_decay; else Adam's L2 term in the gradient */
void bmst_adam_update(const struct bmst_optim *o, const struct bmst_optim_range *r, float lr,
                      int decoupled, float *nonfinite);

/* The registry entry of Adam or AdamW: the same state (PyTorch's exp_avg,
 * exp_avg_sq and step), hyperparameters and kernel, their own name and pass. */
#define BMST_ADAM_TYPE(kind_name, pass)                                                            \
    {                                                                                              \
        .name = kind_name, .n_state = 2,                                                           \
        .state = {{"exp_avg", "first moment (exp_avg)"},                                           \
                  {"exp_avg_sq", "second moment (exp_avg_sq)"}},                                   \
        .keeps_step = 1, .supported = bmst_adam_supported, .hypers = bmst_adam_hypers,             \
        .update = pass,                                                                            \
    }

#endif
