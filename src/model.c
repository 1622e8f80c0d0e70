/* The parameter table and its flat buffers. */
#include "model.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "rng.h"

void bmst_model_init(struct bmst_model *m, struct bmst_backend *be, const char *arch) {
    memset(m, 0, sizeof *m);
    m->be = be;
    snprintf(m->arch, sizeof m->arch, "%s", arch);
}

void bmst_model_free(struct bmst_model *m) {
    if (m->weights) m->be->free(m->be, m->weights);
    if (m->grads) m->be->free(m->be, m->grads);
    if (m->buffers) m->be->free(m->be, m->buffers);
    if (m->weights_act && m->weights_act != m->weights) m->be->free(m->be, m->weights_act);
    free(m->params);
    memset(m, 0, sizeof *m);
}

int bmst_model_find(const struct bmst_model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return i;
    return -1;
}

void bmst_model_init_trunc_normal(struct bmst_model *m, const char *name, float std) {
    int i = bmst_model_find(m, name);
    BMST_ASSERT(i >= 0 && std > 0.0f);
    m->params[i].init = BMST_INIT_TRUNC_NORMAL;
    m->params[i].init_std = std;
}

int bmst_model_param(struct bmst_model *m, const char *name, enum bmst_param_role role,
                     enum bmst_param_init init, int ndim, const int *dims, int conv_krsc,
                     int fan_in) {
    int found = bmst_model_find(m, name);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)dims[i];
    if (found >= 0) {
        /* a second graph of the same network must ask for the same tensor */
        BMST_ASSERT(m->params[found].count == count && m->params[found].role == role);
        return found;
    }
    BMST_ASSERT(!m->allocated && ndim >= 1 && ndim <= 4);
    BMST_ASSERT(strlen(name) < BMST_PARAM_NAME_MAX);
    if (m->n_params == m->cap_params) {
        m->cap_params = m->cap_params ? 2 * m->cap_params : 64;
        struct bmst_param *grown = realloc(m->params, (size_t)m->cap_params * sizeof *grown);
        BMST_ASSERT(grown != NULL);
        m->params = grown;
    }
    struct bmst_param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->role = role;
    p->init = init;
    p->count = count;
    p->ndim = ndim;
    memcpy(p->dims, dims, (size_t)ndim * sizeof *dims);
    p->conv_krsc = conv_krsc;
    p->fan_in = fan_in;
    if (role == BMST_PARAM_WEIGHT) {
        p->offset = m->n_weights;
        m->n_weights += count;
    } else {
        p->offset = m->n_buffers;
        m->n_buffers += count;
    }
    return m->n_params++;
}

static float *alloc_floats(struct bmst_backend *be, size_t n) {
    return be->alloc(be, (n ? n : 1) * sizeof(float));
}

int bmst_model_allocate(struct bmst_model *m) {
    BMST_ASSERT(!m->allocated);
    m->weights = alloc_floats(m->be, m->n_weights);
    m->grads = alloc_floats(m->be, m->n_weights);
    m->buffers = alloc_floats(m->be, m->n_buffers);
    m->weights_act = m->be->act_dtype == BMST_F32
                         ? (void *)m->weights
                         : m->be->alloc(m->be, (m->n_weights ? m->n_weights : 1) * m->be->act_bytes);
    if (!m->weights || !m->grads || !m->buffers || !m->weights_act)
        return bmst_error("out of memory for %zu parameters of %s", m->n_weights, m->arch);
    m->allocated = 1;
    return 0;
}

/* Values of one parameter on the host, drawn from its own stream so adding a
 * layer elsewhere does not change how the others start. */
static void fill_param(const struct bmst_param *p, int index, uint64_t seed, float *out) {
    struct bmst_rng rng = bmst_rng_make(seed, BMST_RNG_INIT, (uint64_t)index);
    double bound = p->fan_in > 0 ? 1.0 / sqrt((double)p->fan_in) : 0.0;
    switch (p->init) {
    case BMST_INIT_CONV_KAIMING: {
        /* PyTorch dims [k, c, r, s]: fan_out = k * r * s */
        double fan_out = (double)p->dims[0] * p->dims[2] * p->dims[3];
        double std = sqrt(2.0 / fan_out);
        for (size_t i = 0; i < p->count; i++) out[i] = (float)(std * bmst_rng_normal(&rng));
        break;
    }
    case BMST_INIT_FC_WEIGHT:
    case BMST_INIT_FC_BIAS:
        for (size_t i = 0; i < p->count; i++)
            out[i] = (float)(bound * (2.0 * bmst_rng_uniform(&rng) - 1.0));
        break;
    case BMST_INIT_TRUNC_NORMAL:
        for (size_t i = 0; i < p->count; i++) {
            double v;
            do {
                v = p->init_std * bmst_rng_normal(&rng);
            } while (v < -2.0 || v > 2.0);
            out[i] = (float)v;
        }
        break;
    case BMST_INIT_ONES:
        for (size_t i = 0; i < p->count; i++) out[i] = 1.0f;
        break;
    case BMST_INIT_ZEROS:
        memset(out, 0, p->count * sizeof *out);
        break;
    }
}

void bmst_model_initialize(struct bmst_model *m, uint64_t seed) {
    BMST_ASSERT(m->allocated);
    float *host_w = bmst_xcalloc(m->n_weights ? m->n_weights : 1, sizeof(float));
    float *host_b = bmst_xcalloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        /* drawn in PyTorch's element order; the KRSC copy is a permutation of it,
         * which keeps the distribution and makes no difference to the stream */
        fill_param(p, i, seed, (p->role == BMST_PARAM_WEIGHT ? host_w : host_b) + p->offset);
    }
    m->be->to_device(m->be, m->weights, host_w, m->n_weights * sizeof(float));
    m->be->to_device(m->be, m->buffers, host_b, m->n_buffers * sizeof(float));
    m->be->zero(m->be, m->grads, m->n_weights * sizeof(float));
    free(host_w);
    free(host_b);
    bmst_model_refresh_act(m);
}

void bmst_model_set(struct bmst_model *m, const float *weights, const float *buffers) {
    m->be->to_device(m->be, m->weights, weights, m->n_weights * sizeof(float));
    m->be->to_device(m->be, m->buffers, buffers, m->n_buffers * sizeof(float));
    bmst_model_refresh_act(m);
}

void bmst_model_refresh_act(struct bmst_model *m) {
    if (m->weights_act != m->weights)
        m->be->cast_weights(m->be, m->n_weights, m->weights, m->weights_act);
}

const void *bmst_model_act_data(const struct bmst_model *m, int param) {
    const struct bmst_param *p = &m->params[param];
    BMST_ASSERT(p->role == BMST_PARAM_WEIGHT);
    return (const char *)m->weights_act + p->offset * m->be->act_bytes;
}

int bmst_model_trains(const struct bmst_model *m, int param) {
    return param >= 0 && m->params[param].role == BMST_PARAM_WEIGHT && !m->params[param].frozen;
}

float *bmst_model_data(const struct bmst_model *m, int param) {
    const struct bmst_param *p = &m->params[param];
    return (p->role == BMST_PARAM_WEIGHT ? m->weights : m->buffers) + p->offset;
}

float *bmst_model_grad(const struct bmst_model *m, int param) {
    const struct bmst_param *p = &m->params[param];
    return p->role == BMST_PARAM_WEIGHT ? m->grads + p->offset : NULL;
}

size_t bmst_model_bytes(const struct bmst_model *m) {
    size_t act_copy = m->be->act_dtype == BMST_F32 ? 0 : m->n_weights * m->be->act_bytes;
    return (2 * m->n_weights + m->n_buffers) * sizeof(float) + act_copy;
}

int bmst_model_allocations(const struct bmst_model *m) {
    return m->be->act_dtype == BMST_F32 ? 3 : 4; /* under fp32 the weights are the copy */
}
