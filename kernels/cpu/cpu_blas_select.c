/* OpenBLAS chooses its kernels once, when it loads, from the CPU's model
 * number. On a CPU newer than the library (Debian 12's OpenBLAS 0.3.21 does not
 * know model 207, Emerald Rapids, which these machines report) it falls back to
 * its generic Prescott (SSE3) kernels: sgemm 5x slower than with its AVX-512
 * ones. Only OPENBLAS_CORETYPE, read at load time, overrides the choice, so the
 * process sets it from the CPU's features and executes itself again, once. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend.h"

#ifdef BMST_OPENBLAS
#include <cblas.h>

/* The best OpenBLAS kernel family the CPU's instruction set supports, or NULL. */
static const char *core_for_features(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "SandyBridge";
    return NULL;
}

void bmst_cpu_blas_select(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice, or already re-executed */
    const char *detected = openblas_get_corename();
    if (!detected || strcasecmp(detected, "prescott") != 0) return; /* detection worked */
    const char *core = core_for_features();
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with the generic kernels */
}
#else
void bmst_cpu_blas_select(char **argv) {
    (void)argv;
}
#endif
