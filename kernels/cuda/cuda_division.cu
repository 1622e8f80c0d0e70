/* The DIVISION codec's kernels on the GPU (backend.h, struct
 * bmst_division_kernels), computing what the CPU's (cpu_division.c) compute
 * with the same fp32 arithmetic in the same order: a thread per tile mean
 * (summed in element order), a thread per (sample, channel) range, a thread
 * per code byte (its elements all of one sample, as the layout keeps them),
 * and a thread per decoded element. */
#include "cuda_internal.h"

#define DIVISION_THREADS 256

struct division_geometry {
    int n, h, w, c, block, bits, hb, wb;
};

static division_geometry geometry_of(const struct bmst_division_desc *d) {
    division_geometry g;
    g.n = d->n, g.h = d->h, g.w = d->w, g.c = d->c, g.block = d->block, g.bits = d->bits;
    g.hb = (d->h + d->block - 1) / d->block;
    g.wb = (d->w + d->block - 1) / d->block;
    return g;
}

/* lfc[s, th, tw, k]: the mean of the tile's real elements, in T */
template <typename T>
__global__ void tile_means_kernel(division_geometry g, const T *x, T *lfc) {
    const size_t total = (size_t)g.n * g.hb * g.wb * g.c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(i % g.c);
        const int tw = (int)(i / g.c % g.wb), th = (int)(i / g.c / g.wb % g.hb);
        const size_t s = i / g.c / g.wb / g.hb;
        const int h_end = min(g.h, (th + 1) * g.block), w_end = min(g.w, (tw + 1) * g.block);
        float sum = 0.0f;
        for (int h = th * g.block; h < h_end; h++)
            for (int w = tw * g.block; w < w_end; w++)
                sum += to_f32(x[((s * g.h + h) * g.w + w) * g.c + k]);
        const int count = (h_end - th * g.block) * (w_end - tw * g.block);
        lfc[i] = from_f32<T>(sum / (float)count);
    }
}

/* lo[s, k], step[s, k]: the minimum of x - tile mean over the sample's
 * channel, and the range over 2^bits - 1, in T */
template <typename T>
__global__ void hfc_range_kernel(division_geometry g, const T *x, const T *lfc, T *lo, T *step) {
    const size_t total = (size_t)g.n * g.c;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(i % g.c);
        const size_t s = i / g.c;
        float mn = INFINITY, mx = -INFINITY;
        for (int h = 0; h < g.h; h++)
            for (int w = 0; w < g.w; w++) {
                const float v = to_f32(x[((s * g.h + h) * g.w + w) * g.c + k]) -
                                to_f32(lfc[((s * g.hb + h / g.block) * g.wb + w / g.block) * g.c + k]);
                mn = fminf(mn, v);
                mx = fmaxf(mx, v);
            }
        const T lo_t = from_f32<T>(mn);
        lo[i] = lo_t;
        step[i] = from_f32<T>((mx - to_f32(lo_t)) / (float)((1 << g.bits) - 1));
    }
}

/* the element of sample s at position e (NHWC within the sample): its tile mean's index */
static __device__ __forceinline__ size_t lfc_index(const division_geometry &g, size_t s, size_t e) {
    const int k = (int)(e % g.c);
    const int w = (int)(e / g.c % g.w), h = (int)(e / g.c / g.w);
    return ((s * g.hb + h / g.block) * g.wb + w / g.block) * g.c + k;
}

template <typename T>
__global__ void codes_kernel(division_geometry g, size_t row_bytes, const T *x, const T *lfc,
                             const T *lo, const T *step, unsigned char *codes) {
    const size_t total = (size_t)g.n * row_bytes;
    const size_t per_sample = (size_t)g.h * g.w * g.c;
    const int per_byte = 8 / g.bits;
    const float top = (float)((1 << g.bits) - 1);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t s = i / row_bytes, first = i % row_bytes * per_byte;
        unsigned byte = 0;
        for (int j = 0; j < per_byte && first + j < per_sample; j++) {
            const size_t e = first + j;
            const size_t sk = s * g.c + e % g.c;
            const float st = to_f32(step[sk]);
            const float inv = st > 0.0f ? __fdiv_rn(1.0f, st) : 0.0f;
            const float v = __fsub_rn(to_f32(x[s * per_sample + e]), to_f32(lfc[lfc_index(g, s, e)]));
            const float r = floorf(__fadd_rn(__fmul_rn(__fsub_rn(v, to_f32(lo[sk])), inv), 0.5f));
            const unsigned q = (unsigned)(r < 0.0f ? 0.0f : r > top ? top : r);
            byte |= q << (j * g.bits);
        }
        codes[i] = (unsigned char)byte;
    }
}

template <typename T>
__global__ void decode_kernel(division_geometry g, size_t row_bytes, const T *lfc, const T *lo,
                              const T *step, const unsigned char *codes, T *x) {
    const size_t per_sample = (size_t)g.h * g.w * g.c;
    const size_t total = (size_t)g.n * per_sample;
    const unsigned mask = (1u << g.bits) - 1;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t s = i / per_sample, e = i % per_sample;
        const size_t sk = s * g.c + e % g.c;
        const unsigned q = (codes[s * row_bytes + e * g.bits / 8] >> (e * g.bits % 8)) & mask;
        const float hfc = __fadd_rn(to_f32(lo[sk]), __fmul_rn((float)q, to_f32(step[sk])));
        x[i] = from_f32<T>(__fadd_rn(to_f32(lfc[lfc_index(g, s, e)]), hfc));
    }
}

static void division_encode(struct bmst_backend *be, const struct bmst_division_desc *d,
                            const void *x, void *stored) {
    const struct bmst_division_layout l = bmst_division_layout_of(d, be->act_bytes);
    const division_geometry g = geometry_of(d);
    cudaStream_t s = cuda_impl_of(be)->stream;
    char *base = (char *)stored;
    const size_t tiles = (size_t)g.n * g.hb * g.wb * g.c, ranges = (size_t)g.n * g.c;
    const size_t bytes = (size_t)g.n * l.row_bytes;
    CUDA_DISPATCH(be->act_dtype, T, {
        T *lfc = (T *)(base + l.lfc), *lo = (T *)(base + l.lo), *step = (T *)(base + l.step);
        tile_means_kernel<T><<<cuda_blocks(tiles, DIVISION_THREADS), DIVISION_THREADS, 0, s>>>(
            g, (const T *)x, lfc);
        hfc_range_kernel<T><<<cuda_blocks(ranges, DIVISION_THREADS), DIVISION_THREADS, 0, s>>>(
            g, (const T *)x, lfc, lo, step);
        codes_kernel<T><<<cuda_blocks(bytes, DIVISION_THREADS), DIVISION_THREADS, 0, s>>>(
            g, l.row_bytes, (const T *)x, lfc, lo, step, (unsigned char *)base + l.codes);
    });
    CUDA_CHECK_LAUNCH();
}

static void division_decode(struct bmst_backend *be, const struct bmst_division_desc *d,
                            const void *stored, void *x) {
    const struct bmst_division_layout l = bmst_division_layout_of(d, be->act_bytes);
    const division_geometry g = geometry_of(d);
    cudaStream_t s = cuda_impl_of(be)->stream;
    const char *base = (const char *)stored;
    const size_t total = (size_t)g.n * g.h * g.w * g.c;
    CUDA_DISPATCH(be->act_dtype, T,
                  decode_kernel<T><<<cuda_blocks(total, DIVISION_THREADS), DIVISION_THREADS, 0, s>>>(
                      g, l.row_bytes, (const T *)(base + l.lfc), (const T *)(base + l.lo),
                      (const T *)(base + l.step), (const unsigned char *)base + l.codes, (T *)x));
    CUDA_CHECK_LAUNCH();
}

const struct bmst_division_kernels cuda_division_kernels = {
    /* .encode = */ division_encode,
    /* .decode = */ division_decode,
};
