/* The compact int8 HDF5 (export_int8_h5.h): /int8/<name> and
 * /int8/<name>.scale per conv and fc weight, /int8/<name>.mask beside the
 * sparse ones, /fp32/<name> for the rest, format attributes at the root. */
#include "export_int8_h5.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "checkpoint_tensors.h"
#include "dataset.h"
#include "error.h"
#include "h5_memfile.h"
#include "quantize.h"

#define FORMAT "bmst_dist int8"
#define VERSION 1

/* Datasets this small live in their object header (H5D_COMPACT): no
 * separate block and its alignment, which would cost more than the data. */
#define COMPACT_BYTES 16384

static int write_set(hid_t group, const char *name, hid_t file_type, hid_t mem_type, int ndim,
                     const hsize_t *dims, size_t bytes, const void *data) {
    hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    if (plist >= 0 && bytes <= COMPACT_BYTES) H5Pset_layout(plist, H5D_COMPACT);
    hid_t set = space < 0 || plist < 0
                    ? -1
                    : H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    int ok = set >= 0 &&
             (bytes == 0 || H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    if (set >= 0) H5Dclose(set);
    if (plist >= 0) H5Pclose(plist);
    if (space >= 0) H5Sclose(space);
    return ok ? 0 : -1;
}

/* Weight p (w in PyTorch's layout) as int8: dense, or its nonzero values and
 * a bitmask (bit i of byte i / 8, lowest first: element i is nonzero) when
 * count / 8 + nonzeros bytes are fewer than count. 1 when stored sparse, 0
 * dense, -1 where HDF5 failed. */
static int write_int8(hid_t group, const struct bmst_param *p, const float *w) {
    int k = p->dims[0];
    int8_t *q = bmst_xmalloc(p->count);
    float *scale = bmst_xmalloc((size_t)k * sizeof *scale);
    bmst_quantize_channels(w, k, p->count / (size_t)k, q, scale);
    size_t nonzero = 0, mask_bytes = (p->count + 7) / 8;
    for (size_t i = 0; i < p->count; i++)
        nonzero += q[i] != 0;
    int sparse = mask_bytes + nonzero < p->count;
    char name[BMST_PARAM_NAME_MAX + 16];
    hsize_t dims[4], kdim = (hsize_t)k;
    for (int i = 0; i < p->ndim; i++)
        dims[i] = (hsize_t)p->dims[i];
    snprintf(name, sizeof name, "%s.scale", p->name);
    int ok = write_set(group, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &kdim,
                       (size_t)k * sizeof *scale, scale) == 0;
    if (ok && !sparse) {
        ok = write_set(group, p->name, H5T_STD_I8LE, H5T_NATIVE_INT8, p->ndim, dims, p->count, q) ==
             0;
    } else if (ok) {
        uint8_t *mask = calloc(mask_bytes, 1);
        size_t filled = 0;
        for (size_t i = 0; i < p->count; i++)
            if (q[i]) {
                mask[i / 8] |= (uint8_t)(1u << (i % 8));
                q[filled++] = q[i];
            }
        hsize_t mdim = mask_bytes, vdim = nonzero;
        snprintf(name, sizeof name, "%s.mask", p->name);
        ok = write_set(group, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &mdim, mask_bytes, mask) ==
                 0 &&
             write_set(group, p->name, H5T_STD_I8LE, H5T_NATIVE_INT8, 1, &vdim, nonzero, q) == 0;
        /* the dense shape, which the values alone no longer carry */
        hid_t set = ok ? H5Dopen2(group, p->name, H5P_DEFAULT) : -1;
        int shape[4];
        for (int i = 0; i < p->ndim; i++)
            shape[i] = p->dims[i];
        ok = set >= 0 &&
             bmst_ckpt_write_attr_array(set, "shape", H5T_NATIVE_INT, p->ndim, shape) == 0;
        if (set >= 0) H5Dclose(set);
        free(mask);
    }
    free(q), free(scale);
    return ok ? sparse : -1;
}

struct counts {
    int int8, sparse, fp32;
};

static int write_tensors(hid_t file, const struct bmst_model *m, const float *weights,
                         const float *buffers, struct counts *n) {
    hid_t g8 = H5Gcreate2(file, "int8", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g32 = H5Gcreate2(file, "fp32", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *scratch = bmst_ckpt_param_scratch(m);
    int ok = g8 >= 0 && g32 >= 0;
    for (int i = 0; i < m->n_params && ok; i++) {
        const struct bmst_param *p = &m->params[i];
        const float *src = (p->role == BMST_PARAM_WEIGHT ? weights : buffers) + p->offset;
        if (p->conv_krsc) {
            bmst_ckpt_krsc_to_oihw(p->dims, src, scratch);
            src = scratch;
        }
        if (bmst_quantized_param(p)) {
            int sparse = write_int8(g8, p, src);
            ok = sparse >= 0;
            n->int8++;
            n->sparse += sparse == 1;
        } else {
            hsize_t dims[4];
            for (int j = 0; j < p->ndim; j++)
                dims[j] = (hsize_t)p->dims[j];
            ok = write_set(g32, p->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, p->ndim, dims,
                           p->count * sizeof(float), src) == 0;
            n->fp32++;
        }
    }
    free(scratch);
    if (g8 >= 0) H5Gclose(g8);
    if (g32 >= 0) H5Gclose(g32);
    return ok ? 0 : -1;
}

static int write_meta(hid_t file, const struct bmst_checkpoint_meta *meta) {
    return bmst_ckpt_write_network(file, FORMAT, VERSION, meta) == 0 &&
                   bmst_ckpt_write_attr(file, "epoch", H5T_NATIVE_INT, &meta->epoch) == 0
               ? 0
               : -1;
}

int bmst_export_int8_h5(const struct bmst_model *m, const char *checkpoint,
                        const struct bmst_checkpoint_meta *meta, const char *out) {
    float *weights = bmst_ckpt_host_copy(m, m->weights, m->n_weights);
    float *buffers = bmst_ckpt_host_copy(m, m->buffers, m->n_buffers);
    struct counts n = {0};
    struct bmst_atomic_file file;
    int status = bmst_atomic_open(&file, out, "the int8 HDF5");
    if (status == 0) {
        bmst_hdf5_lock();
        struct bmst_h5_memfile mem;
        status = bmst_h5_memfile_create(&mem, &file);
        if (status == 0 && (write_meta(mem.file, meta) != 0 ||
                            write_tensors(mem.file, m, weights, buffers, &n) != 0)) {
            bmst_h5_memfile_discard(&mem, &file);
            status =
                bmst_error("cannot write the int8 HDF5 %s: HDF5 could not build it in memory", out);
        } else if (status == 0) {
            status = bmst_h5_memfile_save(&mem, &file);
        } else {
            bmst_atomic_abort(&file);
        }
        bmst_hdf5_unlock();
    }
    free(weights), free(buffers);
    struct stat st;
    if (status == 0 && stat(out, &st) == 0)
        printf("%s (%s, epoch %d) -> %s: %lld bytes; %d conv and fc weights int8 per output "
               "channel, %d of them sparse (bitmask + nonzero values); %d tensors float32\n",
               checkpoint, meta->arch, meta->epoch, out, (long long)st.st_size, n.int8, n.sparse,
               n.fp32);
    return status;
}
