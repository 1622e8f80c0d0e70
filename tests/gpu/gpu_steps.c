/* The GPU suite's whole-network groups: two resnet18 training steps (BMST,
 * merge 2 after the stem) on the GPU against the same two steps on the CPU
 * from the same initial weights and inputs, with the second pass recorded as
 * a CUDA graph and replayed, run op by op, or recorded with a break on
 * purpose; the same steps twice with --deterministic's backend, which must
 * give the same bits; and with --act-codec relu-mask, which must give plain's.
 *
 * Tolerances: the loss and the weights after two steps within 1e-4 relative
 * in fp32 and 1e-2 in the half types; the gradients, as one relative L2
 * distance over the flat buffer, within 1e-3 in fp32 and 0.1 in the half
 * types: rounding differences of one unit in the last place are amplified
 * through every batch-norm backward (tests/unit/test_precision.c measured fp16
 * against fp32 at 13%, PyTorch's bf16 against float64 at 29-60%), so two
 * correct implementations are not closer than that. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "error.h"
#include "gpu_suite.h"
#include "rng.h"
#include "step.h"

enum recording { RECORDING_OFF, RECORDING_ON, RECORDING_BROKEN };
static const char *const recording_names[] = {"recording off", "recorded", "recording broken"};

/* RECORDING_BROKEN: the GPU backend's relu forward also waits for the stream
 * while a recording is in progress, which CUDA refuses. */
static int (*real_capture_begin)(struct bmst_backend *be, char *why, size_t why_len);
static void *(*real_capture_end)(struct bmst_backend *be, char *why, size_t why_len);
static void (*real_relu_fwd)(struct bmst_backend *be, size_t n, const void *x, void *y);
static struct bmst_relu_kernels breaking_relu; /* the GPU's, forward replaced */
static int breaking;

static int breaking_capture_begin(struct bmst_backend *be, char *why, size_t why_len) {
    int status = real_capture_begin(be, why, why_len);
    breaking = status == 0;
    return status;
}

static void *breaking_capture_end(struct bmst_backend *be, char *why, size_t why_len) {
    breaking = 0;
    return real_capture_end(be, why, why_len);
}

static void breaking_relu_fwd(struct bmst_backend *be, size_t n, const void *x, void *y) {
    real_relu_fwd(be, n, x, y);
    if (breaking) be->sync(be);
}

static void break_recording(struct bmst_backend *be) {
    real_capture_begin = be->capture_begin, be->capture_begin = breaking_capture_begin;
    real_capture_end = be->capture_end, be->capture_end = breaking_capture_end;
    breaking_relu = *be->relu;
    real_relu_fwd = breaking_relu.fwd, breaking_relu.fwd = breaking_relu_fwd;
    be->relu = &breaking_relu;
}

/* What the GPU engine's training graph did with its second pass: kept a
 * recording, or not; and the notes it printed (a broken recording's one
 * line). */
static void check_recording(struct bmst_exec *x, enum bmst_dtype precision, enum recording mode) {
    const char *type = bmst_dtype_name(precision);
    CHECK((x->recording != NULL) == (mode == RECORDING_ON),
          "%s %s: the training pass was%s "
          "recorded",
          type, recording_names[mode], x->recording ? "" : " not");
    char notes[1024];
    rewind(x->notes);
    size_t got = fread(notes, 1, sizeof notes - 1, x->notes);
    notes[got] = '\0';
    int lines = 0;
    for (const char *c = notes; *c; c++) lines += *c == '\n';
    int broken = mode == RECORDING_BROKEN;
    CHECK(lines == broken && (!broken || strstr(notes, "cudaStreamSynchronize") != NULL),
          "%s %s: notes '%s'", type, recording_names[mode], notes);
    if (broken) printf("  %-5s %s", type, notes);
}

/* how run_two_steps keeps activations for backward (gpu_codec_group) */
static enum bmst_act_codec steps_codec = BMST_ACT_CODEC_PLAIN;

#define STEPS_BATCH 16
#define STEPS_SIDE 32
#define STEPS_CLASSES 10

/* A batch of normal images, labels i % classes. */
struct steps_input {
    float images[STEPS_BATCH * STEPS_SIDE * STEPS_SIDE * 3];
    int32_t labels[STEPS_BATCH];
};

static struct bmst_batch random_batch(enum bmst_dtype precision, struct steps_input *in) {
    struct bmst_rng rng = bmst_rng_make(2024, BMST_RNG_AUGMENT, 16 + (uint64_t)precision);
    for (size_t i = 0; i < sizeof in->images / sizeof *in->images; i++)
        in->images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < STEPS_BATCH; i++) in->labels[i] = i % STEPS_CLASSES;
    return (struct bmst_batch){.images = in->images, .labels = in->labels, .valid = STEPS_BATCH};
}

/* What two resnet18 steps leave behind, on the host: the losses, the second
 * step's gradients, and the weights and momentum after it. */
struct two_steps {
    float loss[2];
    float *grads, *weights, *momentum;
    size_t n;
};

static void two_steps_free(struct two_steps *t) {
    free(t->grads), free(t->weights), free(t->momentum);
}

/* Two resnet18 steps from the seed's initial weights on one backend; on the
 * GPU the second pass is recorded and replayed, or run op by op (recording
 * off), or run op by op after its recording was broken on purpose. */
static void run_two_steps(enum bmst_device_choice where, enum bmst_dtype precision,
                          enum recording mode, int deterministic, const struct bmst_batch *b,
                          struct two_steps *out) {
    struct bmst_engine e;
    struct bmst_engine_config ec = {
        .device = where, .precision = precision, .threads = 0, .capture = mode != RECORDING_OFF,
        .deterministic = deterministic, .act_codec = steps_codec,
        .spec = {.arch = "resnet18", .h = STEPS_SIDE, .w = STEPS_SIDE, .c = 3,
                 .classes = STEPS_CLASSES, .mix_at = 2},
        .train_batch = STEPS_BATCH, .merge = 2,
        .optim = {.momentum = 0.9f, .weight_decay = 5e-4f}, .seed = 11};
    CHECK(bmst_engine_open(&e, &ec) == 0, "%s", bmst_last_error());
    int on_gpu = where == BMST_DEVICE_CHOICE_CUDA;
    if (on_gpu && mode == RECORDING_BROKEN) break_recording(e.be);
    e.train.notes = tmpfile();
    BMST_ASSERT(e.train.notes != NULL);
    float targets[STEPS_BATCH * STEPS_CLASSES];
    struct bmst_step_config sc = {.seed = 5, .mix_alpha = 1.0f, .optim = &e.optim, .lr = 0.05f};
    struct bmst_loss_scaler s;
    bmst_loss_scaler_init(&s, precision, 1024.0f, 2000);
    double phase[BMST_PHASE_COUNT] = {0};
    for (int step = 0; step < 2; step++)
        out->loss[step] = bmst_train_step(&e.train, NULL, &sc, step, b, targets, &s, phase);
    if (on_gpu) check_recording(&e.train, precision, mode);
    fclose(e.train.notes);
    e.train.notes = NULL;
    out->n = e.model.n_weights;
    out->grads = bmst_xmalloc(out->n * sizeof(float));
    out->weights = bmst_xmalloc(out->n * sizeof(float));
    out->momentum = bmst_xmalloc(out->n * sizeof(float));
    e.be->to_host(e.be, out->grads, e.model.grads, out->n * sizeof(float));
    e.be->to_host(e.be, out->weights, e.model.weights, out->n * sizeof(float));
    e.be->to_host(e.be, out->momentum, e.optim.state[0], out->n * sizeof(float));
    bmst_engine_close(&e);
}

/* Two resnet18 steps on the GPU, recorded, not recorded and with a broken
 * recording, each against the same two steps on the CPU from the same
 * initial weights and inputs. */
void gpu_steps_group(enum bmst_dtype precision) {
    const char *type = bmst_dtype_name(precision);
    static struct steps_input in;
    struct bmst_batch b = random_batch(precision, &in);
    struct two_steps want, got;
    run_two_steps(BMST_DEVICE_CHOICE_CPU, precision, RECORDING_OFF, 0, &b, &want);
    double step_tol = precision == BMST_F32 ? 1e-4 : 1e-2;
    double grad_tol = precision == BMST_F32 ? 1e-3 : 0.1;
    for (int mode = RECORDING_OFF; mode <= RECORDING_BROKEN; mode++) {
        const char *how = recording_names[mode];
        run_two_steps(BMST_DEVICE_CHOICE_CUDA, precision, mode, 0, &b, &got);
        for (int step = 0; step < 2; step++)
            CHECK(fabsf(want.loss[step] - got.loss[step]) <= step_tol * fabsf(want.loss[step]),
                  "%s %s step %d loss: gpu %.6f, cpu %.6f", type, how, step, got.loss[step],
                  want.loss[step]);
        double dg = 0, ng = 0, dw = 0, nw2 = 0;
        for (size_t i = 0; i < want.n; i++) {
            double a = want.grads[i], c = want.weights[i];
            dg += (got.grads[i] - a) * (got.grads[i] - a), ng += a * a;
            dw += (got.weights[i] - c) * (got.weights[i] - c), nw2 += c * c;
        }
        double grad_rel = sqrt(dg / ng), weight_rel = sqrt(dw / nw2);
        CHECK(grad_rel <= grad_tol, "%s %s resnet18 second step's gradients: relative L2 %.3g",
              type, how, grad_rel);
        CHECK(weight_rel <= step_tol, "%s %s resnet18 weights after two steps: relative L2 %.3g",
              type, how, weight_rel);
        printf("  %-5s resnet18 two steps, %s: loss %.6f/%.6f vs %.6f/%.6f, gradients %.2e, "
               "weights %.2e\n",
               type, how, got.loss[0], got.loss[1], want.loss[0], want.loss[1], grad_rel,
               weight_rel);
        two_steps_free(&got);
    }
    two_steps_free(&want);
}

/* --deterministic: the same two steps twice on the GPU, each time on a new
 * backend that plans its convolutions anew, from the same weights, give
 * bitwise the same losses, weights, momentum and gradients. cuDNN's
 * heuristics pick the same deterministic algorithms both times; every kernel
 * of ours reduces in a fixed order, and cuBLAS runs on its own workspace. */
void gpu_deterministic_group(enum bmst_dtype precision) {
    const char *type = bmst_dtype_name(precision);
    static struct steps_input in;
    struct bmst_batch b = random_batch(precision, &in);
    struct two_steps run[2];
    for (int k = 0; k < 2; k++)
        run_two_steps(BMST_DEVICE_CHOICE_CUDA, precision, RECORDING_ON, 1, &b, &run[k]);
    const float *first[3] = {run[0].weights, run[0].momentum, run[0].grads};
    const float *second[3] = {run[1].weights, run[1].momentum, run[1].grads};
    const char *what[3] = {"weights", "momentum", "gradients"};
    for (int t = 0; t < 3; t++) {
        size_t differ = 0;
        for (size_t i = 0; i < run[0].n; i++)
            differ += memcmp(&first[t][i], &second[t][i], sizeof(float)) != 0;
        CHECK(differ == 0, "%s --deterministic: %zu of %zu %s differ between two runs", type,
              differ, run[0].n, what[t]);
    }
    CHECK(memcmp(run[0].loss, run[1].loss, sizeof run[0].loss) == 0,
          "%s --deterministic: losses %.9g/%.9g then %.9g/%.9g", type, run[0].loss[0],
          run[0].loss[1], run[1].loss[0], run[1].loss[1]);
    printf("  %-5s resnet18 --deterministic: two runs compared bit for bit\n", type);
    two_steps_free(&run[0]), two_steps_free(&run[1]);
}

/* --act-codec relu-mask on the GPU: the two steps give bitwise what plain
 * gives (both recorded, with deterministic algorithms, so that the codec is
 * the one difference): resnet18 with BMST at c2 keeps its stem's and its
 * last ReLU outputs as masks. */
void gpu_codec_group(enum bmst_dtype precision) {
    const char *type = bmst_dtype_name(precision);
    static struct steps_input in;
    struct bmst_batch b = random_batch(precision, &in);
    struct two_steps plain, mask;
    run_two_steps(BMST_DEVICE_CHOICE_CUDA, precision, RECORDING_ON, 1, &b, &plain);
    steps_codec = BMST_ACT_CODEC_RELU_MASK;
    run_two_steps(BMST_DEVICE_CHOICE_CUDA, precision, RECORDING_ON, 1, &b, &mask);
    steps_codec = BMST_ACT_CODEC_PLAIN;
    CHECK(memcmp(plain.loss, mask.loss, sizeof plain.loss) == 0,
          "%s relu-mask: losses %.9g/%.9g, plain %.9g/%.9g", type, mask.loss[0], mask.loss[1],
          plain.loss[0], plain.loss[1]);
    CHECK(memcmp(plain.grads, mask.grads, plain.n * sizeof(float)) == 0 &&
              memcmp(plain.weights, mask.weights, plain.n * sizeof(float)) == 0,
          "%s relu-mask: the gradients or weights differ from plain's", type);
    printf("  %-5s resnet18 relu-mask against plain: compared bit for bit\n", type);
    two_steps_free(&plain), two_steps_free(&mask);
}
