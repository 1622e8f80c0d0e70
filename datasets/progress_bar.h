/* A progress bar on stderr for bmst_data's long conversions, drawn only when
 * stderr is a terminal (logs and tests see nothing). Updates may come from
 * several threads. */
#ifndef BMST_PROGRESS_BAR_H
#define BMST_PROGRESS_BAR_H

#include <pthread.h>

struct bmst_progress_bar {
    int tty;           /* stderr is a terminal: draw; otherwise every call is a no-op */
    const char *label; /* e.g. "decoding" */
    long total;
    int shown; /* the permille last drawn, -1 before the first */
    pthread_mutex_t lock;
};

void bmst_progress_bar_begin(struct bmst_progress_bar *b, const char *label, long total);
/* `done` of `total` finished; redraws when the bar moved a tenth of a percent. */
void bmst_progress_bar_update(struct bmst_progress_bar *b, long done);
/* Clears the bar, so the next line starts on an empty line. */
void bmst_progress_bar_end(struct bmst_progress_bar *b);

#endif
