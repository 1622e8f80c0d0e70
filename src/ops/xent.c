/* The loss: softmax cross-entropy of the logits against the soft targets,
 * merged by the same mix as the images. Forward keeps the probabilities as
 * scratch; backward reads the targets again and starts the gradient, scaled
 * by the step's loss scale. */
#include "error.h"
#include "op.h"
#include "ops.h"

void bmst_op_loss(struct bmst_graph *g, int logits) {
    g->logits = logits;
    if (!g->training) return; /* evaluation reads the logits; the host scores them */
    int targets = bmst_op_mix(g, g->targets);
    struct bmst_shape s = g->values[logits].shape;
    BMST_ASSERT(bmst_shape_count(g->values[targets].shape) == bmst_shape_count(s));
    int ins[2] = {logits, targets};
    struct bmst_node *n =
        bmst_op_append(g, BMST_OP_XENT, "loss", ins, 2, bmst_shape_make(1, 1, 1, 1));
    g->values[n->out].dtype = BMST_F32;
    n->scratch_bytes = bmst_shape_count(s) * sizeof(float); /* softmax probabilities */
    g->loss_node = g->n_nodes - 1;
}

static int supported(const struct bmst_backend *be) {
    return be->xent != NULL;
}

/* per logit: the maximum, the exponential and its sum, the normalization and
 * the loss's multiply-add; backward a difference and a multiply */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    double logits = (double)bmst_shape_count(g->values[n->in[0]].shape);
    return (backward ? 2.0 : 6.0) * logits;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    be->xent->fwd(be, s.n, s.c, bmst_exec_value(x, n->in[0]), bmst_exec_value(x, n->in[1]),
                  bmst_exec_scratch(x, n), x->scalars + BMST_SCALAR_LOSS);
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    int acc = 0;
    void *dlogits = bmst_exec_input_grad(x, n, 0, &acc);
    BMST_ASSERT(dlogits != NULL && !acc);
    be->xent->bwd(be, s.n, s.c, bmst_exec_scratch(x, n), bmst_saved_get(x, n, 0).data,
                  x->scalars + BMST_SCALAR_LOSS_SCALE, dlogits);
}

const struct bmst_op_def bmst_op_xent_def = {
    .name = "xent",
    .n_saved = 1,
    .saved = {{1, BMST_SAVED_WHOLE}},
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
