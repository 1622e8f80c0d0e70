/* The engine's side of the PyTorch parity test (test_parity.py): one training
 * step of a network on a given batch, with everything PyTorch must reproduce
 * written out.
 *
 *   parity_step --save-init OUT.h5 --arch A --shape HxWxC --classes K [--seed S]
 *       writes the engine's initial weights as a checkpoint;
 *   parity_step --init CKPT.h5 --input BATCH.h5 --out DIR [--merge M] [--mix-at N]
 *               [--lr X] [--momentum X] [--weight-decay X] [--nesterov]
 *               [--label-smoothing X] [--clip-norm X] [--seed S]
 *       loads CKPT, trains one step on BATCH.h5 (/images [B,H,W,C] float32,
 *       already normalized; /labels [B] int32) through bmst_train_step, and
 *       writes DIR/step.h5 (lam, loss, logits of the merged rows, the
 *       evaluation graph's logits on the batch after the step, and which side
 *       of zero every ReLU input fell on), DIR/grads.h5 (the step's gradients)
 *       and DIR/after.h5 (the checkpoint after the step).
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
#include "stats.h"
#include "step.h"

struct options {
    const char *save_init, *init, *input, *out;
    struct bmst_checkpoint_meta meta;
    int merge, mix_at;
    struct bmst_step_config step;
};

static int parse(int argc, char **argv, struct options *o) {
    enum { SAVE_INIT = 256, INIT, INPUT, OUT, ARCH, SHAPE, CLASSES, SEED, MERGE, MIX_AT, LR,
           MOMENTUM, WD, NESTEROV, SMOOTHING, CLIP };
    static const struct option table[] = {
        {"save-init", 1, 0, SAVE_INIT}, {"init", 1, 0, INIT},       {"input", 1, 0, INPUT},
        {"out", 1, 0, OUT},             {"arch", 1, 0, ARCH},       {"shape", 1, 0, SHAPE},
        {"classes", 1, 0, CLASSES},     {"seed", 1, 0, SEED},       {"merge", 1, 0, MERGE},
        {"mix-at", 1, 0, MIX_AT},       {"lr", 1, 0, LR},           {"momentum", 1, 0, MOMENTUM},
        {"weight-decay", 1, 0, WD},     {"nesterov", 0, 0, NESTEROV},
        {"label-smoothing", 1, 0, SMOOTHING}, {"clip-norm", 1, 0, CLIP}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->merge = 1;
    o->mix_at = BMST_MIX_C2;
    o->meta.loss_scale = 1.0f;
    o->step = (struct bmst_step_config){.seed = 1, .mix_alpha = 1.0f,
                                        .sgd = {.lr = 0.1f, .momentum = 0.9f,
                                                .weight_decay = 5e-4f}};
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
        case SEED: o->step.seed = o->meta.seed = strtoull(optarg, NULL, 10); break;
        case MERGE: o->merge = atoi(optarg); break;
        case MIX_AT: o->mix_at = atoi(optarg + (optarg[0] == 'c')); break;
        case LR: o->step.sgd.lr = strtof(optarg, NULL); break;
        case MOMENTUM: o->step.sgd.momentum = strtof(optarg, NULL); break;
        case WD: o->step.sgd.weight_decay = strtof(optarg, NULL); break;
        case NESTEROV: o->step.sgd.nesterov = 1; break;
        case SMOOTHING: o->step.label_smoothing = strtof(optarg, NULL); break;
        case CLIP: o->step.clip_norm = strtof(optarg, NULL); break;
        default: return bmst_error("unknown option (see the comment at the top of parity_step.c)");
        }
    }
    if (!o->save_init && !(o->init && o->input && o->out))
        return bmst_error("give --save-init, or --init, --input and --out");
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

/* Runs the step's forward alone (as bmst_train_step sets it up) and writes
 * relu/NNNN, one uint8 [N,H,W,C] mask per ReLU in graph order. The BN running
 * statistics that forward updates are put back, so the real step that follows
 * starts from the checkpoint's. */
static int write_relu_masks(hid_t file, struct bmst_exec *x, const struct options *o,
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
    float lam = g->merge > 1 ? bmst_step_lambda(o->step.seed, 0, o->step.mix_alpha) : 1.0f;
    bmst_mix_coefficients(g->merge, lam, x->host_scalars + BMST_SCALAR_MIX);
    bmst_exec_upload_scalars(x);
    bmst_exec_forward(x);
    /* a training graph keeps every ReLU output until that ReLU's backward, so
     * all of them are intact after the forward */
    hid_t group = H5Gcreate2(file, "relu", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int status = group < 0 ? -1 : 0, count = 0;
    for (int i = 0; i < g->n_nodes && status == 0; i++) {
        if (g->nodes[i].kind != BMST_OP_RELU) continue;
        struct bmst_shape sh = g->values[g->nodes[i].out].shape;
        size_t n = bmst_shape_count(sh);
        float *y = bmst_xmalloc(n * sizeof(float));
        uint8_t *mask = bmst_xmalloc(n);
        be->download_act(be, y, bmst_exec_value(x, g->nodes[i].out), n);
        for (size_t j = 0; j < n; j++) mask[j] = y[j] > 0.0f;
        hsize_t dims[4] = {(hsize_t)sh.n, (hsize_t)sh.h, (hsize_t)sh.w, (hsize_t)sh.c};
        char name[32];
        snprintf(name, sizeof name, "%04d", count++);
        hid_t space = H5Screate_simple(4, dims, NULL);
        hid_t set = H5Dcreate2(group, name, H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
        if (set < 0 || H5Dwrite(set, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask) < 0)
            status = bmst_error("cannot write relu/%s", name);
        if (set >= 0) H5Dclose(set);
        H5Sclose(space);
        free(y), free(mask);
    }
    if (group >= 0) H5Gclose(group);
    be->to_device(be, m->buffers, saved, m->n_buffers * sizeof(float));
    free(saved);
    return status;
}

/* A training and an evaluation graph of one model, and their runs. */
struct network {
    struct bmst_model model;
    struct bmst_graph train, eval;
    struct bmst_exec train_run, eval_run;
};

/* Builds the network (training graph of batch, evaluation graph of
 * eval_batch) into an allocated model. */
static int build(const struct options *o, struct bmst_backend *be, int batch, int eval_batch,
                 struct network *net) {
    struct bmst_model *model = &net->model;
    struct bmst_graph *train = &net->train, *eval = &net->eval;
    memset(net, 0, sizeof *net);
    struct bmst_network_spec spec = {.h = o->meta.in_h, .w = o->meta.in_w, .c = o->meta.in_c,
                                     .classes = o->meta.classes, .mix_at = o->mix_at};
    snprintf(spec.arch, sizeof spec.arch, "%s", o->meta.arch);
    bmst_model_init(model, be, o->meta.arch);
    bmst_graph_init(train, model, 1, batch, o->merge, o->meta.classes);
    bmst_graph_init(eval, model, 0, eval_batch, 1, o->meta.classes);
    if (bmst_network_build(train, &spec) != 0 || bmst_network_build(eval, &spec) != 0) return -1;
    if (bmst_graph_plan(train) != 0 || bmst_graph_plan(eval) != 0) return -1;
    if (bmst_model_allocate(model) != 0 || bmst_exec_init(&net->train_run, train) != 0 ||
        bmst_exec_init(&net->eval_run, eval) != 0)
        return -1;
    bmst_model_initialize(model, o->meta.seed);
    return 0;
}

static void network_free(struct network *net) {
    bmst_exec_free(&net->train_run), bmst_exec_free(&net->eval_run);
    bmst_graph_free(&net->train), bmst_graph_free(&net->eval), bmst_model_free(&net->model);
}

static int save_init(struct options *o, struct bmst_backend *be) {
    struct network net;
    int status = build(o, be, 1, 1, &net);
    if (status == 0) status = bmst_checkpoint_save(o->save_init, &net.model, &o->meta);
    network_free(&net);
    return status;
}

static int one_step(struct options *o, struct bmst_backend *be) {
    uint64_t seed = o->step.seed;
    if (bmst_checkpoint_read_meta(o->init, &o->meta) != 0) return -1;
    o->meta.seed = seed;
    int dims[4];
    float *images = NULL;
    int32_t *labels = NULL;
    if (read_batch(o->input, dims, &images, &labels) != 0) return -1;
    int batch = dims[0];
    struct network net;
    int status = build(o, be, batch, batch, &net);
    if (status == 0) status = bmst_checkpoint_load(o->init, &net.model, 1);
    size_t classes = (size_t)o->meta.classes, rows = (size_t)(batch / o->merge);
    float *scratch = bmst_xmalloc((size_t)batch * classes * sizeof(float));
    float *logits = bmst_xmalloc(rows * classes * sizeof(float));
    float *eval_logits = bmst_xmalloc((size_t)batch * classes * sizeof(float));
    float lam = o->merge > 1 ? bmst_step_lambda(o->step.seed, 0, o->step.mix_alpha) : 1.0f;
    float loss = 0.0f;
    if (status == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/step.h5", o->out);
        hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        status = file < 0 ? bmst_error("cannot create %s", path)
                          : write_relu_masks(file, &net.train_run, o, images, labels, scratch);
        double phase[BMST_PHASE_COUNT] = {0};
        struct bmst_batch b = {.images = images, .labels = labels, .valid = batch};
        struct bmst_loss_scaler scaler;
        bmst_loss_scaler_init(&scaler, BMST_F32, 1.0f, 1);
        loss = bmst_train_step(&net.train_run, NULL, &o->step, 0, &b, scratch, &scaler, phase);
        /* the logits and gradients of that forward/backward are still in place */
        be->download_act(be, logits, bmst_exec_value(&net.train_run, net.train.logits),
                         rows * classes);
        be->upload_act(be, bmst_exec_value(&net.eval_run, net.eval.images), images,
                       (size_t)batch * dims[1] * dims[2] * dims[3]);
        bmst_exec_forward(&net.eval_run);
        be->download_act(be, eval_logits, bmst_exec_value(&net.eval_run, net.eval.logits),
                         (size_t)batch * classes);
        hsize_t logit_dims[2] = {rows, classes}, eval_dims[2] = {(hsize_t)batch, classes};
        if (status == 0)
            status = file < 0 || write_floats(file, "lam", 0, NULL, &lam) != 0 ||
                             write_floats(file, "loss", 0, NULL, &loss) != 0 ||
                             write_floats(file, "logits", 2, logit_dims, logits) != 0 ||
                             write_floats(file, "eval_logits", 2, eval_dims, eval_logits) != 0
                         ? -1
                         : 0;
        if (file >= 0) H5Fclose(file);
        snprintf(path, sizeof path, "%s/grads.h5", o->out);
        if (status == 0) status = bmst_checkpoint_save_gradients(path, &net.model);
        o->meta.step = 1;
        snprintf(path, sizeof path, "%s/after.h5", o->out);
        if (status == 0) status = bmst_checkpoint_save(path, &net.model, &o->meta);
    }
    free(images), free(labels), free(scratch), free(logits), free(eval_logits);
    network_free(&net);
    return status;
}

int main(int argc, char **argv) {
    struct options o;
    if (parse(argc, argv, &o) != 0) {
        bmst_report_error("parity_step");
        return 2;
    }
    struct bmst_backend *be = bmst_backend_cpu_create(0, BMST_F32);
    int status = o.save_init ? save_init(&o, be) : one_step(&o, be);
    be->destroy(be);
    if (status != 0) bmst_report_error("parity_step");
    return status == 0 ? 0 : 1;
}
