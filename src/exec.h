/* Running a planned graph (graph.h): the memory the plan is placed in, the
 * step's scalars, and what a pass keeps between ops and between passes (who
 * has written which gradient, the recording, the profile). The executor is a
 * loop over the plan's nodes calling each op's entry in the op table
 * (ops/op.h): forward in order, backward in reverse. The plan itself is not
 * changed by running it. */
#ifndef BMST_EXEC_H
#define BMST_EXEC_H

#include <stddef.h>
#include <stdio.h>

#include "graph.h"

struct bmst_exec {
    struct bmst_graph *graph; /* the plan it runs: planned, and outliving this */

    /* the plan's memory: graph->arena_bytes of arena, the step's scalars
     * after it in the same allocation, and the conv workspace */
    void *arena;
    void *workspace;

    /* the step's scalars (enum bmst_scalar): set on the host, uploaded before
     * a pass, read back after it; `scalars` is their device copy */
    float host_scalars[BMST_SCALAR_COUNT];
    float *scalars;
    float loss; /* mean loss of the last training pass, read back */

    char *grad_written; /* [n_values] host flags: gradients backward has written this pass */
    int in_backward;    /* set while backward runs: values are read through bmst_saved_get */
    /* set while backward reruns nodes' forward (recompute.h): their values
     * are where the rerun puts them */
    int rerunning;

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

/* Places planned graph g in backend memory (bmst_graph_device_bytes of it)
 * and readies a run of it: notices to stdout, no loss scale, a mix of one
 * chunk. Returns -1 with the reason in bmst_last_error() when out of memory;
 * bmst_exec_free releases what was made either way. */
int bmst_exec_init(struct bmst_exec *x, struct bmst_graph *g);
void bmst_exec_free(struct bmst_exec *x);

/* Device pointers of a value and its gradient: for writing inputs and reading
 * results between passes, and for ops' forward (in a rerun, a value it
 * produces again is at its rerun_offset). Backward reads values only
 * through bmst_saved_get (saved.h), which knows how the plan kept them. */
void *bmst_exec_value(const struct bmst_exec *x, int value);
void *bmst_exec_grad(const struct bmst_exec *x, int value);
/* Node n's scratch (bn: batch mean and inverse std; xent: probabilities). */
float *bmst_exec_scratch(const struct bmst_exec *x, const struct bmst_node *n);
/* For ops' backward: the gradient of n's input j, or NULL when none flows
 * there; *accumulate says whether an earlier backward wrote it already (add
 * to it) or not (overwrite it). */
void *bmst_exec_input_grad(struct bmst_exec *x, const struct bmst_node *n, int j, int *accumulate);

/* Copies host_scalars to the device (a training pass does it first). */
void bmst_exec_upload_scalars(struct bmst_exec *x);
/* One forward pass (evaluation graphs; the logits stay on the device). A
 * training graph's forward reads the uploaded scalars and leaves the loss in
 * the device's BMST_SCALAR_LOSS. */
void bmst_exec_forward(struct bmst_exec *x);
/* Node i's forward alone: bmst_exec_forward is these for i = 0, 1, ...
 * (for reading values between nodes before the plan reuses their memory). */
void bmst_exec_forward_node(struct bmst_exec *x, int i);
/* A training pass: uploads the scalars, runs forward and backward (replaying
 * the recording where there is one), reads the scalars back and sets loss.
 * Fills the model's gradient buffer (overwritten). seconds[] gets the forward
 * and backward time; a replayed pass cannot be split, so its time is
 * apportioned as the last eager pass's was. */
void bmst_exec_train_pass(struct bmst_exec *x, double seconds[2]);

#endif
