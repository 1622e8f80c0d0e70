/* The training step and the evaluation pass. */
#include "step.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "optim.h"
#include "rng.h"

void bmst_soft_targets(const int32_t *labels, int batch, int classes, float eps, float *targets) {
    float off = eps / (float)classes, on = 1.0f - eps + off;
    for (int i = 0; i < batch; i++) {
        float *row = targets + (size_t)i * classes;
        for (int k = 0; k < classes; k++) row[k] = off;
        row[labels[i]] = on;
    }
}

float bmst_step_lambda(uint64_t seed, long step, float alpha) {
    struct bmst_rng rng = bmst_rng_make(seed, BMST_RNG_MIX, (uint64_t)step);
    return (float)bmst_rng_beta(&rng, alpha, alpha);
}

float bmst_train_step(struct bmst_graph *g, struct bmst_comm *comm,
                      const struct bmst_step_config *cfg, long step, const struct bmst_batch *b,
                      float *host_targets, struct bmst_loss_scaler *scaler, double *phase) {
    struct bmst_backend *be = g->be;
    struct bmst_model *m = g->model;
    be->upload_act(be, bmst_graph_value(g, g->images), b->images,
                   bmst_shape_count(g->values[g->images].shape));
    bmst_soft_targets(b->labels, g->batch, g->classes, cfg->label_smoothing, host_targets);
    be->to_device(be, bmst_graph_value(g, g->targets), host_targets,
                  (size_t)g->batch * g->classes * sizeof(float));
    float lam = g->merge > 1 ? bmst_step_lambda(cfg->seed, step, cfg->mix_alpha) : 1.0f;
    bmst_mix_coefficients(g->merge, lam, g->host_scalars + BMST_SCALAR_MIX);
    g->host_scalars[BMST_SCALAR_LOSS_SCALE] = scaler->scale;
    double pass[2];
    bmst_graph_train_pass(g, pass);
    double t2 = bmst_now();
    if (comm->world > 1) comm->allreduce_f32(comm, m->grads, m->n_weights); /* summed */
    double t3 = bmst_now();
    /* average over ranks and undo the loss scale in one pass */
    float unscale = 1.0f / (scaler->scale * (float)comm->world);
    int nonfinite = 0;
    if (scaler->enabled) {
        float *flag = g->scalars + BMST_SCALAR_NONFINITE;
        be->unscale_check(be, m->n_weights, m->grads, unscale, flag);
        float host_flag;
        be->to_host(be, &host_flag, flag, sizeof host_flag);
        nonfinite = host_flag != 0.0f;
    } else if (unscale != 1.0f) {
        be->scale(be, m->n_weights, m->grads, unscale);
    }
    if (!bmst_loss_scaler_update(scaler, nonfinite)) bmst_optim_step(m, &cfg->sgd, cfg->clip_norm);
    be->sync(be);
    double t4 = bmst_now();
    phase[BMST_PHASE_FORWARD] += pass[0];
    phase[BMST_PHASE_BACKWARD] += pass[1];
    phase[BMST_PHASE_ALLREDUCE] += t3 - t2;
    phase[BMST_PHASE_OPTIMIZER] += t4 - t3;
    return g->loss;
}

/* Adds the cross-entropy and correctness of one row of logits. */
static void score_row(const float *z, int classes, int label, double *loss, double *correct) {
    int best = 0;
    float zmax = z[0];
    for (int k = 1; k < classes; k++)
        if (z[k] > zmax) zmax = z[k], best = k;
    double sum = 0.0;
    for (int k = 0; k < classes; k++) sum += exp((double)(z[k] - zmax));
    *loss += log(sum) - (double)(z[label] - zmax);
    *correct += best == label;
}

int bmst_evaluate(struct bmst_graph *g, struct bmst_loader *loader, struct bmst_comm *comm,
                  float *host_logits, double *loss, double *accuracy) {
    struct bmst_backend *be = g->be;
    double totals[3] = {0.0, 0.0, 0.0}; /* loss sum, correct, samples */
    struct bmst_batch b;
    int status;
    size_t image_count = bmst_shape_count(g->values[g->images].shape);
    bmst_loader_start_epoch(loader, 0);
    while ((status = bmst_loader_next(loader, &b)) == 1) {
        be->upload_act(be, bmst_graph_value(g, g->images), b.images, image_count);
        bmst_graph_forward(g);
        be->download_act(be, host_logits, bmst_graph_value(g, g->logits),
                         (size_t)g->batch * g->classes);
        for (int i = 0; i < b.valid; i++)
            score_row(host_logits + (size_t)i * g->classes, g->classes, b.labels[i], &totals[0],
                      &totals[1]);
        totals[2] += b.valid;
    }
    if (status < 0) return -1;
    if (comm->allreduce_f64(comm, totals, 3) != 0) return -1;
    *loss = totals[2] > 0 ? totals[0] / totals[2] : 0.0;
    *accuracy = totals[2] > 0 ? totals[1] / totals[2] : 0.0;
    return 0;
}
