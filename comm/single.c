/* The communicator of a job with one process. */
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "error.h"

static int single_allreduce_f32(struct bmst_comm *c, float *buf, size_t count) {
    (void)c, (void)buf, (void)count;
    return 0;
}

static int single_allreduce_f64(struct bmst_comm *c, double *buf, size_t count) {
    (void)c, (void)buf, (void)count;
    return 0;
}

static int single_broadcast(struct bmst_comm *c, void *buf, size_t bytes, int root) {
    (void)c, (void)buf, (void)bytes;
    return root == 0 ? 0 : bmst_error("broadcast from rank %d in a one-process job", root);
}

static int single_gather(struct bmst_comm *c, const void *send, void *recv, size_t bytes,
                         int root) {
    (void)c;
    if (root != 0) return bmst_error("gather to rank %d in a one-process job", root);
    memcpy(recv, send, bytes);
    return 0;
}

static int single_barrier(struct bmst_comm *c) {
    (void)c;
    return 0;
}

static void single_abort(struct bmst_comm *c, int code) {
    (void)c;
    exit(code);
}

static void single_destroy(struct bmst_comm *c) {
    free(c);
}

struct bmst_comm *bmst_comm_single_create(void) {
    struct bmst_comm *c = bmst_xcalloc(1, sizeof *c);
    *c = (struct bmst_comm){
        .name = "single",
        .rank = 0,
        .world = 1,
        .local_rank = 0,
        .allreduce_f32 = single_allreduce_f32,
        .allreduce_f64 = single_allreduce_f64,
        .broadcast = single_broadcast,
        .gather = single_gather,
        .barrier = single_barrier,
        .abort = single_abort,
        .destroy = single_destroy,
    };
    return c;
}
