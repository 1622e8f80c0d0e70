/* The training step and the evaluation pass. */
#include "step.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "stats.h"
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

float bmst_step_lambda(uint64_t seed, long draw, float alpha) {
    struct bmst_rng rng = bmst_rng_make(seed, BMST_RNG_MIX, (uint64_t)draw);
    return (float)bmst_rng_beta(&rng, alpha, alpha);
}

/* Divides the reduced gradients by the loss scale and the ranks (their mean)
 * in one pass; checks them for inf/NaN where a policy needs to know. Returns
 * 1 when they hold any. The reduced gradients are the same on every rank, so
 * every rank decides alike. */
static int unscale(struct bmst_graph *g, float divisor, int check) {
    struct bmst_backend *be = g->be;
    struct bmst_model *m = g->model;
    if (!check) {
        if (divisor != 1.0f) be->scale(be, m->n_weights, m->grads, 1.0f / divisor);
        return 0;
    }
    float *flag = g->scalars + BMST_SCALAR_NONFINITE;
    be->unscale_check(be, m->n_weights, m->grads, 1.0f / divisor, flag);
    float host_flag;
    be->to_host(be, &host_flag, flag, sizeof host_flag);
    return host_flag != 0.0f;
}

float bmst_train_step(struct bmst_graph *g, struct bmst_grad_sync *sync,
                      const struct bmst_step_config *cfg, long step, const struct bmst_batch *b,
                      float *host_targets, struct bmst_loss_scaler *scaler, double *phase) {
    struct bmst_backend *be = g->be;
    struct bmst_model *m = g->model;
    int rank = sync ? sync->comm->rank : 0, world = sync ? sync->comm->world : 1;
    be->upload_act(be, bmst_graph_value(g, g->images), b->images,
                   bmst_shape_count(g->values[g->images].shape));
    bmst_soft_targets(b->labels, g->batch, g->classes, cfg->label_smoothing, host_targets);
    be->to_device(be, bmst_graph_value(g, g->targets), host_targets,
                  (size_t)g->batch * g->classes * sizeof(float));
    float lam = g->merge > 1 ? bmst_step_lambda(cfg->seed, step * world + rank, cfg->mix_alpha)
                             : 1.0f;
    bmst_mix_coefficients(g->merge, lam, g->host_scalars + BMST_SCALAR_MIX);
    g->host_scalars[BMST_SCALAR_LOSS_SCALE] = scaler->scale;
    double pass[2], hidden = 0.0, exposed = 0.0;
    bmst_graph_train_pass(g, pass); /* starts the all-reduce's buckets as it goes */
    if (sync) bmst_grad_sync_finish(sync, &hidden, &exposed);
    double t3 = bmst_now();
    float divisor = scaler->scale * (sync ? bmst_grad_sync_divisor(sync) : 1.0f);
    int nonfinite = unscale(g, divisor, scaler->enabled || cfg->skip_nonfinite);
    int skip = bmst_loss_scaler_update(scaler, nonfinite);
    if (!scaler->enabled && nonfinite) { /* --on-nan skip outside fp16 */
        skip = 1;
        scaler->skipped++;
    }
    if (!skip) bmst_optim_step(m, &cfg->sgd, cfg->clip_norm);
    be->sync(be);
    double t4 = bmst_now();
    phase[BMST_PHASE_FORWARD] += pass[0];
    phase[BMST_PHASE_BACKWARD] += pass[1];
    phase[BMST_PHASE_ALLREDUCE] += exposed;
    phase[BMST_PHASE_ALLREDUCE_HIDDEN] += hidden;
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
    comm->allreduce_host_f64(comm, totals, 3);
    *loss = totals[2] > 0 ? totals[0] / totals[2] : 0.0;
    *accuracy = totals[2] > 0 ? totals[1] / totals[2] : 0.0;
    return 0;
}
