/* Gradual magnitude pruning (prune.h): the cubic schedule, the choice of the
 * mask from the weights' magnitudes, and its application after each step. */
#include "prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void bmst_prune_config_defaults(struct bmst_prune_config *c) {
    *c = (struct bmst_prune_config){
        .to = 0.0f, .start = 0.0f, .end = -1.0f, .every = 100, .scope = BMST_PRUNE_GLOBAL};
}

int bmst_prune_scope_parse(const char *text, enum bmst_prune_scope *scope) {
    if (strcmp(text, "global") == 0)
        *scope = BMST_PRUNE_GLOBAL;
    else if (strcmp(text, "layer") == 0)
        *scope = BMST_PRUNE_LAYER;
    else
        return bmst_error("--prune-scope expects global or layer, got '%s'", text);
    return 0;
}

const char *bmst_prune_scope_name(enum bmst_prune_scope scope) {
    return scope == BMST_PRUNE_LAYER ? "layer" : "global";
}

void bmst_prune_plan_make(const struct bmst_prune_config *c, int epochs, long steps_per_epoch,
                          struct bmst_prune_plan *plan) {
    double end = c->end < 0.0f ? (double)epochs : (double)c->end;
    plan->to = c->to;
    plan->t0 = lround((double)c->start * (double)steps_per_epoch);
    plan->t1 = lround(end * (double)steps_per_epoch);
    plan->every = c->every;
    plan->scope = c->scope;
}

int bmst_prune_due(const struct bmst_prune_plan *plan, long t) {
    return t >= plan->t0 && t <= plan->t1 && ((t - plan->t0) % plan->every == 0 || t == plan->t1);
}

double bmst_prune_target(const struct bmst_prune_plan *plan, long t) {
    if (t < plan->t0) return 0.0;
    if (t >= plan->t1) return plan->to;
    long u = plan->t0 + (t - plan->t0) / plan->every * plan->every;
    double left = 1.0 - (double)(u - plan->t0) / (double)(plan->t1 - plan->t0);
    return plan->to * (1.0 - left * left * left);
}

int bmst_prune_prunable(const struct bmst_param *p) {
    return p->role == BMST_PARAM_WEIGHT && p->ndim >= 2;
}

void bmst_prune_init(struct bmst_prune *p, struct bmst_optim *o,
                     const struct bmst_prune_plan *plan) {
    const struct bmst_model *m = o->model;
    BMST_ASSERT(o->mask != NULL && m->n_weights < ((size_t)1 << 32));
    memset(p, 0, sizeof *p);
    p->optim = o;
    p->plan = *plan;
    for (int i = 0; i < m->n_params; i++)
        if (bmst_prune_prunable(&m->params[i])) p->prunable += m->params[i].count;
    size_t words = bmst_optim_mask_words(o);
    p->host = bmst_xmalloc(words * sizeof(uint32_t));
    p->weights = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    p->keys = bmst_xmalloc((p->prunable ? p->prunable : 1) * sizeof(uint64_t));
    m->be->to_host(m->be, p->host, o->mask, words * sizeof(uint32_t));
}

void bmst_prune_free(struct bmst_prune *p) {
    free(p->host);
    free(p->weights);
    free(p->keys);
    memset(p, 0, sizeof *p);
}

static uint64_t key_of(float w, size_t position) {
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    /* |w|'s bits order as its value does; the position breaks ties */
    return (uint64_t)(bits & 0x7fffffffu) << 32 | (uint64_t)position;
}

static void swap_keys(uint64_t *a, uint64_t *b) {
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

static uint64_t median3(uint64_t a, uint64_t b, uint64_t c) {
    if (a > b) {
        uint64_t t = a;
        a = b;
        b = t;
    }
    return c <= a ? a : c >= b ? b : c;
}

/* The k-th smallest (0-based) of keys[0, n), which it reorders (Wirth's
 * selection with a median-of-three pivot): the keys are distinct, so the
 * result is the same wherever it runs. */
static uint64_t select_kth(uint64_t *keys, size_t n, size_t k) {
    int64_t lo = 0, hi = (int64_t)n - 1, want = (int64_t)k;
    while (lo < hi) {
        uint64_t pivot = median3(keys[lo], keys[lo + (hi - lo) / 2], keys[hi]);
        int64_t i = lo, j = hi;
        do {
            while (keys[i] < pivot)
                i++;
            while (pivot < keys[j])
                j--;
            if (i <= j) {
                swap_keys(&keys[i], &keys[j]);
                i++;
                j--;
            }
        } while (i <= j);
        if (j < want) lo = i;
        if (want < i) hi = j;
    }
    return keys[k];
}

static void set_bit(uint32_t *bits, size_t i, int keep) {
    if (keep)
        bits[i / 32] |= 1u << (i % 32);
    else
        bits[i / 32] &= ~(1u << (i % 32));
}

/* Prunes the `count` smallest of the group whose keys are keys[0, n): every
 * element whose key is at most the count-th smallest. */
static void prune_group(struct bmst_prune *p, uint64_t *keys, size_t n, size_t count) {
    if (count == 0) return;
    uint64_t last = select_kth(keys, n, count - 1);
    for (size_t i = 0; i < n; i++)
        if (keys[i] <= last) set_bit(p->host, (size_t)(keys[i] & 0xffffffffu), 0);
}

static size_t pruned_count(double sparsity, size_t n) {
    size_t count = (size_t)llround(sparsity * (double)n);
    return count < n ? count : n;
}

void bmst_prune_choose(struct bmst_prune *p, double sparsity) {
    struct bmst_model *m = p->optim->model;
    struct bmst_backend *be = m->be;
    size_t words = bmst_optim_mask_words(p->optim);
    be->to_host(be, p->weights, m->weights, m->n_weights * sizeof(float));
    memset(p->host, 0xff, words * sizeof(uint32_t));
    size_t filled = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *q = &m->params[i];
        if (!bmst_prune_prunable(q)) continue;
        uint64_t *group = p->keys + filled;
        for (size_t j = 0; j < q->count; j++)
            group[j] = key_of(p->weights[q->offset + j], q->offset + j);
        filled += q->count;
        if (p->plan.scope == BMST_PRUNE_LAYER)
            prune_group(p, group, q->count, pruned_count(sparsity, q->count));
    }
    if (p->plan.scope == BMST_PRUNE_GLOBAL)
        prune_group(p, p->keys, filled, pruned_count(sparsity, filled));
    be->to_device(be, p->optim->mask, p->host, words * sizeof(uint32_t));
}

void bmst_prune_after_step(struct bmst_prune *p, long t) {
    if (t < p->plan.t0) return; /* nothing pruned yet: the dense run's own bits */
    if (bmst_prune_due(&p->plan, t)) bmst_prune_choose(p, bmst_prune_target(&p->plan, t));
    bmst_optim_apply_mask(p->optim);
}

double bmst_prune_sparsity(const struct bmst_prune *p) {
    const struct bmst_model *m = p->optim->model;
    size_t pruned = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *q = &m->params[i];
        if (!bmst_prune_prunable(q)) continue;
        for (size_t j = q->offset; j < q->offset + q->count; j++)
            pruned += !((p->host[j / 32] >> (j % 32)) & 1u);
    }
    return p->prunable ? (double)pruned / (double)p->prunable : 0.0;
}
