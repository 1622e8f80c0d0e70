/* The settings every command starts from, before its options (train.h). */
#include <stdio.h>
#include <string.h>

#include "dataset.h"
#include "train.h"

void bmst_run_config_defaults(struct bmst_run_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->arch, sizeof cfg->arch, "resnet20");
    cfg->mix_at = BMST_MIX_C2;
    cfg->merge = 1;
    cfg->mix_alpha = 1.0f;
    cfg->batch = 128;
    cfg->eval_batch = 256;
    cfg->epochs = 3;
    cfg->schedule.kind = BMST_SCHEDULE_COSINE;
    cfg->schedule.base_lr = 0.1f;
    cfg->schedule.gamma = 0.1f;
    bmst_optim_config_defaults(&cfg->optim);
    bmst_prune_config_defaults(&cfg->prune);
    cfg->augment = -1;
    cfg->loader_threads = 2;
    cfg->prefetch = 4;
    cfg->device = BMST_DEVICE_CHOICE_AUTO;
    cfg->precision = BMST_F32;
    cfg->loss_scale = 65536.0f;
    cfg->loss_scale_window = 2000;
    cfg->capture = 1;
    cfg->division_block = 8;
    cfg->division_bits = 2;
    cfg->grad_comm = BMST_F32;
    cfg->bucket_mib = 25;
    cfg->comm_timeout = (float)BMST_COMM_TIMEOUT_S;
    cfg->fault.rank = -1;
    cfg->seed = 1;
    cfg->log_every = 10;
    cfg->eval_split = BMST_SPLIT_TEST;
}
