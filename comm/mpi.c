/* The MPI communicator: every rank a process, the CPU backend's memory is host
 * memory, so backend-memory collectives are host collectives too.
 *
 * Errors: MPI_ERRORS_RETURN on the job's communicator, so a failing call comes
 * back here with its code; it is reported with the call and MPI's string and
 * the job is aborted (the other ranks are already waiting in the collective).
 *
 * Every collective is started non-blocking and waited for under the
 * --comm-timeout deadline by comm/mpi_watch.c, which names the rank that
 * stopped answering when the deadline passes.
 *
 * Gradient buckets are MPI_Iallreduce requests that run while backward goes
 * on. Open MPI advances non-blocking collectives only inside MPI calls, so the
 * executor calls bucket_progress (MPI_Testall) between backward ops. Half-type
 * buckets are packed into 16-bit staging buffers and summed by an MPI operator
 * that rounds each partial sum to the wire type. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm_launch.h"
#include "comm_mpi.h"
#include "error.h"
#include "mpi_watch.h"
#include "wire.h"

/* A bucket in flight; staging buffers are kept for the next step, where the
 * same buckets come again in the same order. */
struct bucket {
    float *dst;
    uint16_t *staging; /* half wire only */
    size_t staging_cap;
    size_t count;
    enum bmst_dtype wire;
};

struct mpi_impl {
    MPI_Comm world;
    struct mpi_watch *watch;
    char (*hosts)[BMST_HOST_BYTES]; /* [world] */
    MPI_Op sum_f16, sum_bf16;
    struct bucket *buckets;
    MPI_Request *requests;
    int n_in_flight, cap;
};

static struct mpi_impl *impl_of(const struct bmst_comm *c) {
    return c->impl;
}

void bmst_comm_mpi_abort(const struct bmst_comm *c, int code, const char *message) {
    fprintf(stderr, "bmst_dist: %serror: %s\n", bmst_error_origin(), message);
    fflush(stderr);
    MPI_Abort(impl_of(c)->world, code);
    exit(code); /* MPI_Abort does not return; in case an implementation does */
}

/* Ends the job when an MPI call failed. */
static void check(const struct bmst_comm *c, int rc, const char *call, const char *file,
                  int line) {
    if (rc == MPI_SUCCESS) return;
    (void)c;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    bmst_fatal("MPI", file, line, call, text);
}
#define MPI_CHECK(c, call) check((c), (call), #call, __FILE__, __LINE__)

/* MPI counts are ints; a larger buffer goes in int-sized pieces. */
#define MPI_PIECE ((size_t)1 << 30)

/* Waits for a collective this rank has started, under the deadline. */
static void wait_for(struct bmst_comm *c, MPI_Request *request, enum mpi_watch_kind kind,
                     const char *call, int line) {
    check(c, mpi_watch_wait(impl_of(c)->watch, 1, request, kind), call, __FILE__, line);
}
#define MPI_START(c, call) (mpi_watch_started(impl_of(c)->watch), MPI_CHECK(c, call))

static void allreduce_in_place(struct bmst_comm *c, void *buf, size_t count, size_t elem,
                               MPI_Datatype type) {
    for (size_t done = 0; done < count; done += MPI_PIECE) {
        size_t n = count - done < MPI_PIECE ? count - done : MPI_PIECE;
        MPI_Request r;
        MPI_START(c, MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + done * elem, (int)n, type, MPI_SUM,
                                    impl_of(c)->world, &r));
        wait_for(c, &r, MPI_WATCH_ALLREDUCE, "MPI_Iallreduce", __LINE__);
    }
}

static void mpi_allreduce_f64(struct bmst_comm *c, double *buf, size_t count) {
    allreduce_in_place(c, buf, count, sizeof *buf, MPI_DOUBLE);
}

static void mpi_allreduce_f32(struct bmst_comm *c, float *buf, size_t count) {
    allreduce_in_place(c, buf, count, sizeof *buf, MPI_FLOAT);
}

static void mpi_broadcast_host(struct bmst_comm *c, void *buf, size_t bytes, int root) {
    BMST_ASSERT(bytes <= (size_t)MPI_PIECE);
    MPI_Request r;
    MPI_START(c, MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, impl_of(c)->world, &r));
    wait_for(c, &r, MPI_WATCH_BROADCAST, "MPI_Ibcast", __LINE__);
}

static void mpi_gather_host(struct bmst_comm *c, const void *send, void *recv, size_t bytes,
                            int root) {
    BMST_ASSERT(bytes <= (size_t)MPI_PIECE);
    MPI_Request r;
    MPI_START(c, MPI_Igather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, root,
                             impl_of(c)->world, &r));
    wait_for(c, &r, MPI_WATCH_GATHER, "MPI_Igather", __LINE__);
}

static void mpi_barrier(struct bmst_comm *c) {
    MPI_Request r;
    MPI_START(c, MPI_Ibarrier(impl_of(c)->world, &r));
    wait_for(c, &r, MPI_WATCH_BARRIER, "MPI_Ibarrier", __LINE__);
}

static void sum_f16(void *in, void *inout, int *len, MPI_Datatype *type) {
    (void)type;
    bmst_wire_sum(BMST_F16, in, inout, (size_t)*len);
}

static void sum_bf16(void *in, void *inout, int *len, MPI_Datatype *type) {
    (void)type;
    bmst_wire_sum(BMST_BF16, in, inout, (size_t)*len);
}

static void mpi_bucket_start(struct bmst_comm *c, float *buf, size_t count, enum bmst_dtype wire,
                             float prescale) {
    struct mpi_impl *m = impl_of(c);
    BMST_ASSERT(count <= (size_t)MPI_PIECE);
    if (m->n_in_flight == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        m->buckets = realloc(m->buckets, (size_t)cap * sizeof *m->buckets);
        m->requests = realloc(m->requests, (size_t)cap * sizeof *m->requests);
        BMST_ASSERT(m->buckets && m->requests);
        memset(m->buckets + m->cap, 0, (size_t)(cap - m->cap) * sizeof *m->buckets);
        m->cap = cap;
    }
    int i = m->n_in_flight++;
    struct bucket *b = &m->buckets[i];
    b->dst = buf;
    b->count = count;
    b->wire = wire;
    if (wire == BMST_F32) {
        if (prescale != 1.0f)
            for (size_t k = 0; k < count; k++) buf[k] *= prescale;
        MPI_START(c, MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, m->world,
                                    &m->requests[i]));
        return;
    }
    if (b->staging_cap < count) {
        free(b->staging);
        b->staging = bmst_xmalloc(count * sizeof *b->staging);
        b->staging_cap = count;
    }
    bmst_wire_pack(wire, buf, b->staging, count, prescale);
    MPI_Op op = wire == BMST_F16 ? m->sum_f16 : m->sum_bf16;
    MPI_START(c, MPI_Iallreduce(MPI_IN_PLACE, b->staging, (int)count, MPI_UINT16_T, op, m->world,
                                &m->requests[i]));
}

static void mpi_bucket_progress(struct bmst_comm *c) {
    struct mpi_impl *m = impl_of(c);
    if (m->n_in_flight == 0) return;
    int done;
    MPI_CHECK(c, MPI_Testall(m->n_in_flight, m->requests, &done, MPI_STATUSES_IGNORE));
    /* a completed request becomes MPI_REQUEST_NULL; bucket_wait still unpacks it */
}

static void mpi_bucket_wait(struct bmst_comm *c) {
    struct mpi_impl *m = impl_of(c);
    check(c, mpi_watch_wait(m->watch, m->n_in_flight, m->requests, MPI_WATCH_GRADIENTS),
          "MPI_Iallreduce (gradients)", __FILE__, __LINE__);
    for (int i = 0; i < m->n_in_flight; i++) {
        struct bucket *b = &m->buckets[i];
        if (b->wire != BMST_F32) bmst_wire_unpack(b->wire, b->staging, b->dst, b->count);
    }
    m->n_in_flight = 0;
}

static void mpi_abort(struct bmst_comm *c, int code) {
    MPI_Abort(impl_of(c)->world, code);
    exit(code);
}

static void mpi_destroy(struct bmst_comm *c) {
    struct mpi_impl *m = impl_of(c);
    for (int i = 0; i < m->cap; i++) free(m->buckets[i].staging);
    free(m->buckets);
    free(m->requests);
    MPI_Op_free(&m->sum_f16);
    MPI_Op_free(&m->sum_bf16);
    mpi_watch_free(m->watch);
    free(m->hosts);
    bmst_comm_end_job_on_failure(NULL);
    MPI_Comm_free(&m->world);
    MPI_Finalize();
    free(m);
    free(c);
}

/* The rank among those sharing this node's memory (MPI-3), else the
 * launcher's local rank. */
static int local_rank_of(MPI_Comm world, int rank) {
    MPI_Comm node;
    if (MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) !=
        MPI_SUCCESS)
        return bmst_launch_local_rank();
    int local;
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    return local;
}

/* Every rank's host name, for messages that name a rank. */
static void exchange_hosts(struct bmst_comm *c) {
    struct mpi_impl *m = impl_of(c);
    m->hosts = bmst_xcalloc((size_t)c->world, sizeof *m->hosts);
    for (int r = 0; r < c->world; r++)
        snprintf(m->hosts[r], sizeof m->hosts[r], "?"); /* should the exchange time out */
    c->hosts = (const char(*)[BMST_HOST_BYTES])m->hosts;
    char own[BMST_HOST_BYTES];
    bmst_comm_own_host(own);
    MPI_Request r;
    MPI_START(
        c, MPI_Iallgather(own, sizeof own, MPI_CHAR, m->hosts, sizeof own, MPI_CHAR, m->world, &r));
    wait_for(c, &r, MPI_WATCH_ALLGATHER, "MPI_Iallgather", __LINE__);
}

struct bmst_comm *bmst_comm_mpi_open(int *argc, char ***argv, int launcher_world,
                                     int thread_multiple, double timeout_s) {
    (void)launcher_world;
    /* the main thread makes every MPI call (the loader's threads never do)
     * but one: the NCCL watchdog's MPI_Abort, which needs MULTIPLE */
    int wanted = thread_multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED, provided;
    if (MPI_Init_thread(argc, argv, wanted, &provided) != MPI_SUCCESS) {
        bmst_error("MPI_Init_thread failed: cannot join the job's other processes");
        return NULL;
    }
    struct mpi_impl *m = bmst_xcalloc(1, sizeof *m);
    struct bmst_comm *c = bmst_xcalloc(1, sizeof *c);
    c->impl = m;
    c->mpi_thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    c->timeout_s = timeout_s;
    /* a private duplicate, with errors returned to us instead of aborting
     * silently inside MPI */
    MPI_Comm_dup(MPI_COMM_WORLD, &m->world);
    MPI_Comm_set_errhandler(m->world, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->world, &c->rank);
    MPI_Comm_size(m->world, &c->world);
    c->local_rank = local_rank_of(m->world, c->rank);
    m->watch = mpi_watch_create(m->world, c);
    exchange_hosts(c);
    MPI_Op_create(sum_f16, 1, &m->sum_f16);
    MPI_Op_create(sum_bf16, 1, &m->sum_bf16);
    c->name = "mpi";
    c->allreduce_host_f64 = mpi_allreduce_f64;
    c->broadcast_host = mpi_broadcast_host;
    c->gather_host = mpi_gather_host;
    c->barrier = mpi_barrier;
    c->allreduce_f32 = mpi_allreduce_f32;
    c->allreduce_f64 = mpi_allreduce_f64;
    c->bucket_start = mpi_bucket_start;
    c->bucket_progress = mpi_bucket_progress;
    c->bucket_wait = mpi_bucket_wait;
    c->abort = mpi_abort;
    c->destroy = mpi_destroy;
    bmst_comm_end_job_on_failure(c);
    return c;
}
