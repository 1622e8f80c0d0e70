/* Batch norm kernels of the CUDA backend over [rows][c] (NHWC flattened), as
 * PyTorch's BatchNorm2d and as kernels/cpu/cpu_bn.c computes it.
 *
 * Statistics are sums in double, taken in three fixed-order steps with no
 * atomics, so a run gives the same bits every time:
 *   1. partial: a block owns a tile of up to 32 channels and a contiguous
 *      range of rows (a "part"); its threads sum strided rows, then the
 *      block adds its threads' sums in thread order and writes one partial
 *      per (part, channel) to impl->reduce_scratch;
 *   2. finalize: a warp per channel adds the partials in a fixed lane order
 *      and computes what the CPU computes per channel (mean, invstd, running
 *      statistics, or the backward's coefficients), in double;
 *   3. apply: the per-element normalization, in fp32 as on the CPU.
 * The forward sums are shifted by the channel's value in row 0, as on the
 * CPU, so E[a^2] - E[a]^2 does not cancel when the mean is large.
 *
 * Synchronized batch norm (d->sync, see backend.h) takes the statistics over
 * every rank's rows. Step 1's partials are then added into per-channel totals
 * (bn_totals_kernel) that d->sync->allreduce_f64 sums over the ranks in
 * stream order, and step 2 runs over those totals as one part. Forward needs
 * two rounds, since every rank must shift by the same value: the sums of x
 * give the global mean, then the sums about it give the variance. Backward
 * writes dgamma and dbeta from this rank's totals before they are summed.
 *
 * Scratch, in doubles: parts * c for each of the two sums, plus 2 * c for the
 * per-channel float coefficients, plus with sync 3 * c (forward: the sums of
 * x, then the two sums about the mean) or 2 * c (backward) for the totals.
 * The part count is chosen for about BN_TARGET_BLOCKS blocks and then bounded
 * by what impl->reduce_scratch holds; at least 4 * c doubles (one part) plus
 * the totals are needed. */
#include "cuda_internal.h"

#define BN_THREADS 256         /* per block, in every kernel here */
#define BN_TARGET_BLOCKS 1024  /* partial blocks wanted: a few waves on an H100 */
#define BN_ROWS_PER_THREAD 8   /* a part gives each thread at least this many rows */
#define BN_MAX_PARTS 65535     /* gridDim.y limit */

/* What step 1 sums: forward about x's row 0, backward, or forward about the
 * mean over every rank (zero in the first round of a synchronized forward). */
enum bn_sums { BN_SUMS_FWD, BN_SUMS_BWD, BN_SUMS_FWD_SYNC };

/* Doubles per channel that a synchronized call keeps its totals in. */
#define BN_SYNC_FWD_TOTALS 3
#define BN_SYNC_BWD_TOTALS 2

/* How the [rows][c] matrix is cut: blocks of cw channels x by row phases
 * (cw * by = BN_THREADS), col_blocks tiles across the channels, `parts` row
 * ranges of rows_per_part rows. */
struct bn_tiling {
    int cw, by;
    unsigned col_blocks, parts;
    size_t rows_per_part;
};

/* cw is the smallest power of two >= c, at most 32, so few lanes idle on
 * narrow layers. max_parts bounds the part count (the scratch). */
static struct bn_tiling bn_tile(size_t rows, int c, size_t max_parts) {
    struct bn_tiling t;
    t.cw = 32;
    while (t.cw > 1 && t.cw / 2 >= c) t.cw /= 2;
    t.by = BN_THREADS / t.cw;
    t.col_blocks = (unsigned)((c + t.cw - 1) / t.cw);
    size_t parts = (BN_TARGET_BLOCKS + t.col_blocks - 1) / t.col_blocks;
    size_t row_cap = (rows + (size_t)t.by * BN_ROWS_PER_THREAD - 1) /
                     ((size_t)t.by * BN_ROWS_PER_THREAD);
    if (parts > row_cap) parts = row_cap;
    if (parts > max_parts) parts = max_parts;
    if (parts > BN_MAX_PARTS) parts = BN_MAX_PARTS;
    if (parts < 1) parts = 1;
    t.parts = (unsigned)parts;
    t.rows_per_part = (rows + parts - 1) / parts;
    return t;
}

/* The scratch layout for one call: s1 and s2 partials [parts][c], a float
 * region of 4 * c (in 2 * c doubles), then `totals` doubles per channel for a
 * synchronized call (0 otherwise). Fails clearly when even one part does not
 * fit. */
struct bn_scratch {
    double *s1, *s2;
    float *coef;
    double *totals;
};

static struct bn_tiling bn_plan(struct cuda_impl *impl, size_t rows, int c, size_t totals,
                                struct bn_scratch *sc) {
    size_t per_channel = impl->reduce_scratch_count / (size_t)c;
    if (impl->reduce_scratch == NULL || per_channel < 4 + totals)
        bmst_fatal("bmst", __FILE__, __LINE__, "batch norm",
                  "reduce_scratch holds too few doubles for this many channels");
    struct bn_tiling t = bn_tile(rows, c, (per_channel - 2 - totals) / 2);
    sc->s1 = impl->reduce_scratch;
    sc->s2 = sc->s1 + (size_t)t.parts * c;
    sc->coef = (float *)(sc->s2 + (size_t)t.parts * c);
    sc->totals = sc->s2 + (size_t)t.parts * c + 2 * (size_t)c;
    return t;
}

/* The shift of a synchronized forward: the mean over every rank's rows, from
 * the summed x (zero before the sums exist). One expression for step 1 and
 * step 2, so both see the same double. */
static __device__ __forceinline__ double bn_sync_center(const double *x_sum, double total_rows,
                                                        int j) {
    return x_sum ? x_sum[j] / total_rows : 0.0;
}

/* Step 1. BN_SUMS_FWD: s1 = sum (x - x[row 0]), s2 = sum (x - x[row 0])^2.
 * BN_SUMS_FWD_SYNC: the same about bn_sync_center(x_sum, total_rows).
 * BN_SUMS_BWD: s1 = sum dy, s2 = sum dy * (x - save_mean).
 * Block (blockIdx.x, blockIdx.y) = (channel tile, part); thread (tx, ty) sums
 * rows ty, ty + by, ... of the part for channel tile * cw + tx. */
template <typename T, int MODE>
__global__ void __launch_bounds__(BN_THREADS)
bn_partial_kernel(size_t rows, int c, size_t xs, size_t rows_per_part, const T *x, const T *dy,
                  const float *save_mean, const double *x_sum, double total_rows, double *s1,
                  double *s2) {
    __shared__ double sh1[BN_THREADS], sh2[BN_THREADS];
    const int cw = blockDim.x, by = blockDim.y;
    const int j = blockIdx.x * cw + threadIdx.x;
    const size_t r0 = (size_t)blockIdx.y * rows_per_part;
    const size_t r1 = r0 + rows_per_part < rows ? r0 + rows_per_part : rows;
    double a1 = 0.0, a2 = 0.0;
    if (j < c) {
        const double center = MODE == BN_SUMS_FWD   ? (double)to_f32(x[j])
                              : MODE == BN_SUMS_BWD ? (double)save_mean[j]
                                                    : bn_sync_center(x_sum, total_rows, j);
        /* x's rows are xs apart (a channel prefix of a wider buffer), dy's c */
        const size_t step = (size_t)by * c, xstep = (size_t)by * xs;
        size_t off = (r0 + threadIdx.y) * (size_t)c + j;
        size_t xoff = (r0 + threadIdx.y) * xs + j;
        for (size_t r = r0 + threadIdx.y; r < r1; r += by, off += step, xoff += xstep) {
            double v = (double)to_f32(x[xoff]) - center;
            if (MODE != BN_SUMS_BWD) {
                a1 += v;
                a2 += v * v;
            } else {
                double g = (double)to_f32(dy[off]);
                a1 += g;
                a2 += g * v;
            }
        }
    }
    const int t = threadIdx.y * cw + threadIdx.x;
    sh1[t] = a1;
    sh2[t] = a2;
    __syncthreads();
    if (threadIdx.y == 0 && j < c) {
        for (int y = 1; y < by; y++) { /* row phases in order: deterministic */
            a1 += sh1[y * cw + threadIdx.x];
            a2 += sh2[y * cw + threadIdx.x];
        }
        s1[(size_t)blockIdx.y * c + j] = a1;
        s2[(size_t)blockIdx.y * c + j] = a2;
    }
}

/* Step 2 helper: the totals over the parts of channel j, in every lane of the
 * warp. Lane l adds parts l, l + 32, ...; the lanes then combine in a fixed
 * butterfly, so the order never changes. */
static __device__ __forceinline__ void bn_totals(unsigned parts, int c, int j, const double *s1,
                                                 const double *s2, double *t1, double *t2) {
    const int lane = threadIdx.x & 31;
    double a1 = 0.0, a2 = 0.0;
    for (unsigned p = lane; p < parts; p += 32) {
        a1 += s1[(size_t)p * c + j];
        a2 += s2[(size_t)p * c + j];
    }
    for (int o = 16; o > 0; o >>= 1) {
        a1 += __shfl_xor_sync(0xffffffffu, a1, o);
        a2 += __shfl_xor_sync(0xffffffffu, a2, o);
    }
    *t1 = a1;
    *t2 = a2;
}

/* Between steps 1 and 2 of a synchronized call: t1[j], t2[j] = the totals of
 * channel j over the parts, to be summed over the ranks (t2 may be NULL). */
__global__ void __launch_bounds__(BN_THREADS)
bn_totals_kernel(int c, unsigned parts, const double *s1, const double *s2, double *t1,
                 double *t2) {
    const int j = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    if (j >= c) return;
    double a1, a2;
    bn_totals(parts, c, j, s1, s2, &a1, &a2);
    if ((threadIdx.x & 31) != 0) return;
    t1[j] = a1;
    if (t2) t2[j] = a2;
}

/* Step 2, forward: a warp per channel. Term for term what cpu_bn_fwd_train
 * computes; scale = gamma * invstd goes to the scratch for the apply step.
 * `rows` is the count the sums were taken over (every rank's with sync); the
 * shift is x's row 0, or with x_sum the synchronized one. */
template <typename T>
__global__ void __launch_bounds__(BN_THREADS)
bn_finalize_fwd_kernel(size_t rows, int c, unsigned parts, const double *s1, const double *s2,
                       const T *x, const double *x_sum, const float *gamma, float eps,
                       float momentum, float *save_mean, float *save_invstd,
                       float *running_mean, float *running_var, float *scale) {
    const int j = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    if (j >= c) return; /* whole warps leave together: blockDim is a multiple of 32 */
    double t1, t2;
    bn_totals(parts, c, j, s1, s2, &t1, &t2);
    if ((threadIdx.x & 31) != 0) return;
    double m_shifted = t1 / (double)rows;
    double var = t2 / (double)rows - m_shifted * m_shifted; /* biased */
    if (var < 0.0) var = 0.0;
    double shift = x_sum ? bn_sync_center(x_sum, (double)rows, j) : (double)to_f32(x[j]);
    double mean = shift + m_shifted;
    double invstd = 1.0 / sqrt(var + (double)eps);
    /* PyTorch updates running_var with the unbiased estimate; one row has
     * none, so keep the biased one rather than divide by zero (as the CPU) */
    double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
    save_mean[j] = (float)mean;
    save_invstd[j] = (float)invstd;
    scale[j] = (float)((double)gamma[j] * invstd);
    if (running_mean)
        running_mean[j] = (1.0f - momentum) * running_mean[j] + momentum * (float)mean;
    if (running_var)
        running_var[j] = (1.0f - momentum) * running_var[j] + momentum * (float)unbiased;
}

/* Step 2, backward: dbeta = sum dy, dgamma = sum dy * xhat, and the
 * coefficients of dx = a * dy + b * (x - mean) + e (cpu_bn_bwd's folding)
 * with `rows` the count the sums cover. Either output may be NULL: with sync
 * the parameter gradients come from this rank's sums, the coefficients from
 * every rank's. */
__global__ void __launch_bounds__(BN_THREADS)
bn_finalize_bwd_kernel(size_t rows, int c, unsigned parts, const double *s1, const double *s2,
                       const float *gamma, const float *save_invstd, float *dgamma, float *dbeta,
                       float *coef) {
    const int j = (int)(((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
    if (j >= c) return;
    double t1, t2;
    bn_totals(parts, c, j, s1, s2, &t1, &t2);
    if ((threadIdx.x & 31) != 0) return;
    double invstd = save_invstd[j];
    double db = t1, dg = t2 * invstd;
    double k = (double)gamma[j] * invstd;
    if (dbeta) {
        dbeta[j] = (float)db;
        dgamma[j] = (float)dg;
    }
    if (coef) {
        coef[j] = (float)k;
        coef[c + j] = (float)(-k / (double)rows * dg * invstd);
        coef[2 * (size_t)c + j] = (float)(-k / (double)rows * db);
    }
}

/* Step 3, forward: y = (x - mean) * scale + beta in fp32. With eval 1, mean
 * is running_mean and scale = gamma / sqrtf(running_var + eps) in float, as
 * cpu_bn_fwd_eval; with eval 2 (fwd_saved), mean = save_mean and `scale`
 * holds save_invstd, multiplied by gamma as cpu_bn_fwd_saved; otherwise
 * mean = save_mean and scale comes from step 2.
 * Same tiling as step 1 (a thread keeps one channel), reads before it writes
 * each element, so y may be x (when x is contiguous). */
template <typename T>
__global__ void __launch_bounds__(BN_THREADS)
bn_apply_fwd_kernel(size_t rows, int c, size_t xs, size_t rows_per_part, int eval, const T *x,
                    const float *mean, const float *scale, const float *gamma,
                    const float *running_var, float eps, const float *beta, T *y) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    const float m = mean[j];
    const float sc = eval == 1   ? gamma[j] / sqrtf(running_var[j] + eps)
                     : eval == 2 ? (float)((double)gamma[j] * scale[j])
                                 : scale[j];
    const float b = beta[j];
    const size_t r0 = (size_t)blockIdx.y * rows_per_part;
    const size_t r1 = r0 + rows_per_part < rows ? r0 + rows_per_part : rows;
    const size_t step = (size_t)blockDim.y * c, xstep = (size_t)blockDim.y * xs;
    size_t off = (r0 + threadIdx.y) * (size_t)c + j;
    size_t xoff = (r0 + threadIdx.y) * xs + j;
    for (size_t r = r0 + threadIdx.y; r < r1; r += blockDim.y, off += step, xoff += xstep)
        y[off] = from_f32<T>((to_f32(x[xoff]) - m) * sc + b);
}

/* Step 3, backward: dx = a * dy + b * (x - mean) + e, added to dx when
 * accumulating (the sum first, as the CPU). dx may be dy (when contiguous). */
template <typename T>
__global__ void __launch_bounds__(BN_THREADS)
bn_apply_bwd_kernel(size_t rows, int c, size_t xs, size_t rows_per_part, const T *x, const T *dy,
                    const float *save_mean, const float *coef, T *dx, int accumulate) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    const float ca = coef[j], cb = coef[c + j], ce = coef[2 * (size_t)c + j];
    const float cm = save_mean[j];
    const size_t r0 = (size_t)blockIdx.y * rows_per_part;
    const size_t r1 = r0 + rows_per_part < rows ? r0 + rows_per_part : rows;
    const size_t step = (size_t)blockDim.y * c, xstep = (size_t)blockDim.y * xs;
    size_t off = (r0 + threadIdx.y) * (size_t)c + j;
    size_t xoff = (r0 + threadIdx.y) * xs + j;
    for (size_t r = r0 + threadIdx.y; r < r1; r += blockDim.y, off += step, xoff += xstep) {
        float v = ca * to_f32(dy[off]) + cb * (to_f32(x[xoff]) - cm) + ce;
        dx[xoff] = from_f32<T>(accumulate ? to_f32(dx[xoff]) + v : v);
    }
}

/* Backward with fixed statistics (--freeze-bn): dx = dy * gamma /
 * sqrtf(running_var + eps), the scale in float as cpu_bn_bwd_eval, added
 * to dx when accumulating. Same tiling as step 3. */
template <typename T>
__global__ void __launch_bounds__(BN_THREADS)
bn_eval_bwd_kernel(size_t rows, int c, size_t xs, size_t rows_per_part, const T *dy,
                   const float *gamma, const float *running_var, float eps, T *dx,
                   int accumulate) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    const float sc = gamma[j] / sqrtf(running_var[j] + eps);
    const size_t r0 = (size_t)blockIdx.y * rows_per_part;
    const size_t r1 = r0 + rows_per_part < rows ? r0 + rows_per_part : rows;
    const size_t step = (size_t)blockDim.y * c, xstep = (size_t)blockDim.y * xs;
    size_t off = (r0 + threadIdx.y) * (size_t)c + j;
    size_t xoff = (r0 + threadIdx.y) * xs + j;
    for (size_t r = r0 + threadIdx.y; r < r1; r += blockDim.y, off += step, xoff += xstep) {
        float v = sc * to_f32(dy[off]);
        dx[xoff] = from_f32<T>(accumulate ? to_f32(dx[xoff]) + v : v);
    }
}

/* Elements between two rows of x and dx: c, or more for a channel prefix of
 * a wider buffer (a dense block's running concatenation). */
static size_t bn_x_stride(const struct bmst_bn_desc *d) {
    if (d->x_stride != 0 && d->x_stride < d->c)
        bmst_fatal("bmst", __FILE__, __LINE__, "bn", "row stride below the channel count");
    return d->x_stride ? (size_t)d->x_stride : (size_t)d->c;
}

/* The apply step needs no scratch, so its part count is bounded only by the
 * grid: the same target of blocks, more rows per block on small layers. */
static struct bn_tiling bn_apply_tile(size_t rows, int c) {
    return bn_tile(rows, c, BN_MAX_PARTS);
}

/* A warp per channel for the finalize kernels. */
static unsigned bn_finalize_blocks(int c) {
    const unsigned per_block = BN_THREADS / 32;
    return ((unsigned)c + per_block - 1) / per_block;
}

/* Steps 1 and 2 of a synchronized forward, over every rank's rows. Round 1
 * sums x (about zero; its s2 goes unused) for the mean that round 2's sums
 * are taken about. */
template <typename T>
static void bn_sync_fwd_stats(const struct bmst_bn_desc *d, cudaStream_t s, struct bn_tiling t,
                              const struct bn_scratch *sc, const T *x, const float *gamma,
                              float *save_mean, float *save_invstd, float *running_mean,
                              float *running_var) {
    const size_t rows = d->rows, total = rows * (size_t)d->sync->world;
    const int c = d->c;
    const dim3 grid(t.col_blocks, t.parts), block(t.cw, t.by);
    double *x_sum = sc->totals;     /* [c]: sum x over every rank */
    double *about = sc->totals + c; /* [2][c]: sum (x - mean), sum (x - mean)^2 */

    bn_partial_kernel<T, BN_SUMS_FWD_SYNC><<<grid, block, 0, s>>>(
        rows, c, bn_x_stride(d), t.rows_per_part, x, (const T *)NULL, (const float *)NULL,
        (const double *)NULL, (double)total, sc->s1, sc->s2);
    CUDA_CHECK_LAUNCH();
    bn_totals_kernel<<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(c, t.parts, sc->s1, sc->s2,
                                                                  x_sum, (double *)NULL);
    CUDA_CHECK_LAUNCH();
    d->sync->allreduce_f64(d->sync->ctx, x_sum, (size_t)c);

    bn_partial_kernel<T, BN_SUMS_FWD_SYNC><<<grid, block, 0, s>>>(
        rows, c, bn_x_stride(d), t.rows_per_part, x, (const T *)NULL, (const float *)NULL, x_sum,
        (double)total, sc->s1, sc->s2);
    CUDA_CHECK_LAUNCH();
    bn_totals_kernel<<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(c, t.parts, sc->s1, sc->s2,
                                                                  about, about + c);
    CUDA_CHECK_LAUNCH();
    d->sync->allreduce_f64(d->sync->ctx, about, 2 * (size_t)c);

    bn_finalize_fwd_kernel<T><<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(
        total, c, 1, about, about + c, x, x_sum, gamma, d->eps, d->momentum, save_mean,
        save_invstd, running_mean, running_var, sc->coef);
    CUDA_CHECK_LAUNCH();
}

/* Step 2 of a synchronized backward: dgamma and dbeta from this rank's
 * totals, then the dx coefficients from the totals over every rank. */
static void bn_sync_bwd_finalize(const struct bmst_bn_desc *d, cudaStream_t s, struct bn_tiling t,
                                 const struct bn_scratch *sc, const float *gamma,
                                 const float *save_invstd, float *dgamma, float *dbeta) {
    const int c = d->c;
    double *sums = sc->totals; /* [2][c]: sum dy, sum dy * (x - mean) */
    bn_totals_kernel<<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(c, t.parts, sc->s1, sc->s2,
                                                                  sums, sums + c);
    CUDA_CHECK_LAUNCH();
    bn_finalize_bwd_kernel<<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(
        d->rows, c, 1, sums, sums + c, gamma, save_invstd, dgamma, dbeta, (float *)NULL);
    CUDA_CHECK_LAUNCH();
    d->sync->allreduce_f64(d->sync->ctx, sums, 2 * (size_t)c);
    bn_finalize_bwd_kernel<<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(
        d->rows * (size_t)d->sync->world, c, 1, sums, sums + c, gamma, save_invstd,
        (float *)NULL, (float *)NULL, sc->coef);
    CUDA_CHECK_LAUNCH();
}

static void cuda_bn_fwd_train(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                              const float *gamma, const float *beta, void *y, float *save_mean,
                              float *save_invstd, float *running_mean, float *running_var) {
    struct cuda_impl *impl = cuda_impl_of(be);
    const size_t rows = d->rows;
    const int c = d->c;
    if (c <= 0) return;
    if (rows == 0) bmst_fatal("bmst", __FILE__, __LINE__, "bn_fwd_train", "batch norm of 0 rows");
    cudaStream_t s = impl->stream;
    struct bn_scratch sc;
    struct bn_tiling t = bn_plan(impl, rows, c, d->sync ? BN_SYNC_FWD_TOTALS : 0, &sc);
    struct bn_tiling ta = bn_apply_tile(rows, c);
    const dim3 block(t.cw, t.by);
    CUDA_DISPATCH(be->act_dtype, T, {
        if (d->sync) {
            bn_sync_fwd_stats<T>(d, s, t, &sc, (const T *)x, gamma, save_mean, save_invstd,
                                 running_mean, running_var);
        } else {
            bn_partial_kernel<T, BN_SUMS_FWD><<<dim3(t.col_blocks, t.parts), block, 0, s>>>(
                rows, c, bn_x_stride(d), t.rows_per_part, (const T *)x, (const T *)NULL,
                (const float *)NULL, (const double *)NULL, 0.0, sc.s1, sc.s2);
            CUDA_CHECK_LAUNCH();
            bn_finalize_fwd_kernel<T><<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(
                rows, c, t.parts, sc.s1, sc.s2, (const T *)x, (const double *)NULL, gamma,
                d->eps, d->momentum, save_mean, save_invstd, running_mean, running_var, sc.coef);
            CUDA_CHECK_LAUNCH();
        }
        bn_apply_fwd_kernel<T><<<dim3(ta.col_blocks, ta.parts), block, 0, s>>>(
            rows, c, bn_x_stride(d), ta.rows_per_part, 0, (const T *)x, save_mean, sc.coef, gamma,
            (const float *)NULL, d->eps, beta, (T *)y);
        CUDA_CHECK_LAUNCH();
    });
}

/* The apply step alone (step 3 with `eval` 1 or 2, see bn_apply_fwd_kernel):
 * evaluation with the running statistics, or fwd_saved with kept ones. */
static void bn_apply_alone(struct bmst_backend *be, const struct bmst_bn_desc *d, int eval,
                           const void *x, const float *mean, const float *scale,
                           const float *gamma, const float *running_var, const float *beta,
                           void *y) {
    const size_t rows = d->rows;
    const int c = d->c;
    if (c <= 0 || rows == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    struct bn_tiling ta = bn_apply_tile(rows, c);
    CUDA_DISPATCH(be->act_dtype, T,
                  bn_apply_fwd_kernel<T><<<dim3(ta.col_blocks, ta.parts), dim3(ta.cw, ta.by), 0,
                                           s>>>(rows, c, bn_x_stride(d), ta.rows_per_part, eval,
                                                (const T *)x, mean, scale, gamma, running_var,
                                                d->eps, beta, (T *)y));
    CUDA_CHECK_LAUNCH();
}

static void cuda_bn_fwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                             const float *gamma, const float *beta, const float *running_mean,
                             const float *running_var, void *y) {
    bn_apply_alone(be, d, 1, x, running_mean, NULL, gamma, running_var, beta, y);
}

/* scale = gamma * save_invstd as cpu_bn_fwd_saved */
static void cuda_bn_fwd_saved(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                              const float *gamma, const float *beta, const float *save_mean,
                              const float *save_invstd, void *y) {
    bn_apply_alone(be, d, 2, x, save_mean, save_invstd, gamma, NULL, beta, y);
}

static void cuda_bn_bwd(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *x,
                        const void *dy, const float *gamma, const float *save_mean,
                        const float *save_invstd, void *dx, float *dgamma, float *dbeta,
                        int accumulate) {
    struct cuda_impl *impl = cuda_impl_of(be);
    const size_t rows = d->rows;
    const int c = d->c;
    if (c <= 0) return;
    cudaStream_t s = impl->stream;
    if (rows == 0) { /* empty sums; dx has no elements */
        CUDA_CHECK(cudaMemsetAsync(dgamma, 0, (size_t)c * sizeof(float), s));
        CUDA_CHECK(cudaMemsetAsync(dbeta, 0, (size_t)c * sizeof(float), s));
        return;
    }
    struct bn_scratch sc;
    struct bn_tiling t = bn_plan(impl, rows, c, d->sync ? BN_SYNC_BWD_TOTALS : 0, &sc);
    struct bn_tiling ta = bn_apply_tile(rows, c);
    const dim3 block(t.cw, t.by);
    CUDA_DISPATCH(be->act_dtype, T, {
        bn_partial_kernel<T, BN_SUMS_BWD><<<dim3(t.col_blocks, t.parts), block, 0, s>>>(
            rows, c, bn_x_stride(d), t.rows_per_part, (const T *)x, (const T *)dy, save_mean,
            (const double *)NULL, 0.0, sc.s1, sc.s2);
        CUDA_CHECK_LAUNCH();
        if (d->sync) {
            bn_sync_bwd_finalize(d, s, t, &sc, gamma, save_invstd, dgamma, dbeta);
        } else {
            bn_finalize_bwd_kernel<<<bn_finalize_blocks(c), BN_THREADS, 0, s>>>(
                rows, c, t.parts, sc.s1, sc.s2, gamma, save_invstd, dgamma, dbeta, sc.coef);
            CUDA_CHECK_LAUNCH();
        }
        if (dx) { /* NULL: the input takes no gradient (backend.h) */
            bn_apply_bwd_kernel<T><<<dim3(ta.col_blocks, ta.parts), block, 0, s>>>(
                rows, c, bn_x_stride(d), ta.rows_per_part, (const T *)x, (const T *)dy,
                save_mean, sc.coef, (T *)dx, accumulate);
            CUDA_CHECK_LAUNCH();
        }
    });
}

static void cuda_bn_bwd_eval(struct bmst_backend *be, const struct bmst_bn_desc *d, const void *dy,
                             const float *gamma, const float *running_var, void *dx,
                             int accumulate) {
    const size_t rows = d->rows;
    const int c = d->c;
    if (c <= 0 || rows == 0) return;
    cudaStream_t s = cuda_impl_of(be)->stream;
    struct bn_tiling ta = bn_apply_tile(rows, c);
    CUDA_DISPATCH(be->act_dtype, T,
                  bn_eval_bwd_kernel<T><<<dim3(ta.col_blocks, ta.parts), dim3(ta.cw, ta.by), 0,
                                          s>>>(rows, c, bn_x_stride(d), ta.rows_per_part,
                                               (const T *)dy, gamma, running_var, d->eps,
                                               (T *)dx, accumulate));
    CUDA_CHECK_LAUNCH();
}

/* The kernel groups this file fills (backend.h), in the structs' field order. */
const struct bmst_bn_kernels cuda_bn_kernels = {
    /* .fwd_train = */ cuda_bn_fwd_train,
    /* .fwd_eval = */ cuda_bn_fwd_eval,
    /* .bwd = */ cuda_bn_bwd,
    /* .bwd_eval = */ cuda_bn_bwd_eval,
    /* .fwd_saved = */ cuda_bn_fwd_saved,
};
