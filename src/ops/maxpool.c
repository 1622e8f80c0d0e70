/* Max pooling over a k x k window. In training, forward keeps each output's
 * arg-max as one byte (scratch, alive until this node's backward), and
 * backward routes the gradient through it: the input itself is not read
 * again, so a network's stem (a ReLU output, the largest value of an ImageNet
 * ResNet) is kept only as the ReLU's sign mask under a lossy codec. */
#include <stdint.h>

#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_maxpool(struct bmst_graph *g, int x, int k, int stride, int pad) {
    BMST_ASSERT(k * k <= BMST_MAXPOOL_MAX_WINDOW);
    struct bmst_node *n = bmst_op_append_pool(g, BMST_OP_MAXPOOL, x, k, stride, pad);
    if (g->training) n->scratch_bytes = bmst_shape_count(g->values[n->out].shape);
    return n->out;
}

static int supported(const struct bmst_backend *be) {
    return be->maxpool != NULL;
}

/* a comparison per window element; backward one add per output, routed by its arg-max */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g;
    const struct bmst_pool_desc *d = &n->desc.pool;
    double outputs = (double)d->n * d->out_h * d->out_w * d->c;
    return outputs * (backward ? 1 : d->kh * d->kw);
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    uint8_t *argmax = x->graph->training ? (uint8_t *)bmst_exec_scratch(x, n) : NULL;
    be->maxpool->fwd(be, &n->desc.pool, bmst_exec_value(x, n->in[0]), bmst_exec_value(x, n->out),
                     argmax);
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (dx)
        be->maxpool->bwd(be, &n->desc.pool, (const uint8_t *)bmst_exec_scratch(x, n),
                         bmst_exec_grad(x, n->out), dx, acc);
}

const struct bmst_op_def bmst_op_maxpool_def = {
    .name = "maxpool",
    .n_saved = 0,
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
