/* The static graph and its plan: values (activations) and nodes (ops) in
 * topological order, built once for a batch size, then planned: every value,
 * its gradient, what a codec keeps of it for backward and every node's
 * scratch get an offset in one arena from a liveness analysis, so a step allocates nothing
 * and the peak is known before it runs. The plan is all this header owns:
 * the memory it is run in and the run's state are exec.h's. */
#ifndef BMST_GRAPH_H
#define BMST_GRAPH_H

#include <stddef.h>

#include "backend.h"
#include "model.h"
#include "tensor.h"

#define BMST_MAX_INPUTS 8
#define BMST_MAX_MERGE BMST_MAX_MIX

/* The op kinds, from ops/op_list.h; each has its entry in the op table
 * (ops/op.h), and its code in ops/<name>.c. */
enum bmst_op_kind {
#define BMST_OP(kind, name) BMST_OP_##kind,
#include "ops/op_list.h"
#undef BMST_OP
    BMST_OP_KIND_COUNT
};

/* How the activations backward reads again are kept (saved.h): `plain`
 * keeps each value itself; `relu-mask` keeps a value that only a ReLU's
 * backward reads again (which needs only whether each element is positive)
 * as one bit per element, and the value itself only for its forward
 * readers; `division` keeps what convolutions, batch norms and linear
 * layers read again as DIVISION's low- and high-frequency parts (backend.h,
 * struct bmst_division_desc), decoded before each such read, and ReLU's
 * reads as one bit per element. */
enum bmst_act_codec {
    BMST_ACT_CODEC_PLAIN,
    BMST_ACT_CODEC_RELU_MASK,
    BMST_ACT_CODEC_DIVISION,
};

/* What backward gets by rerunning forward instead of keeping it
 * (--recompute, recompute.h): nothing; the outputs of every batch norm and
 * ReLU pair (conv -> bn -> relu), rerun from the kept convolution output;
 * or everything inside each residual block, rerun from the block's input. */
enum bmst_recompute {
    BMST_RECOMPUTE_NONE,
    BMST_RECOMPUTE_BN_RELU,
    BMST_RECOMPUTE_BLOCK,
};

/* A run of nodes backward reruns forward (recompute.h): the nodes whose
 * `rerun` is this one's index, between first and last, rerun just before
 * node `at`'s backward, the first backward to read what they produce. */
struct bmst_rerun {
    int first, last, at;
};

#define BMST_MAX_SAVED 2 /* values one node's backward reads again */

struct bmst_rev_unit;

/* An activation: its shape and where it, its gradient and what backward
 * keeps of it live in the arena. */
struct bmst_value {
    struct bmst_shape shape;
    enum bmst_dtype dtype; /* the backend's act_dtype; targets are fp32 */
    int producer;       /* node index */
    int needs_grad;     /* a gradient flows back into this value */
    int saved;          /* read again by a backward (through bmst_saved_get) */
    /* how backward's reads of it are kept: BMST_ACT_CODEC_PLAIN keeps the
     * value itself alive until its last backward reader; any other codec
     * keeps `stored_bytes` at stored_offset from its producer's forward to
     * that backward, and the value only for its forward readers */
    enum bmst_act_codec codec;
    /* what its backward readers need of it (saved.h's enum bmst_saved_need) */
    unsigned needs;
    /* 1: not kept for backward but produced again by a rerun of its
     * producer (recompute.h), at rerun_offset, alive from the rerun to its
     * last backward reader */
    int recompute;
    /* 1: read by a rerun, so kept as itself (plain) until that rerun */
    int rerun_input;
    size_t rerun_offset;
    size_t offset;      /* bytes into the arena */
    size_t grad_offset; /* bytes into the arena, when needs_grad */
    size_t stored_offset, stored_bytes;
    /* A channel prefix of a shared buffer (a dense block's running
     * concatenation, ops/append.c): `buffer` is the value whose planned
     * block holds it (-1: a value of its own; itself for the buffer's first
     * value), `row_stride` the buffer's channels, the elements between two
     * rows of this value and of its gradient (0: shape.c, contiguous). A
     * prefix starts where its buffer does, so it shares the buffer's offset
     * and grad_offset. */
    int buffer;
    int row_stride;
    /* A reversible unit's input that its reader (the unit, ops/reversible.c)
     * rebuilds from its own output in backward: kept from forward for no
     * backward; the reader writes it at rebuilt_offset when its backward
     * starts, and the value's producer and the reader read it there
     * (bmst_saved_get). So a stage of such units keeps only its output. */
    int rebuilt;
    size_t rebuilt_offset;
};

/* A loss node's scalars (enum bmst_scalar): where its forward writes the
 * loss and where its backward reads the gradient's scale. */
struct bmst_loss_desc {
    int loss_scalar, scale_scalar;
};

struct bmst_node {
    enum bmst_op_kind kind;
    char name[64];
    int in[BMST_MAX_INPUTS];
    int n_in;
    int out;
    int param[4]; /* conv: weight; bn: gamma, beta, running mean, running var; fc: weight, bias */
    union {
        struct bmst_conv_desc conv;
        struct bmst_bn_desc bn;
        struct bmst_pool_desc pool;
        struct bmst_dropout_desc dropout;
        struct bmst_loss_desc loss;
        int rev_unit; /* reversible unit: its index in the graph's rev_units */
    } desc;
    size_t scratch_offset; /* bytes into the arena: BN batch mean/invstd, XENT probabilities */
    size_t scratch_bytes;
    /* the residual block the model builder put it in (bmst_graph_mark_block), or -1 */
    int block;
    /* the rerun (g->reruns) that runs it again in backward, or -1 */
    int rerun;
    unsigned conv_passes; /* conv: the passes planned (enum bmst_conv_pass), which exec runs */
    /* bytes into the arena: where backward gets saved use j decoded, for a
     * use whose value the codec keeps in a form that is decoded to be read
     * (saved.h); a block alive during this node's backward alone */
    size_t decode_offset[BMST_MAX_SAVED];
};

struct bmst_graph {
    struct bmst_model *model;
    struct bmst_backend *be;
    int training; /* 1: batch statistics, backward planned; 0: evaluation */
    int batch;    /* samples entering the network */
    int merge;    /* BMST factor m (1 in evaluation graphs) */
    int classes;
    enum bmst_act_codec act_codec;     /* set before planning; plain by default */
    int division_block, division_bits; /* the division codec's B and Q (set with it) */
    enum bmst_recompute recompute;     /* set before planning; none by default */
    int n_blocks;                      /* residual blocks marked by the builder */

    struct bmst_value *values;
    int n_values, cap_values;
    struct bmst_node *nodes;
    int n_nodes, cap_nodes;
    /* the reversible units' descriptions (ops/reversible.h), nodes point in */
    struct bmst_rev_unit *rev_units;
    int n_rev_units, cap_rev_units;
    /* --sync-bn's statistics across ranks (bmst_graph_sync_bn), for the batch
     * norms inside reversible units; NULL: this rank's batch alone */
    const struct bmst_bn_sync *bn_sync;

    int images;  /* value: [batch, h, w, c] input */
    int targets; /* value: [batch, 1, 1, classes] soft targets (training only) */
    int logits;  /* value: [batch / merge, 1, 1, classes] */
    /* node: the main loss */
    int loss_node;
    /* a second head's loss (InceptionV3's AuxLogits), weighted into the
     * step's loss; 0 without one */
    float aux_loss_weight;
    /* value: that head's logits, kept to the step's end as the logits are */
    int aux_logits;

    /* the plan */
    struct bmst_rerun *reruns; /* what backward reruns (recompute.h) */
    int n_reruns;
    size_t arena_bytes;     /* liveness-packed activations, gradients and scratch */
    size_t scalars_offset;  /* the step's scalars, after the planned blocks in the arena */
    size_t naive_bytes;     /* what keeping everything alive would take */
    size_t workspace_bytes; /* conv scratch, shared by all convs */
    /* what is kept from forward for backward, as the codecs keep it (and
     * less what is recomputed), and as the plain codec would keep it
     * without recomputation (equal under plain, --recompute none) */
    size_t saved_bytes, saved_plain_bytes;
};

/* Starts an empty graph; model parameters are registered as nodes are added. */
void bmst_graph_init(struct bmst_graph *g, struct bmst_model *model, int training, int batch,
                     int merge, int classes);
void bmst_graph_free(struct bmst_graph *g);

/* Values and nodes, used by the op builders in ops/. */
int bmst_graph_add_value(struct bmst_graph *g, struct bmst_shape shape, int producer);
struct bmst_node *bmst_graph_add_node(struct bmst_graph *g, enum bmst_op_kind kind,
                                      const char *name);

/* Marks the nodes appended since the graph had `first_node` nodes as one
 * residual block (what --recompute block reruns from its input). */
void bmst_graph_mark_block(struct bmst_graph *g, int first_node);

/* Drops the nodes and values appended after the graph had n_nodes and
 * n_values (before planning); the parameters they registered stay in the
 * model. An evaluation graph builds a training-only head this way so that it
 * knows the head's parameters (checkpoints hold them) without running it. */
void bmst_graph_truncate(struct bmst_graph *g, int n_nodes, int n_values);

/* The plan: first that the backend has the kernels of every op and of the
 * codec (else -1 with one line naming the op or codec and the backend), then
 * each op's own planning (convolutions are planned with the backend for the
 * passes this graph runs, the backend choosing its algorithms here: forward,
 * and in a training graph the filter gradient and, where the input takes a
 * gradient, the input gradient; -1 with a one-line reason naming the layer
 * and its shape when the backend cannot run one), what backward keeps of
 * each value (saved.h), and the liveness plan: offsets, arena_bytes,
 * workspace_bytes. Errors go to bmst_last_error(). */
int bmst_graph_plan(struct bmst_graph *g);
/* Device bytes running the plan takes (bmst_exec_init): the arena with the
 * step's scalars and the workspace, alignment included. */
size_t bmst_graph_device_bytes(const struct bmst_graph *g);
/* The bytes of a value as stored. */
size_t bmst_graph_value_bytes(const struct bmst_graph *g, int value);

/* Makes every batch norm of a training graph take its statistics over all
 * ranks through `sync` (which must outlive the graph); NULL undoes it. */
void bmst_graph_sync_bn(struct bmst_graph *g, const struct bmst_bn_sync *sync);

/* Chunk weights of the left fold r = chunk0; r = lam*r + (1-lam)*chunk_j:
 * coef[0] = lam^(m-1), coef[j] = (1-lam) * lam^(m-1-j) for j >= 1. */
void bmst_mix_coefficients(int m, float lam, float *coef);

#endif
