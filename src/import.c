/* The import command (import.h): the network is built on the CPU for
 * --net, --classes, --shape/--stem; each of its tensors is read from the
 * file by PyTorch's name (a pickle through pt_helper.h first), and the
 * model is saved as a weights-only checkpoint. */
#include "import.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "checkpoint_tensors.h"
#include "engine.h"
#include "error.h"
#include "pt_helper.h"
#include "safetensors.h"

static void shape_text(int ndim, const int64_t *dims, char *out, size_t size) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used +=
            (size_t)snprintf(out + used, size - used, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

/* What to try when the tensor that differs is the classifier or the stem. */
static const char *hint(const struct bmst_param *p) {
    if (p->ndim == 2 || (p->ndim == 1 && strstr(p->name, "fc.bias")))
        return " (the classifier: set --classes to the file's)";
    if (strcmp(p->name, "conv1.weight") == 0)
        return " (the stem: --stem imagenet or cifar, or --shape)";
    return "";
}

/* The file's tensor for parameter p, in the engine's layout, into dst. */
static int read_param(const struct bmst_safetensors *st, const char *in, const char *arch,
                      const struct bmst_param *p, float *dst, float *scratch) {
    int i = bmst_safetensors_find(st, p->name);
    int64_t want[4];
    for (int d = 0; d < p->ndim; d++)
        want[d] = p->dims[d];
    char got_text[128], want_text[128];
    shape_text(p->ndim, want, want_text, sizeof want_text);
    if (i < 0)
        return bmst_error("%s has no tensor %s, which %s needs (%s): another model?", in, p->name,
                          arch, want_text);
    const struct bmst_st_tensor *t = &st->tensors[i];
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++)
        same = t->dims[d] == p->dims[d];
    shape_text(t->ndim, t->dims, got_text, sizeof got_text);
    if (!same)
        return bmst_error("%s: %s is %s, the %s needs %s%s", in, p->name, got_text, arch, want_text,
                          hint(p));
    if (t->dtype == BMST_ST_I64)
        return bmst_error("%s: %s is I64, the %s needs floats", in, p->name, arch);
    if (bmst_safetensors_read_f32(st, i, p->conv_krsc ? scratch : dst) != 0) return -1;
    if (p->conv_krsc) bmst_ckpt_oihw_to_krsc(p->dims, scratch, dst);
    return 0;
}

/* A tensor of the file the model has no place for (batch norms' step
 * counters, num_batches_tracked, excepted: the model keeps none). */
static int check_unexpected(const struct bmst_safetensors *st, const char *in, const char *arch,
                            const struct bmst_model *m) {
    const char *counter = ".num_batches_tracked";
    for (int i = 0; i < st->n_tensors; i++) {
        const char *name = st->tensors[i].name;
        if (bmst_model_find(m, name) >= 0) continue;
        size_t len = strlen(name), clen = strlen(counter);
        if (len > clen && strcmp(name + len - clen, counter) == 0) {
            char mean[BMST_PARAM_NAME_MAX + 16];
            snprintf(mean, sizeof mean, "%.*s.running_mean", (int)(len - clen), name);
            if (bmst_model_find(m, mean) >= 0) continue;
        }
        return bmst_error("%s has tensor %s, which the %s does not have: another model?", in, name,
                          arch);
    }
    return 0;
}

static int import_tensors(const struct bmst_safetensors *st, const char *in, struct bmst_model *m) {
    float *weights = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    float *buffers = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    float *scratch = bmst_ckpt_param_scratch(m);
    int status = 0;
    for (int i = 0; i < m->n_params && status == 0; i++) {
        const struct bmst_param *p = &m->params[i];
        float *base = p->role == BMST_PARAM_WEIGHT ? weights : buffers;
        status = read_param(st, in, m->arch, p, base + p->offset, scratch);
    }
    if (status == 0) status = check_unexpected(st, in, m->arch, m);
    if (status == 0) {
        bmst_model_set(m, weights, buffers);
    }
    free(weights), free(buffers), free(scratch);
    return status;
}

int bmst_import(const struct bmst_cli *cli) {
    const char *in = cli->import_paths[0], *out = cli->import_paths[1];
    const struct bmst_run_config *r = &cli->run;
    struct bmst_engine_config ec = {.device = BMST_DEVICE_CHOICE_CPU,
                                    .precision = BMST_F32,
                                    .threads = r->threads,
                                    .quiet = 1,
                                    .eval_batch = 1,
                                    .spec = {.h = cli->shape_h,
                                             .w = cli->shape_w,
                                             .c = cli->shape_c,
                                             .classes = cli->classes,
                                             .mix_at = BMST_MIX_C2,
                                             .aux_logits = r->aux_logits,
                                             .stem = r->stem}};
    snprintf(ec.spec.arch, sizeof ec.spec.arch, "%s", r->arch);
    char converted[4096] = "";
    if (bmst_pt_is_pickle(in) && bmst_pt_to_safetensors(in, converted, sizeof converted) != 0)
        return -1;
    struct bmst_safetensors st;
    int status = bmst_safetensors_open(converted[0] ? converted : in, &st);
    struct bmst_engine e;
    memset(&e, 0, sizeof e);
    if (status == 0) status = bmst_engine_open(&e, &ec);
    if (status == 0) status = import_tensors(&st, in, &e.model);
    struct bmst_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "%s", r->arch);
    meta.in_h = cli->shape_h, meta.in_w = cli->shape_w, meta.in_c = cli->shape_c;
    meta.classes = cli->classes;
    meta.aux_logits = r->aux_logits;
    meta.stem = r->stem;
    meta.weights_only = 1;
    if (status == 0) status = bmst_checkpoint_save_weights(out, &e.model, &meta);
    if (status == 0)
        printf("%s -> %s: %s weights (%d tensors, %zu trainable parameters) for %dx%dx%d inputs "
               "and %d classes%s%s\n",
               in, out, r->arch, e.model.n_params, e.model.n_weights, meta.in_h, meta.in_w,
               meta.in_c, meta.classes, r->stem ? ", --stem " : "",
               r->stem ? bmst_stem_name(r->stem) : "");
    if (st.file) bmst_safetensors_close(&st);
    bmst_engine_close(&e);
    if (converted[0]) unlink(converted);
    return status;
}
