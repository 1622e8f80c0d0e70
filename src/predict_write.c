/* predict's output files (predict.h): CSV with a header row, or HDF5 with
 * one dataset per column, each built whole and renamed into place. */
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "checkpoint_tensors.h"
#include "dataset.h"
#include "error.h"
#include "h5_memfile.h"
#include "predict.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Text gathered into large writes (a row of a thousand logits is one). */
struct text_out {
    struct bmst_atomic_file *file;
    int status;
    size_t used;
    char buf[1 << 16];
};

static void put(struct text_out *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text_out *t, const char *fmt, ...) {
    if (t->used > sizeof t->buf - 256) { /* every field is far shorter */
        if (t->status == 0) t->status = bmst_atomic_write(t->file, t->buf, t->used);
        t->used = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    t->used += (size_t)vsnprintf(t->buf + t->used, sizeof t->buf - t->used, fmt, ap);
    va_end(ap);
}

/* index,label,top1,prob1,...,top5,prob5[,logit0,...] */
static int write_csv(const struct bmst_predictions *p, struct bmst_atomic_file *out) {
    struct text_out *t = bmst_xcalloc(1, sizeof *t);
    t->file = out;
    put(t, "index,label");
    for (int k = 0; k < p->top; k++)
        put(t, ",top%d,prob%d", k + 1, k + 1);
    for (int c = 0; p->with_logits && c < p->classes; c++)
        put(t, ",logit%d", c);
    put(t, "\n");
    for (size_t i = 0; i < p->n && t->status == 0; i++) {
        put(t, "%lld,%d", (long long)p->index[i], (int)p->label[i]);
        for (int k = 0; k < p->top; k++)
            put(t, ",%d,%.9g", (int)p->top_class[i * p->top + k],
                (double)p->top_prob[i * p->top + k]);
        for (int c = 0; p->with_logits && c < p->classes; c++)
            put(t, ",%.9g", (double)p->logits[i * (size_t)p->classes + c]);
        put(t, "\n");
    }
    int status = t->status == 0 ? bmst_atomic_write(out, t->buf, t->used) : -1;
    free(t);
    if (status != 0) {
        bmst_atomic_abort(out);
        return -1;
    }
    return bmst_atomic_commit(out);
}

static int write_set(hid_t file, const char *name, hid_t file_type, hid_t mem_type, int ndim,
                     size_t n, int cols, const void *data) {
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)cols};
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t set =
        space < 0 ? -1
                  : H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok =
        set >= 0 && (n == 0 || H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    if (set >= 0) H5Dclose(set);
    if (space >= 0) H5Sclose(space);
    return ok ? 0 : -1;
}

static int write_h5(const struct bmst_predictions *p, struct bmst_atomic_file *out,
                    const char *checkpoint, const char *split) {
    bmst_hdf5_lock();
    struct bmst_h5_memfile mem;
    if (bmst_h5_memfile_create(&mem, out) != 0) {
        bmst_atomic_abort(out);
        bmst_hdf5_unlock();
        return -1;
    }
    hid_t f = mem.file;
    int ok = bmst_ckpt_write_string_attr(f, "checkpoint", checkpoint) == 0 &&
             bmst_ckpt_write_string_attr(f, "split", split) == 0 &&
             write_set(f, "index", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, p->n, 1, p->index) == 0 &&
             write_set(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, p->n, 1, p->label) == 0 &&
             write_set(f, "top_class", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, p->n, p->top,
                       p->top_class) == 0 &&
             write_set(f, "top_prob", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, p->n, p->top,
                       p->top_prob) == 0 &&
             (!p->with_logits || write_set(f, "logits", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, p->n,
                                           p->classes, p->logits) == 0);
    int status;
    if (ok) {
        status = bmst_h5_memfile_save(&mem, out);
    } else {
        bmst_h5_memfile_discard(&mem, out);
        status = bmst_error("cannot write the predictions %s: HDF5 could not build them in "
                            "memory",
                            out->name);
    }
    bmst_hdf5_unlock();
    return status;
}

int bmst_predictions_check_path(const char *path) {
    if (ends_with(path, ".csv") || ends_with(path, ".h5") || ends_with(path, ".hdf5")) return 0;
    return bmst_error("--out %s: predict writes P.csv or P.h5 (by the name's ending)", path);
}

int bmst_predictions_write(const struct bmst_predictions *p, const char *path,
                           const char *checkpoint, const char *split) {
    if (bmst_predictions_check_path(path) != 0) return -1;
    int csv = ends_with(path, ".csv");
    struct bmst_atomic_file out;
    if (bmst_atomic_open(&out, path, "the predictions") != 0) return -1;
    return csv ? write_csv(p, &out) : write_h5(p, &out, checkpoint, split);
}
