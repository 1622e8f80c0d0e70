/* Gathering, summarizing and writing the report (see report.h). */
#include "report.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"

/* The per-rank figures the summary and the JSON file go through by name. */
static const struct {
    const char *name;
    size_t offset;
} fields[] = {
    {"epoch_s", offsetof(struct bmst_rank_stats, epoch_s)},
    {"data_s", offsetof(struct bmst_rank_stats, data_s)},
    {"forward_s", offsetof(struct bmst_rank_stats, forward_s)},
    {"backward_s", offsetof(struct bmst_rank_stats, backward_s)},
    {"allreduce_s", offsetof(struct bmst_rank_stats, allreduce_s)},
    {"allreduce_hidden_s", offsetof(struct bmst_rank_stats, allreduce_hidden_s)},
    {"optimizer_s", offsetof(struct bmst_rank_stats, optimizer_s)},
    {"eval_s", offsetof(struct bmst_rank_stats, eval_s)},
    {"images", offsetof(struct bmst_rank_stats, images)},
    {"images_per_s", offsetof(struct bmst_rank_stats, images_per_s)},
    {"peak_rss_mib", offsetof(struct bmst_rank_stats, peak_rss_mib)},
    {"planned_mib", offsetof(struct bmst_rank_stats, planned_mib)},
    {"device_used_mib", offsetof(struct bmst_rank_stats, device_used_mib)},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static double field(const struct bmst_rank_stats *s, size_t i) {
    return *(const double *)((const char *)s + fields[i].offset);
}

struct spread {
    double min, mean, max;
};

static struct spread spread_of(const struct bmst_rank_stats *ranks, int world, size_t i) {
    struct spread s = {field(&ranks[0], i), 0.0, field(&ranks[0], i)};
    for (int r = 0; r < world; r++) {
        double v = field(&ranks[r], i);
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
        s.mean += v / world;
    }
    return s;
}

void bmst_report_init(struct bmst_report *r, struct bmst_comm *comm, const char *path,
                      const struct bmst_report_run *run) {
    memset(r, 0, sizeof *r);
    r->comm = comm;
    r->path = path;
    r->run = *run;
}

static void rank_stats(const struct bmst_comm *comm, const struct bmst_epoch_stats *e,
                       struct bmst_rank_stats *s) {
    memset(s, 0, sizeof *s);
    s->rank = comm->rank;
    s->local_rank = comm->local_rank;
    if (gethostname(s->host, sizeof s->host - 1) != 0) snprintf(s->host, sizeof s->host, "?");
    s->epoch_s = e->seconds;
    s->data_s = e->phase[BMST_PHASE_DATA];
    s->forward_s = e->phase[BMST_PHASE_FORWARD];
    s->backward_s = e->phase[BMST_PHASE_BACKWARD];
    s->allreduce_s = e->phase[BMST_PHASE_ALLREDUCE];
    s->allreduce_hidden_s = e->phase[BMST_PHASE_ALLREDUCE_HIDDEN];
    s->optimizer_s = e->phase[BMST_PHASE_OPTIMIZER];
    s->eval_s = e->eval_seconds;
    s->images = (double)e->images;
    s->images_per_s = e->seconds > 0 ? (double)e->images / e->seconds : 0.0;
    s->peak_rss_mib = e->peak_rss_mib;
    s->planned_mib = e->planned_mib;
    s->device_used_mib = e->device_used_mib;
}

static void print_spread(FILE *out, const struct bmst_report_epoch *e, int world) {
    static const char *const shown[][2] = {
        {"epoch_s", "epoch"}, {"data_s", "data"}, {"forward_s", "fwd"}, {"backward_s", "bwd"},
        {"allreduce_s", "allreduce"}, {"allreduce_hidden_s", "hidden"},
        {"optimizer_s", "opt"}, {"peak_rss_mib", "rss MiB"}};
    fprintf(out, "  %d ranks, min/mean/max:", world);
    for (size_t k = 0; k < sizeof shown / sizeof shown[0]; k++)
        for (size_t i = 0; i < N_FIELDS; i++) {
            if (strcmp(fields[i].name, shown[k][0]) != 0) continue;
            struct spread s = spread_of(e->ranks, world, i);
            fprintf(out, "  %s %.3g/%.3g/%.3g", shown[k][1], s.min, s.mean, s.max);
        }
    fprintf(out, "  global %.0f img/s\n", e->images_per_s);
    fflush(out);
}

static void write_epoch(FILE *f, const struct bmst_report_epoch *e, int world) {
    const struct bmst_epoch_stats *st = &e->stats;
    fprintf(f, "    {\"epoch\": %d, \"steps\": %ld, \"train_loss\": %.6g, \"lr\": %.6g, ",
            st->epoch, e->steps, st->train_loss, (double)st->lr);
    if (st->has_val)
        fprintf(f, "\"val_loss\": %.6g, \"val_accuracy\": %.6g, ", st->val_loss,
                st->val_accuracy);
    if (st->has_test) /* else not scored after this epoch */
        fprintf(f, "\"test_loss\": %.6g, \"test_accuracy\": %.6g, ", st->test_loss,
                st->test_accuracy);
    else
        fputs("\"test_loss\": null, \"test_accuracy\": null, ", f);
    fprintf(f, "\"images_per_s\": %.6g,\n     \"ranks\": [\n", e->images_per_s);
    for (int r = 0; r < world; r++) {
        const struct bmst_rank_stats *s = &e->ranks[r];
        fprintf(f, "      {\"rank\": %d, \"local_rank\": %d, \"host\": ", s->rank, s->local_rank);
        bmst_json_string(f, s->host);
        for (size_t i = 0; i < N_FIELDS; i++) fprintf(f, ", \"%s\": %.6g", fields[i].name, field(s, i));
        fprintf(f, "}%s\n", r + 1 < world ? "," : "");
    }
    fprintf(f, "     ],\n     \"summary\": {");
    for (size_t i = 0; i < N_FIELDS; i++) {
        struct spread s = spread_of(e->ranks, world, i);
        fprintf(f, "%s\"%s\": {\"min\": %.6g, \"mean\": %.6g, \"max\": %.6g}", i ? ", " : "",
                fields[i].name, s.min, s.mean, s.max);
    }
    fprintf(f, "}}");
}

/* The whole text, composed in memory. */
static void compose_json(FILE *f, const struct bmst_report *r) {
    const struct bmst_report_run *run = &r->run;
    int world = r->comm->world;
    fprintf(f, "{\n  \"version\": 1,\n");
    if (run->record) {
        fprintf(f, "  \"run\": ");
        bmst_run_record_json(f, run->record);
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"command\": ");
    bmst_json_string(f, run->command);
    fprintf(f, ",\n  \"arch\": ");
    bmst_json_string(f, run->arch);
    fprintf(f, ",\n  \"dataset\": ");
    bmst_json_string(f, run->dataset);
    fprintf(f, ",\n  \"backend\": ");
    bmst_json_string(f, run->backend);
    fprintf(f, ",\n  \"comm\": ");
    bmst_json_string(f, r->comm->name);
    fprintf(f, ",\n  \"mpi_thread_multiple\": %s", r->comm->mpi_thread_multiple ? "true" : "false");
    fprintf(f, ",\n  \"precision\": ");
    bmst_json_string(f, run->precision);
    fprintf(f, ",\n  \"grad_comm\": ");
    bmst_json_string(f, run->grad_comm);
    fprintf(f,
            ",\n  \"world\": %d,\n  \"batch_per_rank\": %d,\n  \"global_batch\": %d,\n"
            "  \"merge\": %d,\n  \"sync_bn\": %s,\n  \"epochs\": [\n",
            world, run->batch_per_rank, run->batch_per_rank * world, run->merge,
            run->sync_bn ? "true" : "false");
    for (int k = 0; k < r->n_epochs; k++) {
        write_epoch(f, &r->epochs[k], world);
        fprintf(f, "%s\n", k + 1 < r->n_epochs ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
}

/* Composed in memory, then written beside the target and renamed over it
 * (atomic_file.h), so a reader never sees half a report and a full disk is
 * an error, not an empty file. */
static int write_json(const struct bmst_report *r) {
    char *text = NULL;
    size_t length = 0;
    FILE *f = open_memstream(&text, &length);
    if (!f) return bmst_error("cannot write the report %s: %s", r->path, strerror(errno));
    compose_json(f, r);
    int failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        free(text);
        return bmst_error("cannot write the report %s: out of memory", r->path);
    }
    struct bmst_atomic_file out;
    int status = bmst_atomic_open(&out, r->path, "the report");
    if (status == 0 && bmst_atomic_write(&out, text, length) != 0) {
        bmst_atomic_abort(&out);
        status = -1;
    } else if (status == 0) {
        status = bmst_atomic_commit(&out);
    }
    free(text);
    return status;
}

int bmst_report_epoch(struct bmst_report *r, const struct bmst_epoch_stats *mine, long steps) {
    struct bmst_comm *comm = r->comm;
    int world = comm->world;
    struct bmst_rank_stats own;
    rank_stats(comm, mine, &own);
    struct bmst_rank_stats *all =
        comm->rank == 0 ? bmst_xmalloc((size_t)world * sizeof *all) : NULL;
    comm->gather_host(comm, &own, all, sizeof own, 0);
    if (comm->rank != 0) return 0;

    r->epochs = realloc(r->epochs, (size_t)(r->n_epochs + 1) * sizeof *r->epochs);
    BMST_ASSERT(r->epochs);
    struct bmst_report_epoch *e = &r->epochs[r->n_epochs++];
    e->stats = *mine;
    e->steps = steps;
    e->ranks = all;
    double images = 0.0, slowest = 0.0;
    for (int k = 0; k < world; k++) {
        images += all[k].images;
        if (all[k].epoch_s > slowest) slowest = all[k].epoch_s;
    }
    e->images_per_s = slowest > 0 ? images / slowest : 0.0;
    e->slowest_s = slowest;
    return r->path ? write_json(r) : 0;
}

int bmst_report_rewrite(const struct bmst_report *r) {
    return r->comm->rank == 0 && r->path ? write_json(r) : 0;
}

const struct bmst_report_epoch *bmst_report_last(const struct bmst_report *r) {
    return r->n_epochs > 0 ? &r->epochs[r->n_epochs - 1] : NULL;
}

void bmst_report_print_spread(const struct bmst_report *r, FILE *out) {
    const struct bmst_report_epoch *e = bmst_report_last(r);
    if (e && r->comm->world > 1) print_spread(out, e, r->comm->world);
}

void bmst_report_free(struct bmst_report *r) {
    for (int k = 0; k < r->n_epochs; k++) free(r->epochs[k].ranks);
    free(r->epochs);
    memset(r, 0, sizeof *r);
}
