/* Resuming: the run's settings against the checkpoint's record (see
 * resume_check.h). */
#include "resume_check.h"

#include <string.h>

#include "error.h"

/* A different global batch is refused: the checkpoint's step count, its place
 * in the schedule and the data order are counted in its batches. Other ranks
 * at the same global batch, another --merge or another --lr only change how
 * training goes on. */
int bmst_resume_check_settings(const struct bmst_run_config *cfg,
                               const struct bmst_checkpoint_meta *meta, int ranks, FILE *out) {
    const char *path = cfg->resume_path;
    if (!meta->has_run_record) {
        if (out)
            fprintf(out,
                    "bmst_dist: note: checkpoint %s (format version 2) does not record its batch, "
                    "ranks, merge or learning rate, so they are not checked\n",
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
    char changes[256] = "";
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
