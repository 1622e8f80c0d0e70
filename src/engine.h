/* A network ready to run: the backend that --device and --precision name, the
 * model, its optimizer, and its training and evaluation graphs, planned first
 * and then placed in one device reservation, so the peak is known before the
 * first step and a step allocates nothing. */
#ifndef BMST_ENGINE_H
#define BMST_ENGINE_H

#include <stdint.h>

#include "exec.h"
#include "model.h"
#include "models/models.h"
#include "optim/optim.h"

enum bmst_device_choice {
    BMST_DEVICE_CHOICE_CPU,
    BMST_DEVICE_CHOICE_CUDA,
    BMST_DEVICE_CHOICE_AUTO, /* the GPU when one is usable, else the CPU with a notice */
};

struct bmst_engine_config {
    enum bmst_device_choice device;
    enum bmst_dtype precision;
    int threads;       /* CPU threads; <= 0: OpenMP's default */
    int gpu;           /* the node-local rank: which visible GPU (modulo their number) */
    int capture;       /* record the training pass once and replay it (CUDA graph) */
    int deterministic; /* --deterministic: the GPU gives the same bits every run */
    int quiet;         /* no notice of a CPU fallback (the job's other ranks but rank 0) */
    enum bmst_act_codec act_codec; /* how the training graph keeps what backward reads */
    int division_block, division_bits; /* the division codec's B and Q */
    enum bmst_recompute recompute;     /* what the training graph's backward reruns */
    struct bmst_network_spec spec;
    int train_batch; /* 0: no training graph (and no optimizer) */
    int merge;
    struct bmst_optim_config optim; /* with a training graph */
    int eval_batch; /* 0: no evaluation graph */
    uint64_t seed;  /* initial weights */
};

struct bmst_engine {
    struct bmst_backend *be;
    struct bmst_model model;
    struct bmst_graph train_graph, eval_graph; /* the plans */
    struct bmst_exec train, eval;              /* running them */
    struct bmst_optim optim;                   /* with a training graph */
};

/* The backend for c's device choice, precision, threads, GPU and
 * determinism: NULL with the reason in bmst_last_error() when --device cuda
 * has no usable GPU. */
struct bmst_backend *bmst_backend_open(const struct bmst_engine_config *c);

/* Builds and plans, allocating nothing of the plan (bmst_engine_planned_bytes
 * is then known); -1 with the reason in bmst_last_error(). */
int bmst_engine_plan(struct bmst_engine *e, const struct bmst_engine_config *c);
/* Builds, plans, reserves, allocates and initializes. Returns -1 with the
 * reason in bmst_last_error(); bmst_engine_close releases what was made. */
int bmst_engine_open(struct bmst_engine *e, const struct bmst_engine_config *c);
void bmst_engine_close(struct bmst_engine *e);

/* Bytes planned on the device: model buffers, optimizer state, both arenas
 * and workspaces. */
size_t bmst_engine_planned_bytes(const struct bmst_engine *e);

#endif
