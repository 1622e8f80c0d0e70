/* `bmst_dist info --max-batch --memory SIZE`: the largest training batch
 * whose planned memory fits SIZE, found by planning (never allocating) the
 * network at candidate batches. */
#ifndef BMST_MAX_BATCH_H
#define BMST_MAX_BATCH_H

#include <stddef.h>

#include "cli.h"

/* A memory size: a number (fractions allowed) and an optional unit. B or
 * none: bytes; K, M, G, T and KiB, MiB, GiB, TiB: powers of 1024; KB, MB,
 * GB, TB: powers of 1000 (SI). 0, or -1 with one line naming the text. */
int bmst_size_parse(const char *opt, const char *text, size_t *bytes);

/* Prints the largest batch (a multiple of --merge) whose planned memory,
 * what `info` calls "in all" (weights, gradients, optimizer state, the
 * training and evaluation arenas and workspaces at that batch), is at most
 * cli->memory_bytes, with what that batch and the next plan. -1 with one
 * line when even the smallest batch does not fit. */
int bmst_info_max_batch(const struct bmst_cli *cli);

#endif
