/* The op table, made from ops/op_list.h, and the helpers the op files share. */
#include "op.h"

#include "error.h"

#define BMST_OP(kind, name) extern const struct bmst_op_def bmst_op_##name##_def;
#include "op_list.h"
#undef BMST_OP

static const struct bmst_op_def *const table[BMST_OP_KIND_COUNT] = {
#define BMST_OP(kind, name) [BMST_OP_##kind] = &bmst_op_##name##_def,
#include "op_list.h"
#undef BMST_OP
};

const struct bmst_op_def *bmst_op(enum bmst_op_kind kind) {
    BMST_ASSERT((unsigned)kind < BMST_OP_KIND_COUNT);
    return table[kind];
}

const char *bmst_op_name(enum bmst_op_kind kind) {
    return bmst_op(kind)->name;
}

double bmst_op_node_flops(const struct bmst_graph *g, const struct bmst_node *n) {
    const struct bmst_op_def *op = bmst_op(n->kind);
    if (!op->flops) return 0.0;
    return op->flops(g, n, 0) + (g->training ? op->flops(g, n, 1) : 0.0);
}

struct bmst_node *bmst_op_append(struct bmst_graph *g, enum bmst_op_kind kind, const char *name,
                                 const int *ins, int n_in, struct bmst_shape shape) {
    BMST_ASSERT(n_in <= BMST_MAX_INPUTS);
    struct bmst_node *n = bmst_graph_add_node(g, kind, name);
    for (int i = 0; i < n_in; i++)
        n->in[i] = ins[i];
    n->n_in = n_in;
    int node_index = (int)(n - g->nodes);
    n->out = bmst_graph_add_value(g, shape, node_index);
    return n;
}

int bmst_op_window_out(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

struct bmst_node *bmst_op_append_pool(struct bmst_graph *g, enum bmst_op_kind kind, int x, int k,
                                      int stride, int pad) {
    struct bmst_shape in = g->values[x].shape;
    struct bmst_pool_desc d = {.n = in.n,
                               .h = in.h,
                               .w = in.w,
                               .c = in.c,
                               .kh = k,
                               .kw = k,
                               .stride_h = stride,
                               .stride_w = stride,
                               .pad_h = pad,
                               .pad_w = pad,
                               .out_h = bmst_op_window_out(in.h, k, stride, pad),
                               .out_w = bmst_op_window_out(in.w, k, stride, pad)};
    BMST_ASSERT(d.out_h > 0 && d.out_w > 0);
    struct bmst_node *n =
        bmst_op_append(g, kind, NULL, &x, 1, bmst_shape_make(in.n, d.out_h, d.out_w, in.c));
    n->desc.pool = d;
    return n;
}

float *bmst_op_param(const struct bmst_exec *x, const struct bmst_node *n, int i) {
    return bmst_model_data(x->graph->model, n->param[i]);
}

const void *bmst_op_weight(const struct bmst_exec *x, const struct bmst_node *n, int i) {
    return bmst_model_act_data(x->graph->model, n->param[i]);
}

float *bmst_op_param_grad(const struct bmst_exec *x, const struct bmst_node *n, int i) {
    return bmst_model_grad(x->graph->model, n->param[i]);
}

size_t bmst_op_out_count(const struct bmst_exec *x, const struct bmst_node *n) {
    return bmst_shape_count(x->graph->values[n->out].shape);
}
