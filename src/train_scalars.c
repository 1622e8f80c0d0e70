/* TensorBoard's scalars for a training run (train_scalars.h). */
#include "train_scalars.h"

int bmst_train_scalars_step(struct bmst_tb *t, long step, double loss, double lr, double loss_scale,
                            double images_per_second) {
    return bmst_tb_scalar(t, "step/loss", step, loss) == 0 &&
                   bmst_tb_scalar(t, "step/lr", step, lr) == 0 &&
                   bmst_tb_scalar(t, "step/loss_scale", step, loss_scale) == 0 &&
                   bmst_tb_scalar(t, "step/images_per_second", step, images_per_second) == 0
               ? 0
               : -1;
}

int bmst_train_scalars_epoch(struct bmst_tb *t, long step, const struct bmst_epoch_stats *job,
                             double codec_ratio) {
    /* the CSV's columns, a split's only after an epoch that scored it */
    const struct {
        const char *tag;
        double value;
        int present;
    } all[] = {
        {"epoch/train_loss", job->train_loss, 1},
        {"epoch/lr", job->lr, 1},
        {"epoch/val_loss", job->val_loss, job->has_val},
        {"epoch/val_accuracy", job->val_accuracy, job->has_val},
        {"epoch/test_loss", job->test_loss, job->has_test},
        {"epoch/test_accuracy", job->test_accuracy, job->has_test},
        {"epoch/epoch_seconds", job->seconds, 1},
        {"epoch/images_per_second", job->seconds > 0 ? (double)job->images / job->seconds : 0.0, 1},
        {"epoch/planned_mib", job->planned_mib, 1},
        {"epoch/peak_rss_mib", job->peak_rss_mib, 1},
        {"epoch/data_seconds", job->phase[BMST_PHASE_DATA], 1},
        {"epoch/forward_seconds", job->phase[BMST_PHASE_FORWARD], 1},
        {"epoch/backward_seconds", job->phase[BMST_PHASE_BACKWARD], 1},
        {"epoch/allreduce_seconds", job->phase[BMST_PHASE_ALLREDUCE], 1},
        {"epoch/optimizer_seconds", job->phase[BMST_PHASE_OPTIMIZER], 1},
        {"epoch/eval_seconds", job->eval_seconds, 1},
        {"epoch/device_used_mib", job->device_used_mib, 1},
        {"epoch/loss_scale", job->loss_scale, 1},
        {"epoch/skipped_steps", (double)job->skipped_steps, 1},
        {"epoch/tflops_per_second", job->tflops, 1},
        {"epoch/mfu", job->mfu, 1},
        {"epoch/sparsity", job->sparsity < 0 ? 0.0 : job->sparsity, 1}, /* as the CSV's */
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i].present && bmst_tb_scalar(t, all[i].tag, step, all[i].value) != 0) return -1;
    if (codec_ratio > 0 && bmst_tb_scalar(t, "epoch/act_codec_ratio", step, codec_ratio) != 0)
        return -1;
    return bmst_tb_flush(t);
}
