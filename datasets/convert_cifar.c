/* CIFAR-10 and CIFAR-100 from either release:
 * - the binary one: fixed-size records of label byte(s) then 3072 pixel bytes;
 * - the Python one (what torchvision downloads): pickled dicts holding a
 *   uint8 matrix of 3072 pixel bytes per row and lists of labels, read by
 *   the data-only reader of pickle.h, without Python.
 * Pixels are planar in both (1024 R, 1024 G, 1024 B, each row-major 32x32)
 * and are converted to HWC. A file that is not a whole number of records, a
 * pickle without the expected arrays, or a label out of range, is an error.
 * DIR may be the release's folder or the folder it was unpacked in. */
#include "convert.h"

#include "error.h"
#include "pickle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_PIXELS (3 * CIFAR_PLANE)
#define CIFAR_MAX_FILES 5

/* One source: its files per split and where the labels sit, in each release. */
struct cifar_source {
    const char *name;
    const char *files[2][CIFAR_MAX_FILES + 1]; /* NULL-terminated, [train, test] */
    int label_bytes;                           /* before the pixels */
    int fine_at;                               /* byte of the label */
    int coarse_at;                             /* byte of the coarse label, or -1 */
    int classes, coarse_classes;
    const char *names; /* class-name file, optional */
    /* the Python release: files as above without ".bin", label keys, names */
    const char *py_files[2][CIFAR_MAX_FILES + 1];
    const char *py_labels, *py_meta, *py_names;
    /* the folders each release unpacks into, and its archive */
    const char *bin_folder, *bin_archive, *py_folder, *py_archive;
};

static const struct cifar_source cifar10 = {
    .name = "cifar10",
    .files = {{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
               "data_batch_5.bin", NULL},
              {"test_batch.bin", NULL}},
    .label_bytes = 1,
    .fine_at = 0,
    .coarse_at = -1,
    .classes = 10,
    .names = "batches.meta.txt",
    .py_files = {{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                  NULL},
                 {"test_batch", NULL}},
    .py_labels = "labels",
    .py_meta = "batches.meta",
    .py_names = "label_names",
    .bin_folder = "cifar-10-batches-bin",
    .bin_archive = "cifar-10-binary.tar.gz",
    .py_folder = "cifar-10-batches-py",
    .py_archive = "cifar-10-python.tar.gz",
};

static const struct cifar_source cifar100 = {
    .name = "cifar100",
    .files = {{"train.bin", NULL}, {"test.bin", NULL}},
    .label_bytes = 2,
    .fine_at = 1,
    .coarse_at = 0,
    .classes = 100,
    .coarse_classes = 20,
    .names = "fine_label_names.txt",
    .py_files = {{"train", NULL}, {"test", NULL}},
    .py_labels = "fine_labels",
    .py_meta = "meta",
    .py_names = "fine_label_names",
    .bin_folder = "cifar-100-binary",
    .bin_archive = "cifar-100-binary.tar.gz",
    .py_folder = "cifar-100-python",
    .py_archive = "cifar-100-python.tar.gz",
};

static void planar_to_hwc(const uint8_t *planes, uint8_t *dst) {
    for (int p = 0; p < CIFAR_PLANE; p++)
        for (int ch = 0; ch < 3; ch++)
            dst[p * 3 + ch] = planes[ch * CIFAR_PLANE + p];
}

/* Records in `path`; an error unless its size is a positive record multiple. */
static int count_records(const char *path, size_t record, size_t *n) {
    struct stat st;
    if (stat(path, &st) != 0) return bmst_error("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return bmst_error("%s: not a regular file", path);
    if (st.st_size == 0 || (size_t)st.st_size % record != 0)
        return bmst_error("%s: size %lld is not a positive multiple of the %zu-byte record", path,
                          (long long)st.st_size, record);
    *n = (size_t)st.st_size / record;
    return 0;
}

/* Converts the n records of `path` into split s starting at sample `first`. */
static int read_records(const char *path, const struct cifar_source *cs, size_t n,
                        struct bmst_converted *cv, int s, size_t first) {
    size_t record = (size_t)cs->label_bytes + CIFAR_PIXELS;
    FILE *f = fopen(path, "rb");
    if (!f) return bmst_error("%s: %s", path, strerror(errno));
    uint8_t buf[2 + CIFAR_PIXELS];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (fread(buf, 1, record, f) != record) {
            rc = bmst_error("%s: short read at record %zu", path, i);
            break;
        }
        size_t at = first + i;
        uint8_t fine = buf[cs->fine_at];
        if (fine >= cs->classes)
            rc = bmst_error("%s: record %zu has label %u (expected 0..%d)", path, i, fine,
                            cs->classes - 1);
        cv->labels[s][at] = fine;
        if (cs->coarse_at >= 0) {
            uint8_t coarse = buf[cs->coarse_at];
            if (coarse >= cs->coarse_classes)
                rc = bmst_error("%s: record %zu has coarse label %u (expected 0..%d)", path, i,
                                coarse, cs->coarse_classes - 1);
            cv->coarse_labels[s][at] = coarse;
        }
        planar_to_hwc(buf + cs->label_bytes, cv->images[s] + at * CIFAR_PIXELS);
    }
    fclose(f);
    return rc;
}

static int convert_binary(const char *dir, const struct cifar_source *cs,
                          struct bmst_converted *out) {
    size_t record = (size_t)cs->label_bytes + CIFAR_PIXELS;
    size_t per_file[2][CIFAR_MAX_FILES], count[BMST_SPLIT_COUNT] = {0, 0, 0};
    char path[4096];
    memset(out, 0, sizeof *out);
    for (int s = 0; s < 2; s++)
        for (int i = 0; cs->files[s][i]; i++) {
            if (bmst_join_path(path, sizeof path, dir, cs->files[s][i]) != 0 ||
                count_records(path, record, &per_file[s][i]) != 0)
                return -1;
            count[s] += per_file[s][i];
        }
    if (bmst_converted_alloc(out, cs->name, CIFAR_SIDE, CIFAR_SIDE, 3, cs->classes, count,
                             cs->coarse_at >= 0) != 0)
        goto fail;
    out->src.coarse_classes = cs->coarse_classes;
    for (int s = 0; s < 2; s++) {
        size_t first = 0;
        for (int i = 0; cs->files[s][i]; i++) {
            if (bmst_join_path(path, sizeof path, dir, cs->files[s][i]) != 0 ||
                read_records(path, cs, per_file[s][i], out, s, first) != 0)
                goto fail;
            first += per_file[s][i];
        }
    }
    if (bmst_join_path(path, sizeof path, dir, cs->names) != 0 ||
        bmst_read_class_names(path, out) != 0)
        goto fail;
    return 0;
fail:
    bmst_converted_free(out);
    return -1;
}

/* One pickled batch of the Python release: its pixel matrix and labels. */
struct pickled_batch {
    struct bmst_pickle pickle;
    size_t n;
    const uint8_t *pixels;                           /* [n, 3072], planar rows */
    const struct bmst_pickle_value *labels, *coarse; /* lists of n ints */
};

static int check_labels(const char *path, const char *key, const struct bmst_pickle_value *list,
                        size_t n, int classes) {
    if (!list || list->kind != BMST_PICKLE_LIST)
        return bmst_error("%s: no list '%s' in the pickled batch", path, key);
    if (list->n != n)
        return bmst_error("%s: '%s' has %zu labels for %zu images", path, key, list->n, n);
    for (size_t i = 0; i < n; i++) {
        const struct bmst_pickle_value *v = list->items[i];
        if (v->kind != BMST_PICKLE_INT || v->integer < 0 || v->integer >= classes)
            return bmst_error("%s: '%s'[%zu] is not a label 0..%d", path, key, i, classes - 1);
    }
    return 0;
}

static int load_batch(const char *path, const struct cifar_source *cs, struct pickled_batch *b) {
    if (bmst_pickle_load(path, &b->pickle) != 0) return -1;
    const struct bmst_pickle_value *root = b->pickle.root;
    size_t shape[2];
    const char *why = bmst_pickle_uint8_matrix(bmst_pickle_get(root, "data"), shape, &b->pixels);
    if (why) return bmst_error("%s: 'data' is %s", path, why);
    if (shape[1] != CIFAR_PIXELS || shape[0] == 0)
        return bmst_error("%s: 'data' is %zux%zu, expected N x %d", path, shape[0], shape[1],
                          CIFAR_PIXELS);
    b->n = shape[0];
    b->labels = bmst_pickle_get(root, cs->py_labels);
    b->coarse = cs->coarse_at >= 0 ? bmst_pickle_get(root, "coarse_labels") : NULL;
    if (check_labels(path, cs->py_labels, b->labels, b->n, cs->classes) != 0) return -1;
    if (cs->coarse_at >= 0 &&
        check_labels(path, "coarse_labels", b->coarse, b->n, cs->coarse_classes) != 0)
        return -1;
    return 0;
}

/* The class names of the release's meta pickle, which must be there. */
static int read_pickled_names(const char *dir, const struct cifar_source *cs,
                              struct bmst_converted *out) {
    char path[4096];
    struct bmst_pickle meta;
    if (bmst_join_path(path, sizeof path, dir, cs->py_meta) != 0 ||
        bmst_pickle_load(path, &meta) != 0)
        return -1;
    const struct bmst_pickle_value *list = bmst_pickle_get(meta.root, cs->py_names);
    int rc = 0;
    if (!list || list->kind != BMST_PICKLE_LIST || list->n != (size_t)cs->classes)
        rc = bmst_error("%s: no list '%s' of %d class names", path, cs->py_names, cs->classes);
    for (size_t i = 0; rc == 0 && i < list->n; i++)
        if (list->items[i]->kind != BMST_PICKLE_BYTES && list->items[i]->kind != BMST_PICKLE_STR)
            rc = bmst_error("%s: class name %zu is not text", path, i);
    if (rc == 0) {
        out->class_names = bmst_xcalloc(list->n, sizeof *out->class_names);
        for (size_t i = 0; i < list->n; i++) {
            out->class_names[i] = bmst_xmalloc(list->items[i]->len + 1);
            memcpy(out->class_names[i], list->items[i]->data, list->items[i]->len);
            out->class_names[i][list->items[i]->len] = '\0';
        }
        out->src.class_names = (const char *const *)out->class_names;
    }
    bmst_pickle_free(&meta);
    return rc;
}

static int convert_pickle(const char *dir, const struct cifar_source *cs,
                          struct bmst_converted *out) {
    struct pickled_batch batches[2][CIFAR_MAX_FILES] = {0};
    size_t count[BMST_SPLIT_COUNT] = {0, 0, 0};
    char path[4096];
    int rc = 0;
    memset(out, 0, sizeof *out);
    for (int s = 0; s < 2 && rc == 0; s++)
        for (int i = 0; cs->py_files[s][i] && rc == 0; i++) {
            rc = bmst_join_path(path, sizeof path, dir, cs->py_files[s][i]) != 0
                     ? bmst_error("%s: path too long", dir)
                     : load_batch(path, cs, &batches[s][i]);
            count[s] += batches[s][i].n;
        }
    if (rc == 0)
        rc = bmst_converted_alloc(out, cs->name, CIFAR_SIDE, CIFAR_SIDE, 3, cs->classes, count,
                                  cs->coarse_at >= 0);
    if (rc == 0) {
        out->src.coarse_classes = cs->coarse_classes;
        for (int s = 0; s < 2; s++)
            for (int i = 0, at = 0; cs->py_files[s][i]; i++)
                for (size_t j = 0; j < batches[s][i].n; j++, at++) {
                    const struct pickled_batch *b = &batches[s][i];
                    planar_to_hwc(b->pixels + j * CIFAR_PIXELS,
                                  out->images[s] + (size_t)at * CIFAR_PIXELS);
                    out->labels[s][at] = (int32_t)b->labels->items[j]->integer;
                    if (b->coarse)
                        out->coarse_labels[s][at] = (int32_t)b->coarse->items[j]->integer;
                }
        rc = read_pickled_names(dir, cs, out);
    }
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < CIFAR_MAX_FILES; i++)
            bmst_pickle_free(&batches[s][i].pickle);
    if (rc != 0) bmst_converted_free(out);
    return rc;
}

static int exists(const char *dir, const char *sub, const char *file) {
    char path[4096];
    struct stat st;
    int n = sub ? snprintf(path, sizeof path, "%s/%s/%s", dir, sub, file)
                : snprintf(path, sizeof path, "%s/%s", dir, file);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0;
}

/* The release in dir, or in the folder it unpacks into under dir. */
static int convert(const char *dir, const struct cifar_source *cs, struct bmst_converted *out) {
    char inner[4096];
    const char *bin = cs->files[0][0], *py = cs->py_files[0][0];
    if (exists(dir, NULL, bin)) return convert_binary(dir, cs, out);
    if (exists(dir, NULL, py)) return convert_pickle(dir, cs, out);
    if (exists(dir, cs->bin_folder, bin) &&
        bmst_join_path(inner, sizeof inner, dir, cs->bin_folder) == 0)
        return convert_binary(inner, cs, out);
    if (exists(dir, cs->py_folder, py) &&
        bmst_join_path(inner, sizeof inner, dir, cs->py_folder) == 0)
        return convert_pickle(inner, cs, out);
    memset(out, 0, sizeof *out);
    return bmst_error("%s holds neither %s release: the binary one (%s, from %s) nor the Python "
                      "one (%s, from %s, as torchvision downloads it), in it or in %s/ or %s/",
                      dir, cs->name, bin, cs->bin_archive, py, cs->py_archive, cs->bin_folder,
                      cs->py_folder);
}

int bmst_convert_cifar10(const char *dir, const struct bmst_convert_options *opt,
                         struct bmst_converted *out) {
    (void)opt; /* takes no options */
    return convert(dir, &cifar10, out);
}

int bmst_convert_cifar100(const char *dir, const struct bmst_convert_options *opt,
                          struct bmst_converted *out) {
    (void)opt; /* takes no options */
    return convert(dir, &cifar100, out);
}
