/* Converters from source formats to the dataset format, all of one shape: a
 * converter fills a bmst_converted (buffers plus the bmst_dataset_source that
 * points into them) from a source directory, and bmst_data writes it with
 * bmst_dataset_write. Errors name the source file and the problem. */
#ifndef BMST_CONVERT_H
#define BMST_CONVERT_H

#include "dataset.h"

#include <stddef.h>
#include <stdint.h>

struct bmst_converted {
    struct bmst_dataset_source src; /* points into the fields below */
    char name[64];
    uint8_t *images[2];        /* [count, h, w, c] per split */
    int32_t *labels[2];        /* [count] per split */
    int32_t *coarse_labels[2]; /* [count] per split, or NULL */
    char **class_names;        /* [classes], or NULL */
};

typedef int (*bmst_convert_fn)(const char *dir, struct bmst_converted *out);

/* The converter for a source kind ("fashion-mnist", "cifar10", "cifar100"),
 * or NULL; `kinds` lists them for the usage text. */
bmst_convert_fn bmst_converter_find(const char *kind);
extern const char *const bmst_converter_kinds;

int bmst_convert_fashion_mnist(const char *dir, struct bmst_converted *out);
int bmst_convert_cifar10(const char *dir, struct bmst_converted *out);
int bmst_convert_cifar100(const char *dir, struct bmst_converted *out);

/* Synthetic data that a network can learn: every class a random smooth
 * pattern, every sample its class's pattern plus noise; a function of seed. */
struct bmst_synth_config {
    int h, w, c, classes;
    size_t train, test;
    uint64_t seed;
};
int bmst_synth(const struct bmst_synth_config *cfg, struct bmst_converted *out);

/* Shared by the converters: allocates images and labels for both splits (and
 * coarse labels when `coarse`) and fills src; -1 when memory runs out. */
int bmst_converted_alloc(struct bmst_converted *cv, const char *name, int h, int w, int c,
                         int classes, const size_t count[2], int coarse);
void bmst_converted_free(struct bmst_converted *cv);
/* Reads class names, one per line (blank lines ignored), from an optional
 * text file: absent leaves class_names NULL; present must hold `classes`. */
int bmst_read_class_names(const char *path, struct bmst_converted *cv);
/* "DIR/NAME" into buf; -1 when it does not fit. */
int bmst_join_path(char *buf, size_t cap, const char *dir, const char *name);

#endif
