/* The three-stage CIFAR ResNets of He et al. (2016): ResNet-20/44/56 with
 * 6n+2 layers at widths 16/32/64. Shortcuts that change shape use a 1x1
 * projection (the paper's option B), named like torchvision's downsample. */
#include <stdio.h>

#include "models.h"
#include "ops/ops.h"
#include "resnet_blocks.h"

int bmst_resnet_cifar_stages(struct bmst_graph *g, int x, const struct bmst_network_spec *spec,
                             int units, int base, bmst_resnet_unit unit) {
    for (int stage = 0; stage < 3; stage++) {
        if (spec->mix_at == BMST_MIX_C2 + stage) x = bmst_op_mix(g, x);
        for (int b = 0; b < units; b++) {
            char block[32];
            snprintf(block, sizeof block, "layer%d.%d", stage + 1, b);
            int stride = (stage > 0 && b == 0) ? 2 : 1;
            int first = g->n_nodes;
            x = unit(g, x, block, base << stage, stride);
            bmst_graph_mark_block(g, first);
        }
    }
    return x;
}

int bmst_resnet_cifar_build(struct bmst_graph *g, const struct bmst_network_spec *spec,
                            int depth) {
    int blocks = (depth - 2) / 6;
    int x = bmst_op_input(g, spec->h, spec->w, spec->c);
    x = bmst_op_relu(g, bmst_op_bn(g, bmst_op_conv(g, x, "conv1", 16, 3, 3, 1, 1), "bn1"));
    x = bmst_resnet_cifar_stages(g, x, spec, blocks, 16, bmst_resnet_basic_block);
    bmst_op_loss(g, bmst_op_fc(g, bmst_op_gap(g, x), "fc", spec->classes));
    return 0;
}
