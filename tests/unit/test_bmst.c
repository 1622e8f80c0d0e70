/* BMST end to end on small graphs: chunk weights, mixed soft targets, shapes
 * after the merge at every mix point, evaluation graphs without a merge, the
 * lambda draws, and the errors for merges that cannot work. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "exec.h"
#include "models/models.h"
#include "step.h"

static struct bmst_backend *be;

struct net {
    struct bmst_model model;
    struct bmst_graph g;
    struct bmst_exec x;
};

static int net_build(struct net *n, const char *arch, int training, int batch, int merge,
                     int mix_at) {
    struct bmst_network_spec spec = {.h = 8, .w = 8, .c = 3, .classes = 5, .mix_at = mix_at};
    snprintf(spec.arch, sizeof spec.arch, "%s", arch);
    memset(&n->x, 0, sizeof n->x); /* not run yet: nothing for net_free to release */
    bmst_model_init(&n->model, be, arch);
    bmst_graph_init(&n->g, &n->model, training, batch, merge, 5);
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

static int count_kind(const struct bmst_graph *g, enum bmst_op_kind kind) {
    int count = 0;
    for (int i = 0; i < g->n_nodes; i++) count += g->nodes[i].kind == kind;
    return count;
}

static void test_coefficients(void) {
    for (int m = 1; m <= 4; m *= 2) {
        for (float lam = 0.0f; lam <= 1.0f; lam += 0.125f) {
            float coef[BMST_MAX_MERGE];
            bmst_mix_coefficients(m, lam, coef);
            double sum = 0;
            for (int j = 0; j < m; j++) sum += coef[j];
            CHECK(fabs(sum - 1.0) < 1e-6, "m=%d lam=%g: weights sum to %g", m, lam, sum);
            /* the left fold written out: r = c0; r = lam*r + (1-lam)*cj */
            double r[BMST_MAX_MERGE] = {1.0};
            for (int j = 1; j < m; j++) {
                for (int i = 0; i < j; i++) r[i] *= lam;
                r[j] = 1.0 - lam;
            }
            for (int j = 0; j < m; j++)
                CHECK(fabs(coef[j] - r[j]) < 1e-6, "m=%d lam=%g chunk %d: %g vs fold %g", m, lam,
                      j, coef[j], r[j]);
        }
    }
}

/* Shapes after the merge, mixed targets summing to one, loss finite. */
static void test_merge_graph(int merge, int mix_at) {
    struct net n;
    int batch = 8;
    CHECK(net_build(&n, "resnet18", 1, batch, merge, mix_at) == 0, "%s", bmst_last_error());
    struct bmst_graph *g = &n.g;
    struct bmst_exec *x = &n.x;
    CHECK(count_kind(g, BMST_OP_MIX) == 2, "merge %d: %d mix nodes (images and targets)", merge,
          count_kind(g, BMST_OP_MIX));
    /* every conv before the mix point sees the whole batch, every one after B/m */
    int seen_mix = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *node = &g->nodes[i];
        if (node->kind == BMST_OP_MIX && node->in[0] != g->targets) seen_mix = 1;
        if (node->kind != BMST_OP_CONV) continue;
        int expect = seen_mix ? batch / merge : batch;
        CHECK(node->desc.conv.n == expect, "c%d merge %d: %s has batch %d, expected %d", mix_at,
              merge, node->name, node->desc.conv.n, expect);
        /* the stage the mix sits before starts with layer(mix_at - 1) */
        char stage[32];
        snprintf(stage, sizeof stage, "layer%d.", mix_at - 1);
        if (strncmp(node->name, stage, strlen(stage)) == 0)
            CHECK(seen_mix, "%s runs before the mix at c%d", node->name, mix_at);
    }
    CHECK(g->values[g->logits].shape.n == batch / merge, "logits batch %d",
          g->values[g->logits].shape.n);

    float images[8 * 8 * 8 * 3];
    for (size_t i = 0; i < sizeof images / sizeof *images; i++) images[i] = sinf((float)i);
    int32_t labels[8] = {0, 1, 2, 3, 4, 0, 1, 2};
    float targets[8 * 5];
    bmst_soft_targets(labels, batch, 5, 0.1f, targets);
    be->to_device(be, bmst_exec_value(x, g->images), images, sizeof images);
    be->to_device(be, bmst_exec_value(x, g->targets), targets, sizeof targets);
    bmst_mix_coefficients(merge, 0.3f, x->host_scalars + BMST_SCALAR_MIX);
    bmst_exec_upload_scalars(x);
    bmst_exec_forward(x);
    float loss_value;
    be->to_host(be, &loss_value, x->scalars + BMST_SCALAR_LOSS, sizeof loss_value);
    CHECK(isfinite(loss_value) && loss_value > 0, "loss %g", loss_value);
    /* the mixed targets are the xent node's second input */
    const struct bmst_node *loss = &g->nodes[g->loss_node];
    float mixed[8 * 5];
    be->to_host(be, mixed, bmst_exec_value(x, loss->in[1]),
                (size_t)(batch / merge) * 5 * sizeof(float));
    for (int i = 0; i < batch / merge; i++) {
        double sum = 0;
        for (int k = 0; k < 5; k++) sum += mixed[i * 5 + k];
        CHECK(fabs(sum - 1.0) < 1e-5, "mixed target row %d sums to %g", i, sum);
    }
    if (merge == 2) {
        /* row 0 mixes sample 0 (label 0) with sample 4 (label 4): 0.3 / 0.7 of 0.92 + 0.02 */
        CHECK(fabs(mixed[0] - (0.3f * 0.92f + 0.7f * 0.02f)) < 1e-6, "row 0 class 0: %g",
              mixed[0]);
        CHECK(fabs(mixed[4] - (0.3f * 0.02f + 0.7f * 0.92f)) < 1e-6, "row 0 class 4: %g",
              mixed[4]);
    }
    /* the plan reuses the inputs' space once they are consumed: load them again */
    be->to_device(be, bmst_exec_value(x, g->images), images, sizeof images);
    be->to_device(be, bmst_exec_value(x, g->targets), targets, sizeof targets);
    double seconds[2];
    bmst_exec_train_pass(x, seconds);
    CHECK(x->loss == loss_value, "the whole pass's loss %g differs from the forward's %g", x->loss,
          loss_value);
    net_free(&n);
}

static void test_eval_never_merges(void) {
    struct net n;
    CHECK(net_build(&n, "resnet20", 0, 6, 2, BMST_MIX_C2) == 0, "%s", bmst_last_error());
    CHECK(count_kind(&n.g, BMST_OP_MIX) == 0, "evaluation graph has %d mix nodes",
          count_kind(&n.g, BMST_OP_MIX));
    CHECK(n.g.values[n.g.logits].shape.n == 6, "eval logits batch %d",
          n.g.values[n.g.logits].shape.n);
    net_free(&n);
}

static void test_bad_merges(void) {
    struct net n;
    CHECK(net_build(&n, "resnet20", 1, 6, 4, BMST_MIX_C2) != 0 &&
              strstr(bmst_last_error(), "not divisible by the merge factor 4") != NULL,
          "batch 6 merge 4 accepted: '%s'", bmst_last_error());
    net_free(&n);
    CHECK(net_build(&n, "resnet20", 1, 8, 2, BMST_MIX_C5) != 0 &&
              strstr(bmst_last_error(), "no stage c5") != NULL,
          "resnet20 accepted c5: '%s'", bmst_last_error());
    net_free(&n);
}

static void test_lambda(void) {
    /* Beta(1, 1) is uniform: mean 1/2, variance 1/12; Beta(0.2, 0.2) piles up at the ends */
    double sum = 0, sq = 0;
    int ends = 0, outside = 0, draws = 20000;
    for (int i = 0; i < draws; i++) {
        double lam = bmst_step_lambda(11, i, 1.0f);
        outside += !(lam >= 0.0 && lam <= 1.0);
        sum += lam, sq += lam * lam;
        double u = bmst_step_lambda(11, i, 0.2f);
        ends += u < 0.1 || u > 0.9;
    }
    CHECK(outside == 0, "%d draws of lambda outside [0, 1]", outside);
    double mean = sum / draws, var = sq / draws - mean * mean;
    CHECK(fabs(mean - 0.5) < 0.01, "Beta(1,1) mean %g", mean);
    CHECK(fabs(var - 1.0 / 12) < 0.005, "Beta(1,1) variance %g", var);
    /* P(x < 0.1 or x > 0.9) for Beta(0.2, 0.2) is about 0.6 */
    CHECK(ends > draws / 2, "Beta(0.2,0.2): only %d of %d draws near 0 or 1", ends, draws);
    CHECK(bmst_step_lambda(11, 5, 1.0f) == bmst_step_lambda(11, 5, 1.0f), "not a function of step");
    CHECK(bmst_step_lambda(11, 5, 1.0f) != bmst_step_lambda(12, 5, 1.0f), "seed ignored");
}

int main(void) {
    be = bmst_backend_cpu_create(2, BMST_F32);
    test_coefficients();
    for (int mix_at = BMST_MIX_C2; mix_at <= BMST_MIX_C5; mix_at++) test_merge_graph(2, mix_at);
    test_merge_graph(4, BMST_MIX_C2);
    test_eval_never_merges();
    test_bad_merges();
    test_lambda();
    be->destroy(be);
    return check_finish("bmst");
}
