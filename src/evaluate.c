/* The evaluation pass: an evaluation graph over a split (test or
 * validation), scored on the host, summed across ranks. */
#include "evaluate.h"

#include <math.h>

#include "error.h"

/* Adds the cross-entropy and correctness of one row of logits. */
static void score_row(const float *z, int classes, int label, double *loss, double *correct) {
    int best = 0;
    float zmax = z[0];
    for (int k = 1; k < classes; k++)
        if (z[k] > zmax) zmax = z[k], best = k;
    double sum = 0.0;
    for (int k = 0; k < classes; k++)
        sum += exp((double)(z[k] - zmax));
    *loss += log(sum) - (double)(z[label] - zmax);
    *correct += best == label;
}

int bmst_evaluate(struct bmst_exec *x, struct bmst_loader *loader, struct bmst_comm *comm,
                  float *host_logits, double *loss, double *accuracy) {
    const struct bmst_graph *g = x->graph;
    struct bmst_backend *be = g->be;
    double totals[3] = {0.0, 0.0, 0.0}; /* loss sum, correct, samples */
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
            score_row(host_logits + (size_t)i * g->classes, g->classes, b.labels[i], &totals[0],
                      &totals[1]);
        totals[2] += b.valid;
    }
    if (status < 0) return -1;
    comm->allreduce_host_f64(comm, totals, 3);
    *loss = totals[2] > 0 ? totals[0] / totals[2] : 0.0;
    *accuracy = totals[2] > 0 ? totals[1] / totals[2] : 0.0;
    return 0;
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
