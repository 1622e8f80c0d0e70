/* The `info` and `bench` commands: a network's layers and planned memory, and
 * training-step throughput on synthetic inputs with per-op timing. */
#include "inspect.h"

#include <string.h>

#include "comm.h"
#include "dataset.h"
#include "error.h"
#include "ops.h"
#include "rng.h"
#include "stats.h"
#include "step.h"

/* A model with a training graph (and an evaluation graph for info). */
struct built {
    struct bmst_backend *be;
    struct bmst_model model;
    struct bmst_graph train, eval;
    struct bmst_network_spec spec;
};

static int spec_from_cli(const struct bmst_cli *cli, struct bmst_network_spec *spec) {
    memset(spec, 0, sizeof *spec);
    snprintf(spec->arch, sizeof spec->arch, "%s", cli->run.arch);
    spec->mix_at = cli->run.mix_at;
    spec->h = cli->shape_h, spec->w = cli->shape_w, spec->c = cli->shape_c;
    spec->classes = cli->classes;
    if (!cli->run.data_path) return 0;
    struct bmst_dataset *ds;
    if (bmst_dataset_open(cli->run.data_path, &ds) != 0) return -1;
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    spec->h = info->h, spec->w = info->w, spec->c = info->c, spec->classes = info->classes;
    bmst_dataset_close(ds);
    return 0;
}

static void built_free(struct built *b) {
    if (b->train.nodes) bmst_graph_free(&b->train);
    if (b->eval.nodes) bmst_graph_free(&b->eval);
    if (b->model.be) bmst_model_free(&b->model);
    if (b->be) b->be->destroy(b->be);
}

static int build(const struct bmst_cli *cli, int with_eval, struct built *b) {
    memset(b, 0, sizeof *b);
    if (spec_from_cli(cli, &b->spec) != 0) return -1;
    b->be = bmst_backend_cpu_create(cli->run.threads);
    bmst_model_init(&b->model, b->be, b->spec.arch);
    bmst_graph_init(&b->train, &b->model, 1, cli->run.batch, cli->run.merge, b->spec.classes);
    if (bmst_network_build(&b->train, &b->spec) != 0) return -1;
    if (with_eval) {
        bmst_graph_init(&b->eval, &b->model, 0, cli->run.batch, 1, b->spec.classes);
        if (bmst_network_build(&b->eval, &b->spec) != 0) return -1;
    }
    if (bmst_model_allocate(&b->model) != 0) return -1;
    bmst_model_initialize(&b->model, cli->run.seed);
    if (bmst_graph_plan(&b->train) != 0) return -1;
    if (with_eval && bmst_graph_plan(&b->eval) != 0) return -1;
    return 0;
}

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

int bmst_info(const struct bmst_cli *cli) {
    struct built b;
    int status = build(cli, 1, &b);
    if (status == 0) {
        const struct bmst_graph *g = &b.train;
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
               b.model.n_weights, mib(b.model.n_weights * sizeof(float)), b.model.n_buffers);
        printf("planned memory: %.1f MiB in all\n",
               mib(bmst_model_bytes(&b.model) + g->arena_bytes + g->workspace_bytes +
                   b.eval.arena_bytes + b.eval.workspace_bytes));
        printf("  weights, gradients, momentum, statistics: %.1f MiB\n",
               mib(bmst_model_bytes(&b.model)));
        printf("  training arena: %.1f MiB (%.1f MiB without the liveness plan), conv workspace "
               "%.1f MiB\n",
               mib(g->arena_bytes), mib(g->naive_bytes), mib(g->workspace_bytes));
        printf("  evaluation arena (batch %d): %.1f MiB, conv workspace %.1f MiB\n", b.eval.batch,
               mib(b.eval.arena_bytes), mib(b.eval.workspace_bytes));
    }
    built_free(&b);
    return status;
}

/* Multiply-adds x2 of every convolution pass in one training step. */
static double conv_step_flops(const struct bmst_graph *g) {
    double flops = 0.0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->kind != BMST_OP_CONV) continue;
        const struct bmst_conv_desc *d = &n->desc.conv;
        double pass = 2.0 * d->n * d->out_h * d->out_w * d->k * d->r * d->s * d->c;
        flops += pass * (g->values[n->in[0]].needs_grad ? 3.0 : 2.0);
    }
    return flops;
}

/* The backend's sgemm rate, measured as a 1x1 convolution over 1x1 images:
 * exactly one [n, c] x [c, k] product with no im2col. */
static double sgemm_gflops(struct bmst_backend *be) {
    const int n = 1024;
    struct bmst_conv_desc d = {.n = n, .h = 1, .w = 1, .c = n, .k = n, .r = 1, .s = 1,
                               .stride_h = 1, .stride_w = 1, .out_h = 1, .out_w = 1};
    float *a = be->alloc(be, (size_t)n * n * sizeof(float));
    float *w = be->alloc(be, (size_t)n * n * sizeof(float));
    float *y = be->alloc(be, (size_t)n * n * sizeof(float));
    size_t ws_bytes = be->conv_workspace_bytes(be, &d);
    void *ws = ws_bytes ? be->alloc(be, ws_bytes) : NULL;
    be->zero(be, a, (size_t)n * n * sizeof(float));
    be->zero(be, w, (size_t)n * n * sizeof(float));
    be->conv_fwd(be, &d, a, w, y, ws);
    int reps = 10;
    double t = bmst_now();
    for (int i = 0; i < reps; i++) be->conv_fwd(be, &d, a, w, y, ws);
    be->sync(be);
    t = bmst_now() - t;
    be->free(be, a), be->free(be, w), be->free(be, y);
    if (ws) be->free(be, ws);
    return 2.0 * n * n * (double)n * reps / t / 1e9;
}

int bmst_bench(const struct bmst_cli *cli) {
    struct built b;
    if (build(cli, 0, &b) != 0) {
        built_free(&b);
        return -1;
    }
    struct bmst_graph *g = &b.train;
    size_t image_count = bmst_shape_count(g->values[g->images].shape);
    float *images = bmst_xmalloc(image_count * sizeof(float));
    int32_t *labels = bmst_xmalloc((size_t)g->batch * sizeof(int32_t));
    float *targets = bmst_xmalloc((size_t)g->batch * g->classes * sizeof(float));
    struct bmst_rng rng = bmst_rng_make(cli->run.seed, BMST_RNG_AUGMENT, 0);
    for (size_t i = 0; i < image_count; i++) images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < g->batch; i++) labels[i] = (int32_t)bmst_rng_below(&rng, g->classes);
    struct bmst_batch batch = {.images = images, .labels = labels, .valid = g->batch};
    struct bmst_step_config sc = {.seed = cli->run.seed, .mix_alpha = 1.0f,
                                  .sgd = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f}};
    double phase[BMST_PHASE_COUNT] = {0};
    struct bmst_comm *comm = bmst_comm_single_create();
    for (int i = 0; i < cli->warmup; i++)
        bmst_train_step(g, comm, &sc, i, &batch, targets, phase);
    double profile[2 * BMST_OP_KIND_COUNT] = {0};
    g->profile = profile;
    double t = bmst_now();
    for (int i = 0; i < cli->steps; i++)
        bmst_train_step(g, comm, &sc, cli->warmup + i, &batch, targets, phase);
    double seconds = bmst_now() - t;
    g->profile = NULL;

    double conv_seconds = profile[BMST_OP_CONV] + profile[BMST_OP_KIND_COUNT + BMST_OP_CONV];
    double conv_gflops = conv_step_flops(g) * cli->steps / conv_seconds / 1e9;
    double sgemm = sgemm_gflops(b.be);
    printf("per step (ms):");
    for (int k = 0; k < BMST_OP_KIND_COUNT; k++) {
        double s = profile[k] + profile[BMST_OP_KIND_COUNT + k];
        if (s > 0) printf(" %s %.2f", bmst_op_name(k), 1e3 * s / cli->steps);
    }
    printf("\nbench: net=%s shape=%dx%dx%d batch=%d merge=%d steps=%d images_per_s=%.1f "
           "step_ms=%.2f planned_mib=%.1f peak_rss_mib=%.1f conv_gflops=%.2f sgemm_gflops=%.2f\n",
           b.spec.arch, b.spec.h, b.spec.w, b.spec.c, g->batch, g->merge, cli->steps,
           g->batch * cli->steps / seconds, 1e3 * seconds / cli->steps,
           mib(bmst_model_bytes(&b.model) + g->arena_bytes + g->workspace_bytes),
           bmst_peak_rss_mib(), conv_gflops, sgemm);
    comm->destroy(comm);
    free(images), free(labels), free(targets);
    built_free(&b);
    return 0;
}
