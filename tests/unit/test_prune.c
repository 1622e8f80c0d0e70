/* Gradual pruning (src/prune.c): the cubic schedule against Zhu & Gupta's
 * formula worked out here step by step; the mask chosen in each scope
 * against a full sort by (|w|, position); and real optimizer steps on
 * resnet20 (SGD with momentum and weight decay, Adam, and an fp16 compute
 * copy) after each of which every layer holds the schedule's count of
 * pruned weights, and they, their state and their compute copy are exactly
 * zero, while batch norm and biases are never pruned. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "error.h"
#include "prune.h"
#include "rng.h"

/* s_t = S + (s_0 - S) * (1 - (t - t0) / (t1 - t0))^3 with s_0 = 0, taken at
 * every update (t0, t0 + N, ..., and t1) and held until the next. */
static void test_schedule(void) {
    const struct bmst_prune_plan plan = {
        .to = 0.7, .t0 = 10, .t1 = 110, .every = 7, .scope = BMST_PRUNE_GLOBAL};
    double held = 0.0;
    int wrong = 0, updates = 0;
    for (long t = 0; t <= 150; t++) {
        int update = t >= 10 && t <= 110 && ((t - 10) % 7 == 0 || t == 110);
        if (update) {
            double frac = (double)(t - 10) / 100.0;
            held = 0.7 + (0.0 - 0.7) * pow(1.0 - frac, 3.0);
            updates++;
        }
        wrong += bmst_prune_due(&plan, t) != update;
        if (fabs(bmst_prune_target(&plan, t) - held) > 1e-12) {
            if (wrong++ < 3)
                fprintf(stderr, "t %ld: schedule %.9f, formula %.9f\n", t,
                        bmst_prune_target(&plan, t), held);
        }
    }
    CHECK(wrong == 0, "%d steps where the schedule differs from the formula", wrong);
    CHECK(updates == 16 && bmst_prune_target(&plan, 150) == 0.7, "%d updates, final %g", updates,
          bmst_prune_target(&plan, 150));
    /* epochs to steps: fractions allowed, --prune-end defaults to --epochs */
    struct bmst_prune_config c;
    bmst_prune_config_defaults(&c);
    c.to = 0.5f;
    c.start = 0.5f;
    struct bmst_prune_plan p;
    bmst_prune_plan_make(&c, 3, 40, &p);
    CHECK(p.t0 == 20 && p.t1 == 120 && p.every == 100, "plan %ld..%ld every %ld", p.t0, p.t1,
          p.every);
    c.end = 0.5f; /* one shot: the final sparsity at once */
    bmst_prune_plan_make(&c, 3, 40, &p);
    CHECK(bmst_prune_target(&p, 19) == 0.0 && bmst_prune_due(&p, 20) &&
              bmst_prune_target(&p, 20) == 0.5f,
          "one-shot pruning at step 20: %g", bmst_prune_target(&p, 20));
}

/* resnet20 on 8x8x3 with a pruning mask. */
static void open_engine(struct bmst_engine *e, const char *optimizer, enum bmst_dtype precision) {
    struct bmst_engine_config ec = {
        .device = BMST_DEVICE_CHOICE_CPU,
        .precision = precision,
        .threads = 2,
        .spec = {.arch = "resnet20", .h = 8, .w = 8, .c = 3, .classes = 4, .mix_at = 2},
        .train_batch = 8,
        .merge = 1,
        .seed = 5};
    bmst_optim_config_defaults(&ec.optim);
    ec.optim.kind = bmst_optim_kind_find(optimizer);
    ec.optim.weight_decay = 0.05f; /* large, so that decay alone would move a weight */
    ec.optim.masked = 1;
    CHECK(bmst_engine_open(e, &ec) == 0, "%s", bmst_last_error());
}

static int kept(const uint32_t *mask, size_t i) {
    return (mask[i / 32] >> (i % 32)) & 1u;
}

struct ranked {
    float magnitude;
    size_t position;
};

static int by_magnitude(const void *a, const void *b) {
    const struct ranked *x = a, *y = b;
    if (x->magnitude != y->magnitude) return x->magnitude < y->magnitude ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

/* Marks 0 in `want` the positions of the `count` smallest (by magnitude,
 * then position) of parameter `only`'s weights, or of all prunable weights
 * (only < 0), by a full sort. */
static void expect_smallest(const struct bmst_model *m, const float *w, int only, size_t count,
                            unsigned char *want) {
    struct ranked *r = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof *r);
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (!bmst_prune_prunable(p) || (only >= 0 && i != only)) continue;
        for (size_t j = p->offset; j < p->offset + p->count; j++)
            r[n++] = (struct ranked){fabsf(w[j]), j};
    }
    qsort(r, n, sizeof *r, by_magnitude);
    for (size_t k = 0; k < count && k < n; k++)
        want[r[k].position] = 0;
    free(r);
}

/* Weights drawn from 9 levels, so that many tie: the mask must be the full
 * sort's, ties taken in position order, over all layers (global) or in each. */
static void test_choice(enum bmst_prune_scope scope) {
    struct bmst_engine e;
    open_engine(&e, "sgd", BMST_F32);
    struct bmst_model *m = &e.model;
    float *w = bmst_xmalloc(m->n_weights * sizeof(float));
    struct bmst_rng rng = bmst_rng_make(3, 0, 0);
    for (size_t i = 0; i < m->n_weights; i++)
        w[i] = (float)((int)(bmst_rng_u64(&rng) % 9) - 4) * 0.25f;
    m->be->to_device(m->be, m->weights, w, m->n_weights * sizeof(float));
    const struct bmst_prune_plan plan = {.to = 0.6, .t0 = 0, .t1 = 1, .every = 1, .scope = scope};
    struct bmst_prune p;
    bmst_prune_init(&p, &e.optim, &plan);
    bmst_prune_choose(&p, 0.45);
    unsigned char *want = bmst_xmalloc(m->n_weights);
    memset(want, 1, m->n_weights);
    if (scope == BMST_PRUNE_GLOBAL) {
        expect_smallest(m, w, -1, (size_t)llround(0.45 * (double)p.prunable), want);
    } else {
        for (int i = 0; i < m->n_params; i++)
            if (bmst_prune_prunable(&m->params[i]))
                expect_smallest(m, w, i, (size_t)llround(0.45 * (double)m->params[i].count), want);
    }
    size_t wrong = 0;
    for (size_t i = 0; i < m->n_weights; i++)
        wrong += kept(p.host, i) != want[i];
    CHECK(wrong == 0, "%s scope: %zu weights chosen unlike the full sort",
          bmst_prune_scope_name(scope), wrong);
    /* the scopes differ: per layer, every layer at 45%; globally, not */
    int off = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *q = &m->params[i];
        if (!bmst_prune_prunable(q)) continue;
        size_t pruned = 0;
        for (size_t j = q->offset; j < q->offset + q->count; j++)
            pruned += !kept(p.host, j);
        off += pruned != (size_t)llround(0.45 * (double)q->count);
    }
    CHECK(scope == BMST_PRUNE_LAYER ? off == 0 : off > 0, "%s scope: %d layers off 45%%",
          bmst_prune_scope_name(scope), off);
    bmst_prune_free(&p);
    free(want), free(w);
    bmst_engine_close(&e);
}

/* Steps with random gradients: after each, every layer's pruned count is
 * the schedule's (layer scope: exactly; global: the total), and the pruned
 * weights, their state and compute copy are +0 exactly. */
static void test_steps(const char *optimizer, enum bmst_dtype precision,
                       enum bmst_prune_scope scope) {
    struct bmst_engine e;
    open_engine(&e, optimizer, precision);
    struct bmst_model *m = &e.model;
    struct bmst_optim *o = &e.optim;
    struct bmst_backend *be = m->be;
    const struct bmst_prune_plan plan = {.to = 0.7, .t0 = 2, .t1 = 14, .every = 3, .scope = scope};
    struct bmst_prune p;
    bmst_prune_init(&p, o, &plan);
    size_t n = m->n_weights;
    float *g = bmst_xmalloc(n * sizeof(float)), *w = bmst_xmalloc(n * sizeof(float));
    float *s[2] = {bmst_xmalloc(n * sizeof(float)), bmst_xmalloc(n * sizeof(float))};
    float *act = bmst_xmalloc(n * sizeof(float)); /* the CPU's copy of any type */
    struct bmst_rng rng = bmst_rng_make(9, 0, 0);
    int off_count = 0, not_zero = 0, exempt_pruned = 0;
    float flag;
    for (long t = 1; t <= 18; t++) {
        for (size_t i = 0; i < n; i++)
            g[i] = (float)bmst_rng_normal(&rng);
        be->to_device(be, m->grads, g, n * sizeof(float));
        bmst_optim_step(o, 0.05f, 0.0f, 0.0, &flag);
        bmst_prune_after_step(&p, t);
        double target = bmst_prune_target(&plan, t);
        be->to_host(be, w, m->weights, n * sizeof(float));
        for (int k = 0; k < o->type->n_state; k++)
            be->to_host(be, s[k], o->state[k], n * sizeof(float));
        if (m->weights_act != m->weights) be->to_host(be, act, m->weights_act, n * sizeof(float));
        size_t total = 0;
        for (int i = 0; i < m->n_params; i++) {
            const struct bmst_param *q = &m->params[i];
            if (q->role != BMST_PARAM_WEIGHT) continue;
            size_t pruned = 0;
            for (size_t j = q->offset; j < q->offset + q->count; j++) {
                if (kept(p.host, j)) continue;
                pruned++;
                uint32_t bits;
                memcpy(&bits, &w[j], sizeof bits);
                int zero = bits == 0;
                for (int k = 0; k < o->type->n_state; k++)
                    zero &= s[k][j] == 0.0f;
                if (m->weights_act != m->weights) zero &= act[j] == 0.0f && !signbit(act[j]);
                not_zero += !zero;
            }
            /* batch norms (bnN, downsample.1) and biases, by name */
            if (strstr(q->name, "bn") || strstr(q->name, "downsample.1") ||
                strstr(q->name, ".bias")) {
                exempt_pruned += pruned != 0;
                continue;
            }
            total += pruned;
            if (scope == BMST_PRUNE_LAYER && fabs((double)pruned - target * (double)q->count) > 1.0)
                off_count++;
        }
        if (scope == BMST_PRUNE_GLOBAL && fabs((double)total - target * (double)p.prunable) > 1.0)
            off_count++;
        if (fabs(bmst_prune_sparsity(&p) - (double)total / (double)p.prunable) > 1e-12) off_count++;
    }
    const char *what = precision == BMST_F16 ? "fp16" : "fp32";
    CHECK(off_count == 0, "%s %s %s: %d counts off the schedule", optimizer, what,
          bmst_prune_scope_name(scope), off_count);
    CHECK(not_zero == 0, "%s %s: %d pruned weights, states or copies not exactly zero", optimizer,
          what, not_zero);
    CHECK(exempt_pruned == 0, "%s: %d batch-norm or bias tensors pruned", optimizer, exempt_pruned);
    CHECK(fabs(bmst_prune_sparsity(&p) - 0.7) < 1e-4, "%s: final sparsity %g", optimizer,
          bmst_prune_sparsity(&p));
    bmst_prune_free(&p);
    free(g), free(w), free(s[0]), free(s[1]), free(act);
    bmst_engine_close(&e);
}

int main(void) {
    test_schedule();
    test_choice(BMST_PRUNE_GLOBAL);
    test_choice(BMST_PRUNE_LAYER);
    test_steps("sgd", BMST_F32, BMST_PRUNE_LAYER);
    test_steps("sgd", BMST_F32, BMST_PRUNE_GLOBAL);
    test_steps("adamw", BMST_F32, BMST_PRUNE_LAYER);
    test_steps("sgd", BMST_F16, BMST_PRUNE_GLOBAL);
    return check_finish("prune");
}
