/* The memory plan: every buffer lies inside the arena, buffers that are alive
 * at the same time never overlap, and liveness packing saves most of the
 * memory that keeping every activation would take. Lifetimes here are
 * computed the slow, obvious way (every reader of every value scanned), not
 * with the planner's code. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "graph.h"
#include "models/models.h"

struct block {
    size_t offset, bytes;
    int first, last;
    const char *what;
};

/* The steps at which node i runs: forward i, backward 2N-1-i. */
static int reads_in_backward(const struct bmst_node *n, int v) {
    switch (n->kind) {
    case BMST_OP_CONV:
    case BMST_OP_BN:
    case BMST_OP_MAXPOOL:
    case BMST_OP_FC: return n->in[0] == v;
    case BMST_OP_RELU: return n->out == v;
    case BMST_OP_XENT: return n->in[1] == v;
    default: return 0;
    }
}

static int collect(const struct bmst_graph *g, struct block *blocks) {
    int steps = 2 * g->n_nodes, count = 0;
    for (int v = 0; v < g->n_values; v++) {
        const struct bmst_value *val = &g->values[v];
        size_t bytes = bmst_shape_count(val->shape) * sizeof(float);
        int first = g->nodes[val->producer].kind == BMST_OP_INPUT ? 0 : val->producer;
        int last = first, last_reader = val->producer;
        for (int i = 0; i < g->n_nodes; i++) {
            const struct bmst_node *n = &g->nodes[i];
            for (int j = 0; j < n->n_in; j++)
                if (n->in[j] == v) {
                    if (i > last) last = i;
                    if (i > last_reader) last_reader = i;
                }
            if (reads_in_backward(n, v) && steps - 1 - i > last) last = steps - 1 - i;
        }
        if (v == g->logits) last = steps - 1;
        blocks[count++] = (struct block){val->offset, bytes, first, last, "value"};
        if (val->needs_grad)
            blocks[count++] = (struct block){val->grad_offset, bytes, steps - 1 - last_reader,
                                             steps - 1 - val->producer, "gradient"};
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].scratch_bytes)
            blocks[count++] = (struct block){g->nodes[i].scratch_offset,
                                             g->nodes[i].scratch_bytes, i, steps - 1 - i,
                                             "scratch"};
    return count;
}

static void check_plan(const char *arch, int merge) {
    struct bmst_backend *be = bmst_backend_cpu_create(1, BMST_F32);
    struct bmst_model model;
    struct bmst_graph g;
    struct bmst_network_spec spec = {.h = 32, .w = 32, .c = 3, .classes = 10, .mix_at = 2};
    snprintf(spec.arch, sizeof spec.arch, "%s", arch);
    bmst_model_init(&model, be, arch);
    bmst_graph_init(&g, &model, 1, 16, merge, 10);
    CHECK(bmst_network_build(&g, &spec) == 0, "%s", bmst_last_error());
    CHECK(bmst_graph_plan(&g) == 0, "%s", bmst_last_error());

    struct block *blocks = bmst_xmalloc((size_t)(2 * g.n_values + g.n_nodes) * sizeof *blocks);
    int n = collect(&g, blocks), outside = 0, overlaps = 0;
    for (int i = 0; i < n; i++) {
        if (blocks[i].offset + blocks[i].bytes > g.arena_bytes) outside++;
        for (int j = i + 1; j < n; j++) {
            const struct block *a = &blocks[i], *b = &blocks[j];
            int same_time = a->first <= b->last && b->first <= a->last;
            int same_space = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
            if (same_time && same_space && a->bytes && b->bytes) {
                if (overlaps++ < 3)
                    fprintf(stderr, "%s: %s [%d,%d] and %s [%d,%d] share bytes\n", arch, a->what,
                            a->first, a->last, b->what, b->first, b->last);
            }
        }
    }
    CHECK(outside == 0, "%s: %d buffers outside the arena", arch, outside);
    CHECK(overlaps == 0, "%s merge %d: %d pairs of live buffers overlap", arch, merge, overlaps);
    /* a deep network keeps only a fraction of its buffers alive at once */
    CHECK(g.arena_bytes < g.naive_bytes / 2, "%s: arena %zu of %zu bytes", arch, g.arena_bytes,
          g.naive_bytes);
    free(blocks);
    bmst_graph_free(&g);
    bmst_model_free(&model);
    be->destroy(be);
}

int main(void) {
    check_plan("resnet20", 1);
    check_plan("resnet56", 2);
    check_plan("resnet50", 1);
    return check_finish("graph_plan");
}
