/* The gradient all-reduce, in buckets overlapped with backward.
 *
 * Parameters are registered in forward order, so backward finishes their
 * gradients from the end of the flat gradient buffer towards its start. The
 * buffer is cut into fixed buckets from the end; as soon as backward has
 * finished every gradient of a bucket, its all-reduce starts and runs while
 * backward computes the earlier layers. Before the optimizer, finish waits
 * for the rest. */
#ifndef BMST_GRAD_SYNC_H
#define BMST_GRAD_SYNC_H

#include <stddef.h>

#include "comm.h"
#include "exec.h"

struct bmst_grad_sync {
    struct bmst_comm *comm;
    float *grads; /* the trainable weights' gradients: frozen ones have none */
    size_t n;
    size_t skipped; /* frozen weights before grads in the model's layout */
    size_t bucket_floats;
    enum bmst_dtype wire;
    size_t unsent; /* grads[0, unsent) have not been handed to the comm this step */
    double first_start; /* when this step's first bucket left, or 0 */
};

/* Wires the all-reduce into the run x of a training graph for comm, in
 * buckets of bucket_mib MiB of fp32 gradients sent as `wire`: x then reports
 * its finished gradients to s after every backward op. Returns s, or NULL
 * for a job of one rank, where there is nothing to reduce and x is left
 * alone. */
struct bmst_grad_sync *bmst_grad_sync_attach(struct bmst_grad_sync *s, struct bmst_comm *comm,
                                             struct bmst_exec *x, int bucket_mib,
                                             enum bmst_dtype wire);
/* After backward: sends what is left and waits until every gradient holds
 * the sum over the ranks (times 1 / world for the half wire types: see
 * bmst_grad_sync_divisor). Sets *hidden to the seconds the all-reduce ran
 * while backward still computed, *exposed to the seconds waited here. */
void bmst_grad_sync_finish(struct bmst_grad_sync *s, double *hidden, double *exposed);
/* What the reduced gradients must still be divided by to be the ranks'
 * mean: world for fp32 (summed as they are), 1 for the half types (scaled
 * by 1 / world before they travel, so that the sum cannot overflow). */
float bmst_grad_sync_divisor(const struct bmst_grad_sync *s);

#endif
