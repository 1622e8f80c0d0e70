/* ReLU. Backward needs only whether each output element is positive, so its
 * output can be kept as one bit per element (--act-codec relu-mask) where no
 * other op's backward reads it whole. */
#include "op.h"
#include "ops.h"

int bmst_op_relu(struct bmst_graph *g, int x) {
    return bmst_op_append(g, BMST_OP_RELU, NULL, &x, 1, g->values[x].shape)->out;
}

static int supported(const struct bmst_backend *be) {
    return be->relu != NULL;
}

/* a comparison per element either way */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)backward;
    return (double)bmst_shape_count(g->values[n->out].shape);
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->relu->fwd(be, bmst_op_out_count(x, n), bmst_exec_value(x, n->in[0]),
                  bmst_exec_value(x, n->out));
}

/* from the output itself, or from its sign mask where the plan kept that */
static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (!dx) return;
    struct bmst_saved y = bmst_saved_get(x, n, 0);
    const void *dy = bmst_exec_grad(x, n->out);
    size_t count = bmst_op_out_count(x, n);
    if (y.form == BMST_SAVED_AS_SIGN_MASK)
        be->relu->bwd_mask(be, count, y.data, dy, dx, acc);
    else
        be->relu->bwd(be, count, y.data, dy, dx, acc);
}

const struct bmst_op_def bmst_op_relu_def = {
    .name = "relu",
    .n_saved = 1,
    .saved = {{BMST_SAVED_OUTPUT, BMST_SAVED_SIGN}},
    .rerun = 1,
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
