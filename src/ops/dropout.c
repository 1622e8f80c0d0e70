/* Dropout (training graphs only: evaluation graphs get the identity). The
 * mask is a pure function of the step's key (BMST_SCALAR_DROPOUT_KEY, drawn
 * from the seed and the step: bmst_step_dropout_key), the node's salt and
 * each element's position, so a run is reproducible, a resumed run draws
 * what an uninterrupted one would, and backward draws the mask again instead
 * of keeping it: the op keeps nothing for backward. */
#include <math.h>

#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_dropout(struct bmst_graph *g, int x, float p) {
    BMST_ASSERT(p >= 0.0f && p < 1.0f);
    if (!g->training || p == 0.0f) return x;
    uint32_t salt = 0; /* the dropout nodes before this one: each its own mask */
    for (int i = 0; i < g->n_nodes; i++)
        salt += g->nodes[i].kind == BMST_OP_DROPOUT;
    struct bmst_node *n = bmst_op_append(g, BMST_OP_DROPOUT, NULL, &x, 1, g->values[x].shape);
    n->desc.dropout = (struct bmst_dropout_desc){
        .n = bmst_shape_count(g->values[x].shape),
        .drop = (uint32_t)lrint((double)p * (1 << 24)),
        .scale = 1.0f / (1.0f - p),
        .salt = salt,
    };
    return n->out;
}

static int supported(const struct bmst_backend *be) {
    return be->dropout != NULL;
}

/* a multiply per element either way (the hash is not counted) */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g, (void)backward;
    return (double)n->desc.dropout.n;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->dropout->fwd(be, &n->desc.dropout, x->scalars + BMST_SCALAR_DROPOUT_KEY,
                     bmst_exec_value(x, n->in[0]), bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx)
        be->dropout->bwd(be, &n->desc.dropout, x->scalars + BMST_SCALAR_DROPOUT_KEY,
                         bmst_exec_grad(x, n->out), dx, acc);
}

const struct bmst_op_def bmst_op_dropout_def = {
    .name = "dropout",
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
