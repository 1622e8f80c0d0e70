/* Average pooling over a k x k window, the zero padding counted in the
 * divisor (PyTorch's count_include_pad). Backward needs no value again. */
#include "op.h"
#include "ops.h"

int bmst_op_avgpool(struct bmst_graph *g, int x, int k, int stride, int pad) {
    return bmst_op_append_pool(g, BMST_OP_AVGPOOL, x, k, stride, pad)->out;
}

static int supported(const struct bmst_backend *be) {
    return be->avgpool != NULL;
}

/* an add per window element, either way */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g, (void)backward;
    const struct bmst_pool_desc *d = &n->desc.pool;
    return (double)d->n * d->out_h * d->out_w * d->c * d->kh * d->kw;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->avgpool->fwd(be, &n->desc.pool, bmst_exec_value(x, n->in[0]), bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx) be->avgpool->bwd(be, &n->desc.pool, bmst_exec_grad(x, n->out), dx, acc);
}

const struct bmst_op_def bmst_op_avgpool_def = {
    .name = "avgpool",
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
