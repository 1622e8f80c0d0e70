/* One stored error message per thread, filled where a failure is detected and
 * printed once by whoever decides the process ends. */
#include "error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char last_message[512];

int bmst_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return -1;
}

const char *bmst_last_error(void) {
    return last_message;
}

void bmst_report_error(const char *prog) {
    fprintf(stderr, "%s: error: %s\n", prog, last_message[0] ? last_message : "unknown failure");
}

void *bmst_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bmst_dist: error: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

void *bmst_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "bmst_dist: error: out of memory allocating %zu x %zu bytes\n", count, size);
        exit(1);
    }
    return p;
}
