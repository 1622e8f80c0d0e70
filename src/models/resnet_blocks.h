/* Residual blocks shared by the ImageNet-style and CIFAR ResNets. */
#ifndef BMST_RESNET_BLOCKS_H
#define BMST_RESNET_BLOCKS_H

#include "graph.h"
#include "models.h"

/* The identity, or a 1x1 projection "<block>.downsample.0/1" when the shape changes. */
int bmst_resnet_shortcut(struct bmst_graph *g, int x, const char *block, int k, int stride);
/* conv3x3-bn-relu-conv3x3-bn + shortcut, relu; "<block>.conv1", ".bn1", ... */
int bmst_resnet_basic_block(struct bmst_graph *g, int x, const char *block, int width,
                            int stride);

/* A residual unit: x through "<block>..." of `width` (its own meaning of
 * width), the first conv strided by `stride`. */
typedef int (*bmst_resnet_unit)(struct bmst_graph *g, int x, const char *block, int width,
                                int stride);
/* Three CIFAR stages of `units` units each, "layer<s>.<b>" of width base << s,
 * stride 2 on the first unit of stages 2 and 3, the BMST merge before stage
 * spec->mix_at - 1 (c2 = before the first). */
int bmst_resnet_cifar_stages(struct bmst_graph *g, int x, const struct bmst_network_spec *spec,
                             int units, int base, bmst_resnet_unit unit);

#endif
