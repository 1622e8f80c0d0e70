/* The run's report across ranks: every epoch, each rank's timings and memory
 * are gathered on rank 0, which prints min / mean / max over the ranks and
 * the global rate, and rewrites a JSON file with every rank's figures for
 * every epoch so far (docs/distributed.md describes its fields). A
 * one-process run writes the same report with one rank. */
#ifndef BMST_REPORT_H
#define BMST_REPORT_H

#include <stdio.h>

#include "comm.h"
#include "run_record.h"
#include "stats.h"

/* What the report says about the run as a whole. */
struct bmst_report_run {
    const char *command, *arch, *dataset, *backend, *precision, *grad_comm;
    int batch_per_rank, merge, sync_bn;
    const struct bmst_run_record *record; /* what was run (the "run" object); NULL: none */
};

/* One rank's epoch, as gathered (the same layout on every rank). */
struct bmst_rank_stats {
    int rank, local_rank;
    char host[64];
    double epoch_s, data_s, forward_s, backward_s, allreduce_s, allreduce_hidden_s, optimizer_s,
        eval_s, images, images_per_s, peak_rss_mib, planned_mib, device_used_mib;
};

struct bmst_report_epoch {
    struct bmst_epoch_stats stats; /* rank 0's, with the loss averaged over ranks */
    long steps;
    double images_per_s; /* all ranks' images over the slowest rank's time */
    double slowest_s;    /* the slowest rank's epoch_s */
    struct bmst_rank_stats *ranks; /* [world] */
};

struct bmst_report {
    struct bmst_comm *comm;
    const char *path; /* NULL: print only */
    struct bmst_report_run run;
    struct bmst_report_epoch *epochs; /* rank 0 */
    int n_epochs;
};

void bmst_report_init(struct bmst_report *r, struct bmst_comm *comm, const char *path,
                      const struct bmst_report_run *run);
/* Collective: every rank calls it after each epoch with its own figures.
 * Rank 0 keeps them and rewrites the JSON file. Returns -1 with a message when
 * the file cannot be written. */
int bmst_report_epoch(struct bmst_report *r, const struct bmst_epoch_stats *mine, long steps);
/* Rank 0 with a path: writes the file again, for a record that changed
 * since the last epoch (how the run ended). 0, or -1 with a message. */
int bmst_report_rewrite(const struct bmst_report *r);
/* Rank 0: the epoch just gathered (NULL on other ranks). */
const struct bmst_report_epoch *bmst_report_last(const struct bmst_report *r);
/* Rank 0: min / mean / max across the ranks of the last epoch's phases and
 * peak RSS, and the global images/s, as one line (several ranks only). */
void bmst_report_print_spread(const struct bmst_report *r, FILE *out);
void bmst_report_free(struct bmst_report *r);

#endif
