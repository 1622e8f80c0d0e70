/* The project's HDF5 dataset format (docs/dataset-format.md): opening and
 * validating a file, reading samples by index, and writing new files. */
#ifndef BMST_DATASET_H
#define BMST_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define BMST_MAX_CHANNELS 4
#define BMST_MAX_SIDE 65536 /* image height and width */
#define BMST_MAX_CLASSES 1000

/* /val is optional: a file without it has count[BMST_SPLIT_VAL] 0. */
enum bmst_split { BMST_SPLIT_TRAIN = 0, BMST_SPLIT_TEST = 1, BMST_SPLIT_VAL = 2 };
#define BMST_SPLIT_COUNT 3

struct bmst_dataset_info {
    char name[64];                  /* the "name" attribute, e.g. "fashion-mnist" */
    int h, w, c;                    /* image shape, the same for every split */
    int classes;                    /* label range [0, classes) */
    size_t count[BMST_SPLIT_COUNT]; /* samples per split, indexed by enum bmst_split */
    float mean[BMST_MAX_CHANNELS];  /* per-channel mean and std of the training */
    float std[BMST_MAX_CHANNELS];   /* images, on the 0..1 scale */
};

struct bmst_dataset;

/* Opens and validates a dataset file read-only. On failure returns -1 with a
 * one-line message in bmst_last_error() naming the file and the problem. */
int bmst_dataset_open(const char *path, struct bmst_dataset **out);
void bmst_dataset_close(struct bmst_dataset *ds);
const struct bmst_dataset_info *bmst_dataset_get_info(const struct bmst_dataset *ds);
/* Class name of label `label` (empty string when the file has none). */
const char *bmst_dataset_class_name(const struct bmst_dataset *ds, int label);

/* Reads `count` samples of `split` in the order of `indices` into images
 * (count * h * w * c bytes, NHWC) and labels (either may be NULL). Indices may
 * repeat. A split of at most the cache limit is read whole on its first use
 * and served from memory after that; a larger one is read by sorted runs.
 * Safe to call from several threads: reads are serialized by the HDF5 lock. */
int bmst_dataset_read(struct bmst_dataset *ds, enum bmst_split split, const uint32_t *indices,
                      size_t count, uint8_t *images, int32_t *labels);

/* Splits of at most this many image bytes are held in memory (default
 * BMST_DATASET_CACHE_BYTES; 0 reads every batch from the file). */
#define BMST_DATASET_CACHE_BYTES ((size_t)512 << 20)
void bmst_dataset_set_cache_limit(struct bmst_dataset *ds, size_t bytes);

/* HDF5 is called by one thread at a time in this process: the dataset code
 * holds this lock around every HDF5 call (a loader's thread reads while the
 * main thread trains), and other code that calls HDF5 while a loader runs
 * (checkpoints) takes it too. Taking it also silences HDF5's own error
 * printing for the calling thread, so a failure is reported as one line. */
void bmst_hdf5_lock(void);
void bmst_hdf5_unlock(void);

/* Writes a complete dataset file. Images are NHWC uint8; mean and std are
 * computed here over the training images. The file is written under a
 * temporary name and renamed, so OUT is either absent or whole. */
struct bmst_dataset_source {
    const char *name;
    int h, w, c, classes;
    size_t count[BMST_SPLIT_COUNT]; /* count[BMST_SPLIT_VAL] 0: no /val */
    const uint8_t *images[BMST_SPLIT_COUNT];
    const int32_t *labels[BMST_SPLIT_COUNT];
    const char *const *class_names;                 /* `classes` strings, or NULL */
    const int32_t *coarse_labels[BMST_SPLIT_COUNT]; /* optional /SPLIT/coarse_labels
                                                       (CIFAR-100), or NULL */
    int coarse_classes; /* their range [0, coarse_classes) when present */
};
int bmst_dataset_write(const char *path, const struct bmst_dataset_source *src);

#endif
