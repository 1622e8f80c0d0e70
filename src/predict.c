/* The predict command (predict.h): the checkpoint's network built as eval
 * builds it, one process, the split read in order without augmentation
 * (but eval's central crop above 64 px), softmax and top-5 on the host. */
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "loader.h"
#include "progress.h"
#include "stats.h"

#define TOP 5

static const char *split_name(int split) {
    return split == BMST_SPLIT_TRAIN ? "train" : split == BMST_SPLIT_VAL ? "val" : "test";
}

/* Softmax of one row of logits (in double) and its `top` best classes,
 * best first, the lower class first among equals. */
static void rank_row(const float *z, int classes, int top, int32_t *best, float *prob) {
    float zmax = z[0];
    for (int k = 1; k < classes; k++)
        if (z[k] > zmax) zmax = z[k];
    double sum = 0.0;
    for (int k = 0; k < classes; k++)
        sum += exp((double)(z[k] - zmax));
    for (int t = 0; t < top; t++) {
        int pick = -1;
        for (int k = 0; k < classes; k++) {
            int taken = 0;
            for (int u = 0; u < t && !taken; u++)
                taken = best[u] == k;
            if (!taken && (pick < 0 || z[k] > z[pick])) pick = k;
        }
        best[t] = pick;
        prob[t] = (float)(exp((double)(z[pick] - zmax)) / sum);
    }
}

static void predictions_alloc(struct bmst_predictions *p, size_t n, int classes, int logits) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->classes = classes;
    p->top = classes < TOP ? classes : TOP;
    p->with_logits = logits;
    size_t rows = n ? n : 1;
    p->index = bmst_xmalloc(rows * sizeof *p->index);
    p->label = bmst_xmalloc(rows * sizeof *p->label);
    p->top_class = bmst_xmalloc(rows * (size_t)p->top * sizeof *p->top_class);
    p->top_prob = bmst_xmalloc(rows * (size_t)p->top * sizeof *p->top_prob);
    if (logits) p->logits = bmst_xmalloc(rows * (size_t)classes * sizeof *p->logits);
}

static void predictions_free(struct bmst_predictions *p) {
    free(p->index), free(p->label), free(p->top_class), free(p->top_prob), free(p->logits);
}

/* Every batch of the split through the evaluation graph, into p. */
static int run(struct bmst_engine *e, struct bmst_loader *loader, struct bmst_predictions *p,
               float *host_logits, size_t *correct) {
    const struct bmst_graph *g = &e->eval_graph;
    struct bmst_backend *be = e->be;
    size_t image_count = bmst_shape_count(g->values[g->images].shape), done = 0;
    struct bmst_progress progress;
    bmst_progress_begin(&progress, stdout, "predict", (long)bmst_loader_batches(loader));
    struct bmst_batch b;
    int status;
    bmst_loader_start_epoch(loader, 0);
    while ((status = bmst_loader_next(loader, &b)) == 1) {
        be->upload_act(be, bmst_exec_value(&e->eval, g->images), b.images, image_count);
        bmst_exec_forward(&e->eval);
        be->download_act(be, host_logits, bmst_exec_value(&e->eval, g->logits),
                         (size_t)g->batch * g->classes);
        for (int i = 0; i < b.valid && done < p->n; i++, done++) {
            const float *z = host_logits + (size_t)i * g->classes;
            p->index[done] = b.samples[i];
            p->label[done] = b.labels[i];
            rank_row(z, g->classes, p->top, p->top_class + done * p->top,
                     p->top_prob + done * p->top);
            *correct += p->top_class[done * p->top] == b.labels[i];
            if (p->logits) memcpy(p->logits + done * (size_t)g->classes, z, g->classes * sizeof *z);
        }
        bmst_progress_update(&progress, b.index + 1, "");
    }
    bmst_progress_end(&progress);
    if (status < 0) return -1;
    if (done != p->n)
        return bmst_error("predict: the loader gave %zu of the split's %zu samples", done, p->n);
    return 0;
}

/* The engine, data and loader of cli's checkpoint; then run and write. */
static int predict(const struct bmst_cli *cli, const struct bmst_checkpoint_meta *meta,
                   struct bmst_dataset *ds, struct bmst_engine *e) {
    const struct bmst_run_config *r = &cli->run;
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    int split = r->eval_split;
    if (info->count[split] == 0)
        return bmst_error("%s has no %s split", r->data_path, split_name(split));
    if (meta->in_h != info->h || meta->in_w != info->w || meta->in_c != info->c ||
        meta->classes != info->classes)
        return bmst_error("checkpoint %s expects %dx%dx%d images and %d classes, %s has "
                          "%dx%dx%d and %d",
                          r->checkpoint_path, meta->in_h, meta->in_w, meta->in_c, meta->classes,
                          r->data_path, info->h, info->w, info->c, info->classes);
    struct bmst_engine_config ec = {.device = r->device,
                                    .precision = r->precision,
                                    .threads = r->threads,
                                    .quiet = 0,
                                    .eval_batch = r->eval_batch,
                                    .spec = {.h = meta->in_h,
                                             .w = meta->in_w,
                                             .c = meta->in_c,
                                             .classes = meta->classes,
                                             .mix_at = BMST_MIX_C2,
                                             .aux_logits = meta->aux_logits,
                                             .stem = meta->stem}};
    snprintf(ec.spec.arch, sizeof ec.spec.arch, "%s", meta->arch);
    if (bmst_engine_open(e, &ec) != 0 ||
        bmst_checkpoint_load(r->checkpoint_path, &e->model, NULL) != 0)
        return -1;
    /* eval's inputs: as stored up to 64 px, the central crop above */
    int small = info->h <= 64 && info->w <= 64;
    struct bmst_loader_config lc = {.split = split,
                                    .batch = r->eval_batch,
                                    .shuffle = 0,
                                    .augment = small || r->augment == 0 ? BMST_AUGMENT_NONE
                                                                        : BMST_AUGMENT_CENTER_CROP,
                                    .drop_last = 0,
                                    .depth = r->prefetch,
                                    .workers = r->loader_threads,
                                    .seed = r->seed,
                                    .rank = 0,
                                    .world = 1};
    struct bmst_loader *loader;
    if (bmst_loader_create(ds, &lc, &loader) != 0) return -1;
    struct bmst_predictions p;
    predictions_alloc(&p, info->count[split], info->classes, cli->logits);
    float *host_logits = bmst_xmalloc((size_t)r->eval_batch * info->classes * sizeof(float));
    size_t correct = 0;
    double t = bmst_now();
    int status = run(e, loader, &p, host_logits, &correct);
    bmst_loader_free(loader);
    free(host_logits);
    if (status == 0)
        status = bmst_predictions_write(&p, cli->out_path, r->checkpoint_path, split_name(split));
    if (status == 0)
        printf("%s (%s) on %s %s split -> %s: %zu samples, top-1 agrees with the label on "
               "%.2f%% (%.1f s)\n",
               r->checkpoint_path, meta->arch, info->name, split_name(split), cli->out_path, p.n,
               p.n ? 100.0 * (double)correct / (double)p.n : 0.0, bmst_now() - t);
    predictions_free(&p);
    return status;
}

int bmst_predict(const struct bmst_cli *cli) {
    const struct bmst_run_config *r = &cli->run;
    if (bmst_predictions_check_path(cli->out_path) != 0) return -1;
    struct bmst_checkpoint_meta meta;
    if (bmst_checkpoint_read_meta(r->checkpoint_path, &meta) != 0) return -1;
    struct bmst_dataset *ds;
    if (bmst_dataset_open(r->data_path, &ds) != 0) return -1;
    struct bmst_engine e;
    memset(&e, 0, sizeof e);
    int status = predict(cli, &meta, ds, &e);
    bmst_engine_close(&e);
    bmst_dataset_close(ds);
    return status;
}
