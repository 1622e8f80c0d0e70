/* The model zoo: builders that append a network's nodes to a graph, looked up
 * by name. Names and parameter names follow torchvision. */
#ifndef BMST_MODELS_H
#define BMST_MODELS_H

#include "graph.h"

/* Where the BMST merge sits: before stage N (c2 = right after the stem);
 * each family says which it has and where they are (models.c). */
enum bmst_mix_at { BMST_MIX_C2 = 2, BMST_MIX_C3 = 3, BMST_MIX_C4 = 4, BMST_MIX_C5 = 5 };

/* The ImageNet-style ResNets' stem (--stem): chosen by the input size
 * (the CIFAR stem up to 64 px), or either one by name. */
enum bmst_stem { BMST_STEM_AUTO = 0, BMST_STEM_CIFAR = 1, BMST_STEM_IMAGENET = 2 };

struct bmst_network_spec {
    char arch[32];  /* "resnet18", "resnet20", ... */
    int h, w, c;    /* input image shape */
    int classes;
    int mix_at;     /* enum bmst_mix_at */
    int aux_logits; /* 1: the auxiliary classifier too (--aux-logits; InceptionV3) */
    int stem;       /* enum bmst_stem */
};

/* Appends the whole network (input to loss) to g. Returns -1 with a message for
 * an unknown architecture or a mix point the architecture does not have. */
int bmst_network_build(struct bmst_graph *g, const struct bmst_network_spec *spec);

/* 0 when `arch` is a known architecture with a stage `mix_at`; else -1 with
 * a message (checked on the command line, before a run starts). */
int bmst_network_check(const char *arch, int mix_at);

/* 0 when `arch` has an auxiliary classifier that takes h x w inputs; else
 * -1 with a message (--aux-logits on another model or a smaller input). */
int bmst_network_check_aux(const char *arch, int h, int w);

/* 0 when `arch` takes `stem` (BMST_STEM_AUTO: every one; cifar and
 * imagenet: the ImageNet-style ResNets); else -1 with a message. */
int bmst_network_check_stem(const char *arch, int stem);
/* "cifar" -> BMST_STEM_CIFAR, "imagenet" -> BMST_STEM_IMAGENET: 0, else -1
 * (no message); bmst_stem_name is the inverse ("auto" for BMST_STEM_AUTO). */
int bmst_stem_parse(const char *text, int *stem);
const char *bmst_stem_name(int stem);

/* Space-separated list of known architectures and seed names, for --help
 * and errors. */
const char *bmst_network_names(void);

/* 1 when `name` is one of the seed project's names ("c2mixt_resnet18": a
 * base network and its mix point), setting *base and *mix_at; else 0. */
int bmst_network_seed_name(const char *name, const char **base, int *mix_at);

/* The family of a known architecture ("ResNet", "DenseNet", ...), and its
 * mix points with where each sits: "c2 (after the stem) c3 (before layer2)
 * ...". Empty for an unknown one. */
const char *bmst_network_family(const char *arch);
const char *bmst_network_mix_points(const char *arch);

/* Builders, one per family (models/resnet.c, models/resnet_cifar.c). */
int bmst_resnet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth);
int bmst_resnet_cifar_build(struct bmst_graph *g, const struct bmst_network_spec *spec,
                            int depth);
/* models/inception.c: InceptionV3, its mix points c2..c16 (before module N) */
int bmst_inception_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth);
/* whether InceptionV3 takes --aux-logits at h x w: torchvision's stem only,
 * from 299 px */
int bmst_inception_aux_check(const char *arch, int h, int w);
int bmst_densenet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth);
int bmst_wide_resnet_build(struct bmst_graph *g, const struct bmst_network_spec *spec,
                           int depth);
int bmst_resnet_preact_build(struct bmst_graph *g, const struct bmst_network_spec *spec,
                             int depth);
/* The CIFAR RevNets (revnet.c): depth 38, 110 or 164. */
int bmst_revnet_build(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth);

#endif
