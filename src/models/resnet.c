/* torchvision's ResNet-18/34 (basic blocks), ResNet-50/101/152 (bottleneck
 * blocks, stride on the 3x3 conv as in v1.5) and Wide ResNet-50-2 (ResNet-50
 * with the bottlenecks' inner convs twice as wide), with the CIFAR stem (3x3 conv,
 * stride 1, no max pool) for inputs up to 64 px and the ImageNet stem (7x7
 * stride 2 + 3x3 max pool) above, unless --stem names one (spec->stem). Parameter names match torchvision's. */
#include <stdio.h>

#include "models.h"
#include "ops/ops.h"
#include "resnet_blocks.h"

#define CIFAR_STEM_MAX_SIZE 64

/* conv -> bn (-> relu); prefix "layer1.0" + "conv1"/"bn1". */
static int conv_bn(struct bmst_graph *g, int x, const char *block, int index, int k, int kernel,
                   int stride, int relu) {
    char conv[64], bn[64];
    snprintf(conv, sizeof conv, "%s.conv%d", block, index);
    snprintf(bn, sizeof bn, "%s.bn%d", block, index);
    int y = bmst_op_bn(g, bmst_op_conv(g, x, conv, k, kernel, kernel, stride, kernel / 2), bn);
    return relu ? bmst_op_relu(g, y) : y;
}

int bmst_resnet_shortcut(struct bmst_graph *g, int x, const char *block, int k, int stride) {
    if (stride == 1 && g->values[x].shape.c == k) return x;
    char conv[64], bn[64];
    snprintf(conv, sizeof conv, "%s.downsample.0", block);
    snprintf(bn, sizeof bn, "%s.downsample.1", block);
    return bmst_op_bn(g, bmst_op_conv(g, x, conv, k, 1, 1, stride, 0), bn);
}

int bmst_resnet_basic_block(struct bmst_graph *g, int x, const char *block, int width,
                            int stride) {
    int y = conv_bn(g, x, block, 1, width, 3, stride, 1);
    y = conv_bn(g, y, block, 2, width, 3, 1, 0);
    return bmst_op_relu(g, bmst_op_add(g, y, bmst_resnet_shortcut(g, x, block, width, stride)));
}

/* planes * 4 channels out; the inner 1x1 and 3x3 convs `wide` times planes */
static int bottleneck_block(struct bmst_graph *g, int x, const char *block, int planes, int wide,
                            int stride) {
    int y = conv_bn(g, x, block, 1, wide * planes, 1, 1, 1);
    y = conv_bn(g, y, block, 2, wide * planes, 3, stride, 1);
    y = conv_bn(g, y, block, 3, 4 * planes, 1, 1, 0);
    return bmst_op_relu(g,
                        bmst_op_add(g, y, bmst_resnet_shortcut(g, x, block, 4 * planes, stride)));
}

static int build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth, int wide) {
    static const int blocks18[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3},
                     blocks101[4] = {3, 4, 23, 3}, blocks152[4] = {3, 8, 36, 3};
    const int *blocks = depth == 18 ? blocks18
                        : depth == 34 || depth == 50 ? blocks34
                        : depth == 101 ? blocks101
                                       : blocks152;
    int bottleneck = depth >= 50;

    int x = bmst_op_input(g, spec->h, spec->w, spec->c);
    int cifar_stem = spec->stem == BMST_STEM_AUTO
                         ? spec->h <= CIFAR_STEM_MAX_SIZE && spec->w <= CIFAR_STEM_MAX_SIZE
                         : spec->stem == BMST_STEM_CIFAR;
    if (cifar_stem) {
        x = bmst_op_relu(g, bmst_op_bn(g, bmst_op_conv(g, x, "conv1", 64, 3, 3, 1, 1), "bn1"));
    } else {
        x = bmst_op_relu(g, bmst_op_bn(g, bmst_op_conv(g, x, "conv1", 64, 7, 7, 2, 3), "bn1"));
        x = bmst_op_maxpool(g, x, 3, 2, 1);
    }
    for (int stage = 0; stage < 4; stage++) {
        if (spec->mix_at == BMST_MIX_C2 + stage) x = bmst_op_mix(g, x);
        for (int b = 0; b < blocks[stage]; b++) {
            char block[32];
            snprintf(block, sizeof block, "layer%d.%d", stage + 1, b);
            int stride = (stage > 0 && b == 0) ? 2 : 1;
            int first = g->n_nodes;
            x = bottleneck ? bottleneck_block(g, x, block, 64 << stage, wide, stride)
                           : bmst_resnet_basic_block(g, x, block, 64 << stage, stride);
            bmst_graph_mark_block(g, first);
        }
    }
    bmst_op_loss(g, bmst_op_fc(g, bmst_op_gap(g, x), "fc", spec->classes));
    return 0;
}

int bmst_resnet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth) {
    return build(g, spec, depth, 1);
}

int bmst_wide_resnet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth) {
    return build(g, spec, depth, 2);
}
