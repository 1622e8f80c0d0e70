/* Checkpoints inside an epoch and the agreement to stop (run_checkpoints.h). */
#include "run_checkpoints.h"

#include <stdlib.h>

#include "checkpoint_tensors.h"
#include "error.h"
#include "signals.h"

int bmst_run_checkpoint(struct bmst_comm *comm, const char *path, const struct bmst_model *m,
                        const struct bmst_optim *o, struct bmst_checkpoint_meta *meta,
                        double loss_sum, int per_rank_stats) {
    float *all = NULL;
    if (meta->epoch_steps > 0) {
        comm->allreduce_host_f64(comm, &loss_sum, 1);
        meta->epoch_loss_mean = loss_sum / comm->world;
        if (per_rank_stats && comm->world > 1) {
            size_t bytes = m->n_buffers * sizeof(float);
            float *mine = bmst_ckpt_host_copy(m, m->buffers, m->n_buffers);
            if (comm->rank == 0) all = bmst_xmalloc((bytes ? bytes : 1) * (size_t)comm->world);
            comm->gather_host(comm, mine, all, bytes, 0);
            free(mine);
        }
    }
    meta->rank_buffers = all;
    int status = comm->rank == 0 ? bmst_checkpoint_save(path, m, o, meta) : 0;
    meta->rank_buffers = NULL;
    free(all);
    return status;
}

unsigned bmst_stop_agree(struct bmst_comm *comm) {
    enum { SIGNALS = 2 };
    unsigned mine = bmst_signals_caught(), any = 0;
    double flags[SIGNALS];
    for (int k = 0; k < SIGNALS; k++)
        flags[k] = (mine >> k) & 1u;
    comm->allreduce_host_f64(comm, flags, SIGNALS);
    for (int k = 0; k < SIGNALS; k++)
        if (flags[k] > 0) any |= 1u << k;
    return any;
}

int bmst_stop_report(FILE *out, struct bmst_comm *comm, const struct bmst_run_config *cfg,
                     long step, long per_epoch, unsigned stop) {
    if (out) {
        long epoch = step / per_epoch, done = step % per_epoch;
        fprintf(out, "stopped by %s ", bmst_signals_name(stop));
        if (done)
            fprintf(out, "after step %ld/%ld of epoch %ld/%d", done, per_epoch, epoch + 1,
                    cfg->epochs);
        else
            fprintf(out, "after epoch %ld/%d", epoch, cfg->epochs);
        fprintf(out, " (step %ld of the run): ", step);
        if (cfg->save_path)
            fprintf(out, "checkpoint %s; continue with --resume %s (or --resume auto)\n",
                    cfg->save_path, cfg->save_path);
        else
            fprintf(out, "nothing kept (no --save)\n");
        fflush(out);
    }
    /* no rank leaves (and a launcher ends the job) before rank 0 has written */
    comm->barrier(comm);
    return BMST_EXIT_STOPPED;
}
