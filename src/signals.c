/* SIGTERM and SIGUSR1 noted for the training loop (signals.h). The handler
 * only sets a flag: whatever the process is doing (a convolution, an MPI
 * call, an HDF5 read in the loader's thread) finishes, and the loop stops at
 * the next step boundary, where every rank can agree. */
#include "signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t caught;

static void note_signal(int sig) {
    caught |= sig == SIGTERM ? BMST_STOP_TERM : BMST_STOP_USR1;
}

void bmst_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_signal;
    sigemptyset(&sa.sa_mask);
    /* an interrupted read or wait resumes: the stop happens between steps */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

unsigned bmst_signals_caught(void) {
    return (unsigned)caught;
}

const char *bmst_signals_name(unsigned bits) {
    if ((bits & BMST_STOP_TERM) && (bits & BMST_STOP_USR1)) return "SIGTERM and SIGUSR1";
    return bits & BMST_STOP_TERM ? "SIGTERM" : "SIGUSR1";
}
