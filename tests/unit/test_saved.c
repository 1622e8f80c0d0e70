/* Saved activations: training passes with the 1-bit ReLU codec (--act-codec
 * relu-mask) give bitwise the gradients, losses and running statistics of
 * the plain codec, in fp32 and under the CPU's fp16 emulation, with and
 * without a BMST merge; and the masks really are what backward reads: the
 * CPU backend's ReLU backward from a mask is counted, and runs exactly for
 * the ReLU outputs the plan keeps as masks (none under plain). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "exec.h"
#include "models/models.h"
#include "rng.h"
#include "step.h"

#define PASSES 3
#define BATCH 8
#define SIDE 16
#define CLASSES 10

static struct bmst_backend *cpu; /* the real backend, of the run's precision */
static struct bmst_backend wrapper;
static struct bmst_relu_kernels counted_relu;
static int mask_reads;

static void counted_bwd_mask(struct bmst_backend *be, size_t n, const uint32_t *y_mask,
                             const void *dy, void *dx, int accumulate) {
    mask_reads++;
    cpu->relu->bwd_mask(be, n, y_mask, dy, dx, accumulate);
}

/* The CPU backend with ReLU's backward from a mask counted; the CPU's
 * functions read only act_dtype and impl from `be`, which the copy shares. */
static void wrap_cpu(enum bmst_dtype precision) {
    cpu = bmst_backend_cpu_create(2, precision);
    wrapper = *cpu;
    counted_relu = *cpu->relu;
    counted_relu.bwd_mask = counted_bwd_mask;
    wrapper.relu = &counted_relu;
}

/* What PASSES training passes left: every pass's loss and gradients, the
 * running statistics after them, how many ReLU outputs the plan kept as
 * masks, and how many mask reads backward made. */
struct outcome {
    float loss[PASSES];
    float *grads[PASSES], *buffers;
    size_t n_weights, n_buffers;
    int masks, mask_reads;
};

static float *copy_floats(const float *src, size_t n) {
    float *dst = bmst_xmalloc((n ? n : 1) * sizeof(float));
    memcpy(dst, src, n * sizeof(float));
    return dst;
}

/* resnet20 on 16x16x3 with `merge`, PASSES passes on fresh batches and BMST
 * coefficients, a loss scale of 1024 (which fp16's gradients need), no
 * optimizer: the codec changes only what backward reads. */
static void run(enum bmst_dtype precision, int merge, enum bmst_act_codec codec,
                struct outcome *out) {
    wrap_cpu(precision);
    struct bmst_network_spec spec = {.arch = "resnet20",
                                     .h = SIDE,
                                     .w = SIDE,
                                     .c = 3,
                                     .classes = CLASSES,
                                     .mix_at = BMST_MIX_C2};
    struct bmst_model model;
    struct bmst_graph g;
    struct bmst_exec x;
    bmst_model_init(&model, &wrapper, spec.arch);
    bmst_graph_init(&g, &model, 1, BATCH, merge, CLASSES);
    g.act_codec = codec;
    CHECK(bmst_network_build(&g, &spec) == 0 && bmst_graph_plan(&g) == 0, "%s", bmst_last_error());
    BMST_ASSERT(bmst_model_allocate(&model) == 0 && bmst_exec_init(&x, &g) == 0);
    bmst_model_initialize(&model, 7);
    out->masks = 0;
    for (int v = 0; v < g.n_values; v++)
        out->masks += g.values[v].codec != BMST_ACT_CODEC_PLAIN;

    static float images[BATCH * SIDE * SIDE * 3], targets[BATCH * CLASSES];
    int32_t labels[BATCH];
    struct bmst_rng rng = bmst_rng_make(4, BMST_RNG_AUGMENT, 0);
    mask_reads = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        for (size_t i = 0; i < sizeof images / sizeof *images; i++)
            images[i] = (float)bmst_rng_normal(&rng);
        for (int i = 0; i < BATCH; i++)
            labels[i] = (i * 3 + pass) % CLASSES;
        bmst_soft_targets(labels, BATCH, CLASSES, 0.1f, targets);
        wrapper.upload_act(&wrapper, bmst_exec_value(&x, g.images), images,
                           sizeof images / sizeof *images);
        wrapper.to_device(&wrapper, bmst_exec_value(&x, g.targets), targets, sizeof targets);
        bmst_mix_coefficients(merge, 0.2f + 0.3f * pass, x.host_scalars + BMST_SCALAR_MIX);
        x.host_scalars[BMST_SCALAR_LOSS_SCALE] = 1024.0f;
        double seconds[2];
        bmst_exec_train_pass(&x, seconds);
        out->loss[pass] = x.loss;
        out->grads[pass] = copy_floats(model.grads, model.n_weights);
    }
    out->mask_reads = mask_reads;
    out->n_weights = model.n_weights;
    out->n_buffers = model.n_buffers;
    out->buffers = copy_floats(model.buffers, model.n_buffers);
    bmst_exec_free(&x);
    bmst_graph_free(&g);
    bmst_model_free(&model);
    cpu->destroy(cpu);
}

static void outcome_free(struct outcome *o) {
    for (int pass = 0; pass < PASSES; pass++)
        free(o->grads[pass]);
    free(o->buffers);
}

static void test_codec(enum bmst_dtype precision, int merge, int masks) {
    const char *type = bmst_dtype_name(precision);
    struct outcome plain, mask;
    run(precision, merge, BMST_ACT_CODEC_PLAIN, &plain);
    run(precision, merge, BMST_ACT_CODEC_RELU_MASK, &mask);
    CHECK(plain.masks == 0 && plain.mask_reads == 0, "%s merge %d plain: %d masks, %d mask reads",
          type, merge, plain.masks, plain.mask_reads);
    CHECK(mask.masks == masks, "%s merge %d: %d ReLU outputs kept as masks, want %d", type, merge,
          mask.masks, masks);
    /* every pass's backward reads each mask once */
    CHECK(mask.mask_reads == PASSES * masks, "%s merge %d: %d mask reads in %d passes, want %d",
          type, merge, mask.mask_reads, PASSES, PASSES * masks);
    for (int pass = 0; pass < PASSES; pass++) {
        CHECK(isfinite(plain.loss[pass]) && mask.loss[pass] == plain.loss[pass],
              "%s merge %d pass %d: loss %.9g with masks, %.9g plain", type, merge, pass,
              mask.loss[pass], plain.loss[pass]);
        CHECK(memcmp(mask.grads[pass], plain.grads[pass], plain.n_weights * sizeof(float)) == 0,
              "%s merge %d pass %d: the gradients differ from plain's", type, merge, pass);
    }
    CHECK(memcmp(mask.buffers, plain.buffers, plain.n_buffers * sizeof(float)) == 0,
          "%s merge %d: the running statistics differ from plain's", type, merge);
    outcome_free(&plain);
    outcome_free(&mask);
}

int main(void) {
    /* resnet20's last ReLU feeds the global pool alone; with a merge at c2
     * the stem's ReLU feeds the mix alone too */
    test_codec(BMST_F32, 1, 1);
    test_codec(BMST_F32, 2, 2);
    test_codec(BMST_F16, 2, 2);
    return check_finish("saved");
}
