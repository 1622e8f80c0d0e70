/* Max pooling over a k x k window. Backward finds each window's arg-max again
 * from the input, which it therefore reads again. */
#include "op.h"
#include "ops.h"

int bmst_op_maxpool(struct bmst_graph *g, int x, int k, int stride, int pad) {
    return bmst_op_append_pool(g, BMST_OP_MAXPOOL, x, k, stride, pad)->out;
}

static int supported(const struct bmst_backend *be) {
    return be->maxpool != NULL;
}

/* a comparison per window element; backward compares again and adds */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g;
    const struct bmst_pool_desc *d = &n->desc.pool;
    double outputs = (double)d->n * d->out_h * d->out_w * d->c;
    return outputs * (d->kh * d->kw + (backward ? 1 : 0));
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->maxpool->fwd(be, &n->desc.pool, bmst_exec_value(x, n->in[0]), bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx)
        be->maxpool->bwd(be, &n->desc.pool, bmst_saved_get(x, n, 0).data, bmst_exec_grad(x, n->out),
                         dx, acc);
}

const struct bmst_op_def bmst_op_maxpool_def = {
    .name = "maxpool",
    .n_saved = 1,
    .saved = {{0, BMST_SAVED_WHOLE}},
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
