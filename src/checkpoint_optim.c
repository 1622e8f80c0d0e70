/* The optimizer's part of a checkpoint (see checkpoint_optim.h). Generic over
 * the kinds: what is written is what the kind's registry entry names. */
#include "checkpoint_optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint_tensors.h"
#include "error.h"

#define GROUP "optimizer"

int bmst_checkpoint_optim_write(hid_t file, const struct bmst_optim *o,
                                float *const host_state[BMST_OPTIM_MAX_STATE], float *scratch) {
    const struct bmst_optim_type *type = o->type;
    const struct bmst_model *m = o->model;
    hid_t group = H5Gcreate2(file, GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok =
        group >= 0 && bmst_ckpt_write_string_attr(group, "kind", type->name) == 0 &&
        bmst_ckpt_write_string_attr(group, "no_decay", bmst_no_decay_name(o->cfg.no_decay)) == 0;
    struct bmst_optim_hyper h[BMST_OPTIM_MAX_HYPERS];
    int n = bmst_optim_hypers(&o->cfg, h);
    for (int i = 0; ok && i < n; i++)
        ok = bmst_ckpt_write_attr_array(group, h[i].name, H5T_NATIVE_DOUBLE, h[i].count,
                                        h[i].value) == 0;
    /* PyTorch's per-parameter `step`: the same count for every parameter */
    if (ok && type->keeps_step)
        ok = bmst_ckpt_write_tensor(group, "step", 0, NULL, H5T_NATIVE_INT64, &o->steps) == 0;
    for (int s = 0; ok && s < type->n_state; s++) {
        hid_t state = H5Gcreate2(group, type->state[s].name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = state >= 0 && bmst_ckpt_write_params(state, m, host_state[s], NULL, 1, scratch) == 0;
        if (state >= 0) H5Gclose(state);
    }
    if (group >= 0) H5Gclose(group);
    return ok ? 0 : -1;
}

/* Values no run writes: not finite, or below 0 (every hyperparameter of
 * every kind is at least 0). */
static int check_hyper(const char *path, const struct bmst_optim_hyper *h) {
    for (int i = 0; i < h->count; i++)
        if (!isfinite(h->value[i]) || h->value[i] < 0.0)
            return bmst_error("checkpoint %s is damaged or not ours: it records the optimizer's "
                              "%s as %g",
                              path, h->name, h->value[i]);
    return 0;
}

int bmst_checkpoint_optim_read_record(hid_t file, const char *path, int version,
                                      struct bmst_optim_record *r) {
    memset(r, 0, sizeof *r);
    r->kind = bmst_optim_kind_find("sgd");
    if (version < 4) return 0;
    hid_t group = H5Lexists(file, GROUP, H5P_DEFAULT) > 0 ? H5Gopen2(file, GROUP, H5P_DEFAULT) : -1;
    if (group < 0) return bmst_error("checkpoint %s has no group /%s", path, GROUP);
    char kind[32], no_decay[32];
    int status = bmst_ckpt_read_string_attr(group, path, GROUP, "kind", kind, sizeof kind);
    if (status == 0 && (r->kind = bmst_optim_kind_find(kind)) < 0)
        status = bmst_error("checkpoint %s holds the state of an optimizer this bmst_dist does "
                            "not know, '%s' (known: %s)",
                            path, kind, bmst_optim_kind_names());
    if (status == 0)
        status =
            bmst_ckpt_read_string_attr(group, path, GROUP, "no_decay", no_decay, sizeof no_decay);
    if (status == 0 && bmst_no_decay_parse(no_decay, &r->no_decay) != 0)
        status = bmst_error("checkpoint %s is damaged or not ours: its optimizer's no_decay is "
                            "'%s'",
                            path, no_decay);
    if (status == 0) {
        /* the names and counts are the kind's; the values are the file's */
        struct bmst_optim_config c = {.kind = r->kind};
        r->n_hypers = bmst_optim_hypers(&c, r->hypers);
    }
    for (int i = 0; status == 0 && i < r->n_hypers; i++) {
        struct bmst_optim_hyper *h = &r->hypers[i];
        status = bmst_ckpt_read_attr_array(group, path, GROUP, h->name, H5T_NATIVE_DOUBLE, h->count,
                                           h->value);
        if (status == 0) status = check_hyper(path, h);
    }
    H5Gclose(group);
    r->recorded = status == 0;
    return status;
}

int bmst_checkpoint_optim_read_state(hid_t file, const char *path, int version,
                                     const struct bmst_optim *o,
                                     float *const host_state[BMST_OPTIM_MAX_STATE], int64_t *steps,
                                     float *scratch) {
    struct bmst_optim_record r;
    if (bmst_checkpoint_optim_read_record(file, path, version, &r) != 0) return -1;
    const struct bmst_optim_type *type = o->type, *file_type = bmst_optim_type_of(r.kind);
    if (file_type != type)
        return bmst_error("checkpoint %s holds the state of --optimizer %s, not of %s", path,
                          file_type->name, type->name);
    *steps = 0;
    if (version < 4)
        return bmst_ckpt_read_params(file, path, GROUP "/momentum", o->model, 1, host_state[0],
                                     NULL, scratch);
    hid_t group = H5Gopen2(file, GROUP, H5P_DEFAULT);
    if (group < 0) return bmst_error("checkpoint %s has no group /%s", path, GROUP);
    int status = type->keeps_step ? bmst_ckpt_read_int64(group, path, GROUP, "step", steps) : 0;
    if (status == 0 && *steps < 0)
        status = bmst_error("checkpoint %s is damaged or not ours: its optimizer's step is %lld",
                            path, (long long)*steps);
    H5Gclose(group);
    for (int s = 0; status == 0 && s < type->n_state; s++) {
        char where[64];
        snprintf(where, sizeof where, "%s/%s", GROUP, type->state[s].name);
        status =
            bmst_ckpt_read_params(file, path, where, o->model, 1, host_state[s], NULL, scratch);
    }
    return status;
}
