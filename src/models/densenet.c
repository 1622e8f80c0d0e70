/* torchvision's DenseNet-121 and DenseNet-161 (bn_size 4, no dropout), with
 * torchvision's parameter names (features.denseblock1.denselayer1.norm1.weight,
 * ..., classifier.weight), the ImageNet stem (7x7 stride 2 + 3x3 max pool)
 * above 64 px and the CIFAR stem (3x3 conv, stride 1, no max pool) up to it,
 * as the ResNets. Each dense block's concatenation is one buffer planned at
 * the block's full width; every layer reads the prefix before it in place
 * and appends its growth channels (ops/append.c), so no layer copies the
 * features before it, as torch.cat in an eager DenseNet does. */
#include <stdio.h>

#include "error.h"
#include "models.h"
#include "ops/op.h"
#include "ops/ops.h"

#define CIFAR_STEM_MAX_SIZE 64
#define BN_SIZE 4

struct densenet_config {
    int growth, init_features;
    int layers[4];
};

static const struct densenet_config *config_of(int depth) {
    static const struct densenet_config d121 = {32, 64, {6, 12, 24, 16}};
    static const struct densenet_config d161 = {48, 96, {6, 12, 36, 24}};
    return depth == 161 ? &d161 : &d121;
}

/* bn -> relu -> conv, named "<prefix>.<norm>", "<prefix>.<conv>". */
static int bn_relu_conv(struct bmst_graph *g, int x, const char *prefix, const char *norm,
                        const char *conv, int k, int kernel) {
    char bn_name[96], conv_name[96];
    snprintf(bn_name, sizeof bn_name, "%s.%s", prefix, norm);
    snprintf(conv_name, sizeof conv_name, "%s.%s", prefix, conv);
    int y = bmst_op_relu(g, bmst_op_bn(g, x, bn_name));
    return bmst_op_conv(g, y, conv_name, k, kernel, kernel, 1, kernel / 2);
}

/* Dense block `b` (1-based) over x: returns the whole concatenation. */
static int dense_block(struct bmst_graph *g, int x, int b, int layers, int growth) {
    int features = bmst_op_append_begin(g, x, g->values[x].shape.c + layers * growth);
    for (int l = 1; l <= layers; l++) {
        char layer[64];
        snprintf(layer, sizeof layer, "features.denseblock%d.denselayer%d", b, l);
        int y = bn_relu_conv(g, features, layer, "norm1", "conv1", BN_SIZE * growth, 1);
        y = bn_relu_conv(g, y, layer, "norm2", "conv2", growth, 3);
        features = bmst_op_append_to(g, features, y);
    }
    return features;
}

/* The spatial size after the stem; every transition then halves it (2x2
 * average pool, stride 2). */
static int size_after_stem(int size, int cifar) {
    if (cifar) return size;
    return bmst_op_window_out(bmst_op_window_out(size, 7, 2, 3), 3, 2, 1);
}

int bmst_densenet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth) {
    const struct densenet_config *cfg = config_of(depth);
    int cifar = spec->h <= CIFAR_STEM_MAX_SIZE && spec->w <= CIFAR_STEM_MAX_SIZE;
    /* three transitions halve the stem's output: it must be at least 8 px */
    int h = size_after_stem(spec->h, cifar), w = size_after_stem(spec->w, cifar);
    if (h < 8 || w < 8)
        return bmst_error("%s cannot take a %dx%d input: three transitions after the %s stem "
                          "need at least %d px a side",
                          spec->arch, spec->h, spec->w, cifar ? "CIFAR" : "ImageNet",
                          cifar ? 8 : 29);

    int x = bmst_op_input(g, spec->h, spec->w, spec->c);
    if (cifar) {
        x = bmst_op_conv(g, x, "features.conv0", cfg->init_features, 3, 3, 1, 1);
        x = bmst_op_relu(g, bmst_op_bn(g, x, "features.norm0"));
    } else {
        x = bmst_op_conv(g, x, "features.conv0", cfg->init_features, 7, 7, 2, 3);
        x = bmst_op_relu(g, bmst_op_bn(g, x, "features.norm0"));
        x = bmst_op_maxpool(g, x, 3, 2, 1);
    }
    for (int b = 0; b < 4; b++) {
        if (spec->mix_at == BMST_MIX_C2 + b) x = bmst_op_mix(g, x);
        x = dense_block(g, x, b + 1, cfg->layers[b], cfg->growth);
        if (b < 3) {
            char transition[32];
            snprintf(transition, sizeof transition, "features.transition%d", b + 1);
            x = bn_relu_conv(g, x, transition, "norm", "conv", g->values[x].shape.c / 2, 1);
            x = bmst_op_avgpool(g, x, 2, 2, 0);
        }
    }
    x = bmst_op_relu(g, bmst_op_bn(g, x, "features.norm5"));
    bmst_op_loss(g, bmst_op_fc(g, bmst_op_gap(g, x), "classifier", spec->classes));
    return 0;
}
