/* The training step: forward, backward, the inf/NaN guard, the optimizer,
 * the pruning mask. */
#include "step.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "stats.h"
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

void bmst_step_dropout_key(uint64_t seed, long draw, float *key) {
    struct bmst_rng rng = bmst_rng_make(seed, BMST_RNG_DROPOUT, (uint64_t)draw);
    uint64_t bits = bmst_rng_u64(&rng);
    uint32_t words[2] = {(uint32_t)bits, (uint32_t)(bits >> 32)};
    memcpy(key, words, sizeof words);
}

/* After the pass: unscales and measures the gradients (the mean over ranks,
 * divided by the loss scale, in the pass that sums their squares), checks
 * the running statistics, and runs the optimizer on finite gradients. The
 * reduced gradients and the weights are the same on every rank, so every
 * rank decides alike about them; the running statistics are each rank's own
 * unless batch norm is synchronized. */
static struct bmst_step_result guard_and_update(struct bmst_exec *x, float divisor,
                                                const struct bmst_step_config *cfg,
                                                struct bmst_loss_scaler *scaler) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_model *m = x->graph->model;
    struct bmst_step_result r = {0};
    /* nothing to divide (one rank, no loss scale): a pass that only reads;
     * frozen weights (the first n_frozen) have no gradient */
    size_t n = m->n_weights - m->n_frozen;
    float *grads = m->grads + m->n_frozen;
    double sumsq = divisor == 1.0f ? be->sum_squares(be, n, grads)
                                   : be->unscale_sum_squares(be, n, grads, 1.0f / divisor);
    r.grad_norm = sqrt(sumsq);
    if (!isfinite(x->loss)) r.found |= BMST_NONFINITE_LOSS;
    if (!isfinite(sumsq)) r.found |= BMST_NONFINITE_GRADS;
    if (!isfinite(be->sum_squares(be, m->n_buffers, m->buffers))) {
        r.found |= BMST_NONFINITE_STATS;
        if (cfg->stats_backup)
            be->copy(be, m->buffers, cfg->stats_backup, m->n_buffers * sizeof(float));
    }
    int grads_bad = (r.found & BMST_NONFINITE_GRADS) != 0;
    r.at_min_scale = bmst_loss_scaler_update(scaler, grads_bad) == BMST_SCALER_SKIP_AT_MIN;
    if (!scaler->enabled && grads_bad && cfg->skip_nonfinite) scaler->skipped++;
    r.applied = !grads_bad;
    if (r.applied) {
        float *flag = x->scalars + BMST_SCALAR_NONFINITE, host_flag;
        bmst_optim_step(cfg->optim, cfg->lr, cfg->clip_norm, r.grad_norm, flag);
        be->to_host(be, &host_flag, flag, sizeof host_flag);
        if (host_flag != 0.0f) r.found |= BMST_NONFINITE_WEIGHTS;
    }
    return r;
}

float bmst_train_step(struct bmst_exec *x, struct bmst_grad_sync *sync,
                      const struct bmst_step_config *cfg, long step, const struct bmst_batch *b,
                      float *host_targets, struct bmst_loss_scaler *scaler, double *phase) {
    const struct bmst_graph *g = x->graph;
    struct bmst_backend *be = g->be;
    struct bmst_model *m = g->model;
    int rank = sync ? sync->comm->rank : 0, world = sync ? sync->comm->world : 1;
    BMST_ASSERT(cfg->optim->model == m); /* the optimizer of the graph's own parameters */
    if (cfg->stats_backup)
        be->copy(be, cfg->stats_backup, m->buffers, m->n_buffers * sizeof(float));
    be->upload_act(be, bmst_exec_value(x, g->images), b->images,
                   bmst_shape_count(g->values[g->images].shape));
    bmst_soft_targets(b->labels, g->batch, g->classes, cfg->label_smoothing, host_targets);
    be->to_device(be, bmst_exec_value(x, g->targets), host_targets,
                  (size_t)g->batch * g->classes * sizeof(float));
    float lam = g->merge > 1 ? bmst_step_lambda(cfg->seed, step * world + rank, cfg->mix_alpha)
                             : 1.0f;
    bmst_mix_coefficients(g->merge, lam, x->host_scalars + BMST_SCALAR_MIX);
    bmst_step_dropout_key(cfg->seed, step * world + rank,
                          x->host_scalars + BMST_SCALAR_DROPOUT_KEY);
    x->host_scalars[BMST_SCALAR_LOSS_SCALE] = scaler->scale;
    double pass[2], hidden = 0.0, exposed = 0.0;
    bmst_exec_train_pass(x, pass); /* starts the all-reduce's buckets as it goes */
    if (sync) bmst_grad_sync_finish(sync, &hidden, &exposed);
    double t3 = bmst_now();
    float divisor = scaler->scale * (sync ? bmst_grad_sync_divisor(sync) : 1.0f);
    struct bmst_step_result r = guard_and_update(x, divisor, cfg, scaler);
    /* step + 1 steps taken: pruned weights and their state back to zero */
    if (cfg->prune) bmst_prune_after_step(cfg->prune, step + 1);
    if (cfg->result) *cfg->result = r;
    be->sync(be);
    double t4 = bmst_now();
    phase[BMST_PHASE_FORWARD] += pass[0];
    phase[BMST_PHASE_BACKWARD] += pass[1];
    phase[BMST_PHASE_ALLREDUCE] += exposed;
    phase[BMST_PHASE_ALLREDUCE_HIDDEN] += hidden;
    phase[BMST_PHASE_OPTIMIZER] += t4 - t3;
    return x->loss;
}

/* Weights an update made inf or NaN end the run under either policy: the
 * update cannot be taken back. Otherwise `skip` goes on (the step was not
 * applied and the running statistics were put back), and `abort` ends the
 * run, except for fp16 gradients that overflowed at a scale that can still
 * come down (the scaler's own skip). */
void bmst_step_result_combine(struct bmst_step_result *r, struct bmst_comm *comm) {
    enum { KINDS = 4, SIGNALS = 2 };
    double any[KINDS + SIGNALS];
    for (int k = 0; k < KINDS; k++) any[k] = (r->found >> k) & 1u;
    for (int k = 0; k < SIGNALS; k++) any[KINDS + k] = (r->stop >> k) & 1u;
    comm->allreduce_host_f64(comm, any, KINDS + SIGNALS);
    for (int k = 0; k < KINDS; k++)
        if (any[k] > 0) r->found |= 1u << k;
    for (int k = 0; k < SIGNALS; k++)
        if (any[KINDS + k] > 0) r->stop |= 1u << k;
}

int bmst_step_judge(const struct bmst_step_result *r, int skip_nonfinite, int loss_scaling,
                    const char *where) {
    if (r->found & BMST_NONFINITE_WEIGHTS)
        return bmst_error_shared("the update at %s made weights inf or NaN (gradient norm %.3g): "
                                 "lower --lr or add --clip-norm",
                                 where, r->grad_norm);
    unsigned found = r->found;
    if (loss_scaling && !r->at_min_scale) found &= ~(unsigned)BMST_NONFINITE_GRADS;
    if (skip_nonfinite || !found) return 0;
    static const char *names[] = {"the loss", "the gradients", "the batch-norm running statistics"};
    char what[128] = "";
    int total = 0, seen = 0;
    for (int i = 0; i < 3; i++)
        total += (found >> i) & 1;
    for (int i = 0; i < 3; i++) {
        if (!(found & (1u << i))) continue;
        const char *sep = seen == 0 ? "" : seen == total - 1 ? " and " : ", ";
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s", sep, names[i]);
        seen++;
    }
    return bmst_error_shared(
        "inf or NaN in %s at %s%s: lower --lr, add --clip-norm or pass --on-nan skip", what, where,
        r->at_min_scale ? " with the fp16 loss scale at its minimum" : "");
}
