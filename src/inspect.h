/* The `info` and `bench` commands. */
#ifndef BMST_INSPECT_H
#define BMST_INSPECT_H

#include "cli.h"

/* Layers, parameters and planned memory of a network. */
int bmst_info(const struct bmst_cli *cli);
/* Training steps on synthetic inputs: images/s, per-op times, conv GFLOP/s
 * against the backend's sgemm rate, planned and peak memory. */
int bmst_bench(const struct bmst_cli *cli);

#endif
