/* The planner asks the backend for exactly the convolution passes the
 * executor runs: a recording wrapper around the CPU backend logs every
 * conv_plan mask and checks every pass run against what was planned for its
 * shape. In a resnet18 training graph the stem conv (its input is the image)
 * is planned and run without backward data and every other conv with all
 * three passes; an evaluation graph plans and runs forward only. A backend
 * that cannot plan one shape makes bmst_graph_plan fail with one line naming
 * the layer and its shape. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "exec.h"
#include "models/models.h"

#define MAX_LOGGED 256

/* what the wrapper has seen since the last reset */
struct conv_log {
    struct bmst_conv_desc desc[MAX_LOGGED];
    unsigned planned[MAX_LOGGED]; /* the masks of each conv_plan call, in call order */
    unsigned ran[MAX_LOGGED];     /* passes run on the shape planned by that call */
    int n;
    int unplanned; /* passes run on a shape or for a pass never planned */
};

static struct bmst_backend *cpu; /* the real backend */
static struct bmst_backend wrapper;
static struct bmst_conv_kernels wrapped_conv;
static struct conv_log seen;
static int fail_k = -1; /* conv_plan refuses 3x3 stride-2 shapes with this many filters */

static void log_reset(void) {
    memset(&seen, 0, sizeof seen);
}

static int wrapped_plan(struct bmst_backend *be, const struct bmst_conv_desc *d, unsigned passes,
                        size_t *ws_bytes, char *why, size_t why_len) {
    if (d->k == fail_k && d->r == 3 && d->stride_h == 2) {
        snprintf(why, why_len, "backward data: no usable algorithm (test)");
        return -1;
    }
    BMST_ASSERT(seen.n < MAX_LOGGED);
    seen.desc[seen.n] = *d;
    seen.planned[seen.n++] = passes;
    return cpu->conv->plan(be, d, passes, ws_bytes, why, why_len);
}

/* Marks `pass` run on d's shape; counts it when no plan call asked for it. */
static void ran(const struct bmst_conv_desc *d, unsigned pass) {
    int planned = 0;
    for (int i = 0; i < seen.n; i++) {
        if (memcmp(&seen.desc[i], d, sizeof *d) != 0) continue;
        if (seen.planned[i] & pass) planned = 1;
        seen.ran[i] |= pass;
    }
    seen.unplanned += !planned;
}

static void wrapped_fwd(struct bmst_backend *be, const struct bmst_conv_desc *d, const void *x,
                        const void *w, void *y, void *ws) {
    ran(d, BMST_CONV_FWD);
    cpu->conv->fwd(be, d, x, w, y, ws);
}

static void wrapped_bwd_data(struct bmst_backend *be, const struct bmst_conv_desc *d,
                             const void *dy, const void *w, void *dx, int accumulate, void *ws) {
    ran(d, BMST_CONV_BWD_DATA);
    cpu->conv->bwd_data(be, d, dy, w, dx, accumulate, ws);
}

static void wrapped_bwd_filter(struct bmst_backend *be, const struct bmst_conv_desc *d,
                               const void *x, const void *dy, float *dw, void *ws) {
    ran(d, BMST_CONV_BWD_FILTER);
    cpu->conv->bwd_filter(be, d, x, dy, dw, ws);
}

/* The CPU backend's vtable with the four convolution entries logged. The
 * CPU's functions read only act_dtype and impl from `be`, which the copy
 * shares; it is never destroyed itself (cpu is). */
static void wrap_cpu(void) {
    cpu = bmst_backend_cpu_create(2, BMST_F32);
    wrapper = *cpu;
    wrapped_conv = (struct bmst_conv_kernels){.plan = wrapped_plan,
                                              .fwd = wrapped_fwd,
                                              .bwd_data = wrapped_bwd_data,
                                              .bwd_filter = wrapped_bwd_filter};
    wrapper.conv = &wrapped_conv;
}

/* The masks logged for g's convs, call i for the i-th conv node; each must
 * be what `expect` says for that node, and with `run` set, every planned
 * pass must have run and nothing else. Returns the number of convs. */
static int check_masks(const struct bmst_graph *g, const char *what,
                       unsigned (*expect)(const struct bmst_node *), int run) {
    int convs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->kind != BMST_OP_CONV) continue;
        int c = convs++;
        if (c >= seen.n) break;
        CHECK(memcmp(&seen.desc[c], &n->desc.conv, sizeof n->desc.conv) == 0,
              "%s: plan call %d is not %s's shape", what, c, n->name);
        CHECK(seen.planned[c] == expect(n), "%s: %s planned with passes %#x, want %#x", what,
              n->name, seen.planned[c], expect(n));
        if (run)
            CHECK(seen.ran[c] == seen.planned[c], "%s: %s ran passes %#x of the %#x planned", what,
                  n->name, seen.ran[c], seen.planned[c]);
    }
    CHECK(seen.n == convs, "%s: %d plan calls for %d convs", what, seen.n, convs);
    if (run) CHECK(seen.unplanned == 0, "%s: %d passes ran unplanned", what, seen.unplanned);
    return convs;
}

/* resnet18's stem is "conv1": the image needs no gradient */
static unsigned training_passes(const struct bmst_node *n) {
    unsigned all = BMST_CONV_FWD | BMST_CONV_BWD_DATA | BMST_CONV_BWD_FILTER;
    return strcmp(n->name, "conv1") == 0 ? all & ~(unsigned)BMST_CONV_BWD_DATA : all;
}

static unsigned evaluation_passes(const struct bmst_node *n) {
    (void)n;
    return BMST_CONV_FWD;
}

/* resnet18 with BMST after the stem: plan, allocate, run a training pass,
 * then the evaluation graph's forward, each against its own plan log. */
static void test_passes(void) {
    struct bmst_network_spec spec = {
        .arch = "resnet18", .h = 8, .w = 8, .c = 3, .classes = 5, .mix_at = BMST_MIX_C2};
    struct bmst_model model;
    struct bmst_graph train, eval;
    struct bmst_exec train_run, eval_run;
    bmst_model_init(&model, &wrapper, spec.arch);
    bmst_graph_init(&train, &model, 1, 4, 2, spec.classes);
    bmst_graph_init(&eval, &model, 0, 3, 1, spec.classes);
    CHECK(bmst_network_build(&train, &spec) == 0 && bmst_network_build(&eval, &spec) == 0, "%s",
          bmst_last_error());

    log_reset();
    CHECK(bmst_graph_plan(&train) == 0, "%s", bmst_last_error());
    struct conv_log train_plans = seen;
    log_reset();
    CHECK(bmst_graph_plan(&eval) == 0, "%s", bmst_last_error());
    struct conv_log eval_plans = seen;
    CHECK(bmst_model_allocate(&model) == 0 && bmst_exec_init(&train_run, &train) == 0 &&
              bmst_exec_init(&eval_run, &eval) == 0,
          "%s", bmst_last_error());
    bmst_model_initialize(&model, 3);

    /* a training pass on zeros: which passes run does not depend on values */
    seen = train_plans;
    wrapper.zero(&wrapper, train_run.arena, train.arena_bytes);
    bmst_mix_coefficients(train.merge, 0.3f, train_run.host_scalars + BMST_SCALAR_MIX);
    double seconds[2];
    bmst_exec_train_pass(&train_run, seconds);
    int convs = check_masks(&train, "resnet18 training", training_passes, 1);
    CHECK(convs == 20, "resnet18 has %d convs, want 20", convs);

    seen = eval_plans;
    wrapper.zero(&wrapper, eval_run.arena, eval.arena_bytes);
    bmst_exec_upload_scalars(&eval_run);
    bmst_exec_forward(&eval_run);
    check_masks(&eval, "resnet18 evaluation", evaluation_passes, 1);

    bmst_exec_free(&train_run);
    bmst_exec_free(&eval_run);
    bmst_graph_free(&train);
    bmst_graph_free(&eval);
    bmst_model_free(&model);
}

/* A shape the backend cannot run: planning stops with one line naming the
 * layer, its shape and the backend's reason. */
static void test_plan_failure(void) {
    struct bmst_network_spec spec = {
        .arch = "resnet18", .h = 16, .w = 16, .c = 3, .classes = 5, .mix_at = BMST_MIX_C2};
    struct bmst_model model;
    struct bmst_graph g;
    bmst_model_init(&model, &wrapper, spec.arch);
    bmst_graph_init(&g, &model, 1, 4, 1, spec.classes);
    CHECK(bmst_network_build(&g, &spec) == 0, "%s", bmst_last_error());
    fail_k = 128; /* layer2.0.conv1: 3x3 stride 2, 64 -> 128 channels */
    log_reset();
    CHECK(bmst_graph_plan(&g) == -1, "a failing conv_plan did not fail the graph's plan");
    fail_k = -1;
    const char *msg = bmst_last_error();
    CHECK(strstr(msg,
                 "conv layer2.0.conv1 (3x3, stride 2x2, pad 1x1, input 4x16x16x64 NHWC, 128 "
                 "filters) cannot run on cpu: backward data: no usable algorithm (test)") == msg,
          "message: %s", msg);
    CHECK(strchr(msg, '\n') == NULL, "not one line: %s", msg);
    bmst_graph_free(&g);
    bmst_model_free(&model);
}

int main(void) {
    wrap_cpu();
    test_passes();
    test_plan_failure();
    cpu->destroy(cpu);
    return check_finish("conv_plan");
}
