/* A build without NCCL: gradients between GPUs go through the MPI
 * communicator as they are. */
#include "comm.h"

struct bmst_comm *bmst_comm_nccl_create(struct bmst_comm *mpi, struct bmst_backend *be) {
    (void)be;
    return mpi;
}
