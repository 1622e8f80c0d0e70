/* Linked instead of kernels/cuda/ when the build has no CUDA toolkit. */
#include "backend.h"

#include <stdio.h>

struct bmst_backend *bmst_backend_cuda_create(int device, enum bmst_dtype act_dtype,
                                              unsigned flags, char *why, size_t why_len) {
    (void)device, (void)act_dtype, (void)flags;
    snprintf(why, why_len, "this build has no CUDA backend: it was configured without the CUDA toolkit");
    return NULL;
}
