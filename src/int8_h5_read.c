/* Reading the compact int8 HDF5 back (export_int8_h5.h): `eval --checkpoint
 * FILE` scores the weights it holds, the int8 ones dequantized. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_tensors.h"
#include "dataset.h"
#include "error.h"
#include "export_int8_h5.h"
#include "quantize.h"

#define FORMAT "bmst_dist int8"

int bmst_int8_h5_is(const char *path) {
    char format[32] = "";
    bmst_hdf5_lock();
    H5E_BEGIN_TRY {
        hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (file >= 0) {
            if (H5Aexists(file, "format") > 0 &&
                bmst_ckpt_read_string_attr(file, path, "", "format", format, sizeof format) != 0)
                format[0] = 0;
            H5Fclose(file);
        }
    }
    H5E_END_TRY;
    bmst_hdf5_unlock();
    return strcmp(format, FORMAT) == 0;
}

int bmst_int8_h5_read_meta(const char *path, struct bmst_checkpoint_meta *meta) {
    memset(meta, 0, sizeof *meta);
    bmst_hdf5_lock();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int status = file < 0 ? bmst_error("cannot open the int8 HDF5 %s", path) : 0;
    if (status == 0 &&
        (bmst_ckpt_read_string_attr(file, path, "", "arch", meta->arch, sizeof meta->arch) != 0 ||
         bmst_ckpt_read_attr(file, path, "", "in_h", H5T_NATIVE_INT, &meta->in_h) != 0 ||
         bmst_ckpt_read_attr(file, path, "", "in_w", H5T_NATIVE_INT, &meta->in_w) != 0 ||
         bmst_ckpt_read_attr(file, path, "", "in_c", H5T_NATIVE_INT, &meta->in_c) != 0 ||
         bmst_ckpt_read_attr(file, path, "", "classes", H5T_NATIVE_INT, &meta->classes) != 0 ||
         bmst_ckpt_read_attr(file, path, "", "aux_logits", H5T_NATIVE_INT, &meta->aux_logits) !=
             0 ||
         bmst_ckpt_read_attr(file, path, "", "epoch", H5T_NATIVE_INT, &meta->epoch) != 0 ||
         bmst_ckpt_read_stem(file, path, meta) != 0))
        status = -1;
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    return status;
}

/* group/name, `count` elements of mem_type into out. */
static int read_set(hid_t group, const char *path, const char *where, const char *name,
                    hid_t mem_type, size_t count, void *out) {
    hid_t set = H5Lexists(group, name, H5P_DEFAULT) > 0 ? H5Dopen2(group, name, H5P_DEFAULT) : -1;
    if (set < 0) return bmst_error("int8 HDF5 %s has no tensor /%s/%s", path, where, name);
    hid_t space = H5Dget_space(set);
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    int ok = points == (hssize_t)count &&
             H5Dread(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    if (space >= 0) H5Sclose(space);
    H5Dclose(set);
    if (!ok)
        return bmst_error("int8 HDF5 %s: /%s/%s holds %lld values, the network's has %zu", path,
                          where, name, (long long)points, count);
    return 0;
}

/* Weight p's int8 values, dense or from the bitmask, into q [count]. */
static int read_int8(hid_t group, const char *path, const struct bmst_param *p, int8_t *q) {
    char name[BMST_PARAM_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.mask", p->name);
    if (H5Lexists(group, name, H5P_DEFAULT) <= 0)
        return read_set(group, path, "int8", p->name, H5T_NATIVE_INT8, p->count, q);
    size_t mask_bytes = (p->count + 7) / 8, nonzero = 0;
    uint8_t *mask = bmst_xmalloc(mask_bytes);
    int status = read_set(group, path, "int8", name, H5T_NATIVE_UINT8, mask_bytes, mask);
    for (size_t i = 0; status == 0 && i < p->count; i++)
        nonzero += (mask[i / 8] >> (i % 8)) & 1u;
    int8_t *values = bmst_xmalloc(nonzero ? nonzero : 1);
    if (status == 0)
        status = read_set(group, path, "int8", p->name, H5T_NATIVE_INT8, nonzero, values);
    for (size_t i = 0, next = 0; status == 0 && i < p->count; i++)
        q[i] = (mask[i / 8] >> (i % 8)) & 1u ? values[next++] : 0;
    free(mask), free(values);
    return status;
}

/* Parameter p into dst (its place in the host copy), in the model's layout. */
static int read_param(hid_t file, const char *path, const struct bmst_param *p, float *dst,
                      float *scratch) {
    float *oihw = p->conv_krsc ? scratch : dst;
    int status;
    if (bmst_quantized_param(p)) {
        hid_t group = H5Gopen2(file, "int8", H5P_DEFAULT);
        if (group < 0) return bmst_error("int8 HDF5 %s has no group /int8", path);
        int k = p->dims[0];
        int8_t *q = bmst_xmalloc(p->count);
        float *scale = bmst_xmalloc((size_t)k * sizeof *scale);
        char name[BMST_PARAM_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s.scale", p->name);
        status = read_set(group, path, "int8", name, H5T_NATIVE_FLOAT, (size_t)k, scale);
        if (status == 0) status = read_int8(group, path, p, q);
        if (status == 0) bmst_dequantize_channels(q, k, p->count / (size_t)k, scale, oihw);
        free(q), free(scale);
        H5Gclose(group);
    } else {
        hid_t group = H5Gopen2(file, "fp32", H5P_DEFAULT);
        if (group < 0) return bmst_error("int8 HDF5 %s has no group /fp32", path);
        status = read_set(group, path, "fp32", p->name, H5T_NATIVE_FLOAT, p->count, oihw);
        H5Gclose(group);
    }
    if (status == 0 && p->conv_krsc) bmst_ckpt_oihw_to_krsc(p->dims, scratch, dst);
    return status;
}

int bmst_int8_h5_load(const char *path, struct bmst_model *m) {
    float *weights = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    float *buffers = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    float *scratch = bmst_ckpt_param_scratch(m);
    bmst_hdf5_lock();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int status = file < 0 ? bmst_error("cannot open the int8 HDF5 %s", path) : 0;
    for (int i = 0; i < m->n_params && status == 0; i++) {
        const struct bmst_param *p = &m->params[i];
        float *dst = (p->role == BMST_PARAM_WEIGHT ? weights : buffers) + p->offset;
        status = read_param(file, path, p, dst, scratch);
    }
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    if (status == 0) bmst_model_set(m, weights, buffers);
    free(weights), free(buffers), free(scratch);
    return status;
}
