/* Which communicator a process gets, from how it was launched, and how a
 * failure on one rank ends the job. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"
#include "comm.h"
#include "comm_launch.h"
#include "error.h"

/* The first of the launchers' variables that is set, as a number, or -1. */
static int env_number(const char *const *names) {
    for (; *names; names++) {
        const char *v = getenv(*names);
        if (v && *v) return atoi(v);
    }
    return -1;
}

int bmst_launch_rank(void) {
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                        "SLURM_PROCID", NULL};
    int r = env_number(names);
    return r < 0 ? 0 : r;
}

int bmst_launch_local_rank(void) {
    static const char *const names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                        "SLURM_LOCALID", NULL};
    int r = env_number(names);
    return r < 0 ? 0 : r;
}

/* mpirun (Open MPI, MPICH/Hydra) or an srun job step sets these; a batch
 * script's own environment (SLURM_NTASKS without SLURM_STEP_ID) does not
 * count, since there the program runs as one process. */
int bmst_launch_is_mpi(int *world) {
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
    int n = env_number(sizes);
    if (n < 0 && getenv("PMIX_RANK")) n = 0; /* PMIx gives no size variable; MPI will */
    if (n < 0 && getenv("SLURM_STEP_ID") && getenv("SLURM_PROCID")) {
        const char *t = getenv("SLURM_STEP_NUM_TASKS");
        n = t ? atoi(t) : 0;
    }
    *world = n;
    return n >= 0;
}

void bmst_comm_own_host(char host[BMST_HOST_BYTES]) {
    if (gethostname(host, BMST_HOST_BYTES - 1) != 0 || !host[0]) snprintf(host, 2, "?");
    host[BMST_HOST_BYTES - 1] = '\0';
}

struct bmst_comm *bmst_comm_open(int *argc, char ***argv, int gpu_possible, double timeout_s) {
    int world;
    if (!bmst_launch_is_mpi(&world)) return bmst_comm_single_create();
    struct bmst_comm *c = bmst_comm_mpi_open(argc, argv, world, gpu_possible, timeout_s);
    if (c && c->world > 1) {
        char origin[BMST_HOST_BYTES + 32];
        snprintf(origin, sizeof origin, "rank %d on %s", c->rank, c->hosts[c->rank]);
        bmst_error_set_origin(origin);
    }
    return c;
}

int bmst_comm_fail_before_start(int *argc, char ***argv, int status) {
    int world;
    if (!bmst_launch_is_mpi(&world) || world == 1) {
        bmst_report_error("bmst_dist");
        return status;
    }
    char message[512]; /* joining the job must not lose it */
    snprintf(message, sizeof message, "%s", bmst_last_error());
    struct bmst_comm *c = bmst_comm_open(argc, argv, 0, BMST_COMM_TIMEOUT_S);
    bmst_error("%s", message);
    if (!c) { /* no MPI to join the ranks: the launcher's rank 0 speaks for all */
        if (bmst_launch_rank() == 0) bmst_report_error("bmst_dist");
        return status;
    }
    if (c->world == 1) {
        bmst_report_error("bmst_dist");
        c->destroy(c);
        return status;
    }
    return bmst_comm_agree(c, status, NULL);
}

struct bmst_comm *bmst_comm_for_backend(struct bmst_comm *c, struct bmst_backend *be) {
    if (c->world == 1 || !be->stream) return c;
    struct bmst_comm *nccl = bmst_comm_nccl_create(c, be);
    if (nccl == c) {
        /* MPI would be handed device pointers */
        bmst_error("%d ranks on GPUs need NCCL, and this bmst_dist was built without it "
                   "(rebuild where nccl.h and libnccl are found)",
                   c->world);
        return NULL;
    }
    return nccl;
}

static void end_job(void *ctx, int code) {
    struct bmst_comm *c = ctx;
    c->abort(c, code);
}

void bmst_comm_end_job_on_failure(struct bmst_comm *c) {
    bmst_set_job_end(c ? end_job : NULL, c);
}

void bmst_comm_fail(struct bmst_comm *c, int code) {
    if (c && c->world > 1 && bmst_last_error_shared()) {
        /* every rank is here with the same message: rank 0 says it once, and
         * the others wait for that before the job is ended */
        if (c->rank == 0) fprintf(stderr, "bmst_dist: error: %s\n", bmst_last_error());
        fflush(stderr);
        c->barrier(c);
    } else {
        bmst_report_error("bmst_dist"); /* "rank R on HOST: " with several ranks */
        fflush(stderr);
    }
    if (c) c->abort(c, code);
    exit(code);
}
