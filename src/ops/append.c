/* In-place channel concatenation, for dense blocks. A dense block's running
 * concatenation is one buffer planned once at the block's full width
 * (graph.h: buffer, row_stride); each append writes only the channels it
 * adds, and its output is the longer channel prefix of the same buffer, so
 * no layer copies the features before it. Readers of a prefix narrower than
 * the buffer read it in place with the buffer's row stride (batch norm).
 *
 * Gradients: a prefix's gradient is the same prefix of the buffer's
 * gradient. Backward hands the added channels' gradient to the appended
 * value (a copy), and passes the rest on to the shorter prefix without
 * moving anything: the append is that prefix's last reader, so its backward
 * is the first to reach it (the executor's overwrite), and the earlier
 * readers' backwards add to the channels in place. */
#include "error.h"
#include "op.h"
#include "ops.h"

/* Appends the node; its output is a prefix of `buffer` (a new buffer when -1). */
static struct bmst_value *new_prefix(struct bmst_graph *g, int buffer, int row_stride,
                                     const int *ins, int n_in, struct bmst_shape shape) {
    struct bmst_node *n = bmst_op_append(g, BMST_OP_APPEND, NULL, ins, n_in, shape);
    struct bmst_value *v = &g->values[n->out];
    v->buffer = buffer < 0 ? n->out : buffer;
    v->row_stride = row_stride;
    return v;
}

int bmst_op_append_begin(struct bmst_graph *g, int x, int channels) {
    struct bmst_shape s = g->values[x].shape;
    BMST_ASSERT(channels >= s.c);
    return (int)(new_prefix(g, -1, channels, &x, 1, s) - g->values);
}

int bmst_op_append_to(struct bmst_graph *g, int prefix, int x) {
    const struct bmst_value *p = &g->values[prefix];
    struct bmst_shape s = p->shape, add = g->values[x].shape;
    BMST_ASSERT(p->buffer >= 0 && add.n == s.n && add.h == s.h && add.w == s.w);
    BMST_ASSERT(s.c + add.c <= p->row_stride);
    /* only the buffer's longest prefix grows: two appends to one prefix
     * would write the same channels */
    for (int v = 0; v < g->n_values; v++)
        BMST_ASSERT(g->values[v].buffer != p->buffer || g->values[v].shape.c <= s.c);
    int buffer = p->buffer, row_stride = p->row_stride;
    s.c += add.c;
    int ins[2] = {prefix, x};
    return (int)(new_prefix(g, buffer, row_stride, ins, 2, s) - g->values);
}

static int supported(const struct bmst_backend *be) {
    return be->concat != NULL;
}

/* copies: no arithmetic */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g, (void)n, (void)backward;
    return 0.0;
}

/* The appended value is the last input; the channels before it are the
 * prefix's (none for a buffer's first append). */
static int offset_of(const struct bmst_graph *g, const struct bmst_node *n) {
    return n->n_in == 2 ? g->values[n->in[0]].shape.c : 0;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    const struct bmst_graph *g = x->graph;
    const struct bmst_value *out = &g->values[n->out];
    int src = n->in[n->n_in - 1];
    size_t rows = (size_t)out->shape.n * out->shape.h * out->shape.w;
    g->be->concat->fwd(g->be, rows, out->row_stride, offset_of(g, n), g->values[src].shape.c,
                       bmst_exec_value(x, src), bmst_exec_value(x, n->out));
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    const struct bmst_graph *g = x->graph;
    const struct bmst_value *out = &g->values[n->out];
    int last = n->n_in - 1, acc = 0;
    if (n->n_in == 2) {
        /* the prefix's gradient is already in place; this only marks it written */
        bmst_exec_input_grad(x, n, 0, &acc);
        BMST_ASSERT(acc == 0);
    }
    void *dx = bmst_exec_input_grad(x, n, last, &acc);
    if (!dx) return;
    size_t rows = (size_t)out->shape.n * out->shape.h * out->shape.w;
    g->be->concat->bwd(g->be, rows, out->row_stride, offset_of(g, n),
                       g->values[n->in[last]].shape.c, bmst_exec_grad(x, n->out), dx, acc);
}

const struct bmst_op_def bmst_op_append_def = {
    .name = "append",
    .strided_inputs = 1,
    .supported = supported,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
