/* The graph executor: a loop over the plan's nodes calling each op's entry in
 * the op table, forward in order and backward in reverse. A value read by
 * several nodes receives its gradient from the first backward that reaches
 * it (overwrite) and the rest add to it, so no gradient buffer is ever
 * cleared. */
#include "exec.h"

#include <stdint.h>
#include <string.h>

#include "error.h"
#include "ops/op.h"
#include "recompute.h"
#include "saved.h"
#include "stats.h"

int bmst_exec_init(struct bmst_exec *x, struct bmst_graph *g) {
    struct bmst_backend *be = g->be;
    memset(x, 0, sizeof *x);
    x->graph = g;
    x->notes = stdout;
    x->host_scalars[BMST_SCALAR_MIX] = 1.0f;
    x->host_scalars[BMST_SCALAR_LOSS_SCALE] = 1.0f;
    x->grad_written = bmst_xcalloc((size_t)(g->n_values ? g->n_values : 1), 1);
    x->arena = be->alloc(be, g->scalars_offset + BMST_SCALAR_COUNT * sizeof(float));
    x->workspace = g->workspace_bytes ? be->alloc(be, g->workspace_bytes) : NULL;
    if (!x->arena || (g->workspace_bytes && !x->workspace))
        return bmst_error("out of memory: the planned arena needs %.1f MiB",
                          (double)bmst_graph_device_bytes(g) / (1 << 20));
    x->scalars = (float *)((char *)x->arena + g->scalars_offset);
    return 0;
}

void bmst_exec_free(struct bmst_exec *x) {
    if (x->graph) {
        struct bmst_backend *be = x->graph->be;
        if (x->recording) be->capture_free(be, x->recording);
        if (x->arena) be->free(be, x->arena);
        if (x->workspace) be->free(be, x->workspace);
    }
    free(x->grad_written);
    memset(x, 0, sizeof *x);
}

void *bmst_exec_value(const struct bmst_exec *x, int value) {
    /* backward reads values through bmst_saved_get; a rerun runs forward */
    BMST_ASSERT(!x->in_backward || x->rerunning);
    const struct bmst_value *v = &x->graph->values[value];
    return (char *)x->arena + (x->rerunning && v->recompute ? v->rerun_offset : v->offset);
}

void *bmst_exec_grad(const struct bmst_exec *x, int value) {
    BMST_ASSERT(x->graph->values[value].needs_grad);
    return (char *)x->arena + x->graph->values[value].grad_offset;
}

float *bmst_exec_scratch(const struct bmst_exec *x, const struct bmst_node *n) {
    return (float *)((char *)x->arena + n->scratch_offset);
}

void *bmst_exec_input_grad(struct bmst_exec *x, const struct bmst_node *n, int j, int *accumulate) {
    int v = n->in[j];
    if (!x->graph->values[v].needs_grad) return NULL;
    *accumulate = x->grad_written[v];
    x->grad_written[v] = 1;
    return bmst_exec_grad(x, v);
}

/* Runs node i forward (then keeps its output as the plan's codec says) or
 * backward, timing it when the pass is profiled. */
static void run_node(struct bmst_exec *x, int i, int backward) {
    const struct bmst_node *n = &x->graph->nodes[i];
    const struct bmst_op_def *op = bmst_op(n->kind);
    double t = x->profile ? bmst_now() : 0.0;
    if (backward) {
        op->backward(x, n);
    } else {
        op->forward(x, n);
        if (x->graph->training) bmst_saved_keep(x, n);
    }
    if (x->profile) {
        x->graph->be->sync(x->graph->be);
        x->profile[backward * BMST_OP_KIND_COUNT + n->kind] += bmst_now() - t;
    }
}

void bmst_exec_forward(struct bmst_exec *x) {
    for (int i = 0; i < x->graph->n_nodes; i++)
        run_node(x, i, 0);
}

void bmst_exec_forward_node(struct bmst_exec *x, int i) {
    run_node(x, i, 0);
}

/* Where node n's trainable parameters begin in the flat gradient buffer, or
 * SIZE_MAX for a node without any (frozen ones have no gradient). */
static size_t grads_begin(const struct bmst_graph *g, const struct bmst_node *n) {
    size_t begin = SIZE_MAX;
    for (int i = 0; i < 4; i++) {
        if (!bmst_model_trains(g->model, n->param[i])) continue;
        const struct bmst_param *p = &g->model->params[n->param[i]];
        if (p->offset < begin) begin = p->offset;
    }
    return begin;
}

static void exec_backward(struct bmst_exec *x) {
    const struct bmst_graph *g = x->graph;
    BMST_ASSERT(g->training && g->loss_node >= 0);
    memset(x->grad_written, 0, (size_t)g->n_values);
    x->in_backward = 1;
    /* parameters were registered in forward order, so this only moves down */
    size_t first_final = g->model->n_weights;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const struct bmst_node *n = &g->nodes[i];
        if (g->n_reruns) bmst_recompute_run(x, i);
        /* the losses start backward; nodes outside their paths have no gradient to pass */
        if (n->kind != BMST_OP_XENT && !x->grad_written[n->out]) continue;
        run_node(x, i, 1);
        if (x->on_grads_ready) {
            size_t begin = grads_begin(g, n);
            if (begin < first_final) first_final = begin;
            x->on_grads_ready(x->on_grads_ctx, first_final);
        }
    }
    x->in_backward = 0;
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
static int record_pass(struct bmst_exec *x) {
    struct bmst_backend *be = x->graph->be;
    /* the bucketed all-reduce runs host code between backward ops, which a
     * recording cannot replay */
    if (!x->capture || x->passes_run < 1 || x->profile || !be->capture_begin || x->on_grads_ready)
        return 0;
    char why[256] = "the backend gave no reason";
    if (be->capture_begin(be, why, sizeof why) == 0) {
        bmst_exec_forward(x);
        exec_backward(x);
        x->recording = be->capture_end(be, why, sizeof why);
        if (x->recording) return 1;
    }
    x->capture = 0;
    if (x->notes) {
        fprintf(x->notes,
                "bmst_dist: note: the training pass could not be recorded as a CUDA graph (%s); "
                "running it op by op\n",
                why);
        fflush(x->notes);
    }
    return 0;
}

void bmst_exec_upload_scalars(struct bmst_exec *x) {
    struct bmst_backend *be = x->graph->be;
    x->host_scalars[BMST_SCALAR_AUX_LOSS_SCALE] =
        x->graph->aux_loss_weight * x->host_scalars[BMST_SCALAR_LOSS_SCALE];
    be->to_device(be, x->scalars, x->host_scalars, sizeof x->host_scalars);
}

void bmst_exec_train_pass(struct bmst_exec *x, double seconds[2]) {
    struct bmst_backend *be = x->graph->be;
    double t0 = bmst_now();
    bmst_exec_upload_scalars(x);
    /* a profiled pass runs op by op so each op can be timed */
    if (!x->profile && (x->recording || record_pass(x))) {
        be->replay(be, x->recording);
        be->to_host(be, x->host_scalars, x->scalars, sizeof x->host_scalars);
        double total = bmst_now() - t0;
        seconds[0] = total * x->forward_share;
        seconds[1] = total - seconds[0];
    } else {
        bmst_exec_forward(x);
        be->sync(be);
        double t1 = bmst_now();
        exec_backward(x);
        be->to_host(be, x->host_scalars, x->scalars, sizeof x->host_scalars);
        double t2 = bmst_now();
        seconds[0] = t1 - t0;
        seconds[1] = t2 - t1;
        x->forward_share = t2 > t0 ? (t1 - t0) / (t2 - t0) : 0.5;
    }
    x->passes_run++;
    /* with a second head, torchvision's recipe: loss + weight * aux loss */
    x->loss = x->host_scalars[BMST_SCALAR_LOSS] +
              x->graph->aux_loss_weight * x->host_scalars[BMST_SCALAR_AUX_LOSS];
}
