/* train --init (init_weights.h). */
#include "init_weights.h"

#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "models/models.h"

/* The classifiers: the parameters of the layers that make the logits (and
 * InceptionV3's auxiliary logits), which the model marks as its head
 * (param_groups.h). Marks them in skip; returns how many, their names in
 * `names`. */
static int mark_classifiers(const struct bmst_model *m, unsigned char *skip, char *names,
                            size_t size) {
    int marked = 0;
    size_t used = 0;
    for (int i = 0; i < m->n_params; i++) {
        if (!m->params[i].head) continue;
        skip[i] = 1;
        marked++;
        if (used < size)
            used += (size_t)snprintf(names + used, size - used, "%s%s", used ? ", " : "",
                                     m->params[i].name);
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
    int other_classes = meta.classes != info->classes;
    int fresh = other_classes || cfg->reset_classifier
                    ? mark_classifiers(m, skip, names, sizeof names)
                    : 0;
    int status = bmst_checkpoint_load_weights(path, m, skip);
    free(skip);
    if (status != 0) return -1;
    if (!out) return 0;
    fprintf(out, "--init %s: the weights of its %s%s; no optimizer state, epoch, step or seed\n",
            path, meta.arch, meta.weights_only ? " (weights only)" : "");
    if (fresh && other_classes)
        fprintf(out,
                "--init: the checkpoint has %d classes, the data %d: %s start fresh from --seed "
                "%llu\n",
                meta.classes, info->classes, names, (unsigned long long)cfg->seed);
    else if (fresh)
        fprintf(out, "--reset-classifier: %s start fresh from --seed %llu\n", names,
                (unsigned long long)cfg->seed);
    return 0;
}
