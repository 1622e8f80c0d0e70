/* Where inside an epoch a checkpoint was written, and the run's best so far
 * (checkpoint_progress.h; docs/checkpoint-format.md, "Inside an epoch"). */
#include "checkpoint_progress.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "checkpoint_tensors.h"
#include "dataset.h"
#include "error.h"

#define RANK_BUFFERS "rank_buffers"

int bmst_ckpt_progress_write(hid_t file, const struct bmst_checkpoint_meta *meta,
                             size_t n_buffers) {
    int64_t steps = meta->epoch_steps, applied = meta->epoch_applied;
    int ok =
        bmst_ckpt_write_attr(file, "epoch_steps", H5T_NATIVE_INT64, &steps) == 0 &&
        bmst_ckpt_write_attr(file, "epoch_loss_mean", H5T_NATIVE_DOUBLE, &meta->epoch_loss_mean) ==
            0 &&
        bmst_ckpt_write_attr(file, "epoch_applied", H5T_NATIVE_INT64, &applied) == 0 &&
        bmst_ckpt_write_attr(file, "best_accuracy", H5T_NATIVE_DOUBLE, &meta->best_accuracy) == 0 &&
        bmst_ckpt_write_attr(file, "best_epoch", H5T_NATIVE_INT, &meta->best_epoch) == 0;
    if (ok && meta->rank_buffers && n_buffers > 0) {
        int dims[2] = {meta->ranks, (int)n_buffers};
        ok = bmst_ckpt_write_tensor(file, RANK_BUFFERS, 2, dims, H5T_NATIVE_FLOAT,
                                    meta->rank_buffers) == 0;
    }
    return ok ? 0 : -1;
}

int bmst_ckpt_progress_read(hid_t file, const char *path, int version,
                            struct bmst_checkpoint_meta *meta) {
    if (version < 5) return 0;
    int64_t steps = 0, applied = 0;
    if (bmst_ckpt_read_attr(file, path, "", "epoch_steps", H5T_NATIVE_INT64, &steps) != 0 ||
        bmst_ckpt_read_attr(file, path, "", "epoch_loss_mean", H5T_NATIVE_DOUBLE,
                            &meta->epoch_loss_mean) != 0 ||
        bmst_ckpt_read_attr(file, path, "", "epoch_applied", H5T_NATIVE_INT64, &applied) != 0 ||
        bmst_ckpt_read_attr(file, path, "", "best_accuracy", H5T_NATIVE_DOUBLE,
                            &meta->best_accuracy) != 0 ||
        bmst_ckpt_read_attr(file, path, "", "best_epoch", H5T_NATIVE_INT, &meta->best_epoch) != 0)
        return -1;
    meta->epoch_steps = steps;
    meta->epoch_applied = applied;
    meta->has_rank_buffers = H5Lexists(file, RANK_BUFFERS, H5P_DEFAULT) > 0;
    /* values no run writes: a damaged or hand-made file */
    if (steps < 0 || (meta->has_run_record && steps >= meta->steps_per_epoch) || applied < 0 ||
        applied > steps || !isfinite(meta->epoch_loss_mean) || !(meta->best_accuracy >= 0.0) ||
        meta->best_accuracy > 1.0 || meta->best_epoch < 0 || meta->best_epoch > meta->epoch)
        return bmst_error("checkpoint %s is damaged or not ours: it records %lld steps into its "
                          "epoch (%lld applied, loss %g), best accuracy %g at epoch %d",
                          path, (long long)steps, (long long)applied, meta->epoch_loss_mean,
                          meta->best_accuracy, meta->best_epoch);
    return 0;
}

/* Reads row `rank` of /rank_buffers, checking its shape and values. */
static int read_row(hid_t file, const char *path, const struct bmst_model *m, int rank,
                    float *row) {
    hid_t set = H5Dopen2(file, RANK_BUFFERS, H5P_DEFAULT);
    if (set < 0) return bmst_error("checkpoint %s has no /%s", path, RANK_BUFFERS);
    hid_t space = H5Dget_space(set);
    hsize_t dims[2] = {0, 0};
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 2 &&
             H5Sget_simple_extent_dims(space, dims, NULL) == 2 && dims[1] == m->n_buffers &&
             (hsize_t)rank < dims[0];
    int status = ok ? 0
                    : bmst_error("checkpoint %s: /%s is not [ranks, %zu] with a row for rank "
                                 "%d",
                                 path, RANK_BUFFERS, m->n_buffers, rank);
    if (status == 0) {
        hsize_t start[2] = {(hsize_t)rank, 0}, count[2] = {1, dims[1]};
        hid_t mem = H5Screate_simple(2, count, NULL);
        if (H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(set, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, row) < 0)
            status = bmst_error("cannot read /%s of checkpoint %s (truncated or corrupt?)",
                                RANK_BUFFERS, path);
        H5Sclose(mem);
    }
    if (space >= 0) H5Sclose(space);
    H5Dclose(set);
    return status;
}

int bmst_checkpoint_load_rank_buffers(const char *path, struct bmst_model *m, int rank) {
    float *row = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    bmst_hdf5_lock();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int status = file < 0 ? bmst_error("cannot open the checkpoint %s", path)
                          : read_row(file, path, m, rank, row);
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    for (size_t i = 0; status == 0 && i < m->n_buffers; i++)
        if (!isfinite(row[i]))
            status = bmst_error("checkpoint %s: rank %d's running statistics hold inf or NaN", path,
                                rank);
    if (status == 0) m->be->to_device(m->be, m->buffers, row, m->n_buffers * sizeof(float));
    free(row);
    return status;
}
