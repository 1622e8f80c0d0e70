/* The deadline on the MPI communicator's collectives (--comm-timeout), and
 * finding out which rank stopped answering when it passes. Private to
 * comm/mpi.c; comm/mpi_watch.c says how it works. */
#ifndef BMST_MPI_WATCH_H
#define BMST_MPI_WATCH_H

#include <mpi.h>

#include "comm.h"

/* What a rank waits in, for the message. */
enum mpi_watch_kind {
    MPI_WATCH_ALLREDUCE,
    MPI_WATCH_BROADCAST,
    MPI_WATCH_GATHER,
    MPI_WATCH_BARRIER,
    MPI_WATCH_ALLGATHER,
    MPI_WATCH_GRADIENTS,
    MPI_WATCH_KINDS
};

struct mpi_watch;

/* Watches the collectives of `world` (the job's communicator, on which the
 * ranks must start the same collectives in the same order) for `c`, whose
 * rank, world, hosts and timeout_s it reads when it reports. Its own
 * messages travel on a duplicate of `world`. Collective: every rank calls it. */
struct mpi_watch *mpi_watch_create(MPI_Comm world, const struct bmst_comm *c);
void mpi_watch_free(struct mpi_watch *w);

/* Counts a collective this rank has started on `world`. */
void mpi_watch_started(struct mpi_watch *w);

/* Waits until requests[n] complete, answering other ranks' questions
 * meanwhile. Returns MPI_SUCCESS, or the error of a failed request. When the
 * wait passes c->timeout_s it ends the job with one message naming the rank
 * that stopped answering (or saying that the ranks are out of step), and
 * does not return. */
int mpi_watch_wait(struct mpi_watch *w, int n, MPI_Request *requests, enum mpi_watch_kind kind);

#endif
