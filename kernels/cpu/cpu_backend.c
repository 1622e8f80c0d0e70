/* The CPU backend object: creation (thread count for OpenMP and OpenBLAS, the
 * ops' kernel groups), destruction, and host memory, which is all the CPU
 * "device" memory is. */
#include "cpu_internal.h"

#include "error.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Cache-line alignment keeps vector loads of every buffer aligned and stops two
 * buffers sharing a line that two threads write. */
#define CPU_ALIGN 64

static void *cpu_alloc(struct bmst_backend *be, size_t bytes) {
    (void)be;
    /* aligned_alloc wants a multiple of the alignment, and a zero-byte request
     * must still give a pointer that free accepts and NULL only on failure */
    size_t rounded = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    if (rounded < bytes) return NULL; /* overflow */
    return aligned_alloc(CPU_ALIGN, rounded ? rounded : CPU_ALIGN);
}

static void cpu_free(struct bmst_backend *be, void *ptr) {
    (void)be;
    free(ptr);
}

static void cpu_copy(struct bmst_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes && dst != src) memmove(dst, src, bytes);
}

static void cpu_zero(struct bmst_backend *be, void *dst, size_t bytes) {
    (void)be;
    if (bytes) memset(dst, 0, bytes);
}

static void cpu_sync(struct bmst_backend *be) {
    (void)be; /* every CPU op has finished when it returns */
}

static void cpu_destroy(struct bmst_backend *be) {
    if (!be) return;
    free(be->impl);
    free(be);
}

struct bmst_backend *bmst_backend_cpu_create(int threads, enum bmst_dtype act_dtype) {
    struct cpu_impl *impl = bmst_xcalloc(1, sizeof *impl);
    impl->threads = threads;
    if (threads > 0) {
        /* OpenBLAS is the OpenMP build, so both settings name one pool; set
         * both in case it was built otherwise */
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    if (cpu_blas_reserve(threads > 0 ? threads : omp_get_max_threads()) != 0) {
        free(impl);
        return NULL;
    }

    struct bmst_backend *be = bmst_xmalloc(sizeof *be);
    *be = (struct bmst_backend){
        .name = "cpu",
        .impl = impl,
        .act_dtype = act_dtype,
        .act_bytes = sizeof(float), /* half types are emulated in floats */
        .alloc = cpu_alloc,
        .free = cpu_free,
        .to_device = cpu_copy,
        .to_host = cpu_copy,
        .copy = cpu_copy,
        .zero = cpu_zero,
        .sync = cpu_sync,
        .destroy = cpu_destroy,
        .conv = &cpu_conv_kernels,
        .bn = &cpu_bn_kernels,
        .relu = &cpu_relu_kernels,
        .add = &cpu_add_kernels,
        .maxpool = &cpu_maxpool_kernels,
        .avgpool = &cpu_avgpool_kernels,
        .gap = &cpu_gap_kernels,
        .fc = &cpu_fc_kernels,
        .concat = &cpu_concat_kernels,
        .mix = &cpu_mix_kernels,
        .xent = &cpu_xent_kernels,
        .sign_mask = &cpu_sign_mask_kernels,
        .division = &cpu_division_kernels,
        .dropout = &cpu_dropout_kernels,
    };
    cpu_fill_vtable(be);
    return be;
}
