/* The CPU backend object: creation (thread count for OpenMP and OpenBLAS),
 * destruction, and host memory, which is all the CPU "device" memory is. */
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

struct bmst_backend *bmst_backend_cpu_create(int threads) {
    struct cpu_impl *impl = bmst_xcalloc(1, sizeof *impl);
    impl->threads = threads;
    if (threads > 0) {
        /* OpenBLAS is the OpenMP build, so both settings name one pool; set
         * both in case it was built otherwise */
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }

    struct bmst_backend *be = bmst_xmalloc(sizeof *be);
    *be = (struct bmst_backend){
        .name = "cpu",
        .impl = impl,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .to_device = cpu_copy,
        .to_host = cpu_copy,
        .copy = cpu_copy,
        .zero = cpu_zero,
        .sync = cpu_sync,
        .conv_workspace_bytes = cpu_conv_workspace_bytes,
        .conv_fwd = cpu_conv_fwd,
        .conv_bwd_data = cpu_conv_bwd_data,
        .conv_bwd_filter = cpu_conv_bwd_filter,
        .bn_fwd_train = cpu_bn_fwd_train,
        .bn_fwd_eval = cpu_bn_fwd_eval,
        .bn_bwd = cpu_bn_bwd,
        .relu_fwd = cpu_relu_fwd,
        .relu_bwd = cpu_relu_bwd,
        .add_fwd = cpu_add_fwd,
        .pass_grad = cpu_pass_grad,
        .maxpool_fwd = cpu_maxpool_fwd,
        .maxpool_bwd = cpu_maxpool_bwd,
        .avgpool_fwd = cpu_avgpool_fwd,
        .avgpool_bwd = cpu_avgpool_bwd,
        .gap_fwd = cpu_gap_fwd,
        .gap_bwd = cpu_gap_bwd,
        .fc_fwd = cpu_fc_fwd,
        .fc_bwd_data = cpu_fc_bwd_data,
        .fc_bwd_filter = cpu_fc_bwd_filter,
        .concat_fwd = cpu_concat_fwd,
        .concat_bwd = cpu_concat_bwd,
        .mix_fwd = cpu_mix_fwd,
        .mix_bwd = cpu_mix_bwd,
        .xent_fwd = cpu_xent_fwd,
        .xent_bwd = cpu_xent_bwd,
        .sgd_step = cpu_sgd_step,
        .sum_squares = cpu_sum_squares,
        .scale = cpu_scale,
        .destroy = cpu_destroy,
    };
    return be;
}
