/* Op constructors: output shapes, parameter registration and scratch sizes. */
#include "ops.h"

#include <stdio.h>

#include "error.h"

static const struct bmst_shape *shape_of(const struct bmst_graph *g, int v) {
    return &g->values[v].shape;
}

/* Appends a node reading `ins` and producing one value of `shape`. */
static struct bmst_node *add_node(struct bmst_graph *g, enum bmst_op_kind kind, const char *name,
                                  const int *ins, int n_in, struct bmst_shape shape) {
    BMST_ASSERT(n_in <= BMST_MAX_INPUTS);
    struct bmst_node *n = bmst_graph_add_node(g, kind, name);
    for (int i = 0; i < n_in; i++) n->in[i] = ins[i];
    n->n_in = n_in;
    int node_index = (int)(n - g->nodes);
    n->out = bmst_graph_add_value(g, shape, node_index);
    return n;
}

static int window_out(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

int bmst_op_input(struct bmst_graph *g, int h, int w, int c) {
    struct bmst_node *n = add_node(g, BMST_OP_INPUT, "images", NULL, 0,
                                   bmst_shape_make(g->batch, h, w, c));
    g->images = n->out;
    if (g->training) {
        n = add_node(g, BMST_OP_INPUT, "targets", NULL, 0,
                     bmst_shape_make(g->batch, 1, 1, g->classes));
        g->targets = n->out;
        g->values[g->targets].dtype = BMST_F32; /* soft targets keep full precision */
    }
    return g->images;
}

int bmst_op_conv(struct bmst_graph *g, int x, const char *prefix, int k, int r, int s,
                 int stride, int pad) {
    struct bmst_shape in = *shape_of(g, x);
    struct bmst_conv_desc d = {
        .n = in.n, .h = in.h, .w = in.w, .c = in.c, .k = k, .r = r, .s = s,
        .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
        .out_h = window_out(in.h, r, stride, pad), .out_w = window_out(in.w, s, stride, pad)};
    BMST_ASSERT(d.out_h > 0 && d.out_w > 0);
    char name[BMST_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int dims[4] = {k, in.c, r, s};
    int w = bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_CONV_KAIMING, 4, dims,
                             1, in.c * r * s);
    struct bmst_node *n = add_node(g, BMST_OP_CONV, prefix, &x, 1,
                                   bmst_shape_make(in.n, d.out_h, d.out_w, k));
    n->desc.conv = d;
    n->param[0] = w;
    return n->out;
}

int bmst_op_bn(struct bmst_graph *g, int x, const char *prefix) {
    struct bmst_shape in = *shape_of(g, x);
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    static const enum bmst_param_init init[4] = {BMST_INIT_ONES, BMST_INIT_ZEROS, BMST_INIT_ZEROS,
                                                 BMST_INIT_ONES};
    struct bmst_node *n = add_node(g, BMST_OP_BN, prefix, &x, 1, in);
    for (int i = 0; i < 4; i++) {
        char name[BMST_PARAM_NAME_MAX];
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        enum bmst_param_role role = i < 2 ? BMST_PARAM_WEIGHT : BMST_PARAM_BUFFER;
        n->param[i] = bmst_model_param(g->model, name, role, init[i], 1, &in.c, 0, 0);
    }
    n->desc.bn = (struct bmst_bn_desc){
        .rows = (size_t)in.n * in.h * in.w, .c = in.c, .eps = 1e-5f, .momentum = 0.1f};
    /* batch mean and inverse std, kept from forward to backward */
    if (g->training) n->scratch_bytes = 2 * (size_t)in.c * sizeof(float);
    return n->out;
}

int bmst_op_relu(struct bmst_graph *g, int x) {
    return add_node(g, BMST_OP_RELU, NULL, &x, 1, *shape_of(g, x))->out;
}

int bmst_op_add(struct bmst_graph *g, int a, int b) {
    struct bmst_shape sa = *shape_of(g, a), sb = *shape_of(g, b);
    BMST_ASSERT(bmst_shape_count(sa) == bmst_shape_count(sb) && sa.c == sb.c);
    int ins[2] = {a, b};
    return add_node(g, BMST_OP_ADD, NULL, ins, 2, sa)->out;
}

static int add_pool(struct bmst_graph *g, enum bmst_op_kind kind, int x, int k, int stride,
                    int pad) {
    struct bmst_shape in = *shape_of(g, x);
    struct bmst_pool_desc d = {
        .n = in.n, .h = in.h, .w = in.w, .c = in.c, .kh = k, .kw = k, .stride_h = stride,
        .stride_w = stride, .pad_h = pad, .pad_w = pad,
        .out_h = window_out(in.h, k, stride, pad), .out_w = window_out(in.w, k, stride, pad)};
    BMST_ASSERT(d.out_h > 0 && d.out_w > 0);
    struct bmst_node *n =
        add_node(g, kind, NULL, &x, 1, bmst_shape_make(in.n, d.out_h, d.out_w, in.c));
    n->desc.pool = d;
    return n->out;
}

int bmst_op_maxpool(struct bmst_graph *g, int x, int k, int stride, int pad) {
    return add_pool(g, BMST_OP_MAXPOOL, x, k, stride, pad);
}

int bmst_op_avgpool(struct bmst_graph *g, int x, int k, int stride, int pad) {
    return add_pool(g, BMST_OP_AVGPOOL, x, k, stride, pad);
}

int bmst_op_gap(struct bmst_graph *g, int x) {
    struct bmst_shape in = *shape_of(g, x);
    return add_node(g, BMST_OP_GAP, NULL, &x, 1, bmst_shape_make(in.n, 1, 1, in.c))->out;
}

int bmst_op_fc(struct bmst_graph *g, int x, const char *prefix, int out) {
    struct bmst_shape in = *shape_of(g, x);
    int features = in.h * in.w * in.c;
    char name[BMST_PARAM_NAME_MAX];
    int wdims[2] = {out, features};
    snprintf(name, sizeof name, "%s.weight", prefix);
    int w = bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_FC_WEIGHT, 2, wdims, 0,
                             features);
    snprintf(name, sizeof name, "%s.bias", prefix);
    int b = bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_FC_BIAS, 1, &out, 0,
                             features);
    struct bmst_node *n = add_node(g, BMST_OP_FC, prefix, &x, 1, bmst_shape_make(in.n, 1, 1, out));
    n->param[0] = w;
    n->param[1] = b;
    return n->out;
}

int bmst_op_concat(struct bmst_graph *g, const int *xs, int n_in) {
    struct bmst_shape s = *shape_of(g, xs[0]);
    int c = 0;
    for (int i = 0; i < n_in; i++) {
        const struct bmst_shape *si = shape_of(g, xs[i]);
        BMST_ASSERT(si->n == s.n && si->h == s.h && si->w == s.w);
        c += si->c;
    }
    s.c = c;
    return add_node(g, BMST_OP_CONCAT, NULL, xs, n_in, s)->out;
}

int bmst_op_mix(struct bmst_graph *g, int x) {
    if (g->merge == 1) return x;
    struct bmst_shape s = *shape_of(g, x);
    BMST_ASSERT(s.n % g->merge == 0);
    s.n /= g->merge;
    int y = add_node(g, BMST_OP_MIX, NULL, &x, 1, s)->out;
    g->values[y].dtype = g->values[x].dtype;
    return y;
}

void bmst_op_loss(struct bmst_graph *g, int logits) {
    g->logits = logits;
    if (!g->training) return; /* evaluation reads the logits; the host scores them */
    /* the targets are merged by the same rule as the images, by the same op */
    int targets = bmst_op_mix(g, g->targets);
    struct bmst_shape s = *shape_of(g, logits);
    BMST_ASSERT(bmst_shape_count(*shape_of(g, targets)) == bmst_shape_count(s));
    int ins[2] = {logits, targets};
    struct bmst_node *n = add_node(g, BMST_OP_XENT, "loss", ins, 2, bmst_shape_make(1, 1, 1, 1));
    g->values[n->out].dtype = BMST_F32;
    n->scratch_bytes = bmst_shape_count(s) * sizeof(float); /* softmax probabilities */
    g->loss_node = g->n_nodes - 1;
}
