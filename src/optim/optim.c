/* The optimizer's life: set up for a model, its state and decay mask
 * allocated in the engine's plan, the step (clipping, the count, the kind's
 * fused pass), and the --no-decay words. The kinds themselves are sgd.c,
 * adam.c and adamw.c. */
#include "optim/optim.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void bmst_optim_config_defaults(struct bmst_optim_config *c) {
    *c = (struct bmst_optim_config){.kind = 0,
                                    .momentum = 0.9f,
                                    .beta1 = 0.9,
                                    .beta2 = 0.999,
                                    .eps = 1e-8f,
                                    .weight_decay = 5e-4f,
                                    .lr_head = -1.0f};
}

int bmst_optim_init(struct bmst_optim *o, struct bmst_model *m, const struct bmst_optim_config *c) {
    memset(o, 0, sizeof *o);
    const struct bmst_optim_type *type = bmst_optim_type_of(c->kind);
    BMST_ASSERT(type != NULL && type->n_state <= BMST_OPTIM_MAX_STATE);
    if (!type->supported(m->be))
        return bmst_error("--optimizer %s: the %s backend has no kernel for it", type->name,
                          m->be->name);
    if (c->masked && !m->be->optim.mask_apply)
        return bmst_error("--prune-to: the %s backend has no kernel for the pruning mask",
                          m->be->name);
    o->type = type;
    o->cfg = *c;
    o->model = m;
    return 0;
}

static int has_mask(const struct bmst_optim *o) {
    return o->type && o->cfg.no_decay != 0;
}

size_t bmst_optim_mask_words(const struct bmst_optim *o) {
    size_t words = (o->model->n_weights + 31) / 32;
    return words ? words : 1;
}

static int has_prune_mask(const struct bmst_optim *o) {
    return o->type && o->cfg.masked;
}

size_t bmst_optim_state_count(const struct bmst_optim *o) {
    return o->model->n_weights - o->model->n_frozen;
}

size_t bmst_optim_bytes(const struct bmst_optim *o) {
    if (!o->type) return 0;
    size_t n = o->model->n_weights;
    return (size_t)o->type->n_state * bmst_optim_state_count(o) * sizeof(float) +
           (has_mask(o) ? n : 0) +
           (has_prune_mask(o) ? bmst_optim_mask_words(o) * sizeof(uint32_t) : 0);
}

/* The trainable weights (after the frozen ones) in runs of one rate: the
 * head's parameters at --lr-head's, the others at --lr's. They are in
 * registration order, which is their order in the layout. */
static void make_ranges(struct bmst_optim *o) {
    const struct bmst_model *m = o->model;
    const struct bmst_optim_config *c = &o->cfg;
    float head =
        c->lr_head >= 0.0f && c->lr_peak > 0.0f ? (float)((double)c->lr_head / c->lr_peak) : 1.0f;
    o->n_ranges = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (!bmst_model_trains(m, i)) continue;
        float scale = p->head ? head : 1.0f;
        struct bmst_optim_range *last = o->n_ranges ? &o->ranges[o->n_ranges - 1] : NULL;
        if (last && last->lr_scale == scale && last->begin + last->count == p->offset) {
            last->count += p->count;
            continue;
        }
        BMST_ASSERT(o->n_ranges < BMST_OPTIM_MAX_RANGES);
        o->ranges[o->n_ranges++] = (struct bmst_optim_range){p->offset, p->count, scale};
    }
}

int bmst_optim_allocations(const struct bmst_optim *o) {
    return o->type ? o->type->n_state + has_mask(o) + has_prune_mask(o) : 0;
}

/* A batch norm's weight and bias are the parameters beside which it keeps
 * running statistics (X.weight and X.bias with X.running_mean): what
 * PyTorch recipes exempt as "bn". Any other parameter named *.bias is a
 * layer's additive bias. */
static unsigned exemption_kind(const struct bmst_model *m, const struct bmst_param *p) {
    const char *dot = strrchr(p->name, '.');
    if (!dot) return 0;
    char stats[BMST_PARAM_NAME_MAX + 16];
    snprintf(stats, sizeof stats, "%.*s.running_mean", (int)(dot - p->name), p->name);
    if (bmst_model_find(m, stats) >= 0) return BMST_NO_DECAY_BN;
    return strcmp(dot, ".bias") == 0 ? BMST_NO_DECAY_BIAS : 0;
}

/* One byte per weight: 0 where --no-decay exempts its parameter. */
static void write_mask(struct bmst_optim *o) {
    struct bmst_model *m = o->model;
    unsigned char *host = bmst_xmalloc(m->n_weights ? m->n_weights : 1);
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (p->role != BMST_PARAM_WEIGHT) continue;
        int exempt = (exemption_kind(m, p) & o->cfg.no_decay) != 0;
        memset(host + p->offset, exempt ? 0 : 1, p->count);
    }
    m->be->to_device(m->be, o->decay, host, m->n_weights);
    free(host);
}

int bmst_optim_allocate(struct bmst_optim *o) {
    if (!o->type) return 0;
    struct bmst_backend *be = o->model->be;
    size_t n = o->model->n_weights, held = bmst_optim_state_count(o);
    size_t bytes = (held ? held : 1) * sizeof(float);
    o->first = o->model->n_frozen;
    make_ranges(o);
    for (int i = 0; i < o->type->n_state; i++) {
        o->state[i] = be->alloc(be, bytes);
        if (!o->state[i])
            return bmst_error("out of memory for the %s state of %zu parameters", o->type->name,
                              held);
        be->zero(be, o->state[i], held * sizeof(float));
    }
    if (has_mask(o)) {
        o->decay = be->alloc(be, n ? n : 1);
        if (!o->decay) return bmst_error("out of memory for the --no-decay mask");
        write_mask(o);
    }
    if (has_prune_mask(o)) {
        size_t bytes = bmst_optim_mask_words(o) * sizeof(uint32_t);
        o->mask = be->alloc(be, bytes);
        if (!o->mask) return bmst_error("out of memory for the pruning mask");
        uint32_t *ones = bmst_xmalloc(bytes);
        memset(ones, 0xff, bytes);
        be->to_device(be, o->mask, ones, bytes);
        free(ones);
    }
    o->steps = 0;
    return 0;
}

void bmst_optim_free(struct bmst_optim *o) {
    if (o->type) {
        struct bmst_backend *be = o->model->be;
        for (int i = 0; i < o->type->n_state; i++)
            if (o->state[i]) be->free(be, o->state[i]);
        if (o->decay) be->free(be, o->decay);
        if (o->mask) be->free(be, o->mask);
    }
    memset(o, 0, sizeof *o);
}

void bmst_optim_step(struct bmst_optim *o, float lr, float clip_norm, double grad_norm,
                     float *nonfinite) {
    struct bmst_model *m = o->model;
    struct bmst_backend *be = m->be;
    /* as torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) */
    if (clip_norm > 0.0f && grad_norm > clip_norm)
        be->scale(be, bmst_optim_state_count(o), m->grads + o->first,
                  (float)(clip_norm / (grad_norm + 1e-6)));
    o->steps++; /* PyTorch counts the step before it takes it */
    /* each pass sets the flag: what an earlier range found is kept aside */
    float found = 0.0f;
    for (int i = 0; i < o->n_ranges; i++) {
        const struct bmst_optim_range *r = &o->ranges[i];
        if (i > 0) {
            float flag;
            be->to_host(be, &flag, nonfinite, sizeof flag);
            if (flag != 0.0f) found = 1.0f;
        }
        o->type->update(o, r, (float)((double)lr * r->lr_scale), nonfinite);
    }
    if (found != 0.0f) be->to_device(be, nonfinite, &found, sizeof found);
}

void bmst_optim_pointers(const struct bmst_optim *o, const struct bmst_optim_range *r,
                         struct bmst_optim_span *s) {
    const struct bmst_model *m = o->model;
    BMST_ASSERT(r->begin >= o->first && r->begin + r->count <= m->n_weights);
    void *act = bmst_optim_compute_copy(o);
    s->weights = m->weights + r->begin;
    s->grads = m->grads + r->begin;
    for (int i = 0; i < BMST_OPTIM_MAX_STATE; i++)
        s->state[i] = o->state[i] ? o->state[i] + (r->begin - o->first) : NULL;
    s->act = act ? (char *)act + r->begin * m->be->act_bytes : NULL;
    s->decay = o->decay ? o->decay + r->begin : NULL;
}

void bmst_optim_apply_mask(struct bmst_optim *o) {
    struct bmst_model *m = o->model;
    BMST_ASSERT(o->mask != NULL && o->first == 0); /* --prune-to refuses --freeze */
    m->be->optim.mask_apply(m->be, m->n_weights, o->mask, m->weights, o->state[0], o->state[1],
                            bmst_optim_compute_copy(o));
}

void *bmst_optim_compute_copy(const struct bmst_optim *o) {
    return o->model->weights_act != o->model->weights ? o->model->weights_act : NULL;
}

int bmst_optim_hypers(const struct bmst_optim_config *c, struct bmst_optim_hyper *out) {
    const struct bmst_optim_type *type = bmst_optim_type_of(c->kind);
    BMST_ASSERT(type != NULL);
    int n = type->hypers(c, out);
    BMST_ASSERT(n <= BMST_OPTIM_MAX_HYPERS);
    return n;
}

static const char *const no_decay_names[] = {"none", "bn", "bias", "bn,bias"};

int bmst_no_decay_parse(const char *text, unsigned *bits) {
    *bits = 0;
    if (strcmp(text, "none") == 0) return 0;
    const char *word = text;
    for (;;) {
        size_t len = strcspn(word, ",");
        if (len == 2 && strncmp(word, "bn", 2) == 0)
            *bits |= BMST_NO_DECAY_BN;
        else if (len == 4 && strncmp(word, "bias", 4) == 0)
            *bits |= BMST_NO_DECAY_BIAS;
        else
            return bmst_error("--no-decay expects bn, bias, bn,bias or none, got '%s'", text);
        if (!word[len]) return 0;
        word += len + 1;
    }
}

const char *bmst_no_decay_name(unsigned bits) {
    return no_decay_names[bits & (BMST_NO_DECAY_BN | BMST_NO_DECAY_BIAS)];
}
