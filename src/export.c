/* `bmst_dist export`: builds the checkpoint's network on the CPU, loads its
 * weights, and hands it to the writer --format chooses (export.h). */
#include "export.h"

#include <stdio.h>

#include "calibrate.h"
#include "checkpoint.h"
#include "engine.h"
#include "error.h"
#include "export_int8_h5.h"
#include "export_onnx.h"

int bmst_export(const struct bmst_cli *cli) {
    const char *path = cli->run.checkpoint_path;
    struct bmst_checkpoint_meta meta;
    if (bmst_checkpoint_read_meta(path, &meta) != 0) return -1;
    /* an unknown model is refused while the meta is read */
    struct bmst_engine_config ec = {.device = BMST_DEVICE_CHOICE_CPU,
                                    .precision = BMST_F32,
                                    .threads = cli->run.threads,
                                    .quiet = 1,
                                    .spec = {.h = meta.in_h,
                                             .w = meta.in_w,
                                             .c = meta.in_c,
                                             .classes = meta.classes,
                                             .mix_at = BMST_MIX_C2,
                                             .aux_logits = meta.aux_logits,
                                             .stem = meta.stem},
                                    /* calibration runs batches of --batch */
                                    .eval_batch = cli->calibrate > 0 ? cli->run.batch : 1};
    snprintf(ec.spec.arch, sizeof ec.spec.arch, "%s", meta.arch);
    struct bmst_engine e;
    struct bmst_calibration cal = {0};
    int status = bmst_engine_open(&e, &ec);
    if (status == 0) status = bmst_checkpoint_load(path, &e.model, NULL);
    if (status == 0 && cli->calibrate > 0)
        status =
            bmst_calibrate(&e, cli->run.data_path, cli->calibrate, cli->run.loader_threads, &cal);
    if (status == 0) {
        if (bmst_export_format(cli) == BMST_EXPORT_INT8_H5)
            status = bmst_export_int8_h5(&e.model, path, &meta, cli->out_path);
        else
            status = bmst_export_onnx(&e, path, &meta, cli->run.int8,
                                      cli->calibrate > 0 ? &cal : NULL, cli->out_path);
    }
    bmst_calibration_free(&cal);
    bmst_engine_close(&e);
    return status;
}
