/* Elementwise sum of two values of one shape (a residual connection);
 * backward passes the gradient on to both. */
#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_add(struct bmst_graph *g, int a, int b) {
    struct bmst_shape sa = g->values[a].shape, sb = g->values[b].shape;
    BMST_ASSERT(bmst_shape_count(sa) == bmst_shape_count(sb) && sa.c == sb.c);
    int ins[2] = {a, b};
    return bmst_op_append(g, BMST_OP_ADD, NULL, ins, 2, sa)->out;
}

static int supported(const struct bmst_backend *be) {
    return be->add != NULL;
}

/* backward is a copy, or an add where an input's gradient accumulates: not
 * counted */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    return backward ? 0.0 : (double)bmst_shape_count(g->values[n->out].shape);
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->add->fwd(be, bmst_op_out_count(x, n), bmst_exec_value(x, n->in[0]),
                 bmst_exec_value(x, n->in[1]), bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    const void *dy = bmst_exec_grad(x, n->out);
    for (int j = 0; j < 2; j++) {
        int acc = 0;
        void *dx = bmst_exec_input_grad(x, n, j, &acc);
        if (dx) be->add->bwd(be, bmst_op_out_count(x, n), dy, dx, acc);
    }
}

const struct bmst_op_def bmst_op_add_def = {
    .name = "add",
    .rerun = 1,
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
