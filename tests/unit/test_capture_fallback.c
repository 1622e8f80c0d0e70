/* A training pass whose recording fails falls back to running op by op: with
 * a fake recording backend on the CPU, a recording that fails at its end or
 * cannot begin is tried once, never again, one note says why, and the
 * weights, momentum, running statistics and losses after several steps are
 * bitwise those of a run that never records.
 *
 * The fake leaves memory after a recording as a GPU does (nothing of the
 * recorded calls ran), so a fallback that ran nothing again would apply the
 * previous step's gradients; it counts the forward passes that ran, so one
 * that ran the pass twice or retried the recording every step is caught. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "exec.h"
#include "models/models.h"
#include "rng.h"
#include "step.h"

#define STEPS 4
#define BATCH 8
#define SIDE 16
#define CLASSES 10
#define MAX_ALLOCS 32

enum fake_failure { FAIL_AT_END, FAIL_AT_BEGIN };

struct fake_alloc {
    void *ptr, *saved; /* saved: its contents when the recording began */
    size_t bytes;
};

/* The CPU backend, recording as a GPU would and failing to: between
 * capture_begin and capture_end the calls run, and capture_end then puts
 * every allocation back as capture_begin found it, which is what a recording
 * leaves behind. */
struct fake {
    struct bmst_backend be; /* first: the graph's backend pointer points here */
    struct bmst_backend *cpu;
    enum fake_failure failure;
    int recording;
    int begins, ends, replays;
    int passes_run, passes_recorded; /* cross-entropy forwards: one per forward pass */
    struct fake_alloc allocs[MAX_ALLOCS];
    int n_allocs;
    struct bmst_xent_kernels xent; /* the CPU's, forward counted */
};

static struct fake *fake_of(struct bmst_backend *be) {
    return (struct fake *)be;
}

static void *fake_alloc(struct bmst_backend *be, size_t bytes) {
    struct fake *f = fake_of(be);
    BMST_ASSERT(f->n_allocs < MAX_ALLOCS);
    void *p = f->cpu->alloc(f->cpu, bytes);
    if (p) f->allocs[f->n_allocs++] = (struct fake_alloc){.ptr = p, .bytes = bytes};
    return p;
}

static void fake_free(struct bmst_backend *be, void *ptr) {
    struct fake *f = fake_of(be);
    for (int i = 0; i < f->n_allocs; i++)
        if (f->allocs[i].ptr == ptr) f->allocs[i] = f->allocs[--f->n_allocs];
    f->cpu->free(f->cpu, ptr);
}

static int fake_capture_begin(struct bmst_backend *be, char *why, size_t why_len) {
    struct fake *f = fake_of(be);
    f->begins++;
    if (f->failure == FAIL_AT_BEGIN) {
        snprintf(why, why_len, "fake: the stream cannot record");
        return -1;
    }
    for (int i = 0; i < f->n_allocs; i++) {
        f->allocs[i].saved = bmst_xmalloc(f->allocs[i].bytes);
        memcpy(f->allocs[i].saved, f->allocs[i].ptr, f->allocs[i].bytes);
    }
    f->recording = 1;
    return 0;
}

static void *fake_capture_end(struct bmst_backend *be, char *why, size_t why_len) {
    struct fake *f = fake_of(be);
    f->ends++;
    BMST_ASSERT(f->recording);
    for (int i = 0; i < f->n_allocs; i++) {
        memcpy(f->allocs[i].ptr, f->allocs[i].saved, f->allocs[i].bytes);
        free(f->allocs[i].saved);
    }
    f->recording = 0;
    snprintf(why, why_len, "fake: cudnnConvolutionBackwardFilter: refused while recording");
    return NULL;
}

static void fake_replay(struct bmst_backend *be, void *recording) {
    (void)recording;
    fake_of(be)->replays++;
}

static void fake_xent_fwd(struct bmst_backend *be, int n, int k, const void *logits,
                          const float *targets, float *probs, float *loss) {
    struct fake *f = fake_of(be);
    if (f->recording) f->passes_recorded++;
    else f->passes_run++;
    f->cpu->xent->fwd(f->cpu, n, k, logits, targets, probs, loss);
}

static void fake_destroy(struct bmst_backend *be) {
    struct fake *f = fake_of(be);
    f->cpu->destroy(f->cpu);
    free(f);
}

/* Every other entry (and the CPU's private state) is the CPU backend's own. */
static struct fake *fake_create(enum fake_failure failure) {
    struct fake *f = bmst_xcalloc(1, sizeof *f);
    f->cpu = bmst_backend_cpu_create(2, BMST_F32);
    f->be = *f->cpu;
    f->be.alloc = fake_alloc;
    f->be.free = fake_free;
    f->be.capture_begin = fake_capture_begin;
    f->be.capture_end = fake_capture_end;
    f->be.replay = fake_replay;
    f->be.capture_free = fake_replay; /* nothing is ever kept: either call counts as a replay */
    f->xent = *f->cpu->xent;
    f->xent.fwd = fake_xent_fwd;
    f->be.xent = &f->xent;
    f->be.destroy = fake_destroy;
    f->failure = failure;
    return f;
}

/* What a run leaves behind, copied out of the backend. */
struct outcome {
    float loss[STEPS];
    float *weights, *momentum, *buffers;
    size_t n_weights, n_buffers;
    char notes[1024];
};

static float *copy_floats(const float *src, size_t n) {
    float *dst = bmst_xmalloc((n ? n : 1) * sizeof(float));
    memcpy(dst, src, n * sizeof(float));
    return dst;
}

/* STEPS steps of resnet20 with a merge of 2 on `be` (a CPU backend: its
 * memory is the host's), the notices written to a temporary file. */
static void train(struct bmst_backend *be, int capture, struct outcome *out) {
    struct bmst_network_spec spec = {.arch = "resnet20", .h = SIDE, .w = SIDE, .c = 3,
                                     .classes = CLASSES, .mix_at = BMST_MIX_C2};
    struct bmst_model model;
    struct bmst_optim optim;
    struct bmst_optim_config sgd;
    bmst_optim_config_defaults(&sgd); /* momentum 0.9, weight decay 5e-4 */
    struct bmst_graph g;
    struct bmst_exec x;
    bmst_model_init(&model, be, spec.arch);
    bmst_graph_init(&g, &model, 1, BATCH, 2, CLASSES);
    BMST_ASSERT(bmst_network_build(&g, &spec) == 0);
    bmst_graph_plan(&g);
    BMST_ASSERT(bmst_optim_init(&optim, &model, &sgd) == 0);
    BMST_ASSERT(bmst_model_allocate(&model) == 0 && bmst_optim_allocate(&optim) == 0 &&
                bmst_exec_init(&x, &g) == 0);
    bmst_model_initialize(&model, 7);
    x.capture = capture;
    x.notes = tmpfile();
    BMST_ASSERT(x.notes != NULL);

    static float images[BATCH * SIDE * SIDE * 3], targets[BATCH * CLASSES];
    int32_t labels[BATCH];
    struct bmst_rng rng = bmst_rng_make(4, BMST_RNG_AUGMENT, 0);
    for (size_t i = 0; i < sizeof images / sizeof *images; i++)
        images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < BATCH; i++) labels[i] = (i * 3) % CLASSES;
    struct bmst_batch batch = {.images = images, .labels = labels, .valid = BATCH};
    struct bmst_step_config sc = {.seed = 3, .mix_alpha = 1.0f, .optim = &optim, .lr = 0.1f};
    struct bmst_loss_scaler scaler;
    bmst_loss_scaler_init(&scaler, BMST_F32, 1.0f, 1);
    double phase[BMST_PHASE_COUNT] = {0};
    for (int step = 0; step < STEPS; step++)
        out->loss[step] = bmst_train_step(&x, NULL, &sc, step, &batch, targets, &scaler, phase);
    CHECK(x.recording == NULL, "a failed recording was kept");

    rewind(x.notes);
    size_t got = fread(out->notes, 1, sizeof out->notes - 1, x.notes);
    out->notes[got] = '\0';
    fclose(x.notes);
    out->n_weights = model.n_weights;
    out->n_buffers = model.n_buffers;
    out->weights = copy_floats(model.weights, model.n_weights);
    out->momentum = copy_floats(optim.state[0], model.n_weights);
    out->buffers = copy_floats(model.buffers, model.n_buffers);
    bmst_exec_free(&x);
    bmst_graph_free(&g);
    bmst_optim_free(&optim);
    bmst_model_free(&model);
}

static void outcome_free(struct outcome *o) {
    free(o->weights), free(o->momentum), free(o->buffers);
}

static int lines_in(const char *text) {
    int n = 0;
    for (const char *c = text; *c; c++) n += *c == '\n';
    return n;
}

/* A recording that fails (at its end, or cannot begin) against a run with
 * capture off on the plain CPU backend. */
static void test_fallback(enum fake_failure failure, const struct outcome *want) {
    const char *when = failure == FAIL_AT_END ? "failing at its end" : "failing to begin";
    struct fake *f = fake_create(failure);
    struct outcome got;
    train(&f->be, 1, &got);

    CHECK(f->begins == 1, "recording %s: tried %d times in %d steps", when, f->begins, STEPS);
    CHECK(f->ends == (failure == FAIL_AT_END), "recording %s: ended %d times", when, f->ends);
    CHECK(f->replays == 0, "recording %s: replayed %d times", when, f->replays);
    CHECK(f->passes_recorded == (failure == FAIL_AT_END),
          "recording %s: %d forward passes recorded", when, f->passes_recorded);
    CHECK(f->passes_run == STEPS, "recording %s: %d forward passes ran in %d steps", when,
          f->passes_run, STEPS);

    const char *reason = failure == FAIL_AT_END
                             ? "fake: cudnnConvolutionBackwardFilter: refused while recording"
                             : "fake: the stream cannot record";
    char line[512];
    snprintf(line, sizeof line,
             "bmst_dist: note: the training pass could not be recorded as a CUDA graph (%s); "
             "running it op by op\n",
             reason);
    CHECK(strcmp(got.notes, line) == 0, "recording %s: %d lines of notes, expected one:\n%s", when,
          lines_in(got.notes), got.notes);

    CHECK(memcmp(got.loss, want->loss, sizeof got.loss) == 0,
          "recording %s: losses %.9g %.9g %.9g %.9g, without recording %.9g %.9g %.9g %.9g", when,
          got.loss[0], got.loss[1], got.loss[2], got.loss[3], want->loss[0], want->loss[1],
          want->loss[2], want->loss[3]);
    CHECK(memcmp(got.weights, want->weights, want->n_weights * sizeof(float)) == 0,
          "recording %s: weights after %d steps differ from a run without recording", when, STEPS);
    CHECK(memcmp(got.momentum, want->momentum, want->n_weights * sizeof(float)) == 0,
          "recording %s: momentum after %d steps differs", when, STEPS);
    CHECK(memcmp(got.buffers, want->buffers, want->n_buffers * sizeof(float)) == 0,
          "recording %s: batch-norm running statistics after %d steps differ", when, STEPS);
    outcome_free(&got);
    f->be.destroy(&f->be);
}

/* The fake with capture off: never asked to record, and its counts are the
 * steps, so the counts above measure the executor, not the fake. */
static void test_capture_off(const struct outcome *want) {
    struct fake *f = fake_create(FAIL_AT_END);
    struct outcome got;
    train(&f->be, 0, &got);
    CHECK(f->begins == 0 && f->passes_run == STEPS && f->passes_recorded == 0,
          "capture off: %d recordings begun, %d passes run, %d recorded", f->begins, f->passes_run,
          f->passes_recorded);
    CHECK(got.notes[0] == '\0', "capture off printed: %s", got.notes);
    CHECK(memcmp(got.weights, want->weights, want->n_weights * sizeof(float)) == 0,
          "capture off: the fake's weights differ from the CPU backend's");
    outcome_free(&got);
    f->be.destroy(&f->be);
}

int main(void) {
    struct bmst_backend *cpu = bmst_backend_cpu_create(2, BMST_F32);
    struct outcome want;
    train(cpu, 0, &want);
    CHECK(want.notes[0] == '\0', "a run without recording printed: %s", want.notes);
    test_capture_off(&want);
    test_fallback(FAIL_AT_END, &want);
    test_fallback(FAIL_AT_BEGIN, &want);
    outcome_free(&want);
    cpu->destroy(cpu);
    return check_finish("capture_fallback");
}
