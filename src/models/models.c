/* The table of known architectures and the checks every build shares. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "models.h"

struct network_entry {
    const char *name;
    int depth;
    int stages; /* residual stages: the mix can sit before any of them */
    int (*build)(struct bmst_graph *g, const struct bmst_network_spec *spec, int depth);
};

static const struct network_entry networks[] = {
    {"resnet18", 18, 4, bmst_resnet_build},        {"resnet34", 34, 4, bmst_resnet_build},
    {"resnet50", 50, 4, bmst_resnet_build},        {"resnet101", 101, 4, bmst_resnet_build},
    {"resnet152", 152, 4, bmst_resnet_build},      {"resnet20", 20, 3, bmst_resnet_cifar_build},
    {"resnet44", 44, 3, bmst_resnet_cifar_build},  {"resnet56", 56, 3, bmst_resnet_cifar_build},
    {"densenet121", 121, 4, bmst_densenet_build},  {"densenet161", 161, 4, bmst_densenet_build},
};

#define N_NETWORKS (sizeof networks / sizeof networks[0])

/* Made from the table once, so a new entry is listed without another edit. */
const char *bmst_network_names(void) {
    static char names[256];
    if (!names[0])
        for (size_t i = 0, len = 0; i < N_NETWORKS; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "",
                                    networks[i].name);
    return names;
}

static const struct network_entry *find(const char *arch) {
    for (size_t i = 0; i < N_NETWORKS; i++)
        if (strcmp(networks[i].name, arch) == 0) return &networks[i];
    return NULL;
}

int bmst_network_check(const char *arch, int mix_at) {
    const struct network_entry *entry = find(arch);
    if (!entry) return bmst_error("unknown model '%s' (known: %s)", arch, bmst_network_names());
    if (mix_at < BMST_MIX_C2 || mix_at >= BMST_MIX_C2 + entry->stages)
        return bmst_error("%s has no stage c%d to merge before (c2..c%d)", arch, mix_at,
                          BMST_MIX_C2 + entry->stages - 1);
    return 0;
}

int bmst_network_build(struct bmst_graph *g, const struct bmst_network_spec *spec) {
    if (bmst_network_check(spec->arch, spec->mix_at) != 0) return -1;
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
