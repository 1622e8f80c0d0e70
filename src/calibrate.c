/* Activation ranges over training batches (calibrate.h). */
#include "calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exec.h"
#include "loader.h"

/* Marks the values a conv or fc reads. */
static void mark_observed(const struct bmst_graph *g, char *observed) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->kind == BMST_OP_CONV || n->kind == BMST_OP_FC) observed[n->in[0]] = 1;
    }
}

/* One batch: node by node, each observed value read back while it is live
 * (just before the conv or fc that reads it; the plan may reuse its memory
 * after). A value read by several nodes is recorded once per reader, which
 * leaves the range as it is. */
static void observe_batch(struct bmst_engine *e, struct bmst_calibration *c, float *host,
                          size_t host_count) {
    const struct bmst_graph *g = &e->eval_graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (n->kind == BMST_OP_CONV || n->kind == BMST_OP_FC) {
            int v = n->in[0];
            /* a dense block's prefix: rows of row_stride, the first c its own */
            struct bmst_shape s = g->values[v].shape;
            size_t stride = g->values[v].row_stride ? (size_t)g->values[v].row_stride : (size_t)s.c;
            size_t rows = bmst_shape_count(s) / (size_t)s.c;
            BMST_ASSERT(rows * stride <= host_count);
            e->be->download_act(e->be, host, bmst_exec_value(&e->eval, v), rows * stride);
            for (size_t r = 0; r < rows; r++)
                for (size_t j = r * stride; j < r * stride + (size_t)s.c; j++) {
                    c->min[v] = fminf(c->min[v], host[j]);
                    c->max[v] = fmaxf(c->max[v], host[j]);
                }
        }
        bmst_exec_forward_node(&e->eval, i);
    }
}

int bmst_calibrate(struct bmst_engine *e, const char *data_path, int batches, int loader_threads,
                   struct bmst_calibration *out) {
    const struct bmst_graph *g = &e->eval_graph;
    memset(out, 0, sizeof *out);
    struct bmst_dataset *ds;
    if (bmst_dataset_open(data_path, &ds) != 0) return -1;
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    struct bmst_shape in = g->values[g->images].shape;
    size_t have = info->count[BMST_SPLIT_TRAIN] / (size_t)g->batch;
    int status = 0;
    if (info->h != in.h || info->w != in.w || info->c != in.c || info->classes != g->classes)
        status = bmst_error("--data %s holds %dx%dx%d images of %d classes; the checkpoint's "
                            "network takes %dx%dx%d and %d",
                            data_path, info->h, info->w, info->c, info->classes, in.h, in.w, in.c,
                            g->classes);
    else if (have < (size_t)batches)
        status = bmst_error("--calibrate %d needs %d batches of %d training images; %s holds %zu "
                            "images",
                            batches, batches, g->batch, data_path, info->count[BMST_SPLIT_TRAIN]);
    struct bmst_loader *loader = NULL;
    struct bmst_loader_config lc = {.split = BMST_SPLIT_TRAIN,
                                    .batch = g->batch,
                                    .shuffle = 0,
                                    .augment = BMST_AUGMENT_NONE,
                                    .drop_last = 1,
                                    .depth = 2,
                                    .workers = loader_threads,
                                    .rank = 0,
                                    .world = 1};
    if (status == 0) status = bmst_loader_create(ds, &lc, &loader);
    if (status != 0) {
        bmst_dataset_close(ds);
        return -1;
    }
    out->observed = calloc((size_t)g->n_values, 1);
    out->min = bmst_xmalloc((size_t)g->n_values * sizeof *out->min);
    out->max = bmst_xmalloc((size_t)g->n_values * sizeof *out->max);
    size_t largest = 1;
    for (int v = 0; v < g->n_values; v++) {
        out->min[v] = INFINITY;
        out->max[v] = -INFINITY;
        struct bmst_shape s = g->values[v].shape;
        size_t count = bmst_shape_count(s);
        if (g->values[v].row_stride) count = count / (size_t)s.c * (size_t)g->values[v].row_stride;
        if (count > largest) largest = count;
    }
    mark_observed(g, out->observed);
    float *host = bmst_xmalloc(largest * sizeof *host);
    size_t image_count = bmst_shape_count(in);
    struct bmst_batch b;
    bmst_loader_start_epoch(loader, 0);
    while (out->batches < batches && (status = bmst_loader_next(loader, &b)) == 1) {
        e->be->upload_act(e->be, bmst_exec_value(&e->eval, g->images), b.images, image_count);
        observe_batch(e, out, host, largest);
        out->batches++;
    }
    free(host);
    bmst_loader_free(loader);
    bmst_dataset_close(ds);
    return status < 0 ? -1 : 0;
}

void bmst_calibration_free(struct bmst_calibration *c) {
    free(c->observed), free(c->min), free(c->max);
    memset(c, 0, sizeof *c);
}
