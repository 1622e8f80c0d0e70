/* Progress display. */
#include "progress.h"

#include <unistd.h>

#include "stats.h"

#define BAR_WIDTH 30

void bmst_progress_begin(struct bmst_progress *p, FILE *out, const char *label, long total) {
    p->out = out;
    p->tty = out && isatty(fileno(out));
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->next_line = (p->total + 9) / 10;
    p->start = bmst_now();
}

void bmst_progress_update(struct bmst_progress *p, long done, const char *status) {
    if (!p->out) return;
    double elapsed = bmst_now() - p->start;
    double eta = done > 0 ? elapsed * (double)(p->total - done) / (double)done : 0.0;
    if (p->tty) {
        int filled = (int)(BAR_WIDTH * done / p->total);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        bar[BAR_WIDTH] = '\0';
        fprintf(p->out, "\r%s [%s] %ld/%ld %s  %.0fs<%.0fs ", p->label, bar, done, p->total,
                status, elapsed, eta);
        fflush(p->out);
    } else if (done >= p->next_line || done == p->total) {
        fprintf(p->out, "%s %ld/%ld (%3.0f%%) %s %.0fs\n", p->label, done, p->total,
                100.0 * (double)done / (double)p->total, status, elapsed);
        fflush(p->out);
        while (p->next_line <= done) p->next_line += (p->total + 9) / 10;
    }
}

void bmst_progress_end(struct bmst_progress *p) {
    if (p->tty) {
        fprintf(p->out, "\r%*s\r", 100, "");
        fflush(p->out);
    }
}
