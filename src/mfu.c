/* Training FLOPs and the peaks MFU is measured against (mfu.h). */
#include "mfu.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops/op.h"
#include "rng.h"
#include "stats.h"

void bmst_graph_train_flops(const struct bmst_graph *g, double *forward, double *backward) {
    *forward = *backward = 0.0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_op_def *op = bmst_op(g->nodes[i].kind);
        if (!op->flops) continue;
        *forward += op->flops(g, &g->nodes[i], 0);
        *backward += op->flops(g, &g->nodes[i], 1);
    }
}

/* Dense peaks in TFLOP/s from NVIDIA's datasheets (A100: "NVIDIA A100 Tensor
 * Core GPU" datasheet; H100: "NVIDIA H100 Tensor Core GPU" datasheet; H200:
 * "NVIDIA H200 Tensor Core GPU" datasheet), whose tensor-core figures are
 * given with sparsity: halved here. More specific names come first. */
static const struct gpu_peak {
    const char *match; /* lower case, found in the lower-cased device name */
    const char *model;
    double fp32, half; /* half: fp16 and bf16 alike */
} gpu_peaks[] = {
    {"h100 pcie", "H100 PCIe", 51.0, 756.0}, {"h100 nvl", "H100 NVL", 60.0, 835.5},
    {"h100", "H100 SXM", 67.0, 989.5},       {"h200 nvl", "H200 NVL", 60.0, 835.5},
    {"h200", "H200 SXM", 67.0, 989.5},       {"a100", "A100", 19.5, 312.0},
};

double bmst_gpu_peak_flops(const char *device_name, enum bmst_dtype precision, const char **model) {
    char lower[256];
    size_t i = 0;
    for (; device_name[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)device_name[i]);
    lower[i] = '\0';
    if (model) *model = NULL;
    for (size_t k = 0; k < sizeof gpu_peaks / sizeof gpu_peaks[0]; k++) {
        if (!strstr(lower, gpu_peaks[k].match)) continue;
        if (model) *model = gpu_peaks[k].model;
        return 1e12 * (precision == BMST_F32 ? gpu_peaks[k].fp32 : gpu_peaks[k].half);
    }
    return 0.0;
}

double bmst_gemm_flops(struct bmst_backend *be, int n) {
    struct bmst_conv_desc d = {.n = n,
                               .h = 1,
                               .w = 1,
                               .c = n,
                               .k = n,
                               .r = 1,
                               .s = 1,
                               .stride_h = 1,
                               .stride_w = 1,
                               .out_h = 1,
                               .out_w = 1};
    size_t bytes = (size_t)n * n * be->act_bytes, ws_bytes = 0;
    char why[256];
    if (be->conv->plan(be, &d, BMST_CONV_FWD, &ws_bytes, why, sizeof why) != 0) return 0.0;
    void *a = be->alloc(be, bytes), *w = be->alloc(be, bytes), *y = be->alloc(be, bytes);
    void *ws = ws_bytes ? be->alloc(be, ws_bytes) : NULL;
    double rate = 0.0;
    if (a && w && y && (ws || !ws_bytes)) {
        /* random operands: zeros can run faster than real data */
        size_t count = (size_t)n * n;
        float *host = bmst_xmalloc(count * sizeof(float));
        struct bmst_rng rng = bmst_rng_make(1, BMST_RNG_AUGMENT, 0);
        for (size_t i = 0; i < count; i++)
            host[i] = (float)bmst_rng_normal(&rng);
        be->upload_act(be, a, host, count);
        be->upload_act(be, w, host, count);
        be->sync(be);
        free(host);
        be->conv->fwd(be, &d, a, w, y, ws);
        be->sync(be);
        int reps = 10;
        double t = bmst_now();
        for (int i = 0; i < reps; i++)
            be->conv->fwd(be, &d, a, w, y, ws);
        be->sync(be);
        rate = 2.0 * n * n * (double)n * reps / (bmst_now() - t);
    }
    void *all[4] = {a, w, y, ws};
    for (int i = 0; i < 4; i++)
        if (all[i]) be->free(be, all[i]);
    return rate;
}

double bmst_peak_flops(struct bmst_backend *be, enum bmst_dtype precision, const char **source) {
    if (!be->stream) { /* the CPU: what its matrix multiply reaches here, now */
        *source = "measured";
        return bmst_gemm_flops(be, 512);
    }
    const char *model = NULL;
    double peak = bmst_gpu_peak_flops(be->name, precision, &model);
    *source = model ? model : "unknown";
    return peak;
}
