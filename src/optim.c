/* SGD over flat buffers; the backend does the arithmetic in one pass. */
#include "optim.h"

void bmst_optim_step(struct bmst_model *m, const struct bmst_sgd_desc *sgd, float clip_norm,
                     double grad_norm, float *nonfinite) {
    struct bmst_backend *be = m->be;
    /* as torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) */
    if (clip_norm > 0.0f && grad_norm > clip_norm)
        be->scale(be, m->n_weights, m->grads, (float)(clip_norm / (grad_norm + 1e-6)));
    void *act_copy = m->weights_act != m->weights ? m->weights_act : NULL;
    be->sgd_step(be, sgd, m->n_weights, m->weights, m->grads, m->momentum, act_copy, nonfinite);
}
