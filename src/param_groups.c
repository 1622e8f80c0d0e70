/* --freeze, --freeze-bn and the head of --lr-head (see param_groups.h). */
#include "param_groups.h"

#include <string.h>

#include "error.h"

/* `name` begins with the `len` bytes of prefix, followed by '.' or its end. */
static int has_prefix(const char *name, const char *prefix, size_t len) {
    return strncmp(name, prefix, len) == 0 && (name[len] == '.' || name[len] == '\0');
}

/* Marks the weights under each prefix of the list; every prefix must take
 * at least one. */
static int freeze_prefixes(struct bmst_model *m, const char *list) {
    const char *word = list;
    for (;;) {
        size_t len = strcspn(word, ",");
        if (len == 0)
            return bmst_error("--freeze expects parameter name prefixes separated by commas, "
                              "such as conv1,bn1,layer1, got '%s'",
                              list);
        int matched = 0;
        for (int i = 0; i < m->n_params; i++) {
            struct bmst_param *p = &m->params[i];
            if (p->role != BMST_PARAM_WEIGHT || !has_prefix(p->name, word, len)) continue;
            p->frozen = 1;
            matched++;
        }
        if (!matched)
            return bmst_error("--freeze: '%.*s' matches no parameter of %s (its first is '%s')",
                              (int)len, word, m->arch, m->n_params ? m->params[0].name : "none");
        if (!word[len]) return 0;
        word += len + 1;
    }
}

/* A batch norm whose weight and bias are frozen keeps its statistics too. */
static void freeze_statistics(struct bmst_model *m, const struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->kind != BMST_OP_BN || bmst_model_trains(m, n->param[0]) ||
            bmst_model_trains(m, n->param[1]))
            continue;
        m->params[n->param[2]].frozen = m->params[n->param[3]].frozen = 1;
    }
}

/* Frozen weights first, each group in the order of registration (forward
 * order, which the all-reduce's buckets rely on for the trainable ones). */
static void place_frozen_first(struct bmst_model *m) {
    size_t offset = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < m->n_params; i++) {
            struct bmst_param *p = &m->params[i];
            if (p->role != BMST_PARAM_WEIGHT || p->frozen != (pass == 0)) continue;
            p->offset = offset;
            offset += p->count;
        }
        if (pass == 0) m->n_frozen = offset;
    }
    BMST_ASSERT(offset == m->n_weights);
}

/* The fully connected layer producing `value`, when one does. */
static void mark_head(struct bmst_model *m, const struct bmst_graph *g, int value) {
    if (value < 0) return;
    const struct bmst_node *n = &g->nodes[g->values[value].producer];
    if (n->kind != BMST_OP_FC) return;
    for (int i = 0; i < 2; i++)
        m->params[n->param[i]].head = 1;
}

int bmst_param_groups_apply(struct bmst_model *m, const struct bmst_graph *g, const char *freeze,
                            int freeze_bn) {
    BMST_ASSERT(!m->allocated && g->training);
    mark_head(m, g, g->logits);
    mark_head(m, g, g->aux_logits);
    if (!freeze || !*freeze) return 0;
    if (freeze_prefixes(m, freeze) != 0) return -1;
    if (freeze_bn) freeze_statistics(m, g);
    place_frozen_first(m);
    if (m->n_frozen == m->n_weights)
        return bmst_error("--freeze %s freezes every parameter of %s: nothing would train", freeze,
                          m->arch);
    return 0;
}

void bmst_param_groups_frozen(const struct bmst_model *m, int *tensors, size_t *numbers) {
    *tensors = 0;
    *numbers = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (p->role != BMST_PARAM_WEIGHT || !p->frozen) continue;
        (*tensors)++;
        *numbers += p->count;
    }
}
