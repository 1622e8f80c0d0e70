/* The progress bar of bmst_data: "\r" redraws of one line, cleared at the end. */
#include "progress_bar.h"

#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 40

void bmst_progress_bar_begin(struct bmst_progress_bar *b, const char *label, long total) {
    b->tty = isatty(STDERR_FILENO);
    b->label = label;
    b->total = total > 0 ? total : 1;
    b->shown = -1;
    pthread_mutex_init(&b->lock, NULL);
    bmst_progress_bar_update(b, 0);
}

void bmst_progress_bar_update(struct bmst_progress_bar *b, long done) {
    if (!b->tty) return;
    int permille = (int)(done * 1000 / b->total);
    pthread_mutex_lock(&b->lock);
    if (permille > b->shown) {
        b->shown = permille;
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < permille * BAR_WIDTH / 1000 ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %5.1f%% %ld/%ld", b->label, bar, permille / 10.0, done,
                b->total);
        fflush(stderr);
    }
    pthread_mutex_unlock(&b->lock);
}

void bmst_progress_bar_end(struct bmst_progress_bar *b) {
    if (b->tty) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    pthread_mutex_destroy(&b->lock);
}
