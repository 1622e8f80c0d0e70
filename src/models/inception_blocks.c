/* InceptionV3's five block kinds in both variants. Where the variants differ
 * (besides their names):
 *  - A: the pooling branch's conv is 3x3 padded 1 in the CIFAR variant, 1x1
 *    in torchvision's;
 *  - C: the single factorized branch runs 7x1 then 1x7 in the CIFAR variant,
 *    1x7 then 7x1 in torchvision's;
 *  - D: the pooling branch is a 3x3 stride-2 average pool in the CIFAR
 *    variant, a max pool in torchvision's.
 * pytorch-cifar100 groups a branch's layers in nn.Sequential, so its names
 * number them ("branch5x5.1.conv.weight", the pool at index 0 of a pooling
 * branch); torchvision names each ("branch5x5_2.conv.weight"). E's split
 * branches and torchvision's blocks concatenate in one node: a concat of
 * concats has the same channel order. */
#include <stdio.h>

#include "inception_blocks.h"
#include "ops/ops.h"

#define NAME_MAX_LEN 48 /* the longest, "Mixed_6b.branch7x7stack.4", has 25 */

int inception_basic(const struct inception_ctx *c, int x, const char *name, int k, int r, int s,
                    int stride, int pad_h, int pad_w) {
    char conv[NAME_MAX_LEN + 8], bn[NAME_MAX_LEN + 8];
    snprintf(conv, sizeof conv, "%s.conv", name);
    snprintf(bn, sizeof bn, "%s.bn", name);
    int y = bmst_op_conv_pad(c->g, x, conv, k, r, s, stride, pad_h, pad_w);
    return bmst_op_relu(c->g, bmst_op_bn_eps(c->g, y, bn, c->eps));
}

/* A layer of a block: "<block>.<layer>" */
static int layer(const struct inception_ctx *c, int x, const char *block, const char *layer_name,
                 int k, int r, int s, int stride, int pad_h, int pad_w) {
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s.%s", block, layer_name);
    return inception_basic(c, x, name, k, r, s, stride, pad_h, pad_w);
}

/* One layer's name in each variant: the CIFAR one's Sequential index or the
 * torchvision one's own name. */
#define PICK(c, cifar_name, tv_name) ((c)->cifar ? (cifar_name) : (tv_name))

int inception_a(const struct inception_ctx *c, int x, const char *name, int pool_features) {
    int b1 = layer(c, x, name, "branch1x1", 64, 1, 1, 1, 0, 0);
    int b5 = layer(c, x, name, PICK(c, "branch5x5.0", "branch5x5_1"), 48, 1, 1, 1, 0, 0);
    b5 = layer(c, b5, name, PICK(c, "branch5x5.1", "branch5x5_2"), 64, 5, 5, 1, 2, 2);
    int b3 = layer(c, x, name, PICK(c, "branch3x3.0", "branch3x3dbl_1"), 64, 1, 1, 1, 0, 0);
    b3 = layer(c, b3, name, PICK(c, "branch3x3.1", "branch3x3dbl_2"), 96, 3, 3, 1, 1, 1);
    b3 = layer(c, b3, name, PICK(c, "branch3x3.2", "branch3x3dbl_3"), 96, 3, 3, 1, 1, 1);
    int bp = bmst_op_avgpool(c->g, x, 3, 1, 1);
    bp = c->cifar ? layer(c, bp, name, "branchpool.1", pool_features, 3, 3, 1, 1, 1)
                  : layer(c, bp, name, "branch_pool", pool_features, 1, 1, 1, 0, 0);
    int parts[4] = {b1, b5, b3, bp};
    return bmst_op_concat(c->g, parts, 4);
}

int inception_b(const struct inception_ctx *c, int x, const char *name) {
    int b3 = layer(c, x, name, "branch3x3", 384, 3, 3, 2, 0, 0);
    int bd = layer(c, x, name, PICK(c, "branch3x3stack.0", "branch3x3dbl_1"), 64, 1, 1, 1, 0, 0);
    bd = layer(c, bd, name, PICK(c, "branch3x3stack.1", "branch3x3dbl_2"), 96, 3, 3, 1, 1, 1);
    bd = layer(c, bd, name, PICK(c, "branch3x3stack.2", "branch3x3dbl_3"), 96, 3, 3, 2, 0, 0);
    int parts[3] = {b3, bd, bmst_op_maxpool(c->g, x, 3, 2, 0)};
    return bmst_op_concat(c->g, parts, 3);
}

int inception_c(const struct inception_ctx *c, int x, const char *name, int c7) {
    int b1 = layer(c, x, name, "branch1x1", 192, 1, 1, 1, 0, 0);
    int b7;
    if (c->cifar) {
        b7 = layer(c, x, name, "branch7x7.0", c7, 1, 1, 1, 0, 0);
        b7 = layer(c, b7, name, "branch7x7.1", c7, 7, 1, 1, 3, 0);
        b7 = layer(c, b7, name, "branch7x7.2", 192, 1, 7, 1, 0, 3);
    } else {
        b7 = layer(c, x, name, "branch7x7_1", c7, 1, 1, 1, 0, 0);
        b7 = layer(c, b7, name, "branch7x7_2", c7, 1, 7, 1, 0, 3);
        b7 = layer(c, b7, name, "branch7x7_3", 192, 7, 1, 1, 3, 0);
    }
    /* 1x1, then 7x1 and 1x7 twice, in both variants */
    static const char *cifar_stack[5] = {"branch7x7stack.0", "branch7x7stack.1", "branch7x7stack.2",
                                         "branch7x7stack.3", "branch7x7stack.4"};
    static const char *tv_stack[5] = {"branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3",
                                      "branch7x7dbl_4", "branch7x7dbl_5"};
    int bd = layer(c, x, name, PICK(c, cifar_stack[0], tv_stack[0]), c7, 1, 1, 1, 0, 0);
    for (int i = 1; i < 5; i++) {
        int tall = i % 2 == 1, k = i == 4 ? 192 : c7;
        bd = layer(c, bd, name, PICK(c, cifar_stack[i], tv_stack[i]), k, tall ? 7 : 1, tall ? 1 : 7,
                   1, tall ? 3 : 0, tall ? 0 : 3);
    }
    int bp = bmst_op_avgpool(c->g, x, 3, 1, 1);
    bp = layer(c, bp, name, PICK(c, "branch_pool.1", "branch_pool"), 192, 1, 1, 1, 0, 0);
    int parts[4] = {b1, b7, bd, bp};
    return bmst_op_concat(c->g, parts, 4);
}

int inception_d(const struct inception_ctx *c, int x, const char *name) {
    int b3 = layer(c, x, name, PICK(c, "branch3x3.0", "branch3x3_1"), 192, 1, 1, 1, 0, 0);
    b3 = layer(c, b3, name, PICK(c, "branch3x3.1", "branch3x3_2"), 320, 3, 3, 2, 0, 0);
    int b7 = layer(c, x, name, PICK(c, "branch7x7.0", "branch7x7x3_1"), 192, 1, 1, 1, 0, 0);
    b7 = layer(c, b7, name, PICK(c, "branch7x7.1", "branch7x7x3_2"), 192, 1, 7, 1, 0, 3);
    b7 = layer(c, b7, name, PICK(c, "branch7x7.2", "branch7x7x3_3"), 192, 7, 1, 1, 3, 0);
    b7 = layer(c, b7, name, PICK(c, "branch7x7.3", "branch7x7x3_4"), 192, 3, 3, 2, 0, 0);
    int bp = c->cifar ? bmst_op_avgpool(c->g, x, 3, 2, 0) : bmst_op_maxpool(c->g, x, 3, 2, 0);
    int parts[3] = {b3, b7, bp};
    return bmst_op_concat(c->g, parts, 3);
}

int inception_e(const struct inception_ctx *c, int x, const char *name) {
    int b1 = layer(c, x, name, "branch1x1", 320, 1, 1, 1, 0, 0);
    int b3 = layer(c, x, name, "branch3x3_1", 384, 1, 1, 1, 0, 0);
    int b3a = layer(c, b3, name, "branch3x3_2a", 384, 1, 3, 1, 0, 1);
    int b3b = layer(c, b3, name, "branch3x3_2b", 384, 3, 1, 1, 1, 0);
    int bd = layer(c, x, name, PICK(c, "branch3x3stack_1", "branch3x3dbl_1"), 448, 1, 1, 1, 0, 0);
    bd = layer(c, bd, name, PICK(c, "branch3x3stack_2", "branch3x3dbl_2"), 384, 3, 3, 1, 1, 1);
    int bda =
        layer(c, bd, name, PICK(c, "branch3x3stack_3a", "branch3x3dbl_3a"), 384, 1, 3, 1, 0, 1);
    int bdb =
        layer(c, bd, name, PICK(c, "branch3x3stack_3b", "branch3x3dbl_3b"), 384, 3, 1, 1, 1, 0);
    int bp = bmst_op_avgpool(c->g, x, 3, 1, 1);
    bp = layer(c, bp, name, PICK(c, "branch_pool.1", "branch_pool"), 192, 1, 1, 1, 0, 0);
    int parts[6] = {b1, b3a, b3b, bda, bdb, bp};
    return bmst_op_concat(c->g, parts, 6);
}
