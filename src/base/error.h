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

/* The one failure path for a library call that cannot fail here and go on
 * (CUDA, cuDNN, cuBLAS, NCCL, MPI) and for memory that runs out: prints
 * "bmst_dist: [rank R on HOST: ]error: LIB call failed at FILE:LINE: CALL:
 * MESSAGE" and ends the job (bmst_set_job_end), never returning. */
__attribute__((noreturn)) void bmst_fatal(const char *lib, const char *file, int line,
                                          const char *call, const char *message);

/* How a fatal failure ends the job: end(ctx, code) must not return. Without
 * one (a one-process run) the process exits; comm/ sets MPI's abort, which
 * ends every rank, while a job of several ranks runs, and clears it (NULL)
 * when the job's communicator ends. */
void bmst_set_job_end(void (*end)(void *ctx, int code), void *ctx);

/* malloc/calloc/realloc that end the job (bmst_fatal, naming the caller's file and
 * line) when memory runs out. */
void *bmst_xmalloc_at(size_t bytes, const char *file, int line);
void *bmst_xcalloc_at(size_t count, size_t size, const char *file, int line);
#define bmst_xmalloc(bytes) bmst_xmalloc_at((bytes), __FILE__, __LINE__)
#define bmst_xcalloc(count, size) bmst_xcalloc_at((count), (size), __FILE__, __LINE__)
void *bmst_xrealloc_at(void *p, size_t bytes, const char *file, int line);
#define bmst_xrealloc(p, bytes) bmst_xrealloc_at((p), (bytes), __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif
