/* Batch norm: "<prefix>.weight", ".bias", ".running_mean", ".running_var".
 * Training normalizes with the batch's statistics (over every rank's batch
 * with --sync-bn) and keeps the batch mean and inverse std as scratch for
 * backward, which also reads its input again. The input may be a channel
 * prefix of a wider buffer (a dense block's running concatenation), read
 * and given its gradient in place with the buffer's row stride. */
#include <stdio.h>

#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_bn(struct bmst_graph *g, int x, const char *prefix) {
    return bmst_op_bn_eps(g, x, prefix, 1e-5f);
}

int bmst_op_bn_eps(struct bmst_graph *g, int x, const char *prefix, float eps) {
    struct bmst_shape in = g->values[x].shape;
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    static const enum bmst_param_init init[4] = {BMST_INIT_ONES, BMST_INIT_ZEROS, BMST_INIT_ZEROS,
                                                 BMST_INIT_ONES};
    struct bmst_node *n = bmst_op_append(g, BMST_OP_BN, prefix, &x, 1, in);
    for (int i = 0; i < 4; i++) {
        char name[BMST_PARAM_NAME_MAX];
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        enum bmst_param_role role = i < 2 ? BMST_PARAM_WEIGHT : BMST_PARAM_BUFFER;
        n->param[i] = bmst_model_param(g->model, name, role, init[i], 1, &in.c, 0, 0);
    }
    n->desc.bn = (struct bmst_bn_desc){
        .rows = (size_t)in.n * in.h * in.w, .c = in.c, .eps = eps, .momentum = 0.1f};
    /* a channel prefix of a dense block's buffer is read in place */
    n->desc.bn.x_stride = g->values[x].row_stride;
    /* batch mean and inverse std, kept from forward to backward */
    if (g->training) n->scratch_bytes = 2 * (size_t)in.c * sizeof(float);
    return n->out;
}

static int supported(const struct bmst_backend *be) {
    return be->bn != NULL;
}

/* --freeze-bn: in a training graph, the statistics stay the running ones
 * (normalized as in evaluation, and not updated) */
static int fixed_statistics(const struct bmst_graph *g, const struct bmst_node *n) {
    return g->training && g->model->params[n->param[2]].frozen;
}

static int plan(struct bmst_graph *g, struct bmst_node *n, size_t *ws_bytes) {
    (void)ws_bytes;
    if (fixed_statistics(g, n) && !g->be->bn->bwd_eval)
        return bmst_error("--freeze-bn: the %s backend has no kernel for the backward of a batch "
                          "norm with fixed statistics (%s)",
                          g->be->name, n->name);
    return 0;
}

/* Per element: training's statistics (a sum for the mean; a difference, a
 * square and a sum for the variance) and the affine normalization (a
 * multiply-add); evaluation only the latter. Backward: the two sums over
 * dy and dy * x-hat (with x-hat itself) and the input gradient. */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    double elements = (double)n->desc.bn.rows * n->desc.bn.c;
    if (backward) return 9.0 * elements;
    return (g->training ? 6.0 : 2.0) * elements;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    const void *in = bmst_exec_value(x, n->in[0]);
    void *y = bmst_exec_value(x, n->out);
    float *gamma = bmst_op_param(x, n, 0), *beta = bmst_op_param(x, n, 1);
    float *running_mean = bmst_op_param(x, n, 2), *running_var = bmst_op_param(x, n, 3);
    if (x->graph->training && !fixed_statistics(x->graph, n)) {
        float *mean = bmst_exec_scratch(x, n), *invstd = mean + n->desc.bn.c;
        /* a rerun (recompute.h) leaves the running statistics as forward
         * updated them: its update goes to scratch planned for it */
        if (x->rerunning)
            running_mean = invstd + n->desc.bn.c, running_var = running_mean + n->desc.bn.c;
        be->bn->fwd_train(be, &n->desc.bn, in, gamma, beta, y, mean, invstd, running_mean,
                          running_var);
    } else {
        be->bn->fwd_eval(be, &n->desc.bn, in, gamma, beta, running_mean, running_var, y);
    }
}

/* With fixed statistics the weight and bias are frozen too
 * (param_groups.h), so the input's gradient is all there is: a per-channel
 * scale, as PyTorch's batch norm in eval mode. Without them, an input that
 * takes no gradient (a frozen layer before it, --freeze conv1) leaves the
 * weight's and bias's alone. */
static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    float *mean = bmst_exec_scratch(x, n), *invstd = mean + n->desc.bn.c;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (fixed_statistics(x->graph, n)) {
        BMST_ASSERT(dx != NULL); /* else nothing here takes a gradient, and backward skips it */
        be->bn->bwd_eval(be, &n->desc.bn, bmst_exec_grad(x, n->out), bmst_op_param(x, n, 0),
                         bmst_op_param(x, n, 3), dx, acc);
        return;
    }
    be->bn->bwd(be, &n->desc.bn, bmst_saved_get(x, n, 0).data, bmst_exec_grad(x, n->out),
                bmst_op_param(x, n, 0), mean, invstd, dx, bmst_op_param_grad(x, n, 0),
                bmst_op_param_grad(x, n, 1), acc);
}

const struct bmst_op_def bmst_op_bn_def = {
    .name = "bn",
    .strided_inputs = 1,
    .rerun = 1,
    .n_saved = 1,
    .saved = {{0, BMST_SAVED_APPROX}},
    .supported = supported,
    .plan = plan,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
