/* Error reporting: user-caused errors travel upward as return codes with one
 * message; internal invariants abort with file and line. */
#ifndef BMST_ERROR_H
#define BMST_ERROR_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Store a one-line message describing why the current operation failed.
 * Always returns -1 so callers can write `return bmst_error(...)`. */
int bmst_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As bmst_error, for a failure that every rank of a job meets at the same
 * point, because it is decided from values that are the same on every rank
 * (the all-reduced gradients, the replicated weights): a job of several
 * ranks prints it once, from rank 0, without a rank (bmst_comm_fail). */
int bmst_error_shared(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message stored by bmst_error or bmst_error_shared (empty string if
 * none), and whether it was the latter. */
const char *bmst_last_error(void);
int bmst_last_error_shared(void);

/* Print "PROG: error: MESSAGE" on stderr for the stored message ("PROG:
 * rank R on HOST: error: MESSAGE" once the origin is set). */
void bmst_report_error(const char *prog);

/* Who this process is in a job of several ranks, "rank R on HOST", put
 * before every message the process prints about itself (errors, internal
 * errors, notices); empty (the default) in a one-process run. Set once,
 * before any thread starts. */
void bmst_error_set_origin(const char *origin);
/* "rank R on HOST: ", or "" without an origin. */
const char *bmst_error_origin(void);

/* Abort on a broken internal invariant: a bug, not a user error. */
#define BMST_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "bmst_dist: %sinternal error at %s:%d: %s\n", bmst_error_origin(),     \
                    __FILE__, __LINE__, #cond);                                                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* malloc/calloc that end the process with a clear message when memory runs out. */
void *bmst_xmalloc(size_t bytes);
void *bmst_xcalloc(size_t count, size_t size);

#ifdef __cplusplus
}
#endif

#endif
