/* Dataset files round trip: what bmst_dataset_write stores, bmst_dataset_open
 * and bmst_dataset_read give back exactly (cached and uncached reads), with
 * mean/std checked against a hand computation and the layout of the spec. */
#include "check.h"
#include "dataset.h"
#include "error.h"

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { H = 5, W = 3, C = 2, CLASSES = 7, N_TRAIN = 37, N_TEST = 11 };
#define IMG (H * W * C)

static char dir[64], path[128];
static uint8_t images[2][N_TRAIN * IMG];
static int32_t labels[2][N_TRAIN];
static const char *names[CLASSES] = {"zero", "one", "two", "three", "four", "five", "six"};

static struct bmst_dataset_source make_source(void) {
    uint32_t x = 12345;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < N_TRAIN * IMG; i++)
            images[s][i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < N_TRAIN; i++)
            labels[s][i] = (i * 3 + s) % CLASSES;
    return (struct bmst_dataset_source){.name = "roundtrip",
                                        .h = H,
                                        .w = W,
                                        .c = C,
                                        .classes = CLASSES,
                                        .count = {N_TRAIN, N_TEST},
                                        .images = {images[0], images[1]},
                                        .labels = {labels[0], labels[1]},
                                        .class_names = names};
}

/* Files in the test directory (the writer must leave no temporaries). */
static int files_in_dir(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void test_hand_stats(void) {
    /* two 1x2 grey images: 0, 255, 51, 102 -> 0, 1, .2, .4: mean .4,
     * variance (.16 + .36 + .04 + 0) / 4 = .14 */
    uint8_t px[4] = {0, 255, 51, 102}, one[2] = {7, 9};
    int32_t lab[2] = {0, 1}, lab1[1] = {1};
    struct bmst_dataset_source src = {.name = "hand",
                                      .h = 1,
                                      .w = 2,
                                      .c = 1,
                                      .classes = 2,
                                      .count = {2, 1},
                                      .images = {px, one},
                                      .labels = {lab, lab1}};
    CHECK(bmst_dataset_write(path, &src) == 0, "%s", bmst_last_error());
    struct bmst_dataset *ds;
    CHECK(bmst_dataset_open(path, &ds) == 0, "%s", bmst_last_error());
    const struct bmst_dataset_info *in = bmst_dataset_get_info(ds);
    CHECK(fabsf(in->mean[0] - 0.4f) < 1e-7f, "mean %.9f", (double)in->mean[0]);
    CHECK(fabsf(in->std[0] - (float)sqrt(0.14)) < 1e-7f, "std %.9f", (double)in->std[0]);
    CHECK(bmst_dataset_class_name(ds, 0)[0] == '\0', "no class names stored");
    bmst_dataset_close(ds);
}

static void test_info_and_stats(struct bmst_dataset *ds) {
    const struct bmst_dataset_info *in = bmst_dataset_get_info(ds);
    CHECK(strcmp(in->name, "roundtrip") == 0, "name %s", in->name);
    CHECK(in->h == H && in->w == W && in->c == C, "shape %dx%dx%d", in->h, in->w, in->c);
    CHECK(in->classes == CLASSES, "classes %d", in->classes);
    CHECK(in->count[0] == N_TRAIN && in->count[1] == N_TEST, "counts %zu %zu", in->count[0],
          in->count[1]);
    for (int k = 0; k < CLASSES; k++)
        CHECK(strcmp(bmst_dataset_class_name(ds, k), names[k]) == 0, "class %d", k);
    CHECK(bmst_dataset_class_name(ds, CLASSES)[0] == '\0', "past the last class");
    for (int c = 0; c < C; c++) { /* the two-pass textbook formula over training pixels */
        double sum = 0.0, sq = 0.0, n = N_TRAIN * H * W;
        for (int p = 0; p < N_TRAIN * H * W; p++)
            sum += images[0][p * C + c] / 255.0;
        for (int p = 0; p < N_TRAIN * H * W; p++)
            sq += pow(images[0][p * C + c] / 255.0 - sum / n, 2);
        CHECK(fabs(in->mean[c] - sum / n) < 1e-6, "mean[%d] %f vs %f", c, (double)in->mean[c],
              sum / n);
        CHECK(fabs(in->std[c] - sqrt(sq / n)) < 1e-6, "std[%d] %f vs %f", c, (double)in->std[c],
              sqrt(sq / n));
    }
}

/* Random indices (with repeats) in both splits give back the exact bytes. */
static void test_reads(struct bmst_dataset *ds, const char *mode) {
    uint32_t idx[50];
    uint8_t got[50 * IMG];
    int32_t lab[50];
    uint32_t x = 99;
    for (int s = 0; s < 2; s++) {
        uint32_t n = s ? N_TEST : N_TRAIN;
        for (int i = 0; i < 50; i++)
            idx[i] = (x = x * 1664525u + 1013904223u) % n;
        idx[3] = idx[4]; /* a repeat */
        CHECK(bmst_dataset_read(ds, s, idx, 50, got, lab) == 0, "%s", bmst_last_error());
        int bad = 0;
        for (int i = 0; i < 50; i++)
            bad += memcmp(got + i * IMG, images[s] + idx[i] * IMG, IMG) != 0 ||
                   lab[i] != labels[s][idx[i]];
        CHECK(bad == 0, "%s split %d: %d samples differ", mode, s, bad);
        for (uint32_t i = 0; i < n; i++)
            idx[i] = i; /* in order: one run */
        CHECK(bmst_dataset_read(ds, s, idx, n, got, NULL) == 0, "%s", bmst_last_error());
        CHECK(memcmp(got, images[s], n * IMG) == 0, "%s split %d sequential", mode, s);
    }
    idx[0] = N_TEST;
    CHECK(bmst_dataset_read(ds, BMST_SPLIT_TEST, idx, 1, got, lab) == -1, "index past the end");
    CHECK(strstr(bmst_last_error(), "out of range") && strstr(bmst_last_error(), path),
          "message: %s", bmst_last_error());
}

/* The stored layout is the one docs/dataset-format.md specifies. */
static void test_layout(void) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/train/images", H5P_DEFAULT);
    hid_t p = H5Dget_create_plist(d);
    hsize_t chunk[4] = {0};
    CHECK(H5Pget_layout(p) == H5D_CHUNKED && H5Pget_chunk(p, 4, chunk) == 4, "chunked rank 4");
    CHECK(chunk[0] == 16 && chunk[1] == H && chunk[2] == W && chunk[3] == C, "chunk %llu",
          (unsigned long long)chunk[0]);
    hid_t t = H5Dget_type(d);
    CHECK(H5Tequal(t, H5T_STD_U8LE) > 0, "images are uint8");
    H5Tclose(t);
    H5Pclose(p);
    H5Dclose(d);
    d = H5Dopen2(f, "/test/labels", H5P_DEFAULT);
    t = H5Dget_type(d);
    CHECK(H5Tequal(t, H5T_STD_I32LE) > 0, "labels are int32");
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
}

static void test_bad_source(void) {
    struct bmst_dataset_source src = make_source();
    labels[1][2] = CLASSES; /* out of range */
    remove(path);
    CHECK(bmst_dataset_write(path, &src) == -1, "label out of range refused");
    CHECK(strstr(bmst_last_error(), "outside [0, 7)") != NULL, "message: %s", bmst_last_error());
    CHECK(files_in_dir() == 0, "nothing left behind");
    src = make_source();
    src.c = BMST_MAX_CHANNELS + 1;
    CHECK(bmst_dataset_write(path, &src) == -1 && files_in_dir() == 0, "too many channels");
    src = make_source();
    snprintf(path, sizeof path, "%s/missing/dir/out.h5", dir);
    CHECK(bmst_dataset_write(path, &src) == -1, "unwritable directory");
    CHECK(strchr(bmst_last_error(), '\n') == NULL && strstr(bmst_last_error(), path),
          "one line naming the file: %s", bmst_last_error());
    snprintf(path, sizeof path, "%s/data.h5", dir);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/bmst_test_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/data.h5", dir);
    test_hand_stats();
    struct bmst_dataset_source src = make_source();
    CHECK(bmst_dataset_write(path, &src) == 0, "%s", bmst_last_error());
    CHECK(files_in_dir() == 1, "only the output file remains");
    struct bmst_dataset *ds;
    if (bmst_dataset_open(path, &ds) == 0) {
        test_info_and_stats(ds);
        test_reads(ds, "cached");
        bmst_dataset_close(ds);
    } else {
        CHECK(0, "open: %s", bmst_last_error());
    }
    if (bmst_dataset_open(path, &ds) == 0) {
        bmst_dataset_set_cache_limit(ds, 0);
        test_reads(ds, "uncached");
        bmst_dataset_close(ds);
    }
    test_layout();
    test_bad_source();
    remove(path);
    rmdir(dir);
    return check_finish("test_data_roundtrip");
}
