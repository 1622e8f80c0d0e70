/* InceptionV3 with two stems chosen by input size, like the ResNets:
 *  - inputs up to 64 px: the CIFAR variant of the pytorch-cifar100 zoo
 *    (models/inceptionv3.py): five stride-1 stem convolutions (3x3 32, 3x3
 *    32, 3x3 64, 1x1 80, 3x3 192 unpadded), batch norm at PyTorch's default
 *    eps, dropout before the classifier "linear";
 *  - inputs of 75 px and more (both sides): torchvision's Inception3
 *    (transform_input off): a stride-2 stem with two max pools, batch norm
 *    eps 1e-3, classifier "fc", and with --aux-logits (from 299 px) its
 *    auxiliary classifier "AuxLogits" on Mixed_6e's output (aux_head);
 * both with InceptionA x3, B, C x4, D, E x2, global average pooling and
 * dropout p = 0.5. Parameter names are each source's state_dict names.
 *
 * BMST: the network is a sequence of 16 modules (Conv2d_1a_3x3, Conv2d_2a_3x3,
 * Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3, Mixed_5b .. Mixed_5d,
 * Mixed_6a .. Mixed_6e, Mixed_7a .. Mixed_7c; a max pool belongs to the
 * module before it), and --mix-at cN merges before module N, as cN does in
 * the ResNets (conv1 is module 1, layer1 module 2): c2 .. c16. The auxiliary
 * head reads Mixed_6e (module 13); when the merge comes later (c14 .. c16)
 * the head's input is merged by its own mix node, so both heads see the
 * merged batch and the same merged targets (docs/design-notes.md). */
#include <stdio.h>

#include "error.h"
#include "inception_blocks.h"
#include "models.h"
#include "ops/ops.h"

#define CIFAR_MAX_SIZE 64
#define MODULES 16
#define DROPOUT_P 0.5f
#define AUX_MODULE 13   /* Mixed_6e: the auxiliary head reads its output */
#define AUX_WEIGHT 0.4f /* torchvision's reference recipe: loss + 0.4 * aux loss */
#define AUX_WIDTH 768   /* AuxLogits.conv1 */

/* The windows (kernel, stride, pad) that shrink a side on the way through,
 * in order; the blocks between them keep the size. */
struct window {
    int k, stride, pad;
};
static const struct window cifar_path[] = {{3, 1, 1}, {3, 1, 1}, {3, 1, 1}, {1, 1, 0},
                                           {3, 1, 0}, {3, 2, 0}, {3, 2, 0}};
static const struct window imagenet_path[] = {{3, 2, 0}, {3, 1, 0}, {3, 1, 1}, {3, 2, 0}, {1, 1, 0},
                                              {3, 1, 0}, {3, 2, 0}, {3, 2, 0}, {3, 2, 0}};

/* 1 when a side of `size` passes every window of the path */
static int side_fits(int size, const struct window *path, int n) {
    for (int i = 0; i < n; i++) {
        if (size + 2 * path[i].pad < path[i].k) return 0;
        size = (size + 2 * path[i].pad - path[i].k) / path[i].stride + 1;
    }
    return 1;
}

static int smallest_side(const struct window *path, int n) {
    int size = 1;
    while (!side_fits(size, path, n))
        size++;
    return size;
}

/* The auxiliary head's path: torchvision's stem and modules up to Mixed_6e
 * (the windows before Mixed_7a's), then the head's 5x5 stride-3 average pool
 * and its unpadded 5x5 convolution. */
static const struct window aux_path[] = {{3, 2, 0}, {3, 1, 0}, {3, 1, 1}, {3, 2, 0}, {1, 1, 0},
                                         {3, 1, 0}, {3, 2, 0}, {3, 2, 0}, {5, 3, 0}, {5, 1, 0}};
#define AUX_PATH_LEN (int)(sizeof aux_path / sizeof *aux_path)

int bmst_inception_aux_check(const char *arch, int h, int w) {
    if (h > CIFAR_MAX_SIZE && w > CIFAR_MAX_SIZE && side_fits(h, aux_path, AUX_PATH_LEN) &&
        side_fits(w, aux_path, AUX_PATH_LEN))
        return 0;
    return bmst_error("--aux-logits: the auxiliary classifier of %s (torchvision's, 5x5 "
                      "convolution on Mixed_6e's pooled map) needs inputs of at least %dx%d px, "
                      "got %dx%d",
                      arch, smallest_side(aux_path, AUX_PATH_LEN),
                      smallest_side(aux_path, AUX_PATH_LEN), h, w);
}

/* torchvision's InceptionAux on x (Mixed_6e's output, merged): 5x5 stride-3
 * average pool, conv0 1x1 128, conv1 5x5 768, adaptive average pool to 1x1,
 * fc; in a training graph its loss. An evaluation graph builds the head only
 * to register its parameters (a checkpoint holds them) and drops its nodes:
 * evaluation scores the main logits alone, as torchvision's eval() does. */
static void aux_head(const struct inception_ctx *c, int x, int classes) {
    struct bmst_graph *g = c->g;
    int n_nodes = g->n_nodes, n_values = g->n_values;
    x = bmst_op_avgpool(g, x, 5, 3, 0);
    x = inception_basic(c, x, "AuxLogits.conv0", 128, 1, 1, 1, 0, 0);
    x = inception_basic(c, x, "AuxLogits.conv1", AUX_WIDTH, 5, 5, 1, 0, 0);
    x = bmst_op_fc(g, bmst_op_gap(g, x), "AuxLogits.fc", classes);
    /* torchvision's init_weights: these two start from their own stddev */
    bmst_model_init_trunc_normal(g->model, "AuxLogits.conv1.conv.weight", 0.01f);
    bmst_model_init_trunc_normal(g->model, "AuxLogits.fc.weight", 0.001f);
    if (g->training)
        bmst_op_aux_loss(g, x, AUX_WEIGHT);
    else
        bmst_graph_truncate(g, n_nodes, n_values);
}

/* The stem; returns its output, merging before module `*module` as asked. */
static int stem(const struct inception_ctx *c, const struct bmst_network_spec *spec, int x,
                int *module) {
    static const char *names[5] = {"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3",
                                   "Conv2d_3b_1x1", "Conv2d_4a_3x3"};
    static const int widths[5] = {32, 32, 64, 80, 192}, kernels[5] = {3, 3, 3, 1, 3};
    static const int cifar_pads[5] = {1, 1, 1, 0, 0}, tv_pads[5] = {0, 0, 1, 0, 0};
    for (int i = 0; i < 5; i++, (*module)++) {
        if (spec->mix_at == *module) x = bmst_op_mix(c->g, x);
        int stride = !c->cifar && i == 0 ? 2 : 1, pad = c->cifar ? cifar_pads[i] : tv_pads[i];
        x = inception_basic(c, x, names[i], widths[i], kernels[i], kernels[i], stride, pad, pad);
        if (!c->cifar && (i == 2 || i == 4)) x = bmst_op_maxpool(c->g, x, 3, 2, 0);
    }
    return x;
}

int bmst_inception_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth) {
    (void)depth;
    int cifar = spec->h <= CIFAR_MAX_SIZE && spec->w <= CIFAR_MAX_SIZE;
    const struct window *path = cifar ? cifar_path : imagenet_path;
    int n = cifar ? (int)(sizeof cifar_path / sizeof *cifar_path)
                  : (int)(sizeof imagenet_path / sizeof *imagenet_path);
    int least = smallest_side(path, n);
    if (!cifar && (spec->h <= CIFAR_MAX_SIZE + 10 || spec->w <= CIFAR_MAX_SIZE + 10))
        return bmst_error("%s takes inputs of at most %d px a side (CIFAR stem) or of at least "
                          "%d (ImageNet stem), got %dx%d",
                          spec->arch, CIFAR_MAX_SIZE, least, spec->h, spec->w);
    if (!side_fits(spec->h, path, n) || !side_fits(spec->w, path, n))
        return bmst_error("%s needs inputs of at least %dx%d px, got %dx%d", spec->arch, least,
                          least, spec->h, spec->w);
    struct inception_ctx c = {.g = g, .cifar = cifar, .eps = cifar ? 1e-5f : 1e-3f};
    int module = 1;
    int x = stem(&c, spec, bmst_op_input(g, spec->h, spec->w, spec->c), &module);
    /* Mixed_5b .. Mixed_7c */
    static const char *names[11] = {"Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                                    "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                                    "Mixed_7a", "Mixed_7b", "Mixed_7c"};
    static const int pool_features[3] = {32, 64, 64}, channels_7x7[4] = {128, 160, 160, 192};
    int aux_merged = -1; /* c14: Mixed_6e's output merged for the head, which the trunk takes */
    for (int i = 0; i < 11; i++, module++) {
        if (spec->mix_at == module) x = aux_merged >= 0 ? aux_merged : bmst_op_mix(g, x);
        if (i < 3)
            x = inception_a(&c, x, names[i], pool_features[i]);
        else if (i == 3)
            x = inception_b(&c, x, names[i]);
        else if (i < 8)
            x = inception_c(&c, x, names[i], channels_7x7[i - 4]);
        else if (i == 8)
            x = inception_d(&c, x, names[i]);
        else
            x = inception_e(&c, x, names[i]);
        if (spec->aux_logits && module == AUX_MODULE) {
            int merged = spec->mix_at > AUX_MODULE ? bmst_op_mix(g, x) : x;
            /* merging right after Mixed_6e (c14) the trunk takes the same merge */
            if (spec->mix_at == AUX_MODULE + 1) aux_merged = merged;
            aux_head(&c, merged, spec->classes);
        }
    }
    BMST_ASSERT(module == MODULES + 1);
    x = bmst_op_dropout(g, bmst_op_gap(g, x), DROPOUT_P);
    bmst_op_loss(g, bmst_op_fc(g, x, cifar ? "linear" : "fc", spec->classes));
    return 0;
}
