/* The `info` and `bench` commands. */
#ifndef BMST_INSPECT_H
#define BMST_INSPECT_H

#include "cli.h"
#include "comm.h"

/* Layers, parameters and planned memory of a network. */
int bmst_info(const struct bmst_cli *cli);
/* Training steps on synthetic inputs: images/s, per-op times, conv GFLOP/s
 * against the backend's sgemm rate, planned and peak memory. On several
 * ranks every step all-reduces its gradients and rank 0 prints. Takes over
 * comm and ends it. */
int bmst_bench(const struct bmst_cli *cli, struct bmst_comm *comm);

#endif
