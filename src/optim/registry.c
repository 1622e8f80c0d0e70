/* The optimizers the program knows: one line per kind, each defined in its
 * own file. The index is the kind's number (struct bmst_optim_config.kind);
 * SGD, the default, comes first. */
#include "optim/optim.h"

#include <stdio.h>
#include <string.h>

extern const struct bmst_optim_type bmst_optim_sgd, bmst_optim_adam, bmst_optim_adamw;

static const struct bmst_optim_type *const registry[] = {
    &bmst_optim_sgd,
    &bmst_optim_adam,
    &bmst_optim_adamw,
};

#define KINDS ((int)(sizeof registry / sizeof registry[0]))

int bmst_optim_kind_find(const char *name) {
    for (int k = 0; k < KINDS; k++)
        if (strcmp(registry[k]->name, name) == 0) return k;
    return -1;
}

const struct bmst_optim_type *bmst_optim_type_of(int kind) {
    return kind >= 0 && kind < KINDS ? registry[kind] : NULL;
}

const char *bmst_optim_kind_names(void) {
    static char names[128];
    if (!names[0])
        for (int k = 0; k < KINDS; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                     registry[k]->name);
    return names;
}
