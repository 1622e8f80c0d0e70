/* The inputs: the images, and in a training graph the soft targets, which
 * the step writes before each pass. Nothing runs for them. */
#include "op.h"
#include "ops.h"

int bmst_op_input(struct bmst_graph *g, int h, int w, int c) {
    struct bmst_node *n =
        bmst_op_append(g, BMST_OP_INPUT, "images", NULL, 0, bmst_shape_make(g->batch, h, w, c));
    g->images = n->out;
    if (g->training) {
        n = bmst_op_append(g, BMST_OP_INPUT, "targets", NULL, 0,
                           bmst_shape_make(g->batch, 1, 1, g->classes));
        g->targets = n->out;
        g->values[g->targets].dtype = BMST_F32; /* soft targets keep full precision */
    }
    return g->images;
}

/* written before the pass (bmst_train_step, the evaluation loop) */
static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    (void)x, (void)n;
}

const struct bmst_op_def bmst_op_input_def = {
    .name = "input",
    .forward = forward,
};
