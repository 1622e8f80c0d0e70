/* HDF5 checkpoints (docs/checkpoint-format.md). Tensors are converted between
 * the engine's layouts (KRSC conv weights) and PyTorch's (OIHW) on the way. */
#include "checkpoint.h"

#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "dataset.h"
#include "error.h"
#include "h5_memfile.h"
#include "h5util.h"
#include "models/models.h"

#define FORMAT_NAME "bmst_checkpoint"
#define FORMAT_VERSION 3 /* 3 added the run's settings (batch, ranks, merge, lr, ...) */
#define OLDEST_VERSION 2 /* still read: without those settings */

/* KRSC <-> OIHW ([k][r][s][c] <-> [k][c][r][s]); dims are PyTorch's [k, c, r, s]. */
static void krsc_to_oihw(const int *dims, const float *src, float *dst) {
    int k = dims[0], c = dims[1], r = dims[2], s = dims[3];
    for (int ik = 0; ik < k; ik++)
        for (int ir = 0; ir < r; ir++)
            for (int is = 0; is < s; is++)
                for (int ic = 0; ic < c; ic++)
                    dst[(((size_t)ik * c + ic) * r + ir) * s + is] =
                        src[(((size_t)ik * r + ir) * s + is) * c + ic];
}

static void oihw_to_krsc(const int *dims, const float *src, float *dst) {
    int k = dims[0], c = dims[1], r = dims[2], s = dims[3];
    for (int ik = 0; ik < k; ik++)
        for (int ir = 0; ir < r; ir++)
            for (int is = 0; is < s; is++)
                for (int ic = 0; ic < c; ic++)
                    dst[(((size_t)ik * r + ir) * s + is) * c + ic] =
                        src[(((size_t)ik * c + ic) * r + ir) * s + is];
}

/* ---- writing ---- */

static int write_attr(hid_t loc, const char *name, hid_t type, const void *value) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Awrite(attr, type, value) >= 0;
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return ok ? 0 : -1;
}

static int write_string_attr(hid_t loc, const char *name, const char *value) {
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0) return -1;
    int status = H5Tset_size(type, strlen(value) + 1) < 0 ? -1 : write_attr(loc, name, type, value);
    H5Tclose(type);
    return status;
}

static int write_tensor(hid_t group, const char *name, int ndim, const int *dims,
                        hid_t mem_type, const void *data) {
    hsize_t shape[4];
    for (int i = 0; i < ndim; i++) shape[i] = (hsize_t)dims[i];
    hid_t space = ndim ? H5Screate_simple(ndim, shape, NULL) : H5Screate(H5S_SCALAR);
    hid_t file_type = mem_type == H5T_NATIVE_FLOAT ? H5T_IEEE_F32LE : H5T_STD_I64LE;
    hid_t set = space < 0 ? -1
                          : H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                                       H5P_DEFAULT);
    int ok = set >= 0 && H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (set >= 0) H5Dclose(set);
    if (space >= 0) H5Sclose(space);
    return ok ? 0 : -1;
}

/* One buffer's tensors (weights and statistics, or momentum) in PyTorch layout. */
static int write_tensors(hid_t group, const struct bmst_model *m, const float *host_weights,
                         const float *host_buffers, int weights_only, float *scratch) {
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (weights_only && p->role != BMST_PARAM_WEIGHT) continue;
        const float *src = (p->role == BMST_PARAM_WEIGHT ? host_weights : host_buffers) + p->offset;
        if (p->conv_krsc) {
            krsc_to_oihw(p->dims, src, scratch);
            src = scratch;
        }
        if (write_tensor(group, p->name, p->ndim, p->dims, H5T_NATIVE_FLOAT, src) != 0) return -1;
    }
    return 0;
}

/* PyTorch's BatchNorm keeps a step counter beside its running statistics; a
 * checkpoint carries it so the file maps 1:1 onto a state_dict. */
static int write_batch_counters(hid_t group, const struct bmst_model *m, int64_t steps) {
    const char *suffix = ".running_mean";
    for (int i = 0; i < m->n_params; i++) {
        const char *name = m->params[i].name;
        size_t len = strlen(name), suffix_len = strlen(suffix);
        if (len < suffix_len || strcmp(name + len - suffix_len, suffix) != 0) continue;
        char counter[BMST_PARAM_NAME_MAX + 16];
        snprintf(counter, sizeof counter, "%.*s.num_batches_tracked", (int)(len - suffix_len),
                 name);
        if (write_tensor(group, counter, 0, NULL, H5T_NATIVE_INT64, &steps) != 0) return -1;
    }
    return 0;
}

/* How the run was set up (version 3), for checking a resumed run against. */
static int write_run_record(hid_t file, const struct bmst_checkpoint_meta *meta) {
    int64_t steps_per_epoch = meta->steps_per_epoch;
    return write_attr(file, "batch", H5T_NATIVE_INT, &meta->batch) == 0 &&
                   write_attr(file, "ranks", H5T_NATIVE_INT, &meta->ranks) == 0 &&
                   write_attr(file, "merge", H5T_NATIVE_INT, &meta->merge) == 0 &&
                   write_attr(file, "lr", H5T_NATIVE_FLOAT, &meta->lr) == 0 &&
                   write_attr(file, "last_lr", H5T_NATIVE_FLOAT, &meta->last_lr) == 0 &&
                   write_attr(file, "planned_epochs", H5T_NATIVE_INT, &meta->planned_epochs) == 0 &&
                   write_attr(file, "steps_per_epoch", H5T_NATIVE_INT64, &steps_per_epoch) == 0
               ? 0
               : -1;
}

/* Builds the checkpoint in memory (h5_memfile.h) and commits it to `out`. */
static int write_file(struct bmst_atomic_file *out, const struct bmst_model *m,
                      const struct bmst_checkpoint_meta *meta, const float *weights,
                      const float *buffers, const float *momentum, float *scratch) {
    struct bmst_h5_memfile mem;
    if (bmst_h5_memfile_create(&mem, out) != 0) {
        bmst_atomic_abort(out);
        return -1;
    }
    hid_t file = mem.file;
    /* a checkpoint made outside a training run (tests/parity's) has no run to
     * record: version 2 is the format without the record */
    int version = meta->has_run_record ? FORMAT_VERSION : OLDEST_VERSION;
    int64_t step = meta->step;
    uint64_t seed = meta->seed;
    int ok = write_string_attr(file, "format", FORMAT_NAME) == 0 &&
             write_attr(file, "version", H5T_NATIVE_INT, &version) == 0 &&
             write_string_attr(file, "arch", meta->arch) == 0 &&
             write_attr(file, "in_h", H5T_NATIVE_INT, &meta->in_h) == 0 &&
             write_attr(file, "in_w", H5T_NATIVE_INT, &meta->in_w) == 0 &&
             write_attr(file, "in_c", H5T_NATIVE_INT, &meta->in_c) == 0 &&
             write_attr(file, "classes", H5T_NATIVE_INT, &meta->classes) == 0 &&
             write_attr(file, "epoch", H5T_NATIVE_INT, &meta->epoch) == 0 &&
             write_attr(file, "step", H5T_NATIVE_INT64, &step) == 0 &&
             write_attr(file, "seed", H5T_NATIVE_UINT64, &seed) == 0 &&
             write_attr(file, "loss_scale", H5T_NATIVE_FLOAT, &meta->loss_scale) == 0 &&
             write_attr(file, "loss_scale_clean_steps", H5T_NATIVE_INT,
                        &meta->loss_scale_clean_steps) == 0 &&
             (!meta->has_run_record || write_run_record(file, meta) == 0);
    hid_t model = ok ? H5Gcreate2(file, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    hid_t optim = model >= 0 ? H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                             : -1;
    hid_t mom = optim >= 0 ? H5Gcreate2(optim, "momentum", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                           : -1;
    ok = mom >= 0 && write_tensors(model, m, weights, buffers, 0, scratch) == 0 &&
         write_batch_counters(model, m, meta->step) == 0 &&
         write_tensors(mom, m, momentum, NULL, 1, scratch) == 0;
    if (mom >= 0) H5Gclose(mom);
    if (optim >= 0) H5Gclose(optim);
    if (model >= 0) H5Gclose(model);
    if (ok) return bmst_h5_memfile_save(&mem, out);
    bmst_h5_memfile_discard(&mem, out);
    return bmst_error("cannot write the checkpoint %s: HDF5 could not build it in memory",
                      out->name);
}

static float *to_host_copy(const struct bmst_model *m, const float *device, size_t count) {
    float *host = bmst_xmalloc((count ? count : 1) * sizeof(float));
    m->be->to_host(m->be, host, device, count * sizeof(float));
    return host;
}

static size_t largest_param(const struct bmst_model *m) {
    size_t largest = 1;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].count > largest) largest = m->params[i].count;
    return largest;
}

static size_t count_nonfinite(const float *x, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !isfinite(x[i]);
    return bad;
}

/* A checkpoint never holds inf or NaN: the first tensor of the host copies
 * that does is named in the error (where = "" or "the momentum of "). */
static int check_finite(const char *path, const struct bmst_model *m, const float *weights,
                        const float *buffers, const char *where) {
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        const float *src = p->role == BMST_PARAM_WEIGHT ? weights : buffers;
        if (!src) continue;
        size_t bad = count_nonfinite(src + p->offset, p->count);
        if (bad)
            return bmst_error("not writing the checkpoint %s: %s%s holds %zu inf or NaN values "
                              "of %zu",
                              path, where, p->name, bad, p->count);
    }
    return 0;
}

int bmst_checkpoint_save(const char *path, const struct bmst_model *m,
                         const struct bmst_checkpoint_meta *meta) {
    float *weights = to_host_copy(m, m->weights, m->n_weights);
    float *buffers = to_host_copy(m, m->buffers, m->n_buffers);
    float *momentum = to_host_copy(m, m->momentum, m->n_weights);
    struct bmst_atomic_file out;
    if (check_finite(path, m, weights, buffers, "") != 0 ||
        check_finite(path, m, momentum, NULL, "the momentum of ") != 0 ||
        bmst_atomic_open(&out, path, "the checkpoint") != 0) {
        free(weights), free(buffers), free(momentum);
        return -1;
    }
    float *scratch = bmst_xmalloc(largest_param(m) * sizeof(float));
    bmst_hdf5_lock();
    int status = write_file(&out, m, meta, weights, buffers, momentum, scratch);
    bmst_hdf5_unlock();
    free(weights), free(buffers), free(momentum), free(scratch);
    return status;
}

int bmst_checkpoint_save_gradients(const char *path, const struct bmst_model *m) {
    struct bmst_atomic_file out;
    if (bmst_atomic_open(&out, path, "the gradients") != 0) return -1;
    float *grads = to_host_copy(m, m->grads, m->n_weights);
    float *scratch = bmst_xmalloc(largest_param(m) * sizeof(float));
    bmst_hdf5_lock();
    struct bmst_h5_memfile mem;
    int status = bmst_h5_memfile_create(&mem, &out);
    if (status == 0) {
        hid_t group = H5Gcreate2(mem.file, "grad", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int ok = group >= 0 && write_tensors(group, m, grads, NULL, 1, scratch) == 0;
        if (group >= 0) H5Gclose(group);
        if (ok) {
            status = bmst_h5_memfile_save(&mem, &out);
        } else {
            bmst_h5_memfile_discard(&mem, &out);
            status = bmst_error("cannot write the gradients %s: HDF5 could not build them in "
                                "memory",
                                path);
        }
    } else {
        bmst_atomic_abort(&out);
    }
    bmst_hdf5_unlock();
    free(grads), free(scratch);
    return status;
}

/* ---- reading ---- */

static int read_attr(hid_t file, const char *path, const char *name, hid_t type, void *out) {
    hid_t attr = H5Aexists(file, name) > 0 ? H5Aopen(file, name, H5P_DEFAULT) : -1;
    if (attr < 0) return bmst_error("checkpoint %s has no attribute '%s'", path, name);
    herr_t status = H5Aread(attr, type, out);
    H5Aclose(attr);
    if (status < 0) return bmst_error("checkpoint %s: cannot read attribute '%s'", path, name);
    return 0;
}

/* Either HDF5 string form (ours are fixed-length; h5py writes variable-length
 * UTF-8), through the dataset reader's helper. */
static int read_string_attr(hid_t file, const char *path, const char *name, char *out,
                            size_t size) {
    if (H5Aexists(file, name) <= 0) return bmst_error("checkpoint %s has no attribute '%s'", path, name);
    return h5_read_string_attr(file, name, path, out, size);
}

static hid_t open_checkpoint(const char *path) {
    if (access(path, R_OK) != 0) return bmst_error("cannot read the checkpoint %s", path);
    if (H5Fis_hdf5(path) <= 0)
        return bmst_error("%s is not a checkpoint (not an HDF5 file, or truncated)", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return bmst_error("cannot open the checkpoint %s (truncated or corrupt?)", path);
    char format[64];
    if (read_string_attr(file, path, "format", format, sizeof format) != 0 ||
        strcmp(format, FORMAT_NAME) != 0) {
        H5Fclose(file);
        return bmst_error("%s is not a bmst_dist checkpoint (format attribute missing or wrong)",
                          path);
    }
    return file;
}

/* Version 3's record of how the run was set up. */
static int read_run_record(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    int64_t steps_per_epoch = 0;
    if (read_attr(file, path, "batch", H5T_NATIVE_INT, &meta->batch) != 0 ||
        read_attr(file, path, "ranks", H5T_NATIVE_INT, &meta->ranks) != 0 ||
        read_attr(file, path, "merge", H5T_NATIVE_INT, &meta->merge) != 0 ||
        read_attr(file, path, "lr", H5T_NATIVE_FLOAT, &meta->lr) != 0 ||
        read_attr(file, path, "last_lr", H5T_NATIVE_FLOAT, &meta->last_lr) != 0 ||
        read_attr(file, path, "planned_epochs", H5T_NATIVE_INT, &meta->planned_epochs) != 0 ||
        read_attr(file, path, "steps_per_epoch", H5T_NATIVE_INT64, &steps_per_epoch) != 0)
        return -1;
    meta->steps_per_epoch = steps_per_epoch;
    meta->has_run_record = 1;
    return 0;
}

/* Values no run of ours writes: a damaged or hand-made file, refused before
 * anything is built from it. */
static int check_meta(const char *path, const struct bmst_checkpoint_meta *m) {
    char why[200] = "";
    if (bmst_network_check(m->arch, BMST_MIX_C2) != 0) {
        snprintf(why, sizeof why, "%s", bmst_last_error());
        return bmst_error("checkpoint %s holds a model this bmst_dist cannot build: %s", path, why);
    }
    if (m->in_h < 1 || m->in_w < 1 || m->in_c < 1 || m->classes < 1)
        snprintf(why, sizeof why, "inputs of %dx%dx%d and %d classes", m->in_h, m->in_w, m->in_c,
                 m->classes);
    /* every epoch takes at least one step; epoch + 1 must fit an int */
    else if (m->step < 0 || m->epoch < 0 || m->epoch == INT_MAX || m->epoch > m->step)
        snprintf(why, sizeof why, "epoch %d after %lld steps", m->epoch, (long long)m->step);
    else if (!isfinite(m->loss_scale) || m->loss_scale <= 0.0f || m->loss_scale_clean_steps < 0)
        snprintf(why, sizeof why, "a loss scale of %g after %d clean steps", (double)m->loss_scale,
                 m->loss_scale_clean_steps);
    else if (m->has_run_record &&
             (m->batch < 1 || m->ranks < 1 || m->merge < 1 || !(m->lr >= 0.0f) ||
              !isfinite(m->lr) || !(m->last_lr >= 0.0f) || !isfinite(m->last_lr) ||
              m->planned_epochs < 1 || m->planned_epochs < m->epoch || m->steps_per_epoch < 1))
        snprintf(why, sizeof why,
                 "batch %d on %d ranks, merge %d, lr %g (last %g), %d planned epochs of %lld "
                 "steps, at epoch %d",
                 m->batch, m->ranks, m->merge, (double)m->lr, (double)m->last_lr, m->planned_epochs,
                 (long long)m->steps_per_epoch, m->epoch);
    if (!why[0]) return 0;
    return bmst_error("checkpoint %s is damaged or not ours: it records %s", path, why);
}

static int read_meta(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    int64_t step = 0;
    uint64_t seed = 0;
    int version = 0;
    memset(meta, 0, sizeof *meta);
    if (read_attr(file, path, "version", H5T_NATIVE_INT, &version) != 0) return -1;
    if (version < OLDEST_VERSION || version > FORMAT_VERSION)
        return bmst_error("checkpoint %s has format version %d; this bmst_dist reads versions %d "
                          "to %d",
                          path, version, OLDEST_VERSION, FORMAT_VERSION);
    if (read_string_attr(file, path, "arch", meta->arch, sizeof meta->arch) != 0 ||
        read_attr(file, path, "in_h", H5T_NATIVE_INT, &meta->in_h) != 0 ||
        read_attr(file, path, "in_w", H5T_NATIVE_INT, &meta->in_w) != 0 ||
        read_attr(file, path, "in_c", H5T_NATIVE_INT, &meta->in_c) != 0 ||
        read_attr(file, path, "classes", H5T_NATIVE_INT, &meta->classes) != 0 ||
        read_attr(file, path, "epoch", H5T_NATIVE_INT, &meta->epoch) != 0 ||
        read_attr(file, path, "step", H5T_NATIVE_INT64, &step) != 0 ||
        read_attr(file, path, "seed", H5T_NATIVE_UINT64, &seed) != 0 ||
        read_attr(file, path, "loss_scale", H5T_NATIVE_FLOAT, &meta->loss_scale) != 0 ||
        read_attr(file, path, "loss_scale_clean_steps", H5T_NATIVE_INT,
                  &meta->loss_scale_clean_steps) != 0)
        return -1;
    meta->step = step;
    meta->seed = seed;
    if (version >= 3 && read_run_record(file, path, meta) != 0) return -1;
    return check_meta(path, meta);
}

int bmst_checkpoint_read_meta(const char *path, struct bmst_checkpoint_meta *meta) {
    bmst_hdf5_lock();
    hid_t file = open_checkpoint(path);
    int status = file < 0 ? -1 : read_meta(file, path, meta);
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    return status;
}

static void shape_text(int ndim, const hsize_t *dims, char *out, size_t size) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, i ? ", %llu" : "%llu",
                                 (unsigned long long)dims[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

/* Reads group/name into dst (count floats), checking PyTorch's shape. */
static int read_tensor(hid_t group, const char *path, const char *where,
                       const struct bmst_param *p, float *dst) {
    hid_t set = H5Lexists(group, p->name, H5P_DEFAULT) > 0
                    ? H5Dopen2(group, p->name, H5P_DEFAULT)
                    : -1;
    if (set < 0) return bmst_error("checkpoint %s has no tensor %s/%s", path, where, p->name);
    hid_t space = H5Dget_space(set), type = H5Dget_type(set);
    hsize_t dims[8] = {0};
    int ndim = H5Sget_simple_extent_ndims(space);
    int same = ndim == p->ndim && H5Tget_class(type) == H5T_FLOAT;
    if (ndim >= 0 && ndim <= 8) H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; same && i < ndim; i++) same = dims[i] == (hsize_t)p->dims[i];
    int status = 0;
    if (!same) {
        hsize_t want[4];
        for (int i = 0; i < p->ndim; i++) want[i] = (hsize_t)p->dims[i];
        char got[96], expected[96];
        shape_text(ndim > 8 ? 8 : ndim, dims, got, sizeof got);
        shape_text(p->ndim, want, expected, sizeof expected);
        status = bmst_error("checkpoint %s: %s/%s is %s %s, the model needs float %s", path, where,
                            p->name, H5Tget_class(type) == H5T_FLOAT ? "float" : "non-float", got,
                            expected);
    } else if (H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        status = bmst_error("checkpoint %s: cannot read %s/%s (truncated or corrupt?)", path,
                            where, p->name);
    } else {
        size_t bad = count_nonfinite(dst, p->count);
        if (bad)
            status = bmst_error("checkpoint %s: %s/%s holds %zu inf or NaN values of %zu (the "
                                "run that wrote it had diverged, or the file is damaged)",
                                path, where, p->name, bad, p->count);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(set);
    return status;
}

/* Reads every tensor of one group into host copies of the model's buffers. */
static int read_group(hid_t file, const char *path, const char *where, const struct bmst_model *m,
                      int weights_only, float *weights, float *buffers, float *scratch) {
    hid_t group = H5Lexists(file, where, H5P_DEFAULT) > 0 ? H5Gopen2(file, where, H5P_DEFAULT)
                                                         : -1;
    if (group < 0) return bmst_error("checkpoint %s has no group /%s", path, where);
    int status = 0;
    for (int i = 0; i < m->n_params && status == 0; i++) {
        const struct bmst_param *p = &m->params[i];
        if (weights_only && p->role != BMST_PARAM_WEIGHT) continue;
        float *dst = (p->role == BMST_PARAM_WEIGHT ? weights : buffers) + p->offset;
        status = read_tensor(group, path, where, p, p->conv_krsc ? scratch : dst);
        if (status == 0 && p->conv_krsc) oihw_to_krsc(p->dims, scratch, dst);
    }
    H5Gclose(group);
    return status;
}

int bmst_checkpoint_load(const char *path, struct bmst_model *m, int with_optimizer) {
    float *weights = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    float *buffers = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    float *momentum = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    float *scratch = bmst_xmalloc(largest_param(m) * sizeof(float));
    bmst_hdf5_lock();
    hid_t file = open_checkpoint(path);
    int status = file < 0 ? -1 : read_group(file, path, "model", m, 0, weights, buffers, scratch);
    if (status == 0 && with_optimizer)
        status = read_group(file, path, "optimizer/momentum", m, 1, momentum, NULL, scratch);
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    /* the model changes only once every tensor has been read */
    if (status == 0) {
        m->be->to_device(m->be, m->weights, weights, m->n_weights * sizeof(float));
        m->be->to_device(m->be, m->buffers, buffers, m->n_buffers * sizeof(float));
        if (with_optimizer)
            m->be->to_device(m->be, m->momentum, momentum, m->n_weights * sizeof(float));
        bmst_model_refresh_act(m);
    }
    free(weights), free(buffers), free(momentum), free(scratch);
    return status;
}
