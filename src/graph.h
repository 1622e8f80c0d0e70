/* The static graph: values (activations) and nodes (ops) in topological order,
 * built once for a batch size, then planned: every value and its gradient get
 * an offset in one arena from a liveness analysis, so a step allocates nothing
 * and the peak is known before it runs. */
#ifndef BMST_GRAPH_H
#define BMST_GRAPH_H

#include <stddef.h>

#include "backend.h"
#include "model.h"
#include "tensor.h"

#define BMST_MAX_INPUTS 8
#define BMST_MAX_MERGE 8

enum bmst_op_kind {
    BMST_OP_INPUT, /* filled from outside: images, targets */
    BMST_OP_CONV,
    BMST_OP_BN,
    BMST_OP_RELU,
    BMST_OP_ADD,
    BMST_OP_MAXPOOL,
    BMST_OP_AVGPOOL,
    BMST_OP_GAP,
    BMST_OP_FC,
    BMST_OP_CONCAT,
    BMST_OP_MIX,
    BMST_OP_XENT,
};
#define BMST_OP_KIND_COUNT (BMST_OP_XENT + 1)

/* An activation: its shape and where it and its gradient live in the arena. */
struct bmst_value {
    struct bmst_shape shape;
    enum bmst_dtype dtype;
    int producer;       /* node index */
    int needs_grad;     /* a gradient flows back into this value */
    int saved;          /* read again by its consumer's backward */
    size_t offset;      /* bytes into the arena */
    size_t grad_offset; /* bytes into the arena, when needs_grad */
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
    } desc;
    size_t scratch_offset; /* bytes into the arena: BN batch mean/invstd, XENT probabilities */
    size_t scratch_bytes;
};

struct bmst_graph {
    struct bmst_model *model;
    struct bmst_backend *be;
    int training; /* 1: batch statistics, backward planned; 0: evaluation */
    int batch;    /* samples entering the network */
    int merge;    /* BMST factor m (1 in evaluation graphs) */
    int classes;

    struct bmst_value *values;
    int n_values, cap_values;
    struct bmst_node *nodes;
    int n_nodes, cap_nodes;

    int images;  /* value: [batch, h, w, c] input */
    int targets; /* value: [batch, 1, 1, classes] soft targets (training only) */
    int logits;  /* value: [batch / merge, 1, 1, classes] */
    int loss_node;

    /* the plan */
    size_t arena_bytes;     /* liveness-packed activations, gradients and scratch */
    size_t naive_bytes;     /* what keeping everything alive would take */
    size_t workspace_bytes; /* conv scratch, shared by all convs */
    void *arena;
    void *workspace;
    char *grad_written; /* [n_values] host flags used by backward */

    float mix_coef[BMST_MAX_MERGE]; /* this step's chunk weights (see bmst_mix_coefficients) */
    float loss;                     /* mean loss of the last forward (training graphs) */

    /* optional: seconds per op kind, forward [0, KIND_COUNT) then backward;
     * when set, every node is synchronized and timed (bench only) */
    double *profile;
};

/* Starts an empty graph; model parameters are registered as nodes are added. */
void bmst_graph_init(struct bmst_graph *g, struct bmst_model *model, int training, int batch,
                     int merge, int classes);
void bmst_graph_free(struct bmst_graph *g);

/* Values and nodes, used by the op constructors in ops.c. */
int bmst_graph_add_value(struct bmst_graph *g, struct bmst_shape shape, int producer);
struct bmst_node *bmst_graph_add_node(struct bmst_graph *g, enum bmst_op_kind kind,
                                      const char *name);

/* Liveness plan and the one arena allocation. Returns -1 when out of memory. */
int bmst_graph_plan(struct bmst_graph *g);

/* Device pointers of a value and its gradient (after planning). */
float *bmst_graph_value(const struct bmst_graph *g, int value);
float *bmst_graph_grad(const struct bmst_graph *g, int value);

/* One forward pass; training graphs also compute the loss into g->loss. */
void bmst_graph_forward(struct bmst_graph *g);
/* Backward from the loss: fills the model's gradient buffer (overwritten). */
void bmst_graph_backward(struct bmst_graph *g);

/* Chunk weights of the left fold r = chunk0; r = lam*r + (1-lam)*chunk_j:
 * coef[0] = lam^(m-1), coef[j] = (1-lam) * lam^(m-1-j) for j >= 1. */
void bmst_mix_coefficients(int m, float lam, float *coef);

const char *bmst_op_name(enum bmst_op_kind kind);

#endif
