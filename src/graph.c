/* Graph storage and the memory plan. The plan gives every activation, every
 * activation gradient, what a codec keeps of a value for backward and every
 * node's scratch an interval of time steps (forward of node i at step i, its
 * backward at step 2N-1-i) and packs them into one arena so that nothing
 * alive at the same time overlaps. */
#include "graph.h"

#include <string.h>

#include "error.h"
#include "ops/op.h"
#include "recompute.h"
#include "ops/reversible.h"
#include "saved.h"

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
    g->division_block = 8;
    g->division_bits = 2;
    g->images = g->targets = g->logits = g->loss_node = g->aux_logits = -1;
}

void bmst_graph_free(struct bmst_graph *g) {
    free(g->reruns);
    free(g->values);
    free(g->nodes);
    bmst_rev_units_free(g);
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
    v->buffer = -1;
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
    n->block = n->rerun = -1;
    for (int i = 0; i < 4; i++) n->param[i] = -1;
    snprintf(n->name, sizeof n->name, "%s", name ? name : bmst_op_name(kind));
    return n;
}

void bmst_graph_mark_block(struct bmst_graph *g, int first_node) {
    for (int i = first_node; i < g->n_nodes; i++) g->nodes[i].block = g->n_blocks;
    g->n_blocks++;
}

void bmst_graph_truncate(struct bmst_graph *g, int n_nodes, int n_values) {
    BMST_ASSERT(n_nodes <= g->n_nodes && n_values <= g->n_values && g->arena_bytes == 0);
    /* building only appends, so what stays never reads what goes */
    g->n_nodes = n_nodes;
    g->n_values = n_values;
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

/* A gradient flows out of a node that has parameters that train or an input
 * taking one: a frozen prefix of the network (--freeze) takes none, so
 * backward never reaches it. */
static void mark_gradients(struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        if (n->kind == BMST_OP_INPUT) continue;
        int grad = 0;
        for (int k = 0; k < 4; k++)
            grad |= bmst_model_trains(g->model, n->param[k]);
        for (int j = 0; j < n->n_in; j++) grad |= g->values[n->in[j]].needs_grad;
        g->values[n->out].needs_grad = grad;
    }
}

/* Every op, and the codec, has its kernels on the backend: a missing kernel
 * is this one line before the first step, never a call through NULL. */
static int check_kernels(const struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        const struct bmst_op_def *op = bmst_op(n->kind);
        if (op->supported && !op->supported(g->be))
            return bmst_error("the %s backend has no kernels for the %s op (node %d: %s)",
                              g->be->name, op->name, i, n->name);
    }
    return g->training ? bmst_saved_check_kernels(g) : 0;
}

/* Only ops that take a row stride read a channel prefix narrower than its
 * buffer: any other reader would see the wrong elements, so a builder that
 * wires one is refused. */
static int check_strided_reads(const struct bmst_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            const struct bmst_value *v = &g->values[n->in[j]];
            int strided = v->row_stride != 0 && v->row_stride != v->shape.c;
            if (strided && !bmst_op(n->kind)->strided_inputs)
                return bmst_error("the %s op cannot read a channel prefix of a wider buffer "
                                  "(node %d: %s)",
                                  bmst_op(n->kind)->name, i, n->name);
        }
    }
    return 0;
}

/* Each op's own planning with the backend; workspace_bytes is the largest
 * scratch any of them needs (one node runs at a time). */
static int plan_ops(struct bmst_graph *g) {
    size_t workspace = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        const struct bmst_op_def *op = bmst_op(n->kind);
        size_t bytes = 0;
        if (op->plan && op->plan(g, n, &bytes) != 0) return -1;
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

/* A value placed apart from its buffer's first value: it shares that one's block. */
static int in_buffer(const struct bmst_value *v, int value) {
    return v->buffer >= 0 && v->buffer != value;
}

/* The bytes of the block a value is planned in: its own, or for a buffer's
 * first value the whole buffer (every row at the buffer's full width). */
static size_t block_bytes(const struct bmst_graph *g, int value) {
    const struct bmst_value *v = &g->values[value];
    if (v->buffer != value) return bmst_graph_value_bytes(g, value);
    struct bmst_shape s = v->shape;
    s.c = v->row_stride;
    size_t elem = v->dtype == BMST_F32 ? sizeof(float) : g->be->act_bytes;
    return bmst_shape_count(s) * elem;
}

/* Values a reversible unit rebuilds in backward (graph.h's rebuilt): its
 * input 0, where the unit is the value's only reader and says it can
 * rebuild it, and the value's producer is a unit too. A rebuilt value is
 * close to the forward one, not equal to it: another producer's backward
 * could read it for more than a unit's does (a ReLU's, whether each element
 * is positive, which an exact 0 rebuilt as +1e-9 would flip), so its input
 * is kept as usual, as the paper keeps each stage's input. */
static void mark_rebuilt(struct bmst_graph *g) {
    int *readers = bmst_xcalloc((size_t)(g->n_values ? g->n_values : 1), sizeof *readers);
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) readers[g->nodes[i].in[j]]++;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        const struct bmst_op_def *op = bmst_op(n->kind);
        if (!op->rebuilds_input || !op->rebuilds_input(g, n)) continue;
        struct bmst_value *v = &g->values[n->in[0]];
        v->rebuilt = readers[n->in[0]] == 1 && n->in[0] != g->logits && v->buffer < 0 &&
                     g->nodes[v->producer].kind == n->kind;
    }
    free(readers);
}

/* The step at which every value is last read: by a forward reader, or, for
 * a value kept plain, by the last backward that reads it again. Marks what
 * backward reads (saved), what each reader needs of it, and its codec; and
 * last_reader[v], the last node reading v in forward (where its gradient
 * starts). What a codec stores is added by add_saved. */
static void lifetimes(struct bmst_graph *g, int steps, int *last_use, int *last_reader,
                      int *last_backward) {
    unsigned *needs = bmst_xcalloc((size_t)g->n_values, sizeof *needs);
    for (int v = 0; v < g->n_values; v++) {
        last_reader[v] = g->values[v].producer;
        last_use[v] = g->nodes[g->values[v].producer].kind == BMST_OP_INPUT ? 0 : last_reader[v];
        last_backward[v] = -1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) last_reader[n->in[j]] = last_use[n->in[j]] = i;
    }
    if (g->training) mark_rebuilt(g);
    for (int i = 0; g->training && i < g->n_nodes; i++) {
        const struct bmst_op_def *op = bmst_op(g->nodes[i].kind);
        /* backward never runs a node no gradient flows out of (a frozen
         * prefix, --freeze): it keeps nothing */
        if (g->nodes[i].kind != BMST_OP_XENT && !g->values[g->nodes[i].out].needs_grad) continue;
        for (int j = 0; j < op->n_saved; j++) {
            int v = bmst_saved_value(&g->nodes[i], j);
            g->values[v].saved = 1;
            needs[v] |= op->saved[j].need;
            if (steps - 1 - i > last_backward[v]) last_backward[v] = steps - 1 - i;
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        val->needs = needs[v];
        /* what a rerun reads is kept exactly, so that the rerun is */
        int coded = val->saved && !val->recompute && !val->rerun_input;
        val->codec = coded ? bmst_saved_codec(g, v, needs[v]) : BMST_ACT_CODEC_PLAIN;
        if (val->saved && !val->recompute && !val->rebuilt && val->codec == BMST_ACT_CODEC_PLAIN &&
            last_backward[v] > last_use[v])
            last_use[v] = last_backward[v];
    }
    bmst_recompute_extend(g, steps, last_use);
    /* read by the host after the step */
    if (g->logits >= 0) last_use[g->logits] = steps - 1;
    if (g->aux_logits >= 0) last_use[g->aux_logits] = steps - 1;
    free(needs);
}

/* What a codec other than plain keeps of each value, from its producer's
 * forward (where it is encoded) to its last backward reader, and the block
 * a value rebuilt in backward is written to, from its reader's backward to
 * its producer's. Counts in g->saved_bytes what is kept for backward (a
 * rebuilt value is not), in saved_plain_bytes what plain would keep. */
static int add_saved(struct bmst_graph *g, int steps, const int *last_reader,
                     const int *last_backward, struct interval *items, int n_items, size_t *naive) {
    g->saved_bytes = g->saved_plain_bytes = 0;
    /* a buffer's prefixes are kept as the buffer: counted once, whole */
    char *buffer_saved = bmst_xcalloc((size_t)g->n_values, 1);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].saved && g->values[v].buffer >= 0) buffer_saved[g->values[v].buffer] = 1;
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        if (val->rebuilt) {
            /* from its reader's backward, which writes it, to its producer's */
            size_t bytes = align_up(bmst_graph_value_bytes(g, v));
            items[n_items++] = (struct interval){bytes, steps - 1 - last_reader[v],
                                                 last_backward[v], &val->rebuilt_offset};
            *naive += bytes;
            continue;
        }
        if (in_buffer(val, v) && val->codec == BMST_ACT_CODEC_PLAIN) continue;
        if (!val->saved && !(val->buffer == v && buffer_saved[v])) continue;
        size_t whole = align_up(block_bytes(g, v));
        g->saved_plain_bytes += whole;
        if (val->recompute) continue; /* produced again in backward: recompute.c */
        if (val->codec == BMST_ACT_CODEC_PLAIN) {
            g->saved_bytes += whole;
            continue;
        }
        val->stored_bytes = bmst_saved_stored_bytes(g, v);
        size_t bytes = align_up(val->stored_bytes);
        items[n_items++] =
            (struct interval){bytes, val->producer, last_backward[v], &val->stored_offset};
        g->saved_bytes += bytes;
        *naive += bytes;
    }
    free(buffer_saved);
    return n_items;
}

/* A buffer of the value's size for each backward read that gets its value
 * decoded from the codec's form, alive during that backward alone. */
static int add_decodes(struct bmst_graph *g, int steps, struct interval *items, int n_items,
                       size_t *naive) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct bmst_node *n = &g->nodes[i];
        for (int j = 0; j < bmst_op(n->kind)->n_saved; j++) {
            if (!bmst_saved_decoded(g, n, j)) continue;
            size_t bytes = align_up(bmst_graph_value_bytes(g, bmst_saved_value(n, j)));
            items[n_items++] =
                (struct interval){bytes, steps - 1 - i, steps - 1 - i, &n->decode_offset[j]};
            *naive += bytes;
        }
    }
    return n_items;
}

/* Where a rerun writes each value it produces again, alive from the rerun
 * to the value's last backward reader (recompute.h). */
static int add_reruns(struct bmst_graph *g, int steps, const int *last_backward,
                      struct interval *items, int n_items, size_t *naive) {
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        int first, last;
        if (!bmst_recompute_span(g, steps, last_backward, v, &first, &last)) continue;
        size_t bytes = align_up(bmst_graph_value_bytes(g, v));
        items[n_items++] = (struct interval){bytes, first, last, &val->rerun_offset};
        *naive += bytes;
    }
    return n_items;
}

/* A buffer's block must hold from the first of its values' lifetimes to the
 * last, and so must its gradient: each value's span is folded into its
 * buffer's first value, which is the one placed. */
struct span {
    int first, last, gfirst, glast;
};

static void buffer_spans(struct bmst_graph *g, int steps, const int *last_use,
                         const int *last_reader, struct span *span) {
    for (int v = 0; v < g->n_values; v++) {
        const struct bmst_value *val = &g->values[v];
        /* inputs are written before the step starts */
        span[v].first = g->nodes[val->producer].kind == BMST_OP_INPUT ? 0 : val->producer;
        span[v].last = last_use[v];
        /* a gradient is written by the backward of its value's last reader and
         * read by its producer's */
        span[v].gfirst = steps - 1 - last_reader[v];
        span[v].glast = steps - 1 - val->producer;
    }
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        if (!in_buffer(val, v)) continue;
        struct span *b = &span[val->buffer], *m = &span[v];
        struct bmst_value *root = &g->values[val->buffer];
        if (m->first < b->first) b->first = m->first;
        if (m->last > b->last) b->last = m->last;
        if (val->needs_grad) {
            if (!root->needs_grad || m->gfirst < b->gfirst) b->gfirst = m->gfirst;
            if (!root->needs_grad || m->glast > b->glast) b->glast = m->glast;
            root->needs_grad = 1;
        }
    }
}

int bmst_graph_plan(struct bmst_graph *g) {
    if (check_kernels(g) != 0 || check_strided_reads(g) != 0) return -1;
    if (g->training) mark_gradients(g);
    /* before the ops' planning: a batch norm that is rerun needs more scratch */
    if (bmst_recompute_mark(g) != 0) return -1;
    if (plan_ops(g) != 0) return -1;
    int steps = g->training ? 2 * g->n_nodes : g->n_nodes;
    int *last_use = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    int *last_reader = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    int *last_backward = bmst_xmalloc((size_t)g->n_values * sizeof(int));
    lifetimes(g, steps, last_use, last_reader, last_backward);

    /* a value, its gradient, its codec's form and its rerun; a scratch and
     * decoded reads per node */
    size_t max_items = (size_t)(4 * g->n_values + (1 + BMST_MAX_SAVED) * g->n_nodes);
    struct interval *items = bmst_xcalloc(max_items, sizeof *items);
    int n_items = 0;
    size_t naive = 0;
    struct span *span = bmst_xmalloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *span);
    buffer_spans(g, steps, last_use, last_reader, span);
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        if (in_buffer(val, v)) continue; /* placed with its buffer */
        size_t bytes = align_up(block_bytes(g, v));
        items[n_items++] = (struct interval){bytes, span[v].first, span[v].last, &val->offset};
        naive += bytes;
        if (g->training && val->needs_grad) {
            items[n_items++] =
                (struct interval){bytes, span[v].gfirst, span[v].glast, &val->grad_offset};
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
    if (g->training) {
        n_items = add_saved(g, steps, last_reader, last_backward, items, n_items, &naive);
        n_items = add_decodes(g, steps, items, n_items, &naive);
        n_items = add_reruns(g, steps, last_backward, items, n_items, &naive);
    }
    g->arena_bytes = pack_intervals(items, n_items);
    for (int v = 0; v < g->n_values; v++) {
        struct bmst_value *val = &g->values[v];
        if (!in_buffer(val, v)) continue;
        val->offset = g->values[val->buffer].offset;
        val->grad_offset = g->values[val->buffer].grad_offset;
    }
    free(span);
    g->scalars_offset = align_up(g->arena_bytes);
    g->naive_bytes = naive;
    free(items);
    free(last_use);
    free(last_reader);
    free(last_backward);
    return 0;
}

size_t bmst_graph_device_bytes(const struct bmst_graph *g) {
    return g->scalars_offset + align_up(BMST_SCALAR_COUNT * sizeof(float)) +
           align_up(g->workspace_bytes);
}

void bmst_graph_sync_bn(struct bmst_graph *g, const struct bmst_bn_sync *sync) {
    BMST_ASSERT(g->training);
    g->bn_sync = sync;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].kind == BMST_OP_BN) g->nodes[i].desc.bn.sync = sync;
}

void bmst_mix_coefficients(int m, float lam, float *coef) {
    BMST_ASSERT(m >= 1 && m <= BMST_MAX_MERGE);
    for (int j = 0; j < m; j++) {
        /* chunk j enters the fold at step j (chunk 0 is the start value) and is
         * then scaled by lam once for every later chunk */
        double w = j == 0 ? 1.0 : 1.0 - lam;
        for (int later = (j == 0 ? 1 : j + 1); later < m; later++)
            w *= lam;
        coef[j] = (float)w;
    }
}
