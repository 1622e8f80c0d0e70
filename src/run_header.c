/* The lines a training run starts and ends with, and its FLOPs and peak
 * (run_header.h). */
#include "run_header.h"

#include "mfu.h"

static void print_setup(FILE *out, const struct bmst_run_config *cfg,
                        const struct bmst_dataset_info *info, const struct bmst_engine *engine,
                        const struct bmst_comm *comm, double planned_mib) {
    const struct bmst_graph *tg = &engine->train_graph;
    char val[48] = "";
    if (info->count[BMST_SPLIT_VAL] > 0)
        snprintf(val, sizeof val, "%zu val / ", info->count[BMST_SPLIT_VAL]);
    fprintf(out,
            "%s on %s: %zu train / %s%zu test images %dx%dx%d, %d classes; batch %d, merge %d "
            "at c%d; %s %s; %zu parameters; planned memory %.1f MiB (arena %.1f of %.1f MiB "
            "unplanned)\n",
            cfg->arch, info->name, info->count[BMST_SPLIT_TRAIN], val, info->count[BMST_SPLIT_TEST],
            info->h, info->w, info->c, info->classes, cfg->batch, cfg->merge, cfg->mix_at,
            engine->be->name, bmst_dtype_name(cfg->precision), engine->model.n_weights, planned_mib,
            (double)tg->arena_bytes / (1 << 20), (double)tg->naive_bytes / (1 << 20));
    if (comm->world > 1)
        fprintf(out,
                "%d ranks (%s): global batch %d, gradients all-reduced as %s in %d MiB buckets, "
                "batch norm %s; a collective waits at most %g s (--comm-timeout)\n",
                comm->world, comm->name, cfg->batch * comm->world, bmst_dtype_name(cfg->grad_comm),
                cfg->bucket_mib, cfg->sync_bn ? "synchronized" : "per rank", comm->timeout_s);
}

void bmst_run_header(FILE *out, const struct bmst_run_config *cfg,
                     const struct bmst_dataset_info *info, struct bmst_engine *engine,
                     struct bmst_comm *comm, double planned_mib, struct bmst_run_flops *flops) {
    if (out) print_setup(out, cfg, info, engine, comm, planned_mib);
    /* MFU: the op table's FLOPs against the sum of the ranks' peaks */
    double forward, backward;
    bmst_graph_train_flops(&engine->train_graph, &forward, &backward);
    flops->image_flops = (forward + backward) / cfg->batch;
    const char *source;
    double peak = bmst_peak_flops(engine->be, cfg->precision, &source);
    double sums[2] = {peak, peak > 0 ? 0.0 : 1.0}; /* the peaks, the ranks without one */
    comm->allreduce_host_f64(comm, sums, 2);
    flops->job_peak = sums[1] > 0 ? 0.0 : sums[0];
    if (!out) return;
    fprintf(out, "%.4g GFLOP per training image; peak %.4g TFLOP/s per rank in %s (%s)",
            flops->image_flops / 1e9, peak / 1e12, bmst_dtype_name(cfg->precision), source);
    if (comm->world > 1) fprintf(out, "; the job's %.4g TFLOP/s", flops->job_peak / 1e12);
    fputc('\n', out);
}

void bmst_run_summary(FILE *out, const struct bmst_run_config *cfg, int first_epoch,
                      const struct bmst_epoch_stats *last, double best_accuracy, int best_epoch,
                      double total_seconds, double total_images) {
    int epochs_run = cfg->epochs - first_epoch;
    if (epochs_run <= 0) {
        fprintf(out, "nothing to do: the checkpoint has already trained %d of %d epochs\n",
                first_epoch, cfg->epochs);
        return;
    }
    fputs("done: ", out);
    if (last->has_val)
        fprintf(out, "val accuracy %.2f%% (best %.2f%% at epoch %d), ", 100.0 * last->val_accuracy,
                100.0 * best_accuracy, best_epoch);
    fprintf(out,
            "test accuracy %.2f%%, %.1f s per epoch, %.0f images/s, peak memory %.0f MiB planned, "
            "%.0f MiB process\n",
            100.0 * last->test_accuracy, total_seconds / epochs_run, total_images / total_seconds,
            last->planned_mib, last->peak_rss_mib);
}
