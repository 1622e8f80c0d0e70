/* Recomputation (recompute.h): which nodes backward reruns, where what they
 * produce again is placed, and the reruns themselves. */
#include "recompute.h"

#include <string.h>

#include "error.h"
#include "ops/op.h"

static const char *const names[] = {
    [BMST_RECOMPUTE_NONE] = "none",
    [BMST_RECOMPUTE_BN_RELU] = "bn-relu",
    [BMST_RECOMPUTE_BLOCK] = "block",
};
#define N_MODES (sizeof names / sizeof names[0])

/* What planning needs of each value: the last node reading it in forward,
 * and the last whose backward reads it again (-1: none). */
struct readers {
    int *forward, *backward;
};

static void find_readers(const struct bmst_graph *g, struct readers *r) {
    r->forward = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    r->backward = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    for (int v = 0; v < g->n_values; v++)
        r->forward[v] = r->backward[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            r->forward[n->in[j]] = i;
        for (int j = 0; j < bmst_op(n->kind)->n_saved; j++)
            r->backward[bmst_saved_value(n, j)] = i;
    }
}

/* A value a rerun may produce again: an activation of its own (not a channel
 * prefix of a shared buffer), not read by the host after the step. */
static int reproducible(const struct bmst_graph *g, int v) {
    return g->values[v].buffer < 0 && v != g->logits && v != g->aux_logits;
}

/* Of the candidate nodes in [first, last] (cand[i]), those whose output
 * backward needs: read again by a backward, or read by another such node.
 * They become rerun s, due before the first backward reading what they
 * make; returns 0 when nothing among them is read again. */
static int add_rerun(struct bmst_graph *g, const struct readers *r, const char *cand, int first,
                     int last) {
    int at = -1;
    char *needed = bmst_xcalloc((size_t)g->n_values, 1);
    for (int i = last; i >= first; i--) {
        struct bmst_node *n = &g->nodes[i];
        if (!cand[i] || (r->backward[n->out] < 0 && !needed[n->out])) continue;
        needed[n->out] = 1;
        if (r->backward[n->out] > at) at = r->backward[n->out];
        for (int j = 0; j < n->n_in; j++)
            needed[n->in[j]] = 1;
    }
    if (at >= 0) {
        int s = g->n_reruns++;
        g->reruns = bmst_xrealloc(g->reruns, (size_t)g->n_reruns * sizeof *g->reruns);
        g->reruns[s] = (struct bmst_rerun){first, last, at};
        for (int i = first; i <= last; i++) {
            struct bmst_node *n = &g->nodes[i];
            if (cand[i] && needed[n->out]) {
                n->rerun = s;
                g->values[n->out].recompute = 1;
            }
        }
        for (int i = first; i <= last; i++) {
            const struct bmst_node *n = &g->nodes[i];
            for (int j = 0; n->rerun == s && j < n->n_in; j++)
                if (!g->values[n->in[j]].recompute) g->values[n->in[j]].rerun_input = 1;
        }
    }
    free(needed);
    return at >= 0;
}

/* Every ReLU whose input is a batch norm's output read by it alone, the
 * batch norm's own input being kept: the pair is rerun from that input. */
static void mark_bn_relu(struct bmst_graph *g, const struct readers *r, char *cand) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *relu = &g->nodes[i];
        if (relu->kind != BMST_OP_RELU) continue;
        int v = relu->in[0], b = g->values[v].producer;
        const struct bmst_node *bn = &g->nodes[b];
        if (bn->kind != BMST_OP_BN || r->forward[v] != i || g->values[bn->in[0]].recompute ||
            !reproducible(g, v) || !reproducible(g, relu->out))
            continue;
        cand[b] = cand[i] = 1;
        add_rerun(g, r, cand, b, i);
        cand[b] = cand[i] = 0;
    }
}

/* Every residual block whose ops can all run again: its nodes whose
 * outputs stay inside it are rerun from what enters it. */
static void mark_blocks(struct bmst_graph *g, const struct readers *r, char *cand) {
    for (int first = 0; first < g->n_nodes;) {
        int block = g->nodes[first].block, last = first, rerunnable = 1;
        if (block < 0) {
            first++;
            continue;
        }
        while (last + 1 < g->n_nodes && g->nodes[last + 1].block == block)
            last++;
        for (int i = first; i <= last; i++)
            rerunnable &= bmst_op(g->nodes[i].kind)->rerun;
        for (int i = first; rerunnable && i <= last; i++) {
            int out = g->nodes[i].out;
            cand[i] = r->forward[out] >= 0 && r->forward[out] <= last && reproducible(g, out);
        }
        if (rerunnable) add_rerun(g, r, cand, first, last);
        memset(cand + first, 0, (size_t)(last - first + 1));
        first = last + 1;
    }
}

/* A batch norm that is rerun writes the running statistics of its rerun
 * into its scratch, after the batch's mean and inverse std (ops/bn.c). */
static void widen_bn_scratch(struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        if (n->kind == BMST_OP_BN && n->rerun >= 0)
            n->scratch_bytes = 4 * (size_t)n->desc.bn.c * sizeof(float);
    }
}

int bmst_recompute_mark(struct bmst_graph *g) {
    free(g->reruns);
    g->reruns = NULL;
    g->n_reruns = 0;
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].rerun = -1;
    for (int v = 0; v < g->n_values; v++)
        g->values[v].recompute = g->values[v].rerun_input = 0;
    if (!g->training || g->recompute == BMST_RECOMPUTE_NONE) return 0;
    if (g->recompute == BMST_RECOMPUTE_BLOCK && g->n_blocks == 0)
        return bmst_error("--recompute block reruns residual blocks, and %s has none "
                          "(--recompute bn-relu reruns its batch norms and ReLUs)",
                          g->model->arch);
    struct readers r;
    find_readers(g, &r);
    char *cand = bmst_xcalloc((size_t)g->n_nodes, 1);
    if (g->recompute == BMST_RECOMPUTE_BN_RELU)
        mark_bn_relu(g, &r, cand);
    else
        mark_blocks(g, &r, cand);
    widen_bn_scratch(g);
    free(cand);
    free(r.forward);
    free(r.backward);
    return 0;
}

/* The step of rerun s: just before node `at`'s backward. */
static int rerun_step(const struct bmst_graph *g, int steps, int s) {
    return steps - 1 - g->reruns[s].at;
}

void bmst_recompute_extend(const struct bmst_graph *g, int steps, int *last_use) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->rerun < 0) continue;
        int step = rerun_step(g, steps, n->rerun);
        for (int j = 0; j < n->n_in; j++)
            if (!g->values[n->in[j]].recompute && last_use[n->in[j]] < step)
                last_use[n->in[j]] = step;
    }
}

int bmst_recompute_span(const struct bmst_graph *g, int steps, const int *last_backward, int v,
                        int *first, int *last) {
    const struct bmst_value *val = &g->values[v];
    if (!val->recompute) return 0;
    *first = rerun_step(g, steps, g->nodes[val->producer].rerun);
    *last = last_backward[v] > *first ? last_backward[v] : *first;
    return 1;
}

void bmst_recompute_run(struct bmst_exec *x, int i) {
    const struct bmst_graph *g = x->graph;
    for (int s = 0; s < g->n_reruns; s++) {
        const struct bmst_rerun *r = &g->reruns[s];
        if (r->at != i) continue;
        x->rerunning = 1;
        for (int k = r->first; k <= r->last; k++)
            if (g->nodes[k].rerun == s) bmst_op(g->nodes[k].kind)->forward(x, &g->nodes[k]);
        x->rerunning = 0;
    }
}

const char *bmst_recompute_name(enum bmst_recompute mode) {
    return names[mode];
}

int bmst_recompute_parse(const char *text, enum bmst_recompute *mode) {
    for (size_t i = 0; i < N_MODES; i++)
        if (strcmp(text, names[i]) == 0) {
            *mode = (enum bmst_recompute)i;
            return 0;
        }
    return -1;
}
