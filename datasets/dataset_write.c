/* Writing dataset files: checks the source, computes the per-channel mean and
 * std of the training images, builds the file in memory and writes it under a
 * temporary name that is renamed at the end, so the output is either absent
 * (or the previous file) or whole. */
#include "dataset.h"

#include "atomic_file.h"
#include "error.h"
#include "h5_memfile.h"
#include "h5util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_IMAGES 16                   /* images per chunk, see docs/dataset-format.md */
#define CHUNK_MAX_BYTES ((size_t)4 << 20) /* fewer images per chunk when they are large */

static const char *split_names[BMST_SPLIT_COUNT] = {"train", "test", "val"};

static int check_labels(const char *path, const char *what, int s, const int32_t *labels, size_t n,
                        int classes) {
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return bmst_error("%s: %s %s[%zu] = %d is outside [0, %d)", path, split_names[s], what,
                              i, (int)labels[i], classes);
    return 0;
}

static int check_source(const char *path, const struct bmst_dataset_source *src) {
    if (!src->name || strlen(src->name) >= sizeof(((struct bmst_dataset_info *)0)->name))
        return bmst_error("%s: dataset name missing or longer than 63 bytes", path);
    if (src->h <= 0 || src->w <= 0 || src->h > 65536 || src->w > 65536 || src->c <= 0 ||
        src->c > BMST_MAX_CHANNELS)
        return bmst_error("%s: image shape %dx%dx%d not supported (H, W 1..65536, C 1..%d)", path,
                          src->h, src->w, src->c, BMST_MAX_CHANNELS);
    if (src->classes <= 0 || src->classes > BMST_MAX_CLASSES)
        return bmst_error("%s: classes = %d is outside 1..%d", path, src->classes,
                          BMST_MAX_CLASSES);
    for (int s = 0; s < BMST_SPLIT_COUNT; s++) {
        if (s == BMST_SPLIT_VAL && src->count[s] == 0) continue; /* /val is optional */
        if (src->count[s] == 0 || src->count[s] > UINT32_MAX)
            return bmst_error("%s: the %s split has %zu samples (need 1 to 2^32-1)", path,
                              split_names[s], src->count[s]);
        BMST_ASSERT(src->images[s] && src->labels[s]);
        if (check_labels(path, "label", s, src->labels[s], src->count[s], src->classes) != 0)
            return -1;
        if (src->coarse_labels[s] && check_labels(path, "coarse label", s, src->coarse_labels[s],
                                                  src->count[s], src->coarse_classes) != 0)
            return -1;
    }
    if (src->class_names)
        for (int i = 0; i < src->classes; i++)
            BMST_ASSERT(src->class_names[i]);
    return 0;
}

/* Mean and population std per channel over the training pixels on the 0..1
 * scale, from exact per-channel histograms (no rounding drift for big N). */
static void channel_stats(const struct bmst_dataset_source *src, float *mean, float *std) {
    uint64_t hist[BMST_MAX_CHANNELS][256];
    memset(hist, 0, sizeof hist);
    size_t pixels = src->count[0] * src->h * src->w;
    const uint8_t *p = src->images[0];
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < src->c; c++)
            hist[c][*p++]++;
    for (int c = 0; c < src->c; c++) {
        double sum = 0.0, sq = 0.0;
        for (int v = 0; v < 256; v++)
            sum += (double)hist[c][v] * (v / 255.0);
        double m = sum / (double)pixels;
        for (int v = 0; v < 256; v++)
            sq += (double)hist[c][v] * (v / 255.0 - m) * (v / 255.0 - m);
        mean[c] = (float)m;
        std[c] = (float)sqrt(sq / (double)pixels);
    }
}

/* Writes one int32 [N] dataset (contiguous: labels are small and read whole). */
static int write_int_array(hid_t group, const char *name, const char *path, const int32_t *values,
                           size_t n) {
    hsize_t dims[1] = {n};
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    H5_TRY(space = H5Screate_simple(1, dims, NULL), path);
    H5_TRY(dset =
               H5Dcreate2(group, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
           path);
    H5_TRY(H5Dwrite(dset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), path);
    H5Dclose(dset);
    H5Sclose(space);
    return 0;
fail:
    h5_close(dset);
    h5_close(space);
    return -1;
}

static int write_split(hid_t file, const char *path, const struct bmst_dataset_source *src, int s) {
    size_t n = src->count[s], image_bytes = (size_t)src->h * src->w * src->c;
    size_t per_chunk = CHUNK_MAX_BYTES / image_bytes;
    per_chunk = per_chunk < 1 ? 1 : per_chunk > CHUNK_IMAGES ? CHUNK_IMAGES : per_chunk;
    per_chunk = per_chunk > n ? n : per_chunk;
    hsize_t dims[4] = {n, src->h, src->w, src->c}, chunk[4] = {per_chunk, src->h, src->w, src->c};
    hid_t group = H5I_INVALID_HID, space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID,
          dset = H5I_INVALID_HID;
    H5_TRY(group = H5Gcreate2(file, split_names[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path);
    H5_TRY(space = H5Screate_simple(4, dims, NULL), path);
    H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE), path);
    H5_TRY(H5Pset_chunk(dcpl, 4, chunk), path);
    H5_TRY(dset = H5Dcreate2(group, "images", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
           path);
    H5_TRY(H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, src->images[s]), path);
    if (write_int_array(group, "labels", path, src->labels[s], n) != 0) goto fail;
    if (src->coarse_labels[s] &&
        write_int_array(group, "coarse_labels", path, src->coarse_labels[s], n) != 0)
        goto fail;
    H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Gclose(group);
    return 0;
fail:
    h5_close(dset);
    h5_close(dcpl);
    h5_close(space);
    h5_close(group);
    return -1;
}

/* Builds the file in memory; its bytes reach `out` only when all is there. */
static int write_file(struct bmst_atomic_file *out, const char *path,
                      const struct bmst_dataset_source *src) {
    float mean[BMST_MAX_CHANNELS], std[BMST_MAX_CHANNELS];
    channel_stats(src, mean, std);
    struct bmst_h5_memfile m;
    if (bmst_h5_memfile_create(&m, out) != 0) {
        bmst_atomic_abort(out);
        return -1;
    }
    hid_t file = m.file;
    if (h5_write_string_attr(file, "format", path, "bmst_dataset") != 0 ||
        h5_write_int_attr(file, "version", path, 1) != 0 ||
        h5_write_string_attr(file, "name", path, src->name) != 0 ||
        h5_write_int_attr(file, "classes", path, src->classes) != 0 ||
        (src->class_names && h5_write_string_array_attr(file, "class_names", path, src->class_names,
                                                        src->classes) != 0) ||
        ((src->coarse_labels[0] || src->coarse_labels[1] || src->coarse_labels[2]) &&
         h5_write_int_attr(file, "coarse_classes", path, src->coarse_classes) != 0) ||
        h5_write_float_array_attr(file, "mean", path, mean, src->c) != 0 ||
        h5_write_float_array_attr(file, "std", path, std, src->c) != 0 ||
        write_split(file, path, src, BMST_SPLIT_TRAIN) != 0 ||
        write_split(file, path, src, BMST_SPLIT_TEST) != 0 ||
        (src->count[BMST_SPLIT_VAL] && write_split(file, path, src, BMST_SPLIT_VAL) != 0)) {
        bmst_h5_memfile_discard(&m, out);
        return -1;
    }
    return bmst_h5_memfile_save(&m, out);
}

int bmst_dataset_write(const char *path, const struct bmst_dataset_source *src) {
    if (check_source(path, src) != 0) return -1;
    /* first, so a missing folder or a folder not writable is known before the work */
    struct bmst_atomic_file out;
    if (bmst_atomic_open(&out, path, "the dataset") != 0) return -1;
    bmst_hdf5_lock();
    int rc = write_file(&out, path, src);
    bmst_hdf5_unlock();
    return rc;
}
