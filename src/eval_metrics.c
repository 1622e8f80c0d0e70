/* Top-1, top-k, per-class counts and the confusion matrix (see eval_metrics.h). */
#include "eval_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"

void bmst_eval_counts_init(struct bmst_eval_counts *c, int classes) {
    memset(c, 0, sizeof *c);
    c->classes = classes;
    c->top_k = classes < BMST_EVAL_TOP_K ? classes : BMST_EVAL_TOP_K;
    c->confusion = bmst_xcalloc((size_t)classes * classes, sizeof *c->confusion);
}

void bmst_eval_counts_free(struct bmst_eval_counts *c) {
    free(c->confusion);
    memset(c, 0, sizeof *c);
}

void bmst_eval_counts_add(struct bmst_eval_counts *c, const float *z, int label) {
    int best = 0, above = 0;
    float zmax = z[0];
    for (int k = 1; k < c->classes; k++)
        if (z[k] > zmax) zmax = z[k], best = k;
    double sum = 0.0;
    for (int k = 0; k < c->classes; k++) {
        sum += exp((double)(z[k] - zmax));
        above += z[k] > z[label];
    }
    c->loss_sum += log(sum) - (double)(z[label] - zmax);
    c->samples += 1.0;
    c->top1 += best == label;
    /* among the k largest: fewer than k logits above the label's */
    c->topk += above < c->top_k;
    c->confusion[(size_t)label * c->classes + best] += 1.0;
}

void bmst_eval_counts_reduce(struct bmst_eval_counts *c, struct bmst_comm *comm) {
    double totals[4] = {c->loss_sum, c->samples, c->top1, c->topk};
    comm->allreduce_host_f64(comm, totals, 4);
    c->loss_sum = totals[0], c->samples = totals[1], c->top1 = totals[2], c->topk = totals[3];
    comm->allreduce_host_f64(comm, c->confusion, (size_t)c->classes * c->classes);
}

void bmst_eval_counts_print_classes(const struct bmst_eval_counts *c, const struct bmst_dataset *ds,
                                    FILE *out) {
    fprintf(out, "per-class accuracy (top-1):\n");
    for (int k = 0; k < c->classes; k++) {
        const double *row = c->confusion + (size_t)k * c->classes;
        double n = 0.0;
        for (int j = 0; j < c->classes; j++)
            n += row[j];
        const char *name = bmst_dataset_class_name(ds, k);
        char accuracy[16] = "-";
        if (n > 0) snprintf(accuracy, sizeof accuracy, "%.2f%%", 100.0 * row[k] / n);
        fprintf(out, "  %4d %-20s %8.0f / %-8.0f %s\n", k, name[0] ? name : "-", row[k], n,
                accuracy);
    }
}

int bmst_eval_counts_write_confusion(const struct bmst_eval_counts *c, const char *path) {
    size_t cap = 64 + (size_t)c->classes * 16 * (c->classes + 1), len = 0;
    char *text = bmst_xmalloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "true\\predicted");
    for (int j = 0; j < c->classes; j++)
        len += (size_t)snprintf(text + len, cap - len, ",%d", j);
    len += (size_t)snprintf(text + len, cap - len, "\n");
    for (int k = 0; k < c->classes; k++) {
        len += (size_t)snprintf(text + len, cap - len, "%d", k);
        for (int j = 0; j < c->classes; j++)
            len += (size_t)snprintf(text + len, cap - len, ",%.0f",
                                    c->confusion[(size_t)k * c->classes + j]);
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    struct bmst_atomic_file f;
    int status = bmst_atomic_open(&f, path, "the confusion matrix");
    if (status == 0 && bmst_atomic_write(&f, text, len) != 0) {
        bmst_atomic_abort(&f);
        status = -1;
    }
    if (status == 0) status = bmst_atomic_commit(&f);
    free(text);
    return status;
}
