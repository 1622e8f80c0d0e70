/* The reversible unit (ops/reversible.h): its builder, its plan (the
 * workspace its intermediates take, the batch statistics its scratch
 * keeps), forward, and backward, which rebuilds the unit's input from its
 * output where the plan says so and runs F and G again before going back
 * through them. */
#include "reversible.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "op.h"
#include "ops.h"

#define WS_ALIGN 64

/* How a branch's batch norms run: training forward (batch statistics kept,
 * running statistics updated), evaluation, or backward's rerun with the
 * kept statistics. */
enum run_mode { RUN_TRAIN, RUN_EVAL, RUN_RERUN };

static struct bmst_rev_unit *unit_of(const struct bmst_graph *g, const struct bmst_node *n) {
    return &g->rev_units[n->desc.rev_unit];
}

/* ---- building ---- */

static int conv_param(struct bmst_graph *g, const char *name, int k, int c, int r) {
    int dims[4] = {k, c, r, r};
    return bmst_model_param(g->model, name, BMST_PARAM_WEIGHT, BMST_INIT_CONV_KAIMING, 4, dims, 1,
                            c * r * r);
}

static struct bmst_conv_desc conv_desc(int n, int h, int w, int c, int k, int r, int stride) {
    int pad = r / 2;
    return (struct bmst_conv_desc){.n = n,
                                   .h = h,
                                   .w = w,
                                   .c = c,
                                   .k = k,
                                   .r = r,
                                   .s = r,
                                   .stride_h = stride,
                                   .stride_w = stride,
                                   .pad_h = pad,
                                   .pad_w = pad,
                                   .out_h = bmst_op_window_out(h, r, stride, pad),
                                   .out_w = bmst_op_window_out(w, r, stride, pad)};
}

/* F or G under `prefix` ("layer1.0.f"): basic, 3x3 c_in -> c_out (stride),
 * 3x3 c_out -> c_out; bottleneck, 1x1 to c_out / 4 (stride), 3x3, 1x1 to
 * c_out. *scratch grows by the batch statistics of each batch norm. */
static void branch_init(struct bmst_graph *g, struct bmst_rev_branch *b, const char *prefix,
                        const int in[4], int c_out, int stride, int bottleneck, int first,
                        size_t *scratch) {
    static const char *bn_suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    static const enum bmst_param_init bn_init[4] = {BMST_INIT_ONES, BMST_INIT_ZEROS,
                                                    BMST_INIT_ZEROS, BMST_INIT_ONES};
    int n = in[0], h = in[1], w = in[2], c = in[3];
    b->layers = bottleneck ? 3 : 2;
    for (int l = 0; l < b->layers; l++) {
        int k = bottleneck ? (l == 2 ? c_out : c_out / 4) : c_out;
        int r = bottleneck && l != 1 ? 1 : 3;
        char name[BMST_PARAM_NAME_MAX];
        b->has_bn[l] = !(first && l == 0);
        if (b->has_bn[l]) {
            for (int i = 0; i < 4; i++) {
                snprintf(name, sizeof name, "%s.bn%d.%s", prefix, l + 1, bn_suffix[i]);
                b->bn_param[l][i] =
                    bmst_model_param(g->model, name, i < 2 ? BMST_PARAM_WEIGHT : BMST_PARAM_BUFFER,
                                     bn_init[i], 1, &c, 0, 0);
            }
            b->bn[l] = (struct bmst_bn_desc){
                .rows = (size_t)n * h * w, .c = c, .eps = 1e-5f, .momentum = 0.1f};
            b->stats[l] = *scratch;
            *scratch += 2 * (size_t)c * sizeof(float);
        }
        snprintf(name, sizeof name, "%s.conv%d.weight", prefix, l + 1);
        b->conv_w[l] = conv_param(g, name, k, c, r);
        b->conv[l] = conv_desc(n, h, w, c, k, r, l == 0 ? stride : 1);
        h = b->conv[l].out_h;
        w = b->conv[l].out_w;
        c = k;
    }
}

int bmst_op_reversible(struct bmst_graph *g, int x, const char *prefix, int c_out, int stride,
                       int bottleneck, int first) {
    struct bmst_shape in = g->values[x].shape;
    BMST_ASSERT(in.c % 2 == 0 && c_out % 2 == 0 && c_out >= in.c);
    if (g->n_rev_units == g->cap_rev_units) {
        g->cap_rev_units = g->cap_rev_units ? 2 * g->cap_rev_units : 32;
        g->rev_units = bmst_xrealloc(g->rev_units, (size_t)g->cap_rev_units * sizeof *g->rev_units);
    }
    int index = g->n_rev_units++;
    struct bmst_rev_unit *u = &g->rev_units[index];
    memset(u, 0, sizeof *u);
    int half_in = in.c / 2, half_out = c_out / 2;
    size_t scratch = 0;
    char name[BMST_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.f", prefix);
    branch_init(g, &u->f, name, (int[4]){in.n, in.h, in.w, half_in}, half_out, stride, bottleneck,
                first, &scratch);
    struct bmst_conv_desc last = u->f.conv[u->f.layers - 1];
    snprintf(name, sizeof name, "%s.g", prefix);
    branch_init(g, &u->g, name, (int[4]){in.n, last.out_h, last.out_w, half_out}, half_out, 1,
                bottleneck, 0, &scratch);
    u->n = in.n;
    u->h = in.h;
    u->w = in.w;
    u->c_in = in.c;
    u->out_h = last.out_h;
    u->out_w = last.out_w;
    u->c_out = c_out;
    u->stride = stride;
    u->check_error = -1.0;
    u->invertible = stride == 1 && c_out == in.c;
    if (!u->invertible && bottleneck) {
        u->shortcut = BMST_REV_PROJECT;
        u->proj = conv_desc(in.n, in.h, in.w, half_in, half_out, 1, stride);
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "%s.downsample%d.weight", prefix, i + 1);
            u->proj_w[i] = conv_param(g, name, half_out, half_in, 1);
        }
    } else if (!u->invertible) {
        u->shortcut = BMST_REV_POOL_PAD;
        u->pool = (struct bmst_pool_desc){.n = in.n,
                                          .h = in.h,
                                          .w = in.w,
                                          .c = half_in,
                                          .kh = stride,
                                          .kw = stride,
                                          .stride_h = stride,
                                          .stride_w = stride,
                                          .out_h = u->out_h,
                                          .out_w = u->out_w};
        BMST_ASSERT((half_out - half_in) % 2 == 0);
        u->pad_lo = (half_out - half_in) / 2;
    }
    struct bmst_node *n = bmst_op_append(g, BMST_OP_REVERSIBLE, prefix, &x, 1,
                                         bmst_shape_make(in.n, u->out_h, u->out_w, c_out));
    n->desc.rev_unit = index;
    u->node = (int)(n - g->nodes);
    /* the unit's first weight (F's first layer registers first): where its
     * gradients begin, for exec.c's all-reduce */
    n->param[0] = u->f.has_bn[0] ? u->f.bn_param[0][0] : u->f.conv_w[0];
    if (g->training) n->scratch_bytes = scratch;
    return n->out;
}

/* ---- planning ---- */

static size_t take(size_t *ws, size_t bytes) {
    size_t at = *ws;
    *ws += (bytes + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    return at;
}

static size_t conv_in_count(const struct bmst_conv_desc *d) {
    return (size_t)d->n * d->h * d->w * d->c;
}

static size_t conv_out_count(const struct bmst_conv_desc *d) {
    return (size_t)d->n * d->out_h * d->out_w * d->k;
}

static int plan_conv(struct bmst_graph *g, const struct bmst_node *n,
                     const struct bmst_conv_desc *d, size_t *conv_ws) {
    unsigned passes = BMST_CONV_FWD;
    if (g->training) passes |= BMST_CONV_BWD_FILTER | BMST_CONV_BWD_DATA;
    size_t bytes = 0;
    char why[384] = "";
    if (g->be->conv->plan(g->be, d, passes, &bytes, why, sizeof why) != 0)
        return bmst_error("reversible unit %s: a %dx%d conv on %dx%dx%dx%d NHWC cannot run on %s: "
                          "%s",
                          n->name, d->r, d->s, d->n, d->h, d->w, d->c, g->be->name, why);
    if (bytes > *conv_ws) *conv_ws = bytes;
    return 0;
}

static size_t branch_plan(struct bmst_rev_branch *b, size_t *ws, size_t act) {
    size_t largest = 0;
    for (int l = 0; l < b->layers; l++) {
        size_t in = conv_in_count(&b->conv[l]), out = conv_out_count(&b->conv[l]);
        b->act[l] = take(ws, in * act);
        b->out[l] = take(ws, out * act);
        if (in > largest) largest = in;
        if (out > largest) largest = out;
    }
    return largest;
}

/* Every intermediate at its own workspace offset; the convolutions'
 * workspace after them. */
static int plan(struct bmst_graph *g, struct bmst_node *n, size_t *ws_bytes) {
    struct bmst_rev_unit *u = unit_of(g, n);
    size_t act = g->be->act_bytes, ws = 0, conv_ws = 0;
    size_t half_in = (size_t)u->n * u->h * u->w * (u->c_in / 2);
    size_t half_out = (size_t)u->n * u->out_h * u->out_w * (u->c_out / 2);
    size_t largest = half_in > half_out ? half_in : half_out;
    size_t f = branch_plan(&u->f, &ws, act), gl = branch_plan(&u->g, &ws, act);
    if (f > largest) largest = f;
    if (gl > largest) largest = gl;
    u->x1 = take(&ws, half_in * act);
    u->x2 = take(&ws, half_in * act);
    u->y1 = take(&ws, half_out * act);
    u->y2 = take(&ws, half_out * act);
    size_t shortcut = u->shortcut == BMST_REV_IDENTITY ? 0 : half_out * act;
    u->pooled = take(&ws, shortcut);
    u->short_out = take(&ws, shortcut);
    if (g->training) { /* the gradients */
        u->dx1 = take(&ws, half_in * act);
        u->dx2 = take(&ws, half_in * act);
        u->dy1 = take(&ws, half_out * act);
        /* y2 is read only while the input is rebuilt, before dy2 is written */
        u->dy2 = u->y2;
        u->grad[0] = take(&ws, largest * act);
        u->grad[1] = take(&ws, largest * act);
        /* the input's gradient to add (rare: a unit's input has one reader)
         * takes the two gradient buffers, free by then: largest >= half_in */
        u->dx = u->grad[0];
    }
    for (int l = 0; l < u->f.layers; l++)
        if (plan_conv(g, n, &u->f.conv[l], &conv_ws) != 0 ||
            plan_conv(g, n, &u->g.conv[l], &conv_ws) != 0)
            return -1;
    if (u->shortcut == BMST_REV_PROJECT && plan_conv(g, n, &u->proj, &conv_ws) != 0) return -1;
    u->conv_ws = take(&ws, 0);
    *ws_bytes = ws + conv_ws;
    return 0;
}

static int supported(const struct bmst_backend *be) {
    return be->conv && be->bn && be->bn->fwd_saved && be->relu && be->add && be->add->sub &&
           be->concat && be->avgpool;
}

static int rebuilds_input(const struct bmst_graph *g, const struct bmst_node *n) {
    return unit_of(g, n)->invertible;
}

/* ---- running ---- */

/* The run's handles: the executor, the unit and its workspace. */
struct unit_run {
    struct bmst_exec *x;
    const struct bmst_node *n;
    struct bmst_rev_unit *u;
    struct bmst_backend *be;
    char *ws;
};

static void *at(const struct unit_run *r, size_t offset) {
    return r->ws + offset;
}

static float *stats(const struct unit_run *r, const struct bmst_rev_branch *b, int l) {
    return (float *)((char *)bmst_exec_scratch(r->x, r->n) + b->stats[l]);
}

static struct bmst_bn_desc bn_desc(const struct unit_run *r, const struct bmst_rev_branch *b,
                                   int l) {
    struct bmst_bn_desc d = b->bn[l];
    d.sync = r->x->graph->training ? r->x->graph->bn_sync : NULL;
    return d;
}

static float *param(const struct unit_run *r, int p) {
    return bmst_model_data(r->x->graph->model, p);
}

/* F or G forward from `in`; the output is at b->out[layers - 1]. */
static void branch_forward(const struct unit_run *r, const struct bmst_rev_branch *b,
                           const void *in, enum run_mode mode) {
    struct bmst_backend *be = r->be;
    const void *cur = in;
    for (int l = 0; l < b->layers; l++) {
        const void *conv_in = cur;
        if (b->has_bn[l]) {
            struct bmst_bn_desc d = bn_desc(r, b, l);
            const int *p = b->bn_param[l];
            void *a = at(r, b->act[l]);
            if (mode == RUN_EVAL) {
                be->bn->fwd_eval(be, &d, cur, param(r, p[0]), param(r, p[1]), param(r, p[2]),
                                 param(r, p[3]), a);
            } else {
                float *mean = stats(r, b, l), *invstd = mean + d.c;
                if (mode == RUN_TRAIN)
                    be->bn->fwd_train(be, &d, cur, param(r, p[0]), param(r, p[1]), a, mean, invstd,
                                      param(r, p[2]), param(r, p[3]));
                else
                    be->bn->fwd_saved(be, &d, cur, param(r, p[0]), param(r, p[1]), mean, invstd, a);
            }
            be->relu->fwd(be, d.rows * (size_t)d.c, a, a);
            conv_in = a;
        }
        be->conv->fwd(be, &b->conv[l], conv_in,
                      bmst_model_act_data(r->x->graph->model, b->conv_w[l]), at(r, b->out[l]),
                      at(r, r->u->conv_ws));
        cur = at(r, b->out[l]);
    }
}

/* Back through F or G given the gradient of its output; the gradient of
 * its input goes to d_in (added to it with accumulate). */
static void branch_backward(const struct unit_run *r, const struct bmst_rev_branch *b,
                            const void *in, const void *d_out, void *d_in, int accumulate) {
    struct bmst_backend *be = r->be;
    const struct bmst_model *m = r->x->graph->model;
    const void *cur = d_out;
    for (int l = b->layers - 1; l >= 0; l--) {
        const void *bn_in = l == 0 ? in : at(r, b->out[l - 1]);
        const void *conv_in = b->has_bn[l] ? at(r, b->act[l]) : bn_in;
        const void *w = bmst_model_act_data(m, b->conv_w[l]);
        void *ws = at(r, r->u->conv_ws);
        be->conv->bwd_filter(be, &b->conv[l], conv_in, cur, bmst_model_grad(m, b->conv_w[l]), ws);
        if (!b->has_bn[l]) { /* the first layer: straight into the input's gradient */
            be->conv->bwd_data(be, &b->conv[l], cur, w, d_in, accumulate, ws);
            continue;
        }
        struct bmst_bn_desc d = bn_desc(r, b, l);
        const int *p = b->bn_param[l];
        void *t = at(r, r->u->grad[0]);
        void *dest = l == 0 ? d_in : at(r, r->u->grad[1]);
        be->conv->bwd_data(be, &b->conv[l], cur, w, t, 0, ws);
        be->relu->bwd(be, d.rows * (size_t)d.c, conv_in, t, t, 0);
        float *mean = stats(r, b, l);
        be->bn->bwd(be, &d, bn_in, t, param(r, p[0]), mean, mean + d.c, dest,
                    bmst_model_grad(m, p[0]), bmst_model_grad(m, p[1]), l == 0 ? accumulate : 0);
        cur = dest;
    }
}

static size_t rows_out(const struct bmst_rev_unit *u) {
    return (size_t)u->n * u->out_h * u->out_w;
}

/* The shortcut of half `half` (0: x1, 1: x2): returns where its output is. */
static const void *shortcut_forward(const struct unit_run *r, int half, const void *xh) {
    struct bmst_backend *be = r->be;
    const struct bmst_rev_unit *u = r->u;
    void *out = at(r, u->short_out);
    if (u->shortcut == BMST_REV_IDENTITY) return xh;
    if (u->shortcut == BMST_REV_PROJECT) {
        be->conv->fwd(be, &u->proj, xh, bmst_model_act_data(r->x->graph->model, u->proj_w[half]),
                      out, at(r, u->conv_ws));
        return out;
    }
    const void *src = xh;
    if (u->stride > 1) {
        be->avgpool->fwd(be, &u->pool, xh, at(r, u->pooled));
        src = at(r, u->pooled);
    }
    if (u->c_out == u->c_in) return src;
    be->zero(be, out, rows_out(u) * (size_t)(u->c_out / 2) * be->act_bytes);
    be->concat->fwd(be, rows_out(u), u->c_out / 2, u->pad_lo, u->c_in / 2, src, out);
    return out;
}

/* The gradient through half `half`'s shortcut into dxh (added with accumulate). */
static void shortcut_backward(const struct unit_run *r, int half, const void *xh, const void *d,
                              void *dxh, int accumulate) {
    struct bmst_backend *be = r->be;
    const struct bmst_rev_unit *u = r->u;
    const struct bmst_model *m = r->x->graph->model;
    if (u->shortcut == BMST_REV_IDENTITY) {
        be->add->bwd(be, rows_out(u) * (size_t)(u->c_out / 2), d, dxh, accumulate);
        return;
    }
    if (u->shortcut == BMST_REV_PROJECT) {
        void *ws = at(r, u->conv_ws);
        be->conv->bwd_filter(be, &u->proj, xh, d, bmst_model_grad(m, u->proj_w[half]), ws);
        be->conv->bwd_data(be, &u->proj, d, bmst_model_act_data(m, u->proj_w[half]), dxh,
                           accumulate, ws);
        return;
    }
    int pooled = u->stride > 1, padded = u->c_out != u->c_in;
    void *dpool = pooled ? at(r, u->pooled) : dxh;
    if (padded)
        be->concat->bwd(be, rows_out(u), u->c_out / 2, u->pad_lo, u->c_in / 2, d, dpool,
                        pooled ? 0 : accumulate);
    if (pooled) be->avgpool->bwd(be, &u->pool, padded ? dpool : d, dxh, accumulate);
}

/* Splits a [rows][2 * half] tensor into two [rows][half] ones, and back. */
static void split(const struct unit_run *r, size_t rows, int half, const void *whole, void *a,
                  void *b) {
    r->be->concat->bwd(r->be, rows, 2 * half, 0, half, whole, a, 0);
    r->be->concat->bwd(r->be, rows, 2 * half, half, half, whole, b, 0);
}

static void join(const struct unit_run *r, size_t rows, int half, const void *a, const void *b,
                 void *whole) {
    r->be->concat->fwd(r->be, rows, 2 * half, 0, half, a, whole);
    r->be->concat->fwd(r->be, rows, 2 * half, half, half, b, whole);
}

/* y1 = s(x1) + F(x2), then G(y1); y2 = s(x2) + G(y1) where y2 is wanted. */
static void unit_forward(const struct unit_run *r, enum run_mode mode, int want_y2) {
    const struct bmst_rev_unit *u = r->u;
    size_t count = rows_out(u) * (size_t)(u->c_out / 2);
    branch_forward(r, &u->f, at(r, u->x2), mode);
    r->be->add->fwd(r->be, count, at(r, u->f.out[u->f.layers - 1]),
                    shortcut_forward(r, 0, at(r, u->x1)), at(r, u->y1));
    branch_forward(r, &u->g, at(r, u->y1), mode);
    if (want_y2)
        r->be->add->fwd(r->be, count, at(r, u->g.out[u->g.layers - 1]),
                        shortcut_forward(r, 1, at(r, u->x2)), at(r, u->y2));
}

static struct unit_run unit_run_of(struct bmst_exec *x, const struct bmst_node *n) {
    return (struct unit_run){x, n, unit_of(x->graph, n), x->graph->be, x->workspace};
}

static size_t input_count(const struct bmst_rev_unit *u) {
    return (size_t)u->n * u->h * u->w * u->c_in;
}

static void forward(struct bmst_exec *x, const struct bmst_node *n) {
    struct unit_run r = unit_run_of(x, n);
    struct bmst_rev_unit *u = r.u;
    const void *in = bmst_exec_value(x, n->in[0]);
    size_t rows_in = (size_t)u->n * u->h * u->w;
    int training = x->graph->training;
    if (training && u->check && x->graph->values[n->in[0]].rebuilt) {
        if (!u->check_copy) u->check_copy = bmst_xmalloc(input_count(u) * sizeof(float));
        r.be->download_act(r.be, u->check_copy, in, input_count(u));
    }
    split(&r, rows_in, u->c_in / 2, in, at(&r, u->x1), at(&r, u->x2));
    unit_forward(&r, training ? RUN_TRAIN : RUN_EVAL, 1);
    join(&r, rows_out(u), u->c_out / 2, at(&r, u->y1), at(&r, u->y2), bmst_exec_value(x, n->out));
}

/* --check-reconstruction: the rebuilt input against forward's copy. */
static void check_rebuilt(const struct unit_run *r, const void *rebuilt) {
    struct bmst_rev_unit *u = r->u;
    size_t count = input_count(u);
    float *host = bmst_xmalloc(count * sizeof(float));
    r->be->download_act(r->be, host, rebuilt, count);
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)host[i] - u->check_copy[i]), a = fabs((double)u->check_copy[i]);
        if (d > worst || isnan(d)) worst = d;
        if (a > scale) scale = a;
    }
    u->check_error = scale > 0.0 ? worst / scale : worst;
    free(host);
}

/* Rebuilds the input from the output into `target`: x2 = y2 - G(y1), x1 =
 * y1 - F(x2), which leaves G's intermediates (from y1) and F's (from x2) as
 * backward wants them. */
static void rebuild(const struct unit_run *r, void *target) {
    const struct bmst_rev_unit *u = r->u;
    size_t count = rows_out(u) * (size_t)(u->c_out / 2);
    split(r, rows_out(u), u->c_out / 2, bmst_saved_get(r->x, r->n, 1).data, at(r, u->y1),
          at(r, u->y2));
    branch_forward(r, &u->g, at(r, u->y1), RUN_RERUN);
    r->be->add->sub(r->be, count, at(r, u->y2), at(r, u->g.out[u->g.layers - 1]), at(r, u->x2));
    branch_forward(r, &u->f, at(r, u->x2), RUN_RERUN);
    r->be->add->sub(r->be, count, at(r, u->y1), at(r, u->f.out[u->f.layers - 1]), at(r, u->x1));
    join(r, rows_out(u), u->c_out / 2, at(r, u->x1), at(r, u->x2), target);
    if (u->check && u->check_copy) check_rebuilt(r, target);
}

static void backward(struct bmst_exec *x, const struct bmst_node *n) {
    struct unit_run r = unit_run_of(x, n);
    const struct bmst_rev_unit *u = r.u;
    size_t rows_in = (size_t)u->n * u->h * u->w;
    void *target = bmst_saved_rebuild_target(x, n);
    if (target) {
        rebuild(&r, target);
    } else {
        split(&r, rows_in, u->c_in / 2, bmst_saved_get(x, n, 0).data, at(&r, u->x1), at(&r, u->x2));
        unit_forward(&r, RUN_RERUN, 0);
    }
    split(&r, rows_out(u), u->c_out / 2, bmst_exec_grad(x, n->out), at(&r, u->dy1), at(&r, u->dy2));
    /* y2 = s(x2) + G(y1): G's input gradient adds to y1's */
    branch_backward(&r, &u->g, at(&r, u->y1), at(&r, u->dy2), at(&r, u->dy1), 1);
    shortcut_backward(&r, 1, at(&r, u->x2), at(&r, u->dy2), at(&r, u->dx2), 0);
    /* y1 = s(x1) + F(x2) */
    branch_backward(&r, &u->f, at(&r, u->x2), at(&r, u->dy1), at(&r, u->dx2), 1);
    shortcut_backward(&r, 0, at(&r, u->x1), at(&r, u->dy1), at(&r, u->dx1), 0);
    int acc = 0;
    void *dx = bmst_exec_input_grad(x, n, 0, &acc);
    if (!dx) return;
    join(&r, rows_in, u->c_in / 2, at(&r, u->dx1), at(&r, u->dx2), acc ? at(&r, u->dx) : dx);
    if (acc) r.be->add->bwd(r.be, input_count(u), at(&r, u->dx), dx, 1);
}

/* ---- counting ---- */

static double conv_flops(const struct bmst_conv_desc *d) {
    return 2.0 * d->n * d->out_h * d->out_w * d->k * d->r * d->s * d->c;
}

/* A branch's conv FLOPs (forward) into *conv and BN-ReLU elements into *bn. */
static void branch_counts(const struct bmst_rev_branch *b, double *conv, double *bn) {
    for (int l = 0; l < b->layers; l++) {
        *conv += conv_flops(&b->conv[l]);
        if (b->has_bn[l]) *bn += (double)conv_in_count(&b->conv[l]);
    }
}

/* Forward: the convs, 7 per BN-ReLU element (BN 6, ReLU 1), 1 per add.
 * Backward runs F and G forward again (3 per BN-ReLU element with the kept
 * statistics, and the two subtractions or adds), then two passes per conv
 * and 10 per BN-ReLU element. */
static double flops(const struct bmst_graph *g, const struct bmst_node *n, int backward) {
    const struct bmst_rev_unit *u = unit_of(g, n);
    double conv = 0.0, bn = 0.0, adds = (double)bmst_shape_count(g->values[n->out].shape);
    branch_counts(&u->f, &conv, &bn);
    branch_counts(&u->g, &conv, &bn);
    if (u->shortcut == BMST_REV_PROJECT) conv += 2.0 * conv_flops(&u->proj);
    if (!backward) return conv + 7.0 * bn + adds;
    return conv + 3.0 * bn + adds + 2.0 * conv + 10.0 * bn;
}

static size_t branch_weights(const struct bmst_model *m, const struct bmst_rev_branch *b) {
    size_t count = 0;
    for (int l = 0; l < b->layers; l++) {
        count += m->params[b->conv_w[l]].count;
        if (b->has_bn[l])
            count += m->params[b->bn_param[l][0]].count + m->params[b->bn_param[l][1]].count;
    }
    return count;
}

size_t bmst_rev_unit_weights(const struct bmst_graph *g, const struct bmst_node *n) {
    const struct bmst_rev_unit *u = unit_of(g, n);
    size_t count = branch_weights(g->model, &u->f) + branch_weights(g->model, &u->g);
    if (u->shortcut == BMST_REV_PROJECT)
        count += g->model->params[u->proj_w[0]].count + g->model->params[u->proj_w[1]].count;
    return count;
}

void bmst_rev_check(struct bmst_graph *g, int on) {
    for (int i = 0; i < g->n_rev_units; i++) {
        g->rev_units[i].check = on;
        g->rev_units[i].check_error = -1.0;
    }
}

double bmst_rev_check_worst(const struct bmst_graph *g, int *unit, int *measured) {
    double worst = -1.0;
    *unit = -1;
    *measured = 0;
    for (int i = 0; i < g->n_rev_units; i++) {
        const struct bmst_rev_unit *u = &g->rev_units[i];
        if (u->check_error < 0.0) continue;
        (*measured)++;
        if (u->check_error > worst || isnan(u->check_error)) {
            worst = u->check_error;
            *unit = u->node;
        }
    }
    return worst;
}

void bmst_rev_units_free(struct bmst_graph *g) {
    for (int i = 0; i < g->n_rev_units; i++)
        free(g->rev_units[i].check_copy);
    free(g->rev_units);
    g->rev_units = NULL;
    g->n_rev_units = g->cap_rev_units = 0;
}

const struct bmst_op_def bmst_op_reversible_def = {
    .name = "revunit",
    .n_saved = 2,
    .saved = {{0, BMST_SAVED_WHOLE}, {BMST_SAVED_OUTPUT, BMST_SAVED_WHOLE}},
    .rebuilds_input = rebuilds_input,
    .supported = supported,
    .plan = plan,
    .flops = flops,
    .forward = forward,
    .backward = backward,
};
