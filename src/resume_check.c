/* Resuming: the run's settings against the checkpoint's record (see
 * resume_check.h). */
#include "resume_check.h"

#include <string.h>

#include "error.h"
#include "recompute.h"
#include "saved.h"

/* "0.9,0.999", "on", "0.0005": a hyperparameter as its option is written. */
static void hyper_text(const struct bmst_optim_hyper *h, char *out, size_t size) {
    if (h->flag) snprintf(out, size, "%s", h->value[0] != 0.0 ? "on" : "off");
    else if (h->count == 2) snprintf(out, size, "%g,%g", h->value[0], h->value[1]);
    else snprintf(out, size, "%g", h->value[0]);
}

/* The optimizer's settings that differ from the checkpoint's record, as
 * ", --betas 0.8,0.99 (was 0.9,0.999)" items appended to `changes`. */
static void optimizer_changes(const struct bmst_optim_config *c, const struct bmst_optim_record *r,
                              char *changes, size_t size) {
    struct bmst_optim_hyper now[BMST_OPTIM_MAX_HYPERS];
    int n = bmst_optim_hypers(c, now);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r->n_hypers; j++) {
            const struct bmst_optim_hyper *was = &r->hypers[j];
            if (strcmp(now[i].name, was->name) != 0 ||
                memcmp(now[i].value, was->value, (size_t)was->count * sizeof *was->value) == 0)
                continue;
            char a[64], b[64];
            hyper_text(&now[i], a, sizeof a);
            hyper_text(was, b, sizeof b);
            snprintf(changes + strlen(changes), size - strlen(changes), ", %s %s (was %s)",
                     now[i].option, a, b);
        }
    if (c->no_decay != r->no_decay)
        snprintf(changes + strlen(changes), size - strlen(changes), ", --no-decay %s (was %s)",
                 bmst_no_decay_name(c->no_decay), bmst_no_decay_name(r->no_decay));
}

/* --act-codec and DIVISION's settings against the checkpoint's record: what
 * backward reads changes the gradients from here on, not the state. */
static void codec_changes(const struct bmst_run_config *cfg, const struct bmst_checkpoint_meta *meta,
                          char *changes, size_t size) {
    char now[96], was[96];
    const char *name = bmst_act_codec_name(cfg->act_codec);
    int division = cfg->act_codec == BMST_ACT_CODEC_DIVISION;
    snprintf(now, sizeof now, "%s", name);
    if (division)
        snprintf(now, sizeof now, "%s --division-block %d --division-bits %d", name,
                 cfg->division_block, cfg->division_bits);
    snprintf(was, sizeof was, "%s", meta->act_codec);
    if (strcmp(meta->act_codec, "division") == 0)
        snprintf(was, sizeof was, "%s --division-block %d --division-bits %d", meta->act_codec,
                 meta->division_block, meta->division_bits);
    if (strcmp(now, was) != 0)
        snprintf(changes + strlen(changes), size - strlen(changes), ", --act-codec %s (was %s)",
                 now, was);
}

/* A pruned run resumes with the pruning it was trained with: the mask, the
 * schedule's place in it and the sparsity reached all follow from them, and
 * other values would change the mask under the run (a dense run may start
 * pruning; a pruned one without --prune-to is refused when its mask is read). */
static int check_prune(const struct bmst_run_config *cfg, const struct bmst_checkpoint_meta *meta) {
    const struct bmst_prune_config *p = &cfg->prune;
    if (!meta->has_prune_record || p->to == 0.0f) return 0;
    float end = p->end < 0.0f ? (float)cfg->epochs : p->end;
    const char *scope = bmst_prune_scope_name(p->scope);
    if (p->to == meta->prune_to && p->start == meta->prune_start && end == meta->prune_end &&
        p->every == meta->prune_every && strcmp(scope, meta->prune_scope) == 0)
        return 0;
    return bmst_error("checkpoint %s was pruned with --prune-to %g --prune-start %g --prune-end %g "
                      "--prune-every %d --prune-scope %s; this run's are --prune-to %g "
                      "--prune-start %g --prune-end %g --prune-every %d --prune-scope %s: resume "
                      "with its settings (give --prune-end where --epochs changed)",
                      cfg->resume_path, (double)meta->prune_to, (double)meta->prune_start,
                      (double)meta->prune_end, meta->prune_every, meta->prune_scope,
                      (double)p->to, (double)p->start, (double)end, p->every, scope);
}

/* A different global batch is refused: the checkpoint's step count, its place
 * in the schedule and the data order are counted in its batches. So is
 * another optimizer: its state is another kind's. Other ranks at the same
 * global batch, another --merge, another --lr or other optimizer settings
 * only change how training goes on. */
int bmst_resume_check_settings(const struct bmst_run_config *cfg,
                               const struct bmst_checkpoint_meta *meta, int ranks, FILE *out) {
    const char *path = cfg->resume_path;
    const char *kind = bmst_optim_type_of(cfg->optim.kind)->name;
    const char *was_kind = bmst_optim_type_of(meta->optim.kind)->name;
    if (cfg->optim.kind != meta->optim.kind)
        return bmst_error("checkpoint %s holds the state of --optimizer %s; this run's is "
                          "--optimizer %s: resume with --optimizer %s, or start a new run",
                          path, was_kind, kind, was_kind);
    if (check_prune(cfg, meta) != 0) return -1;
    if (!meta->has_run_record) {
        if (out)
            fprintf(out,
                    "bmst_dist: note: checkpoint %s (format version 2) does not record its batch, "
                    "ranks, merge, learning rate or optimizer settings, so they are not checked\n",
                    path);
        return 0;
    }
    long global = (long)cfg->batch * ranks, was = (long)meta->batch * meta->ranks;
    if (global != was)
        return bmst_error("checkpoint %s was trained with a global batch of %ld (--batch %d on %d "
                          "rank%s), this run's is %ld (--batch %d on %d): resume with the global "
                          "batch its steps, schedule and data order are counted in",
                          path, was, meta->batch, meta->ranks, meta->ranks == 1 ? "" : "s",
                          global, cfg->batch, ranks);
    if (!meta->optim.recorded && out)
        fprintf(out,
                "bmst_dist: note: checkpoint %s (format version 3) does not record its "
                "optimizer's settings, so they are not checked\n",
                path);
    char changes[512] = "";
    if (ranks != meta->ranks)
        snprintf(changes + strlen(changes), sizeof changes - strlen(changes),
                 ", %d ranks of --batch %d (was %d of %d)", ranks, cfg->batch, meta->ranks,
                 meta->batch);
    if (cfg->merge != meta->merge)
        snprintf(changes + strlen(changes), sizeof changes - strlen(changes),
                 ", --merge %d (was %d)", cfg->merge, meta->merge);
    if (cfg->schedule.base_lr != meta->lr)
        snprintf(changes + strlen(changes), sizeof changes - strlen(changes), ", --lr %g (was %g)",
                 (double)cfg->schedule.base_lr, (double)meta->lr);
    if (meta->optim.recorded) optimizer_changes(&cfg->optim, &meta->optim, changes, sizeof changes);
    if (meta->has_codec_record) codec_changes(cfg, meta, changes, sizeof changes);
    if (meta->has_codec_record && out &&
        strcmp(meta->recompute, bmst_recompute_name(cfg->recompute)) != 0)
        fprintf(out,
                "bmst_dist: note: resuming %s with --recompute %s (was %s): recomputation "
                "changes what a step keeps in memory, not what it computes\n",
                path, bmst_recompute_name(cfg->recompute), meta->recompute);
    if (changes[0] && out)
        fprintf(out,
                "bmst_dist: note: resuming %s with other settings than it was trained with%s; "
                "the run goes on from its step %lld, as a different run\n",
                path, changes, (long long)meta->step);
    return 0;
}

/* A cosine schedule depends on the run's length: resumed with another
 * --epochs (or steps per epoch) it is re-planned over the new length, and
 * the rate jumps from where the checkpoint's plan had brought it. */
void bmst_resume_warn_replanned(const struct bmst_run_config *cfg, const struct bmst_schedule *plan,
                                const struct bmst_checkpoint_meta *meta, FILE *out) {
    if (!out || !meta->has_run_record || plan->kind != BMST_SCHEDULE_COSINE) return;
    long was = (long)meta->planned_epochs * (long)meta->steps_per_epoch;
    if (was == plan->total_steps || meta->step >= plan->total_steps) return;
    fprintf(out,
            "bmst_dist: warning: checkpoint %s planned its cosine schedule over %d epochs of "
            "%lld steps; --epochs %d of %ld steps re-plans it, so the learning rate goes from %.3g "
            "at its last step to %.3g (docs/cli.md: Resuming and extending a run)\n",
            cfg->resume_path, meta->planned_epochs, (long long)meta->steps_per_epoch, cfg->epochs,
            plan->steps_per_epoch, (double)meta->last_lr,
            (double)bmst_schedule_lr(plan, (long)meta->step));
}
