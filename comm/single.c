/* The communicator of a job with one process: sums over one rank are the
 * values themselves, and nothing travels. */
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "comm_launch.h"
#include "error.h"

static void single_allreduce_host_f64(struct bmst_comm *c, double *buf, size_t count) {
    (void)c, (void)buf, (void)count;
}

static void single_broadcast_host(struct bmst_comm *c, void *buf, size_t bytes, int root) {
    (void)c, (void)buf, (void)bytes;
    BMST_ASSERT(root == 0);
}

static void single_gather_host(struct bmst_comm *c, const void *send, void *recv, size_t bytes,
                               int root) {
    (void)c;
    BMST_ASSERT(root == 0);
    memcpy(recv, send, bytes);
}

static void single_barrier(struct bmst_comm *c) {
    (void)c;
}

static void single_allreduce_f32(struct bmst_comm *c, float *buf, size_t count) {
    (void)c, (void)buf, (void)count;
}

static void single_allreduce_f64(struct bmst_comm *c, double *buf, size_t count) {
    (void)c, (void)buf, (void)count;
}

static void single_bucket_start(struct bmst_comm *c, float *buf, size_t count,
                                enum bmst_dtype wire, float prescale) {
    (void)c, (void)buf, (void)count, (void)wire, (void)prescale;
}

static void single_bucket_progress(struct bmst_comm *c) {
    (void)c;
}

static void single_bucket_wait(struct bmst_comm *c) {
    (void)c;
}

static void single_abort(struct bmst_comm *c, int code) {
    (void)c;
    exit(code);
}

static void single_destroy(struct bmst_comm *c) {
    free(c->impl);
    free(c);
}

struct bmst_comm *bmst_comm_single_create(void) {
    struct bmst_comm *c = bmst_xcalloc(1, sizeof *c);
    char(*host)[BMST_HOST_BYTES] = bmst_xcalloc(1, sizeof *host);
    bmst_comm_own_host(*host);
    *c = (struct bmst_comm){
        .name = "single",
        .rank = 0,
        .world = 1,
        .local_rank = 0,
        .timeout_s = BMST_COMM_TIMEOUT_S, /* nothing waits for other ranks */
        .hosts = (const char(*)[BMST_HOST_BYTES])host,
        .impl = host,
        .allreduce_host_f64 = single_allreduce_host_f64,
        .broadcast_host = single_broadcast_host,
        .gather_host = single_gather_host,
        .barrier = single_barrier,
        .allreduce_f32 = single_allreduce_f32,
        .allreduce_f64 = single_allreduce_f64,
        .bucket_start = single_bucket_start,
        .bucket_progress = single_bucket_progress,
        .bucket_wait = single_bucket_wait,
        .abort = single_abort,
        .destroy = single_destroy,
    };
    return c;
}
