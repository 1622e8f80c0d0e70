/* The settings every rank of a job must share (see run_settings.h). Floats
 * are written with nine significant digits, enough to tell any two apart. */
#include "run_settings.h"

#include <stdio.h>
#include <string.h>

#include "backend.h"

static const char *on_off(int v) {
    return v ? "on" : "off";
}

static void add_schedule(struct bmst_settings *s, const struct bmst_schedule *sc) {
    static const char *const kinds[] = {"constant", "multistep", "cosine"};
    bmst_settings_add(s, "--schedule", "%s", kinds[sc->kind]);
    bmst_settings_add(s, "--lr", "%.9g", (double)sc->base_lr);
    bmst_settings_add(s, "--gamma", "%.9g", (double)sc->gamma);
    char milestones[16 * BMST_MAX_MILESTONES] = "none";
    size_t len = 0;
    for (int i = 0; i < sc->n_milestones; i++)
        len += (size_t)snprintf(milestones + len, sizeof milestones - len, "%s%d", i ? "," : "",
                                sc->milestones[i]);
    bmst_settings_add(s, "--milestones", "%s", milestones);
}

static void add_optimizer(struct bmst_settings *s, const struct bmst_optim_config *c) {
    bmst_settings_add(s, "--optimizer", "%s", bmst_optim_type_of(c->kind)->name);
    bmst_settings_add(s, "--momentum", "%.9g", (double)c->momentum);
    bmst_settings_add(s, "--nesterov", "%s", on_off(c->nesterov));
    bmst_settings_add(s, "--betas", "%.17g,%.17g", c->beta1, c->beta2);
    bmst_settings_add(s, "--eps", "%.9g", (double)c->eps);
    bmst_settings_add(s, "--weight-decay", "%.9g", (double)c->weight_decay);
    bmst_settings_add(s, "--no-decay", "%s", bmst_no_decay_name(c->no_decay));
    /* the frozen weights fix the all-reduce's extent: every rank must agree
     * (a list is compared by its first 120 bytes, within the settings' room) */
    bmst_settings_add(s, "--freeze", "%.120s", c->freeze ? c->freeze : "");
    bmst_settings_add(s, "--freeze-bn", "%s", on_off(c->freeze_bn));
    bmst_settings_add(s, "--lr-head", "%.9g", (double)c->lr_head);
}

void bmst_run_settings(struct bmst_settings *s, const char *command,
                       const struct bmst_run_config *cfg) {
    bmst_settings_add(s, "the command", "%s", command);
    bmst_settings_add(s, "--net", "%s", cfg->arch);
    bmst_settings_add(s, "--batch", "%d", cfg->batch);
    bmst_settings_add(s, "--eval-batch", "%d", cfg->eval_batch);
    bmst_settings_add(s, "--merge", "%d", cfg->merge);
    bmst_settings_add(s, "--mix-at", "c%d", cfg->mix_at);
    bmst_settings_add(s, "--aux-logits", "%s", on_off(cfg->aux_logits));
    bmst_settings_add(s, "--mix-alpha", "%.9g", (double)cfg->mix_alpha);
    bmst_settings_add(s, "--precision", "%s", bmst_dtype_name(cfg->precision));
    bmst_settings_add(s, "--loss-scale", "%.9g", (double)cfg->loss_scale);
    bmst_settings_add(s, "--loss-scale-window", "%d", cfg->loss_scale_window);
    bmst_settings_add(s, "--grad-comm", "%s", bmst_dtype_name(cfg->grad_comm));
    bmst_settings_add(s, "--bucket-mib", "%d", cfg->bucket_mib);
    bmst_settings_add(s, "--sync-bn", "%s", on_off(cfg->sync_bn));
    bmst_settings_add(s, "--epochs", "%d", cfg->epochs);
    bmst_settings_add(s, "--max-steps", "%d", cfg->max_steps);
    bmst_settings_add(s, "--seed", "%llu", (unsigned long long)cfg->seed);
    add_schedule(s, &cfg->schedule);
    bmst_settings_add(s, "--warmup-epochs", "%.9g", (double)cfg->warmup_epochs);
    add_optimizer(s, &cfg->optim);
    bmst_settings_add(s, "--label-smoothing", "%.9g", (double)cfg->label_smoothing);
    bmst_settings_add(s, "--clip-norm", "%.9g", (double)cfg->clip_norm);
    bmst_settings_add(s, "--prune-to", "%.9g", (double)cfg->prune.to);
    bmst_settings_add(s, "--prune-start", "%.9g", (double)cfg->prune.start);
    bmst_settings_add(s, "--prune-end", "%.9g", (double)cfg->prune.end);
    bmst_settings_add(s, "--prune-every", "%d", cfg->prune.every);
    bmst_settings_add(s, "--prune-scope", "%s", bmst_prune_scope_name(cfg->prune.scope));
    bmst_settings_add(s, "--augment", "%s", cfg->augment == 0 ? "off" : "on");
    bmst_settings_add(s, "--on-nan", "%s", cfg->skip_nonfinite ? "skip" : "abort");
    bmst_settings_add(s, "--check-replicas", "%s", on_off(cfg->check_replicas));
    static const char *const kinds[] = {[BMST_FAULT_FAIL] = "", [BMST_FAULT_PERTURB] = ":perturb",
                                        [BMST_FAULT_NAN] = ":nan",
                                        [BMST_FAULT_SIGTERM] = ":sigterm"};
    bmst_settings_add(s, "--inject-fault", "%d:%ld%s", cfg->fault.rank, cfg->fault.step,
                      kinds[cfg->fault.kind]);
    /* checkpoints inside an epoch gather from every rank (run_checkpoints.h) */
    bmst_settings_add(s, "--save", "%s", cfg->save_path ? "given" : "none");
    bmst_settings_add(s, "--save-every", "%d", cfg->save_every);
    /* which splits are scored, each a collective pass */
    if (strcmp(command, "eval") == 0)
        bmst_settings_add(s, "--split", "%s", cfg->eval_split == BMST_SPLIT_VAL ? "val" : "test");
    else
        bmst_settings_add(s, "--eval-test", "%s", cfg->eval_test_every ? "every-epoch" : "end");
}

void bmst_run_settings_data(struct bmst_settings *s, const struct bmst_dataset_info *info) {
    bmst_settings_add(s, "the dataset's name", "%s", info->name);
    bmst_settings_add(s, "the dataset's image shape", "%dx%dx%d", info->h, info->w, info->c);
    bmst_settings_add(s, "the dataset's classes", "%d", info->classes);
    bmst_settings_add(s, "the dataset's training samples", "%zu", info->count[BMST_SPLIT_TRAIN]);
    bmst_settings_add(s, "the dataset's test samples", "%zu", info->count[BMST_SPLIT_TEST]);
    if (info->count[BMST_SPLIT_VAL] > 0) /* scored after every epoch: a collective */
        bmst_settings_add(s, "the dataset's validation samples", "%zu",
                          info->count[BMST_SPLIT_VAL]);
}

void bmst_run_settings_backend(struct bmst_settings *s, const struct bmst_backend *be) {
    /* the GPU's name may differ from node to node; its kind may not */
    bmst_settings_add(s, "the backend", "%s", be->stream ? "cuda" : "cpu");
}
