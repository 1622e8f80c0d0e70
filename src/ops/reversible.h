/* The reversible unit of Gomez et al. (2017), "The Reversible Residual
 * Network", as one node: x = (x1, x2) split on channels, y1 = s(x1) + F(x2),
 * y2 = s(x2) + G(y1), y = (y1, y2), with F and G pre-activation residual
 * functions ([BN-ReLU-]conv layers) and s the shortcut of each half
 * (identity, or where the unit changes shape, the paper's code's average
 * pool + zero channel padding for basic units and a 1x1 projection for
 * bottleneck ones). Nothing inside a unit lives in the arena: its
 * intermediates are workspace, alive during its own forward or backward.
 *
 * An invertible unit (stride 1, as many channels out as in) rebuilds its
 * input in backward, x2 = y2 - G(y1), x1 = y1 - F(x2), so the plan keeps no
 * input of it (graph.h's rebuilt); the others (a stage's first unit) keep
 * their input as any op does. Either way backward runs F and G forward again
 * on the input with the batch statistics forward kept (the node's scratch),
 * without touching the running statistics, then back through them. This is
 * the reversible blocks' own mechanism, apart from --recompute. */
#ifndef BMST_OPS_REVERSIBLE_H
#define BMST_OPS_REVERSIBLE_H

#include "graph.h"

#define BMST_REV_MAX_LAYERS 3

/* One residual function, F or G: `layers` times [BN-ReLU-]conv. */
struct bmst_rev_branch {
    int layers;
    int has_bn[BMST_REV_MAX_LAYERS]; /* 0 only for F's first layer in the network's first unit */
    struct bmst_bn_desc bn[BMST_REV_MAX_LAYERS];
    int bn_param[BMST_REV_MAX_LAYERS][4]; /* weight, bias, running_mean, running_var */
    struct bmst_conv_desc conv[BMST_REV_MAX_LAYERS];
    int conv_w[BMST_REV_MAX_LAYERS];
    size_t stats[BMST_REV_MAX_LAYERS]; /* scratch bytes: the batch mean, then invstd */
    /* workspace bytes: each conv's input (the BN-ReLU output, or the branch
     * input itself without BN) and output */
    size_t act[BMST_REV_MAX_LAYERS], out[BMST_REV_MAX_LAYERS];
};

enum bmst_rev_shortcut {
    BMST_REV_IDENTITY,
    BMST_REV_POOL_PAD, /* average pool (stride > 1) and zero channels on both sides */
    BMST_REV_PROJECT,  /* bias-free 1x1 conv with the stride */
};

struct bmst_rev_unit {
    int node;                /* its node's index */
    int n, h, w, c_in;       /* input */
    int out_h, out_w, c_out; /* output */
    int stride;
    int invertible;
    struct bmst_rev_branch f, g;
    enum bmst_rev_shortcut shortcut;
    struct bmst_pool_desc pool; /* POOL_PAD with stride > 1 */
    int pad_lo;                 /* POOL_PAD: the zero channels before a half's own */
    struct bmst_conv_desc proj; /* PROJECT, for either half */
    int proj_w[2];
    /* workspace bytes: the halves of x and y, a shortcut's output and its
     * pooled input, their gradients, two gradient buffers for the branches,
     * the whole input's gradient, and the convolutions' own workspace (dy2
     * shares y2's block, dx the two gradient buffers', see plan) */
    size_t x1, x2, y1, y2, short_out, pooled, dy1, dy2, dx1, dx2, grad[2], dx, conv_ws;
    /* --check-reconstruction (bmst_rev_check): a host copy of the input
     * taken in forward, and the worst relative error of the input rebuilt
     * in backward against it (-1: none measured) */
    int check;
    float *check_copy;
    double check_error;
};

/* Appends a unit reading x, named "<prefix>.f.bn1", "<prefix>.f.conv1", ...,
 * "<prefix>.g.*" and for a projection "<prefix>.downsample1"/"2" (one per
 * half); c_out channels out (even), the stride on F's first conv. `first`:
 * the network's first unit, whose F starts at its conv (the stem ended in
 * BN-ReLU). Returns the output value. */
int bmst_op_reversible(struct bmst_graph *g, int x, const char *prefix, int c_out, int stride,
                       int bottleneck, int first);

/* The trainable parameters unit node n holds (info's layer table; the
 * node's param[0] names only the first). */
size_t bmst_rev_unit_weights(const struct bmst_graph *g, const struct bmst_node *n);

/* --check-reconstruction: from the next training pass on (on = 1), every
 * invertible unit whose input is rebuilt keeps a host copy of its input in
 * forward and measures the rebuilt one against it in backward. */
void bmst_rev_check(struct bmst_graph *g, int on);
/* The worst relative error (max |rebuilt - x| / max |x| over the unit's
 * input) over the units measured in the last pass, and in *unit the node
 * index of the unit where it was (-1 and 0 when none was measured). */
double bmst_rev_check_worst(const struct bmst_graph *g, int *unit, int *measured);
/* Frees what the units hold beyond the graph's array (bmst_graph_free). */
void bmst_rev_units_free(struct bmst_graph *g);

#endif
