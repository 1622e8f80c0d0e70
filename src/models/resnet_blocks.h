/* Residual blocks shared by the ImageNet-style and CIFAR ResNets. */
#ifndef BMST_RESNET_BLOCKS_H
#define BMST_RESNET_BLOCKS_H

#include "graph.h"

/* The identity, or a 1x1 projection "<block>.downsample.0/1" when the shape changes. */
int bmst_resnet_shortcut(struct bmst_graph *g, int x, const char *block, int k, int stride);
/* conv3x3-bn-relu-conv3x3-bn + shortcut, relu; "<block>.conv1", ".bn1", ... */
int bmst_resnet_basic_block(struct bmst_graph *g, int x, const char *block, int width,
                            int stride);

#endif
