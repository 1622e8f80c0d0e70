/* The `info` command: a network's layers, parameters and planned memory. */
#include "info.h"

#include <stdio.h>

#include "cli_network.h"
#include "ops.h"

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
        const struct bmst_graph *g = &b.engine.train;
        const struct bmst_graph *eval = &b.engine.eval;
        const struct bmst_model *model = &b.engine.model;
        printf("%s for %dx%dx%d inputs, %d classes; training batch %d, merge %d at c%d\n\n",
               b.spec.arch, b.spec.h, b.spec.w, b.spec.c, b.spec.classes, g->batch, g->merge,
               b.spec.mix_at);
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
    }
    bmst_engine_close(&b.engine);
    return status;
}
