/* CIFAR-10 and CIFAR-100 from their binary versions: fixed-size records of
 * label byte(s) then 3072 pixel bytes, planar (1024 R, 1024 G, 1024 B, each
 * row-major 32x32), converted to HWC. A file that is not a whole number of
 * records, or a label out of range, is an error. */
#include "convert.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_PIXELS (3 * CIFAR_PLANE)
#define CIFAR_MAX_FILES 5

/* One source: its files per split and where the labels sit in a record. */
struct cifar_source {
    const char *name;
    const char *files[2][CIFAR_MAX_FILES + 1]; /* NULL-terminated, [train, test] */
    int label_bytes;                           /* before the pixels */
    int fine_at;                               /* byte of the label */
    int coarse_at;                             /* byte of the coarse label, or -1 */
    int classes, coarse_classes;
    const char *names; /* class-name file, optional */
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
};

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
        const uint8_t *planes = buf + cs->label_bytes;
        uint8_t *dst = cv->images[s] + at * CIFAR_PIXELS;
        for (int p = 0; p < CIFAR_PLANE; p++)
            for (int ch = 0; ch < 3; ch++)
                dst[p * 3 + ch] = planes[ch * CIFAR_PLANE + p];
    }
    fclose(f);
    return rc;
}

static int convert(const char *dir, const struct cifar_source *cs, struct bmst_converted *out) {
    size_t record = (size_t)cs->label_bytes + CIFAR_PIXELS;
    size_t per_file[2][CIFAR_MAX_FILES], count[2] = {0, 0};
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
