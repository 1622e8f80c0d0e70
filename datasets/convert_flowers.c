/* Oxford Flowers 102 as published: jpg/image_NNNNN.jpg (1-based, five
 * digits), imagelabels.mat (`labels`: the class 1..102 of every image) and
 * setid.mat (`trnid`, `valid`, `tstid`: 1-based image ids of the official
 * splits), read with libmatio. By default training is trnid + valid (2,040
 * images) and test is tstid (6,149); `--split swapped` trains on tstid and
 * tests on trnid + valid, as many papers do; `--official-val` keeps the three
 * official lists apart: trnid trains, valid is /val, tstid tests. Labels are
 * stored 0..101. */
#include "convert.h"

#include "error.h"

#include <errno.h>
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOWERS_CLASSES 102
#define FLOWERS_SIZE 128 /* default --size; docs/dataset-format.md says why */
#define FLOWERS_MAX_IMAGES 10000000

static const char *const split_vars[3] = {"trnid", "valid", "tstid"};

/* matio's messages would go to stderr; the last one is kept for ours. */
static char matio_message[256];

static void keep_matio_message(int level, char *message) {
    (void)level;
    snprintf(matio_message, sizeof matio_message, "%s", message);
}

/* Element i of a numeric matio variable as a double. */
static double mat_element(const matvar_t *v, size_t i) {
    switch (v->class_type) {
    case MAT_C_DOUBLE:
        return ((const double *)v->data)[i];
    case MAT_C_SINGLE:
        return ((const float *)v->data)[i];
    case MAT_C_INT8:
        return ((const int8_t *)v->data)[i];
    case MAT_C_UINT8:
        return ((const uint8_t *)v->data)[i];
    case MAT_C_INT16:
        return ((const int16_t *)v->data)[i];
    case MAT_C_UINT16:
        return ((const uint16_t *)v->data)[i];
    case MAT_C_INT32:
        return ((const int32_t *)v->data)[i];
    case MAT_C_UINT32:
        return ((const uint32_t *)v->data)[i];
    case MAT_C_INT64:
        return (double)((const int64_t *)v->data)[i];
    case MAT_C_UINT64:
        return (double)((const uint64_t *)v->data)[i];
    default:
        return -1.0; /* not reached: checked by the caller */
    }
}

/* Why variable `name` could not be read from the open file `mat`: absent
 * (the message lists what the file has) or present but unreadable. */
static int mat_missing(const char *path, mat_t *mat, const char *name) {
    size_t n = 0;
    char **names = Mat_GetDir(mat, &n), list[160] = "";
    size_t used = 0;
    for (size_t i = 0; names && i < n; i++) {
        if (names[i] && strcmp(names[i], name) == 0)
            return bmst_error("%s: cannot read variable '%s' (truncated or corrupt file?)%s%s",
                              path, name, matio_message[0] ? ": " : "", matio_message);
        if (names[i] && used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                                     names[i]);
    }
    if (used == 0)
        return bmst_error("%s: has no variable '%s' (none readable: empty, truncated or not a "
                          ".mat file?)",
                          path, name);
    return bmst_error("%s: has no variable '%s' (it has %s)", path, name, list);
}

/* A MATLAB v5 file is a 128-byte header and tagged elements (type, byte
 * count); libmatio reads a truncated one short without saying so, so the
 * elements' lengths are checked against the file's first. Other versions
 * (v4, v7.3) are left to libmatio. */
static int mat_check_length(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return bmst_error("%s: %s", path, strerror(errno));
    unsigned char head[128], tag[8];
    int rc = 0;
    if (fread(head, 1, sizeof head, f) == sizeof head &&
        ((head[126] == 'I' && head[127] == 'M') || (head[126] == 'M' && head[127] == 'I'))) {
        int little = head[126] == 'I';
        fseek(f, 0, SEEK_END);
        long size = ftell(f), at = 128;
        /* fewer than 8 bytes left: padding */
        while (rc == 0 && at + 8 <= size && fseek(f, at, SEEK_SET) == 0 &&
               fread(tag, 1, 8, f) == 8) {
            uint32_t type = little ? (uint32_t)tag[0] | (uint32_t)tag[1] << 8 |
                                         (uint32_t)tag[2] << 16 | (uint32_t)tag[3] << 24
                                   : (uint32_t)tag[3] | (uint32_t)tag[2] << 8 |
                                         (uint32_t)tag[1] << 16 | (uint32_t)tag[0] << 24;
            uint32_t bytes = little ? (uint32_t)tag[4] | (uint32_t)tag[5] << 8 |
                                          (uint32_t)tag[6] << 16 | (uint32_t)tag[7] << 24
                                    : (uint32_t)tag[7] | (uint32_t)tag[6] << 8 |
                                          (uint32_t)tag[5] << 16 | (uint32_t)tag[4] << 24;
            if (type >> 16) bytes = 0; /* a small element: tag and data in these 8 bytes */
            long end = at + 8 + (long)bytes;
            if (end > size)
                rc = bmst_error("%s: truncated: the element at byte %ld ends at byte %ld, the "
                                "file has %ld bytes",
                                path, at, end, size);
            at = type == 15 ? end : (end + 7) / 8 * 8; /* 15: miCOMPRESSED, not padded */
        }
    }
    fclose(f);
    return rc;
}

/* Reads variable `name` of the .mat file at `path`: a real numeric vector of
 * whole numbers in [lo, hi], into a malloc'd int array. */
static int mat_read_ids(const char *path, const char *name, long lo, long hi, long **out,
                        size_t *count) {
    *out = NULL;
    if (mat_check_length(path) != 0) return -1;
    matio_message[0] = '\0';
    Mat_LogInitFunc("bmst_data", keep_matio_message);
    bmst_hdf5_lock(); /* a v7.3 file is HDF5: keep HDF5 quiet, one caller at a time */
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    matvar_t *v = mat ? Mat_VarRead(mat, name) : NULL;
    if (mat && !v) mat_missing(path, mat, name);
    if (mat) Mat_Close(mat);
    bmst_hdf5_unlock();
    if (!mat)
        return bmst_error("%s: not a MATLAB .mat file%s%s", path, matio_message[0] ? ": " : "",
                          matio_message);
    if (!v) return -1; /* mat_missing said why */
    int rc = 0;
    size_t n = 1, long_dims = 0;
    for (int d = 0; d < v->rank; d++) {
        n *= v->dims[d];
        long_dims += v->dims[d] > 1;
    }
    if (v->class_type < MAT_C_DOUBLE || v->class_type > MAT_C_UINT64 || v->isComplex ||
        (n > 0 && !v->data) || long_dims > 1) {
        rc = bmst_error("%s: '%s' is not a real numeric vector", path, name);
    } else if (!(*out = malloc((n + 1) * sizeof **out))) {
        rc = bmst_error("%s: out of memory for '%s'", path, name);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        double x = mat_element(v, i);
        if (!(x >= lo && x <= hi) || x != (double)(long)x)
            rc = bmst_error("%s: %s(%zu) = %g is not a whole number in %ld..%ld", path, name, i + 1,
                            x, lo, hi);
        else
            (*out)[i] = (long)x;
    }
    Mat_VarFree(v);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    *count = n;
    return rc;
}

/* The three id lists of setid.mat, each image in at most one of them. */
static int read_splits(const char *path, size_t images, long *ids[3], size_t counts[3]) {
    for (int l = 0; l < 3; l++)
        if (mat_read_ids(path, split_vars[l], 1, (long)images, &ids[l], &counts[l]) != 0) return -1;
    signed char *owner = malloc(images);
    if (!owner) return bmst_error("out of memory");
    memset(owner, -1, images);
    int rc = 0;
    for (int l = 0; l < 3 && rc == 0; l++)
        for (size_t i = 0; i < counts[l] && rc == 0; i++) {
            long id = ids[l][i];
            if (owner[id - 1] == l)
                rc = bmst_error("%s: image %ld is listed twice in %s", path, id, split_vars[l]);
            else if (owner[id - 1] >= 0)
                rc = bmst_error("%s: image %ld is in both %s and %s", path, id,
                                split_vars[owner[id - 1]], split_vars[l]);
            owner[id - 1] = (signed char)l;
        }
    free(owner);
    return rc;
}

int bmst_convert_flowers102(const char *dir, const struct bmst_convert_options *opt,
                            struct bmst_converted *out) {
    char path[4096], image_dir[4096];
    long *labels = NULL, *ids[3] = {NULL, NULL, NULL};
    size_t images = 0, counts[3] = {0, 0, 0};
    struct bmst_image_job *jobs = NULL;
    char(*files)[24] = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (bmst_join_path(path, sizeof path, dir, "imagelabels.mat") != 0 ||
        mat_read_ids(path, "labels", 1, FLOWERS_CLASSES, &labels, &images) != 0)
        goto done;
    if (images > FLOWERS_MAX_IMAGES) {
        bmst_error("%s: %zu labels is more than %d images", path, images, FLOWERS_MAX_IMAGES);
        goto done;
    }
    if (bmst_join_path(path, sizeof path, dir, "setid.mat") != 0 ||
        read_splits(path, images, ids, counts) != 0 ||
        bmst_join_path(image_dir, sizeof image_dir, dir, "jpg") != 0)
        goto done;
    size_t n = counts[0] + counts[1] + counts[2], at = 0;
    jobs = malloc(n * sizeof *jobs);
    files = malloc(n * sizeof *files);
    if (!jobs || !files) {
        bmst_error("out of memory for %zu images", n);
        goto done;
    }
    /* trnid, valid, tstid in their listed order, each to its split */
    int to_split[3] = {BMST_SPLIT_TRAIN, opt->official_val ? BMST_SPLIT_VAL : BMST_SPLIT_TRAIN,
                       BMST_SPLIT_TEST};
    if (opt->swapped) to_split[0] = to_split[1] = BMST_SPLIT_TEST, to_split[2] = BMST_SPLIT_TRAIN;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++, at++) {
            long id = ids[l][i];
            snprintf(files[at], sizeof files[at], "image_%05ld.jpg", id);
            jobs[at].file = files[at];
            jobs[at].split = to_split[l];
            jobs[at].label = (int32_t)(labels[id - 1] - 1);
        }
    rc =
        bmst_convert_jpegs(out, opt->swapped ? "flowers102-swapped" : "flowers102", FLOWERS_CLASSES,
                           image_dir, jobs, n, opt->size ? opt->size : FLOWERS_SIZE, opt);
done:
    if (rc != 0) bmst_converted_free(out);
    free(files);
    free(jobs);
    free(labels);
    for (int l = 0; l < 3; l++)
        free(ids[l]);
    return rc;
}
