/* The pre-activation bottleneck CIFAR ResNet of He et al. (2016), "Identity
 * Mappings in Deep Residual Networks": ResNet-164, a 3x3 conv of 16 then
 * three stages of 18 bottleneck units (widths 16/32/64, outputs four times
 * that), a final BN-ReLU, global pooling and the classifier. As in the
 * authors' code (KaimingHe/resnet-1k-layers): each unit is BN-ReLU-conv1x1,
 * BN-ReLU-conv3x3, BN-ReLU-conv1x1 plus the identity; where the shape
 * changes, the first BN-ReLU is shared by the residual branch and a 1x1
 * projection shortcut, and the stride is on the first 1x1 conv. Names follow
 * the ResNets: conv1, layer1.0.bn1 .. layer1.0.conv3, layer1.0.downsample.0
 * (the projection, no BN), bn (the final BN), fc. */
#include <stdio.h>

#include "models.h"
#include "ops/ops.h"
#include "resnet_blocks.h"

/* bn -> relu -> conv, "<block>.bn<i>", "<block>.conv<i>"; *act gets the relu's output. */
static int preact_conv(struct bmst_graph *g, int x, const char *block, int i, int k, int kernel,
                       int stride, int *act) {
    char bn[64], conv[64];
    snprintf(bn, sizeof bn, "%s.bn%d", block, i);
    snprintf(conv, sizeof conv, "%s.conv%d", block, i);
    int y = bmst_op_relu(g, bmst_op_bn(g, x, bn));
    if (act) *act = y;
    return bmst_op_conv(g, y, conv, k, kernel, kernel, stride, kernel / 2);
}

static int preact_bottleneck(struct bmst_graph *g, int x, const char *block, int width,
                             int stride) {
    int act;
    int y = preact_conv(g, x, block, 1, width, 1, stride, &act);
    y = preact_conv(g, y, block, 2, width, 3, 1, NULL);
    y = preact_conv(g, y, block, 3, 4 * width, 1, 1, NULL);
    int shortcut = x;
    if (stride != 1 || g->values[x].shape.c != 4 * width) {
        char conv[64];
        snprintf(conv, sizeof conv, "%s.downsample.0", block);
        shortcut = bmst_op_conv(g, act, conv, 4 * width, 1, 1, stride, 0);
    }
    return bmst_op_add(g, y, shortcut);
}

int bmst_resnet_preact_build(struct bmst_graph *g, const struct bmst_network_spec *spec,
                             int depth) {
    int blocks = (depth - 2) / 9;
    int x = bmst_op_input(g, spec->h, spec->w, spec->c);
    x = bmst_op_conv(g, x, "conv1", 16, 3, 3, 1, 1);
    x = bmst_resnet_cifar_stages(g, x, spec, blocks, 16, preact_bottleneck);
    x = bmst_op_relu(g, bmst_op_bn(g, x, "bn"));
    bmst_op_loss(g, bmst_op_fc(g, bmst_op_gap(g, x), "fc", spec->classes));
    return 0;
}
