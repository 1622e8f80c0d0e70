/* The memory plan: every buffer lies inside the arena, buffers that are alive
 * at the same time never overlap, and liveness packing saves most of the
 * memory that keeping every activation would take. Lifetimes here are
 * computed the slow, obvious way (every reader of every value scanned), not
 * with the planner's code. With the 1-bit ReLU codec (--act-codec
 * relu-mask), a ReLU output that no other op reads again in backward lives
 * only through its forward readers, its mask from the ReLU's forward to its
 * backward, and what is kept for backward shrinks by exactly those outputs
 * less their masks. With DIVISION (--act-codec division), a value that
 * convolutions, batch norms, linear layers or ReLU read again in backward
 * (no max pooling or loss, more than one element per channel, not in a
 * shared buffer) lives only through its forward readers, its stored form
 * from its producer's forward to its last backward reader, and each read
 * that decodes it has a buffer of its size during that backward alone. A
 * dense block's channel prefixes (ops/append.c) share
 * their buffer's block: each must start where its buffer does, span its
 * buffer's full rows, and overlap nothing outside its buffer while alive. A
 * reversible unit's input that a unit produced and a unit that keeps the
 * shape alone reads (ops/reversible.c) lives only through its forward
 * readers, and its rebuilt copy from its reader's backward to its
 * producer's. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "graph.h"
#include "models/models.h"

struct block {
    size_t offset, bytes;
    int first, last;
    const char *what;
    int group; /* blocks of one buffer (or one buffer's gradients) may share bytes; -1: none */
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
    case BMST_OP_REVERSIBLE: return n->in[0] == v || n->out == v;
    default: return 0;
    }
}

/* A ReLU output that only its own ReLU reads again in backward (which needs
 * only its signs): what relu-mask keeps as a mask. */
static int maskable(const struct bmst_graph *g, int v) {
    if (g->nodes[g->values[v].producer].kind != BMST_OP_RELU || v == g->logits) return 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].kind != BMST_OP_RELU && reads_in_backward(&g->nodes[i], v)) return 0;
    return 1;
}

/* What DIVISION keeps in its own form: a value only those that take an
 * approximation or its signs read again, with more than one element per
 * channel, of its own (not a prefix of a shared buffer). */
static int divisible(const struct bmst_graph *g, int v) {
    const struct bmst_value *val = &g->values[v];
    if (v == g->logits || val->buffer >= 0 || val->shape.h * val->shape.w == 1) return 0;
    int read = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (!reads_in_backward(n, v)) continue;
        if (n->kind == BMST_OP_MAXPOOL || n->kind == BMST_OP_XENT || n->kind == BMST_OP_REVERSIBLE)
            return 0;
        read = 1;
    }
    return read;
}

/* A value a reversible unit rebuilds in backward: a unit's output that one
 * unit alone reads, and that unit keeps the shape (it is invertible). */
static int rebuilt(const struct bmst_graph *g, int v) {
    const struct bmst_value *val = &g->values[v];
    if (g->nodes[val->producer].kind != BMST_OP_REVERSIBLE) return 0;
    int readers = 0, reader = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == v) readers++, reader = i;
    if (readers != 1 || g->nodes[reader].kind != BMST_OP_REVERSIBLE) return 0;
    struct bmst_shape a = val->shape, b = g->values[g->nodes[reader].out].shape;
    return a.h == b.h && a.w == b.w && a.c == b.c;
}

static size_t mask_bytes(const struct bmst_value *val) {
    return (bmst_shape_count(val->shape) + 31) / 32 * 4;
}

static int collect(const struct bmst_graph *g, struct block *blocks) {
    int steps = 2 * g->n_nodes, count = 0;
    for (int v = 0; v < g->n_values; v++) {
        const struct bmst_value *val = &g->values[v];
        struct bmst_shape rows = val->shape;
        if (val->row_stride) rows.c = val->row_stride; /* a prefix: every row whole */
        size_t bytes = bmst_shape_count(rows) * sizeof(float);
        int group = val->buffer >= 0 ? val->buffer : -1;
        if (group >= 0) {
            const struct bmst_value *buffer = &g->values[val->buffer];
            CHECK(val->offset == buffer->offset &&
                      (!val->needs_grad || val->grad_offset == buffer->grad_offset),
                  "value %d does not start where its buffer %d does", v, val->buffer);
        }
        int first = g->nodes[val->producer].kind == BMST_OP_INPUT ? 0 : val->producer;
        int masked = g->act_codec == BMST_ACT_CODEC_RELU_MASK && maskable(g, v);
        int encoded = g->act_codec == BMST_ACT_CODEC_DIVISION && divisible(g, v);
        int last = first, last_reader = val->producer, last_backward = -1;
        for (int i = 0; i < g->n_nodes; i++) {
            const struct bmst_node *n = &g->nodes[i];
            for (int j = 0; j < n->n_in; j++)
                if (n->in[j] == v) {
                    if (i > last) last = i;
                    if (i > last_reader) last_reader = i;
                }
            if (reads_in_backward(n, v) && steps - 1 - i > last_backward)
                last_backward = steps - 1 - i;
            /* a conv's, BN's or fc's read of a value DIVISION keeps: decoded for it */
            if (encoded && reads_in_backward(n, v) && n->kind != BMST_OP_RELU)
                blocks[count++] = (struct block){n->decode_offset[0], bytes,          steps - 1 - i,
                                                 steps - 1 - i,       "decoded read", -1};
        }
        int rebuild = rebuilt(g, v);
        CHECK(rebuild == val->rebuilt, "value %d: rebuilt %d, the planner says %d", v, rebuild,
              val->rebuilt);
        if (rebuild)
            blocks[count++] = (struct block){val->rebuilt_offset, bytes, steps - 1 - last_reader,
                                             steps - 1 - val->producer, "rebuilt", -1};
        if (!masked && !encoded && !rebuild && last_backward > last) last = last_backward;
        if (v == g->logits) last = steps - 1;
        blocks[count++] = (struct block){val->offset, bytes, first, last, "value", 2 * group};
        if (masked)
            blocks[count++] = (struct block){val->stored_offset, mask_bytes(val), val->producer,
                                             steps - 1 - val->producer, "relu mask", -1};
        if (encoded) {
            CHECK(val->stored_bytes > 0 && val->stored_bytes < bytes,
                  "value %d: DIVISION stores %zu bytes of %zu", v, val->stored_bytes, bytes);
            blocks[count++] = (struct block){val->stored_offset, val->stored_bytes, val->producer,
                                             last_backward,      "division form",   -1};
        }
        if (val->needs_grad)
            blocks[count++] = (struct block){val->grad_offset, bytes, steps - 1 - last_reader,
                                             steps - 1 - val->producer, "gradient",
                                             group >= 0 ? 2 * group + 1 : -1};
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].scratch_bytes)
            blocks[count++] = (struct block){g->nodes[i].scratch_offset,
                                             g->nodes[i].scratch_bytes, i, steps - 1 - i,
                                             "scratch", -1};
    return count;
}

static size_t align64(size_t bytes) {
    return (bytes + 63) / 64 * 64;
}

/* relu-mask against plain on the same network: what is kept for backward
 * shrinks by exactly the maskable ReLU outputs less their masks (the plan
 * counts blocks whole, 64-byte aligned), `masks` of them. */
static void check_saving(const struct bmst_graph *g, const struct bmst_graph *plain,
                         const char *arch, int merge, int masks) {
    size_t saving = 0;
    int count = 0;
    for (int v = 0; v < g->n_values; v++) {
        if (!maskable(g, v)) continue;
        saving += align64(bmst_shape_count(g->values[v].shape) * sizeof(float)) -
                  align64(mask_bytes(&g->values[v]));
        count++;
    }
    CHECK(count == masks, "%s merge %d: %d ReLU outputs only their ReLU reads again, want %d", arch,
          merge, count, masks);
    CHECK(g->saved_plain_bytes == plain->saved_bytes &&
              plain->saved_bytes == plain->saved_plain_bytes,
          "%s merge %d: kept plain %zu, %zu and %zu bytes", arch, merge, g->saved_plain_bytes,
          plain->saved_bytes, plain->saved_plain_bytes);
    CHECK(g->saved_bytes == plain->saved_bytes - saving,
          "%s merge %d: relu-mask keeps %zu bytes for backward, plain %zu, want %zu less", arch,
          merge, g->saved_bytes, plain->saved_bytes, saving);
    CHECK(g->arena_bytes <= plain->arena_bytes, "%s merge %d: relu-mask's arena %zu > plain's %zu",
          arch, merge, g->arena_bytes, plain->arena_bytes);
}

static void plan_network(struct bmst_graph *g, struct bmst_model *model, const char *arch,
                         int merge, enum bmst_act_codec codec) {
    struct bmst_network_spec spec = {.h = 32, .w = 32, .c = 3, .classes = 10, .mix_at = 2};
    snprintf(spec.arch, sizeof spec.arch, "%s", arch);
    bmst_graph_init(g, model, 1, 16, merge, 10);
    g->act_codec = codec;
    CHECK(bmst_network_build(g, &spec) == 0, "%s", bmst_last_error());
    CHECK(bmst_graph_plan(g) == 0, "%s", bmst_last_error());
}

/* masks: with relu-mask, how many ReLU outputs the plan should keep as masks */
static void check_plan(const char *arch, int merge, enum bmst_act_codec codec, int masks) {
    struct bmst_backend *be = bmst_backend_cpu_create(1, BMST_F32);
    struct bmst_model model;
    struct bmst_graph g;
    bmst_model_init(&model, be, arch);
    plan_network(&g, &model, arch, merge, codec);
    if (codec == BMST_ACT_CODEC_RELU_MASK) {
        struct bmst_graph plain;
        plan_network(&plain, &model, arch, merge, BMST_ACT_CODEC_PLAIN);
        check_saving(&g, &plain, arch, merge, masks);
        bmst_graph_free(&plain);
    }
    if (codec == BMST_ACT_CODEC_DIVISION)
        CHECK(g.saved_bytes * 3 < g.saved_plain_bytes,
              "%s merge %d: DIVISION keeps %zu of %zu bytes", arch, merge, g.saved_bytes,
              g.saved_plain_bytes);

    struct block *blocks = bmst_xmalloc((size_t)(4 * g.n_values + 2 * g.n_nodes) * sizeof *blocks);
    int n = collect(&g, blocks), outside = 0, overlaps = 0;
    for (int i = 0; i < n; i++) {
        if (blocks[i].offset + blocks[i].bytes > g.arena_bytes) outside++;
        for (int j = i + 1; j < n; j++) {
            const struct block *a = &blocks[i], *b = &blocks[j];
            int same_time = a->first <= b->last && b->first <= a->last;
            int same_space = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
            int same_buffer = a->group >= 0 && a->group == b->group;
            if (same_time && same_space && a->bytes && b->bytes && !same_buffer) {
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
    check_plan("resnet20", 1, BMST_ACT_CODEC_PLAIN, 0);
    check_plan("resnet56", 2, BMST_ACT_CODEC_PLAIN, 0);
    check_plan("resnet50", 1, BMST_ACT_CODEC_PLAIN, 0);
    /* the last ReLU feeds the global pool alone; with a merge at c2 the stem's
     * ReLU feeds the mix alone too; every other ReLU output a conv reads again */
    check_plan("resnet20", 1, BMST_ACT_CODEC_RELU_MASK, 1);
    check_plan("resnet20", 2, BMST_ACT_CODEC_RELU_MASK, 2);
    check_plan("resnet50", 2, BMST_ACT_CODEC_RELU_MASK, 2);
    /* dense blocks' prefixes in their buffers; the stem's ReLU (before the merge)
     * and the last become masks */
    check_plan("densenet121", 1, BMST_ACT_CODEC_PLAIN, 0);
    check_plan("densenet121", 2, BMST_ACT_CODEC_RELU_MASK, 2);
    /* DIVISION: every conv, BN and fc read decoded, no live buffers overlap */
    /* reversible units: the rebuilt inputs; with relu-mask only the last ReLU (the stem's
     * output is a unit's input, which it reads again whole) */
    check_plan("revnet38", 2, BMST_ACT_CODEC_PLAIN, 0);
    check_plan("revnet164", 1, BMST_ACT_CODEC_RELU_MASK, 1);
    check_plan("resnet20", 2, BMST_ACT_CODEC_DIVISION, 0);
    check_plan("resnet50", 1, BMST_ACT_CODEC_DIVISION, 0);
    check_plan("densenet121", 2, BMST_ACT_CODEC_DIVISION, 0);
    return check_finish("graph_plan");
}
