/* Saved activations: every value an op's backward reads again goes through
 * one interface. Each op says which of its values its backward reads and
 * what it needs of each (its saved uses, in the op table); the planner keeps
 * each such value with a codec and sizes what the codec stores; backward gets
 * it back with bmst_saved_get, in the form the plan chose for that read.
 *
 * A codec keeps a value from its producer's forward to its last backward
 * reader, either as the value itself (plain) or as a form of its own, which
 * it encodes right after the producer's forward; the value itself then lives
 * only as long as its forward readers need it. A value is kept with the
 * run's codec (--act-codec) only where the codec serves what every backward
 * reader needs of it; else plain. So under relu-mask a ReLU output that a
 * convolution also reads in backward stays whole, and under division it is
 * kept as both a sign mask (for the ReLU) and DIVISION's form (decoded for
 * the convolution). docs/design-notes.md ("Saved activations") says how
 * codecs, and recomputation, plug in. */
#ifndef BMST_SAVED_H
#define BMST_SAVED_H

#include "exec.h"

/* What a backward needs of a value it reads again (bits). */
enum bmst_saved_need {
    BMST_SAVED_WHOLE = 1u << 0, /* the value itself */
    BMST_SAVED_SIGN = 1u << 1,  /* only whether each element is positive (ReLU's backward) */
    /* the value or a close approximation of it, as a lossy codec decodes it:
     * what a convolution's, a batch norm's or a linear layer's backward
     * reads of its input */
    BMST_SAVED_APPROX = 1u << 2,
};

/* One value an op's backward reads again: one of its inputs, or its output. */
#define BMST_SAVED_OUTPUT (-1)
struct bmst_saved_use {
    int input; /* which input, or BMST_SAVED_OUTPUT */
    enum bmst_saved_need need;
};

/* The form a backward read gets (struct bmst_saved). */
enum bmst_saved_form {
    BMST_SAVED_AS_VALUE,     /* the value itself, in its type */
    BMST_SAVED_AS_SIGN_MASK, /* uint32_t words, bit i % 32 of word i / 32 set where element i
                                is positive (backend.h's sign_mask): for a SIGN need only */
};

struct bmst_saved {
    const void *data;
    enum bmst_saved_form form;
};

/* The value node n's saved use j names. */
int bmst_saved_value(const struct bmst_node *n, int j);

/* Planning (graph.c). The codec value v is kept with: the graph's act_codec
 * where it serves `needs` (the union of what v's backward readers need) and
 * v stays on the device between passes only for backward (the logits do
 * not: the host reads them), else plain. */
enum bmst_act_codec bmst_saved_codec(const struct bmst_graph *g, int value, unsigned needs);
/* The bytes value v's codec stores (0 for plain, which keeps v itself). */
size_t bmst_saved_stored_bytes(const struct bmst_graph *g, int value);
/* 1 when node n's backward gets its saved use j decoded from the codec's
 * form into a buffer of the value's size that the plan places
 * (n->decode_offset[j], alive during that backward alone), else 0. */
int bmst_saved_decoded(const struct bmst_graph *g, const struct bmst_node *n, int j);
/* 0 when the backend has the kernels of the graph's act_codec, else -1 with
 * one line naming the codec and the backend. */
int bmst_saved_check_kernels(const struct bmst_graph *g);

/* Running (exec.c): after node n's forward in a training pass, encodes its
 * output where the plan keeps it with a codec other than plain. */
void bmst_saved_keep(struct bmst_exec *x, const struct bmst_node *n);
/* In node n's backward: its saved use j, in the form the plan kept it (a use
 * that needs the whole value, or an approximation of it, always gets
 * BMST_SAVED_AS_VALUE, decoded first where the codec keeps another form).
 * The one way backward reads a value. */
struct bmst_saved bmst_saved_get(struct bmst_exec *x, const struct bmst_node *n, int j);

/* In node n's backward, before it reads its input 0: where n writes that
 * input rebuilt from its output when the plan rebuilds it (graph.h's
 * rebuilt; bmst_saved_get then reads it there), else NULL. */
void *bmst_saved_rebuild_target(struct bmst_exec *x, const struct bmst_node *n);

/* --act-codec's names: "plain", "relu-mask", "division". parse: 0, or -1 for an unknown name. */
const char *bmst_act_codec_name(enum bmst_act_codec codec);
int bmst_act_codec_parse(const char *text, enum bmst_act_codec *codec);

#endif
