/* Loader throughput: images/s the loader delivers from a dataset file, with
 * the training augmentation, for each worker count asked for, the consumer
 * taking batches as fast as they come (so the loader alone is measured).
 *   bmst_loader_bench FILE.h5 [--batch N] [--batches N] [--workers 1,2,4]
 *                     [--augment none|pad-crop|resized-crop|center-crop] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "loader.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int parse_augment(const char *s, enum bmst_augment *a) {
    static const char *names[] = {"none", "pad-crop", "resized-crop", "center-crop"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *a = (enum bmst_augment)i;
            return 0;
        }
    return bmst_error("--augment expects none, pad-crop, resized-crop or center-crop, got '%s'", s);
}

/* Images/s over `batches` batches (after one warm-up epoch start). */
static int measure(struct bmst_dataset *ds, int batch, int batches, int workers,
                   enum bmst_augment augment, double *rate) {
    struct bmst_loader_config cfg = {.split = BMST_SPLIT_TRAIN, .batch = batch, .shuffle = 1,
                                     .augment = augment, .drop_last = 1, .depth = 4,
                                     .workers = workers, .seed = 1, .world = 1};
    struct bmst_loader *l;
    if (bmst_loader_create(ds, &cfg, &l) != 0) return -1;
    int per_epoch = (int)bmst_loader_batches(l), done = 0, epoch = 0, status = 0;
    if (per_epoch == 0) {
        bmst_loader_free(l);
        return bmst_error("the training split is smaller than one batch of %d", batch);
    }
    struct bmst_batch b;
    bmst_loader_start_epoch(l, epoch);
    if (bmst_loader_next(l, &b) != 1) status = -1; /* the split is read (and cached) once */
    double t = now();
    while (status == 0 && done < batches) {
        int rc = bmst_loader_next(l, &b);
        if (rc < 0) status = -1;
        else if (rc == 0) bmst_loader_start_epoch(l, ++epoch);
        else done++;
    }
    *rate = (double)done * batch / (now() - t);
    bmst_loader_free(l);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bmst_loader_bench FILE.h5 [--batch N] [--batches N] "
                        "[--workers 1,2,4] [--augment KIND]\n");
        return 2;
    }
    int batch = 128, batches = 200;
    const char *workers = "1,2,4";
    enum bmst_augment augment = BMST_AUGMENT_PAD_CROP;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--batch") == 0) batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batches") == 0) batches = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--workers") == 0) workers = argv[i + 1];
        else if (strcmp(argv[i], "--augment") == 0) {
            if (parse_augment(argv[i + 1], &augment) != 0) {
                bmst_report_error("bmst_loader_bench");
                return 2;
            }
        } else {
            fprintf(stderr, "bmst_loader_bench: error: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    struct bmst_dataset *ds;
    if (batch < 1 || batches < 1 || bmst_dataset_open(argv[1], &ds) != 0) {
        if (batch < 1 || batches < 1) bmst_error("--batch and --batches must be positive");
        bmst_report_error("bmst_loader_bench");
        return 1;
    }
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    char list[256];
    snprintf(list, sizeof list, "%s", workers);
    for (char *w = strtok(list, ","); w; w = strtok(NULL, ",")) {
        double rate = 0.0;
        if (measure(ds, batch, batches, atoi(w), augment, &rate) != 0) {
            bmst_report_error("bmst_loader_bench");
            bmst_dataset_close(ds);
            return 1;
        }
        printf("loader: shape=%dx%dx%d batch=%d workers=%s images_per_s=%.0f\n", info->h, info->w,
               info->c, batch, w, rate);
        fflush(stdout);
    }
    bmst_dataset_close(ds);
    return 0;
}
