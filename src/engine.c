/* Backend choice and the one-reservation setup of a network (see engine.h). */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "param_groups.h"

/* The CPU backend takes no determinism flag: it gives the same bits on every
 * run with the same thread count already (fixed-order reductions, no atomics,
 * and OpenBLAS dividing a product among threads as a function of its shape and
 * the thread count alone; another thread count gives other bits). */
struct bmst_backend *bmst_backend_open(const struct bmst_engine_config *c) {
    if (c->device == BMST_DEVICE_CHOICE_CPU)
        return bmst_backend_cpu_create(c->threads, c->precision);
    char why[256] = "";
    unsigned flags = c->deterministic ? BMST_BACKEND_DETERMINISTIC : 0;
    struct bmst_backend *be =
        bmst_backend_cuda_create(c->gpu, c->precision, flags, why, sizeof why);
    if (be) return be;
    if (c->device == BMST_DEVICE_CHOICE_CUDA) {
        bmst_error("--device cuda: %s", why);
        return NULL;
    }
    /* information, not an error: stdout, beside the run's other report lines */
    if (!c->quiet) {
        printf("bmst_dist: %sno GPU (%s); running on the CPU\n", bmst_error_origin(), why);
        fflush(stdout);
    }
    return bmst_backend_cpu_create(c->threads, c->precision);
}

/* Allocations carved from the reservation start on 256-byte boundaries (a
 * device allocation's alignment), so each may leave up to that much unused
 * before the next. bmst_exec_init makes two: the arena and the
 * workspace. */
#define DEVICE_ALIGN 256
#define GRAPH_ALLOCATIONS 2

static size_t alignment_slack(const struct bmst_engine *e) {
    int allocations = bmst_model_allocations(&e->model) + bmst_optim_allocations(&e->optim) +
                      (e->train_graph.nodes ? GRAPH_ALLOCATIONS : 0) +
                      (e->eval_graph.nodes ? GRAPH_ALLOCATIONS : 0);
    return (size_t)allocations * DEVICE_ALIGN;
}

/* --freeze, --freeze-bn and the head, before anything is placed; the run
 * says what is frozen, in one line. */
static int freeze_parameters(struct bmst_engine *e, const struct bmst_engine_config *c) {
    const struct bmst_optim_config *o = &c->optim;
    if (bmst_param_groups_apply(&e->model, &e->train_graph, o->freeze, o->freeze_bn) != 0)
        return -1;
    if (!o->freeze || c->quiet) return 0;
    int tensors;
    size_t numbers;
    bmst_param_groups_frozen(&e->model, &tensors, &numbers);
    printf("bmst_dist: --freeze %s: %d tensors, %zu parameters frozen%s\n", o->freeze, tensors,
           numbers, o->freeze_bn ? ", their batch norms' running statistics too" : "");
    fflush(stdout);
    return 0;
}

int bmst_engine_plan(struct bmst_engine *e, const struct bmst_engine_config *c) {
    memset(e, 0, sizeof *e);
    e->be = bmst_backend_open(c);
    if (!e->be) return -1;
    bmst_model_init(&e->model, e->be, c->spec.arch);
    struct bmst_graph *train = &e->train_graph, *eval = &e->eval_graph;
    if (c->train_batch > 0) {
        bmst_graph_init(train, &e->model, 1, c->train_batch, c->merge, c->spec.classes);
        train->act_codec = c->act_codec;
        train->division_block = c->division_block;
        train->division_bits = c->division_bits;
        train->recompute = c->recompute;
        if (bmst_network_build(train, &c->spec) != 0) return -1;
    }
    if (c->eval_batch > 0) {
        bmst_graph_init(eval, &e->model, 0, c->eval_batch, 1, c->spec.classes);
        if (bmst_network_build(eval, &c->spec) != 0) return -1;
    }
    if (train->nodes && freeze_parameters(e, c) != 0) return -1;
    if (train->nodes && bmst_optim_init(&e->optim, &e->model, &c->optim) != 0) return -1;
    if (train->nodes && bmst_graph_plan(train) != 0) return -1;
    if (eval->nodes && bmst_graph_plan(eval) != 0) return -1;
    return 0;
}

int bmst_engine_open(struct bmst_engine *e, const struct bmst_engine_config *c) {
    if (bmst_engine_plan(e, c) != 0) return -1;
    struct bmst_graph *train = &e->train_graph, *eval = &e->eval_graph;
    if (e->be->reserve) {
        size_t bytes = bmst_engine_planned_bytes(e) + alignment_slack(e);
        char why[512];
        if (e->be->reserve(e->be, bytes, why, sizeof why) != 0)
            return bmst_error("%s at batch %d: %s", c->spec.arch,
                              c->train_batch > 0 ? c->train_batch : c->eval_batch, why);
    }
    if (bmst_model_allocate(&e->model) != 0 || bmst_optim_allocate(&e->optim) != 0) return -1;
    if (train->nodes && bmst_exec_init(&e->train, train) != 0) return -1;
    e->train.capture = c->capture;
    if (eval->nodes && bmst_exec_init(&e->eval, eval) != 0) return -1;
    bmst_model_initialize(&e->model, c->seed);
    return 0;
}

void bmst_engine_close(struct bmst_engine *e) {
    bmst_exec_free(&e->train);
    bmst_exec_free(&e->eval);
    if (e->train_graph.nodes) bmst_graph_free(&e->train_graph);
    if (e->eval_graph.nodes) bmst_graph_free(&e->eval_graph);
    bmst_optim_free(&e->optim);
    if (e->model.be) bmst_model_free(&e->model);
    if (e->be) e->be->destroy(e->be);
    memset(e, 0, sizeof *e);
}

size_t bmst_engine_planned_bytes(const struct bmst_engine *e) {
    size_t bytes = bmst_model_bytes(&e->model) + bmst_optim_bytes(&e->optim);
    if (e->train_graph.nodes) bytes += bmst_graph_device_bytes(&e->train_graph);
    if (e->eval_graph.nodes) bytes += bmst_graph_device_bytes(&e->eval_graph);
    return bytes;
}
