/* Converters from source formats to the dataset format, all of one shape: a
 * converter fills a bmst_converted (buffers plus the bmst_dataset_source that
 * points into them) from a source directory and the options it takes, and
 * bmst_data writes it with bmst_dataset_write. Errors name the source file
 * and the problem. */
#ifndef BMST_CONVERT_H
#define BMST_CONVERT_H

#include "dataset.h"

#include <stddef.h>
#include <stdint.h>

struct bmst_converted {
    struct bmst_dataset_source src; /* points into the fields below */
    char name[64];
    uint8_t *images[BMST_SPLIT_COUNT];        /* [count, h, w, c] per split */
    int32_t *labels[BMST_SPLIT_COUNT];        /* [count] per split */
    int32_t *coarse_labels[BMST_SPLIT_COUNT]; /* [count] per split, or NULL */
    char **class_names;                       /* [classes], or NULL */
    size_t skipped;                           /* images left out by --skip-bad */
};

/* The options of `bmst_data convert`. All zero means every default; a
 * converter reads only the ones its table entry lists. */
struct bmst_convert_options {
    int size;             /* --size: side of the stored square images; 0: the kind's default */
    int swapped;          /* --split swapped (1) or standard (0) */
    long test_per_class;  /* --test-per-class; 0: the kind's default */
    int threads;          /* --threads; 0: one per online CPU */
    int skip_bad;         /* --skip-bad: leave out images that cannot be read or decoded */
    double val_fraction;  /* --val-fraction: the share of each class moved to /val; 0: no /val */
    int official_val;     /* --official-val (flowers102): the `valid` list is /val */
    double test_fraction; /* --test-fraction (folder of one tree): the share of each class
                             moved to /test */
};

enum bmst_convert_option_flag {
    BMST_CONVERT_SIZE = 1 << 0,
    BMST_CONVERT_SPLIT = 1 << 1,
    BMST_CONVERT_TEST_PER_CLASS = 1 << 2,
    BMST_CONVERT_THREADS = 1 << 3,
    BMST_CONVERT_SKIP_BAD = 1 << 4,
    BMST_CONVERT_VAL_FRACTION = 1 << 5, /* every kind: applied after the converter */
    BMST_CONVERT_OFFICIAL_VAL = 1 << 6,
    BMST_CONVERT_TEST_FRACTION = 1 << 7,
};

typedef int (*bmst_convert_fn)(const char *dir, const struct bmst_convert_options *opt,
                               struct bmst_converted *out);

struct bmst_converter {
    const char *kind; /* as named on the command line, e.g. "cifar10" */
    bmst_convert_fn fn;
    unsigned options; /* the BMST_CONVERT_* flags it takes */
};

/* The converter for a source kind, or NULL; `kinds` lists them for the usage
 * text. */
const struct bmst_converter *bmst_converter_find(const char *kind);
extern const char *const bmst_converter_kinds;

int bmst_convert_fashion_mnist(const char *dir, const struct bmst_convert_options *opt,
                               struct bmst_converted *out);
int bmst_convert_cifar10(const char *dir, const struct bmst_convert_options *opt,
                         struct bmst_converted *out);
int bmst_convert_cifar100(const char *dir, const struct bmst_convert_options *opt,
                          struct bmst_converted *out);
/* Oxford Flowers 102 (jpg/, imagelabels.mat, setid.mat) and miniImageNet
 * (images/, train.csv, val.csv, test.csv): JPEGs stored as RGB squares. */
int bmst_convert_flowers102(const char *dir, const struct bmst_convert_options *opt,
                            struct bmst_converted *out);
int bmst_convert_miniimagenet(const char *dir, const struct bmst_convert_options *opt,
                              struct bmst_converted *out);
/* An image folder as torchvision's ImageFolder reads it (convert_folder.c):
 * JPEG and PNG, stored as RGB squares of --size. */
int bmst_convert_folder(const char *dir, const struct bmst_convert_options *opt,
                        struct bmst_converted *out);

/* Synthetic data that a network can learn: every class a random smooth
 * pattern, every sample its class's pattern plus noise; a function of seed. */
struct bmst_synth_config {
    int h, w, c, classes;
    size_t train, test;
    uint64_t seed;
};
int bmst_synth(const struct bmst_synth_config *cfg, struct bmst_converted *out);

/* Shared by the converters: allocates images and labels for each split (and
 * coarse labels when `coarse`; none for a /val of count 0, which is then not
 * written) and fills src; -1 when memory runs out. */
int bmst_converted_alloc(struct bmst_converted *cv, const char *name, int h, int w, int c,
                         int classes, const size_t count[BMST_SPLIT_COUNT], int coarse);
void bmst_converted_free(struct bmst_converted *cv);
/* Moves floor(fraction * n_c + 0.5) of each class's n_c training samples to
 * split `to` (/val, or /test for a folder of one tree), which must be empty
 * (docs/dataset-format.md, "Validation split"): which ones is a fixed
 * function of the sample's index and the target, so the split is the same on
 * every machine, and both splits keep the samples' order. -1 with a message
 * when either split would be left empty. */
int bmst_converted_carve(struct bmst_converted *cv, enum bmst_split to, double fraction);

/* Reads class names, one per line (blank lines ignored), from an optional
 * text file: absent leaves class_names NULL; present must hold `classes`. */
int bmst_read_class_names(const char *path, struct bmst_converted *cv);
/* "DIR/NAME" into buf; -1 when it does not fit. */
int bmst_join_path(char *buf, size_t cap, const char *dir, const char *name);

/* One image of a JPEG source: its file under the image directory, the split
 * it goes to and its label. */
struct bmst_image_job {
    const char *file;
    int split;
    int32_t label;
};
/* The JPEG sources' shared back end (convert_images.c): allocates cv for
 * `classes` classes and size x size x 3 images, then decodes the n files
 * image_dir/jobs[i].file on opt->threads threads, each stored as its central
 * square resized to `size`, at its own index: the i-th job of a split is
 * sample i of that split, whatever the thread count. A file that cannot be
 * read or decoded is an error naming it (the first in job order), or with
 * opt->skip_bad is left out, warned about on stderr and counted in
 * cv->skipped. A progress bar is drawn on stderr when it is a terminal. */
int bmst_convert_jpegs(struct bmst_converted *cv, const char *name, int classes,
                       const char *image_dir, const struct bmst_image_job *jobs, size_t n, int size,
                       const struct bmst_convert_options *opt);

#endif
