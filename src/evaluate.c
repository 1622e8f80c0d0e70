/* The evaluation pass: an evaluation graph over a split (test or
 * validation), scored on the host, summed across ranks. */
#include "evaluate.h"

#include <math.h>

#include "error.h"

int bmst_evaluate_counts(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                         float *host_logits, struct bmst_eval_counts *counts) {
    const struct bmst_graph *g = x->graph;
    struct bmst_backend *be = g->be;
    struct bmst_batch b;
    int status;
    size_t image_count = bmst_shape_count(g->values[g->images].shape);
    bmst_loader_start_epoch(loader, 0);
    while ((status = bmst_loader_next(loader, &b)) == 1) {
        be->upload_act(be, bmst_exec_value(x, g->images), b.images, image_count);
        bmst_exec_forward(x);
        be->download_act(be, host_logits, bmst_exec_value(x, g->logits),
                         (size_t)g->batch * g->classes);
        for (int i = 0; i < b.valid; i++)
            bmst_eval_counts_add(counts, host_logits + (size_t)i * g->classes, b.labels[i]);
    }
    if (status < 0) return -1;
    bmst_eval_counts_reduce(counts, comm);
    return 0;
}

int bmst_evaluate(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                  float *host_logits, double *loss, double *accuracy) {
    struct bmst_eval_counts c;
    bmst_eval_counts_init(&c, x->graph->classes);
    int status = bmst_evaluate_counts(x, loader, comm, host_logits, &c);
    *loss = c.samples > 0 ? c.loss_sum / c.samples : 0.0;
    *accuracy = c.samples > 0 ? c.top1 / c.samples : 0.0;
    bmst_eval_counts_free(&c);
    return status;
}

int bmst_evaluate_epoch(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                        float *host_logits, const char *split, int epoch, int epochs,
                        int allow_nonfinite, double *loss, double *accuracy) {
    if (bmst_evaluate(x, loader, comm, host_logits, loss, accuracy) != 0) return -1;
    if (!isfinite(*loss) && !allow_nonfinite)
        return bmst_error_shared("inf or NaN in the %s logits after epoch %d/%d: the weights are "
                                 "finite but have grown too large; lower --lr or add --clip-norm",
                                 split, epoch, epochs);
    return 0;
}
