/* Stop requests from a cluster: SIGTERM (Slurm's time limit, preemption,
 * scancel) and SIGUSR1 (sbatch --signal=USR1@SECONDS, the warning before the
 * limit) are caught and only noted; the training loop asks at every step
 * boundary, the ranks agree, and the run checkpoints and exits with
 * BMST_EXIT_STOPPED (docs/cli.md, "Stopping and requeueing"). */
#ifndef BMST_SIGNALS_H
#define BMST_SIGNALS_H

/* The exit status of a run stopped by SIGTERM or SIGUSR1 at a step boundary
 * (its checkpoint written when it has --save): not 0, since the run is not
 * finished, and neither 1 (a failure) nor 2 (a bad command line), so a job
 * script can tell "resubmit me" from "something is wrong". */
#define BMST_EXIT_STOPPED 3

/* Bits of what a process was asked: one per signal caught. */
enum bmst_stop_signal {
    BMST_STOP_TERM = 1u << 0, /* SIGTERM */
    BMST_STOP_USR1 = 1u << 1, /* SIGUSR1 */
};

/* Catches SIGTERM and SIGUSR1 from now on (only noting them). Called once by
 * `train`, after MPI has started. */
void bmst_signals_install(void);

/* The enum bmst_stop_signal bits caught so far; 0 for none. */
unsigned bmst_signals_caught(void);

/* "SIGTERM", "SIGUSR1" or "SIGTERM and SIGUSR1" for a nonzero set of bits. */
const char *bmst_signals_name(unsigned bits);

#endif
