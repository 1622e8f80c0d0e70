/* The static graph: values (activations) and nodes (ops) in topological order,
 * built once for a batch size, then planned: every value and its gradient get
 * an offset in one arena from a liveness analysis, so a step allocates nothing
 * and the peak is known before it runs. */
#ifndef BMST_GRAPH_H
#define BMST_GRAPH_H

#include <stddef.h>
#include <stdio.h>

#include "backend.h"
#include "model.h"
#include "tensor.h"

#define BMST_MAX_INPUTS 8
#define BMST_MAX_MERGE BMST_MAX_MIX

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
    enum bmst_dtype dtype; /* the backend's act_dtype; targets are fp32 */
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
    unsigned conv_passes; /* conv: the passes planned (enum bmst_conv_pass), which exec runs */
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

    /* the step's scalars (enum bmst_scalar): set on the host, uploaded before
     * a pass, read back after it; `scalars` is their device copy */
    float host_scalars[BMST_SCALAR_COUNT];
    float *scalars;
    float loss; /* mean loss of the last training pass, read back */

    /* capture: when set and the backend can, the second training pass is
     * recorded and every later one replays the record. Where the recording
     * fails, capture is cleared, that pass and every later one run op by op,
     * and one line saying why goes to `notes` */
    int capture;
    int passes_run;
    void *recording;
    double forward_share; /* of an eager pass's time, to apportion a replayed one */
    FILE *notes;          /* the run's notices: stdout, or NULL (ranks other than 0) */

    /* optional: called after every backward op with where the final part of
     * the model's gradient buffer begins (grads[first_final, n_weights) will
     * not change again this pass): the gradient all-reduce starts its buckets
     * from it. Not called inside a recorded pass. */
    void (*on_grads_ready)(void *ctx, size_t first_final);
    void *on_grads_ctx;

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

/* The liveness plan: offsets, arena_bytes and workspace_bytes. Every
 * convolution is planned with the backend for the passes this graph runs
 * (the backend chooses its algorithms here): forward, and in a training
 * graph the filter gradient and, where the input takes a gradient, the input
 * gradient. Returns -1 with a one-line reason naming the layer and its shape
 * in bmst_last_error() when the backend cannot run one. */
int bmst_graph_plan(struct bmst_graph *g);
/* Device bytes bmst_graph_allocate takes, alignment included. */
size_t bmst_graph_device_bytes(const struct bmst_graph *g);
/* The arena (with the scalars) and the workspace. Returns -1 when out of memory. */
int bmst_graph_allocate(struct bmst_graph *g);

/* Device pointers of a value and its gradient (after allocation), and the
 * bytes of a value as stored. */
void *bmst_graph_value(const struct bmst_graph *g, int value);
void *bmst_graph_grad(const struct bmst_graph *g, int value);
size_t bmst_graph_value_bytes(const struct bmst_graph *g, int value);

/* Copies host_scalars to the device (a training pass does it first). */
void bmst_graph_upload_scalars(struct bmst_graph *g);
/* One forward pass (evaluation graphs; the logits stay on the device). A
 * training graph's forward reads the uploaded scalars and leaves the loss in
 * the device's BMST_SCALAR_LOSS. */
void bmst_graph_forward(struct bmst_graph *g);
/* A training pass: uploads the scalars, runs forward and backward (replaying
 * the recording where there is one), reads the scalars back and sets g->loss.
 * Fills the model's gradient buffer (overwritten). seconds[] gets the forward
 * and backward time; a replayed pass cannot be split, so its time is
 * apportioned as the last eager pass's was. */
void bmst_graph_train_pass(struct bmst_graph *g, double seconds[2]);

/* Makes every batch norm of a training graph take its statistics over all
 * ranks through `sync` (which must outlive the graph); NULL undoes it. */
void bmst_graph_sync_bn(struct bmst_graph *g, const struct bmst_bn_sync *sync);

/* Chunk weights of the left fold r = chunk0; r = lam*r + (1-lam)*chunk_j:
 * coef[0] = lam^(m-1), coef[j] = (1-lam) * lam^(m-1-j) for j >= 1. */
void bmst_mix_coefficients(int m, float lam, float *coef);

const char *bmst_op_name(enum bmst_op_kind kind);

#endif
