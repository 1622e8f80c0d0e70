/* Communication between the processes of one training job, behind one
 * interface with three implementations:
 *   single.c  one process: collectives are no-ops or copies
 *   mpi.c     MPI between processes; the CPU backend's memory is host memory
 *   nccl.c    NCCL between GPUs for backend (device) memory, on top of an MPI
 *             communicator that bootstraps it and carries the host collectives
 *
 * Two kinds of memory: "host" collectives take host pointers (statistics, the
 * report, flags); the others take backend memory (device pointers under NCCL)
 * and are ordered with the backend's work, as a kernel launch would be.
 *
 * A collective that fails leaves the other ranks waiting in it, so there is
 * nothing sensible to return to: every collective either completes or ends
 * the whole job with a message naming the rank and the call. */
#ifndef BMST_COMM_H
#define BMST_COMM_H

#include <stddef.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bmst_backend;

struct bmst_comm {
    const char *name; /* "single", "mpi", "nccl" */
    int rank, world;
    int local_rank; /* among the ranks on this node: picks the GPU */
    /* MPI runs with MPI_THREAD_MULTIPLE, so any thread may call MPI (the NCCL
     * watchdog's abort); 0 with MPI_THREAD_FUNNELED or without MPI */
    int mpi_thread_multiple;
    void *impl;

    /* host memory, blocking */
    void (*allreduce_host_f64)(struct bmst_comm *c, double *buf, size_t count); /* sum */
    void (*broadcast_host)(struct bmst_comm *c, void *buf, size_t bytes, int root);
    /* root receives world * bytes, rank-major; other ranks may pass recv = NULL */
    void (*gather_host)(struct bmst_comm *c, const void *send, void *recv, size_t bytes, int root);
    void (*barrier)(struct bmst_comm *c);

    /* backend memory, in place, summed over ranks */
    void (*allreduce_f32)(struct bmst_comm *c, float *buf, size_t count);
    void (*allreduce_f64)(struct bmst_comm *c, double *buf, size_t count);

    /* Gradient buckets, overlapped with backward. bucket_start begins summing
     * buf[count] over the ranks and returns at once; what travels is `wire`
     * (BMST_F32, BMST_F16 or BMST_BF16) and every value is multiplied by
     * `prescale` before it is sent (1 / world for the half types, so the sum
     * of the ranks' gradients cannot overflow on the way). bucket_progress
     * lets the transfers advance while the caller computes (MPI progresses
     * only inside its calls); bucket_wait returns when every started bucket
     * holds its sum, ordered before the backend's later work. */
    void (*bucket_start)(struct bmst_comm *c, float *buf, size_t count, enum bmst_dtype wire,
                         float prescale);
    void (*bucket_progress)(struct bmst_comm *c);
    void (*bucket_wait)(struct bmst_comm *c);

    /* ends every rank of the job with exit status `code`; does not return */
    void (*abort)(struct bmst_comm *c, int code);
    void (*destroy)(struct bmst_comm *c);
};

/* The communicator the launch asks for: MPI when the process was started by
 * mpirun or srun (and the program was built with MPI), else one process.
 * Called once, early in main, before any thread starts. `gpu_possible`: the
 * run may train on GPUs, whose NCCL watchdog ends the job from its own
 * thread, so MPI is asked for MPI_THREAD_MULTIPLE (else MPI_THREAD_FUNNELED:
 * only the main thread calls MPI). Returns NULL with the reason in
 * bmst_last_error() when the launch wants several processes and this build
 * cannot join them. */
struct bmst_comm *bmst_comm_open(int *argc, char ***argv, int gpu_possible);

/* One process: collectives are copies or no-ops. */
struct bmst_comm *bmst_comm_single_create(void);

/* Moves backend-memory collectives of an MPI communicator with world > 1
 * onto NCCL for a CUDA backend (host collectives stay on MPI). Returns `mpi`
 * itself where NCCL is not built in; NULL with a message on failure. The
 * returned communicator owns `mpi`. */
struct bmst_comm *bmst_comm_nccl_create(struct bmst_comm *mpi, struct bmst_backend *be);

/* The communicator for a backend's memory: `c` itself for one rank or a
 * host-memory backend; for a GPU backend with several ranks the NCCL one
 * built on `c` (which then owns `c`). NULL with a message where NCCL fails
 * or this build has none (`c` stays the caller's). */
struct bmst_comm *bmst_comm_for_backend(struct bmst_comm *c, struct bmst_backend *be);

/* The rank the launcher gave this process (OMPI_COMM_WORLD_RANK, PMIX_RANK,
 * PMI_RANK, SLURM_PROCID), 0 without a launcher: lets errors found before
 * MPI starts be printed by one rank only. */
int bmst_launch_rank(void);

/* Prints "bmst_dist: rank R: error: MESSAGE" for the stored error (no
 * "rank R: " in a one-process job) and ends every rank with `code`. */
void bmst_comm_fail(struct bmst_comm *c, int code);

#ifdef __cplusplus
}
#endif

#endif
