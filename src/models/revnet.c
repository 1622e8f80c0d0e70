/* The CIFAR RevNets of Gomez et al. (2017), "The Reversible Residual
 * Network", as the authors' code builds them (renmengye/revnet-public,
 * resnet/configs/cifar_configs.py and resnet/models/revnet_model.py):
 *  - revnet38: 3/3/3 basic units, widths 32/64/112;
 *  - revnet110: 9/9/9 basic units, widths 32/64/128;
 *  - revnet164: 9/9/9 bottleneck units, widths 32/64/128 times 4;
 * a 3x3 conv of 32 with BN-ReLU as the stem, three stages of reversible
 * units (ops/reversible.h) at strides 1/2/2, a final BN-ReLU, global
 * average pooling and the classifier. The network's first unit has no
 * BN-ReLU before F's first conv (the stem ends in one). A stage's first
 * unit that changes the shape is not invertible and keeps its input, as in
 * the paper; every other unit rebuilds its input in backward.
 *
 * Where this differs from that code: PyTorch's conventions (convolutions
 * padded k / 2, BN eps 1e-5, momentum 0.1, Kaiming-normal convs), so that
 * a PyTorch model of the same names loads the weights. Names: conv1, bn1,
 * layer<s>.<i>.f.bn1 / f.conv1 / ... / g.conv2 (g.conv3 in bottlenecks),
 * layer<s>.<i>.downsample1 / downsample2 (a bottleneck stage's first unit:
 * the 1x1 projections of the two halves), bn, fc. */
#include <stdio.h>

#include "models.h"
#include "ops/ops.h"
#include "ops/reversible.h"

#define STEM_WIDTH 32

struct revnet_config {
    int units;
    int widths[3];
    int bottleneck;
};

static const struct revnet_config *config_of(int depth) {
    static const struct revnet_config r38 = {3, {32, 64, 112}, 0};
    static const struct revnet_config r110 = {9, {32, 64, 128}, 0};
    static const struct revnet_config r164 = {9, {32, 64, 128}, 1};
    return depth == 38 ? &r38 : depth == 110 ? &r110 : &r164;
}

int bmst_revnet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth) {
    const struct revnet_config *cfg = config_of(depth);
    int x = bmst_op_input(g, spec->h, spec->w, spec->c);
    x = bmst_op_conv(g, x, "conv1", STEM_WIDTH, 3, 3, 1, 1);
    x = bmst_op_relu(g, bmst_op_bn(g, x, "bn1"));
    for (int stage = 0; stage < 3; stage++) {
        if (spec->mix_at == BMST_MIX_C2 + stage) x = bmst_op_mix(g, x);
        int width = cfg->widths[stage] * (cfg->bottleneck ? 4 : 1);
        for (int i = 0; i < cfg->units; i++) {
            char unit[32];
            snprintf(unit, sizeof unit, "layer%d.%d", stage + 1, i);
            int stride = stage > 0 && i == 0 ? 2 : 1;
            x = bmst_op_reversible(g, x, unit, width, stride, cfg->bottleneck,
                                   stage == 0 && i == 0);
        }
    }
    x = bmst_op_relu(g, bmst_op_bn(g, x, "bn"));
    bmst_op_loss(g, bmst_op_fc(g, bmst_op_gap(g, x), "fc", spec->classes));
    return 0;
}
