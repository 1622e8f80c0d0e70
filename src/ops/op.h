/* The op table: what the planner and the executor know of an op kind, one
 * entry per kind (ops/op_list.h), each defined in its own file ops/<name>.c
 * beside the op's builder (ops/ops.h). The planner asks an entry whether the
 * backend has the op's kernels, what its backward reads again, and for its
 * own planning; the executor calls its forward and backward; bench and info
 * count its FLOPs. Also the helpers the op files share. */
#ifndef BMST_OP_H
#define BMST_OP_H

#include "exec.h"
#include "saved.h"

struct bmst_op_def {
    const char *name; /* as info, bench and messages print it */
    /* the values backward reads again, and what it needs of each: use j is
     * what bmst_saved_get(x, n, j) returns in backward */
    int n_saved;
    struct bmst_saved_use saved[BMST_MAX_SAVED];
    /* 1 when the op reads inputs that are channel prefixes of a wider
     * buffer (graph.h's row_stride); the planner refuses any other reader */
    int strided_inputs;
    /* 1 when backward may run the op's forward again (recompute.h): it
     * writes nothing but its output (and scratch), and the same inputs give
     * the same bits */
    int rerun;
    /* optional: 1 when node n's backward rebuilds its input 0 from its own
     * output (a reversible unit), so that where n is the input's only
     * reader the plan keeps the input for no backward (graph.h's rebuilt) */
    int (*rebuilds_input)(const struct bmst_graph *g, const struct bmst_node *n);
    /* 1 when the backend has this op's kernels (its group in backend.h);
     * NULL: the op needs none */
    int (*supported)(const struct bmst_backend *be);
    /* optional, at planning: what the op settles with the backend before any
     * step (convolutions: the passes this graph runs, their algorithms), and
     * the workspace it needs in *ws_bytes (one workspace serves every node,
     * since one runs at a time). -1 with a one-line reason. */
    int (*plan)(struct bmst_graph *g, struct bmst_node *n, size_t *ws_bytes);
    /* floating-point operations of the node's forward (backward 0) or of the
     * backward passes the graph runs (backward 1): multiply-adds count 2, an
     * elementwise operation 1, copies nothing */
    double (*flops)(const struct bmst_graph *g, const struct bmst_node *n, int backward);
    void (*forward)(struct bmst_exec *x, const struct bmst_node *n);
    /* optional: an op that takes no gradient (the inputs) */
    void (*backward)(struct bmst_exec *x, const struct bmst_node *n);
};

/* The entry of op kind `kind`. */
const struct bmst_op_def *bmst_op(enum bmst_op_kind kind);
const char *bmst_op_name(enum bmst_op_kind kind);

/* FLOPs of node n's forward and, in a training graph, its backward. */
double bmst_op_node_flops(const struct bmst_graph *g, const struct bmst_node *n);

/* For the builders: appends a node of `kind` reading ins[0..n_in) and
 * producing one value of `shape`, in the activation type. */
struct bmst_node *bmst_op_append(struct bmst_graph *g, enum bmst_op_kind kind, const char *name,
                                 const int *ins, int n_in, struct bmst_shape shape);
/* Output size of a window of k with stride and padding over `in`. */
int bmst_op_window_out(int in, int k, int stride, int pad);
/* A pooling node of `kind` with a k x k window over x (its desc.pool set). */
struct bmst_node *bmst_op_append_pool(struct bmst_graph *g, enum bmst_op_kind kind, int x, int k,
                                      int stride, int pad);

/* For forward and backward: the fp32 data of node n's parameter i, the
 * compute copy (act_dtype) of its parameter i, and the gradient of its
 * parameter i (fp32). */
float *bmst_op_param(const struct bmst_exec *x, const struct bmst_node *n, int i);
const void *bmst_op_weight(const struct bmst_exec *x, const struct bmst_node *n, int i);
float *bmst_op_param_grad(const struct bmst_exec *x, const struct bmst_node *n, int i);
/* Elements of node n's output. */
size_t bmst_op_out_count(const struct bmst_exec *x, const struct bmst_node *n);

#endif
