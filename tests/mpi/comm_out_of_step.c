/* Two ranks that wait in different collectives, neither of which can
 * complete: rank 0 in a gather, rank 1 in a broadcast. Both still answer, so
 * the --comm-timeout deadline must end the job saying that the ranks are out
 * of step. Run as `mpirun -np 2 comm_out_of_step SECONDS` by
 * tests/mpi/test_comm_timeout.sh; exits 0 only if the collectives completed,
 * which they cannot. */
#include <stdio.h>
#include <stdlib.h>

#include "comm.h"

int main(int argc, char **argv) {
    double timeout_s = argc > 1 ? atof(argv[1]) : 2.0;
    struct bmst_comm *c = bmst_comm_open(&argc, &argv, 0, timeout_s);
    if (!c || c->world != 2) {
        fprintf(stderr, "comm_out_of_step: run it as 2 ranks under mpirun\n");
        return 3;
    }
    char one[8] = "rank", all[16];
    if (c->rank == 0)
        c->gather_host(c, one, all, sizeof one, 0);
    else
        c->broadcast_host(c, one, sizeof one, 0);
    printf("comm_out_of_step: rank %d: the collectives completed\n", c->rank);
    c->destroy(c);
    return 0;
}
