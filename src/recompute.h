/* Recomputation (--recompute): values backward gets by running their
 * producers' forward again, just before the first backward that reads
 * them, instead of keeping them from forward. `bn-relu` reruns every
 * batch norm followed by a ReLU (conv -> bn -> relu, or a pre-activation's
 * bn -> relu) from the batch norm's input, which is kept; `block` reruns
 * everything inside each residual block from the block's input. A rerun
 * computes exactly what forward did (the same kernels on the same inputs;
 * a batch norm's running statistics are not updated twice), so training
 * is bit-identical to `none`. docs/design-notes.md ("Recomputation"). */
#ifndef BMST_RECOMPUTE_H
#define BMST_RECOMPUTE_H

#include "exec.h"

/* Planning (graph.c), in a training graph: which nodes are rerun and
 * which values they produce again (g->reruns, node.rerun,
 * value.recompute, value.rerun_input). -1 with one line when --recompute
 * block meets a network with no residual blocks. */
int bmst_recompute_mark(struct bmst_graph *g);
/* Keeps what a rerun reads alive until that rerun. */
void bmst_recompute_extend(const struct bmst_graph *g, int steps, int *last_use);
/* 1 when value v is produced again by a rerun, with [*first, *last] the
 * steps its rerun buffer must hold; else 0. */
int bmst_recompute_span(const struct bmst_graph *g, int steps, const int *last_backward, int v,
                        int *first, int *last);

/* Running (exec.c): the reruns due before node i's backward. */
void bmst_recompute_run(struct bmst_exec *x, int i);

/* --recompute's names: "none", "bn-relu", "block". parse: 0, or -1 for an unknown name. */
const char *bmst_recompute_name(enum bmst_recompute mode);
int bmst_recompute_parse(const char *text, enum bmst_recompute *mode);

#endif
