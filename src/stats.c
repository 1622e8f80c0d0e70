/* Timers, memory peaks and the per-epoch report. */
#include "stats.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "error.h"

double bmst_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double bmst_peak_rss_mib(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0.0;
    return (double)u.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static double images_per_second(const struct bmst_epoch_stats *s) {
    return s->seconds > 0 ? (double)s->images / s->seconds : 0.0;
}

void bmst_stats_print_epoch(FILE *f, const struct bmst_epoch_stats *s, int epochs) {
    fprintf(f, "epoch %d/%d  train loss %.4f  lr %.4g  ", s->epoch, epochs, s->train_loss, s->lr);
    if (s->has_val)
        fprintf(f, "val loss %.4f  val acc %.2f%%  ", s->val_loss, 100.0 * s->val_accuracy);
    if (s->has_test)
        fprintf(f, "test loss %.4f  test acc %.2f%%  ", s->test_loss, 100.0 * s->test_accuracy);
    fprintf(f, "%.1f s  %.0f img/s  peak %.0f MiB planned + %.0f MiB rss", s->seconds,
            images_per_second(s), s->planned_mib, s->peak_rss_mib);
    if (s->device_used_mib > 0) fprintf(f, " + %.0f MiB gpu used", s->device_used_mib);
    if (s->loss_scale != 1.0f || s->skipped_steps)
        fprintf(f, "  loss scale %g (%ld skipped)", s->loss_scale, s->skipped_steps);
    if (s->tflops > 0) fprintf(f, "  %.3g TFLOP/s", s->tflops);
    if (s->mfu > 0) fprintf(f, " (MFU %.1f%%)", 100.0 * s->mfu);
    if (s->sparsity >= 0) fprintf(f, "  sparsity %.2f%%", 100.0 * s->sparsity);
    fprintf(f, "  (data %.1f s, fwd %.1f s, bwd %.1f s, allreduce %.1f s, opt %.1f s, eval %.1f s)\n",
            s->phase[BMST_PHASE_DATA], s->phase[BMST_PHASE_FORWARD], s->phase[BMST_PHASE_BACKWARD],
            s->phase[BMST_PHASE_ALLREDUCE], s->phase[BMST_PHASE_OPTIMIZER], s->eval_seconds);
    fflush(f);
}

/* Every row is flushed and checked, so a full disk ends the run with its
 * reason rather than leaving a short or empty file behind a clean exit. */
static int csv_flush(FILE *f, const char *path) {
    if (fflush(f) == 0 && !ferror(f)) return 0;
    return bmst_error("cannot write the CSV file %s: %s", path, strerror(errno ? errno : EIO));
}

int bmst_stats_csv_open(const char *path, int append, const char *comments, int has_val,
                        FILE **out) {
    errno = 0;
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) return bmst_error("cannot write the CSV file %s: %s", path, strerror(errno));
    if (!append && comments) fputs(comments, f);
    if (!append)
        fprintf(f, "epoch,train_loss,lr,%stest_loss,test_accuracy,epoch_seconds,images_per_second,"
                   "planned_mib,peak_rss_mib,data_seconds,forward_seconds,backward_seconds,"
                   "allreduce_seconds,optimizer_seconds,eval_seconds,device_used_mib,loss_scale,"
                   "skipped_steps,tflops_per_second,mfu,sparsity\n",
                has_val ? "val_loss,val_accuracy," : "");
    if (csv_flush(f, path) != 0) {
        fclose(f);
        if (!append) remove(path); /* not even the header: leave no empty file */
        return -1;
    }
    *out = f;
    return 0;
}

int bmst_stats_csv_row(FILE *f, const char *path, const struct bmst_epoch_stats *s) {
    errno = 0;
    fprintf(f, "%d,%.6f,%.6g,", s->epoch, s->train_loss, s->lr);
    if (s->has_val) fprintf(f, "%.6f,%.6f,", s->val_loss, s->val_accuracy);
    if (s->has_test)
        fprintf(f, "%.6f,%.6f,", s->test_loss, s->test_accuracy);
    else
        fputs(",,", f); /* not scored after this epoch */
    fprintf(f, "%.3f,%.1f,%.1f,%.1f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,%g,%ld,%.6g,%.6g,%.6g\n",
            s->seconds, images_per_second(s), s->planned_mib, s->peak_rss_mib, s->phase[BMST_PHASE_DATA],
            s->phase[BMST_PHASE_FORWARD], s->phase[BMST_PHASE_BACKWARD],
            s->phase[BMST_PHASE_ALLREDUCE], s->phase[BMST_PHASE_OPTIMIZER], s->eval_seconds,
            s->device_used_mib, (double)s->loss_scale, s->skipped_steps, s->tflops, s->mfu,
            s->sparsity < 0 ? 0.0 : s->sparsity);
    return csv_flush(f, path);
}

int bmst_stats_csv_close(FILE *f, const char *path) {
    errno = 0;
    int failed = ferror(f) != 0;
    if (fclose(f) == 0 && !failed) return 0;
    return bmst_error("cannot write the CSV file %s: %s", path, strerror(errno ? errno : EIO));
}
