/* --freeze, --freeze-bn and --lr-head in the engine (src/param_groups.c):
 * which parameters a prefix takes (at a '.' boundary), that frozen weights
 * are placed first and hold no optimizer state (the planned bytes shrink by
 * exactly theirs), which nodes backward runs (none of a frozen prefix: no
 * gradient slot of it is ever written), that training steps leave frozen
 * weights bitwise as they were (SGD with momentum and weight decay, Adam)
 * while the rest change, that --freeze-bn leaves their running statistics
 * bitwise as they were, that the head is the classifier, and the one-line
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "error.h"
#include "mfu.h"
#include "ops/op.h"
#include "param_groups.h"
#include "step.h"

/* resnet20 on 8x8x3, 4 classes, batch 8, with optimizer `kind` and --freeze. */
static int open_engine(struct bmst_engine *e, const char *kind, const char *freeze, int freeze_bn) {
    struct bmst_engine_config ec = {
        .device = BMST_DEVICE_CHOICE_CPU,
        .precision = BMST_F32,
        .threads = 2,
        .quiet = 1,
        .spec = {.arch = "resnet20", .h = 8, .w = 8, .c = 3, .classes = 4, .mix_at = 2},
        .train_batch = 8,
        .merge = 1,
        .seed = 5};
    bmst_optim_config_defaults(&ec.optim);
    ec.optim.kind = bmst_optim_kind_find(kind);
    ec.optim.freeze = freeze;
    ec.optim.freeze_bn = freeze_bn;
    return bmst_engine_open(e, &ec);
}

static int frozen(const struct bmst_model *m, const char *name) {
    int i = bmst_model_find(m, name);
    return i >= 0 && m->params[i].frozen;
}

static void test_prefixes(void) {
    struct bmst_engine e;
    CHECK(open_engine(&e, "sgd", "conv1,bn1,layer1", 0) == 0, "%s", bmst_last_error());
    const struct bmst_model *m = &e.model;
    CHECK(frozen(m, "conv1.weight") && frozen(m, "bn1.weight") && frozen(m, "bn1.bias") &&
              frozen(m, "layer1.0.conv1.weight") && frozen(m, "layer1.2.bn2.bias"),
          "the prefixes' parameters are frozen");
    CHECK(!frozen(m, "layer2.0.conv1.weight") && !frozen(m, "fc.weight") &&
              !frozen(m, "bn1.running_mean"),
          "the others, and the statistics without --freeze-bn, are not");
    /* frozen first, each group in registration order */
    size_t frozen_floats = 0, trainable_at = SIZE_MAX;
    int order_ok = 1;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (p->role != BMST_PARAM_WEIGHT) continue;
        if (p->frozen) {
            order_ok &= p->offset == frozen_floats;
            frozen_floats += p->count;
        } else if (trainable_at == SIZE_MAX) {
            trainable_at = p->offset;
        }
    }
    CHECK(order_ok && m->n_frozen == frozen_floats && trainable_at == frozen_floats,
          "frozen weights first: n_frozen %zu, frozen %zu, first trainable at %zu", m->n_frozen,
          frozen_floats, trainable_at);
    CHECK(m->params[bmst_model_find(m, "fc.weight")].head &&
              m->params[bmst_model_find(m, "fc.bias")].head &&
              !m->params[bmst_model_find(m, "layer3.2.bn2.weight")].head,
          "the head is the classifier");
    bmst_engine_close(&e);

    /* "layer1" at a '.' boundary: resnet20 has no layer10, so a name prefix
     * that is not a component boundary ("layer") must match nothing */
    CHECK(open_engine(&e, "sgd", "layer", 0) != 0 &&
              strstr(bmst_last_error(), "'layer' matches no parameter") != NULL,
          "--freeze layer: %s", bmst_last_error());
    bmst_engine_close(&e);
    CHECK(open_engine(&e, "sgd", "conv1,,layer1", 0) != 0 &&
              strstr(bmst_last_error(), "--freeze expects") != NULL,
          "an empty prefix: %s", bmst_last_error());
    bmst_engine_close(&e);
    CHECK(open_engine(&e, "sgd", "conv1,bn1,layer1,layer2,layer3,fc", 0) != 0 &&
              strstr(bmst_last_error(), "nothing would train") != NULL,
          "everything frozen: %s", bmst_last_error());
    bmst_engine_close(&e);
}

/* The state covers the trainable weights alone. */
static void test_state_bytes(void) {
    struct bmst_engine all, some;
    CHECK(open_engine(&all, "adam", NULL, 0) == 0, "%s", bmst_last_error());
    CHECK(open_engine(&some, "adam", "conv1,bn1,layer1", 0) == 0, "%s", bmst_last_error());
    size_t saved = bmst_optim_bytes(&all.optim) - bmst_optim_bytes(&some.optim);
    CHECK(some.model.n_frozen > 0 && saved == 2 * some.model.n_frozen * sizeof(float),
          "Adam's two buffers shrink by the frozen weights: %zu bytes for %zu weights", saved,
          some.model.n_frozen);
    CHECK(bmst_optim_state_count(&some.optim) == some.model.n_weights - some.model.n_frozen,
          "state count");
    bmst_engine_close(&all);
    bmst_engine_close(&some);
}

/* Every node before layer2 is frozen and reads nothing that takes a
 * gradient: backward must not reach it. */
static void test_backward_nodes(void) {
    struct bmst_engine e;
    CHECK(open_engine(&e, "sgd", "conv1,bn1,layer1", 0) == 0, "%s", bmst_last_error());
    const struct bmst_graph *g = &e.train_graph;
    int first_layer2 = -1, reached = 0, conv_filter_passes = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (first_layer2 < 0 && strncmp(n->name, "layer2.", 7) == 0) first_layer2 = i;
        if (first_layer2 < 0) {
            reached += g->values[n->out].needs_grad;
            conv_filter_passes +=
                n->kind == BMST_OP_CONV && (n->conv_passes & ~(unsigned)BMST_CONV_FWD) != 0;
        }
    }
    CHECK(first_layer2 > 0 && reached == 0 && conv_filter_passes == 0,
          "frozen prefix of %d nodes: %d take a gradient, %d convs plan a backward pass",
          first_layer2, reached, conv_filter_passes);
    /* the FLOPs MFU divides by count the backward that runs */
    struct bmst_engine all;
    CHECK(open_engine(&all, "sgd", NULL, 0) == 0, "%s", bmst_last_error());
    /* and nothing is kept for a backward that never runs: what the prefix's
     * nodes alone read again (the images and targets are inputs; layer1's
     * last output is read by layer2's first conv too) */
    int kept = 0;
    for (int i = 0; i < first_layer2 - 1; i++)
        kept += g->nodes[i].kind != BMST_OP_INPUT && g->values[g->nodes[i].out].saved;
    CHECK(kept == 0 && g->saved_bytes < all.train_graph.saved_bytes,
          "%d values of the frozen prefix kept for backward; %zu bytes kept, %zu unfrozen", kept,
          g->saved_bytes, all.train_graph.saved_bytes);
    double fwd[2], bwd[2], prefix_bwd = 0.0;
    bmst_graph_train_flops(&all.train_graph, &fwd[0], &bwd[0]);
    bmst_graph_train_flops(g, &fwd[1], &bwd[1]);
    for (int i = 0; i < first_layer2; i++) {
        const struct bmst_node *u = &all.train_graph.nodes[i];
        const struct bmst_op_def *op = bmst_op(u->kind);
        if (op->flops && all.train_graph.values[u->out].needs_grad)
            prefix_bwd += op->flops(&all.train_graph, u, 1);
    }
    /* and the convs reading layer1's output (layer2.0's conv1 and its
     * projection) no input gradient: as much as their forward each */
    double conv_input = 0.0;
    for (int i = first_layer2; i < all.train_graph.n_nodes; i++) {
        const struct bmst_node *c = &all.train_graph.nodes[i];
        if (c->kind == BMST_OP_CONV && all.train_graph.values[c->in[0]].producer < first_layer2)
            conv_input += bmst_op(c->kind)->flops(&all.train_graph, c, 0);
    }
    CHECK(fwd[0] == fwd[1] && prefix_bwd > 0 &&
              fabs(bwd[0] - bwd[1] - prefix_bwd - conv_input) < 1.0,
          "backward FLOPs %g unfrozen, %g frozen: the prefix's %g and convs' input gradients %g",
          bwd[0], bwd[1], prefix_bwd, conv_input);
    bmst_engine_close(&all);
    const struct bmst_node *n = &g->nodes[first_layer2];
    CHECK(n->kind == BMST_OP_CONV && n->conv_passes == (BMST_CONV_FWD | BMST_CONV_BWD_FILTER),
          "layer2's first conv (%s) computes its filter gradient and no input gradient: passes %#x",
          n->name, n->conv_passes);
    bmst_engine_close(&e);
}

/* A training batch of 8 8x8x3 images. */
static void fill_batch(float *images, int32_t *labels, unsigned seed) {
    srand(seed);
    for (int i = 0; i < 8 * 8 * 8 * 3; i++)
        images[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < 8; i++)
        labels[i] = i % 4;
}

static float *download(const struct bmst_engine *e, const float *buf, size_t n) {
    float *host = malloc((n ? n : 1) * sizeof *host);
    e->be->to_host(e->be, host, buf, n * sizeof *host);
    return host;
}

/* Three steps with `kind` and --freeze `freeze`: frozen weights (and with
 * freeze_bn their running statistics, `stats` of them) bitwise as before,
 * every trainable tensor changed, and no gradient slot of a frozen weight
 * written (they start as NaN). */
static void test_steps(const char *kind, const char *freeze, int freeze_bn, int stats) {
    struct bmst_engine e;
    CHECK(open_engine(&e, kind, freeze, freeze_bn) == 0, "%s", bmst_last_error());
    struct bmst_model *m = &e.model;
    float *w0 = download(&e, m->weights, m->n_weights);
    float *b0 = download(&e, m->buffers, m->n_buffers);
    float *nan = malloc(m->n_weights * sizeof *nan);
    for (size_t i = 0; i < m->n_weights; i++)
        nan[i] = NAN;
    e.be->to_device(e.be, m->grads, nan, m->n_weights * sizeof *nan);
    float images[8 * 8 * 8 * 3], targets[8 * 4];
    int32_t labels[8];
    struct bmst_batch batch = {.images = images, .labels = labels};
    struct bmst_loss_scaler scaler;
    bmst_loss_scaler_init(&scaler, BMST_F32, 1.0f, 2000);
    struct bmst_step_config sc = {.seed = 3, .mix_alpha = 1.0f, .optim = &e.optim, .lr = 0.05f};
    double phase[BMST_PHASE_COUNT] = {0};
    for (long s = 0; s < 3; s++) {
        fill_batch(images, labels, (unsigned)s + 1);
        float loss = bmst_train_step(&e.train, NULL, &sc, s, &batch, targets, &scaler, phase);
        CHECK(isfinite(loss), "%s step %ld: loss %g", kind, s, loss);
    }
    float *w1 = download(&e, m->weights, m->n_weights);
    float *b1 = download(&e, m->buffers, m->n_buffers);
    float *g1 = download(&e, m->grads, m->n_weights);
    int frozen_changed = 0, trainable_same = 0, slots_written = 0, stats_changed = 0,
        stats_frozen = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        const float *a = (p->role == BMST_PARAM_WEIGHT ? w0 : b0) + p->offset;
        const float *b = (p->role == BMST_PARAM_WEIGHT ? w1 : b1) + p->offset;
        int same = memcmp(a, b, p->count * sizeof(float)) == 0;
        if (p->role == BMST_PARAM_BUFFER) {
            stats_frozen += p->frozen;
            stats_changed += p->frozen && !same;
            continue;
        }
        if (p->frozen) {
            frozen_changed += !same;
            for (size_t j = 0; j < p->count; j++)
                slots_written += !isnan(g1[p->offset + j]);
        } else {
            trainable_same += same;
        }
    }
    CHECK(frozen_changed == 0 && trainable_same == 0,
          "%s: %d frozen tensors changed, %d trainable ones did not", kind, frozen_changed,
          trainable_same);
    CHECK(slots_written == 0, "%s: backward wrote %d gradients of frozen weights", kind,
          slots_written);
    CHECK(stats_frozen == stats && stats_changed == 0,
          "%s --freeze %s --freeze-bn %d: %d statistics frozen, %d of them changed", kind, freeze,
          freeze_bn, stats_frozen, stats_changed);
    if (!freeze_bn) {
        int bn1 = bmst_model_find(m, "bn1.running_mean");
        size_t at = m->params[bn1].offset;
        CHECK(memcmp(b0 + at, b1 + at, m->params[bn1].count * sizeof(float)) != 0,
              "without --freeze-bn a frozen layer's statistics still follow the batches");
    }
    free(w0), free(b0), free(w1), free(b1), free(g1), free(nan);
    bmst_engine_close(&e);
}

/* The head --lr-head trains: the layer making the logits, whatever the
 * model names it, and InceptionV3's second head with --aux-logits. */
static void test_heads(void) {
    static const struct {
        struct bmst_network_spec spec;
        const char *heads[4];
    } cases[] = {
        {{"densenet121", 16, 16, 3, 10, 2, 0, BMST_STEM_AUTO}, {"classifier.weight", "classifier.bias"}},
        {{"inceptionv3", 299, 299, 3, 10, 2, 1, BMST_STEM_AUTO},
         {"fc.weight", "fc.bias", "AuxLogits.fc.weight", "AuxLogits.fc.bias"}},
    };
    struct bmst_backend *be = bmst_backend_cpu_create(1, BMST_F32);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct bmst_model m;
        struct bmst_graph g;
        bmst_model_init(&m, be, cases[k].spec.arch);
        bmst_graph_init(&g, &m, 1, 2, 1, cases[k].spec.classes);
        CHECK(bmst_network_build(&g, &cases[k].spec) == 0 &&
                  bmst_param_groups_apply(&m, &g, NULL, 0) == 0,
              "%s", bmst_last_error());
        int heads = 0, named = 0;
        for (int i = 0; i < m.n_params; i++)
            heads += m.params[i].head;
        for (int j = 0; j < 4 && cases[k].heads[j]; j++) {
            int i = bmst_model_find(&m, cases[k].heads[j]);
            named += i >= 0 && m.params[i].head;
        }
        int want = cases[k].heads[2] ? 4 : 2;
        CHECK(heads == want && named == want, "%s: %d head parameters, %d of the %d named",
              cases[k].spec.arch, heads, named, want);
        bmst_graph_free(&g);
        bmst_model_free(&m);
    }
    be->destroy(be);
}

int main(void) {
    test_heads();
    test_prefixes();
    test_state_bytes();
    test_backward_nodes();
    test_steps("sgd", "conv1,bn1,layer1", 0, 0);
    test_steps("adam", "conv1,bn1,layer1", 0, 0);
    /* resnet20's bn1 and layer1's six batch norms: two statistics each */
    test_steps("sgd", "conv1,bn1,layer1", 1, 14);
    /* the stem's conv alone: bn1 after it trains on an input that takes no gradient */
    test_steps("sgd", "conv1", 0, 0);
    return check_finish("freeze");
}
