/* Progress of a long loop: a redrawn bar on a terminal, a plain line every
 * tenth of the work otherwise (logs and CI stay readable). */
#ifndef BMST_PROGRESS_H
#define BMST_PROGRESS_H

#include <stdio.h>

struct bmst_progress {
    FILE *out;
    int tty;
    const char *label;
    long total;
    long next_line; /* non-terminal: the next count that prints a line */
    double start;
};

/* out = NULL shows nothing (the ranks other than 0 of a distributed run). */
void bmst_progress_begin(struct bmst_progress *p, FILE *out, const char *label, long total);
/* `done` items of `total`; `status` is a short text such as "loss 0.41". */
void bmst_progress_update(struct bmst_progress *p, long done, const char *status);
/* Clears the bar on a terminal so the next line starts clean. */
void bmst_progress_end(struct bmst_progress *p);

#endif
