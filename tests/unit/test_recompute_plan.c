/* The memory plan under --recompute (recompute.h), checked the slow, obvious
 * way rather than with the planner's code:
 * - which values backward makes again: under bn-relu each batch norm output
 *   that a ReLU alone reads, and that ReLU's output; under block, inside each
 *   residual block, what a backward reads again or a node making such a value
 *   reads (counted per network);
 * - every backward that reads such a value runs after its rerun, and a rerun
 *   reads only what it makes itself or what is kept;
 * - buffers alive at the same time never overlap, with lifetimes derived here:
 *   a value made again lives through its forward readers, and its rerun buffer
 *   from the rerun to its last backward reader; what a rerun reads is kept
 *   until the rerun;
 * - what is kept for backward shrinks by exactly the values made again that
 *   a backward reads, and the arena shrinks. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "graph.h"
#include "models/models.h"
#include "ops/op.h"
#include "saved.h"

struct block {
    size_t offset, bytes;
    int first, last;
    const char *what;
};

/* The last node whose backward reads value v again, or -1. */
static int last_backward_reader(const struct bmst_graph *g, int v) {
    int last = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < bmst_op(g->nodes[i].kind)->n_saved; j++)
            if (bmst_saved_value(&g->nodes[i], j) == v) last = i;
    return last;
}

static size_t align64(size_t bytes) {
    return (bytes + 63) / 64 * 64;
}

/* The step of the rerun that makes value v (or that node n belongs to). */
static int rerun_step(const struct bmst_graph *g, const struct bmst_node *n) {
    return 2 * g->n_nodes - 1 - g->reruns[n->rerun].at;
}

static int collect(const struct bmst_graph *g, struct block *blocks, size_t *saving) {
    int steps = 2 * g->n_nodes, count = 0;
    for (int v = 0; v < g->n_values; v++) {
        const struct bmst_value *val = &g->values[v];
        const struct bmst_node *producer = &g->nodes[val->producer];
        size_t bytes = bmst_shape_count(val->shape) * sizeof(float);
        int first = producer->kind == BMST_OP_INPUT ? 0 : val->producer;
        int last = first, last_reader = val->producer, reader = last_backward_reader(g, v);
        for (int i = 0; i < g->n_nodes; i++) {
            const struct bmst_node *n = &g->nodes[i];
            for (int j = 0; j < n->n_in; j++) {
                if (n->in[j] != v) continue;
                if (i > last) last = i;
                if (i > last_reader) last_reader = i;
                if (n->rerun < 0) continue;
                /* a rerun reads what an earlier node of it makes again, or what is kept */
                CHECK(val->recompute ? producer->rerun == n->rerun : val->rerun_input,
                      "node %s reruns from value %d, neither made again by its rerun nor kept",
                      n->name, v);
                if (!val->recompute && rerun_step(g, n) > last) last = rerun_step(g, n);
            }
        }
        int backward_step = reader >= 0 ? steps - 1 - reader : -1;
        if (val->recompute) {
            CHECK(producer->rerun >= 0 && reader <= g->reruns[producer->rerun].at,
                  "value %d is read in backward (node %d) before its rerun", v, reader);
            int start = rerun_step(g, producer);
            blocks[count++] =
                (struct block){val->rerun_offset, bytes, start,
                               backward_step > start ? backward_step : start, "rerun buffer"};
            if (reader >= 0) *saving += align64(bytes);
        } else if (backward_step > last) {
            last = backward_step;
        }
        if (v == g->logits) last = steps - 1;
        blocks[count++] = (struct block){val->offset, bytes, first, last, "value"};
        if (val->needs_grad)
            blocks[count++] = (struct block){val->grad_offset, bytes, steps - 1 - last_reader,
                                             steps - 1 - val->producer, "gradient"};
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].scratch_bytes)
            blocks[count++] = (struct block){g->nodes[i].scratch_offset, g->nodes[i].scratch_bytes,
                                             i, steps - 1 - i, "scratch"};
    return count;
}

static void plan_network(struct bmst_graph *g, struct bmst_model *model, const char *arch,
                         int merge, enum bmst_recompute mode) {
    struct bmst_network_spec spec = {.h = 32, .w = 32, .c = 3, .classes = 10, .mix_at = 2};
    snprintf(spec.arch, sizeof spec.arch, "%s", arch);
    bmst_graph_init(g, model, 1, 16, merge, 10);
    g->recompute = mode;
    CHECK(bmst_network_build(g, &spec) == 0, "%s", bmst_last_error());
    CHECK(bmst_graph_plan(g) == 0, "%s", bmst_last_error());
}

/* made_again: how many values the plan should make again in backward */
static void check_plan(const char *arch, int merge, enum bmst_recompute mode, int made_again) {
    struct bmst_backend *be = bmst_backend_cpu_create(1, BMST_F32);
    struct bmst_model model;
    struct bmst_graph g, none;
    bmst_model_init(&model, be, arch);
    plan_network(&g, &model, arch, merge, mode);
    plan_network(&none, &model, arch, merge, BMST_RECOMPUTE_NONE);
    int count = 0;
    for (int v = 0; v < g.n_values; v++)
        count += g.values[v].recompute;
    CHECK(count == made_again, "%s merge %d mode %d: %d values made again, want %d", arch, merge,
          mode, count, made_again);

    struct block *blocks = bmst_xmalloc((size_t)(3 * g.n_values + g.n_nodes) * sizeof *blocks);
    size_t saving = 0;
    int n = collect(&g, blocks, &saving), outside = 0, overlaps = 0;
    for (int i = 0; i < n; i++) {
        if (blocks[i].offset + blocks[i].bytes > g.arena_bytes) outside++;
        for (int j = i + 1; j < n; j++) {
            const struct block *a = &blocks[i], *b = &blocks[j];
            int same_time = a->first <= b->last && b->first <= a->last;
            int same_space = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
            if (same_time && same_space && a->bytes && b->bytes && overlaps++ < 3)
                fprintf(stderr, "%s: %s [%d,%d] and %s [%d,%d] share bytes\n", arch, a->what,
                        a->first, a->last, b->what, b->first, b->last);
        }
    }
    CHECK(outside == 0, "%s: %d buffers outside the arena", arch, outside);
    CHECK(overlaps == 0, "%s merge %d mode %d: %d pairs of live buffers overlap", arch, merge, mode,
          overlaps);
    CHECK(g.saved_plain_bytes == none.saved_bytes && g.saved_bytes == none.saved_bytes - saving,
          "%s merge %d mode %d: keeps %zu bytes for backward, none %zu, want %zu less", arch, merge,
          mode, g.saved_bytes, none.saved_bytes, saving);
    CHECK(g.arena_bytes < none.arena_bytes, "%s merge %d mode %d: arena %zu, none's %zu", arch,
          merge, mode, g.arena_bytes, none.arena_bytes);
    free(blocks);
    bmst_graph_free(&g);
    bmst_graph_free(&none);
    bmst_model_free(&model);
    be->destroy(be);
}

int main(void) {
    /* bn-relu: the stem's pair and one per basic block (9), two per bottleneck (16) */
    check_plan("resnet20", 1, BMST_RECOMPUTE_BN_RELU, 2 * (1 + 9));
    check_plan("resnet50", 2, BMST_RECOMPUTE_BN_RELU, 2 * (1 + 2 * 16));
    /* block: per basic block conv1, bn1, relu and conv2 outputs (bn2's only the add
     * reads), and a projection's conv output (2 blocks); per bottleneck the three
     * convolutions' and the two inner pairs' outputs, and a projection (4 blocks) */
    check_plan("resnet20", 1, BMST_RECOMPUTE_BLOCK, 4 * 9 + 2);
    check_plan("resnet20", 2, BMST_RECOMPUTE_BLOCK, 4 * 9 + 2);
    check_plan("resnet50", 1, BMST_RECOMPUTE_BLOCK, 7 * 16 + 4);
    return check_finish("recompute_plan");
}
