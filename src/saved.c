/* Saved activations through one interface (saved.h): the codecs, which of
 * them keeps each value, and getting a value back in backward. A codec other
 * than plain adds to the plan (graph.c) the form it stores, alive from the
 * value's producer's forward to the value's last backward reader. */
#include "saved.h"

#include <string.h>

#include "error.h"
#include "ops/op.h"

/* A way of keeping a value for backward; plain keeps the value itself and
 * has no functions. */
struct codec {
    const char *name;
    unsigned serves;           /* the needs (enum bmst_saved_need bits) it meets */
    enum bmst_saved_form form; /* what its readers get */
    size_t (*stored_bytes)(size_t elements);
    int (*supported)(const struct bmst_backend *be);
    /* after the value's producer's forward: `elements` of value into stored */
    void (*encode)(struct bmst_backend *be, size_t elements, const void *value, void *stored);
};

/* One bit per element, set where it is positive: all ReLU's backward reads
 * of its output, which it reads from the mask itself (relu bwd_mask). */
static size_t mask_bytes(size_t elements) {
    return (elements + 31) / 32 * sizeof(uint32_t);
}

static int mask_supported(const struct bmst_backend *be) {
    return be->sign_mask != NULL;
}

static void mask_encode(struct bmst_backend *be, size_t elements, const void *value, void *stored) {
    be->sign_mask->pack(be, elements, value, stored);
}

static const struct codec codecs[] = {
    [BMST_ACT_CODEC_PLAIN] = {.name = "plain",
                              .serves = BMST_SAVED_WHOLE | BMST_SAVED_SIGN,
                              .form = BMST_SAVED_AS_VALUE},
    [BMST_ACT_CODEC_RELU_MASK] = {.name = "relu-mask",
                                  .serves = BMST_SAVED_SIGN,
                                  .form = BMST_SAVED_AS_SIGN_MASK,
                                  .stored_bytes = mask_bytes,
                                  .supported = mask_supported,
                                  .encode = mask_encode},
};
#define N_CODECS (sizeof codecs / sizeof codecs[0])

int bmst_saved_value(const struct bmst_node *n, int j) {
    const struct bmst_op_def *op = bmst_op(n->kind);
    BMST_ASSERT(j >= 0 && j < op->n_saved);
    int input = op->saved[j].input;
    return input == BMST_SAVED_OUTPUT ? n->out : n->in[input];
}

enum bmst_act_codec bmst_saved_codec(const struct bmst_graph *g, int value, unsigned needs) {
    const struct bmst_value *v = &g->values[value];
    /* the codecs encode activations; the host reads the logits after a pass */
    if (value == g->logits || v->dtype != g->be->act_dtype) return BMST_ACT_CODEC_PLAIN;
    return (needs & ~codecs[g->act_codec].serves) == 0 ? g->act_codec : BMST_ACT_CODEC_PLAIN;
}

size_t bmst_saved_stored_bytes(const struct bmst_graph *g, int value) {
    const struct codec *c = &codecs[g->values[value].codec];
    return c->stored_bytes ? c->stored_bytes(bmst_shape_count(g->values[value].shape)) : 0;
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
    const struct bmst_value *v = &x->graph->values[n->out];
    const struct codec *c = &codecs[v->codec];
    if (!c->encode) return;
    struct bmst_backend *be = x->graph->be;
    c->encode(be, bmst_shape_count(v->shape), (char *)x->arena + v->offset,
              (char *)x->arena + v->stored_offset);
}

struct bmst_saved bmst_saved_get(struct bmst_exec *x, const struct bmst_node *n, int j) {
    const struct bmst_value *v = &x->graph->values[bmst_saved_value(n, j)];
    const struct codec *c = &codecs[v->codec];
    /* the planner chose the codec for what every reader needs */
    BMST_ASSERT(bmst_op(n->kind)->saved[j].need & c->serves);
    size_t offset = c->encode ? v->stored_offset : v->offset;
    return (struct bmst_saved){(const char *)x->arena + offset, c->form};
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
