/* One stored error message per thread, filled where a failure is detected and
 * printed once by whoever decides the process ends. */
#include "error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char last_message[512];
static _Thread_local int last_shared; /* stored by bmst_error_shared */
/* "rank R on HOST: " in a job of several ranks; written once, before threads start */
static char origin[160];

static int store(int shared, const char *fmt, va_list ap) {
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    last_shared = shared;
    return -1;
}

int bmst_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    store(0, fmt, ap);
    va_end(ap);
    return -1;
}

int bmst_error_shared(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    store(1, fmt, ap);
    va_end(ap);
    return -1;
}

const char *bmst_last_error(void) {
    return last_message;
}

int bmst_last_error_shared(void) {
    return last_shared;
}

void bmst_report_error(const char *prog) {
    fprintf(stderr, "%s: %serror: %s\n", prog, origin,
            last_message[0] ? last_message : "unknown failure");
}

void bmst_error_set_origin(const char *who) {
    if (who && *who)
        snprintf(origin, sizeof origin, "%s: ", who);
    else
        origin[0] = '\0';
}

const char *bmst_error_origin(void) {
    return origin;
}

static void (*job_end)(void *ctx, int code);
static void *job_end_ctx;

void bmst_set_job_end(void (*end)(void *ctx, int code), void *ctx) {
    job_end = end;
    job_end_ctx = ctx;
}

void bmst_fatal(const char *lib, const char *file, int line, const char *call,
                const char *message) {
    const char *base = strrchr(file, '/');
    fprintf(stderr, "bmst_dist: %serror: %s call failed at %s:%d: %s: %s\n", origin, lib,
            base ? base + 1 : file, line, call, message);
    fflush(stderr);
    if (job_end) job_end(job_end_ctx, 1);
    exit(1);
}

void *bmst_xmalloc_at(size_t bytes, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        char what[64];
        snprintf(what, sizeof what, "out of memory allocating %zu bytes", bytes);
        bmst_fatal("C library", file, line, "malloc", what);
    }
    return p;
}

void *bmst_xcalloc_at(size_t count, size_t size, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        char what[64];
        snprintf(what, sizeof what, "out of memory allocating %zu x %zu bytes", count, size);
        bmst_fatal("C library", file, line, "calloc", what);
    }
    return p;
}

void *bmst_xrealloc_at(void *p, size_t bytes, const char *file, int line) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        char what[64];
        snprintf(what, sizeof what, "out of memory growing a buffer to %zu bytes", bytes);
        bmst_fatal("C library", file, line, "realloc", what);
    }
    return q;
}
