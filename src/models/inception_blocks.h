/* InceptionV3's blocks (models/inception_blocks.c), shared by the builder's
 * two variants (models/inception.c): the CIFAR variant of the
 * pytorch-cifar100 zoo and torchvision's Inception3. The variants build the
 * same computation per block kind except where noted in the .c file, and name
 * their layers after their own source. */
#ifndef BMST_INCEPTION_BLOCKS_H
#define BMST_INCEPTION_BLOCKS_H

#include "graph.h"

struct inception_ctx {
    struct bmst_graph *g;
    int cifar; /* 1: pytorch-cifar100's layout and names; 0: torchvision's */
    float eps; /* every batch norm's: 1e-5 (CIFAR) or 1e-3 (torchvision) */
};

/* BasicConv2d: bias-free conv, BN, ReLU; "<name>.conv.weight", "<name>.bn.*". */
int inception_basic(const struct inception_ctx *c, int x, const char *name, int k, int r, int s,
                    int stride, int pad_h, int pad_w);

/* The blocks, "<name>.<branch>..."; each ends in one concatenation. */
int inception_a(const struct inception_ctx *c, int x, const char *name, int pool_features);
int inception_b(const struct inception_ctx *c, int x, const char *name);
int inception_c(const struct inception_ctx *c, int x, const char *name, int channels_7x7);
int inception_d(const struct inception_ctx *c, int x, const char *name);
int inception_e(const struct inception_ctx *c, int x, const char *name);

#endif
