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
    const struct {
        const char *tag;
        double value;
    } all[] = {
        {"epoch/train_loss", job->train_loss},
        {"epoch/lr", job->lr},
        {"epoch/test_loss", job->test_loss},
        {"epoch/test_accuracy", job->test_accuracy},
        {"epoch/epoch_seconds", job->seconds},
        {"epoch/images_per_second", job->seconds > 0 ? (double)job->images / job->seconds : 0.0},
        {"epoch/planned_mib", job->planned_mib},
        {"epoch/peak_rss_mib", job->peak_rss_mib},
        {"epoch/data_seconds", job->phase[BMST_PHASE_DATA]},
        {"epoch/forward_seconds", job->phase[BMST_PHASE_FORWARD]},
        {"epoch/backward_seconds", job->phase[BMST_PHASE_BACKWARD]},
        {"epoch/allreduce_seconds", job->phase[BMST_PHASE_ALLREDUCE]},
        {"epoch/optimizer_seconds", job->phase[BMST_PHASE_OPTIMIZER]},
        {"epoch/eval_seconds", job->eval_seconds},
        {"epoch/device_used_mib", job->device_used_mib},
        {"epoch/loss_scale", job->loss_scale},
        {"epoch/skipped_steps", (double)job->skipped_steps},
        {"epoch/tflops_per_second", job->tflops},
        {"epoch/mfu", job->mfu},
        {"epoch/sparsity", job->sparsity < 0 ? 0.0 : job->sparsity}, /* as the CSV's */
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (bmst_tb_scalar(t, all[i].tag, step, all[i].value) != 0) return -1;
    if (codec_ratio > 0 && bmst_tb_scalar(t, "epoch/act_codec_ratio", step, codec_ratio) != 0)
        return -1;
    return bmst_tb_flush(t);
}
