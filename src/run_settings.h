/* What the ranks of a job must agree on before their first collective
 * (bmst_comm_agree in comm.h): the options that change the sequence of
 * collectives or the math of a step, the data's shape and sizes, and the
 * backend each rank ended up on. */
#ifndef BMST_RUN_SETTINGS_H
#define BMST_RUN_SETTINGS_H

#include "comm.h"
#include "dataset.h"
#include "train.h"

/* The command and the run options, as their command-line names. */
void bmst_run_settings(struct bmst_settings *s, const char *command,
                       const struct bmst_run_config *cfg);
/* The dataset's name, image shape, classes and split sizes. */
void bmst_run_settings_data(struct bmst_settings *s, const struct bmst_dataset_info *info);
/* "cpu" or "cuda": ranks on different kinds of backend cannot share collectives. */
void bmst_run_settings_backend(struct bmst_settings *s, const struct bmst_backend *be);

#endif
