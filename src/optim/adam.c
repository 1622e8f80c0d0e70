/* Adam as torch.optim.Adam (amsgrad off): bias-corrected moments, eps added
 * after the square root of the corrected second moment, L2 weight decay added
 * to the gradient. Its state is PyTorch's exp_avg, exp_avg_sq and step. The
 * pass itself is shared with AdamW (adamw.c). */
#include "optim/adam.h"

#include <math.h>

int bmst_adam_supported(const struct bmst_backend *be) {
    return be->optim.adam_step != NULL;
}

int bmst_adam_hypers(const struct bmst_optim_config *c, struct bmst_optim_hyper *out) {
    out[0] = (struct bmst_optim_hyper){"betas", "--betas", 2, 0, {c->beta1, c->beta2}};
    out[1] = (struct bmst_optim_hyper){"eps", "--eps", 1, 0, {c->eps}};
    out[2] = (struct bmst_optim_hyper){"weight_decay", "--weight-decay", 1, 0, {c->weight_decay}};
    return 3;
}

/* The step's terms are worked out here once, in double, as PyTorch does in
 * Python: 1 - beta, bias_correction1 = 1 - beta1^t, step_size = lr /
 * bias_correction1, sqrt(1 - beta2^t), and AdamW's 1 - lr * weight_decay. */
void bmst_adam_update(const struct bmst_optim *o, const struct bmst_optim_range *r, float lr,
                      int decoupled, float *nonfinite) {
    struct bmst_backend *be = o->model->be;
    struct bmst_optim_span s;
    bmst_optim_pointers(o, r, &s);
    const struct bmst_optim_config *c = &o->cfg;
    double t = (double)o->steps;
    double bias1 = 1.0 - pow(c->beta1, t), bias2 = 1.0 - pow(c->beta2, t);
    struct bmst_adam_desc d = {
        .beta1 = (float)c->beta1,
        .beta2 = (float)c->beta2,
        .eps = c->eps,
        .one_minus_beta1 = (float)(1.0 - c->beta1),
        .one_minus_beta2 = (float)(1.0 - c->beta2),
        .weight_decay = decoupled ? 0.0f : c->weight_decay,
        .decay_factor = decoupled ? (float)(1.0 - (double)lr * c->weight_decay) : 1.0f,
        .step_size = (float)((double)lr / bias1),
        .bias2_sqrt = (float)sqrt(bias2),
        .decay = s.decay,
    };
    be->optim.adam_step(be, &d, r->count, s.weights, s.grads, s.state[0], s.state[1], s.act,
                        nonfinite);
}

static void update(const struct bmst_optim *o, const struct bmst_optim_range *r, float lr,
                   float *nonfinite) {
    bmst_adam_update(o, r, lr, 0, nonfinite);
}

const struct bmst_optim_type bmst_optim_adam = BMST_ADAM_TYPE("adam", update);
