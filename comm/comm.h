/* Communication between the processes of one training job, behind one
 * interface: a single process (single.c) now; MPI and NCCL implementations
 * fill the same struct. Every call returns 0 or -1 with a message. */
#ifndef BMST_COMM_H
#define BMST_COMM_H

#include <stddef.h>

struct bmst_comm {
    const char *name;
    int rank, world, local_rank;
    void *impl;
    /* in place, summed over ranks */
    int (*allreduce_f32)(struct bmst_comm *c, float *buf, size_t count);
    int (*allreduce_f64)(struct bmst_comm *c, double *buf, size_t count);
    int (*broadcast)(struct bmst_comm *c, void *buf, size_t bytes, int root);
    /* root receives world * bytes, rank-major */
    int (*gather)(struct bmst_comm *c, const void *send, void *recv, size_t bytes, int root);
    int (*barrier)(struct bmst_comm *c);
    /* ends every rank of the job; does not return */
    void (*abort)(struct bmst_comm *c, int code);
    void (*destroy)(struct bmst_comm *c);
};

/* One process: collectives are copies or no-ops. */
struct bmst_comm *bmst_comm_single_create(void);

#endif
