/* Graph storage and the memory plan. The plan gives every activation, every
 * activation gradient and every node's scratch an interval of time steps
 * (forward of node i at step i, its backward at step 2N-1-i) and packs them
 * into one arena so that nothing alive at the same time overlaps. */
#include "graph.h"

#include <string.h>

#include "error.h"

#define ARENA_ALIGN 64

void bmst_graph_init(struct bmst_graph *g, struct bmst_model *model, int training, int batch,
                     int merge, int classes) {
    memset(g, 0, sizeof *g);
    g->model = model;
    g->be = model->be;
    g->training = training;
    g->batch = batch;
    g->merge = training ? merge : 1;
    g->classes = classes;
    g->images = g->targets = g->logits = g->loss_node = -1;
    g->notes = stdout;
    g->host_scalars[BMST_SCALAR_MIX] = 1.0f;
    g->host_scalars[BMST_SCALAR_LOSS_SCALE] = 1.0f;
}

void bmst_graph_free(struct bmst_graph *g) {
    if (g->recording) g->be->capture_free(g->be, g->recording);
    if (g->arena) g->be->free(g->be, g->arena);
    if (g->workspace) g->be->free(g->be, g->workspace);
    free(g->values);
    free(g->nodes);
    free(g->grad_written);
    memset(g, 0, sizeof *g);
}

int bmst_graph_add_value(struct bmst_graph *g, struct bmst_shape shape, int producer) {
    if (g->n_values == g->cap_values) {
        g->cap_values = g->cap_values ? 2 * g->cap_values : 256;
        struct bmst_value *grown = realloc(g->values, (size_t)g->cap_values * sizeof *grown);
        BMST_ASSERT(grown != NULL);
        g->values = grown;
    }
    struct bmst_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->shape = shape;
    v->dtype = g->be->act_dtype;
    v->producer = producer;
    return g->n_values++;
}

struct bmst_node *bmst_graph_add_node(struct bmst_graph *g, enum bmst_op_kind kind,
                                      const char *name) {
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? 2 * g->cap_nodes : 256;
        struct bmst_node *grown = realloc(g->nodes, (size_t)g->cap_nodes * sizeof *grown);
        BMST_ASSERT(grown != NULL);
        g->nodes = grown;
    }
    struct bmst_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->out = -1;
    for (int i = 0; i < 4; i++) n->param[i] = -1;
    snprintf(n->name, sizeof n->name, "%s", name ? name : bmst_op_name(kind));
    return n;
}

/* One block of the arena with the time steps during which it must hold. */
struct interval {
    size_t bytes;
    int first, last;
    size_t *offset; /* where the planned offset is written back */
};

static size_t align_up(size_t x) {
    return (x + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

static int by_size_descending(const void *a, const void *b) {
    const struct interval *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b) {
    const struct interval *x = *(const struct interval *const *)a;
    const struct interval *y = *(const struct interval *const *)b;
    return (*x->offset > *y->offset) - (*x->offset < *y->offset);
}

/* Greedy by size: the largest blocks are placed first, each at the lowest
 * offset that no block alive at an overlapping time occupies. */
static size_t pack_intervals(struct interval *items, int n) {
    qsort(items, (size_t)n, sizeof *items, by_size_descending);
    struct interval **live = bmst_xmalloc((size_t)(n ? n : 1) * sizeof *live);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int n_live = 0;
        for (int j = 0; j < i; j++)
            if (items[j].first <= items[i].last && items[i].first <= items[j].last)
                live[n_live++] = &items[j];
        qsort(live, (size_t)n_live, sizeof *live, by_offset);
        size_t offset = 0;
        for (int j = 0; j < n_live; j++) {
            size_t start = *live[j]->offset, end = start + live[j]->bytes;
            if (offset + items[i].bytes <= start) break;
            if (end > offset) offset = end;
        }
        *items[i].offset = offset;
        if (offset + items[i].bytes > total) total = offset + items[i].bytes;
    }
    free(live);
    return total;
}

/* The value a node's backward reads again, or -1: it must stay alive until then. */
static int backward_reads(const struct bmst_node *n) {
    switch (n->kind) {
    case BMST_OP_CONV:
    case BMST_OP_BN:
    case BMST_OP_MAXPOOL:
    case BMST_OP_FC: return n->in[0];
    case BMST_OP_RELU: return n->out;
    case BMST_OP_XENT: return n->in[1];
    default: return -1;
    }
}

/* A gradient flows out of a node that has parameters or an input taking one. */
static void mark_gradients(struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        if (n->kind == BMST_OP_INPUT) continue;
        int grad = n->param[0] >= 0;
        for (int j = 0; j < n->n_in; j++) grad |= g->values[n->in[j]].needs_grad;
        g->values[n->out].needs_grad = grad;
    }
}

/* What executing conv node n runs: forward always; in a training graph the
 * filter gradient, and the input gradient where one flows into the input
 * (not into the images, at the stem). exec.c runs exactly these. */
static unsigned conv_passes(const struct bmst_graph *g, const struct bmst_node *n) {
    if (!g->training) return BMST_CONV_FWD;
    unsigned passes = BMST_CONV_FWD | BMST_CONV_BWD_FILTER;
    if (g->values[n->in[0]].needs_grad) passes |= BMST_CONV_BWD_DATA;
    return passes;
}

/* Plans every convolution's passes with the backend; workspace_bytes is the
 * largest scratch any of them needs (one conv runs at a time). */
static int plan_convolutions(struct bmst_graph *g) {
    size_t workspace = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        if (n->kind != BMST_OP_CONV) continue;
        const struct bmst_conv_desc *d = &n->desc.conv;
        size_t bytes = 0;
        char why[384] = "";
        n->conv_passes = conv_passes(g, n);
        if (g->be->conv->plan(g->be, d, n->conv_passes, &bytes, why, sizeof why) != 0)
            return bmst_error("conv %s (%dx%d, stride %dx%d, pad %dx%d, input %dx%dx%dx%d NHWC, "
                              "%d filters) cannot run on %s: %s",
                              n->name, d->r, d->s, d->stride_h, d->stride_w, d->pad_h, d->pad_w,
                              d->n, d->h, d->w, d->c, d->k, g->be->name, why);
        if (bytes > workspace) workspace = bytes;
    }
    g->workspace_bytes = workspace;
    return 0;
}

size_t bmst_graph_value_bytes(const struct bmst_graph *g, int value) {
    const struct bmst_value *v = &g->values[value];
    size_t elem = v->dtype == BMST_F32 ? sizeof(float) : g->be->act_bytes;
    return bmst_shape_count(v->shape) * elem;
}

int bmst_graph_plan(struct bmst_graph *g) {
    int steps = g->training ? 2 * g->n_nodes : g->n_nodes;
    /* the step at which each value is last needed, and its last forward reader */
    int *last_use = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    int *last_reader = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    for (int v = 0; v < g->n_values; v++) {
        last_reader[v] = g->values[v].producer;
        last_use[v] = g->nodes[g->values[v].producer].kind == BMST_OP_INPUT ? 0 : last_reader[v];
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) last_reader[n->in[j]] = last_use[n->in[j]] = i;
    }
    if (g->training) {
        mark_gradients(g);
        for (int i = 0; i < g->n_nodes; i++) {
            int v = backward_reads(&g->nodes[i]);
            if (v < 0) continue;
            g->values[v].saved = 1;
            if (steps - 1 - i > last_use[v]) last_use[v] = steps - 1 - i;
        }
    }
    if (g->logits >= 0) last_use[g->logits] = steps - 1; /* read by the host after the step */
    if (plan_convolutions(g) != 0) {
        free(last_use);
        free(last_reader);
        return -1;
    }

    struct interval *items = bmst_xcalloc((size_t)(2 * g->n_values + g->n_nodes), sizeof *items);
    int n_items = 0;
    size_t naive = 0;
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        size_t bytes = align_up(bmst_graph_value_bytes(g, v));
        /* inputs are written before the step starts */
        int first = g->nodes[val->producer].kind == BMST_OP_INPUT ? 0 : val->producer;
        items[n_items++] = (struct interval){bytes, first, last_use[v], &val->offset};
        naive += bytes;
        if (g->training && val->needs_grad) {
            /* written by the backward of its last reader, read by its producer's */
            int gfirst = steps - 1 - last_reader[v], glast = steps - 1 - val->producer;
            items[n_items++] = (struct interval){bytes, gfirst, glast, &val->grad_offset};
            naive += bytes;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        if (n->scratch_bytes) {
            size_t bytes = align_up(n->scratch_bytes);
            int last = g->training ? steps - 1 - i : i;
            items[n_items++] = (struct interval){bytes, i, last, &n->scratch_offset};
            naive += bytes;
        }
    }
    g->arena_bytes = pack_intervals(items, n_items);
    g->naive_bytes = naive;
    free(items);
    free(last_use);
    free(last_reader);

    g->grad_written = bmst_xcalloc((size_t)g->n_values, 1);
    return 0;
}

/* The scalars sit after the planned blocks, in the same allocation. */
#define SCALARS_BYTES align_up(BMST_SCALAR_COUNT * sizeof(float))

size_t bmst_graph_device_bytes(const struct bmst_graph *g) {
    return align_up(g->arena_bytes) + SCALARS_BYTES + align_up(g->workspace_bytes);
}

int bmst_graph_allocate(struct bmst_graph *g) {
    size_t arena = align_up(g->arena_bytes);
    g->arena = g->be->alloc(g->be, arena + SCALARS_BYTES);
    g->workspace = g->workspace_bytes ? g->be->alloc(g->be, g->workspace_bytes) : NULL;
    if (!g->arena || (g->workspace_bytes && !g->workspace))
        return bmst_error("out of memory: the planned arena needs %.1f MiB",
                          (double)bmst_graph_device_bytes(g) / (1 << 20));
    g->scalars = (float *)((char *)g->arena + arena);
    return 0;
}

void *bmst_graph_value(const struct bmst_graph *g, int value) {
    return (char *)g->arena + g->values[value].offset;
}

void *bmst_graph_grad(const struct bmst_graph *g, int value) {
    BMST_ASSERT(g->values[value].needs_grad);
    return (char *)g->arena + g->values[value].grad_offset;
}

void bmst_mix_coefficients(int m, float lam, float *coef) {
    BMST_ASSERT(m >= 1 && m <= BMST_MAX_MERGE);
    for (int j = 0; j < m; j++) {
        /* chunk j enters the fold at step j (chunk 0 is the start value) and is
         * then scaled by lam once for every later chunk */
        double w = j == 0 ? 1.0 : 1.0 - lam;
        for (int later = (j == 0 ? 1 : j + 1); later < m; later++) w *= lam;
        coef[j] = (float)w;
    }
}

const char *bmst_op_name(enum bmst_op_kind kind) {
    static const char *names[BMST_OP_KIND_COUNT] = {
        "input", "conv", "bn", "relu", "add", "maxpool", "avgpool", "gap", "fc", "concat", "mix",
        "xent"};
    return names[kind];
}
