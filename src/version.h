/* What this program is: its version, the git commit it was built from and
 * what the build includes, as `bmst_dist --version` and the JSON report say
 * it. The values are written at build time (cmake/build_id.cmake). */
#ifndef BMST_VERSION_H
#define BMST_VERSION_H

#include <stdio.h>

extern const char bmst_version[];        /* "0.1.0", CMake's project version */
extern const char bmst_build_commit[];   /* "1a2b3c4d5e6f", "...-dirty", or "unknown" */
extern const char bmst_build_backends[]; /* "cpu" or "cpu cuda" */
extern const char bmst_build_comms[];    /* "single", then "mpi" and "nccl" when built in */

/* The precisions every build trains in (emulated on the CPU). */
#define BMST_PRECISIONS "fp32 fp16 bf16"

/* `bmst_dist --version`: the version and commit, then what was compiled in. */
void bmst_version_print(FILE *out);

#endif
