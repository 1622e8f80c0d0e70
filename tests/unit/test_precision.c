/* Mixed precision on the CPU backend, which stores half values as floats
 * rounded to the half type: the rounding itself, the loss scaler's rules, and
 * whole training steps under fp16 and bf16: a forced overflow skips exactly
 * that step (weights and momentum untouched) and halves the scale, clean steps
 * update and double it, and the half-precision step stays close to fp32's. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "error.h"
#include "loss_scale.h"
#include "rng.h"
#include "step.h"

static float rounded(struct bmst_backend *be, float v) {
    float out;
    be->upload_act(be, &out, &v, 1);
    return out;
}

static void test_rounding(void) {
    struct bmst_backend *h = bmst_backend_cpu_create(1, BMST_F16);
    struct bmst_backend *b = bmst_backend_cpu_create(1, BMST_BF16);
    /* fp16: 11 significant bits, largest finite 65504, ties to even */
    CHECK(rounded(h, 65504.0f) == 65504.0f, "fp16 max %g", rounded(h, 65504.0f));
    CHECK(isinf(rounded(h, 65520.0f)), "fp16 65520 should overflow: %g", rounded(h, 65520.0f));
    CHECK(isinf(rounded(h, 1e6f)), "fp16 1e6 should overflow");
    CHECK(rounded(h, 1.0f + 0x1p-11f) == 1.0f, "fp16 tie rounds to even");
    CHECK(rounded(h, 1.0f + 3 * 0x1p-11f) == 1.0f + 0x1p-9f, "fp16 tie rounds up to even");
    CHECK(rounded(h, 0x1p-24f) == 0x1p-24f, "fp16 smallest subnormal");
    CHECK(rounded(h, 0x1p-26f) == 0.0f, "fp16 underflow");
    /* bf16: 8 significant bits, fp32's range */
    CHECK(rounded(b, 1.0f + 0x1p-8f) == 1.0f, "bf16 tie rounds to even");
    CHECK(rounded(b, 1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f, "bf16 tie rounds up to even");
    CHECK(rounded(b, 1e30f) == 0x1.94p+99f, "bf16 1e30 -> %a", rounded(b, 1e30f));
    CHECK(isinf(rounded(b, 3.4e38f)), "bf16 near FLT_MAX rounds to inf");
    CHECK(isnan(rounded(b, NAN)) && isnan(rounded(h, NAN)), "NaN stays NaN");
    h->destroy(h);
    b->destroy(b);
}

static void test_scaler_rules(void) {
    struct bmst_loss_scaler s;
    bmst_loss_scaler_init(&s, BMST_BF16, 1024.0f, 2);
    CHECK(!s.enabled && s.scale == 1.0f, "bf16 scales");
    CHECK(bmst_loss_scaler_update(&s, 1) == 0 && s.scale == 1.0f, "bf16 skipped a step");
    bmst_loss_scaler_init(&s, BMST_F16, 1024.0f, 2);
    CHECK(bmst_loss_scaler_update(&s, 1) == 1 && s.scale == 512.0f && s.skipped == 1,
          "overflow: skip and halve (scale %g)", s.scale);
    CHECK(bmst_loss_scaler_update(&s, 0) == 0 && s.scale == 512.0f && s.clean_steps == 1,
          "one clean step keeps the scale");
    CHECK(bmst_loss_scaler_update(&s, 0) == 0 && s.scale == 1024.0f && s.clean_steps == 0,
          "window of clean steps doubles (scale %g)", s.scale);
    bmst_loss_scaler_update(&s, 0);
    CHECK(bmst_loss_scaler_update(&s, 1) == 1 && s.scale == 512.0f && s.clean_steps == 0,
          "overflow resets the clean count");
    s.scale = BMST_LOSS_SCALE_MAX;
    bmst_loss_scaler_update(&s, 0);
    bmst_loss_scaler_update(&s, 0);
    CHECK(s.scale == BMST_LOSS_SCALE_MAX, "scale grew past the cap: %g", s.scale);
}

/* A small CIFAR-shaped resnet20 on the CPU in the given precision, with one
 * fixed batch. */
struct setup {
    struct bmst_engine e;
    struct bmst_batch batch;
    float images[16 * 16 * 16 * 3];
    int32_t labels[16];
    float targets[16 * 10];
    struct bmst_step_config sc;
};

static void setup_open(struct setup *s, enum bmst_dtype precision) {
    memset(s, 0, sizeof *s);
    struct bmst_engine_config ec = {
        .device = BMST_DEVICE_CHOICE_CPU, .precision = precision, .threads = 2,
        .spec = {.arch = "resnet20", .h = 16, .w = 16, .c = 3, .classes = 10, .mix_at = 2},
        .train_batch = 16, .merge = 2, .optim = {.momentum = 0.9f, .weight_decay = 5e-4f},
        .seed = 5};
    CHECK(bmst_engine_open(&s->e, &ec) == 0, "%s", bmst_last_error());
    struct bmst_rng rng = bmst_rng_make(9, BMST_RNG_AUGMENT, 0);
    for (size_t i = 0; i < sizeof s->images / sizeof *s->images; i++)
        s->images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < 16; i++) s->labels[i] = i % 10;
    s->batch = (struct bmst_batch){.images = s->images, .labels = s->labels, .valid = 16};
    s->sc = (struct bmst_step_config){.seed = 3, .mix_alpha = 1.0f, .optim = &s->e.optim,
                                      .lr = 0.1f};
}

static void setup_close(struct setup *s) {
    bmst_engine_close(&s->e);
}

static float step(struct setup *s, struct bmst_loss_scaler *scaler, long i) {
    double phase[BMST_PHASE_COUNT] = {0};
    return bmst_train_step(&s->e.train, NULL, &s->sc, i, &s->batch, s->targets, scaler, phase);
}

static size_t weight_bytes(const struct setup *s) {
    return s->e.model.n_weights * sizeof(float);
}

static void test_overflow_skips_the_step(void) {
    struct setup s;
    setup_open(&s, BMST_F16);
    struct bmst_model *m = &s.e.model;
    struct bmst_loss_scaler scaler;
    bmst_loss_scaler_init(&scaler, BMST_F16, 1024.0f, 2);
    step(&s, &scaler, 0); /* a clean step first, so momentum is not zero */
    CHECK(scaler.skipped == 0, "scale 1024 overflowed on the first step");
    float *w = bmst_xmalloc(weight_bytes(&s)), *mom = bmst_xmalloc(weight_bytes(&s));
    memcpy(w, m->weights, weight_bytes(&s));
    memcpy(mom, s.e.optim.state[0], weight_bytes(&s));

    /* 2^30 times a loss gradient of ~1/4 is far beyond fp16's 65504 */
    scaler.scale = 0x1p30f;
    float loss = step(&s, &scaler, 1);
    CHECK(isfinite(loss), "the loss itself stays finite (%g)", loss);
    CHECK(scaler.skipped == 1 && scaler.scale == 0x1p29f,
          "overflow: %ld skipped, scale %g (want 1 and 2^29)", scaler.skipped, scaler.scale);
    CHECK(memcmp(w, m->weights, weight_bytes(&s)) == 0, "a skipped step changed the weights");
    CHECK(memcmp(mom, s.e.optim.state[0], weight_bytes(&s)) == 0,
          "a skipped step changed momentum");

    scaler.scale = 1024.0f;
    step(&s, &scaler, 2);
    CHECK(scaler.skipped == 1 && scaler.clean_steps == 1, "clean step after the overflow");
    CHECK(memcmp(w, m->weights, weight_bytes(&s)) != 0, "a clean step left the weights alone");
    step(&s, &scaler, 3);
    CHECK(scaler.scale == 2048.0f, "two clean steps with window 2: scale %g", scaler.scale);
    free(w), free(mom);
    setup_close(&s);
}

/* One step from the same weights in fp32 and in a half type: nearly the same
 * loss and a similar update. The update's relative L2 distance from fp32's is
 * large by nature: rounding every activation and gradient, amplified back
 * through each batch norm, gives 4-13% per layer in fp16 and 14-36% in bf16
 * here, and PyTorch's own bf16 step of the same network differs from float64
 * by 29-60% (measured when this test was written). The bounds catch what a
 * bug does (a missing unscale is off by the scale itself), and fp16, with 3
 * more mantissa bits, must land nearer than bf16. The half type's compute
 * copy of the weights is the rounded fp32 weights. Returns the distance. */
static double test_half_step_near_fp32(enum bmst_dtype half, double loss_tol, double tol) {
    struct setup ref, low;
    setup_open(&ref, BMST_F32);
    setup_open(&low, half);
    const struct bmst_model *a = &ref.e.model, *b = &low.e.model;
    float *start = bmst_xmalloc(weight_bytes(&ref));
    memcpy(start, a->weights, weight_bytes(&ref));
    struct bmst_loss_scaler sr, sl;
    bmst_loss_scaler_init(&sr, BMST_F32, 1.0f, 2000);
    bmst_loss_scaler_init(&sl, half, 1024.0f, 2000);
    float lr = step(&ref, &sr, 0), ll = step(&low, &sl, 0);
    CHECK(fabsf(lr - ll) < loss_tol * fabsf(lr), "%s loss %g vs fp32 %g", bmst_dtype_name(half), ll,
          lr);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < a->n_weights; i++) {
        double da = (double)a->weights[i] - start[i], db = (double)b->weights[i] - start[i];
        diff += (da - db) * (da - db);
        norm += da * da;
    }
    double rel = sqrt(diff / norm);
    CHECK(norm > 0 && rel < tol, "%s update differs from fp32's by %.3g (relative L2)",
          bmst_dtype_name(half), rel);
    const float *copy = b->weights_act;
    int exact = copy != b->weights;
    for (size_t i = 0; i < b->n_weights && exact; i++) {
        float r;
        low.e.be->upload_act(low.e.be, &r, &b->weights[i], 1);
        exact = copy[i] == r;
    }
    CHECK(exact, "%s compute copy is not the rounded weights", bmst_dtype_name(half));
    printf("  %s step vs fp32: loss %.6f vs %.6f, update within %.2e (relative L2)\n",
           bmst_dtype_name(half), ll, lr, rel);
    free(start);
    setup_close(&ref);
    setup_close(&low);
    return rel;
}

int main(void) {
    test_rounding();
    test_scaler_rules();
    test_overflow_skips_the_step();
    double fp16 = test_half_step_near_fp32(BMST_F16, 1e-3, 0.2);
    double bf16 = test_half_step_near_fp32(BMST_BF16, 5e-3, 0.5);
    CHECK(fp16 < bf16, "fp16's step (%g) is not nearer fp32's than bf16's (%g)", fp16, bf16);
    return check_finish("precision");
}
