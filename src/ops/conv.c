/* Convolution without bias: filters KRSC in memory, "<prefix>.weight" OIHW in
 * checkpoints. Backward reads its input again for the filter gradient. */
#include <stdio.h>

#include "error.h"
#include "op.h"
#include "ops.h"

int bmst_op_conv(struct bmst_graph *g, int x, const char *prefix, int k, int r, int s, int stride,
                 int pad) {
    return bmst_op_conv_pad(g, x, prefix, k, r, s, stride, pad, pad);
}

int bmst_op_conv_pad(struct bmst_graph *g, int x, const char *prefix, int k, int r, int s,
                     int stride, int pad_h, int pad_w) {
    struct bmst_shape in = g->values[x].shape;
    struct bmst_conv_desc d = {.n = in.n,
                               .h = in.h,
                               .w = in.w,
                               .c = in.c,
                               .k = k,
                               .r = r,
                               .s = s,
                               .stride_h = stride,
                               .stride_w = stride,
                               .pad_h = pad_h,
                               .pad_w = pad_w,
                               .out_h = bmst_op_window_out(in.h, r, stride, pad_h),
                               .out_w = bmst_op_window_out(in.w, s, stride, pad_w)};
    BMST_ASSERT(d.out_h > 0 && d.out_w > 0);
    char name[BMST_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int dims[4] = {k, in.c, r, s};
    int w = bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_CONV_KAIMING, 4, dims, 1,
                             in.c * r * s);
    struct bmst_node *n =
        bmst_op_append(g, BMST_OP_CONV, prefix, &x, 1, bmst_shape_make(in.n, d.out_h, d.out_w, k));
    n->desc.conv = d;
    n->param[0] = w;
    return n->out;
}

static int supported(const struct bmst_backend *be) {
    return be->conv != NULL;
}

/* The passes this node runs: forward always; in a training graph the filter
 * gradient unless the filters are frozen (--freeze), and the input gradient
 * where one flows into the input (not into the images, at the stem, nor
 * into a frozen prefix). The backend plans exactly these (choosing its
 * algorithms now), and backward runs exactly these. */
static int plan(struct bmst_graph *g, struct bmst_node *n, size_t *ws_bytes) {
    const struct bmst_conv_desc *d = &n->desc.conv;
    n->conv_passes = BMST_CONV_FWD;
    if (g->training) {
        if (bmst_model_trains(g->model, n->param[0])) n->conv_passes |= BMST_CONV_BWD_FILTER;
        if (g->values[n->in[0]].needs_grad) n->conv_passes |= BMST_CONV_BWD_DATA;
    }
    char why[384] = "";
    if (g->be->conv->plan(g->be, d, n->conv_passes, ws_bytes, why, sizeof why) != 0)
        return bmst_error("conv %s (%dx%d, stride %dx%d, pad %dx%d, input %dx%dx%dx%d NHWC, "
                          "%d filters) cannot run on %s: %s",
                          n->name, d->r, d->s, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->n,
                          d->h, d->w, d->c, d->k, g->be->name, why);
    return 0;
}

/* every pass is one product as large as the forward's */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    (void)g;
    const struct bmst_conv_desc *d = &n->desc.conv;
    double pass = 2.0 * d->n * d->out_h * d->out_w * d->k * d->r * d->s * d->c;
    unsigned passes = backward ? n->conv_passes & ~(unsigned)BMST_CONV_FWD : BMST_CONV_FWD;
    return pass * __builtin_popcount(passes);
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    be->conv->fwd(be, &n->desc.conv, bmst_exec_value(x, n->in[0]), bmst_op_weight(x, n, 0),
                  bmst_exec_value(x, n->out), x->workspace);
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct bmst_backend *be = x->graph->be;
    const void *dy = bmst_exec_grad(x, n->out);
    if (n->conv_passes & BMST_CONV_BWD_FILTER)
        be->conv->bwd_filter(be, &n->desc.conv, bmst_saved_get(x, n, 0).data, dy,
                             bmst_op_param_grad(x, n, 0), x->workspace);
    if (n->conv_passes & BMST_CONV_BWD_DATA) {
        int acc = 0;
        void *dx = bmst_exec_input_grad(x, n, 0, &acc);
        be->conv->bwd_data(be, &n->desc.conv, dy, bmst_op_weight(x, n, 0), dx, acc, x->workspace);
    }
}

const struct bmst_op_def bmst_op_conv_def = {
    .name = "conv",
    .n_saved = 1,
    .saved = {{0, BMST_SAVED_APPROX}},
    .rerun = 1,
    .supported = supported,
    .plan = plan,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
