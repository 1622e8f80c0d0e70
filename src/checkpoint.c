/* HDF5 checkpoints (docs/checkpoint-format.md). Tensors are converted between
 * the engine's layouts (KRSC conv weights) and PyTorch's (OIHW) on the way. */
#include "checkpoint.h"

#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "checkpoint_optim.h"
#include "checkpoint_progress.h"
#include "checkpoint_prune.h"
#include "checkpoint_tensors.h"
#include "dataset.h"
#include "error.h"
#include "h5_memfile.h"
#include "models/models.h"
#include "recompute.h"
#include "saved.h"

#define FORMAT_NAME "bmst_checkpoint"
/* 3 added the run's settings (batch, ranks, merge, lr, ...); 4 the
 * optimizer's kind, hyperparameters and state by PyTorch's names; 5 where
 * inside an epoch it was written and the best accuracy so far; 6 the pruning
 * mask (/prune_mask, only when pruning) */
#define FORMAT_VERSION 6
#define OLDEST_VERSION 2 /* still read: without those settings, SGD's momentum alone */

/* ---- writing ---- */

/* PyTorch's BatchNorm keeps a step counter beside its running statistics; a
 * checkpoint carries it so the file maps 1:1 onto a state_dict. */
static int write_batch_counters(hid_t group, const struct bmst_model *m, int64_t steps) {
    const char *suffix = ".running_mean";
    for (int i = 0; i < m->n_params; i++) {
        const char *name = m->params[i].name;
        size_t len = strlen(name), suffix_len = strlen(suffix);
        if (len < suffix_len || strcmp(name + len - suffix_len, suffix) != 0) continue;
        char counter[BMST_PARAM_NAME_MAX + 16];
        snprintf(counter, sizeof counter, "%.*s.num_batches_tracked", (int)(len - suffix_len),
                 name);
        if (bmst_ckpt_write_tensor(group, counter, 0, NULL, H5T_NATIVE_INT64, &steps) != 0)
            return -1;
    }
    return 0;
}

/* --act-codec and its settings (optional: a file without them is not checked). */
static int write_codec_record(hid_t file, const struct bmst_checkpoint_meta *meta) {
    return bmst_ckpt_write_string_attr(file, "act_codec", meta->act_codec) == 0 &&
                   bmst_ckpt_write_attr(file, "division_block", H5T_NATIVE_INT,
                                        &meta->division_block) == 0 &&
                   bmst_ckpt_write_attr(file, "division_bits", H5T_NATIVE_INT,
                                        &meta->division_bits) == 0 &&
                   bmst_ckpt_write_string_attr(file, "recompute", meta->recompute) == 0
               ? 0
               : -1;
}

/* How the run was set up, for checking a resumed run against. */
static int write_run_record(hid_t file, const struct bmst_checkpoint_meta *meta) {
    int64_t steps_per_epoch = meta->steps_per_epoch;
    return bmst_ckpt_write_attr(file, "batch", H5T_NATIVE_INT, &meta->batch) == 0 &&
                   bmst_ckpt_write_attr(file, "ranks", H5T_NATIVE_INT, &meta->ranks) == 0 &&
                   bmst_ckpt_write_attr(file, "merge", H5T_NATIVE_INT, &meta->merge) == 0 &&
                   bmst_ckpt_write_attr(file, "lr", H5T_NATIVE_FLOAT, &meta->lr) == 0 &&
                   bmst_ckpt_write_attr(file, "last_lr", H5T_NATIVE_FLOAT, &meta->last_lr) == 0 &&
                   bmst_ckpt_write_attr(file, "planned_epochs", H5T_NATIVE_INT,
                                        &meta->planned_epochs) == 0 &&
                   bmst_ckpt_write_attr(file, "steps_per_epoch", H5T_NATIVE_INT64,
                                        &steps_per_epoch) == 0 &&
                   (!meta->has_codec_record || write_codec_record(file, meta) == 0) &&
                   (!meta->has_prune_record || bmst_ckpt_prune_write_record(file, meta) == 0)
               ? 0
               : -1;
}

/* Host copies of what a checkpoint holds. */
struct host_copies {
    float *weights, *buffers;
    float *state[BMST_OPTIM_MAX_STATE];
    uint32_t *mask; /* the pruning mask (optimizer's mask words), or NULL */
};

static void host_copies_free(struct host_copies *h) {
    free(h->weights), free(h->buffers), free(h->mask);
    for (int i = 0; i < BMST_OPTIM_MAX_STATE; i++)
        free(h->state[i]);
}


/* Where the run stood and how it was set up: what a weights-only file lacks. */
static int write_run(hid_t file, const struct bmst_checkpoint_meta *meta, size_t n_buffers) {
    int64_t step = meta->step;
    uint64_t seed = meta->seed;
    return bmst_ckpt_write_attr(file, "epoch", H5T_NATIVE_INT, &meta->epoch) == 0 &&
                   bmst_ckpt_write_attr(file, "step", H5T_NATIVE_INT64, &step) == 0 &&
                   bmst_ckpt_write_attr(file, "seed", H5T_NATIVE_UINT64, &seed) == 0 &&
                   bmst_ckpt_write_attr(file, "loss_scale", H5T_NATIVE_FLOAT, &meta->loss_scale) ==
                       0 &&
                   bmst_ckpt_write_attr(file, "loss_scale_clean_steps", H5T_NATIVE_INT,
                                        &meta->loss_scale_clean_steps) == 0 &&
                   write_run_record(file, meta) == 0 &&
                   bmst_ckpt_progress_write(file, meta, n_buffers) == 0
               ? 0
               : -1;
}

/* Builds the checkpoint in memory (h5_memfile.h) and commits it to `out`;
 * o NULL: weights only (the network's attributes and /model). */
static int write_file(struct bmst_atomic_file *out, const struct bmst_model *m,
                      const struct bmst_optim *o, const struct bmst_checkpoint_meta *meta,
                      const struct host_copies *h, float *scratch) {
    struct bmst_h5_memfile mem;
    if (bmst_h5_memfile_create(&mem, out) != 0) {
        bmst_atomic_abort(out);
        return -1;
    }
    hid_t file = mem.file;
    int weights_only = 1;
    int ok = bmst_ckpt_write_network(file, FORMAT_NAME, FORMAT_VERSION, meta) == 0 &&
             (o ? write_run(file, meta, m->n_buffers)
                : bmst_ckpt_write_attr(file, "weights_only", H5T_NATIVE_INT, &weights_only)) == 0;
    hid_t model = ok ? H5Gcreate2(file, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = model >= 0 && bmst_ckpt_write_params(model, m, h->weights, h->buffers, 0, scratch) == 0 &&
         write_batch_counters(model, m, o ? meta->step : 0) == 0 &&
         (!o || bmst_checkpoint_optim_write(file, o, h->state, scratch) == 0) &&
         (!h->mask || bmst_ckpt_prune_write(file, h->mask, bmst_optim_mask_words(o)) == 0);
    if (model >= 0) H5Gclose(model);
    if (ok) return bmst_h5_memfile_save(&mem, out);
    bmst_h5_memfile_discard(&mem, out);
    return bmst_error("cannot write the checkpoint %s: HDF5 could not build it in memory",
                      out->name);
}

/* A checkpoint never holds inf or NaN: the first tensor of the host copies
 * that does is named in the error ("the momentum of fc.weight"). */
static int check_finite(const char *path, const struct bmst_model *m, const struct bmst_optim *o,
                        const struct bmst_checkpoint_meta *meta, const struct host_copies *h) {
    if (bmst_ckpt_check_finite(path, m, h->weights, h->buffers, "") != 0) return -1;
    for (int r = 0; meta->rank_buffers && r < meta->ranks; r++) {
        char where[48];
        snprintf(where, sizeof where, "rank %d's ", r);
        if (bmst_ckpt_check_finite(path, m, NULL, meta->rank_buffers + (size_t)r * m->n_buffers,
                                   where) != 0)
            return -1;
    }
    for (int i = 0; i < o->type->n_state; i++) {
        char where[96];
        snprintf(where, sizeof where, "the %s of ", o->type->state[i].what);
        if (bmst_ckpt_check_finite(path, m, h->state[i], NULL, where) != 0) return -1;
    }
    return 0;
}

/* The state in the model's layout, as the checkpoint names it: frozen
 * weights have none, written as zeros (what PyTorch's would start from). */
static float *state_host_copy(const struct bmst_optim *o, const float *state) {
    const struct bmst_model *m = o->model;
    float *host = bmst_xcalloc(m->n_weights ? m->n_weights : 1, sizeof(float));
    m->be->to_host(m->be, host + o->first, state, bmst_optim_state_count(o) * sizeof(float));
    return host;
}

int bmst_checkpoint_save(const char *path, const struct bmst_model *m, const struct bmst_optim *o,
                         const struct bmst_checkpoint_meta *meta) {
    BMST_ASSERT(meta->has_run_record && o->type != NULL);
    struct host_copies h = {.weights = bmst_ckpt_host_copy(m, m->weights, m->n_weights),
                            .buffers = bmst_ckpt_host_copy(m, m->buffers, m->n_buffers)};
    for (int i = 0; i < o->type->n_state; i++)
        h.state[i] = state_host_copy(o, o->state[i]);
    if (o->mask) {
        size_t bytes = bmst_optim_mask_words(o) * sizeof(uint32_t);
        h.mask = bmst_xmalloc(bytes);
        m->be->to_host(m->be, h.mask, o->mask, bytes);
    }
    struct bmst_atomic_file out;
    if (check_finite(path, m, o, meta, &h) != 0 || bmst_atomic_open(&out, path, "the checkpoint") != 0) {
        host_copies_free(&h);
        return -1;
    }
    float *scratch = bmst_ckpt_param_scratch(m);
    bmst_hdf5_lock();
    int status = write_file(&out, m, o, meta, &h, scratch);
    bmst_hdf5_unlock();
    host_copies_free(&h);
    free(scratch);
    return status;
}

int bmst_checkpoint_save_weights(const char *path, const struct bmst_model *m,
                                 const struct bmst_checkpoint_meta *meta) {
    struct host_copies h = {.weights = bmst_ckpt_host_copy(m, m->weights, m->n_weights),
                            .buffers = bmst_ckpt_host_copy(m, m->buffers, m->n_buffers)};
    struct bmst_atomic_file out;
    if (bmst_ckpt_check_finite(path, m, h.weights, h.buffers, "") != 0 ||
        bmst_atomic_open(&out, path, "the checkpoint") != 0) {
        host_copies_free(&h);
        return -1;
    }
    float *scratch = bmst_ckpt_param_scratch(m);
    bmst_hdf5_lock();
    int status = write_file(&out, m, NULL, meta, &h, scratch);
    bmst_hdf5_unlock();
    host_copies_free(&h);
    free(scratch);
    return status;
}

int bmst_checkpoint_save_gradients(const char *path, const struct bmst_model *m) {
    struct bmst_atomic_file out;
    if (bmst_atomic_open(&out, path, "the gradients") != 0) return -1;
    float *grads = bmst_ckpt_host_copy(m, m->grads, m->n_weights);
    /* frozen weights have no gradient (their slots may hold a layer's by-product) */
    memset(grads, 0, m->n_frozen * sizeof(float));
    float *scratch = bmst_ckpt_param_scratch(m);
    bmst_hdf5_lock();
    struct bmst_h5_memfile mem;
    int status = bmst_h5_memfile_create(&mem, &out);
    if (status == 0) {
        hid_t group = H5Gcreate2(mem.file, "grad", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int ok = group >= 0 && bmst_ckpt_write_params(group, m, grads, NULL, 1, scratch) == 0;
        if (group >= 0) H5Gclose(group);
        if (ok) {
            status = bmst_h5_memfile_save(&mem, &out);
        } else {
            bmst_h5_memfile_discard(&mem, &out);
            status = bmst_error("cannot write the gradients %s: HDF5 could not build them in "
                                "memory",
                                path);
        }
    } else {
        bmst_atomic_abort(&out);
    }
    bmst_hdf5_unlock();
    free(grads), free(scratch);
    return status;
}

/* ---- reading ---- */

static int read_attr(hid_t file, const char *path, const char *name, hid_t type, void *out) {
    return bmst_ckpt_read_attr(file, path, "", name, type, out);
}

static hid_t open_checkpoint(const char *path) {
    if (access(path, R_OK) != 0) return bmst_error("cannot read the checkpoint %s", path);
    if (H5Fis_hdf5(path) <= 0)
        return bmst_error("%s is not a checkpoint (not an HDF5 file, or truncated)", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return bmst_error("cannot open the checkpoint %s (truncated or corrupt?)", path);
    char format[64];
    if (bmst_ckpt_read_string_attr(file, path, "", "format", format, sizeof format) != 0 ||
        strcmp(format, FORMAT_NAME) != 0) {
        H5Fclose(file);
        return bmst_error("%s is not a bmst_dist checkpoint (format attribute missing or wrong)",
                          path);
    }
    return file;
}

/* The format version, one this program reads. */
static int read_version(hid_t file, const char *path, int *version) {
    if (read_attr(file, path, "version", H5T_NATIVE_INT, version) != 0) return -1;
    if (*version < OLDEST_VERSION || *version > FORMAT_VERSION)
        return bmst_error("checkpoint %s has format version %d; this bmst_dist reads versions %d "
                          "to %d",
                          path, *version, OLDEST_VERSION, FORMAT_VERSION);
    return 0;
}

/* Version 3's record of how the run was set up. */
static int read_run_record(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    int64_t steps_per_epoch = 0;
    if (read_attr(file, path, "batch", H5T_NATIVE_INT, &meta->batch) != 0 ||
        read_attr(file, path, "ranks", H5T_NATIVE_INT, &meta->ranks) != 0 ||
        read_attr(file, path, "merge", H5T_NATIVE_INT, &meta->merge) != 0 ||
        read_attr(file, path, "lr", H5T_NATIVE_FLOAT, &meta->lr) != 0 ||
        read_attr(file, path, "last_lr", H5T_NATIVE_FLOAT, &meta->last_lr) != 0 ||
        read_attr(file, path, "planned_epochs", H5T_NATIVE_INT, &meta->planned_epochs) != 0 ||
        read_attr(file, path, "steps_per_epoch", H5T_NATIVE_INT64, &steps_per_epoch) != 0)
        return -1;
    meta->steps_per_epoch = steps_per_epoch;
    meta->has_run_record = 1;
    if (bmst_ckpt_prune_read_record(file, path, meta) != 0) return -1;
    /* --act-codec's record, where the file has it */
    if (H5Aexists(file, "act_codec") <= 0) return 0;
    if (bmst_ckpt_read_string_attr(file, path, "", "act_codec", meta->act_codec,
                                   sizeof meta->act_codec) != 0 ||
        read_attr(file, path, "division_block", H5T_NATIVE_INT, &meta->division_block) != 0 ||
        read_attr(file, path, "division_bits", H5T_NATIVE_INT, &meta->division_bits) != 0)
        return -1;
    meta->has_codec_record = 1;
    snprintf(meta->recompute, sizeof meta->recompute, "none");
    if (H5Aexists(file, "recompute") > 0 &&
        bmst_ckpt_read_string_attr(file, path, "", "recompute", meta->recompute,
                                   sizeof meta->recompute) != 0)
        return -1;
    return 0;
}

/* A codec this program knows, with settings --division-block and
 * --division-bits accept. */
static int codec_record_valid(const struct bmst_checkpoint_meta *m) {
    enum bmst_act_codec codec;
    enum bmst_recompute recompute;
    int q = m->division_bits;
    return bmst_act_codec_parse(m->act_codec, &codec) == 0 &&
           bmst_recompute_parse(m->recompute, &recompute) == 0 && m->division_block >= 1 &&
           (q == 1 || q == 2 || q == 4 || q == 8);
}

/* Values no run of ours writes: a damaged or hand-made file, refused before
 * anything is built from it. */
static int check_meta(const char *path, const struct bmst_checkpoint_meta *m) {
    char why[200] = "";
    if (bmst_network_check(m->arch, BMST_MIX_C2) != 0 ||
        bmst_network_check_stem(m->arch, m->stem) != 0) {
        snprintf(why, sizeof why, "%s", bmst_last_error());
        return bmst_error("checkpoint %s holds a model this bmst_dist cannot build: %s", path, why);
    }
    if (m->aux_logits != 0 &&
        (m->aux_logits != 1 || bmst_network_check_aux(m->arch, m->in_h, m->in_w) != 0))
        snprintf(why, sizeof why, "an auxiliary classifier (aux_logits %d) for %dx%d inputs",
                 m->aux_logits, m->in_h, m->in_w);
    else if (m->in_h < 1 || m->in_w < 1 || m->in_c < 1 || m->classes < 1)
        snprintf(why, sizeof why, "inputs of %dx%dx%d and %d classes", m->in_h, m->in_w, m->in_c,
                 m->classes);
    /* every epoch takes at least one step; epoch + 1 must fit an int */
    else if (m->step < 0 || m->epoch < 0 || m->epoch == INT_MAX || m->epoch > m->step)
        snprintf(why, sizeof why, "epoch %d after %lld steps", m->epoch, (long long)m->step);
    else if (!isfinite(m->loss_scale) || m->loss_scale <= 0.0f || m->loss_scale_clean_steps < 0)
        snprintf(why, sizeof why, "a loss scale of %g after %d clean steps", (double)m->loss_scale,
                 m->loss_scale_clean_steps);
    else if (m->has_run_record &&
             (m->batch < 1 || m->ranks < 1 || m->merge < 1 || !(m->lr >= 0.0f) ||
              !isfinite(m->lr) || !(m->last_lr >= 0.0f) || !isfinite(m->last_lr) ||
              m->planned_epochs < 1 || m->planned_epochs < m->epoch || m->steps_per_epoch < 1))
        snprintf(why, sizeof why,
                 "batch %d on %d ranks, merge %d, lr %g (last %g), %d planned epochs of %lld "
                 "steps, at epoch %d",
                 m->batch, m->ranks, m->merge, (double)m->lr, (double)m->last_lr, m->planned_epochs,
                 (long long)m->steps_per_epoch, m->epoch);
    else if (m->has_codec_record && !codec_record_valid(m))
        snprintf(why, sizeof why,
                 "--act-codec %.16s with --division-block %d --division-bits %d, --recompute %.16s",
                 m->act_codec, m->division_block, m->division_bits, m->recompute);
    if (!why[0]) return 0;
    return bmst_error("checkpoint %s is damaged or not ours: it records %s", path, why);
}

/* The optional --stem and weights-only marks. */
static int read_stem_and_kind(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    if (bmst_ckpt_read_stem(file, path, meta) != 0) return -1;
    if (H5Aexists(file, "weights_only") > 0 &&
        read_attr(file, path, "weights_only", H5T_NATIVE_INT, &meta->weights_only) != 0)
        return -1;
    if (meta->weights_only != 0 && meta->weights_only != 1)
        return bmst_error("checkpoint %s is damaged or not ours: weights_only is %d", path,
                          meta->weights_only);
    return 0;
}

static int read_meta(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    int64_t step = 0;
    uint64_t seed = 0;
    int version = 0;
    memset(meta, 0, sizeof *meta);
    if (read_version(file, path, &version) != 0) return -1;
    if (bmst_ckpt_read_string_attr(file, path, "", "arch", meta->arch, sizeof meta->arch) != 0 ||
        read_attr(file, path, "in_h", H5T_NATIVE_INT, &meta->in_h) != 0 ||
        read_attr(file, path, "in_w", H5T_NATIVE_INT, &meta->in_w) != 0 ||
        read_attr(file, path, "in_c", H5T_NATIVE_INT, &meta->in_c) != 0 ||
        read_attr(file, path, "classes", H5T_NATIVE_INT, &meta->classes) != 0 ||
        read_stem_and_kind(file, path, meta) != 0)
        return -1;
    if (meta->weights_only) { /* the network and its tensors, nothing of a run */
        meta->loss_scale = 1.0f;
        if (H5Aexists(file, "aux_logits") > 0 &&
            read_attr(file, path, "aux_logits", H5T_NATIVE_INT, &meta->aux_logits) != 0)
            return -1;
        return check_meta(path, meta);
    }
    if (read_attr(file, path, "epoch", H5T_NATIVE_INT, &meta->epoch) != 0 ||
        read_attr(file, path, "step", H5T_NATIVE_INT64, &step) != 0 ||
        read_attr(file, path, "seed", H5T_NATIVE_UINT64, &seed) != 0 ||
        read_attr(file, path, "loss_scale", H5T_NATIVE_FLOAT, &meta->loss_scale) != 0 ||
        read_attr(file, path, "loss_scale_clean_steps", H5T_NATIVE_INT,
                  &meta->loss_scale_clean_steps) != 0)
        return -1;
    meta->step = step;
    meta->seed = seed;
    /* written since --aux-logits came; a file without it has no auxiliary head */
    if (H5Aexists(file, "aux_logits") > 0 &&
        read_attr(file, path, "aux_logits", H5T_NATIVE_INT, &meta->aux_logits) != 0)
        return -1;
    if (version >= 3 && read_run_record(file, path, meta) != 0) return -1;
    if (bmst_checkpoint_optim_read_record(file, path, version, &meta->optim) != 0) return -1;
    if (check_meta(path, meta) != 0) return -1;
    return bmst_ckpt_progress_read(file, path, version, meta);
}

int bmst_checkpoint_read_meta(const char *path, struct bmst_checkpoint_meta *meta) {
    bmst_hdf5_lock();
    hid_t file = open_checkpoint(path);
    int status = file < 0 ? -1 : read_meta(file, path, meta);
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    return status;
}

/* Reads the model's tensors and, with an optimizer, its state into h. */
static int read_file(const char *path, const struct bmst_model *m, const struct bmst_optim *o,
                     struct host_copies *h, int64_t *steps, float *scratch) {
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    int version = 0;
    int status = read_version(file, path, &version);
    if (status == 0)
        status = bmst_ckpt_read_params(file, path, "model", m, 0, h->weights, h->buffers, scratch);
    if (status == 0 && o)
        status = bmst_checkpoint_optim_read_state(file, path, version, o, h->state, steps, scratch);
    /* a pruned run continues pruned; its mask in a dense run would be lost */
    if (status == 0 && o && bmst_ckpt_prune_present(file) && !o->mask)
        status = bmst_error("checkpoint %s was pruned (it holds /prune_mask): resume it with "
                            "--prune-to S",
                            path);
    if (status == 0 && o && o->mask && bmst_ckpt_prune_present(file)) {
        h->mask = bmst_xmalloc(bmst_optim_mask_words(o) * sizeof(uint32_t));
        status = bmst_ckpt_prune_read(file, path, h->mask, bmst_optim_mask_words(o));
    }
    H5Fclose(file);
    return status;
}

int bmst_checkpoint_load_weights(const char *path, struct bmst_model *m,
                                 const unsigned char *skip) {
    /* the skipped tensors keep the model's own values */
    float *weights = bmst_ckpt_host_copy(m, m->weights, m->n_weights);
    float *buffers = bmst_ckpt_host_copy(m, m->buffers, m->n_buffers);
    float *scratch = bmst_ckpt_param_scratch(m);
    bmst_hdf5_lock();
    hid_t file = open_checkpoint(path);
    int status = file < 0 ? -1
                          : bmst_ckpt_read_params_except(file, path, "model", m, 0, skip, weights,
                                                         buffers, scratch);
    if (file >= 0) H5Fclose(file);
    bmst_hdf5_unlock();
    if (status == 0) bmst_model_set(m, weights, buffers);
    free(weights), free(buffers), free(scratch);
    return status;
}

int bmst_checkpoint_load(const char *path, struct bmst_model *m, struct bmst_optim *o) {
    struct host_copies h = {
        .weights = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float)),
        .buffers = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float))};
    for (int i = 0; o && i < o->type->n_state; i++)
        h.state[i] = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    float *scratch = bmst_ckpt_param_scratch(m);
    int64_t steps = 0;
    bmst_hdf5_lock();
    int status = read_file(path, m, o, &h, &steps, scratch);
    bmst_hdf5_unlock();
    /* the model changes only once every tensor has been read */
    if (status == 0) {
        bmst_model_set(m, h.weights, h.buffers);
        for (int i = 0; o && i < o->type->n_state; i++)
            m->be->to_device(m->be, o->state[i], h.state[i] + o->first,
                             bmst_optim_state_count(o) * sizeof(float));
        if (o) o->steps = steps;
        if (h.mask)
            m->be->to_device(m->be, o->mask, h.mask, bmst_optim_mask_words(o) * sizeof(uint32_t));
    }
    host_copies_free(&h);
    free(scratch);
    return status;
}
