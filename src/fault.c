/* --inject-fault, for tests: a rank that fails, drifts, goes NaN or is sent
 * SIGTERM at a chosen step (fault.h). */
#include "fault.h"

#include <math.h>
#include <signal.h>

#include "error.h"

/* The first batch norm's scale (gamma) of channel 0: made NaN, it makes
 * that channel NaN, which the ReLU after it turns into 0, so the loss and
 * the running statistics stay finite and only the gradients show it. */
static float *first_bn_scale(const struct bmst_model *m) {
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].role == BMST_PARAM_WEIGHT && m->params[i].init == BMST_INIT_ONES)
            return m->weights + m->params[i].offset;
    return m->weights;
}

int bmst_fault_inject(const struct bmst_fault *f, int rank, struct bmst_model *m, long step) {
    if (f->rank != rank || f->step != step) return 0;
    if (f->kind == BMST_FAULT_FAIL)
        return bmst_error("fault injected by --inject-fault at step %ld", step);
    if (f->kind == BMST_FAULT_SIGTERM) return raise(SIGTERM) == 0 ? 0 : -1;
    float *target = f->kind == BMST_FAULT_NAN ? first_bn_scale(m) : m->weights, w;
    m->be->to_host(m->be, &w, target, sizeof w);
    w = f->kind == BMST_FAULT_NAN ? NAN : w * 1.0001f + 1e-6f;
    m->be->to_device(m->be, target, &w, sizeof w);
    bmst_model_refresh_act(m);
    return 0;
}
