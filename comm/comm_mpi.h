/* What the NCCL communicator borrows from the MPI one it is built on: the
 * MPI communicator, to bootstrap NCCL and carry the host collectives. */
#ifndef BMST_COMM_MPI_H
#define BMST_COMM_MPI_H

#include <mpi.h>

#include "comm.h"

/* Ends every rank: prints "bmst_dist: rank R on HOST: error: MESSAGE" and calls
 * MPI_Abort on the job's communicator. */
void bmst_comm_mpi_abort(const struct bmst_comm *c, int code, const char *message);

#endif
