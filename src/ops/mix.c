/* The BMST merge: the batch's m chunks summed with the step's chunk weights
 * (BMST_SCALAR_MIX, bmst_mix_coefficients), in the type of what it merges
 * (the images' activations, or the fp32 soft targets, merged by the same
 * rule by a second mix node). */
#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_mix(struct bmst_graph *g, int x) {
    if (g->merge == 1) return x;
    struct bmst_shape s = g->values[x].shape;
    BMST_ASSERT(s.n % g->merge == 0);
    s.n /= g->merge;
    int y = bmst_op_append(g, BMST_OP_MIX, NULL, &x, 1, s)->out;
    g->values[y].dtype = g->values[x].dtype;
    return y;
}

static int supported(const struct bmst_backend *be) {
    return be->mix != NULL;
}

/* a multiply-add per input element; backward a multiply */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    double inputs = (double)bmst_shape_count(g->values[n->in[0]].shape);
    return backward ? inputs : 2.0 * inputs;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->mix->fwd(be, x->graph->values[n->out].dtype, x->graph->merge, bmst_op_out_count(x, n),
                 x->scalars + BMST_SCALAR_MIX, bmst_exec_value(x, n->in[0]),
                 bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx)
        be->mix->bwd(be, x->graph->merge, bmst_op_out_count(x, n), x->scalars + BMST_SCALAR_MIX,
                     bmst_exec_grad(x, n->out), dx, acc);
}

const struct bmst_op_def bmst_op_mix_def = {
    .name = "mix",
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
