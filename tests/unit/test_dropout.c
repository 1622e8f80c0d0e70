/* Dropout in a network (inceptionv3, the one model with it): the step's key
 * is a function of the seed and the draw alone; training graphs have the
 * dropout node and evaluation graphs none; a training forward is the same
 * for the same key and differs for the next step's, whose mask differs. The
 * kernels themselves are checked in test_kernel_reference (the documented
 * mask, the kept fraction, backward) and test_kernel_gradcheck. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "exec.h"
#include "models/models.h"
#include "step.h"

#define BATCH 2
#define CLASSES 5

struct net {
    struct bmst_model model;
    struct bmst_graph g;
    struct bmst_exec x;
};

static int net_build(struct net *n, struct bmst_backend *be, int training) {
    struct bmst_network_spec spec = {
        .arch = "inceptionv3", .h = 9, .w = 9, .c = 3, .classes = CLASSES, .mix_at = 2};
    memset(&n->x, 0, sizeof n->x);
    bmst_model_init(&n->model, be, spec.arch);
    bmst_graph_init(&n->g, &n->model, training, BATCH, 1, CLASSES);
    if (bmst_network_build(&n->g, &spec) != 0 || bmst_graph_plan(&n->g) != 0) return -1;
    if (bmst_model_allocate(&n->model) != 0 || bmst_exec_init(&n->x, &n->g) != 0) return -1;
    bmst_model_initialize(&n->model, 3);
    return 0;
}

static void net_free(struct net *n) {
    bmst_exec_free(&n->x);
    bmst_graph_free(&n->g);
    bmst_model_free(&n->model);
}

static int dropout_nodes(const struct bmst_graph *g) {
    int count = 0;
    for (int i = 0; i < g->n_nodes; i++)
        count += g->nodes[i].kind == BMST_OP_DROPOUT;
    return count;
}

static void test_key(void) {
    float a[2], b[2];
    bmst_step_dropout_key(11, 5, a);
    bmst_step_dropout_key(11, 5, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "the key is not a function of seed and draw");
    bmst_step_dropout_key(11, 6, b);
    CHECK(memcmp(a, b, sizeof a) != 0, "the next draw gives the same key");
    bmst_step_dropout_key(12, 5, b);
    CHECK(memcmp(a, b, sizeof a) != 0, "another seed gives the same key");
}

/* The training forward's logits on fixed images with draw `draw`'s key. */
static void logits_at(struct net *n, const float *images, long draw, float *logits) {
    struct bmst_backend *be = n->g.be;
    be->to_device(be, bmst_exec_value(&n->x, n->g.images), images,
                  BATCH * 9 * 9 * 3 * sizeof(float));
    bmst_step_dropout_key(7, draw, n->x.host_scalars + BMST_SCALAR_DROPOUT_KEY);
    bmst_exec_upload_scalars(&n->x);
    bmst_exec_forward(&n->x);
    be->to_host(be, logits, bmst_exec_value(&n->x, n->g.logits),
                BATCH * CLASSES * sizeof(float));
}

int main(void) {
    struct bmst_backend *be = bmst_backend_cpu_create(2, BMST_F32);
    test_key();
    struct net train, eval;
    CHECK(net_build(&eval, be, 0) == 0, "%s", bmst_last_error());
    CHECK(dropout_nodes(&eval.g) == 0, "the evaluation graph has %d dropout nodes",
          dropout_nodes(&eval.g));
    net_free(&eval);
    CHECK(net_build(&train, be, 1) == 0, "%s", bmst_last_error());
    CHECK(dropout_nodes(&train.g) == 1, "the training graph has %d dropout nodes",
          dropout_nodes(&train.g));
    float images[BATCH * 9 * 9 * 3], a[BATCH * CLASSES], b[BATCH * CLASSES];
    for (size_t i = 0; i < sizeof images / sizeof *images; i++)
        images[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    logits_at(&train, images, 3, a);
    logits_at(&train, images, 3, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "the same step's key gives other logits");
    logits_at(&train, images, 4, b);
    CHECK(memcmp(a, b, sizeof a) != 0, "the next step's key gives the same logits");
    net_free(&train);
    be->destroy(be);
    return check_finish("test_dropout");
}
