/* Global average pooling: [n, h, w, c] -> [n, 1, 1, c]. */
#include "op.h"
#include "ops.h"

int bmst_op_gap(struct bmst_graph *g, int x) {
    struct bmst_shape in = g->values[x].shape;
    return bmst_op_append(g, BMST_OP_GAP, NULL, &x, 1, bmst_shape_make(in.n, 1, 1, in.c))->out;
}

static int supported(const struct bmst_backend *be) {
    return be->gap != NULL;
}

/* an add per input element, either way */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)backward;
    return (double)bmst_shape_count(g->values[n->in[0]].shape);
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    be->gap->fwd(be, s.n, s.h * s.w, s.c, bmst_exec_value(x, n->in[0]), bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx) be->gap->bwd(be, s.n, s.h * s.w, s.c, bmst_exec_grad(x, n->out), dx, acc);
}

const struct bmst_op_def bmst_op_gap_def = {
    .name = "gap",
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
