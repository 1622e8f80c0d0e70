/* Launch-environment detection shared by the communicators (comm/launch.c). */
#ifndef BMST_COMM_LAUNCH_H
#define BMST_COMM_LAUNCH_H

#include "comm.h"

/* The node-local rank the launcher gave (OMPI_COMM_WORLD_LOCAL_RANK,
 * MPI_LOCALRANKID, SLURM_LOCALID), 0 without one: the fallback where MPI
 * cannot split a shared-memory communicator. */
int bmst_launch_local_rank(void);
/* 1 when mpirun or srun started this process; *world is the launcher's
 * process count (0 where it does not say). */
int bmst_launch_is_mpi(int *world);
/* The MPI communicator (mpi.c), or where the build has no MPI (mpi_absent.c)
 * a one-process one when the launcher started one process and NULL with a
 * message when it started several. */
struct bmst_comm *bmst_comm_mpi_open(int *argc, char ***argv, int launcher_world,
                                     int thread_multiple, double timeout_s);
/* This machine's host name (cut to BMST_HOST_BYTES - 1), "?" where it has none. */
void bmst_comm_own_host(char host[BMST_HOST_BYTES]);

/* Makes a fatal failure anywhere in the process (bmst_fatal) end the job
 * through c->abort, which ends every rank; NULL: the process exits alone. */
void bmst_comm_end_job_on_failure(struct bmst_comm *c);

#endif
