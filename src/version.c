/* `bmst_dist --version` (version.h). */
#include "version.h"

void bmst_version_print(FILE *out) {
    fprintf(out, "bmst_dist %s (commit %s)\n", bmst_version, bmst_build_commit);
    fprintf(out, "backends: %s\n", bmst_build_backends);
    fprintf(out, "precisions: %s\n", BMST_PRECISIONS);
    fprintf(out, "communicators: %s\n", bmst_build_comms);
}
