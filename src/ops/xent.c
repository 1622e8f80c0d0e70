/* The loss: softmax cross-entropy of the logits against the soft targets,
 * merged by the same mix as the images. Forward keeps the probabilities as
 * scratch; backward reads the targets again and starts the gradient, scaled
 * by the step's loss scale.
 *
 * A network with a second head (InceptionV3's AuxLogits) has a second loss
 * node against the same mixed targets; each writes its own scalar and starts
 * its own gradient, the auxiliary one scaled by its weight (the executor
 * sets BMST_SCALAR_AUX_LOSS_SCALE = weight * loss scale and adds weight *
 * aux loss to the step's loss), and the two gradients add where the heads
 * meet, as every value read twice does (exec.c). docs/design-notes.md. */
#include "error.h"
#include "op.h"
#include "ops.h"

/* The soft targets merged as the images are: the one mix node of the targets
 * when a loss already made it, else a new one. */
static int mixed_targets(struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].kind == BMST_OP_MIX && g->nodes[i].in[0] == g->targets)
            return g->nodes[i].out;
    return bmst_op_mix(g, g->targets);
}

static struct bmst_node *append_loss(struct bmst_graph *g, int logits, const char *name,
                                     int loss_scalar, int scale_scalar) {
    int targets = mixed_targets(g);
    struct bmst_shape s = g->values[logits].shape;
    BMST_ASSERT(bmst_shape_count(g->values[targets].shape) == bmst_shape_count(s));
    int ins[2] = {logits, targets};
    struct bmst_node *n =
        bmst_op_append(g, BMST_OP_XENT, name, ins, 2, bmst_shape_make(1, 1, 1, 1));
    g->values[n->out].dtype = BMST_F32;
    n->scratch_bytes = bmst_shape_count(s) * sizeof(float); /* softmax probabilities */
    n->desc.loss = (struct bmst_loss_desc){loss_scalar, scale_scalar};
    return n;
}

void bmst_op_loss(struct bmst_graph *g, int logits) {
    g->logits = logits;
    if (!g->training) return; /* evaluation reads the logits; the host scores them */
    append_loss(g, logits, "loss", BMST_SCALAR_LOSS, BMST_SCALAR_LOSS_SCALE);
    g->loss_node = g->n_nodes - 1;
}

void bmst_op_aux_loss(struct bmst_graph *g, int logits, float weight) {
    BMST_ASSERT(g->training && weight > 0.0f && g->aux_loss_weight == 0.0f);
    append_loss(g, logits, "aux_loss", BMST_SCALAR_AUX_LOSS, BMST_SCALAR_AUX_LOSS_SCALE);
    g->aux_loss_weight = weight;
    g->aux_logits = logits;
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
                  bmst_exec_scratch(x, n), x->scalars + n->desc.loss.loss_scalar);
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    int acc = 0;
    void *dlogits = bmst_exec_input_grad(x, n, 0, &acc);
    BMST_ASSERT(dlogits != NULL && !acc);
    be->xent->bwd(be, s.n, s.c, bmst_exec_scratch(x, n), bmst_saved_get(x, n, 0).data,
                  x->scalars + n->desc.loss.scale_scalar, dlogits);
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
