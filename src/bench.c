/* The `bench` command: training-step throughput on synthetic inputs, per-op
 * times, and the convolutions' rate against the backend's matrix rate. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include "cli_network.h"
#include "error.h"
#include "mfu.h"
#include "ops/op.h"
#include "ops/reversible.h"
#include "rng.h"
#include "run_settings.h"
#include "stats.h"
#include "step.h"

static double mib(size_t bytes) {
    return (double)bytes / (1 << 20);
}

/* FLOPs of every convolution pass in one training step, as the op table
 * counts them: the passes the plan gave each conv. */
static double conv_step_flops(const struct bmst_graph *g) {
    double flops = 0.0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].kind == BMST_OP_CONV) flops += bmst_op_node_flops(g, &g->nodes[i]);
    return flops;
}

/* --check-reconstruction: one more step, run op by op (a recorded pass
 * would skip the host-side check), in which every unit whose input is
 * rebuilt compares it with a copy of its forward input; prints the worst
 * relative error (max |rebuilt - x| / max |x| of the unit's input). */
static void check_reconstruction(struct bmst_exec *x, struct bmst_grad_sync *sync,
                                 const struct bmst_step_config *sc, long step,
                                 const struct bmst_batch *batch, float *targets,
                                 struct bmst_loss_scaler *scaler, int report) {
    double profile[2 * BMST_OP_KIND_COUNT] = {0}, phase[BMST_PHASE_COUNT] = {0};
    x->profile = profile;
    bmst_rev_check(x->graph, 1);
    bmst_train_step(x, sync, sc, step, batch, targets, scaler, phase);
    int unit = -1, measured = 0;
    double worst = bmst_rev_check_worst(x->graph, &unit, &measured);
    bmst_rev_check(x->graph, 0);
    x->profile = NULL;
    if (report)
        printf("reconstruction: precision=%s units_rebuilt=%d worst_relative_error=%.3g at=%s\n",
               bmst_dtype_name(x->graph->be->act_dtype), measured, worst,
               unit >= 0 ? x->graph->nodes[unit].name : "-");
}

/* The timed steps run as training runs them (recorded and replayed where the
 * backend can); a few more then run with every op synchronized and timed, for
 * the per-op breakdown and the convolutions' rate. */
int bmst_bench(const struct bmst_cli *cli, struct bmst_comm *comm) {
    struct bmst_cli_network b;
    int status = bmst_cli_network_open(cli, 0, comm->local_rank, comm->rank != 0, &b);
    /* the ranks meet before their first collective: all ready, all alike */
    struct bmst_settings settings = {.len = 0};
    bmst_run_settings(&settings, "bench", &cli->run);
    bmst_settings_add(&settings, "--steps", "%d", cli->steps);
    bmst_settings_add(&settings, "--warmup", "%d", cli->warmup);
    if (status == 0 && cli->check_reconstruction && b.engine.train_graph.n_rev_units == 0)
        status = bmst_error("--check-reconstruction: %s has no reversible units (revnet38, "
                            "revnet110 and revnet164 have)",
                            b.spec.arch);
    if (status == 0) {
        bmst_settings_add(&settings, "the input shape", "%dx%dx%d", b.spec.h, b.spec.w, b.spec.c);
        bmst_settings_add(&settings, "the classes", "%d", b.spec.classes);
        bmst_run_settings_backend(&settings, b.engine.be);
    }
    if (bmst_comm_agree(comm, status, &settings) != 0) { /* one rank: main reports it */
        bmst_engine_close(&b.engine);
        comm->destroy(comm);
        return -1;
    }
    struct bmst_backend *be = b.engine.be;
    struct bmst_comm *backend_comm = bmst_comm_for_backend(comm, be);
    if (!backend_comm) bmst_comm_fail(comm, 1);
    comm = backend_comm;
    struct bmst_exec *x = &b.engine.train;
    const struct bmst_graph *g = x->graph;
    x->notes = comm->rank == 0 ? stdout : NULL; /* one notice for the job */
    size_t image_count = bmst_shape_count(g->values[g->images].shape);
    float *images = bmst_xmalloc(image_count * sizeof(float));
    int32_t *labels = bmst_xmalloc((size_t)g->batch * sizeof(int32_t));
    float *targets = bmst_xmalloc((size_t)g->batch * g->classes * sizeof(float));
    struct bmst_rng rng = bmst_rng_make(cli->run.seed, BMST_RNG_AUGMENT, 0);
    for (size_t i = 0; i < image_count; i++) images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < g->batch; i++) labels[i] = (int32_t)bmst_rng_below(&rng, g->classes);
    struct bmst_batch batch = {.images = images, .labels = labels, .valid = g->batch};
    struct bmst_step_config sc = {.seed = cli->run.seed, .mix_alpha = 1.0f,
                                  .optim = &b.engine.optim, .lr = 0.01f};
    struct bmst_loss_scaler scaler;
    bmst_loss_scaler_init(&scaler, cli->run.precision, cli->run.loss_scale,
                          cli->run.loss_scale_window);
    double phase[BMST_PHASE_COUNT] = {0};
    struct bmst_grad_sync grad_sync;
    struct bmst_grad_sync *sync =
        bmst_grad_sync_attach(&grad_sync, comm, x, cli->run.bucket_mib, cli->run.grad_comm);
    long step = 0;
    for (int i = 0; i < cli->warmup; i++)
        bmst_train_step(x, sync, &sc, step++, &batch, targets, &scaler, phase);
    comm->barrier(comm);
    double t = bmst_now();
    for (int i = 0; i < cli->steps; i++)
        bmst_train_step(x, sync, &sc, step++, &batch, targets, &scaler, phase);
    double seconds = bmst_now() - t;
    double device_mib = be->device_used_bytes ? mib(be->device_used_bytes(be)) : 0.0;
    int recorded = x->recording != NULL;

    int profiled = cli->steps < 5 ? cli->steps : 5;
    double profile[2 * BMST_OP_KIND_COUNT] = {0};
    x->profile = profile; /* also runs the pass eagerly, op by op */
    for (int i = 0; i < profiled; i++)
        bmst_train_step(x, sync, &sc, step++, &batch, targets, &scaler, phase);
    x->profile = NULL;

    if (cli->check_reconstruction) check_reconstruction(x, sync, &sc, step++, &batch, targets,
                                                        &scaler, comm->rank == 0);

    double conv_seconds = profile[BMST_OP_CONV] + profile[BMST_OP_KIND_COUNT + BMST_OP_CONV];
    double conv_gflops = conv_step_flops(g) * profiled / conv_seconds / 1e9;
    double gemm = bmst_gemm_flops(be, 1024) / 1e9;
    if (comm->rank == 0) { /* one report for the job */
        printf("per step (ms, ops synchronized):");
        for (int k = 0; k < BMST_OP_KIND_COUNT; k++) {
            double s = profile[k] + profile[BMST_OP_KIND_COUNT + k];
            if (s > 0) printf(" %s %.2f", bmst_op_name(k), 1e3 * s / profiled);
        }
        printf("\nbench: net=%s shape=%dx%dx%d batch=%d merge=%d device=%s precision=%s graph=%s "
               "ranks=%d steps=%d images_per_s=%.1f step_ms=%.2f planned_mib=%.1f "
               "device_used_mib=%.1f peak_rss_mib=%.1f skipped_steps=%ld conv_gflops=%.2f "
               "gemm_gflops=%.2f\n",
               b.spec.arch, b.spec.h, b.spec.w, b.spec.c, g->batch, g->merge, be->name,
               bmst_dtype_name(be->act_dtype), recorded ? "on" : "off", comm->world, cli->steps,
               (double)g->batch * comm->world * cli->steps / seconds, 1e3 * seconds / cli->steps,
               mib(bmst_engine_planned_bytes(&b.engine)), device_mib, bmst_peak_rss_mib(),
               scaler.skipped, conv_gflops, gemm);
    }
    comm->destroy(comm);
    free(images), free(labels), free(targets);
    bmst_engine_close(&b.engine);
    return 0;
}
