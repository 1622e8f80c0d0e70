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
 * the whole job with a message naming the rank and the call. So does one
 * that waits longer than timeout_s (--comm-timeout) for the other ranks,
 * naming the rank that stopped answering where it can. */
#ifndef BMST_COMM_H
#define BMST_COMM_H

#include <stddef.h>

#include "tensor.h"

/* A host name as the ranks exchange it (longer names are cut). */
#define BMST_HOST_BYTES 64
/* The default --comm-timeout, seconds, as PyTorch's NCCL and gloo ones. */
#define BMST_COMM_TIMEOUT_S 300.0

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
    double timeout_s; /* a collective that waits longer for the others ends the job */
    /* [world]: every rank's host name, exchanged when the job starts */
    const char (*hosts)[BMST_HOST_BYTES];
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
 * only the main thread calls MPI). `timeout_s`: --comm-timeout. With several
 * ranks the ranks exchange their host names and every message this process
 * prints about itself starts "rank R on HOST" (bmst_error_set_origin).
 * Returns NULL with the reason in bmst_last_error() when the launch wants
 * several processes and this build cannot join them. */
struct bmst_comm *bmst_comm_open(int *argc, char ***argv, int gpu_possible, double timeout_s);

/* One process: collectives are copies or no-ops. */
struct bmst_comm *bmst_comm_single_create(void);

/* A rank that cannot run (its command line is bad: status 2, the reason in
 * bmst_last_error()) still joins the job when a launcher started it, so that
 * bmst_comm_agree prints the error once for the job, or names the one rank
 * whose command line differs. Returns `status` where there is no job to join
 * (one process, or several without MPI: launcher rank 0 prints); in a job it
 * ends the process. Either way nothing is left for the caller to print. */
int bmst_comm_fail_before_start(int *argc, char ***argv, int status);

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

/* Prints "bmst_dist: rank R on HOST: error: MESSAGE" for the stored error
 * (no "rank R on HOST: " in a one-process job) and ends every rank with
 * `code`. A shared error (bmst_error_shared), which every rank meets at the
 * same point, is printed once, by rank 0, as "bmst_dist: error: MESSAGE". */
void bmst_comm_fail(struct bmst_comm *c, int code);

/* ---- start-up agreement (comm/agree.c) ---- */

/* What every rank of a job must share to run the same sequence of
 * collectives on the same data with the same math (the network, batch,
 * optimizer, dataset's shape and sizes, ...), as "NAME\tVALUE\n" lines. */
#define BMST_SETTINGS_BYTES 2048
struct bmst_settings {
    char text[BMST_SETTINGS_BYTES];
    size_t len;
};
/* Appends one setting, NAME as the user knows it ("--batch", "dataset
 * shape"); a NAME starting "--" is an option, so a difference in it is a
 * command-line error (exit 2), any other a difference in the files (1). */
void bmst_settings_add(struct bmst_settings *s, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The ranks' rendezvous before their first collective that depends on the
 * settings: each brings its status (0 ready; else failed, with the reason in
 * bmst_last_error(): 2 for a bad command line, any other value for a
 * failure while starting, exit code 1) and its settings. Returns 0 when
 * every rank is ready and all settings are the same. Otherwise one line is
 * printed for the job, by rank 0 (the error once where every rank has the
 * same one; else the first failing rank's, named; else the first rank whose
 * settings differ from those most ranks share, its host, the setting and
 * both values) and every rank
 * ends with that exit code: the function does not return. With one rank it
 * returns `status` for the caller to report as usual. Costs a broadcast and
 * an all-reduce of a few bytes when all is well. */
int bmst_comm_agree(struct bmst_comm *c, int status, const struct bmst_settings *s);

#ifdef __cplusplus
}
#endif

#endif
