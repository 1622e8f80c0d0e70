/* The `info` command: a network's layers, parameters and planned memory. */
#include "info.h"

#include <stdio.h>

#include "cli_network.h"
#include "mfu.h"
#include "models/models.h"
#include "ops/op.h"

static size_t node_params(const struct bmst_graph *g, const struct bmst_node *n) {
    size_t count = 0;
    for (int i = 0; i < 4; i++)
        if (n->param[i] >= 0 && g->model->params[n->param[i]].role == BMST_PARAM_WEIGHT)
            count += g->model->params[n->param[i]].count;
    return count;
}

static double mib(size_t bytes) {
    return (double)bytes / (1 << 20);
}

/* The training arena the plain codec would take: the same network planned
 * again on the same model (its parameters found by name). */
static size_t plain_arena_bytes(struct bmst_cli_network *b) {
    const struct bmst_graph *g = &b->engine.train_graph;
    struct bmst_graph plain;
    bmst_graph_init(&plain, &b->engine.model, 1, g->batch, g->merge, g->classes);
    size_t bytes = 0;
    if (bmst_network_build(&plain, &b->spec) == 0 && bmst_graph_plan(&plain) == 0)
        bytes = plain.arena_bytes;
    bmst_graph_free(&plain);
    return bytes;
}

/* What saved activations cost before and after the codec, and the arena. */
static void print_saved(struct bmst_cli_network *b) {
    const struct bmst_graph *g = &b->engine.train_graph;
    printf("  saved for backward (--act-codec %s): %.2f MiB", bmst_act_codec_name(g->act_codec),
           mib(g->saved_bytes));
    if (g->act_codec == BMST_ACT_CODEC_PLAIN) {
        printf("\n");
        return;
    }
    printf(", plain %.2f MiB; training arena %.2f MiB, plain %.2f MiB\n", mib(g->saved_plain_bytes),
           mib(g->arena_bytes), mib(plain_arena_bytes(b)));
}

/* Floating-point operations per image (ops/op.h's counts): a training
 * image's forward and backward in the training graph (fewer after a BMST
 * merge, where B images pass as B / m), an evaluation image's forward. */
static void print_flops(const struct bmst_graph *g, const struct bmst_graph *eval) {
    double forward, backward, evaluation = 0.0;
    bmst_graph_train_flops(g, &forward, &backward);
    for (int i = 0; i < eval->n_nodes; i++)
        evaluation += bmst_op_node_flops(eval, &eval->nodes[i]);
    printf("FLOPs per image: training %.4g GFLOP (forward %.4g, backward %.4g), evaluation %.4g "
           "GFLOP\n",
           (forward + backward) / g->batch / 1e9, forward / g->batch / 1e9,
           backward / g->batch / 1e9, evaluation / eval->batch / 1e9);
}

/* "  optimizer state (adamw: exp_avg, exp_avg_sq, --no-decay mask): 2.1 MiB" */
static void print_optimizer(const struct bmst_optim *o) {
    char what[128];
    size_t used = (size_t)snprintf(what, sizeof what, "%s:", o->type->name);
    for (int i = 0; i < o->type->n_state && used < sizeof what; i++)
        used += (size_t)snprintf(what + used, sizeof what - used, "%s %s", i ? "," : "",
                                 o->type->state[i].name);
    if (o->decay && used < sizeof what)
        snprintf(what + used, sizeof what - used, ", --no-decay mask");
    printf("  optimizer state (%s): %.1f MiB\n", what, mib(bmst_optim_bytes(o)));
}

int bmst_info(const struct bmst_cli *cli) {
    struct bmst_cli_network b;
    int status = bmst_cli_network_open(cli, 1, 0, 0, &b);
    if (status == 0) {
        const struct bmst_graph *g = &b.engine.train_graph;
        const struct bmst_graph *eval = &b.engine.eval_graph;
        const struct bmst_model *model = &b.engine.model;
        printf("%s for %dx%dx%d inputs, %d classes; training batch %d, merge %d at c%d\n",
               b.spec.arch, b.spec.h, b.spec.w, b.spec.c, b.spec.classes, g->batch, g->merge,
               b.spec.mix_at);
        printf("%s mix points: %s\n\n", bmst_network_family(b.spec.arch),
               bmst_network_mix_points(b.spec.arch));
        printf("%4s  %-8s %-28s %-20s %10s\n", "#", "op", "name", "output (NHWC)", "params");
        for (int i = 0; i < g->n_nodes; i++) {
            const struct bmst_node *n = &g->nodes[i];
            struct bmst_shape s = g->values[n->out].shape;
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%dx%d", s.n, s.h, s.w, s.c);
            printf("%4d  %-8s %-28s %-20s %10zu\n", i, bmst_op_name(n->kind), n->name, shape,
                   node_params(g, n));
        }
        printf("\nparameters: %zu trainable (%.1f MiB), %zu in running statistics\n",
               model->n_weights, mib(model->n_weights * sizeof(float)), model->n_buffers);
        printf("planned memory on %s in %s: %.1f MiB in all\n", b.engine.be->name,
               bmst_dtype_name(b.engine.be->act_dtype), mib(bmst_engine_planned_bytes(&b.engine)));
        printf("  weights, gradients, statistics%s: %.1f MiB\n",
               model->weights_act != model->weights ? ", compute copy" : "",
               mib(bmst_model_bytes(model)));
        print_optimizer(&b.engine.optim);
        printf("  training arena: %.1f MiB (%.1f MiB without the liveness plan), conv workspace "
               "%.1f MiB\n",
               mib(g->arena_bytes), mib(g->naive_bytes), mib(g->workspace_bytes));
        printf("  evaluation arena (batch %d): %.1f MiB, conv workspace %.1f MiB\n", eval->batch,
               mib(eval->arena_bytes), mib(eval->workspace_bytes));
        print_saved(&b);
        print_flops(g, eval);
    }
    bmst_engine_close(&b.engine);
    return status;
}
