/* Fully connected layer: "<prefix>.weight" [out, in] (PyTorch's Linear
 * layout), "<prefix>.bias" [out]; the input is flattened. Backward reads the
 * input again for the weight gradient. */
#include <stdio.h>

#include "op.h"
#include "ops.h"

int bmst_op_fc(struct bmst_graph *g, int x, const char *prefix, int out) {
    struct bmst_shape in = g->values[x].shape;
    int features = in.h * in.w * in.c;
    char name[BMST_PARAM_NAME_MAX];
    int wdims[2] = {out, features};
    snprintf(name, sizeof name, "%s.weight", prefix);
    int w = bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_FC_WEIGHT, 2, wdims, 0,
                             features);
    snprintf(name, sizeof name, "%s.bias", prefix);
    int b = bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_FC_BIAS, 1, &out, 0,
                             features);
    struct bmst_node *n =
        bmst_op_append(g, BMST_OP_FC, prefix, &x, 1, bmst_shape_make(in.n, 1, 1, out));
    n->param[0] = w;
    n->param[1] = b;
    return n->out;
}

static int supported(const struct bmst_backend *be) {
    return be->fc != NULL;
}

/* --freeze takes a layer's weight and bias together (they share its prefix) */
static int trains(const struct bmst_model *m, const struct bmst_node *n) {
    return bmst_model_trains(m, n->param[0]) || bmst_model_trains(m, n->param[1]);
}

/* the product and the bias; backward the weight product and the bias's sum
 * unless they are frozen, and the input product where the input takes a
 * gradient */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    struct bmst_shape s = g->values[n->in[0]].shape;
    double rows = s.n, in = (double)s.h * s.w * s.c, out = g->values[n->out].shape.c;
    double product = 2.0 * rows * in * out, bias = rows * out;
    if (!backward) return product + bias;
    return (trains(g->model, n) ? product + bias : 0.0) +
           (g->values[n->in[0]].needs_grad ? product : 0.0);
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    be->fc->fwd(be, s.n, s.h * s.w * s.c, x->graph->values[n->out].shape.c,
                bmst_exec_value(x, n->in[0]), bmst_op_weight(x, n, 0), bmst_op_param(x, n, 1),
                bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->in[0]].shape;
    int in = s.h * s.w * s.c, out = x->graph->values[n->out].shape.c;
    const void *dy = bmst_exec_grad(x, n->out);
    if (trains(x->graph->model, n))
        be->fc->bwd_filter(be, s.n, in, out, bmst_saved_get(x, n, 0).data, dy,
                           bmst_op_param_grad(x, n, 0), bmst_op_param_grad(x, n, 1));
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx) be->fc->bwd_data(be, s.n, in, out, dy, bmst_op_weight(x, n, 0), dx, acc);
}

const struct bmst_op_def bmst_op_fc_def = {
    .name = "fc",
    .n_saved = 1,
    .saved = {{0, BMST_SAVED_APPROX}},
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
