/* Channel concatenation of values of one batch and spatial shape; backward
 * hands each input its channels of the gradient. */
#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_concat(struct bmst_graph *g, const int *xs, int n_in) {
    struct bmst_shape s = g->values[xs[0]].shape;
    int c = 0;
    for (int i = 0; i < n_in; i++) {
        const struct bmst_shape *si = &g->values[xs[i]].shape;
        BMST_ASSERT(si->n == s.n && si->h == s.h && si->w == s.w);
        c += si->c;
    }
    s.c = c;
    return bmst_op_append(g, BMST_OP_CONCAT, NULL, xs, n_in, s)->out;
}

static int supported(const struct bmst_backend *be) {
    return be->concat != NULL;
}

/* copies: no arithmetic */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g, (void)n, (void)backward;
    return 0.0;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->out].shape;
    size_t rows = (size_t)s.n * s.h * s.w;
    void *y = bmst_exec_value(x, n->out);
    for (int i = 0, offset = 0; i < n->n_in; i++) {
        int part = x->graph->values[n->in[i]].shape.c;
        be->concat->fwd(be, rows, s.c, offset, part, bmst_exec_value(x, n->in[i]), y);
        offset += part;
    }
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    struct bmst_shape s = x->graph->values[n->out].shape;
    size_t rows = (size_t)s.n * s.h * s.w;
    const void *dy = bmst_exec_grad(x, n->out);
    for (int j = 0, offset = 0; j < n->n_in; j++) {
        int part = x->graph->values[n->in[j]].shape.c;
        int acc = 0;
        void *dx = bmst_exec_input_grad(x, n, j, &acc);
        if (dx) be->concat->bwd(be, rows, s.c, offset, part, dy, dx, acc);
        offset += part;
    }
}

const struct bmst_op_def bmst_op_concat_def = {
    .name = "concat",
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
