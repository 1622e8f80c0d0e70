/* The graph executor: runs nodes forward in order and backward in reverse,
 * dispatching each to the backend. A value read by several nodes receives its
 * gradient from the first backward that reaches it (overwrite) and the rest
 * add to it, so no gradient buffer is ever cleared. */
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "stats.h"

static void backward_node(struct bmst_graph *g, struct bmst_node *n, char *written);

static float *scratch(const struct bmst_graph *g, const struct bmst_node *n) {
    return (float *)((char *)g->arena + n->scratch_offset);
}

/* fp32 parameters: batch norm's, the fully connected bias */
static float *param(const struct bmst_graph *g, const struct bmst_node *n, int i) {
    return bmst_model_data(g->model, n->param[i]);
}

/* what convolutions and fully connected layers multiply by: the compute copy */
static const void *weight(const struct bmst_graph *g, const struct bmst_node *n) {
    return bmst_model_act_data(g->model, n->param[0]);
}

static float *param_grad(const struct bmst_graph *g, const struct bmst_node *n, int i) {
    return bmst_model_grad(g->model, n->param[i]);
}

static void forward_node(struct bmst_graph *g, struct bmst_node *n) {
    struct bmst_backend *be = g->be;
    const void *x = n->n_in > 0 ? bmst_graph_value(g, n->in[0]) : NULL;
    void *y = bmst_graph_value(g, n->out);
    size_t count = bmst_shape_count(g->values[n->out].shape);
    switch (n->kind) {
    case BMST_OP_INPUT: break;
    case BMST_OP_CONV:
        be->conv->fwd(be, &n->desc.conv, x, weight(g, n), y, g->workspace);
        break;
    case BMST_OP_BN:
        if (g->training) {
            float *mean = scratch(g, n), *invstd = mean + n->desc.bn.c;
            be->bn->fwd_train(be, &n->desc.bn, x, param(g, n, 0), param(g, n, 1), y, mean, invstd,
                              param(g, n, 2), param(g, n, 3));
        } else {
            be->bn->fwd_eval(be, &n->desc.bn, x, param(g, n, 0), param(g, n, 1), param(g, n, 2),
                             param(g, n, 3), y);
        }
        break;
    case BMST_OP_RELU:
        be->relu->fwd(be, count, x, y);
        break;
    case BMST_OP_ADD:
        be->add->fwd(be, count, x, bmst_graph_value(g, n->in[1]), y);
        break;
    case BMST_OP_MAXPOOL:
        be->maxpool->fwd(be, &n->desc.pool, x, y);
        break;
    case BMST_OP_AVGPOOL:
        be->avgpool->fwd(be, &n->desc.pool, x, y);
        break;
    case BMST_OP_GAP: {
        struct bmst_shape s = g->values[n->in[0]].shape;
        be->gap->fwd(be, s.n, s.h * s.w, s.c, x, y);
        break;
    }
    case BMST_OP_FC: {
        struct bmst_shape s = g->values[n->in[0]].shape;
        be->fc->fwd(be, s.n, s.h * s.w * s.c, g->values[n->out].shape.c, x, weight(g, n),
                    param(g, n, 1), y);
        break;
    }
    case BMST_OP_CONCAT: {
        struct bmst_shape s = g->values[n->out].shape;
        size_t rows = (size_t)s.n * s.h * s.w;
        for (int i = 0, offset = 0; i < n->n_in; i++) {
            int part = g->values[n->in[i]].shape.c;
            be->concat->fwd(be, rows, s.c, offset, part, bmst_graph_value(g, n->in[i]), y);
            offset += part;
        }
        break;
    }
    case BMST_OP_MIX:
        be->mix->fwd(be, g->values[n->out].dtype, g->merge, count, g->scalars + BMST_SCALAR_MIX, x,
                     y);
        break;
    case BMST_OP_XENT: {
        struct bmst_shape s = g->values[n->in[0]].shape;
        be->xent->fwd(be, s.n, s.c, x, bmst_graph_value(g, n->in[1]), scratch(g, n),
                      g->scalars + BMST_SCALAR_LOSS);
        break;
    }
    }
}

/* Runs node i forward or backward, timing it when the graph is profiled. */
static void run_node(struct bmst_graph *g, int i, int backward) {
    struct bmst_node *n = &g->nodes[i];
    double t = g->profile ? bmst_now() : 0.0;
    if (backward) backward_node(g, n, g->grad_written);
    else forward_node(g, n);
    if (g->profile) {
        g->be->sync(g->be);
        g->profile[backward * BMST_OP_KIND_COUNT + n->kind] += bmst_now() - t;
    }
}

void bmst_graph_forward(struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) run_node(g, i, 0);
}

/* The gradient of input j of n, or NULL when none flows there; *acc says
 * whether an earlier backward already wrote it. */
static void *input_grad(struct bmst_graph *g, const struct bmst_node *n, int j, char *written,
                         int *acc) {
    int v = n->in[j];
    if (!g->values[v].needs_grad) return NULL;
    *acc = written[v];
    written[v] = 1;
    return bmst_graph_grad(g, v);
}

static void backward_node(struct bmst_graph *g, struct bmst_node *n, char *written) {
    struct bmst_backend *be = g->be;
    int acc = 0;
    const void *x = n->n_in > 0 ? bmst_graph_value(g, n->in[0]) : NULL;
    const void *dy = g->values[n->out].needs_grad ? bmst_graph_grad(g, n->out) : NULL;
    size_t count = bmst_shape_count(g->values[n->out].shape);
    switch (n->kind) {
    case BMST_OP_INPUT: break;
    case BMST_OP_CONV: {
        /* the passes the plan gave the backend (graph.c's conv_passes) */
        be->conv->bwd_filter(be, &n->desc.conv, x, dy, param_grad(g, n, 0), g->workspace);
        if (n->conv_passes & BMST_CONV_BWD_DATA) {
            void *dx = input_grad(g, n, 0, written, &acc);
            be->conv->bwd_data(be, &n->desc.conv, dy, weight(g, n), dx, acc, g->workspace);
        }
        break;
    }
    case BMST_OP_BN: {
        float *mean = scratch(g, n), *invstd = mean + n->desc.bn.c;
        void *dx = input_grad(g, n, 0, written, &acc);
        BMST_ASSERT(dx != NULL);
        be->bn->bwd(be, &n->desc.bn, x, dy, param(g, n, 0), mean, invstd, dx, param_grad(g, n, 0),
                    param_grad(g, n, 1), acc);
        break;
    }
    case BMST_OP_RELU: {
        void *dx = input_grad(g, n, 0, written, &acc);
        if (dx) be->relu->bwd(be, count, bmst_graph_value(g, n->out), dy, dx, acc);
        break;
    }
    case BMST_OP_ADD:
        for (int j = 0; j < 2; j++) {
            void *dx = input_grad(g, n, j, written, &acc);
            if (dx) be->add->bwd(be, count, dy, dx, acc);
        }
        break;
    case BMST_OP_MAXPOOL: {
        void *dx = input_grad(g, n, 0, written, &acc);
        if (dx) be->maxpool->bwd(be, &n->desc.pool, x, dy, dx, acc);
        break;
    }
    case BMST_OP_AVGPOOL: {
        void *dx = input_grad(g, n, 0, written, &acc);
        if (dx) be->avgpool->bwd(be, &n->desc.pool, dy, dx, acc);
        break;
    }
    case BMST_OP_GAP: {
        struct bmst_shape s = g->values[n->in[0]].shape;
        void *dx = input_grad(g, n, 0, written, &acc);
        if (dx) be->gap->bwd(be, s.n, s.h * s.w, s.c, dy, dx, acc);
        break;
    }
    case BMST_OP_FC: {
        struct bmst_shape s = g->values[n->in[0]].shape;
        int in = s.h * s.w * s.c, out = g->values[n->out].shape.c;
        be->fc->bwd_filter(be, s.n, in, out, x, dy, param_grad(g, n, 0), param_grad(g, n, 1));
        void *dx = input_grad(g, n, 0, written, &acc);
        if (dx) be->fc->bwd_data(be, s.n, in, out, dy, weight(g, n), dx, acc);
        break;
    }
    case BMST_OP_CONCAT: {
        struct bmst_shape s = g->values[n->out].shape;
        size_t rows = (size_t)s.n * s.h * s.w;
        for (int j = 0, offset = 0; j < n->n_in; j++) {
            int part = g->values[n->in[j]].shape.c;
            void *dx = input_grad(g, n, j, written, &acc);
            if (dx) be->concat->bwd(be, rows, s.c, offset, part, dy, dx, acc);
            offset += part;
        }
        break;
    }
    case BMST_OP_MIX: {
        void *dx = input_grad(g, n, 0, written, &acc);
        if (dx) be->mix->bwd(be, g->merge, count, g->scalars + BMST_SCALAR_MIX, dy, dx, acc);
        break;
    }
    case BMST_OP_XENT: {
        struct bmst_shape s = g->values[n->in[0]].shape;
        void *dlogits = input_grad(g, n, 0, written, &acc);
        BMST_ASSERT(dlogits != NULL && !acc);
        be->xent->bwd(be, s.n, s.c, scratch(g, n), bmst_graph_value(g, n->in[1]),
                      g->scalars + BMST_SCALAR_LOSS_SCALE, dlogits);
        break;
    }
    }
}

/* Where node n's trainable parameters begin in the flat gradient buffer, or
 * SIZE_MAX for a node without any. */
static size_t grads_begin(const struct bmst_graph *g, const struct bmst_node *n) {
    size_t begin = SIZE_MAX;
    for (int i = 0; i < 4; i++) {
        if (n->param[i] < 0) continue;
        const struct bmst_param *p = &g->model->params[n->param[i]];
        if (p->role == BMST_PARAM_WEIGHT && p->offset < begin) begin = p->offset;
    }
    return begin;
}

static void graph_backward(struct bmst_graph *g) {
    BMST_ASSERT(g->training && g->loss_node >= 0);
    memset(g->grad_written, 0, (size_t)g->n_values);
    /* parameters were registered in forward order, so this only moves down */
    size_t first_final = g->model->n_weights;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const struct bmst_node *n = &g->nodes[i];
        /* nodes outside the loss's path have no gradient to pass */
        if (n->kind != BMST_OP_XENT && !g->grad_written[n->out]) continue;
        run_node(g, i, 1);
        if (g->on_grads_ready) {
            size_t begin = grads_begin(g, n);
            if (begin < first_final) first_final = begin;
            g->on_grads_ready(g->on_grads_ctx, first_final);
        }
    }
}

void bmst_graph_sync_bn(struct bmst_graph *g, const struct bmst_bn_sync *sync) {
    BMST_ASSERT(g->training);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].kind == BMST_OP_BN) g->nodes[i].desc.bn.sync = sync;
}

/* Records forward and backward once the first pass has run eagerly (which
 * is when the backend and its libraries settle their lazy state; the
 * convolution algorithms were chosen at planning); returns 1 when the pass
 * now has a recording to replay.
 *
 * A recording that fails (a call the device libraries refuse while
 * recording, say) is given up for the run: nothing of it ran, so the caller
 * runs this same pass op by op on the same inputs, and every later pass too,
 * with one line saying why. The host-side state the recorded pass went
 * through is set again by that eager pass (backward clears grad_written
 * first); the all-reduce hook, which would have been told about gradients
 * that were never computed, is never set here. */
static int record_pass(struct bmst_graph *g) {
    struct bmst_backend *be = g->be;
    /* the bucketed all-reduce runs host code between backward ops, which a
     * recording cannot replay */
    if (!g->capture || g->passes_run < 1 || g->profile || !be->capture_begin || g->on_grads_ready)
        return 0;
    char why[256] = "the backend gave no reason";
    if (be->capture_begin(be, why, sizeof why) == 0) {
        bmst_graph_forward(g);
        graph_backward(g);
        g->recording = be->capture_end(be, why, sizeof why);
        if (g->recording) return 1;
    }
    g->capture = 0;
    if (g->notes) {
        fprintf(g->notes,
                "bmst_dist: note: the training pass could not be recorded as a CUDA graph (%s); "
                "running it op by op\n",
                why);
        fflush(g->notes);
    }
    return 0;
}

void bmst_graph_upload_scalars(struct bmst_graph *g) {
    g->be->to_device(g->be, g->scalars, g->host_scalars, sizeof g->host_scalars);
}

void bmst_graph_train_pass(struct bmst_graph *g, double seconds[2]) {
    struct bmst_backend *be = g->be;
    double t0 = bmst_now();
    bmst_graph_upload_scalars(g);
    /* a profiled pass runs op by op so each op can be timed */
    if (!g->profile && (g->recording || record_pass(g))) {
        be->replay(be, g->recording);
        be->to_host(be, g->host_scalars, g->scalars, sizeof g->host_scalars);
        double total = bmst_now() - t0;
        seconds[0] = total * g->forward_share;
        seconds[1] = total - seconds[0];
    } else {
        bmst_graph_forward(g);
        be->sync(be);
        double t1 = bmst_now();
        graph_backward(g);
        be->to_host(be, g->host_scalars, g->scalars, sizeof g->host_scalars);
        double t2 = bmst_now();
        seconds[0] = t1 - t0;
        seconds[1] = t2 - t1;
        g->forward_share = t2 > t0 ? (t1 - t0) / (t2 - t0) : 0.5;
    }
    g->passes_run++;
    g->loss = g->host_scalars[BMST_SCALAR_LOSS];
}
