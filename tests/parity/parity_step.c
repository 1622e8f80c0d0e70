/* The engine's side of the PyTorch parity test (test_parity.py): training
 * steps of a network on a given batch, with everything PyTorch must reproduce
 * written out.
 *
 *   parity_step --save-init OUT.h5 --arch A --shape HxWxC --classes K [--seed S]
 *               [--aux-logits] [optimizer options]
 *       writes the engine's initial weights (and the optimizer's zero state)
 *       as a checkpoint (--aux-logits: with InceptionV3's auxiliary
 *       classifier, which the steps then train as the checkpoint says);
 *   parity_step --init CKPT.h5 --input BATCH.h5 --out DIR [--steps N] [--merge M]
 *               [--mix-at N] [--lr X] [--label-smoothing X] [--clip-norm X]
 *               [--seed S] [optimizer options]
 *       loads CKPT, trains N steps (1) on BATCH.h5 (/images [B,H,W,C]
 *       float32, already normalized; /labels [B] int32) through
 *       bmst_train_step, and writes for step k = 1..N DIR/stepK.h5 (lam, loss,
 *       logits of the merged rows, with an auxiliary classifier its logits
 *       aux_logits and its loss aux_loss (loss is then the total), the
 *       evaluation graph's logits on the batch after the step, which side of
 *       zero every ReLU input fell on, every dropout layer's mask times its
 *       scale, and which element each max pool output took),
 *       DIR/gradsK.h5 (the step's gradients) and DIR/afterK.h5 (the
 *       checkpoint after the step, optimizer state included).
 *   optimizer options: --optimizer sgd|adam|adamw (sgd), --momentum X (0.9),
 *       --nesterov, --betas B1,B2, --eps X, --weight-decay X (5e-4),
 *       --no-decay WORDS, --freeze PREFIXES, --freeze-bn, --lr-head X, as
 *       bmst_dist train takes them.
 *
 * Why the ReLU masks: an input within float32 rounding of zero can fall on the
 * other side in a float64 reference, which then routes that element's gradient
 * differently (PyTorch's own float32 differs from its float64 by ~1e-3 in such
 * cases). The reference applies the engine's masks, so the comparison measures
 * arithmetic, not which side of a kink rounding chose. */
#include <getopt.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "models/models.h"
#include "ops/op.h"
#include "param_groups.h"
#include "ops/reversible.h"
#include "saved.h"
#include "stats.h"
#include "step.h"

struct options {
    const char *save_init, *init, *input, *out;
    struct bmst_checkpoint_meta meta;
    int merge, mix_at, steps;
    struct bmst_optim_config optim;
    struct bmst_step_config step;
};

static int parse(int argc, char **argv, struct options *o) {
    enum { SAVE_INIT = 256, INIT, INPUT, OUT, ARCH, SHAPE, CLASSES, SEED, MERGE, MIX_AT, LR,
           MOMENTUM, WD, NESTEROV, SMOOTHING, CLIP, STEPS, OPTIMIZER, BETAS, EPS, NO_DECAY,
           AUX_LOGITS, FREEZE, FREEZE_BN, LR_HEAD };
    static const struct option table[] = {
        {"save-init", 1, 0, SAVE_INIT}, {"init", 1, 0, INIT},       {"input", 1, 0, INPUT},
        {"out", 1, 0, OUT},             {"arch", 1, 0, ARCH},       {"shape", 1, 0, SHAPE},
        {"classes", 1, 0, CLASSES},     {"seed", 1, 0, SEED},       {"merge", 1, 0, MERGE},
        {"mix-at", 1, 0, MIX_AT},       {"lr", 1, 0, LR},           {"momentum", 1, 0, MOMENTUM},
        {"weight-decay", 1, 0, WD},     {"nesterov", 0, 0, NESTEROV},
        {"label-smoothing", 1, 0, SMOOTHING}, {"clip-norm", 1, 0, CLIP}, {"steps", 1, 0, STEPS},
        {"optimizer", 1, 0, OPTIMIZER}, {"betas", 1, 0, BETAS},     {"eps", 1, 0, EPS},
        {"no-decay", 1, 0, NO_DECAY},   {"aux-logits", 0, 0, AUX_LOGITS},
        {"freeze", 1, 0, FREEZE},       {"freeze-bn", 0, 0, FREEZE_BN},
        {"lr-head", 1, 0, LR_HEAD},     {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->merge = 1;
    o->mix_at = BMST_MIX_C2;
    o->steps = 1;
    o->meta.loss_scale = 1.0f;
    bmst_optim_config_defaults(&o->optim); /* SGD, momentum 0.9, weight decay 5e-4 */
    o->step = (struct bmst_step_config){.seed = 1, .mix_alpha = 1.0f, .lr = 0.1f};
    int opt;
    while ((opt = getopt_long(argc, argv, "", table, NULL)) != -1) {
        switch (opt) {
        case SAVE_INIT: o->save_init = optarg; break;
        case INIT: o->init = optarg; break;
        case INPUT: o->input = optarg; break;
        case OUT: o->out = optarg; break;
        case ARCH: snprintf(o->meta.arch, sizeof o->meta.arch, "%s", optarg); break;
        case SHAPE:
            if (sscanf(optarg, "%dx%dx%d", &o->meta.in_h, &o->meta.in_w, &o->meta.in_c) != 3)
                return bmst_error("--shape wants HxWxC, got %s", optarg);
            break;
        case CLASSES: o->meta.classes = atoi(optarg); break;
        case AUX_LOGITS: o->meta.aux_logits = 1; break;
        case SEED: o->step.seed = o->meta.seed = strtoull(optarg, NULL, 10); break;
        case MERGE: o->merge = atoi(optarg); break;
        case MIX_AT: o->mix_at = atoi(optarg + (optarg[0] == 'c')); break;
        case LR: o->step.lr = strtof(optarg, NULL); break;
        case MOMENTUM: o->optim.momentum = strtof(optarg, NULL); break;
        case WD: o->optim.weight_decay = strtof(optarg, NULL); break;
        case NESTEROV: o->optim.nesterov = 1; break;
        case STEPS: o->steps = atoi(optarg); break;
        case OPTIMIZER:
            if ((o->optim.kind = bmst_optim_kind_find(optarg)) < 0)
                return bmst_error("unknown optimizer %s", optarg);
            break;
        case BETAS:
            if (sscanf(optarg, "%lf,%lf", &o->optim.beta1, &o->optim.beta2) != 2)
                return bmst_error("--betas wants B1,B2, got %s", optarg);
            break;
        case EPS: o->optim.eps = strtof(optarg, NULL); break;
        case NO_DECAY:
            if (bmst_no_decay_parse(optarg, &o->optim.no_decay) != 0) return -1;
            break;
        case FREEZE: o->optim.freeze = optarg; break;
        case FREEZE_BN: o->optim.freeze_bn = 1; break;
        case LR_HEAD: o->optim.lr_head = strtof(optarg, NULL); break;
        case SMOOTHING: o->step.label_smoothing = strtof(optarg, NULL); break;
        case CLIP: o->step.clip_norm = strtof(optarg, NULL); break;
        default: return bmst_error("unknown option (see the comment at the top of parity_step.c)");
        }
    }
    o->optim.lr_peak = o->step.lr; /* --lr-head's rate is relative to it, as train's */
    if (!o->save_init && !(o->init && o->input && o->out && o->steps >= 1))
        return bmst_error("give --save-init, or --init, --input and --out (and --steps of 1 or "
                          "more)");
    return 0;
}

/* ---- HDF5 in and out (plain float32 / int32 datasets) ---- */

static int read_batch(const char *path, int *dims, float **images, int32_t **labels) {
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return bmst_error("cannot open %s", path);
    hid_t set = H5Dopen2(file, "images", H5P_DEFAULT);
    hid_t space = set >= 0 ? H5Dget_space(set) : -1;
    hsize_t d[4] = {0};
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 4 &&
             H5Sget_simple_extent_dims(space, d, NULL) == 4;
    for (int i = 0; i < 4; i++) dims[i] = (int)d[i];
    size_t count = (size_t)d[0] * d[1] * d[2] * d[3];
    *images = bmst_xmalloc((count ? count : 1) * sizeof(float));
    *labels = bmst_xmalloc((d[0] ? d[0] : 1) * sizeof(int32_t));
    ok = ok && H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *images) >= 0;
    if (space >= 0) H5Sclose(space);
    if (set >= 0) H5Dclose(set);
    set = ok ? H5Dopen2(file, "labels", H5P_DEFAULT) : -1;
    ok = set >= 0 && H5Dread(set, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, *labels) >= 0;
    if (set >= 0) H5Dclose(set);
    H5Fclose(file);
    return ok ? 0 : bmst_error("%s: wants /images [B,H,W,C] float32 and /labels [B] int32", path);
}

static int write_floats(hid_t file, const char *name, int ndim, const hsize_t *dims,
                        const float *data) {
    hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t set = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT);
    int ok = set >= 0 && H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (set >= 0) H5Dclose(set);
    H5Sclose(space);
    return ok ? 0 : bmst_error("cannot write %s", name);
}

/* group/NNNN (count, numbered from 0) as a rank-4 array of file_type, from
 * memory of mem_type. */
static int write_numbered(hid_t group, const char *what, int count, const hsize_t *dims,
                          hid_t file_type, hid_t mem_type, const void *data) {
    char name[32];
    snprintf(name, sizeof name, "%04d", count);
    hid_t space = H5Screate_simple(4, dims, NULL);
    hid_t set = H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = set >= 0 && H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    if (set >= 0) H5Dclose(set);
    H5Sclose(space);
    return ok ? 0 : bmst_error("cannot write %s/%s", what, name);
}

/* Writes dropout/NNNN, one float32 [rows, features] mask per dropout node in
 * graph order, each element 1 / (1 - p) where kept and 0 where dropped: the
 * node's kernel run on ones with the step's key, as the step draws it. */
static int write_dropout_masks(hid_t file, struct bmst_exec *x) {
    const struct bmst_graph *g = x->graph;
    struct bmst_backend *be = g->be;
    hid_t group = H5Gcreate2(file, "dropout", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int status = group < 0 ? -1 : 0, count = 0;
    for (int i = 0; i < g->n_nodes && status == 0; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->kind != BMST_OP_DROPOUT) continue;
        struct bmst_shape sh = g->values[n->out].shape;
        size_t elems = bmst_shape_count(sh);
        float *ones = bmst_xmalloc(elems * sizeof(float)), *mask = bmst_xmalloc(elems * sizeof(float));
        for (size_t j = 0; j < elems; j++) ones[j] = 1.0f;
        be->dropout->fwd(be, &n->desc.dropout, x->scalars + BMST_SCALAR_DROPOUT_KEY, ones, mask);
        hsize_t dims[2] = {(hsize_t)sh.n, (hsize_t)(elems / sh.n)};
        char name[32];
        snprintf(name, sizeof name, "%04d", count++);
        status = write_floats(group, name, 2, dims, mask);
        free(ones), free(mask);
    }
    if (group >= 0) H5Gclose(group);
    return status;
}

/* Writes maxpool/NNNN for max pool node n, the count-th in graph order, an
 * int32 [N,C,OH,OW] array: for each output, the input element (ih * W + iw
 * in its channel's plane, PyTorch's return_indices) that holds the window's
 * largest value, the first such in row-major order, from the input the
 * pool's forward has just read. The reference routes gradients to them: a
 * near-tie float32 and float64 resolve differently would otherwise send an
 * element's gradient elsewhere. */
static int write_maxpool_indices(hid_t group, struct bmst_exec *x, const struct bmst_node *n,
                                 int count) {
    struct bmst_backend *be = x->graph->be;
    const struct bmst_pool_desc *d = &n->desc.pool;
    size_t nx = (size_t)d->n * d->h * d->w * d->c, ny = (size_t)d->n * d->out_h * d->out_w * d->c;
    float *in = bmst_xmalloc(nx * sizeof(float));
    int32_t *index = bmst_xmalloc(ny * sizeof(int32_t));
    be->download_act(be, in, bmst_exec_value(x, n->in[0]), nx);
    for (int b = 0; b < d->n; b++)
        for (int c = 0; c < d->c; c++)
            for (int oh = 0; oh < d->out_h; oh++)
                for (int ow = 0; ow < d->out_w; ow++) {
                    int best = -1;
                    float v = 0.0f;
                    for (int r = 0; r < d->kh; r++)
                        for (int s = 0; s < d->kw; s++) {
                            int ih = oh * d->stride_h - d->pad_h + r;
                            int iw = ow * d->stride_w - d->pad_w + s;
                            if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                            float e = in[(((size_t)b * d->h + ih) * d->w + iw) * d->c + c];
                            if (best < 0 || e > v) best = ih * d->w + iw, v = e;
                        }
                    index[(((size_t)b * d->c + c) * d->out_h + oh) * d->out_w + ow] = best;
                }
    hsize_t dims[4] = {(hsize_t)d->n, (hsize_t)d->c, (hsize_t)d->out_h, (hsize_t)d->out_w};
    int status = write_numbered(group, "maxpool", count, dims, H5T_STD_I32LE, H5T_NATIVE_INT32,
                                index);
    free(in), free(index);
    return status;
}

/* relu/NNNN (NNNN = *count, then advanced): where the ReLU output y of shape
 * sh is positive, as uint8 [N,H,W,C]. */
static int write_relu_mask(hid_t group, struct bmst_backend *be, struct bmst_shape sh,
                           const void *y_device, int *count) {
    size_t n = bmst_shape_count(sh);
    float *y = bmst_xmalloc(n * sizeof(float));
    uint8_t *mask = bmst_xmalloc(n);
    be->download_act(be, y, y_device, n);
    for (size_t j = 0; j < n; j++) mask[j] = y[j] > 0.0f;
    hsize_t dims[4] = {(hsize_t)sh.n, (hsize_t)sh.h, (hsize_t)sh.w, (hsize_t)sh.c};
    int status = write_numbered(group, "relu", (*count)++, dims, H5T_STD_U8LE, H5T_NATIVE_UINT8,
                                mask);
    free(y), free(mask);
    return status;
}

/* Runs the step's forward alone (as bmst_train_step sets it up) and writes
 * relu/NNNN, one uint8 [N,H,W,C] mask per ReLU in graph order (a reversible
 * unit's, F's then G's, at the unit's place), the max pools' choices and the
 * dropout masks. The BN running
 * statistics that forward updates are put back, so the real step that follows
 * starts from the checkpoint's. */
static int write_relu_masks(hid_t file, struct bmst_exec *x, const struct options *o, long step,
                            const float *images, const int32_t *labels, float *scratch) {
    const struct bmst_graph *g = x->graph;
    struct bmst_backend *be = g->be;
    struct bmst_model *m = g->model;
    float *saved = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    be->to_host(be, saved, m->buffers, m->n_buffers * sizeof(float));
    be->upload_act(be, bmst_exec_value(x, g->images), images,
                   bmst_shape_count(g->values[g->images].shape));
    bmst_soft_targets(labels, g->batch, g->classes, o->step.label_smoothing, scratch);
    be->to_device(be, bmst_exec_value(x, g->targets), scratch,
                  (size_t)g->batch * g->classes * sizeof(float));
    float lam = g->merge > 1 ? bmst_step_lambda(o->step.seed, step, o->step.mix_alpha) : 1.0f;
    bmst_mix_coefficients(g->merge, lam, x->host_scalars + BMST_SCALAR_MIX);
    bmst_step_dropout_key(o->step.seed, step, x->host_scalars + BMST_SCALAR_DROPOUT_KEY);
    bmst_exec_upload_scalars(x);
    /* node by node, as bmst_exec_forward runs them, each ReLU's output and
     * max pool's input read right after the node: a value no backward reads
     * again (a frozen prefix's, --freeze) or one a reversible unit rebuilds in
     * backward (graph.h's rebuilt) may be overwritten later in the pass */
    hid_t relu = H5Gcreate2(file, "relu", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t pool = H5Gcreate2(file, "maxpool", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int status = relu < 0 || pool < 0 ? -1 : 0, relus = 0, pools = 0;
    for (int i = 0; i < g->n_nodes && status == 0; i++) {
        const struct bmst_node *n = &g->nodes[i];
        bmst_op(n->kind)->forward(x, n);
        bmst_saved_keep(x, n);
        if (n->kind == BMST_OP_RELU)
            status = write_relu_mask(relu, be, g->values[n->out].shape,
                                     bmst_exec_value(x, n->out), &relus);
        if (n->kind == BMST_OP_MAXPOOL) status = write_maxpool_indices(pool, x, n, pools++);
        if (n->kind != BMST_OP_REVERSIBLE) continue;
        /* a unit's ReLUs, F's then G's in order: their outputs are in the
         * workspace until the next unit runs (ops/reversible.h) */
        const struct bmst_rev_unit *u = &g->rev_units[n->desc.rev_unit];
        const struct bmst_rev_branch *branches[2] = {&u->f, &u->g};
        for (int b = 0; b < 2; b++)
            for (int l = 0; l < branches[b]->layers && status == 0; l++) {
                const struct bmst_conv_desc *d = &branches[b]->conv[l];
                if (branches[b]->has_bn[l])
                    status = write_relu_mask(relu, be, bmst_shape_make(d->n, d->h, d->w, d->c),
                                             (char *)x->workspace + branches[b]->act[l], &relus);
            }
    }
    if (relu >= 0) H5Gclose(relu);
    if (pool >= 0) H5Gclose(pool);
    if (status == 0) status = write_dropout_masks(file, x);
    be->to_device(be, m->buffers, saved, m->n_buffers * sizeof(float));
    free(saved);
    return status;
}

/* What the tool trains: the model, its optimizer, a training graph and an
 * evaluation graph. */
struct net {
    struct bmst_model model;
    struct bmst_optim optim;
    struct bmst_graph train, eval;
    struct bmst_exec train_run, eval_run;
};

/* Builds the network with a training graph of `batch` and an evaluation
 * graph of eval_batch into an allocated model and optimizer. */
static int build(const struct options *o, struct bmst_backend *be, int batch, int eval_batch,
                 struct net *n) {
    struct bmst_network_spec spec = {.h = o->meta.in_h, .w = o->meta.in_w, .c = o->meta.in_c,
                                     .classes = o->meta.classes, .mix_at = o->mix_at,
                                     .aux_logits = o->meta.aux_logits};
    snprintf(spec.arch, sizeof spec.arch, "%s", o->meta.arch);
    memset(n, 0, sizeof *n);
    bmst_model_init(&n->model, be, o->meta.arch);
    bmst_graph_init(&n->train, &n->model, 1, batch, o->merge, o->meta.classes);
    bmst_graph_init(&n->eval, &n->model, 0, eval_batch, 1, o->meta.classes);
    if (bmst_network_build(&n->train, &spec) != 0 || bmst_network_build(&n->eval, &spec) != 0)
        return -1;
    if (bmst_param_groups_apply(&n->model, &n->train, o->optim.freeze, o->optim.freeze_bn) != 0 ||
        bmst_optim_init(&n->optim, &n->model, &o->optim) != 0)
        return -1;
    if (bmst_graph_plan(&n->train) != 0 || bmst_graph_plan(&n->eval) != 0) return -1;
    if (bmst_model_allocate(&n->model) != 0 || bmst_optim_allocate(&n->optim) != 0 ||
        bmst_exec_init(&n->train_run, &n->train) != 0 ||
        bmst_exec_init(&n->eval_run, &n->eval) != 0)
        return -1;
    bmst_model_initialize(&n->model, o->meta.seed);
    return 0;
}

static void net_free(struct net *n) {
    bmst_exec_free(&n->train_run), bmst_exec_free(&n->eval_run);
    bmst_graph_free(&n->train), bmst_graph_free(&n->eval);
    bmst_optim_free(&n->optim), bmst_model_free(&n->model);
}

/* The run a checkpoint of this tool records: one epoch of o->steps steps of
 * `batch` on one rank, at the constant rate --lr. */
static void record_run(struct options *o, int batch, long step) {
    o->meta.has_run_record = 1;
    o->meta.batch = batch;
    o->meta.ranks = 1;
    o->meta.merge = o->merge;
    o->meta.lr = o->meta.last_lr = o->step.lr;
    o->meta.planned_epochs = 1;
    o->meta.steps_per_epoch = o->steps;
    o->meta.epoch = 0;
    o->meta.step = step;
}

static int save_init(struct options *o, struct bmst_backend *be) {
    struct net n;
    int status = build(o, be, 1, 1, &n);
    record_run(o, 1, 0);
    if (status == 0) status = bmst_checkpoint_save(o->save_init, &n.model, &n.optim, &o->meta);
    net_free(&n);
    return status;
}

/* The batch the steps train on. */
struct batch_data {
    int dims[4];
    float *images;
    int32_t *labels;
};

/* Writes aux_logits [rows, classes] and aux_loss of the step just taken,
 * when the network has an auxiliary classifier. */
static int write_aux(hid_t file, const struct bmst_exec *x, size_t rows, size_t classes) {
    int value = x->graph->aux_logits;
    if (value < 0) return 0;
    float *aux = bmst_xmalloc(rows * classes * sizeof(float));
    struct bmst_backend *be = x->graph->be;
    be->download_act(be, aux, bmst_exec_value(x, value), rows * classes);
    hsize_t dims[2] = {rows, classes};
    int status = write_floats(file, "aux_logits", 2, dims, aux) != 0 ||
                         write_floats(file, "aux_loss", 0, NULL,
                                      &x->host_scalars[BMST_SCALAR_AUX_LOSS]) != 0
                     ? -1
                     : 0;
    free(aux);
    return status;
}

/* Step k (0-based) on the batch: writes DIR/step<k+1>.h5, grads<k+1>.h5 and
 * after<k+1>.h5. */
static int one_step(struct options *o, struct net *n, const struct batch_data *in, long k) {
    struct bmst_backend *be = n->model.be;
    int batch = in->dims[0];
    size_t classes = (size_t)o->meta.classes, rows = (size_t)(batch / o->merge);
    float *scratch = bmst_xmalloc((size_t)batch * classes * sizeof(float));
    float *logits = bmst_xmalloc(rows * classes * sizeof(float));
    float *eval_logits = bmst_xmalloc((size_t)batch * classes * sizeof(float));
    float lam = o->merge > 1 ? bmst_step_lambda(o->step.seed, k, o->step.mix_alpha) : 1.0f;
    char path[4096];
    snprintf(path, sizeof path, "%s/step%ld.h5", o->out, k + 1);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int status = file < 0 ? bmst_error("cannot create %s", path)
                          : write_relu_masks(file, &n->train_run, o, k, in->images, in->labels,
                                             scratch);
    double phase[BMST_PHASE_COUNT] = {0};
    struct bmst_batch b = {.images = in->images, .labels = in->labels, .valid = batch};
    struct bmst_loss_scaler scaler;
    bmst_loss_scaler_init(&scaler, BMST_F32, 1.0f, 1);
    float loss = bmst_train_step(&n->train_run, NULL, &o->step, k, &b, scratch, &scaler, phase);
    /* the logits and gradients of that forward/backward are still in place */
    be->download_act(be, logits, bmst_exec_value(&n->train_run, n->train.logits),
                     rows * classes);
    be->upload_act(be, bmst_exec_value(&n->eval_run, n->eval.images), in->images,
                   (size_t)batch * in->dims[1] * in->dims[2] * in->dims[3]);
    bmst_exec_forward(&n->eval_run);
    be->download_act(be, eval_logits, bmst_exec_value(&n->eval_run, n->eval.logits),
                     (size_t)batch * classes);
    hsize_t logit_dims[2] = {rows, classes}, eval_dims[2] = {(hsize_t)batch, classes};
    if (status == 0)
        status = write_floats(file, "lam", 0, NULL, &lam) != 0 ||
                         write_floats(file, "loss", 0, NULL, &loss) != 0 ||
                         write_floats(file, "logits", 2, logit_dims, logits) != 0 ||
                         write_floats(file, "eval_logits", 2, eval_dims, eval_logits) != 0 ||
                         write_aux(file, &n->train_run, rows, classes) != 0
                     ? -1
                     : 0;
    if (file >= 0) H5Fclose(file);
    snprintf(path, sizeof path, "%s/grads%ld.h5", o->out, k + 1);
    if (status == 0) status = bmst_checkpoint_save_gradients(path, &n->model);
    record_run(o, batch, k + 1);
    snprintf(path, sizeof path, "%s/after%ld.h5", o->out, k + 1);
    if (status == 0) status = bmst_checkpoint_save(path, &n->model, &n->optim, &o->meta);
    free(scratch), free(logits), free(eval_logits);
    return status;
}

static int train_steps(struct options *o, struct bmst_backend *be) {
    uint64_t seed = o->step.seed;
    if (bmst_checkpoint_read_meta(o->init, &o->meta) != 0) return -1;
    o->meta.seed = seed;
    struct batch_data in = {.images = NULL};
    if (read_batch(o->input, in.dims, &in.images, &in.labels) != 0) return -1;
    struct net n;
    int status = build(o, be, in.dims[0], in.dims[0], &n);
    if (status == 0) status = bmst_checkpoint_load(o->init, &n.model, &n.optim);
    o->step.optim = &n.optim;
    for (long k = 0; k < o->steps && status == 0; k++) status = one_step(o, &n, &in, k);
    free(in.images), free(in.labels);
    net_free(&n);
    return status;
}

int main(int argc, char **argv) {
    struct options o;
    if (parse(argc, argv, &o) != 0) {
        bmst_report_error("parity_step");
        return 2;
    }
    struct bmst_backend *be = bmst_backend_cpu_create(0, BMST_F32);
    int status = o.save_init ? save_init(&o, be) : train_steps(&o, be);
    be->destroy(be);
    if (status != 0) bmst_report_error("parity_step");
    return status == 0 ? 0 : 1;
}
