/* Malformed dataset files: each defect gives one error line that names the
 * file and the problem, and a read error in the loader's thread reaches the
 * caller of bmst_loader_next. Files are written with the raw HDF5 API, one
 * defect at a time. */
#include "check.h"
#include "dataset.h"
#include "error.h"
#include "loader.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_TRAIN = 20, N_TEST = 8, SIDE = 4 };

/* A file description; `good()` is valid and each case changes one thing. */
struct raw {
    const char *format, *omit; /* omit: an attribute or an object path left out */
    long long version, classes;
    int c, image_rank, test_h, extra_labels, bad_label, names, fixed_strings, mean_count;
    int mean_is_string, corrupt_chunk, images_group;
    hid_t image_type, label_type;
};

static char dir[64], path[128];

static struct raw good(void) {
    return (struct raw){.format = "bmst_dataset",
                        .version = 1,
                        .classes = 10,
                        .c = 1,
                        .image_rank = 4,
                        .test_h = SIDE,
                        .names = 10,
                        .mean_count = 1,
                        .image_type = H5T_STD_U8LE,
                        .label_type = H5T_STD_I32LE};
}

static int omitted(const struct raw *r, const char *what) {
    return r->omit && strcmp(r->omit, what) == 0;
}

static void string_attr(hid_t obj, const char *name, const char *const *values, int n, int fixed,
                        int scalar) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, fixed ? 16 : H5T_VARIABLE);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t s = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    char buf[16 * 16] = {0};
    for (int i = 0; fixed && i < n; i++)
        strncpy(buf + 16 * i, values[i], 16);
    H5Awrite(a, t, fixed ? (const void *)buf : (const void *)values);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

/* n < 0: a scalar */
static void number_attr(hid_t obj, const char *name, hid_t type, hid_t mem_type, const void *v,
                        int n) {
    hsize_t dims[1] = {(hsize_t)n};
    hid_t s = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, mem_type, v);
    H5Aclose(a);
    H5Sclose(s);
}

static void write_split(hid_t f, const struct raw *r, const char *name, int n, int h) {
    char where[64];
    snprintf(where, sizeof where, "/%s", name);
    if (omitted(r, where)) return;
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {(hsize_t)n, (hsize_t)h, SIDE, (hsize_t)r->c};
    if (r->image_rank == 3) dims[2] *= dims[3];
    uint8_t *px = calloc((size_t)n * h * SIDE * r->c, 1);
    for (size_t i = 0; i < (size_t)n * h * SIDE * r->c; i++)
        px[i] = (uint8_t)(i * 7);
    snprintf(where, sizeof where, "/%s/images", name);
    if (r->images_group) {
        H5Gclose(H5Gcreate2(g, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    } else if (!omitted(r, where)) {
        hid_t s = H5Screate_simple(r->image_rank, dims, NULL);
        hid_t p = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t chunk[4] = {4, (hsize_t)h, SIDE, (hsize_t)r->c};
        H5Pset_chunk(p, r->image_rank, chunk);
        if (r->corrupt_chunk) H5Pset_fletcher32(p);
        hid_t d = H5Dcreate2(g, "images", r->image_type, s, H5P_DEFAULT, p, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px);
        if (r->corrupt_chunk) { /* garbage whose stored checksum cannot match */
            hsize_t at[4] = {0, 0, 0, 0};
            uint8_t junk[4 * SIDE * SIDE + 4];
            memset(junk, 0x5a, sizeof junk);
            H5Dwrite_chunk(d, H5P_DEFAULT, 0, at, sizeof junk, junk);
        }
        H5Dclose(d);
        H5Pclose(p);
        H5Sclose(s);
    }
    free(px);
    snprintf(where, sizeof where, "/%s/labels", name);
    if (!omitted(r, where)) {
        hsize_t ldims[1] = {(hsize_t)(n + r->extra_labels)};
        int32_t lab[64];
        for (int i = 0; i < n + r->extra_labels; i++)
            lab[i] = i % 10;
        lab[1] = r->bad_label ? (int32_t)r->bad_label : lab[1];
        hid_t s = H5Screate_simple(1, ldims, NULL);
        hid_t d = H5Dcreate2(g, "labels", r->label_type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
        H5Dclose(d);
        H5Sclose(s);
    }
    H5Gclose(g);
}

static void write_raw(const struct raw *r) {
    static const char *names[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    float mean[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, std[5] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const char *name = "raw";
    if (!omitted(r, "format")) string_attr(f, "format", &r->format, 1, r->fixed_strings, 1);
    if (!omitted(r, "version"))
        number_attr(f, "version", H5T_STD_I64LE, H5T_NATIVE_LLONG, &r->version, -1);
    if (!omitted(r, "name")) string_attr(f, "name", &name, 1, r->fixed_strings, 1);
    if (!omitted(r, "classes"))
        number_attr(f, "classes", H5T_STD_I64LE, H5T_NATIVE_LLONG, &r->classes, -1);
    if (r->names) string_attr(f, "class_names", names, r->names, r->fixed_strings, 0);
    if (r->mean_is_string)
        string_attr(f, "mean", &name, 1, 0, 1);
    else if (!omitted(r, "mean"))
        number_attr(f, "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, mean, r->mean_count);
    if (!omitted(r, "std")) number_attr(f, "std", H5T_IEEE_F64LE, H5T_NATIVE_FLOAT, std, r->c);
    write_split(f, r, "train", N_TRAIN, SIDE);
    write_split(f, r, "test", N_TEST, r->test_h);
    H5Fclose(f);
}

/* Opening must fail with one line naming the file and containing `expect`. */
static void expect_open_error(const char *what, const char *expect) {
    struct bmst_dataset *ds = NULL;
    int rc = bmst_dataset_open(path, &ds);
    const char *msg = bmst_last_error();
    CHECK(rc == -1, "%s: opened", what);
    CHECK(strstr(msg, expect) != NULL, "%s: message '%s' lacks '%s'", what, msg, expect);
    CHECK(strstr(msg, path) != NULL && strchr(msg, '\n') == NULL, "%s: '%s'", what, msg);
    if (rc == 0) bmst_dataset_close(ds);
}

static void expect_raw_error(struct raw r, const char *what, const char *expect) {
    write_raw(&r);
    expect_open_error(what, expect);
}

static void test_file_level(void) {
    remove(path);
    expect_open_error("missing file", "No such file");
    FILE *f = fopen(path, "w");
    fputs("just text\n", f);
    fclose(f);
    expect_open_error("text file", "not an HDF5 file");
    struct raw r = good();
    write_raw(&r);
    struct bmst_dataset *ds;
    CHECK(bmst_dataset_open(path, &ds) == 0, "the good file opens: %s", bmst_last_error());
    if (ds) bmst_dataset_close(ds);
    long size;
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    CHECK(truncate(path, size / 2) == 0, "truncate");
    expect_open_error("truncated", "truncated");
}

static void test_structure(void) {
    struct raw r = good();
    r.omit = "/test";
    expect_raw_error(r, "no test group", "missing group /test");
    r.omit = "/train/labels";
    expect_raw_error(r, "no labels", "missing dataset /train/labels");
    r.omit = "/test/images";
    expect_raw_error(r, "no test images", "missing dataset /test/images");
    r.omit = NULL;
    r.images_group = 1;
    expect_raw_error(r, "images as a group",
                     "/train/images is a group, where the format has a dataset");
    r.images_group = 0;
    const char *attrs[] = {"format", "version", "name", "classes", "mean", "std"};
    for (int i = 0; i < 6; i++) {
        r.omit = attrs[i];
        char expect[64];
        snprintf(expect, sizeof expect, "missing attribute '%s'", attrs[i]);
        expect_raw_error(r, attrs[i], expect);
    }
}

static void test_types_and_values(void) {
    struct raw r = good();
    r.image_type = H5T_IEEE_F32LE;
    expect_raw_error(r, "float images", "/train/images must be uint8 of rank 4");
    r = good();
    r.image_type = H5T_STD_I8LE;
    expect_raw_error(r, "signed images", "/train/images must be uint8");
    r = good();
    r.image_rank = 3;
    expect_raw_error(r, "rank 3 images", "/train/images must be uint8 of rank 4");
    r = good();
    r.label_type = H5T_STD_I64LE;
    expect_raw_error(r, "int64 labels", "/train/labels must be int32 of rank 1");
    r = good();
    r.label_type = H5T_STD_U32LE;
    expect_raw_error(r, "uint32 labels", "/train/labels must be int32");
    r = good();
    r.test_h = SIDE + 1;
    expect_raw_error(r, "shape mismatch", "test images are 5x4x1 but train images are 4x4x1");
    r = good();
    r.extra_labels = 1;
    expect_raw_error(r, "label count", "20 images but 21 labels");
    r = good();
    r.bad_label = 10;
    expect_raw_error(r, "label range", "/train/labels[1] = 10 is outside [0, 10)");
    r = good();
    r.bad_label = -3;
    expect_raw_error(r, "negative label", "= -3 is outside");
    r = good();
    r.classes = 0;
    r.names = 0;
    expect_raw_error(r, "no classes", "classes = 0");
    r.classes = BMST_MAX_CLASSES + 1;
    expect_raw_error(r, "too many classes", "classes = 1001");
    r = good();
    r.c = BMST_MAX_CHANNELS + 1;
    expect_raw_error(r, "five channels", "not supported");
    r = good();
    r.format = "something_else";
    expect_raw_error(r, "format", "expected 'bmst_dataset'");
    r = good();
    r.version = 2;
    expect_raw_error(r, "version", "version 2 is not supported");
    r = good();
    r.mean_count = 3;
    expect_raw_error(r, "mean length", "attribute 'mean' must have 1 entries, has 3");
    r = good();
    r.mean_is_string = 1;
    expect_raw_error(r, "mean type", "attribute 'mean' must be floating point");
    r = good();
    r.names = 9;
    expect_raw_error(r, "class name count", "attribute 'class_names' must have 10 entries");
}

/* Fixed-length strings (as other tools may write) are read like h5py's. */
static void test_fixed_strings(void) {
    struct raw r = good();
    r.fixed_strings = 1;
    write_raw(&r);
    struct bmst_dataset *ds;
    CHECK(bmst_dataset_open(path, &ds) == 0, "fixed strings: %s", bmst_last_error());
    if (!ds) return;
    const struct bmst_dataset_info *in = bmst_dataset_get_info(ds);
    CHECK(strcmp(in->name, "raw") == 0, "name '%s'", in->name);
    CHECK(strcmp(bmst_dataset_class_name(ds, 9), "j") == 0, "class 9");
    CHECK(in->std[0] == 0.25f && in->mean[0] == 0.5f, "float64 std converted");
    bmst_dataset_close(ds);
}

/* A chunk that fails its checksum: open succeeds (labels only), reads fail,
 * and the loader's thread hands the message to bmst_loader_next. */
static void test_read_errors(void) {
    struct raw r = good();
    r.corrupt_chunk = 1;
    write_raw(&r);
    struct bmst_dataset *ds;
    CHECK(bmst_dataset_open(path, &ds) == 0, "corrupt chunk opens: %s", bmst_last_error());
    if (!ds) return;
    uint32_t idx[2] = {9, 1};
    uint8_t px[2 * SIDE * SIDE];
    bmst_dataset_set_cache_limit(ds, 0);
    CHECK(bmst_dataset_read(ds, BMST_SPLIT_TRAIN, idx, 1, px, NULL) == 0, "sample 9 is intact");
    CHECK(bmst_dataset_read(ds, BMST_SPLIT_TRAIN, idx, 2, px, NULL) == -1, "sample 1 is not");
    CHECK(strstr(bmst_last_error(), path) &&
              strstr(bmst_last_error(), "cannot read images 1..1 of /train/images: the file is "
                                        "damaged") &&
              strstr(bmst_last_error(), "Fletcher32"),
          "message: %s", bmst_last_error());
    bmst_dataset_set_cache_limit(ds, BMST_DATASET_CACHE_BYTES);
    struct bmst_loader_config cfg = {
        .split = BMST_SPLIT_TRAIN, .batch = 4, .depth = 2, .workers = 2, .seed = 1, .world = 1};
    struct bmst_loader *l;
    CHECK(bmst_loader_create(ds, &cfg, &l) == 0, "%s", bmst_last_error());
    bmst_error("stale");
    bmst_loader_start_epoch(l, 0);
    struct bmst_batch b;
    CHECK(bmst_loader_next(l, &b) == -1, "the loader reports the read error");
    CHECK(strstr(bmst_last_error(), path) && strstr(bmst_last_error(), "cannot read images"),
          "loader message: %s", bmst_last_error());
    bmst_loader_free(l);
    bmst_dataset_close(ds);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/bmst_test_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/raw.h5", dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the raw writer's deliberate oddities */
    test_file_level();
    test_structure();
    test_types_and_values();
    test_fixed_strings();
    test_read_errors();
    remove(path);
    rmdir(dir);
    return check_finish("test_data_errors");
}
