/* Replica checks and running-statistics averaging (see replicas.h). */
#include "replicas.h"

#include <stdint.h>
#include <stdlib.h>

#include "error.h"

/* FNV-1a over the bytes of a backend buffer (copied to the host first). */
static uint64_t checksum(const struct bmst_model *m, const float *buf, size_t n, uint64_t h) {
    float *host = bmst_xmalloc(n * sizeof *host);
    m->be->to_host(m->be, host, buf, n * sizeof *host);
    const unsigned char *bytes = (const unsigned char *)host;
    for (size_t i = 0; i < n * sizeof *host; i++) h = (h ^ bytes[i]) * 0x100000001b3ull;
    free(host);
    return h;
}

int bmst_replicas_check(struct bmst_comm *comm, const struct bmst_model *m,
                        const struct bmst_optim *o, int with_buffers, long step) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = checksum(m, m->weights, m->n_weights, h);
    for (int i = 0; i < o->type->n_state; i++)
        h = checksum(m, o->state[i], bmst_optim_state_count(o), h);
    if (with_buffers) h = checksum(m, m->buffers, m->n_buffers, h);
    uint64_t *all = comm->rank == 0 ? bmst_xmalloc((size_t)comm->world * sizeof *all) : NULL;
    comm->gather_host(comm, &h, all, sizeof h, 0);
    int status = 0;
    for (int r = 1; all && r < comm->world && status == 0; r++)
        if (all[r] != all[0])
            status = bmst_error("--check-replicas: after step %ld rank %d's weights differ from "
                                "rank 0's (checksum %016llx, rank 0 %016llx)",
                                step, r, (unsigned long long)all[r], (unsigned long long)all[0]);
    free(all);
    return status;
}

void bmst_replicas_average_buffers(struct bmst_comm *comm, struct bmst_model *m) {
    if (comm->world == 1 || m->n_buffers == 0) return;
    comm->allreduce_f32(comm, m->buffers, m->n_buffers);
    m->be->scale(m->be, m->n_buffers, m->buffers, 1.0f / (float)comm->world);
}
