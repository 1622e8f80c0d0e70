/* The optimizer module (src/optim/): the registry, what --no-decay exempts
 * (every batch norm's weight and bias for "bn", the classifier's bias for
 * "bias", by the model's parameter table), the state it plans (named buffers
 * in the engine's reservation, counted in the planned bytes), a backend
 * without the kind's kernel refused before any step, and the step count. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "error.h"
#include "optim/optim.h"

static void test_registry(void) {
    CHECK(bmst_optim_kind_find("sgd") == 0, "SGD is kind 0, the default");
    CHECK(bmst_optim_kind_find("adam") > 0 && bmst_optim_kind_find("adamw") > 0 &&
              bmst_optim_kind_find("adam") != bmst_optim_kind_find("adamw"),
          "adam and adamw are kinds of their own");
    CHECK(bmst_optim_kind_find("lion") < 0 && bmst_optim_kind_find("") < 0, "unknown kinds");
    CHECK(strcmp(bmst_optim_kind_names(), "sgd, adam, adamw") == 0, "names: %s",
          bmst_optim_kind_names());
    unsigned bits = 99;
    CHECK(bmst_no_decay_parse("bias,bn", &bits) == 0 &&
              bits == (BMST_NO_DECAY_BN | BMST_NO_DECAY_BIAS) &&
              strcmp(bmst_no_decay_name(bits), "bn,bias") == 0,
          "--no-decay bias,bn: %#x", bits);
    CHECK(bmst_no_decay_parse("none", &bits) == 0 && bits == 0, "--no-decay none");
}

/* resnet20 on 8x8x3, batch 8, with the optimizer `name` and --no-decay bits. */
static void open_engine(struct bmst_engine *e, const char *name, unsigned no_decay) {
    struct bmst_engine_config ec = {
        .device = BMST_DEVICE_CHOICE_CPU,
        .precision = BMST_F32,
        .threads = 2,
        .spec = {.arch = "resnet20", .h = 8, .w = 8, .c = 3, .classes = 4, .mix_at = 2},
        .train_batch = 8,
        .merge = 1,
        .seed = 5};
    bmst_optim_config_defaults(&ec.optim);
    ec.optim.kind = bmst_optim_kind_find(name);
    ec.optim.no_decay = no_decay;
    CHECK(bmst_engine_open(e, &ec) == 0, "%s", bmst_last_error());
}

/* Each parameter's mask bytes are 0 exactly where its kind is exempt. */
static void test_mask(unsigned no_decay) {
    struct bmst_engine e;
    open_engine(&e, "adamw", no_decay);
    const struct bmst_model *m = &e.model;
    int exempt_bn = 0, exempt_bias = 0, wrong = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (p->role != BMST_PARAM_WEIGHT) continue;
        int bn = strstr(p->name, "bn") != NULL || strstr(p->name, "downsample.1") != NULL;
        int bias = !bn && strcmp(p->name, "fc.bias") == 0;
        int want_exempt =
            (bn && (no_decay & BMST_NO_DECAY_BN)) || (bias && (no_decay & BMST_NO_DECAY_BIAS));
        for (size_t j = 0; j < p->count; j++)
            wrong += e.optim.decay[p->offset + j] != !want_exempt;
        exempt_bn += bn && want_exempt;
        exempt_bias += bias && want_exempt;
    }
    CHECK(wrong == 0, "--no-decay %s: %d mask bytes wrong", bmst_no_decay_name(no_decay), wrong);
    /* resnet20: 19 batch norms in the blocks and stem, 2 in projections */
    CHECK(exempt_bn == ((no_decay & BMST_NO_DECAY_BN) ? 2 * 21 : 0) &&
              exempt_bias == ((no_decay & BMST_NO_DECAY_BIAS) ? 1 : 0),
          "--no-decay %s: %d BN parameters and %d biases exempt", bmst_no_decay_name(no_decay),
          exempt_bn, exempt_bias);
    bmst_engine_close(&e);
}

/* SGD keeps one buffer, Adam and AdamW two, a mask one byte per weight; the
 * planned bytes grow by exactly that. */
static void test_planned_state(void) {
    struct bmst_engine sgd, adam, masked;
    open_engine(&sgd, "sgd", 0);
    open_engine(&adam, "adam", 0);
    open_engine(&masked, "adamw", BMST_NO_DECAY_BN);
    size_t n = sgd.model.n_weights;
    CHECK(bmst_optim_bytes(&sgd.optim) == n * 4 && bmst_optim_allocations(&sgd.optim) == 1 &&
              sgd.optim.state[0] && !sgd.optim.decay,
          "sgd: %zu bytes in %d allocations", bmst_optim_bytes(&sgd.optim),
          bmst_optim_allocations(&sgd.optim));
    CHECK(bmst_optim_bytes(&adam.optim) == n * 8 && bmst_optim_allocations(&adam.optim) == 2,
          "adam: %zu bytes", bmst_optim_bytes(&adam.optim));
    CHECK(bmst_optim_bytes(&masked.optim) == n * 9 && bmst_optim_allocations(&masked.optim) == 3,
          "adamw with a mask: %zu bytes", bmst_optim_bytes(&masked.optim));
    CHECK(bmst_engine_planned_bytes(&adam) - bmst_engine_planned_bytes(&sgd) == n * 4,
          "the plan grows by the second moment: %zu",
          bmst_engine_planned_bytes(&adam) - bmst_engine_planned_bytes(&sgd));
    CHECK(strcmp(adam.optim.type->state[0].name, "exp_avg") == 0 &&
              strcmp(adam.optim.type->state[1].name, "exp_avg_sq") == 0 &&
              strcmp(sgd.optim.type->state[0].name, "momentum_buffer") == 0,
          "state named as PyTorch names it");
    /* the step count: one per update, before the update (PyTorch's order) */
    adam.be->zero(adam.be, adam.model.grads, n * sizeof(float));
    float flag = -1.0f;
    bmst_optim_step(&adam.optim, 1e-3f, 0.0f, 0.0, &flag);
    bmst_optim_step(&adam.optim, 1e-3f, 0.0f, 0.0, &flag);
    CHECK(adam.optim.steps == 2 && flag == 0.0f, "two updates counted %lld, flag %g",
          (long long)adam.optim.steps, flag);
    bmst_engine_close(&sgd), bmst_engine_close(&adam), bmst_engine_close(&masked);
}

/* A backend without the kind's kernel: refused when the optimizer is set up,
 * naming the kind and the backend, never a NULL call in a step. */
static void test_missing_kernel(void) {
    struct bmst_backend *cpu = bmst_backend_cpu_create(1, BMST_F32);
    struct bmst_backend partial = *cpu;
    partial.optim.adam_step = NULL;
    struct bmst_model m;
    bmst_model_init(&m, &partial, "resnet20");
    struct bmst_optim o;
    struct bmst_optim_config c;
    bmst_optim_config_defaults(&c);
    CHECK(bmst_optim_init(&o, &m, &c) == 0, "sgd on a backend with its kernel");
    c.kind = bmst_optim_kind_find("adamw");
    CHECK(bmst_optim_init(&o, &m, &c) != 0 &&
              strstr(bmst_last_error(), "--optimizer adamw: the cpu backend has no kernel") != NULL,
          "adamw without its kernel: %s", bmst_last_error());
    bmst_model_free(&m);
    cpu->destroy(cpu);
}

int main(void) {
    test_registry();
    test_mask(BMST_NO_DECAY_BN);
    test_mask(BMST_NO_DECAY_BIAS);
    test_mask(BMST_NO_DECAY_BN | BMST_NO_DECAY_BIAS);
    test_planned_state();
    test_missing_kernel();
    return check_finish("test_optim");
}
