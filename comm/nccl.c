/* The NCCL communicator: backend-memory collectives between GPUs, on top of
 * the MPI communicator that bootstraps NCCL and keeps the host collectives.
 *
 * Streams: every NCCL call runs on one communication stream of our own, forked
 * from the backend's stream by an event and joined back by another, so each
 * collective is ordered with the backend's work exactly as a kernel launch
 * would be, and the host never waits. One stream for all of them keeps the
 * communicator's operations in one order, the order every rank issues them.
 *
 * Gradient buckets in a half type are packed on the communication stream
 * into device staging (one region per bucket of the step, reused every step),
 * summed, and unpacked into the fp32 gradients.
 *
 * A failed or stuck collective cannot be returned from: every CUDA and NCCL
 * call is checked and a failure ends the job through MPI, and a watchdog
 * thread ends it when NCCL reports an asynchronous error or a collective has
 * not completed within --comm-timeout seconds (a peer died or hangs),
 * where the ranks would otherwise wait forever. The watchdog calls MPI_Abort
 * itself (the main thread may be the one stuck), so MPI must have been
 * started with MPI_THREAD_MULTIPLE (bmst_comm_open's gpu_possible); without
 * it there is no NCCL communicator. */
#include <cuda_runtime.h>
#include <errno.h>
#include <nccl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "comm_launch.h"
#include "comm_mpi.h"
#include "cuda/cuda_comm_cast.h"
#include "error.h"

#define WATCH_PERIOD_NS 100000000L /* the watchdog looks every 100 ms */
#define WATCH_SLOTS 64             /* collectives in flight tracked one by one */
#define STAGING_ALIGN 256          /* each bucket's region starts where cudaMalloc's would */

/* Collectives issued on the communication stream and not yet seen complete,
 * oldest first; they complete in this order. */
struct watch {
    cudaEvent_t done[WATCH_SLOTS]; /* recorded after the collective */
    double issued[WATCH_SLOTS];    /* when it was issued, CLOCK_MONOTONIC seconds */
    int head, count;
};

struct nccl_impl {
    struct bmst_comm *mpi; /* owned */
    ncclComm_t nccl;
    int device;
    cudaStream_t compute; /* the backend's */
    cudaStream_t stream;  /* ours: every NCCL call and the packing around it */
    cudaEvent_t compute_ready, comm_done;
    /* half-wire staging: this step's buckets take consecutive regions */
    char *staging;
    size_t staging_bytes, staging_used;

    pthread_t watchdog;
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t wake;
    int stopping;
    int aborted; /* ncclCommAbort has been called: the communicator is gone */
    struct watch watch;
    double timeout_s;
};

static struct nccl_impl *impl_of(const struct bmst_comm *c) {
    return c->impl;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A failed call ends the job (bmst_fatal, through nccl_end_job while the
 * communicator lives): the other ranks wait in the collective. */
#define NCCL_CHECK(n, call)                                                                        \
    do {                                                                                           \
        (void)(n);                                                                                 \
        ncclResult_t r_ = (call);                                                                  \
        if (r_ != ncclSuccess) bmst_fatal("NCCL", __FILE__, __LINE__, #call, ncclGetErrorString(r_)); \
    } while (0)
#define CUDA_CHECK(n, call)                                                                        \
    do {                                                                                           \
        (void)(n);                                                                                 \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) bmst_fatal("CUDA", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
    } while (0)

/* ---- the watchdog ---- */

/* After each collective: remember when it was issued. With every slot in
 * use, the newest slot's event moves to this point instead, keeping its
 * older issue time, so the latest collective is always watched. */
static void watch_issued(struct nccl_impl *n) {
    struct watch *w = &n->watch;
    pthread_mutex_lock(&n->lock);
    int slot;
    if (w->count < WATCH_SLOTS) {
        slot = (w->head + w->count++) % WATCH_SLOTS;
        w->issued[slot] = now_s();
    } else {
        slot = (w->head + w->count - 1) % WATCH_SLOTS;
    }
    /* under the lock: the watchdog must never query a slot not yet recorded */
    CUDA_CHECK(n, cudaEventRecord(w->done[slot], n->stream));
    pthread_mutex_unlock(&n->lock);
}

/* Called with the lock held: drops the collectives that have completed and
 * writes a message when the job must end. */
static int watch_check(struct nccl_impl *n, char *message, size_t len) {
    ncclResult_t async = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(n->nccl, &async);
    if (r != ncclSuccess) async = r;
    if (async != ncclSuccess && async != ncclInProgress) {
        snprintf(message, len, "NCCL collective failed: %s", ncclGetErrorString(async));
        return 1;
    }
    struct watch *w = &n->watch;
    while (w->count > 0) {
        cudaError_t e = cudaEventQuery(w->done[w->head]);
        if (e == cudaErrorNotReady) break;
        if (e != cudaSuccess) {
            snprintf(message, len, "CUDA error while a NCCL collective was in flight: %s",
                     cudaGetErrorString(e));
            return 1;
        }
        w->head = (w->head + 1) % WATCH_SLOTS;
        w->count--;
    }
    if (w->count > 0 && now_s() - w->issued[w->head] > n->timeout_s) {
        snprintf(message, len,
                 "NCCL collective stalled: no progress for %g s "
                 "(a rank died or hangs; --comm-timeout sets the limit)",
                 n->timeout_s);
        return 1;
    }
    return 0;
}

/* One ncclCommAbort, by whichever thread ends the job first (the watchdog,
 * or the main thread through the vtable's abort); afterwards the watchdog no
 * longer touches the communicator. */
static void abort_nccl(struct nccl_impl *n) {
    pthread_mutex_lock(&n->lock);
    int first = !n->aborted;
    n->aborted = 1;
    pthread_mutex_unlock(&n->lock);
    if (first) ncclCommAbort(n->nccl); /* its status does not matter: the job ends next */
}

static void *watchdog_main(void *arg) {
    struct nccl_impl *n = arg;
    char message[512];
    int failed = 0;
    cudaError_t e = cudaSetDevice(n->device); /* events are queried in the device's context */
    if (e != cudaSuccess) {
        snprintf(message, sizeof message, "NCCL watchdog cannot select GPU %d: %s", n->device,
                 cudaGetErrorString(e));
        failed = 1;
    }
    pthread_mutex_lock(&n->lock);
    while (!failed && !n->stopping && !n->aborted) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCH_PERIOD_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!n->stopping && rc != ETIMEDOUT) /* a wakeup without a stop is spurious */
            rc = pthread_cond_timedwait(&n->wake, &n->lock, &until);
        if (!n->stopping && !n->aborted) failed = watch_check(n, message, sizeof message);
    }
    pthread_mutex_unlock(&n->lock);
    if (failed) {
        /* frees this rank's GPU from the stuck kernels; MPI ends the others */
        abort_nccl(n);
        bmst_comm_mpi_abort(n->mpi, 1, message);
    }
    return NULL;
}

static void watchdog_start(struct nccl_impl *n) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* waits immune to clock changes */
    pthread_cond_init(&n->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&n->lock, NULL);
    for (int i = 0; i < WATCH_SLOTS; i++)
        CUDA_CHECK(n, cudaEventCreateWithFlags(&n->watch.done[i], cudaEventDisableTiming));
    if (pthread_create(&n->watchdog, NULL, watchdog_main, n) != 0)
        bmst_comm_mpi_abort(n->mpi, 1, "cannot start the NCCL watchdog thread");
}

static void watchdog_stop(struct nccl_impl *n) {
    pthread_mutex_lock(&n->lock);
    n->stopping = 1;
    pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->lock);
    pthread_join(n->watchdog, NULL);
    for (int i = 0; i < WATCH_SLOTS; i++)
        CUDA_CHECK(n, cudaEventDestroy(n->watch.done[i]));
    pthread_cond_destroy(&n->wake);
    pthread_mutex_destroy(&n->lock);
}

/* ---- ordering with the backend ---- */

/* The communication stream waits for the backend's work issued so far. */
static void fork_from_compute(struct nccl_impl *n) {
    CUDA_CHECK(n, cudaEventRecord(n->compute_ready, n->compute));
    CUDA_CHECK(n, cudaStreamWaitEvent(n->stream, n->compute_ready, 0));
}

/* The backend's later work waits for the collectives issued so far. */
static void join_into_compute(struct nccl_impl *n) {
    CUDA_CHECK(n, cudaEventRecord(n->comm_done, n->stream));
    CUDA_CHECK(n, cudaStreamWaitEvent(n->compute, n->comm_done, 0));
}

static void allreduce(struct nccl_impl *n, void *buf, size_t count, ncclDataType_t type) {
    NCCL_CHECK(n, ncclAllReduce(buf, buf, count, type, ncclSum, n->nccl, n->stream));
    watch_issued(n);
}

/* ---- the vtable ---- */

static void nccl_allreduce_host_f64(struct bmst_comm *c, double *buf, size_t count) {
    struct bmst_comm *mpi = impl_of(c)->mpi;
    mpi->allreduce_host_f64(mpi, buf, count);
}

static void nccl_broadcast_host(struct bmst_comm *c, void *buf, size_t bytes, int root) {
    struct bmst_comm *mpi = impl_of(c)->mpi;
    mpi->broadcast_host(mpi, buf, bytes, root);
}

static void nccl_gather_host(struct bmst_comm *c, const void *send, void *recv, size_t bytes,
                             int root) {
    struct bmst_comm *mpi = impl_of(c)->mpi;
    mpi->gather_host(mpi, send, recv, bytes, root);
}

static void nccl_barrier(struct bmst_comm *c) {
    struct bmst_comm *mpi = impl_of(c)->mpi;
    mpi->barrier(mpi);
}

static void device_allreduce(struct bmst_comm *c, void *buf, size_t count, ncclDataType_t type) {
    struct nccl_impl *n = impl_of(c);
    if (count == 0) return;
    fork_from_compute(n);
    allreduce(n, buf, count, type);
    join_into_compute(n);
}

static void nccl_allreduce_f32(struct bmst_comm *c, float *buf, size_t count) {
    device_allreduce(c, buf, count, ncclFloat32);
}

static void nccl_allreduce_f64(struct bmst_comm *c, double *buf, size_t count) {
    device_allreduce(c, buf, count, ncclFloat64);
}

/* A region of `bytes` for one bucket of this step. The buffer is sized in the
 * first step (the same buckets come every step), so growing happens there:
 * the buckets already in flight use the old buffer, so it is freed only after
 * the communication stream has finished with them. */
static void *staging_region(struct nccl_impl *n, size_t bytes) {
    size_t rounded = (bytes + STAGING_ALIGN - 1) / STAGING_ALIGN * STAGING_ALIGN;
    if (n->staging_used + rounded > n->staging_bytes) {
        size_t want = n->staging_used + rounded;
        if (want < 2 * n->staging_bytes) want = 2 * n->staging_bytes;
        CUDA_CHECK(n, cudaStreamSynchronize(n->stream));
        if (n->staging) CUDA_CHECK(n, cudaFree(n->staging));
        CUDA_CHECK(n, cudaMalloc((void **)&n->staging, want));
        n->staging_bytes = want;
        n->staging_used = 0;
    }
    void *region = n->staging + n->staging_used;
    n->staging_used += rounded;
    return region;
}

static void nccl_bucket_start(struct bmst_comm *c, float *buf, size_t count, enum bmst_dtype wire,
                              float prescale) {
    struct nccl_impl *n = impl_of(c);
    if (count == 0) return;
    fork_from_compute(n);
    if (wire == BMST_F32) {
        if (prescale != 1.0f) bmst_cuda_pack_wire(n->stream, buf, buf, count, wire, prescale);
        allreduce(n, buf, count, ncclFloat32);
        return;
    }
    BMST_ASSERT(wire == BMST_F16 || wire == BMST_BF16);
    void *half = staging_region(n, count * 2);
    bmst_cuda_pack_wire(n->stream, buf, half, count, wire, prescale);
    allreduce(n, half, count, wire == BMST_F16 ? ncclFloat16 : ncclBfloat16);
    bmst_cuda_unpack_wire(n->stream, half, buf, count, wire);
}

/* NCCL advances on the GPU by itself. */
static void nccl_bucket_progress(struct bmst_comm *c) {
    (void)c;
}

static void nccl_bucket_wait(struct bmst_comm *c) {
    struct nccl_impl *n = impl_of(c);
    join_into_compute(n);
    n->staging_used = 0; /* the next step's buckets follow this step's on the stream */
}

static void nccl_abort(struct bmst_comm *c, int code) {
    struct nccl_impl *n = impl_of(c);
    abort_nccl(n);
    n->mpi->abort(n->mpi, code);
}

static void nccl_destroy(struct bmst_comm *c) {
    struct nccl_impl *n = impl_of(c);
    CUDA_CHECK(n, cudaStreamSynchronize(n->stream)); /* still watched */
    watchdog_stop(n);
    NCCL_CHECK(n, ncclCommDestroy(n->nccl));
    if (n->staging) CUDA_CHECK(n, cudaFree(n->staging));
    CUDA_CHECK(n, cudaEventDestroy(n->compute_ready));
    CUDA_CHECK(n, cudaEventDestroy(n->comm_done));
    CUDA_CHECK(n, cudaStreamDestroy(n->stream));
    struct bmst_comm *mpi = n->mpi;
    bmst_comm_end_job_on_failure(mpi);
    free(n);
    free(c);
    mpi->destroy(mpi);
}

struct bmst_comm *bmst_comm_nccl_create(struct bmst_comm *mpi, struct bmst_backend *be) {
    BMST_ASSERT(strcmp(mpi->name, "mpi") == 0 && be->stream);
    if (!mpi->mpi_thread_multiple) {
        bmst_error("NCCL's watchdog ends a stuck job from its own thread, which needs "
                   "MPI_THREAD_MULTIPLE, and this MPI library does not provide it "
                   "(Open MPI built with thread support does)");
        return NULL;
    }
    struct nccl_impl *n = bmst_xcalloc(1, sizeof *n);
    n->mpi = mpi;
    n->timeout_s = mpi->timeout_s;
    n->compute = (cudaStream_t)be->stream(be);
    CUDA_CHECK(n, cudaGetDevice(&n->device)); /* the backend has selected this rank's GPU */

    ncclUniqueId id;
    if (mpi->rank == 0) NCCL_CHECK(n, ncclGetUniqueId(&id));
    mpi->broadcast_host(mpi, &id, sizeof id, 0);
    NCCL_CHECK(n, ncclCommInitRank(&n->nccl, mpi->world, id, mpi->rank));

    /* the highest priority, so that the transfers start as soon as their
     * gradients are ready, between the kernels of a busy backward */
    int least, greatest;
    CUDA_CHECK(n, cudaDeviceGetStreamPriorityRange(&least, &greatest));
    CUDA_CHECK(n, cudaStreamCreateWithPriority(&n->stream, cudaStreamNonBlocking, greatest));
    CUDA_CHECK(n, cudaEventCreateWithFlags(&n->compute_ready, cudaEventDisableTiming));
    CUDA_CHECK(n, cudaEventCreateWithFlags(&n->comm_done, cudaEventDisableTiming));
    watchdog_start(n);

    struct bmst_comm *c = bmst_xcalloc(1, sizeof *c);
    *c = (struct bmst_comm){
        .name = "nccl",
        .rank = mpi->rank,
        .world = mpi->world,
        .local_rank = mpi->local_rank,
        .mpi_thread_multiple = 1,
        .timeout_s = mpi->timeout_s,
        .hosts = mpi->hosts,
        .impl = n,
        .allreduce_host_f64 = nccl_allreduce_host_f64,
        .broadcast_host = nccl_broadcast_host,
        .gather_host = nccl_gather_host,
        .barrier = nccl_barrier,
        .allreduce_f32 = nccl_allreduce_f32,
        .allreduce_f64 = nccl_allreduce_f64,
        .bucket_start = nccl_bucket_start,
        .bucket_progress = nccl_bucket_progress,
        .bucket_wait = nccl_bucket_wait,
        .abort = nccl_abort,
        .destroy = nccl_destroy,
    };
    bmst_comm_end_job_on_failure(c); /* NCCL's communicator is aborted first */
    return c;
}
