/* Training FLOPs and the peaks MFU is measured against (mfu.h). */
#include "mfu.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops/op.h"
#include "rng.h"
#include "stats.h"

/* Backward runs a node a gradient flows out of (exec.c), and the losses:
 * never a frozen prefix of the network (--freeze), nor the targets' merge. */
void bmst_graph_train_flops(const struct bmst_graph *g, double *forward, double *backward) {
    *forward = *backward = 0.0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        const struct bmst_op_def *op = bmst_op(n->kind);
        if (!op->flops) continue;
        *forward += op->flops(g, n, 0);
        if (n->kind == BMST_OP_XENT || g->values[n->out].needs_grad)
            *backward += op->flops(g, n, 1);
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

/* Pass `pass` of convolution d in FLOP/s: the fastest of at least `reps`
 * timed runs, more while they take under `seconds` (on a shared machine a
 * run may lose its core for a while; a peak is what the kernel can reach). */
static double conv_rate(struct bmst_backend *be, const struct bmst_conv_desc *d,
                        enum bmst_conv_pass pass, int reps, double seconds) {
    size_t x_count = (size_t)d->n * d->h * d->w * d->c;
    size_t w_count = (size_t)d->k * d->r * d->s * d->c;
    size_t y_count = (size_t)d->n * d->out_h * d->out_w * d->k, ws_bytes = 0;
    char why[256];
    if (be->conv->plan(be, d, pass, &ws_bytes, why, sizeof why) != 0) return 0.0;
    void *x = be->alloc(be, x_count * be->act_bytes), *w = be->alloc(be, w_count * be->act_bytes);
    void *y = be->alloc(be, y_count * be->act_bytes);
    float *dw = be->alloc(be, w_count * sizeof(float));
    void *ws = ws_bytes ? be->alloc(be, ws_bytes) : NULL;
    double best = 0.0;
    if (x && w && y && dw && (ws || !ws_bytes)) {
        /* random operands: zeros can run faster than real data */
        size_t count = x_count > y_count ? x_count : y_count;
        if (w_count > count) count = w_count;
        float *host = bmst_xmalloc(count * sizeof(float));
        struct bmst_rng rng = bmst_rng_make(1, BMST_RNG_AUGMENT, 0);
        for (size_t i = 0; i < count; i++)
            host[i] = (float)bmst_rng_normal(&rng);
        be->upload_act(be, x, host, x_count);
        be->upload_act(be, w, host, w_count);
        be->upload_act(be, y, host, y_count);
        be->sync(be);
        free(host);
        double flops = 2.0 * (double)y_count * d->r * d->s * d->c;
        double start = bmst_now();
        /* the first run warms up, untimed */
        for (int i = 0; i <= reps || (i < 50 && bmst_now() - start < seconds); i++) {
            double t = bmst_now();
            if (pass == BMST_CONV_FWD)
                be->conv->fwd(be, d, x, w, y, ws);
            else if (pass == BMST_CONV_BWD_DATA)
                be->conv->bwd_data(be, d, y, w, x, 0, ws);
            else
                be->conv->bwd_filter(be, d, x, y, dw, ws);
            be->sync(be);
            double rate = flops / (bmst_now() - t);
            if (i > 0 && rate > best) best = rate;
        }
    }
    void *all[5] = {x, w, y, dw, ws};
    for (int i = 0; i < 5; i++)
        if (all[i]) be->free(be, all[i]);
    return best;
}

/* n images of size x size pixels, c channels in and out, r x r filters at
 * stride 1 with the padding that keeps the size */
static struct bmst_conv_desc probe_desc(int n, int size, int c, int r) {
    struct bmst_conv_desc d = {.n = n, .h = size, .w = size, .c = c, .k = c, .r = r, .s = r};
    d.stride_h = d.stride_w = 1;
    d.pad_h = d.pad_w = r / 2;
    d.out_h = d.out_w = size;
    return d;
}

double bmst_gemm_flops(struct bmst_backend *be, int n) {
    struct bmst_conv_desc d = probe_desc(n, 1, n, 1); /* [n, n] x [n, n] */
    return conv_rate(be, &d, BMST_CONV_FWD, 10, 0.0);
}

/* The CPU's peak: the fastest of the backend's own convolution kernels. Two
 * paths run a network's convolutions: im2col + OpenBLAS sgemm (probed as a
 * matrix product of 512: 1024 reaches the same rate), and, with AVX-512, our
 * direct kernels for 16 to 64 channels (a 3x3 convolution of 64 channels,
 * each pass). On a CPU whose OpenBLAS kernel does not use its full vector
 * width (Zen 5 under Debian 12's OpenBLAS: 128 GFLOP/s per core) the direct
 * kernels run 2x faster (250), and a peak from the sgemm alone put
 * ResNet-20's MFU at 115%. About 0.2 s. */
static double cpu_peak_flops(struct bmst_backend *be) {
    struct bmst_conv_desc gemm = probe_desc(512, 1, 512, 1), direct = probe_desc(16, 8, 64, 3);
    double rates[] = {conv_rate(be, &gemm, BMST_CONV_FWD, 3, 0.05),
                      conv_rate(be, &direct, BMST_CONV_FWD, 3, 0.04),
                      conv_rate(be, &direct, BMST_CONV_BWD_DATA, 3, 0.04),
                      conv_rate(be, &direct, BMST_CONV_BWD_FILTER, 3, 0.04)};
    double best = 0.0;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (rates[i] > best) best = rates[i];
    return best;
}

double bmst_peak_flops(struct bmst_backend *be, enum bmst_dtype precision, const char **source) {
    if (!be->stream) { /* the CPU: what its convolution kernels reach here, now */
        *source = "measured";
        return cpu_peak_flops(be);
    }
    const char *model = NULL;
    double peak = bmst_gpu_peak_flops(be->name, precision, &model);
    *source = model ? model : "unknown";
    return peak;
}
