/* The inf/NaN guard on the CPU backend: what a training step finds (the
 * loss, the gradients through their norm, the running statistics, the
 * updated weights), in every precision; that a step with bad gradients
 * leaves weights and momentum (AdamW: its moments and step count) alone and
 * that a backup puts bad running statistics back; the fp16 scale's floor; and that a checkpoint holding inf
 * or NaN is neither written nor read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "engine.h"
#include "error.h"
#include "loss_scale.h"
#include "rng.h"
#include "step.h"

#define BATCH 8
#define SIDE 8

/* resnet20 on 8x8x3 inputs, one fixed batch, in the given precision. */
struct setup {
    struct bmst_engine e;
    struct bmst_batch batch;
    float images[BATCH * SIDE * SIDE * 3];
    int32_t labels[BATCH];
    float targets[BATCH * 4];
    struct bmst_step_result result;
    struct bmst_step_config sc;
    struct bmst_loss_scaler scaler;
};

/* optim: NULL for SGD with momentum 0.9 and weight decay 5e-4 */
static void setup_open_with(struct setup *s, enum bmst_dtype precision,
                            const struct bmst_optim_config *optim) {
    memset(s, 0, sizeof *s);
    struct bmst_engine_config ec = {
        .device = BMST_DEVICE_CHOICE_CPU,
        .precision = precision,
        .threads = 2,
        .spec = {.arch = "resnet20", .h = SIDE, .w = SIDE, .c = 3, .classes = 4, .mix_at = 2},
        .train_batch = BATCH,
        .merge = 1,
        .optim = {.momentum = 0.9f, .weight_decay = 5e-4f},
        .seed = 5};
    if (optim) ec.optim = *optim;
    CHECK(bmst_engine_open(&s->e, &ec) == 0, "%s", bmst_last_error());
    struct bmst_rng rng = bmst_rng_make(9, BMST_RNG_AUGMENT, 0);
    for (size_t i = 0; i < sizeof s->images / sizeof *s->images; i++)
        s->images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < BATCH; i++)
        s->labels[i] = i % 4;
    s->batch = (struct bmst_batch){.images = s->images, .labels = s->labels, .valid = BATCH};
    s->sc = (struct bmst_step_config){.seed = 3,
                                      .mix_alpha = 1.0f,
                                      .result = &s->result,
                                      .optim = &s->e.optim,
                                      .lr = 0.1f};
    bmst_loss_scaler_init(&s->scaler, precision, 1024.0f, 2000);
}

static void setup_open(struct setup *s, enum bmst_dtype precision) {
    setup_open_with(s, precision, NULL);
}

static void step(struct setup *s, long i) {
    double phase[BMST_PHASE_COUNT] = {0};
    bmst_train_step(&s->e.train, NULL, &s->sc, i, &s->batch, s->targets, &s->scaler, phase);
}

static float *copy_of(const float *x, size_t n) {
    float *c = bmst_xmalloc(n * sizeof *c);
    memcpy(c, x, n * sizeof *c);
    return c;
}

/* The stem's batch-norm scale (gamma) of channel 0. Made NaN, that channel's
 * output is NaN, which the ReLU after it makes 0: the loss and the running
 * statistics stay finite, only the gradients show it (the case that slipped
 * past a guard that looked at the loss). */
static float *stem_bn_scale(struct setup *s) {
    int p = bmst_model_find(&s->e.model, "bn1.weight");
    BMST_ASSERT(p >= 0);
    return bmst_model_data(&s->e.model, p);
}

static void test_clean_step(enum bmst_dtype precision) {
    struct setup s;
    setup_open(&s, precision);
    step(&s, 0);
    const struct bmst_model *m = &s.e.model;
    double norm = sqrt(s.e.be->sum_squares(s.e.be, m->n_weights, m->grads));
    CHECK(s.result.found == 0 && s.result.applied, "%s: a clean step found %#x, applied %d",
          bmst_dtype_name(precision), s.result.found, s.result.applied);
    CHECK(norm > 0 && fabs(s.result.grad_norm - norm) <= 1e-12 * norm,
          "%s: gradient norm %.17g, the gradients' own %.17g", bmst_dtype_name(precision),
          s.result.grad_norm, norm);
    bmst_engine_close(&s.e);
}

/* A NaN hidden from the loss: found in the gradients alone, the step not
 * applied (weights and momentum bitwise as they were), in every precision;
 * fp16 halves its scale until the floor and then says so. */
static void test_hidden_nan(enum bmst_dtype precision) {
    struct setup s;
    setup_open(&s, precision);
    const char *name = bmst_dtype_name(precision);
    struct bmst_model *m = &s.e.model;
    step(&s, 0); /* momentum not zero */
    *stem_bn_scale(&s) = NAN;
    bmst_model_refresh_act(m);
    float *w = copy_of(m->weights, m->n_weights), *mom = copy_of(s.e.optim.state[0], m->n_weights);
    if (precision == BMST_F16) s.scaler.scale = 2.0f; /* one halving from the floor */
    step(&s, 1);
    CHECK(s.result.found == BMST_NONFINITE_GRADS, "%s: found %#x, want the gradients alone", name,
          s.result.found);
    CHECK(!s.result.applied && !isfinite(s.result.grad_norm), "%s: applied %d, norm %g", name,
          s.result.applied, s.result.grad_norm);
    CHECK(memcmp(w, m->weights, m->n_weights * sizeof *w) == 0, "%s: weights changed", name);
    CHECK(memcmp(mom, s.e.optim.state[0], m->n_weights * sizeof *mom) == 0, "%s: momentum changed",
          name);
    if (precision == BMST_F16) {
        CHECK(!s.result.at_min_scale && s.scaler.scale == BMST_LOSS_SCALE_MIN,
              "fp16: scale 2 overflowed to %g, at minimum %d", s.scaler.scale,
              s.result.at_min_scale);
        step(&s, 2);
        CHECK(s.result.at_min_scale && s.scaler.scale == BMST_LOSS_SCALE_MIN,
              "fp16: an overflow at the floor is not reported (scale %g)", s.scaler.scale);
    } else {
        CHECK(!s.result.at_min_scale && s.scaler.scale == 1.0f, "%s: the scale moved", name);
    }
    free(w), free(mom);
    bmst_engine_close(&s.e);
}

/* AdamW's state is the step count besides the moments: a step skipped for a
 * NaN in the gradients leaves the weights, exp_avg, exp_avg_sq and the count
 * (which the next step's bias correction reads) as they were. */
static void test_hidden_nan_adamw(void) {
    struct bmst_optim_config adamw;
    bmst_optim_config_defaults(&adamw);
    adamw.kind = bmst_optim_kind_find("adamw");
    adamw.no_decay = BMST_NO_DECAY_BN | BMST_NO_DECAY_BIAS;
    struct setup s;
    setup_open_with(&s, BMST_F32, &adamw);
    struct bmst_model *m = &s.e.model;
    struct bmst_optim *o = &s.e.optim;
    s.sc.lr = 1e-3f;
    step(&s, 0);
    CHECK(s.result.applied && o->steps == 1, "adamw: a clean step applied %d, count %lld",
          s.result.applied, (long long)o->steps);
    *stem_bn_scale(&s) = NAN;
    float *w = copy_of(m->weights, m->n_weights), *avg = copy_of(o->state[0], m->n_weights);
    float *avg_sq = copy_of(o->state[1], m->n_weights);
    step(&s, 1);
    CHECK(!s.result.applied && s.result.found == BMST_NONFINITE_GRADS,
          "adamw: NaN gradients applied %d, found %#x", s.result.applied, s.result.found);
    CHECK(memcmp(w, m->weights, m->n_weights * sizeof *w) == 0, "adamw: weights changed");
    CHECK(memcmp(avg, o->state[0], m->n_weights * sizeof *w) == 0 &&
              memcmp(avg_sq, o->state[1], m->n_weights * sizeof *w) == 0,
          "adamw: exp_avg or exp_avg_sq changed");
    CHECK(o->steps == 1, "adamw: a skipped step counted (%lld)", (long long)o->steps);
    free(w), free(avg), free(avg_sq);
    bmst_engine_close(&s.e);
}

/* Finite gradients whose update overflows the weights: flagged. */
static void test_weights_overflow(void) {
    struct setup s;
    setup_open(&s, BMST_F32);
    s.sc.lr = 3e38f;
    step(&s, 0);
    CHECK(s.result.found == BMST_NONFINITE_WEIGHTS && s.result.applied,
          "lr 3e38: found %#x, applied %d", s.result.found, s.result.applied);
    bmst_engine_close(&s.e);
}

/* Inputs of 1e30 make a variance beyond fp32: the running statistics turn
 * inf. Without a backup the step reports it; with one (--on-nan skip) they
 * are put back bit for bit. */
static void test_statistics(int with_backup) {
    struct setup s;
    setup_open(&s, BMST_F32);
    struct bmst_model *m = &s.e.model;
    float *backup = with_backup ? bmst_xmalloc(m->n_buffers * sizeof(float)) : NULL;
    s.sc.stats_backup = backup;
    s.sc.skip_nonfinite = with_backup;
    step(&s, 0);
    float *before = copy_of(m->buffers, m->n_buffers);
    for (size_t i = 0; i < sizeof s.images / sizeof *s.images; i++)
        s.images[i] *= 1e30f;
    step(&s, 1);
    CHECK(s.result.found & BMST_NONFINITE_STATS, "huge inputs: found %#x", s.result.found);
    double sum = s.e.be->sum_squares(s.e.be, m->n_buffers, m->buffers);
    if (with_backup)
        CHECK(memcmp(before, m->buffers, m->n_buffers * sizeof *before) == 0,
              "the running statistics were not put back");
    else
        CHECK(!isfinite(sum), "no backup, yet the statistics are finite");
    free(backup), free(before);
    bmst_engine_close(&s.e);
}

static void test_scale_floor(void) {
    struct bmst_loss_scaler s;
    bmst_loss_scaler_init(&s, BMST_F16, 3.0f, 2000);
    CHECK(bmst_loss_scaler_update(&s, 1) == BMST_SCALER_SKIP && s.scale == 1.5f, "3 -> %g",
          s.scale);
    CHECK(bmst_loss_scaler_update(&s, 1) == BMST_SCALER_SKIP && s.scale == BMST_LOSS_SCALE_MIN,
          "1.5 halves to %g, not the floor", s.scale);
    CHECK(bmst_loss_scaler_update(&s, 1) == BMST_SCALER_SKIP_AT_MIN && s.scale == 1.0f,
          "an overflow at the floor: scale %g", s.scale);
    CHECK(s.skipped == 3, "%ld skipped", s.skipped);
}

/* Saving refuses inf or NaN in the weights, the running statistics or the
 * momentum, names the tensor and leaves no file; a clean model saves. */
static void test_checkpoint(void) {
    struct setup s;
    setup_open(&s, BMST_F32);
    struct bmst_model *m = &s.e.model;
    char dir[] = "/tmp/bmst_nan_guard.XXXXXX";
    BMST_ASSERT(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/c.h5", dir);
    struct bmst_checkpoint_meta meta = {.arch = "resnet20",
                                        .in_h = SIDE,
                                        .in_w = SIDE,
                                        .in_c = 3,
                                        .classes = 4,
                                        .epoch = 1,
                                        .step = 1,
                                        .loss_scale = 1.0f,
                                        .has_run_record = 1,
                                        .batch = BATCH,
                                        .ranks = 1,
                                        .merge = 1,
                                        .lr = 0.1f,
                                        .planned_epochs = 1,
                                        .steps_per_epoch = 1};
    int fc = bmst_model_find(m, "fc.weight"), var = bmst_model_find(m, "layer2.0.bn1.running_var");
    BMST_ASSERT(fc >= 0 && var >= 0);
    struct {
        float *where;
        const char *name;
    } cases[] = {{bmst_model_data(m, fc) + 3, "fc.weight"},
                 {bmst_model_data(m, var), "layer2.0.bn1.running_var"},
                 {s.e.optim.state[0] + m->params[fc].offset, "the momentum of fc.weight"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float keep = *cases[i].where;
        *cases[i].where = i == 1 ? INFINITY : NAN;
        CHECK(bmst_checkpoint_save(path, m, &s.e.optim, &meta) != 0 && access(path, F_OK) != 0,
              "a checkpoint with inf/NaN in %s was written", cases[i].name);
        CHECK(strstr(bmst_last_error(), cases[i].name) != NULL, "the error does not name %s: %s",
              cases[i].name, bmst_last_error());
        *cases[i].where = keep;
    }
    CHECK(bmst_checkpoint_save(path, m, &s.e.optim, &meta) == 0, "a clean model: %s",
          bmst_last_error());
    struct bmst_checkpoint_meta back;
    CHECK(bmst_checkpoint_read_meta(path, &back) == 0 && back.has_run_record &&
              back.batch == BATCH && back.steps_per_epoch == 1,
          "the run's record did not come back: %s", bmst_last_error());
    unlink(path);
    rmdir(dir);
    bmst_engine_close(&s.e);
}

int main(void) {
    static const enum bmst_dtype precisions[] = {BMST_F32, BMST_BF16, BMST_F16};
    for (int i = 0; i < 3; i++) {
        test_clean_step(precisions[i]);
        test_hidden_nan(precisions[i]);
    }
    test_hidden_nan_adamw();
    test_weights_overflow();
    test_statistics(0);
    test_statistics(1);
    test_scale_floor();
    test_checkpoint();
    return check_finish("nan_guard");
}
