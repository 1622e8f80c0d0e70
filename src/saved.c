/* Saved activations through one interface (saved.h): the codecs, which of
 * them keeps each value, and getting a value back in backward. A codec other
 * than plain adds to the plan (graph.c) the form it stores, alive from the
 * value's producer's forward to the value's last backward reader, and, where
 * a read gets the value decoded, a buffer for that read. */
#include "saved.h"

#include <string.h>

#include "error.h"
#include "ops/op.h"

/* A way of keeping a value for backward; plain keeps the value itself and
 * has no functions. A codec's form starts with the sign mask where a reader
 * needs signs (BMST_SAVED_SIGN, read as BMST_SAVED_AS_SIGN_MASK); a read
 * that needs the value (BMST_SAVED_APPROX) gets `decode`'s output. */
struct codec {
    const char *name;
    unsigned serves; /* the needs (enum bmst_saved_need bits) it meets */
    /* optional: 0 where the codec cannot keep value v for `needs` (the
     * value is then kept plain) */
    int (*fits)(const struct bmst_graph *g, int value, unsigned needs);
    /* the bytes of what follows the sign mask in the form */
    size_t (*payload_bytes)(const struct bmst_graph *g, int value);
    int (*supported)(const struct bmst_backend *be);
    /* after the value's producer's forward: value into payload */
    void (*encode)(const struct bmst_graph *g, int value, const void *data, void *payload);
    /* before a backward read: payload into out, of the value's size */
    void (*decode)(const struct bmst_graph *g, int value, const void *payload, void *out);
};

/* One bit per element, set where it is positive: all ReLU's backward reads
 * of its output, which it reads from the mask itself (relu bwd_mask). */
static size_t mask_bytes(size_t elements) {
    return (elements + 31) / 32 * sizeof(uint32_t);
}

static int mask_supported(const struct bmst_backend *be) {
    return be->sign_mask != NULL;
}

/* DIVISION: the value's shape with the run's B and Q. */
static struct bmst_division_desc division_desc(const struct bmst_graph *g, int value) {
    const struct bmst_shape s = g->values[value].shape;
    return (struct bmst_division_desc){s.n, s.h, s.w, s.c, g->division_block, g->division_bits};
}

static size_t division_bytes(const struct bmst_graph *g, int value) {
    struct bmst_division_desc d = division_desc(g, value);
    return bmst_division_layout_of(&d, g->be->act_bytes).bytes;
}

/* A value read whole is kept whole where DIVISION would not store less
 * (one element per channel, as a linear layer's N x 1 x 1 x C input, has
 * no high frequency to quantize: its mean is all of it), and so is a channel
 * prefix of a shared buffer (a dense block's concatenation), whose rows are
 * strided. */
static int division_fits(const struct bmst_graph *g, int value, unsigned needs) {
    const struct bmst_value *v = &g->values[value];
    if (!(needs & BMST_SAVED_APPROX)) return 1;
    return v->buffer < 0 && v->shape.h * v->shape.w > 1 &&
           division_bytes(g, value) < bmst_graph_value_bytes(g, value);
}

static size_t division_payload_bytes(const struct bmst_graph *g, int value) {
    return g->values[value].needs & BMST_SAVED_APPROX ? division_bytes(g, value) : 0;
}

static int division_supported(const struct bmst_backend *be) {
    return be->sign_mask != NULL && be->division != NULL;
}

static void division_encode(const struct bmst_graph *g, int value, const void *data,
                            void *payload) {
    if (!(g->values[value].needs & BMST_SAVED_APPROX)) return;
    struct bmst_division_desc d = division_desc(g, value);
    g->be->division->encode(g->be, &d, data, payload);
}

static void division_decode(const struct bmst_graph *g, int value, const void *payload, void *out) {
    struct bmst_division_desc d = division_desc(g, value);
    g->be->division->decode(g->be, &d, payload, out);
}

static const struct codec codecs[] = {
    [BMST_ACT_CODEC_PLAIN] = {.name = "plain",
                              .serves = BMST_SAVED_WHOLE | BMST_SAVED_SIGN | BMST_SAVED_APPROX},
    [BMST_ACT_CODEC_RELU_MASK] = {.name = "relu-mask",
                                  .serves = BMST_SAVED_SIGN,
                                  .supported = mask_supported},
    [BMST_ACT_CODEC_DIVISION] = {.name = "division",
                                 .serves = BMST_SAVED_SIGN | BMST_SAVED_APPROX,
                                 .fits = division_fits,
                                 .payload_bytes = division_payload_bytes,
                                 .supported = division_supported,
                                 .encode = division_encode,
                                 .decode = division_decode},
};
#define N_CODECS (sizeof codecs / sizeof codecs[0])

/* The bytes of value v's sign mask in its codec's form: 0 where no reader
 * needs signs, or where v is kept plain. */
static size_t form_mask_bytes(const struct bmst_graph *g, int value) {
    const struct bmst_value *v = &g->values[value];
    if (v->codec == BMST_ACT_CODEC_PLAIN || !(v->needs & BMST_SAVED_SIGN)) return 0;
    return bmst_division_align(mask_bytes(bmst_shape_count(v->shape)));
}

int bmst_saved_value(const struct bmst_node *n, int j) {
    const struct bmst_op_def *op = bmst_op(n->kind);
    BMST_ASSERT(j >= 0 && j < op->n_saved);
    int input = op->saved[j].input;
    return input == BMST_SAVED_OUTPUT ? n->out : n->in[input];
}

enum bmst_act_codec bmst_saved_codec(const struct bmst_graph *g, int value, unsigned needs) {
    const struct bmst_value *v = &g->values[value];
    const struct codec *c = &codecs[g->act_codec];
    /* the codecs encode activations; the host reads the logits after a pass */
    if (value == g->logits || v->dtype != g->be->act_dtype) return BMST_ACT_CODEC_PLAIN;
    if ((needs & ~c->serves) != 0 || (c->fits && !c->fits(g, value, needs)))
        return BMST_ACT_CODEC_PLAIN;
    return g->act_codec;
}

size_t bmst_saved_stored_bytes(const struct bmst_graph *g, int value) {
    const struct codec *c = &codecs[g->values[value].codec];
    return form_mask_bytes(g, value) + (c->payload_bytes ? c->payload_bytes(g, value) : 0);
}

int bmst_saved_decoded(const struct bmst_graph *g, const struct bmst_node *n, int j) {
    const struct codec *c = &codecs[g->values[bmst_saved_value(n, j)].codec];
    return c->decode && (bmst_op(n->kind)->saved[j].need & BMST_SAVED_APPROX);
}

int bmst_saved_check_kernels(const struct bmst_graph *g) {
    const struct codec *c = &codecs[g->act_codec];
    if (c->supported && !c->supported(g->be))
        return bmst_error("the %s backend has no kernels for the %s activation codec "
                          "(--act-codec %s)",
                          g->be->name, c->name, c->name);
    return 0;
}

void bmst_saved_keep(struct bmst_exec *x, const struct bmst_node *n) {
    const struct bmst_graph *g = x->graph;
    const struct bmst_value *v = &g->values[n->out];
    if (v->codec == BMST_ACT_CODEC_PLAIN) return;
    const struct codec *c = &codecs[v->codec];
    const void *data = (char *)x->arena + v->offset;
    char *stored = (char *)x->arena + v->stored_offset;
    if (v->needs & BMST_SAVED_SIGN)
        g->be->sign_mask->pack(g->be, bmst_shape_count(v->shape), data, (uint32_t *)stored);
    if (c->encode) c->encode(g, n->out, data, stored + form_mask_bytes(g, n->out));
}

struct bmst_saved bmst_saved_get(struct bmst_exec *x, const struct bmst_node *n, int j) {
    const struct bmst_graph *g = x->graph;
    int value = bmst_saved_value(n, j);
    const struct bmst_value *v = &g->values[value];
    const struct codec *c = &codecs[v->codec];
    unsigned need = bmst_op(n->kind)->saved[j].need;
    /* produced again by a rerun just before the first backward reading it */
    if (v->recompute)
        return (struct bmst_saved){(const char *)x->arena + v->rerun_offset, BMST_SAVED_AS_VALUE};
    /* the planner chose the codec for what every reader needs */
    BMST_ASSERT(need & c->serves);
    if (v->rebuilt)
        return (struct bmst_saved){(const char *)x->arena + v->rebuilt_offset, BMST_SAVED_AS_VALUE};
    if (v->codec == BMST_ACT_CODEC_PLAIN)
        return (struct bmst_saved){(const char *)x->arena + v->offset, BMST_SAVED_AS_VALUE};
    const char *stored = (const char *)x->arena + v->stored_offset;
    if (!bmst_saved_decoded(g, n, j)) return (struct bmst_saved){stored, BMST_SAVED_AS_SIGN_MASK};
    void *out = (char *)x->arena + n->decode_offset[j];
    c->decode(g, value, stored + form_mask_bytes(g, value), out);
    return (struct bmst_saved){out, BMST_SAVED_AS_VALUE};
}

void *bmst_saved_rebuild_target(struct bmst_exec *x, const struct bmst_node *n) {
    const struct bmst_value *v = &x->graph->values[n->in[0]];
    return v->rebuilt ? (char *)x->arena + v->rebuilt_offset : NULL;
}

const char *bmst_act_codec_name(enum bmst_act_codec codec) {
    return codecs[codec].name;
}

int bmst_act_codec_parse(const char *text, enum bmst_act_codec *codec) {
    for (size_t i = 0; i < N_CODECS; i++)
        if (strcmp(text, codecs[i].name) == 0) {
            *codec = (enum bmst_act_codec)i;
            return 0;
        }
    return -1;
}
