/* The `info` command: a network's layers, parameters and planned memory. */
#include "info.h"

#include <stdio.h>
#include <string.h>

#include "cli_network.h"
#include "mfu.h"
#include "models/models.h"
#include "ops/op.h"
#include "recompute.h"
#include "ops/reversible.h"

static size_t node_params(const struct bmst_graph *g, const struct bmst_node *n) {
    if (n->kind == BMST_OP_REVERSIBLE) return bmst_rev_unit_weights(g, n);
    size_t count = 0;
    for (int i = 0; i < 4; i++)
        if (n->param[i] >= 0 && g->model->params[n->param[i]].role == BMST_PARAM_WEIGHT)
            count += g->model->params[n->param[i]].count;
    return count;
}

static double mib(size_t bytes) {
    return (double)bytes / (1 << 20);
}

/* The training graph planned again on the same model (its parameters found
 * by name), with `codec` and `recompute` on backend `be`: *out gets its plan's sizes (all 0
 * where planning fails). */
static void replan(struct bmst_cli_network *b, struct bmst_backend *be, enum bmst_act_codec codec,
                   enum bmst_recompute recompute, struct bmst_graph *out) {
    const struct bmst_graph *g = &b->engine.train_graph;
    struct bmst_graph again;
    bmst_graph_init(&again, &b->engine.model, 1, g->batch, g->merge, g->classes);
    again.be = be;
    again.act_codec = codec;
    again.division_block = g->division_block;
    again.division_bits = g->division_bits;
    again.recompute = recompute;
    memset(out, 0, sizeof *out);
    if (bmst_network_build(&again, &b->spec) == 0 && bmst_graph_plan(&again) == 0) {
        out->arena_bytes = again.arena_bytes;
        out->saved_bytes = again.saved_bytes;
        out->saved_plain_bytes = again.saved_plain_bytes;
    }
    bmst_graph_free(&again);
}

static size_t plain_arena_bytes(struct bmst_cli_network *b) {
    struct bmst_graph plain;
    replan(b, b->engine.be, BMST_ACT_CODEC_PLAIN, BMST_RECOMPUTE_NONE, &plain);
    return plain.arena_bytes;
}

/* The CPU keeps fp16 and bf16 activations as floats rounded to the half
 * type (backend.h's act_bytes); a GPU keeps them in 2 bytes. The same plan
 * with 2-byte activations: what the run would keep on a GPU. */
static void print_half_on_gpu(struct bmst_cli_network *b) {
    const struct bmst_graph *g = &b->engine.train_graph;
    if (g->be->act_dtype == BMST_F32 || g->be->act_bytes == 2) return;
    struct bmst_backend half = *g->be;
    half.act_bytes = 2;
    struct bmst_graph codec, plain;
    replan(b, &half, g->act_codec, g->recompute, &codec);
    replan(b, &half, BMST_ACT_CODEC_PLAIN, BMST_RECOMPUTE_NONE, &plain);
    printf("  in 2-byte %s, as a GPU keeps it: saved for backward %.2f MiB, plain %.2f MiB; "
           "training arena %.2f MiB, plain %.2f MiB\n",
           bmst_dtype_name(g->be->act_dtype), mib(codec.saved_bytes), mib(plain.saved_bytes),
           mib(codec.arena_bytes), mib(plain.arena_bytes));
}

/* What saved activations cost before and after the codec and recomputation,
 * and the arena. */
static void print_saved(struct bmst_cli_network *b) {
    const struct bmst_graph *g = &b->engine.train_graph;
    printf("  saved for backward (--act-codec %s", bmst_act_codec_name(g->act_codec));
    if (g->recompute != BMST_RECOMPUTE_NONE)
        printf(", --recompute %s", bmst_recompute_name(g->recompute));
    printf("): %.2f MiB", mib(g->saved_bytes));
    if (g->act_codec == BMST_ACT_CODEC_PLAIN && g->recompute == BMST_RECOMPUTE_NONE) {
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
        /* a reversible unit's intermediates live in the workspace */
        const char *ws =
            g->n_rev_units ? "workspace (convs, one reversible unit)" : "conv workspace";
        printf("  training arena: %.1f MiB (%.1f MiB without the liveness plan), %s %.1f MiB\n",
               mib(g->arena_bytes), mib(g->naive_bytes), ws, mib(g->workspace_bytes));
        printf("  evaluation arena (batch %d): %.1f MiB, %s %.1f MiB\n", eval->batch,
               mib(eval->arena_bytes), ws, mib(eval->workspace_bytes));
        print_saved(&b);
        print_half_on_gpu(&b);
        print_flops(g, eval);
    }
    bmst_engine_close(&b.engine);
    return status;
}
