/* The `bench` command. */
#ifndef BMST_BENCH_H
#define BMST_BENCH_H

#include "cli.h"
#include "comm.h"

/* Training steps on synthetic inputs: images/s, per-op times, conv GFLOP/s
 * against the backend's sgemm rate, planned and peak memory. On several
 * ranks every step all-reduces its gradients and rank 0 prints. Takes over
 * comm and ends it. */
int bmst_bench(const struct bmst_cli *cli, struct bmst_comm *comm);

#endif
