/* OpenBLAS under an address-space limit (ulimit -v, RLIMIT_AS, which some
 * cluster schedulers set). OpenBLAS 0.3.21 (Debian 12's) takes a buffer of
 * about 140 MiB of address space per thread: some when it loads, the rest at
 * the first multi-threaded sgemm. Where the limit leaves no room for one, it
 * retries forever instead of failing (OpenBLAS issue 5289, fixed after
 * 0.3.21): the process spins before main, or in its first convolution. So the
 * limit is checked before OpenBLAS loads, and when the CPU backend is made,
 * which then has OpenBLAS take all its buffers at once (a small sgemm on every
 * thread) before anything else can use the room: a later shortage is then an
 * ordinary allocation failure with its own message. A run that would not fit
 * ends with one line saying what to change. Without a limit nothing is
 * checked, and OpenBLAS takes its buffers when it first needs them.
 *
 * The sizes are measured, not OpenBLAS's documented ones (it has none): a
 * program that only links OpenBLAS grows by 128-148 MiB per buffer. It takes
 * one buffer per thread when it loads, for as many threads as the
 * environment asks, up to the CPU count; an sgemm on T threads then adds
 * T - (that count) + 1 more (1, 1, 3 and 7 for T = 1, 2, 4 and 8 on two CPUs). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cpu_internal.h"
#include "error.h"

#ifdef BMST_OPENBLAS
#include <cblas.h>
#endif

#define MIB ((size_t)1 << 20)
#define BLAS_BUFFER_BYTES (144 * MIB) /* one thread's OpenBLAS buffer, rounded up */
#define SLACK_BYTES (64 * MIB)        /* the loader, the C library's arenas, small things */

/* The soft address-space limit, or SIZE_MAX where there is none. */
static size_t address_space_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
    return (size_t)r.rlim_cur;
}

/* The address space this process has mapped now, or 0 where /proc cannot
 * tell (then nothing is checked). */
static size_t address_space_used(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* The thread count OpenBLAS reads from the environment when it loads, or 0. */
static int blas_threads_from_env(void) {
    static const char *const names[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                        "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        int n = v ? atoi(v) : 0;
        if (n > 0) return n;
    }
    return 0;
}

/* The buffers OpenBLAS takes when it loads. */
static int buffers_at_load(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = blas_threads_from_env();
    if (threads <= 0 || threads > cpus) threads = cpus > 0 ? (int)cpus : 1;
    return threads;
}

/* Before any library initializes (the executable's .preinit_array runs ahead
 * of every shared library's initializer, OpenBLAS's included). */
static void check_before_blas_loads(int argc, char **argv, char **envp) {
    (void)argc, (void)envp;
    size_t limit = address_space_limit(), used = address_space_used();
    if (limit == SIZE_MAX || used == 0) return;
    int threads = buffers_at_load();
    size_t need = used + (size_t)threads * BLAS_BUFFER_BYTES + SLACK_BYTES;
    if (need <= limit) return;
    const char *prog = argv && argv[0] ? strrchr(argv[0], '/') : NULL;
    fprintf(stderr,
            "%s: error: the address-space limit (ulimit -v) of %zu MiB is too small: the "
            "program's libraries take %zu MiB and OpenBLAS needs about %zu MiB for %d threads "
            "when it loads; raise the limit to %zu MiB or more, or run fewer threads "
            "(OMP_NUM_THREADS)\n",
            prog ? prog + 1 : "bmst_dist", limit / MIB, used / MIB,
            (size_t)threads * BLAS_BUFFER_BYTES / MIB, threads, need / MIB);
    _exit(1);
}
__attribute__((used, section(".preinit_array"))) static void (*const preinit_check)(
    int, char **, char **) = check_before_blas_loads;

int cpu_blas_reserve(int threads) {
    size_t limit = address_space_limit(), used = address_space_used();
    if (limit == SIZE_MAX || used == 0) return 0;
    struct rlimit stack;
    size_t stack_bytes = getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY
                             ? (size_t)stack.rlim_cur
                             : 8 * MIB;
    /* the buffers the first sgemm adds, and every OpenMP thread's stack */
    int added = threads - buffers_at_load() + 1;
    size_t blas = (size_t)(added > 1 ? added : 1) * BLAS_BUFFER_BYTES + (size_t)threads * stack_bytes;
    size_t need = used + blas + SLACK_BYTES;
    if (need > limit)
        return bmst_error("the address-space limit (ulimit -v) of %zu MiB is too small: %zu MiB "
                          "are in use and OpenBLAS needs about %zu MiB more for %d threads; "
                          "raise the limit to %zu MiB or more, or lower --threads",
                          limit / MIB, used / MIB, blas / MIB, threads, need / MIB);
#ifdef BMST_OPENBLAS
    /* any size that runs on every thread takes every thread's buffer */
    enum { N = 128 };
    float *m = bmst_xcalloc(3 * N * N, sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, m, N, m + N * N, N,
                0.0f, m + 2 * N * N, N);
    free(m);
#endif
    return 0;
}
