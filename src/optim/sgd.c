/* SGD with momentum, Nesterov and L2 weight decay, as torch.optim.SGD
 * (dampening 0). Its state is PyTorch's momentum_buffer. */
#include "optim/optim.h"

static int supported(const struct bmst_backend *be) {
    return be->optim.sgd_step != NULL;
}

static int hypers(const struct bmst_optim_config *c, struct bmst_optim_hyper *out) {
    out[0] = (struct bmst_optim_hyper){"momentum", "--momentum", 1, 0, {c->momentum}};
    out[1] = (struct bmst_optim_hyper){"nesterov", "--nesterov", 1, 1, {c->nesterov}};
    out[2] = (struct bmst_optim_hyper){"weight_decay", "--weight-decay", 1, 0, {c->weight_decay}};
    return 3;
}

static void update(const struct bmst_optim *o, const struct bmst_optim_range *r, float lr,
                   float *nonfinite) {
    struct bmst_backend *be = o->model->be;
    struct bmst_optim_span s;
    bmst_optim_pointers(o, r, &s);
    struct bmst_sgd_desc d = {.lr = lr,
                              .momentum = o->cfg.momentum,
                              .weight_decay = o->cfg.weight_decay,
                              .nesterov = o->cfg.nesterov,
                              .decay = s.decay};
    be->optim.sgd_step(be, &d, r->count, s.weights, s.grads, s.state[0], s.act, nonfinite);
}

const struct bmst_optim_type bmst_optim_sgd = {
    .name = "sgd",
    .n_state = 1,
    .state = {{"momentum_buffer", "momentum"}},
    .keeps_step = 0,
    .supported = supported,
    .hypers = hypers,
    .update = update,
};
