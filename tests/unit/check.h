/* A tiny assertion helper for the C test programs: CHECK records a failure with
 * its location and keeps going; check_finish prints "N passed, N failed". */
#ifndef BMST_TEST_CHECK_H
#define BMST_TEST_CHECK_H

#include <stdio.h>

extern int check_passed, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Prints the totals and returns the process exit code (0 only if nothing failed
 * and at least one check ran). */
int check_finish(const char *suite);

#endif
