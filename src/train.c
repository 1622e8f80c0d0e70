/* The `train` and `eval` commands: set up the backend, data, network and
 * graphs, run the epochs with their report, save and resume checkpoints. */
#include "train.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "comm.h"
#include "error.h"
#include "recompute.h"
#include "saved.h"
#include "progress.h"
#include "replicas.h"
#include "report.h"
#include "resume_check.h"
#include "run_checkpoints.h"
#include "run_settings.h"
#include "signals.h"
#include "train_scalars.h"
#include "evaluate.h"
#include "quantize.h"
#include "export_int8_h5.h"
#include "fault.h"
#include "init_weights.h"
#include "run_header.h"
#include "step.h"

/* Everything a run holds; released by session_close in reverse order. */
struct session {
    struct bmst_comm *comm; /* owned: the run ends it */
    struct bmst_dataset *ds;
    const struct bmst_dataset_info *info;
    struct bmst_engine engine;
    struct bmst_loader *train_loader, *test_loader; /* eval: test_loader reads --split's */
    struct bmst_loader *val_loader; /* training on a dataset with /val; NULL otherwise */
    float *host_targets, *host_logits;
    struct bmst_loss_scaler scaler;
    float *stats_backup; /* --on-nan skip: the running statistics a step started from */
    struct bmst_grad_sync grad_sync, *sync; /* sync: NULL for one rank */
    struct bmst_bn_sync bn_sync;
    FILE *out; /* rank 0's report lines; NULL on the other ranks */
    struct bmst_checkpoint_meta resumed; /* --resume: where the run continues */
    double best_accuracy; /* the best accuracy so far (/val's, else /test's), and its epoch */
    int best_epoch;
    time_t started;     /* when `train` began, for the report */
    struct bmst_tb *tb; /* rank 0's TensorBoard file (--tensorboard); NULL without */
    struct bmst_prune prune; /* --prune-to: prune.optim is NULL without */
};

static void session_close(struct session *s) {
    if (s->train_loader) bmst_loader_free(s->train_loader);
    if (s->test_loader) bmst_loader_free(s->test_loader);
    if (s->val_loader) bmst_loader_free(s->val_loader);
    free(s->host_targets);
    free(s->host_logits);
    if (s->prune.optim) bmst_prune_free(&s->prune);
    if (s->stats_backup) s->engine.be->free(s->engine.be, s->stats_backup);
    bmst_engine_close(&s->engine);
    if (s->ds) bmst_dataset_close(s->ds);
    if (s->comm) s->comm->destroy(s->comm);
}

/* Ends a run: a one-process run returns the status to main, which reports
 * it; in a job a failing rank ends every rank, since the others would wait
 * for it in their next collective. */
static int session_end(struct session *s, int status) {
    if (status != 0 && status != BMST_EXIT_STOPPED && s->comm && s->comm->world > 1)
        bmst_comm_fail(s->comm, 1);
    session_close(s);
    return status;
}

static void bn_allreduce(void *ctx, double *sums, size_t count) {
    struct bmst_comm *comm = ctx;
    comm->allreduce_f64(comm, sums, count);
}

/* Wires the communicator into the training graph: the bucketed gradient
 * all-reduce, and synchronized batch norm when asked. */
static void connect_ranks(struct session *s, const struct bmst_run_config *cfg) {
    s->sync = bmst_grad_sync_attach(&s->grad_sync, s->comm, &s->engine.train, cfg->bucket_mib,
                                    cfg->grad_comm);
    if (s->sync && cfg->sync_bn) {
        s->bn_sync = (struct bmst_bn_sync){bn_allreduce, s->comm, s->comm->world};
        bmst_graph_sync_bn(&s->engine.train_graph, &s->bn_sync);
    }
}

static void *pinned_alloc(void *ctx, size_t bytes) {
    struct bmst_backend *be = ctx;
    return be->host_alloc(be, bytes);
}

static void pinned_free(void *ctx, void *ptr) {
    struct bmst_backend *be = ctx;
    be->host_free(be, ptr);
}

/* Small images (up to 64 px) train with pad + crop + flip and evaluate as they
 * are; larger ones train with random resized crops and evaluate on the
 * central crop. --augment off: every split as it is. */
static enum bmst_augment augment_kind(const struct session *s, const struct bmst_run_config *cfg,
                                      enum bmst_split split) {
    int small = s->info->h <= 64 && s->info->w <= 64;
    int on = cfg->augment < 0 ? 1 : cfg->augment;
    if (!on) return BMST_AUGMENT_NONE;
    if (split == BMST_SPLIT_TRAIN) return small ? BMST_AUGMENT_PAD_CROP : BMST_AUGMENT_RESIZED_CROP;
    return small ? BMST_AUGMENT_NONE : BMST_AUGMENT_CENTER_CROP;
}

static int make_loader(struct session *s, const struct bmst_run_config *cfg, enum bmst_split split,
                       struct bmst_loader **out) {
    struct bmst_backend *be = s->engine.be;
    struct bmst_loader_config lc = {
        .split = split,
        .batch = split == BMST_SPLIT_TRAIN ? cfg->batch : cfg->eval_batch,
        .shuffle = split == BMST_SPLIT_TRAIN,
        .augment = augment_kind(s, cfg, split),
        .drop_last = split == BMST_SPLIT_TRAIN,
        .depth = cfg->prefetch,
        .workers = cfg->loader_threads,
        .seed = cfg->seed,
        .rank = s->comm->rank,
        .world = s->comm->world,
    };
    if (be->host_alloc) { /* a GPU: batches in page-locked memory, uploaded asynchronously */
        lc.host_alloc = pinned_alloc;
        lc.host_free = pinned_free;
        lc.alloc_ctx = be;
    }
    return bmst_loader_create(s->ds, &lc, out);
}

static size_t stats_backup_bytes(const struct session *s) {
    size_t n = s->engine.model.n_buffers;
    return (n ? n : 1) * sizeof(float);
}

/* Backend, data and the network's graphs (training only when `training`) of
 * `arch`, with its auxiliary classifier when `aux_logits`, and `stem`:
 * this rank's own work, before the ranks meet, so that an error every rank
 * hits is found before any collective and printed once (session_join). */
static int session_open(struct session *s, const struct bmst_run_config *cfg, int training,
                        const char *arch, int aux_logits, int stem, struct bmst_comm *comm) {
    memset(s, 0, sizeof *s);
    s->comm = comm;
    s->out = comm->rank == 0 ? stdout : NULL;
    if (cfg->fault.rank >= comm->world)
        return bmst_error("--inject-fault names rank %d, but the job has %d rank%s",
                          cfg->fault.rank, comm->world, comm->world == 1 ? "" : "s");
    if (bmst_dataset_open(cfg->data_path, &s->ds) != 0) return -1;
    s->info = bmst_dataset_get_info(s->ds);
    /* the loader's count of steps: every rank must run at least one */
    if (training && s->info->count[BMST_SPLIT_TRAIN] / (size_t)cfg->batch / comm->world == 0)
        return bmst_error("the training split (%zu samples) is smaller than one batch of %d on "
                          "each of %d ranks",
                          s->info->count[BMST_SPLIT_TRAIN], cfg->batch, comm->world);
    struct bmst_engine_config ec = {
        .device = cfg->device, .precision = cfg->precision, .threads = cfg->threads,
        .capture = cfg->capture, .deterministic = cfg->deterministic,
        .act_codec = cfg->act_codec, .division_block = cfg->division_block,
        .division_bits = cfg->division_bits, .recompute = cfg->recompute,
        .spec = {.h = s->info->h, .w = s->info->w, .c = s->info->c, .classes = s->info->classes,
                 .mix_at = cfg->mix_at, .aux_logits = aux_logits, .stem = stem},
        .train_batch = training ? cfg->batch : 0, .merge = cfg->merge, .optim = cfg->optim,
        .eval_batch = cfg->eval_batch, .seed = cfg->seed, .gpu = comm->local_rank,
        .quiet = comm->rank != 0};
    snprintf(ec.spec.arch, sizeof ec.spec.arch, "%s", arch);
    ec.optim.masked = training && cfg->prune.to > 0.0f;
    if (bmst_engine_open(&s->engine, &ec) != 0) return -1;
    bmst_loss_scaler_init(&s->scaler, cfg->precision, cfg->loss_scale, cfg->loss_scale_window);
    if (training && cfg->skip_nonfinite) {
        struct bmst_backend *be = s->engine.be;
        s->stats_backup = be->alloc(be, stats_backup_bytes(s));
        if (!s->stats_backup)
            return bmst_error("out of device memory for a copy of the running statistics");
    }
    s->host_targets = bmst_xmalloc((size_t)cfg->batch * s->info->classes * sizeof(float));
    s->host_logits = bmst_xmalloc((size_t)cfg->eval_batch * s->info->classes * sizeof(float));
    return 0;
}

/* The ranks meet: they agree that every one of them is ready and runs the
 * same settings on the same data (a rank's failure so far, `status`, or a
 * difference ends every rank with one message: bmst_comm_agree). Then the
 * collectives move onto the backend's communicator, the gradient all-reduce
 * is wired in, and the loaders start. `checkpoint`: the one resumed from or
 * evaluated, NULL for none. */
static int session_join(struct session *s, const struct bmst_run_config *cfg, int training,
                        int status, const struct bmst_checkpoint_meta *checkpoint) {
    struct bmst_settings settings = {.len = 0};
    bmst_run_settings(&settings, training ? "train" : "eval", cfg);
    if (status == 0) {
        bmst_run_settings_data(&settings, s->info);
        bmst_run_settings_backend(&settings, s->engine.be);
        if (checkpoint)
            bmst_settings_add(&settings, "the checkpoint", "%s at epoch %d, step %lld",
                              checkpoint->arch, checkpoint->epoch, (long long)checkpoint->step);
    }
    if (bmst_comm_agree(s->comm, status, &settings) != 0) return -1;
    /* GPUs: the backend-memory collectives move onto NCCL */
    struct bmst_comm *backend_comm = bmst_comm_for_backend(s->comm, s->engine.be);
    if (!backend_comm) return -1;
    s->comm = backend_comm;
    if (training) {
        connect_ranks(s, cfg);
        s->engine.train.notes = s->out; /* one notice for the job */
    }
    if (training && make_loader(s, cfg, BMST_SPLIT_TRAIN, &s->train_loader) != 0) return -1;
    /* training watches /val every epoch when the dataset has one */
    if (training && s->info->count[BMST_SPLIT_VAL] > 0 &&
        make_loader(s, cfg, BMST_SPLIT_VAL, &s->val_loader) != 0)
        return -1;
    return make_loader(s, cfg, training ? BMST_SPLIT_TEST : (enum bmst_split)cfg->eval_split,
                       &s->test_loader);
}

static double planned_mib(const struct session *s) {
    size_t backup = s->stats_backup ? stats_backup_bytes(s) : 0;
    return (double)(bmst_engine_planned_bytes(&s->engine) + backup) / (1 << 20);
}

/* What the device itself reports in use (the GPU's figure, comparable to
 * nvidia-smi), or 0 where the backend has no such figure. */
static double device_used_mib(const struct session *s) {
    struct bmst_backend *be = s->engine.be;
    return be->device_used_bytes ? (double)be->device_used_bytes(be) / (1 << 20) : 0.0;
}

/* Continues from a checkpoint: the same network, data shape and seed, and
 * the settings resume_check.h asks for (a re-planned schedule is told of in
 * run_training, once the loader knows the epoch's steps). */
static int resume(struct session *s, const struct bmst_run_config *cfg,
                  struct bmst_checkpoint_meta *meta) {
    if (bmst_checkpoint_read_meta(cfg->resume_path, meta) != 0) return -1;
    if (meta->weights_only)
        return bmst_error("checkpoint %s holds weights only (bmst_dist import): start a new run "
                          "from it with --init %s",
                          cfg->resume_path, cfg->resume_path);
    if (strcmp(meta->arch, cfg->arch) != 0)
        return bmst_error("checkpoint %s is a %s, not a %s", cfg->resume_path, meta->arch,
                          cfg->arch);
    if (meta->aux_logits != cfg->aux_logits)
        return bmst_error("checkpoint %s was trained %s --aux-logits; resume %s it",
                          cfg->resume_path, meta->aux_logits ? "with" : "without",
                          meta->aux_logits ? "with" : "without");
    if (meta->in_h != s->info->h || meta->in_w != s->info->w || meta->in_c != s->info->c ||
        meta->classes != s->info->classes)
        return bmst_error("checkpoint %s was trained on %dx%dx%d images with %d classes, the "
                          "dataset has %dx%dx%d and %d",
                          cfg->resume_path, meta->in_h, meta->in_w, meta->in_c, meta->classes,
                          s->info->h, s->info->w, s->info->c, s->info->classes);
    if (meta->stem != cfg->stem)
        return bmst_error("checkpoint %s was trained with --stem %s; resume with it",
                          cfg->resume_path, bmst_stem_name(meta->stem));
    if (meta->seed != cfg->seed)
        return bmst_error("checkpoint %s was trained with --seed %llu; resume with the same seed",
                          cfg->resume_path, (unsigned long long)meta->seed);
    if (bmst_resume_check_settings(cfg, meta, s->comm->world, s->out) != 0) return -1;
    if (bmst_checkpoint_load(cfg->resume_path, &s->engine.model, &s->engine.optim) != 0) return -1;
    /* inside an epoch each rank's statistics were its own (with another
     * rank count every rank takes rank 0's: the notice says so) */
    if (meta->has_rank_buffers && meta->ranks == s->comm->world &&
        bmst_checkpoint_load_rank_buffers(cfg->resume_path, &s->engine.model, s->comm->rank) != 0)
        return -1;
    s->best_accuracy = meta->best_accuracy;
    s->best_epoch = meta->best_epoch;
    if (s->scaler.enabled) {
        s->scaler.scale = meta->loss_scale;
        s->scaler.clean_steps = meta->loss_scale_clean_steps;
    }
    return 0;
}

static void fill_meta(const struct session *s, const struct bmst_run_config *cfg,
                      const struct bmst_schedule *plan, int epoch, long step, float last_lr,
                      struct bmst_checkpoint_meta *meta) {
    memset(meta, 0, sizeof *meta);
    snprintf(meta->arch, sizeof meta->arch, "%s", cfg->arch);
    meta->in_h = s->info->h;
    meta->in_w = s->info->w;
    meta->in_c = s->info->c;
    meta->classes = s->info->classes;
    meta->aux_logits = cfg->aux_logits;
    meta->stem = cfg->stem;
    meta->epoch = epoch;
    meta->step = step;
    meta->seed = cfg->seed;
    meta->loss_scale = s->scaler.scale;
    meta->loss_scale_clean_steps = s->scaler.clean_steps;
    meta->has_run_record = 1;
    meta->batch = cfg->batch;
    meta->ranks = s->comm->world;
    meta->merge = cfg->merge;
    meta->lr = cfg->schedule.base_lr;
    meta->last_lr = last_lr;
    meta->planned_epochs = cfg->epochs;
    meta->steps_per_epoch = plan->steps_per_epoch;
    meta->has_codec_record = 1;
    snprintf(meta->act_codec, sizeof meta->act_codec, "%s", bmst_act_codec_name(cfg->act_codec));
    meta->division_block = cfg->division_block;
    meta->division_bits = cfg->division_bits;
    snprintf(meta->recompute, sizeof meta->recompute, "%s", bmst_recompute_name(cfg->recompute));
    meta->has_prune_record = cfg->prune.to > 0.0f;
    meta->prune_to = cfg->prune.to;
    meta->prune_start = cfg->prune.start;
    meta->prune_end = cfg->prune.end < 0.0f ? (float)cfg->epochs : cfg->prune.end;
    meta->prune_every = cfg->prune.every;
    snprintf(meta->prune_scope, sizeof meta->prune_scope, "%s",
             bmst_prune_scope_name(cfg->prune.scope));
    meta->best_accuracy = s->best_accuracy;
    meta->best_epoch = s->best_epoch;
}

/* A checkpoint inside epoch `epoch` after `done` of its steps, written by
 * rank 0 with every rank's part (run_checkpoints.h); none without --save. */
static int save_inside(struct session *s, const struct bmst_run_config *cfg, int epoch,
                       long step, long done, double loss_sum, long applied, float lr) {
    if (!cfg->save_path) return 0;
    struct bmst_checkpoint_meta meta;
    fill_meta(s, cfg, &cfg->schedule, epoch, step, lr, &meta);
    meta.epoch_steps = done;
    meta.epoch_applied = applied;
    return bmst_run_checkpoint(s->comm, cfg->save_path, &s->engine.model, &s->engine.optim, &meta,
                               loss_sum, !cfg->sync_bn);
}

/* One pass over the training split; fills the training half of *st. A
 * resumed epoch starts after the steps s->resumed records. *stop: the stop
 * signals the ranks agreed on after a step; inside the epoch the run has
 * then checkpointed (with --save) and the epoch is cut short: returns 1. */
static int train_epoch(struct session *s, const struct bmst_run_config *cfg, int epoch,
                       long *step, struct bmst_epoch_stats *st, unsigned *stop) {
    struct bmst_step_result result;
    struct bmst_step_config sc = {
        .seed = cfg->seed, .mix_alpha = cfg->mix_alpha, .label_smoothing = cfg->label_smoothing,
        .clip_norm = cfg->clip_norm, .skip_nonfinite = cfg->skip_nonfinite,
        .stats_backup = s->stats_backup, .result = &result, .optim = &s->engine.optim,
        .prune = s->prune.optim ? &s->prune : NULL};
    long batches = (long)bmst_loader_batches(s->train_loader);
    if (cfg->max_steps > 0 && cfg->max_steps < batches) batches = cfg->max_steps;
    char label[32];
    snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, cfg->epochs);
    struct bmst_progress progress;
    bmst_progress_begin(&progress, s->out ? stderr : NULL, label, batches);
    struct bmst_comm *comm = s->comm;

    double loss_sum = 0.0, start = bmst_now();
    long applied = 0, first = 0;
    if (cfg->resume_path && epoch == s->resumed.epoch && s->resumed.epoch_steps > 0) {
        first = (long)s->resumed.epoch_steps;
        loss_sum = s->resumed.epoch_loss_mean;
        applied = (long)s->resumed.epoch_applied;
    }
    bmst_loader_start_epoch_at(s->train_loader, epoch, (size_t)first);
    for (long i = first; i < batches; i++) {
        struct bmst_batch b;
        double wait = bmst_now();
        int status = bmst_loader_next(s->train_loader, &b);
        st->phase[BMST_PHASE_DATA] += bmst_now() - wait;
        if (status < 0) return -1;
        BMST_ASSERT(status == 1);
        if (bmst_fault_inject(&cfg->fault, comm->rank, &s->engine.model, *step) != 0) return -1;
        sc.lr = st->lr = bmst_schedule_lr(&cfg->schedule, *step);
        float loss = bmst_train_step(&s->engine.train, s->sync, &sc, *step, &b, s->host_targets,
                                     &s->scaler, st->phase);
        char where[96];
        snprintf(where, sizeof where, "%s, step %ld/%ld", label, i + 1, batches);
        result.stop = bmst_signals_caught();
        if (comm->world > 1) bmst_step_result_combine(&result, comm);
        if (bmst_step_judge(&result, cfg->skip_nonfinite, s->scaler.enabled, where) != 0) {
            bmst_progress_end(&progress); /* the error line on a line of its own */
            return -1;
        }
        applied += result.applied;
        if (cfg->check_replicas &&
            bmst_replicas_check(comm, &s->engine.model, &s->engine.optim, cfg->sync_bn, *step) != 0)
            return -1;
        if (isfinite(loss)) loss_sum += loss;
        (*step)++;
        st->images += s->engine.train_graph.batch;
        char status_text[64];
        double rate = (double)st->images * comm->world / (bmst_now() - start);
        snprintf(status_text, sizeof status_text, "loss %.4f  %.0f img/s",
                 loss_sum / (double)(i + 1), rate);
        bmst_progress_update(&progress, i + 1, status_text);
        *stop = result.stop;
        if (s->tb && *step % cfg->log_every == 0 &&
            bmst_train_scalars_step(s->tb, *step, loss, st->lr, s->scaler.scale, rate) != 0)
            return -1;
        /* the epoch's last step is saved with the epoch, after evaluation */
        int save_now = cfg->save_every > 0 && *step % cfg->save_every == 0;
        if (i + 1 < batches && (save_now || *stop)) {
            if (save_inside(s, cfg, epoch, *step, i + 1, loss_sum, applied, st->lr) != 0) return -1;
            if (*stop) {
                bmst_progress_end(&progress);
                return 1;
            }
        }
    }
    bmst_progress_end(&progress);
    /* every rank applied the same steps (the reduced gradients decide) */
    if (applied == 0 && s->scaler.enabled)
        return bmst_error_shared("every step of %s (%ld) was skipped for inf or NaN gradients while the "
                          "fp16 loss scale came down to %g: nothing was trained; start from a "
                          "lower --loss-scale, or lower --lr",
                          label, batches, (double)s->scaler.scale);
    if (applied == 0)
        return bmst_error_shared("every step of %s (%ld) was skipped for inf or NaN gradients: nothing "
                          "was trained; lower --lr or add --clip-norm",
                          label, batches);
    /* a shorter epoch (--max-steps) leaves the rest of the loader's batches unread */
    st->seconds = bmst_now() - start;
    comm->allreduce_host_f64(comm, &loss_sum, 1);
    st->train_loss = loss_sum / (double)batches / comm->world;
    /* without --sync-bn each rank's running statistics followed its own
     * batches: evaluate and save their mean, the same on every rank */
    if (!cfg->sync_bn) bmst_replicas_average_buffers(comm, &s->engine.model);
    return 0;
}

static int run_training(struct session *s, const struct bmst_run_config *cfg) {
    struct bmst_run_config run = *cfg;
    long per_epoch = (long)bmst_loader_batches(s->train_loader);
    if (cfg->max_steps > 0 && cfg->max_steps < per_epoch) per_epoch = cfg->max_steps;
    run.schedule.steps_per_epoch = per_epoch;
    run.schedule.total_steps = per_epoch * cfg->epochs;
    run.schedule.warmup_steps = (long)lround(cfg->warmup_epochs * (double)per_epoch);
    if (s->engine.optim.mask) { /* after resume loaded the mask */
        struct bmst_prune_plan plan;
        bmst_prune_plan_make(&cfg->prune, cfg->epochs, per_epoch, &plan);
        bmst_prune_init(&s->prune, &s->engine.optim, &plan);
    }

    struct bmst_checkpoint_meta meta = s->resumed;
    int first_epoch = 0;
    long step = 0;
    if (cfg->resume_path) {
        bmst_resume_warn_replanned(cfg, &run.schedule, &meta, s->out);
        first_epoch = meta.epoch;
        step = (long)meta.step;
        if (s->out)
            fprintf(s->out, "resumed from %s at epoch %d, step %ld\n", cfg->resume_path,
                    first_epoch, step);
    } else if (cfg->resume_auto && s->out) {
        fprintf(s->out, "--resume auto: no checkpoint at %s yet; starting a new run\n",
                cfg->save_path);
    }
    int resumed_inside = cfg->resume_path && meta.epoch_steps > 0;

    struct bmst_run_flops flops;
    bmst_run_header(s->out, cfg, s->info, &s->engine, s->comm, planned_mib(s), &flops);
    if (s->out && cfg->tensorboard_dir && bmst_tb_open(cfg->tensorboard_dir, &s->tb) != 0)
        return -1;
    struct bmst_run_record record;
    bmst_run_record_init(&record, cfg, s->info, s->engine.be, s->comm, s->started);
    FILE *csv = NULL;
    if (cfg->csv_path && s->out) {
        /* a resumed run appends to the file its first part described */
        char *comments = bmst_run_record_comments(&record);
        int failed = bmst_stats_csv_open(cfg->csv_path, first_epoch > 0 || resumed_inside,
                                         comments, s->val_loader != NULL, &csv);
        free(comments);
        if (failed) return -1;
    }
    struct bmst_report report;
    struct bmst_report_run report_run = {
        .command = "train", .arch = cfg->arch, .dataset = s->info->name,
        .backend = s->engine.be->name, .precision = bmst_dtype_name(cfg->precision),
        .grad_comm = bmst_dtype_name(cfg->grad_comm), .batch_per_rank = cfg->batch,
        .merge = cfg->merge, .sync_bn = cfg->sync_bn, .record = &record};
    bmst_report_init(&report, s->comm, cfg->report_path, &report_run);
    double total_seconds = 0.0, total_images = 0.0;
    struct bmst_epoch_stats st = {0};
    int status = 0;
    unsigned stop = 0;
    for (int epoch = first_epoch; epoch < cfg->epochs && status == 0 && !stop; epoch++) {
        memset(&st, 0, sizeof st);
        st.epoch = epoch + 1;
        status = train_epoch(s, &run, epoch, &step, &st, &stop);
        if (status == 1) {
            status = bmst_stop_report(s->out, s->comm, cfg, step, per_epoch, stop);
            break;
        }
        if (status != 0) break;
        double t = bmst_now();
        /* /val after every epoch where there is one; /test then only at the end */
        st.has_val = s->val_loader != NULL;
        st.has_test = !st.has_val || cfg->eval_test_every || epoch + 1 == cfg->epochs;
        int after = epoch + 1, nan_ok = cfg->skip_nonfinite;
        if (st.has_val)
            status = bmst_evaluate_epoch(&s->engine.eval, s->val_loader, s->comm, s->host_logits,
                                         "validation", after, cfg->epochs, nan_ok, &st.val_loss,
                                         &st.val_accuracy);
        if (status == 0 && st.has_test)
            status = bmst_evaluate_epoch(&s->engine.eval, s->test_loader, s->comm, s->host_logits,
                                         "test", after, cfg->epochs, nan_ok, &st.test_loss,
                                         &st.test_accuracy);
        if (status != 0) break;
        st.eval_seconds = bmst_now() - t;
        double watched = st.has_val ? st.val_accuracy : st.test_accuracy;
        if (watched > s->best_accuracy) {
            s->best_accuracy = watched;
            s->best_epoch = epoch + 1;
        }
        st.planned_mib = planned_mib(s);
        st.peak_rss_mib = bmst_peak_rss_mib();
        st.device_used_mib = device_used_mib(s);
        st.skipped_steps = s->scaler.skipped;
        st.loss_scale = s->scaler.scale;
        st.sparsity = s->prune.optim ? bmst_prune_sparsity(&s->prune) : -1.0;
        record.best_accuracy = s->best_accuracy;
        record.best_epoch = s->best_epoch;
        bmst_run_record_update(&record, "running");
        status = bmst_report_epoch(&report, &st, per_epoch);
        if (s->out) {
            /* the terminal line and CSV speak for the job: every rank's
             * images over the slowest rank's time */
            struct bmst_epoch_stats job = st;
            job.images *= s->comm->world;
            job.seconds = bmst_report_last(&report)->slowest_s;
            job.tflops = job.seconds > 0 ? flops.image_flops * (double)job.images / job.seconds / 1e12 : 0;
            job.mfu = flops.job_peak > 0 ? job.tflops * 1e12 / flops.job_peak : 0.0;
            bmst_stats_print_epoch(s->out, &job, cfg->epochs);
            bmst_report_print_spread(&report, s->out);
            if (csv && status == 0) status = bmst_stats_csv_row(csv, cfg->csv_path, &job);
            const struct bmst_graph *tg = &s->engine.train_graph;
            double ratio = cfg->act_codec != BMST_ACT_CODEC_PLAIN && tg->saved_bytes
                               ? (double)tg->saved_plain_bytes / (double)tg->saved_bytes
                               : 0.0;
            if (s->tb && status == 0) status = bmst_train_scalars_epoch(s->tb, step, &job, ratio);
        }
        if (s->out) total_seconds += bmst_report_last(&report)->slowest_s;
        total_images += (double)st.images * s->comm->world;
        if (status == 0 && cfg->save_path && s->out) {
            fill_meta(s, cfg, &run.schedule, epoch + 1, step, st.lr, &meta);
            status = bmst_checkpoint_save(cfg->save_path, &s->engine.model, &s->engine.optim,
                                          &meta);
        }
        if (status == 0 && cfg->keep_best_path && s->out && s->best_epoch == epoch + 1) {
            fill_meta(s, cfg, &run.schedule, epoch + 1, step, st.lr, &meta);
            status = bmst_checkpoint_save(cfg->keep_best_path, &s->engine.model,
                                          &s->engine.optim, &meta);
        }
        /* a signal that came during evaluation or saving: stop before the next epoch */
        if (status == 0) stop |= bmst_stop_agree(s->comm);
        if (status == 0 && stop && epoch + 1 < cfg->epochs)
            status = bmst_stop_report(s->out, s->comm, cfg, step, per_epoch, stop);
    }
    /* how the run ended (a failure the message says; the report keeps what was done) */
    bmst_run_record_update(&record, status == 0 ? "done" : status == BMST_EXIT_STOPPED ? "stopped"
                                                                                 : "failed");
    if (bmst_report_rewrite(&report) != 0 && (status == 0 || status == BMST_EXIT_STOPPED))
        status = -1;
    bmst_report_free(&report);
    if (bmst_tb_close(s->tb) != 0 && (status == 0 || status == BMST_EXIT_STOPPED)) status = -1;
    s->tb = NULL;
    if (csv && status != 0 && status != BMST_EXIT_STOPPED)
        fclose(csv); /* the first error's message stays */
    else if (csv && bmst_stats_csv_close(csv, cfg->csv_path) != 0)
        status = -1;
    if (status == BMST_EXIT_STOPPED) return status;
    if (status != 0) return -1;
    if (s->out)
        bmst_run_summary(s->out, cfg, first_epoch, &st, s->best_accuracy, s->best_epoch,
                         total_seconds, total_images);
    return 0;
}

int bmst_train(const struct bmst_run_config *cfg, struct bmst_comm *comm) {
    bmst_signals_install(); /* SIGTERM, SIGUSR1: stop at a step boundary */
    time_t started = time(NULL);
    struct session s;
    int status = session_open(&s, cfg, 1, cfg->arch, cfg->aux_logits, cfg->stem, comm);
    s.started = started;
    if (status == 0 && cfg->resume_path) status = resume(&s, cfg, &s.resumed);
    else if (status == 0 && cfg->init_path)
        status = bmst_init_weights(cfg, s.info, &s.engine.model, s.out);
    status = session_join(&s, cfg, 1, status, cfg->resume_path ? &s.resumed : NULL);
    if (status == 0) status = run_training(&s, cfg);
    return session_end(&s, status);
}

int bmst_eval(const struct bmst_run_config *cfg, struct bmst_comm *comm) {
    struct bmst_checkpoint_meta meta;
    struct session s;
    /* a checkpoint, or the int8 HDF5 `export --format int8-h5` wrote */
    int compact = bmst_int8_h5_is(cfg->checkpoint_path);
    int status = compact ? bmst_int8_h5_read_meta(cfg->checkpoint_path, &meta)
                         : bmst_checkpoint_read_meta(cfg->checkpoint_path, &meta);
    if (status == 0) {
        /* the checkpoint says whether it has the auxiliary classifier */
        status = session_open(&s, cfg, 0, meta.arch, meta.aux_logits, meta.stem, comm);
    } else {
        memset(&s, 0, sizeof s);
        s.comm = comm;
    }
    if (status == 0 && cfg->eval_split == BMST_SPLIT_VAL && s.info->count[BMST_SPLIT_VAL] == 0)
        status = bmst_error("%s has no validation split (/val): score /test, or convert the "
                            "dataset with --val-fraction F",
                            cfg->data_path);
    if (status == 0 && (meta.in_h != s.info->h || meta.in_w != s.info->w ||
                        meta.in_c != s.info->c || meta.classes != s.info->classes))
        status = bmst_error("checkpoint %s expects %dx%dx%d images and %d classes, %s has "
                            "%dx%dx%d and %d",
                            cfg->checkpoint_path, meta.in_h, meta.in_w, meta.in_c, meta.classes,
                            cfg->data_path, s.info->h, s.info->w, s.info->c, s.info->classes);
    if (status == 0)
        status = compact ? bmst_int8_h5_load(cfg->checkpoint_path, &s.engine.model)
                         : bmst_checkpoint_load(cfg->checkpoint_path, &s.engine.model, NULL);
    if (status == 0 && cfg->int8 && !compact) {
        int quantized = bmst_quantize_model(&s.engine.model);
        if (s.out)
            fprintf(s.out,
                    "int8: %d conv and fc weights quantized per output channel (scale max|w|/127) "
                    "and scored dequantized; batch norm and biases in fp32\n",
                    quantized);
    }
    status = session_join(&s, cfg, 0, status, &meta);
    double t = bmst_now();
    struct bmst_eval_counts counts = {.classes = 0};
    if (status == 0) {
        bmst_eval_counts_init(&counts, s.info->classes);
        status =
            bmst_evaluate_counts(&s.engine.eval, s.test_loader, s.comm, s.host_logits, &counts);
    }
    double n = counts.samples > 0 ? counts.samples : 1.0, loss = counts.loss_sum / n;
    const char *split = cfg->eval_split == BMST_SPLIT_VAL ? "validation" : "test";
    if (status == 0 && !isfinite(loss))
        status = bmst_error_shared("checkpoint %s gives inf or NaN logits on the %s split of %s: "
                                   "its weights are finite but too large (the run that wrote it "
                                   "diverged)",
                                   cfg->checkpoint_path, split, cfg->data_path);
    if (status == 0 && s.out) {
        fprintf(s.out,
                "%s (%s, epoch %d) on %s %s split: loss %.6f, accuracy %.2f%%, top-%d %.2f%% "
                "(%zu images, %.1f s)\n",
                cfg->checkpoint_path, meta.arch, meta.epoch, s.info->name, split, loss,
                100.0 * counts.top1 / n, counts.top_k, 100.0 * counts.topk / n,
                s.info->count[cfg->eval_split], bmst_now() - t);
        bmst_eval_counts_print_classes(&counts, s.ds, s.out);
        if (cfg->confusion_path)
            status = bmst_eval_counts_write_confusion(&counts, cfg->confusion_path);
    }
    bmst_eval_counts_free(&counts);
    return session_end(&s, status);
}
