/* train --init (init_weights.h). */
#include "init_weights.h"

#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "models/models.h"

/* The classifiers: every linear layer (a 2-d weight) with `classes`
 * outputs, and its bias (fc, classifier, linear, InceptionV3's
 * AuxLogits.fc). Marks them in skip; returns how many, their names in
 * `names`. */
static int mark_classifiers(const struct bmst_model *m, int classes, unsigned char *skip,
                            char *names, size_t size) {
    int marked = 0;
    size_t used = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        size_t len = strlen(p->name);
        if (p->ndim != 2 || p->dims[0] != classes || len < 7 ||
            strcmp(p->name + len - 7, ".weight") != 0)
            continue;
        char bias[BMST_PARAM_NAME_MAX + 8];
        snprintf(bias, sizeof bias, "%.*s.bias", (int)(len - 7), p->name);
        int b = bmst_model_find(m, bias);
        skip[i] = 1;
        marked++;
        used += (size_t)snprintf(names + used, size - used, "%s%s", used ? ", " : "", p->name);
        if (b >= 0) {
            skip[b] = 1;
            marked++;
            if (used < size) used += (size_t)snprintf(names + used, size - used, ", %s", bias);
        }
        if (used >= size) used = size - 1;
    }
    return marked;
}

int bmst_init_weights(const struct bmst_run_config *cfg, const struct bmst_dataset_info *info,
                      struct bmst_model *m, FILE *out) {
    const char *path = cfg->init_path;
    struct bmst_checkpoint_meta meta;
    if (bmst_checkpoint_read_meta(path, &meta) != 0) return -1;
    if (strcmp(meta.arch, cfg->arch) != 0)
        return bmst_error("--init %s holds a %s; this run trains a %s (--net)", path, meta.arch,
                          cfg->arch);
    unsigned char *skip = bmst_xcalloc((size_t)(m->n_params ? m->n_params : 1), 1);
    char names[256] = "";
    int fresh = meta.classes != info->classes
                    ? mark_classifiers(m, info->classes, skip, names, sizeof names)
                    : 0;
    int status = bmst_checkpoint_load_weights(path, m, skip);
    free(skip);
    if (status != 0) return -1;
    if (!out) return 0;
    fprintf(out, "--init %s: the weights of its %s%s; no optimizer state, epoch, step or seed\n",
            path, meta.arch, meta.weights_only ? " (weights only)" : "");
    if (fresh)
        fprintf(out,
                "--init: the checkpoint has %d classes, the data %d: %s start fresh from --seed "
                "%llu\n",
                meta.classes, info->classes, names, (unsigned long long)cfg->seed);
    return 0;
}
