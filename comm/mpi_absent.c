/* A build without MPI: one process, and a clear error when a launcher asks
 * for more. */
#include "comm_launch.h"
#include "error.h"

struct bmst_comm *bmst_comm_mpi_open(int *argc, char ***argv, int launcher_world,
                                     int thread_multiple, double timeout_s) {
    (void)argc, (void)argv, (void)thread_multiple, (void)timeout_s;
    if (launcher_world > 1) {
        bmst_error("started as one of %d processes, but this bmst_dist was built without MPI "
                   "(install libopenmpi-dev and rebuild)",
                   launcher_world);
        return NULL;
    }
    return bmst_comm_single_create();
}
