/* HDF5 attributes and tensors of checkpoints (see checkpoint_tensors.h). */
#include "checkpoint_tensors.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "h5util.h"
#include "models/models.h"

void bmst_ckpt_krsc_to_oihw(const int *dims, const float *src, float *dst) {
    int k = dims[0], c = dims[1], r = dims[2], s = dims[3];
    for (int ik = 0; ik < k; ik++)
        for (int ir = 0; ir < r; ir++)
            for (int is = 0; is < s; is++)
                for (int ic = 0; ic < c; ic++)
                    dst[(((size_t)ik * c + ic) * r + ir) * s + is] =
                        src[(((size_t)ik * r + ir) * s + is) * c + ic];
}

void bmst_ckpt_oihw_to_krsc(const int *dims, const float *src, float *dst) {
    int k = dims[0], c = dims[1], r = dims[2], s = dims[3];
    for (int ik = 0; ik < k; ik++)
        for (int ir = 0; ir < r; ir++)
            for (int is = 0; is < s; is++)
                for (int ic = 0; ic < c; ic++)
                    dst[(((size_t)ik * r + ir) * s + is) * c + ic] =
                        src[(((size_t)ik * c + ic) * r + ir) * s + is];
}

/* ---- writing ---- */

int bmst_ckpt_write_attr_array(hid_t loc, const char *name, hid_t type, int count,
                               const void *values) {
    hsize_t n = (hsize_t)count;
    hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t attr = space < 0 ? -1 : H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Awrite(attr, type, values) >= 0;
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return ok ? 0 : -1;
}

int bmst_ckpt_write_attr(hid_t loc, const char *name, hid_t type, const void *value) {
    return bmst_ckpt_write_attr_array(loc, name, type, 1, value);
}

int bmst_ckpt_write_string_attr(hid_t loc, const char *name, const char *value) {
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0) return -1;
    int status = H5Tset_size(type, strlen(value) + 1) < 0
                     ? -1
                     : bmst_ckpt_write_attr(loc, name, type, value);
    H5Tclose(type);
    return status;
}

int bmst_ckpt_write_tensor(hid_t group, const char *name, int ndim, const int *dims, hid_t mem_type,
                           const void *data) {
    hsize_t shape[4];
    for (int i = 0; i < ndim; i++)
        shape[i] = (hsize_t)dims[i];
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

int bmst_ckpt_write_params(hid_t group, const struct bmst_model *m, const float *host_weights,
                           const float *host_buffers, int weights_only, float *scratch) {
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (weights_only && p->role != BMST_PARAM_WEIGHT) continue;
        const float *src = (p->role == BMST_PARAM_WEIGHT ? host_weights : host_buffers) + p->offset;
        if (p->conv_krsc) {
            bmst_ckpt_krsc_to_oihw(p->dims, src, scratch);
            src = scratch;
        }
        if (bmst_ckpt_write_tensor(group, p->name, p->ndim, p->dims, H5T_NATIVE_FLOAT, src) != 0)
            return -1;
    }
    return 0;
}

/* ---- reading ---- */

static const char *slash(const char *where) {
    return where[0] ? "/" : "";
}

int bmst_ckpt_read_attr_array(hid_t loc, const char *path, const char *where, const char *name,
                              hid_t type, int count, void *out) {
    hid_t attr = H5Aexists(loc, name) > 0 ? H5Aopen(loc, name, H5P_DEFAULT) : -1;
    if (attr < 0)
        return bmst_error("checkpoint %s has no attribute '%s%s%s'", path, where, slash(where),
                          name);
    hid_t space = H5Aget_space(attr);
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    herr_t status = points == count ? H5Aread(attr, type, out) : -1;
    if (space >= 0) H5Sclose(space);
    H5Aclose(attr);
    if (status < 0)
        return bmst_error("checkpoint %s: cannot read attribute '%s%s%s'%s", path, where,
                          slash(where), name, points == count ? "" : " (wrong size)");
    return 0;
}

int bmst_ckpt_read_attr(hid_t loc, const char *path, const char *where, const char *name,
                        hid_t type, void *out) {
    return bmst_ckpt_read_attr_array(loc, path, where, name, type, 1, out);
}

/* Either HDF5 string form (ours are fixed-length; h5py writes variable-length
 * UTF-8), through the dataset reader's helper. */
int bmst_ckpt_read_string_attr(hid_t loc, const char *path, const char *where, const char *name,
                               char *out, size_t size) {
    if (H5Aexists(loc, name) <= 0)
        return bmst_error("checkpoint %s has no attribute '%s%s%s'", path, where, slash(where),
                          name);
    return h5_read_string_attr(loc, name, path, out, size);
}

int bmst_ckpt_read_int64(hid_t group, const char *path, const char *where, const char *name,
                         int64_t *out) {
    hid_t set = H5Lexists(group, name, H5P_DEFAULT) > 0 ? H5Dopen2(group, name, H5P_DEFAULT) : -1;
    if (set < 0) return bmst_error("checkpoint %s has no tensor %s/%s", path, where, name);
    hid_t space = H5Dget_space(set);
    int ok = space >= 0 && H5Sget_simple_extent_npoints(space) == 1 &&
             H5Dread(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    if (space >= 0) H5Sclose(space);
    H5Dclose(set);
    return ok ? 0
              : bmst_error("checkpoint %s: cannot read %s/%s as one integer", path, where, name);
}

static size_t count_nonfinite(const float *x, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !isfinite(x[i]);
    return bad;
}

static void shape_text(int ndim, const hsize_t *dims, char *out, size_t size) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, i ? ", %llu" : "%llu",
                                 (unsigned long long)dims[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

/* Reads group/name into dst (count floats), checking PyTorch's shape. */
static int read_tensor(hid_t group, const char *path, const char *where, const struct bmst_param *p,
                       float *dst) {
    hid_t set =
        H5Lexists(group, p->name, H5P_DEFAULT) > 0 ? H5Dopen2(group, p->name, H5P_DEFAULT) : -1;
    if (set < 0) return bmst_error("checkpoint %s has no tensor %s/%s", path, where, p->name);
    hid_t space = H5Dget_space(set), type = H5Dget_type(set);
    hsize_t dims[8] = {0};
    int ndim = H5Sget_simple_extent_ndims(space);
    int same = ndim == p->ndim && H5Tget_class(type) == H5T_FLOAT;
    if (ndim >= 0 && ndim <= 8) H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; same && i < ndim; i++)
        same = dims[i] == (hsize_t)p->dims[i];
    int status = 0;
    if (!same) {
        hsize_t want[4];
        for (int i = 0; i < p->ndim; i++)
            want[i] = (hsize_t)p->dims[i];
        char got[96], expected[96];
        shape_text(ndim > 8 ? 8 : ndim, dims, got, sizeof got);
        shape_text(p->ndim, want, expected, sizeof expected);
        status = bmst_error("checkpoint %s: %s/%s is %s %s, the model needs float %s", path, where,
                            p->name, H5Tget_class(type) == H5T_FLOAT ? "float" : "non-float", got,
                            expected);
    } else if (H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        status = bmst_error("checkpoint %s: cannot read %s/%s (truncated or corrupt?)", path, where,
                            p->name);
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

/* Whether `name` is what group /where of a checkpoint of m holds: a
 * parameter (weights_only: a weight), or the step counter PyTorch keeps
 * beside a batch norm's running mean (write_batch_counters in checkpoint.c). */
static int expected_tensor(const struct bmst_model *m, int weights_only, const char *name) {
    const char *counter = ".num_batches_tracked";
    size_t len = strlen(name), counter_len = strlen(counter);
    int is_counter = !weights_only && len > counter_len &&
                     strcmp(name + len - counter_len, counter) == 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (weights_only && p->role != BMST_PARAM_WEIGHT) continue;
        if (!is_counter && strcmp(p->name, name) == 0) return 1;
        if (is_counter && strncmp(p->name, name, len - counter_len) == 0 &&
            strcmp(p->name + len - counter_len, ".running_mean") == 0)
            return 1;
    }
    return 0;
}

struct unexpected_search {
    const struct bmst_model *m;
    int weights_only;
    char first[BMST_PARAM_NAME_MAX + 32]; /* the first name the model lacks */
};

static herr_t note_unexpected(hid_t group, const char *name, const H5L_info_t *info, void *arg) {
    (void)group, (void)info;
    struct unexpected_search *search = arg;
    if (expected_tensor(search->m, search->weights_only, name)) return 0;
    snprintf(search->first, sizeof search->first, "%s", name);
    return 1; /* stop at the first */
}

/* A tensor the model does not have means the file is another model's (or
 * another setting's, such as --aux-logits): loading the rest would run a
 * network that is not the one trained, so it is an error, as PyTorch's
 * load_state_dict(strict=True). */
static int check_no_unexpected(hid_t group, const char *path, const char *where,
                               const struct bmst_model *m, int weights_only) {
    struct unexpected_search search = {.m = m, .weights_only = weights_only};
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, NULL, note_unexpected, &search) < 0)
        return bmst_error("checkpoint %s: cannot list /%s", path, where);
    if (search.first[0])
        return bmst_error("checkpoint %s holds %s/%s, which this model does not have (a "
                          "checkpoint of another network or setting?)",
                          path, where, search.first);
    return 0;
}

int bmst_ckpt_read_params(hid_t file, const char *path, const char *where,
                          const struct bmst_model *m, int weights_only, float *weights,
                          float *buffers, float *scratch) {
    return bmst_ckpt_read_params_except(file, path, where, m, weights_only, NULL, weights, buffers,
                                        scratch);
}

int bmst_ckpt_read_params_except(hid_t file, const char *path, const char *where,
                                 const struct bmst_model *m, int weights_only,
                                 const unsigned char *skip, float *weights, float *buffers,
                                 float *scratch) {
    hid_t group = H5Lexists(file, where, H5P_DEFAULT) > 0 ? H5Gopen2(file, where, H5P_DEFAULT) : -1;
    if (group < 0) return bmst_error("checkpoint %s has no group /%s", path, where);
    int status = check_no_unexpected(group, path, where, m, weights_only);
    for (int i = 0; i < m->n_params && status == 0; i++) {
        const struct bmst_param *p = &m->params[i];
        if ((weights_only && p->role != BMST_PARAM_WEIGHT) || (skip && skip[i])) continue;
        float *dst = (p->role == BMST_PARAM_WEIGHT ? weights : buffers) + p->offset;
        status = read_tensor(group, path, where, p, p->conv_krsc ? scratch : dst);
        if (status == 0 && p->conv_krsc) bmst_ckpt_oihw_to_krsc(p->dims, scratch, dst);
    }
    H5Gclose(group);
    return status;
}

/* ---- host copies ---- */

int bmst_ckpt_check_finite(const char *path, const struct bmst_model *m, const float *weights,
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

float *bmst_ckpt_host_copy(const struct bmst_model *m, const float *device, size_t count) {
    float *host = bmst_xmalloc((count ? count : 1) * sizeof(float));
    m->be->to_host(m->be, host, device, count * sizeof(float));
    return host;
}

float *bmst_ckpt_param_scratch(const struct bmst_model *m) {
    size_t largest = 1;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].count > largest) largest = m->params[i].count;
    return bmst_xmalloc(largest * sizeof(float));
}

/* ---- the network's attributes ---- */

int bmst_ckpt_write_network(hid_t file, const char *format, int version,
                            const struct bmst_checkpoint_meta *meta) {
    return bmst_ckpt_write_string_attr(file, "format", format) == 0 &&
                   bmst_ckpt_write_attr(file, "version", H5T_NATIVE_INT, &version) == 0 &&
                   bmst_ckpt_write_string_attr(file, "arch", meta->arch) == 0 &&
                   bmst_ckpt_write_attr(file, "in_h", H5T_NATIVE_INT, &meta->in_h) == 0 &&
                   bmst_ckpt_write_attr(file, "in_w", H5T_NATIVE_INT, &meta->in_w) == 0 &&
                   bmst_ckpt_write_attr(file, "in_c", H5T_NATIVE_INT, &meta->in_c) == 0 &&
                   bmst_ckpt_write_attr(file, "classes", H5T_NATIVE_INT, &meta->classes) == 0 &&
                   bmst_ckpt_write_attr(file, "aux_logits", H5T_NATIVE_INT, &meta->aux_logits) ==
                       0 &&
                   (meta->stem == BMST_STEM_AUTO ||
                    bmst_ckpt_write_string_attr(file, "stem", bmst_stem_name(meta->stem)) == 0)
               ? 0
               : -1;
}

int bmst_ckpt_read_stem(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    char stem[16];
    if (H5Aexists(file, "stem") <= 0) return 0;
    if (bmst_ckpt_read_string_attr(file, path, "", "stem", stem, sizeof stem) != 0) return -1;
    if (bmst_stem_parse(stem, &meta->stem) != 0)
        return bmst_error("%s is damaged or not ours: it records --stem %s", path, stem);
    return 0;
}
