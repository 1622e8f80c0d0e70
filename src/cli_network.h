/* The network that `info` and `bench` build from their command line. */
#ifndef BMST_CLI_NETWORK_H
#define BMST_CLI_NETWORK_H

#include "cli.h"
#include "engine.h"

/* A network with a training graph (and an evaluation graph for info). */
struct bmst_cli_network {
    struct bmst_engine engine;
    struct bmst_network_spec spec;
};

/* Opens the engine for the command line's network; with_eval: an evaluation
 * graph at the training batch too; gpu: the node-local rank; quiet: no notice
 * of a CPU fallback (a job's ranks but rank 0). -1 with the reason in
 * bmst_last_error(); bmst_engine_close(&b->engine) releases it either way. */
int bmst_cli_network_open(const struct bmst_cli *cli, int with_eval, int gpu, int quiet,
                          struct bmst_cli_network *b);
/* The same network with an evaluation graph, built and planned on the
 * command line's device without allocating the plan (quiet, GPU 0): what
 * it would take (bmst_engine_planned_bytes). Released as above. */
int bmst_cli_network_plan(const struct bmst_cli *cli, struct bmst_cli_network *b);

#endif
