/* What a training run was, for the JSON report's "run" object: the command
 * line as given, every resolved option, the dataset, the build (version and
 * git commit), the hosts, the Slurm job, when it started and last reported,
 * how it ended, and its best accuracy: on /val when the dataset has one,
 * else on /test (docs/distributed.md, "The report"). */
#ifndef BMST_RUN_RECORD_H
#define BMST_RUN_RECORD_H

#include <stdio.h>
#include <time.h>

#include "backend.h"
#include "comm.h"
#include "dataset.h"
#include "train.h"

struct bmst_run_record {
    const struct bmst_run_config *cfg; /* argv, paths, the options below come from it */
    const struct bmst_dataset_info *data;
    const struct bmst_comm *comm;  /* the ranks' hosts */
    struct bmst_settings options;  /* every option the ranks agree on, resolved */
    char started[32], updated[32]; /* ISO 8601 UTC: the run's start, its last report */
    const char *state;             /* "running", "done", "stopped" (a signal) or "failed" */
    double best_accuracy;          /* the best /val (else /test) accuracy so far, 0 to 1, and its */
    int best_epoch;                /* epoch (1-based; 0: none yet) */
};

/* Fills the record for a run that started at `started`, on backend `be`. */
void bmst_run_record_init(struct bmst_run_record *r, const struct bmst_run_config *cfg,
                          const struct bmst_dataset_info *data, const struct bmst_backend *be,
                          const struct bmst_comm *comm, time_t started);
/* Marks the record as of now: `state`, and the time in `updated`. */
void bmst_run_record_update(struct bmst_run_record *r, const char *state);
/* `s` as a JSON string, quoted and escaped. */
void bmst_json_string(FILE *f, const char *s);
/* The record as a JSON object (no trailing newline). */
void bmst_run_record_json(FILE *f, const struct bmst_run_record *r);
/* What the record knows when the run starts, as the CSV file's first lines:
 * "# NAME: VALUE", the JSON object's names ("argv" as its JSON array,
 * "options.--lr", "dataset.train", "hosts" separated by spaces; none of
 * "updated", "state" and the best accuracy, which come later). Returns the
 * text, malloc'd. */
char *bmst_run_record_comments(const struct bmst_run_record *r);

#endif
