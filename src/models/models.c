/* The table of known architectures and the checks every build shares. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "models.h"

/* A family of networks and the points where BMST can merge: c2 is always
 * right after the stem, then one point before each later stage (block);
 * `points[i]` says where c(2+i) sits, for info and the docs. */
#define MAX_MIX_POINTS 15 /* InceptionV3's: before each of its 16 modules but the first */

struct family {
    const char *name;
    int stem_choice; /* 1: --stem cifar|imagenet picks the stem (else by input size) */
    int n_points;
    const char *points[MAX_MIX_POINTS];
    /* the check of --aux-logits at an input size; NULL: no auxiliary classifier */
    int (*aux_check)(const char *arch, int h, int w);
};

static const struct family resnet = {
    "ResNet", 1, 4, {"after the stem", "before layer2", "before layer3", "before layer4"}, NULL};
static const struct family cifar_resnet = {
    "CIFAR ResNet", 0, 3, {"after the stem", "before layer2", "before layer3"}, NULL};
static const struct family preact_resnet = {
    "pre-activation ResNet", 0, 3, {"after the stem conv", "before layer2", "before layer3"}, NULL};
static const struct family wide_resnet = {
    "Wide ResNet", 1, 4, {"after the stem", "before layer2", "before layer3", "before layer4"}, NULL};
static const struct family revnet = {
    "RevNet", 0, 3, {"after the stem", "before layer2", "before layer3"}, NULL};
static const struct family densenet = {
    "DenseNet",
    0,
    4,
    {"after the stem, before denseblock1", "after transition1, before denseblock2",
     "after transition2, before denseblock3", "after transition3, before denseblock4"},
    NULL};

static const struct family inception = {
    "InceptionV3",
    0,
    15,
    {"before Conv2d_2a_3x3", "before Conv2d_2b_3x3", "before Conv2d_3b_1x1",
     "before Conv2d_4a_3x3", "after the stem, before Mixed_5b", "before Mixed_5c",
     "before Mixed_5d", "before Mixed_6a", "before Mixed_6b", "before Mixed_6c", "before Mixed_6d",
     "before Mixed_6e", "before Mixed_7a", "before Mixed_7b", "before Mixed_7c"},
    bmst_inception_aux_check};

struct network_entry {
    const char *name;
    int depth;
    const struct family *family;
    int (*build)(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth);
};

static const struct network_entry networks[] = {
    {"resnet18", 18, &resnet, bmst_resnet_build},
    {"resnet34", 34, &resnet, bmst_resnet_build},
    {"resnet50", 50, &resnet, bmst_resnet_build},
    {"resnet101", 101, &resnet, bmst_resnet_build},
    {"resnet152", 152, &resnet, bmst_resnet_build},
    {"resnet20", 20, &cifar_resnet, bmst_resnet_cifar_build},
    {"resnet44", 44, &cifar_resnet, bmst_resnet_cifar_build},
    {"resnet56", 56, &cifar_resnet, bmst_resnet_cifar_build},
    {"resnet110", 110, &cifar_resnet, bmst_resnet_cifar_build},
    {"resnet164", 164, &preact_resnet, bmst_resnet_preact_build},
    {"wide_resnet50_2", 50, &wide_resnet, bmst_wide_resnet_build},
    {"densenet121", 121, &densenet, bmst_densenet_build},
    {"densenet161", 161, &densenet, bmst_densenet_build},
    {"inceptionv3", 3, &inception, bmst_inception_build},
    {"revnet38", 38, &revnet, bmst_revnet_build},
    {"revnet110", 110, &revnet, bmst_revnet_build},
    {"revnet164", 164, &revnet, bmst_revnet_build},
};

#define N_NETWORKS (sizeof networks / sizeof networks[0])

/* The seed project's names: a base network with its mix point (and, unless
 * --merge says otherwise, a merge of 2). */
static const struct seed_name {
    const char *name, *base;
    int mix_at;
} seed_names[] = {
    {"c2mixt_resnet18", "resnet18", BMST_MIX_C2},   {"c3mixt_resnet18", "resnet18", BMST_MIX_C3},
    {"c2mixt_resnet34", "resnet34", BMST_MIX_C2},   {"c3mixt_resnet34", "resnet34", BMST_MIX_C3},
    {"c2mixt_resnet50", "resnet50", BMST_MIX_C2},   {"c3mixt_resnet50", "resnet50", BMST_MIX_C3},
    {"c2mixt_resnet101", "resnet101", BMST_MIX_C2}, {"c3mixt_resnet101", "resnet101", BMST_MIX_C3},
    {"c2mixt_resnet152", "resnet152", BMST_MIX_C2}, {"c3mixt_resnet152", "resnet152", BMST_MIX_C3},
    /* c3, c6 and c14 as models/inception.c numbers its modules (docs/cli.md) */
    {"c3mixt_inceptionv3", "inceptionv3", 3},       {"c6mixt_inceptionv3", "inceptionv3", 6},
    {"c14mixt_inceptionv3", "inceptionv3", 14},
};

#define N_SEED_NAMES (sizeof seed_names / sizeof seed_names[0])

/* Made from the tables once, so a new entry is listed without another edit. */
const char *bmst_network_names(void) {
    static char names[1024];
    if (!names[0]) {
        size_t len = 0;
        for (size_t i = 0; i < N_NETWORKS; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "",
                                    networks[i].name);
        for (size_t i = 0; i < N_SEED_NAMES && len < sizeof names; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, " %s", seed_names[i].name);
    }
    return names;
}

static const struct network_entry *find(const char *arch) {
    for (size_t i = 0; i < N_NETWORKS; i++)
        if (strcmp(networks[i].name, arch) == 0) return &networks[i];
    return NULL;
}

int bmst_network_seed_name(const char *name, const char **base, int *mix_at) {
    for (size_t i = 0; i < N_SEED_NAMES; i++) {
        if (strcmp(seed_names[i].name, name) != 0) continue;
        *base = seed_names[i].base;
        *mix_at = seed_names[i].mix_at;
        return 1;
    }
    return 0;
}

/* "c2 c3 c4", or with `where` each point's place: "c2 (after the stem) c3 (...)". */
static const char *points_text(const struct family *f, int where) {
    static char text[1024];
    size_t len = 0;
    text[0] = 0;
    for (int i = 0; i < f->n_points && len < sizeof text; i++) {
        len +=
            (size_t)snprintf(text + len, sizeof text - len, "%sc%d", i ? " " : "", BMST_MIX_C2 + i);
        if (where && len < sizeof text)
            len += (size_t)snprintf(text + len, sizeof text - len, " (%s)", f->points[i]);
    }
    return text;
}

const char *bmst_network_mix_points(const char *arch) {
    const struct network_entry *entry = find(arch);
    return entry ? points_text(entry->family, 1) : "";
}

const char *bmst_network_family(const char *arch) {
    const struct network_entry *entry = find(arch);
    return entry ? entry->family->name : "";
}

int bmst_network_check(const char *arch, int mix_at) {
    const struct network_entry *entry = find(arch);
    if (!entry) return bmst_error("unknown model '%s' (known: %s)", arch, bmst_network_names());
    const struct family *f = entry->family;
    if (mix_at < BMST_MIX_C2 || mix_at >= BMST_MIX_C2 + f->n_points)
        return bmst_error("%s has no stage c%d to merge before (its mix points: %s)", arch, mix_at,
                          points_text(f, 0));
    return 0;
}

int bmst_network_check_aux(const char *arch, int h, int w) {
    const struct network_entry *entry = find(arch);
    if (!entry) return bmst_error("unknown model '%s' (known: %s)", arch, bmst_network_names());
    if (!entry->family->aux_check)
        return bmst_error("--aux-logits: %s has no auxiliary classifier (inceptionv3 has one)",
                          arch);
    return entry->family->aux_check(arch, h, w);
}

int bmst_stem_parse(const char *text, int *stem) {
    if (strcmp(text, "cifar") == 0) {
        *stem = BMST_STEM_CIFAR;
        return 0;
    }
    if (strcmp(text, "imagenet") == 0) {
        *stem = BMST_STEM_IMAGENET;
        return 0;
    }
    return -1;
}

const char *bmst_stem_name(int stem) {
    return stem == BMST_STEM_CIFAR ? "cifar" : stem == BMST_STEM_IMAGENET ? "imagenet" : "auto";
}

int bmst_network_check_stem(const char *arch, int stem) {
    const struct network_entry *entry = find(arch);
    if (!entry) return bmst_error("unknown model '%s' (known: %s)", arch, bmst_network_names());
    if (stem != BMST_STEM_AUTO && !entry->family->stem_choice)
        return bmst_error("--stem %s: %s has one stem; --stem applies to the ImageNet-style "
                          "ResNets (resnet18 to resnet152, wide_resnet50_2)",
                          bmst_stem_name(stem), arch);
    return 0;
}

int bmst_network_build(struct bmst_graph *g, const struct bmst_network_spec *spec) {
    if (bmst_network_check(spec->arch, spec->mix_at) != 0) return -1;
    if (bmst_network_check_stem(spec->arch, spec->stem) != 0) return -1;
    if (spec->aux_logits && bmst_network_check_aux(spec->arch, spec->h, spec->w) != 0) return -1;
    const struct network_entry *entry = find(spec->arch);
    if (spec->h < 1 || spec->w < 1 || spec->c < 1 || spec->classes < 1)
        return bmst_error("bad input shape %dx%dx%d or class count %d for %s", spec->h, spec->w,
                          spec->c, spec->classes, spec->arch);
    if (g->batch < 1) return bmst_error("batch size must be at least 1");
    if (g->batch % g->merge != 0)
        return bmst_error("batch size %d is not divisible by the merge factor %d", g->batch,
                          g->merge);
    if (g->merge > BMST_MAX_MERGE)
        return bmst_error("merge factor %d is above the maximum %d", g->merge, BMST_MAX_MERGE);
    return entry->build(g, spec, entry->depth);
}
