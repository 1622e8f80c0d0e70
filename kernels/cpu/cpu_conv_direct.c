/* Direct convolution for narrow layers (16, 32 or 64 output channels), where
 * im2col + sgemm is at its worst: a product with N = 16 columns keeps OpenBLAS
 * far below its peak, and the backward-data product has an inner dimension of
 * 16 followed by a col2im pass. (ResNet-20's first stage spends most of its
 * step there.) Instead, the input is copied once into a zero-padded buffer, and
 * each block of P output pixels keeps its P x K accumulators in vector
 * registers while the taps and input channels stream past: per input value one
 * broadcast and K/16 fused multiply-adds.
 *
 * The backward data pass of a stride-1 convolution is the same computation:
 * dx = conv(dy padded by R-1-pad, filters flipped in space with the channel
 * roles swapped), so it runs through the same blocks.
 *
 * Written with GCC vector extensions: with -march=native each v16 is one
 * AVX-512 register; elsewhere the compiler splits it. */
#include "cpu_internal.h"

#include <omp.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

#define LANES 16
#define MAX_TAPS 64
/* threads that split the filter gradient's pixel sum (more are not used) */
#define DIRECT_MAX_THREADS 16

/* Channels a direct kernel produces per pixel: one, two or four vectors. The
 * kernels keep up to 16 vectors of 16 floats live, which fits AVX-512's 32
 * registers; with 256-bit vectors and 16 registers they spill on every
 * multiply-add and ran 20x slower than im2col + sgemm (AVX2 EPYC, 2 cores),
 * so there the im2col path takes every shape. */
static int direct_width_ok(int channels) {
#ifdef __AVX512F__
    return channels == LANES || channels == 2 * LANES || channels == 4 * LANES;
#else
    (void)channels;
    return 0;
#endif
}

int cpu_conv_direct_fwd_applies(const struct bmst_conv_desc *d) {
    return direct_width_ok(d->k) && !(d->r == 1 && d->s == 1) && d->r * d->s <= MAX_TAPS;
}

/* Input channels per block of the filter gradient: CB x KV accumulators. */
#define CB_ONE 16 /* 16 output channels */
#define CB_TWO 8  /* 32 output channels */
#define CB_FOUR 4 /* 64 output channels */

int cpu_conv_direct_bwd_filter_applies(const struct bmst_conv_desc *d) {
    return direct_width_ok(d->k) && !(d->r == 1 && d->s == 1) && d->r * d->s <= MAX_TAPS &&
           d->c % (d->k == LANES ? CB_ONE : d->k == 2 * LANES ? CB_TWO : CB_FOUR) == 0;
}

int cpu_conv_direct_bwd_data_applies(const struct bmst_conv_desc *d) {
    return direct_width_ok(d->c) && !(d->r == 1 && d->s == 1) && d->r * d->s <= MAX_TAPS &&
           d->stride_h == 1 &&
           d->stride_w == 1 && d->pad_h <= d->r - 1 && d->pad_w <= d->s - 1;
}

static size_t align_floats(size_t n) {
    return (n + 15) / 16 * 16; /* 64-byte steps */
}

/* Padded input plus re-laid-out filters, in floats. */
static size_t fwd_floats(const struct bmst_conv_desc *d) {
    size_t hp = (size_t)d->h + 2 * d->pad_h, wp = (size_t)d->w + 2 * d->pad_w;
    return align_floats((size_t)d->n * hp * wp * d->c) + (size_t)d->r * d->s * d->c * d->k;
}

static size_t bwd_data_floats(const struct bmst_conv_desc *d) {
    size_t hp = (size_t)d->out_h + 2 * (d->r - 1 - d->pad_h);
    size_t wp = (size_t)d->out_w + 2 * (d->s - 1 - d->pad_w);
    return align_floats((size_t)d->n * hp * wp * d->k) + (size_t)d->r * d->s * d->c * d->k;
}

/* Padded input plus one partial filter gradient per thread, in floats. */
static size_t bwd_filter_floats(const struct bmst_conv_desc *d) {
    size_t hp = (size_t)d->h + 2 * d->pad_h, wp = (size_t)d->w + 2 * d->pad_w;
    return align_floats((size_t)d->n * hp * wp * d->c) +
           (size_t)DIRECT_MAX_THREADS * d->r * d->s * d->c * d->k;
}

size_t cpu_conv_direct_workspace_bytes(const struct bmst_conv_desc *d) {
    size_t floats = 0;
    if (cpu_conv_direct_fwd_applies(d)) floats = fwd_floats(d);
    if (cpu_conv_direct_bwd_filter_applies(d) && bwd_filter_floats(d) > floats)
        floats = bwd_filter_floats(d);
    if (cpu_conv_direct_bwd_data_applies(d) && bwd_data_floats(d) > floats)
        floats = bwd_data_floats(d);
    return floats * sizeof(float);
}

/* src [n][h][w][c] into dst [n][h + 2 ph][w + 2 pw][c] with zero borders. */
static void pad_images(const float *src, int n, int h, int w, int c, int ph, int pw, float *dst) {
    const int hp = h + 2 * ph, wp = w + 2 * pw;
    const size_t row = (size_t)wp * c;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * hp * row > CPU_PAR_MIN)
    for (int i = 0; i < n; i++)
        for (int y = 0; y < hp; y++) {
            float *out = dst + ((size_t)i * hp + y) * row;
            if (y < ph || y >= ph + h) {
                memset(out, 0, row * sizeof *out);
                continue;
            }
            const float *in = src + ((size_t)i * h + (y - ph)) * w * c;
            memset(out, 0, (size_t)pw * c * sizeof *out);
            memcpy(out + (size_t)pw * c, in, (size_t)w * c * sizeof *out);
            memset(out + (size_t)(pw + w) * c, 0, (size_t)pw * c * sizeof *out);
        }
}

/* Enough pixels per block to hide the multiply-add latency, few enough that
 * the accumulators stay in 32 registers. */
#define P_ONE 16 /* 16 channels: 16 accumulators */
#define P_TWO 12 /* 32 channels: 24 accumulators */
#define P_FOUR 6 /* 64 channels: 24 accumulators */

/* One block: P pixels whose windows start at xp[j]; tap t reads xp[j] +
 * tap_off[t] .. + cin; filters wt[t][cin][KV * 16]; results to yp[j] (only the
 * first np pixels are real, the rest repeat a real one and are not stored). */
static inline __attribute__((always_inline)) void
conv_block(const int KV, const int P, const float *const *xp, const int *tap_off, int taps,
           int cin, const float *wt, float *const *yp, int np, int accumulate) {
    v16 acc[P_ONE][4]; /* the first P x KV are used */
    for (int j = 0; j < P_ONE; j++)
        for (int v = 0; v < 4; v++) acc[j][v] = (v16){0};
    for (int t = 0; t < taps; t++) {
        const int off = tap_off[t];
        const float *wrow = wt + (size_t)t * cin * KV * LANES;
        for (int c = 0; c < cin; c++) {
            v16 wv[4];
            for (int v = 0; v < KV; v++) wv[v] = *(const v16 *)(wrow + ((size_t)c * KV + v) * LANES);
            for (int j = 0; j < P; j++) {
                const float xs = xp[j][off + c];
                for (int v = 0; v < KV; v++) acc[j][v] += xs * wv[v];
            }
        }
    }
    for (int j = 0; j < np; j++)
        for (int v = 0; v < KV; v++) {
            v16 *dst = (v16 *)(yp[j] + v * LANES);
            if (accumulate)
                *dst += acc[j][v];
            else
                *dst = acc[j][v];
        }
}

/* y[n][oh][ow][kout] (+)= sum over taps and cin of xpad windows times wt.
 * xpad is [n][hp][wp][cin]; output pixel (oh, ow) reads the window whose
 * top-left is (oh * stride, ow * stride). */
static void conv_direct(const float *xpad, int n, int hp, int wp, int cin, int r, int s,
                        int stride_h, int stride_w, const float *wt, int kout, int oh_count,
                        int ow_count, float *y, int accumulate) {
    int tap_off[MAX_TAPS];
    const int taps = r * s;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < s; j++) tap_off[i * s + j] = (i * wp + j) * cin;
    const int P = kout == LANES ? P_ONE : kout == 2 * LANES ? P_TWO : P_FOUR;
    const long per_image = (long)oh_count * ow_count, total = (long)n * per_image;
    const long blocks = (total + P - 1) / P;
#pragma omp parallel for schedule(static) if (total * taps * cin * kout > CPU_PAR_MIN)
    for (long b = 0; b < blocks; b++) {
        const float *xp[P_ONE];
        float *yp[P_ONE];
        const long first = b * P;
        const int np = total - first < P ? (int)(total - first) : P;
        for (int j = 0; j < P; j++) {
            long pix = first + (j < np ? j : np - 1);
            long img = pix / per_image, rem = pix % per_image;
            int oh = (int)(rem / ow_count), ow = (int)(rem % ow_count);
            xp[j] = xpad + (((size_t)img * hp + (size_t)oh * stride_h) * wp + (size_t)ow * stride_w) *
                               cin;
            yp[j] = y + (size_t)pix * kout;
        }
        if (kout == LANES)
            conv_block(1, P_ONE, xp, tap_off, taps, cin, wt, yp, np, accumulate);
        else if (kout == 2 * LANES)
            conv_block(2, P_TWO, xp, tap_off, taps, cin, wt, yp, np, accumulate);
        else
            conv_block(4, P_FOUR, xp, tap_off, taps, cin, wt, yp, np, accumulate);
    }
}

void cpu_conv_direct_fwd(const struct bmst_conv_desc *d, const float *x, const float *w, float *y,
                         void *ws) {
    const int hp = d->h + 2 * d->pad_h, wp = d->w + 2 * d->pad_w;
    float *xpad = ws;
    float *wt = xpad + align_floats((size_t)d->n * hp * wp * d->c);
    /* KRSC -> [r][s][c][k]: a tap's channel row is one vector of outputs */
    for (int k = 0; k < d->k; k++)
        for (int t = 0; t < d->r * d->s; t++)
            for (int c = 0; c < d->c; c++)
                wt[((size_t)t * d->c + c) * d->k + k] = w[((size_t)k * d->r * d->s + t) * d->c + c];
    pad_images(x, d->n, d->h, d->w, d->c, d->pad_h, d->pad_w, xpad);
    conv_direct(xpad, d->n, hp, wp, d->c, d->r, d->s, d->stride_h, d->stride_w, wt, d->k,
                d->out_h, d->out_w, y, 0);
}

void cpu_conv_direct_bwd_data(const struct bmst_conv_desc *d, const float *dy, const float *w,
                              float *dx, int accumulate, void *ws) {
    const int qh = d->r - 1 - d->pad_h, qw = d->s - 1 - d->pad_w;
    const int hp = d->out_h + 2 * qh, wp = d->out_w + 2 * qw;
    float *dypad = ws;
    float *wt = dypad + align_floats((size_t)d->n * hp * wp * d->k);
    /* tap (r', s') of the flipped filter is (R-1-r', S-1-s'); [r'][s'][k][c] */
    for (int k = 0; k < d->k; k++)
        for (int i = 0; i < d->r; i++)
            for (int j = 0; j < d->s; j++)
                for (int c = 0; c < d->c; c++)
                    wt[(((size_t)(d->r - 1 - i) * d->s + (d->s - 1 - j)) * d->k + k) * d->c + c] =
                        w[(((size_t)k * d->r + i) * d->s + j) * d->c + c];
    pad_images(dy, d->n, d->out_h, d->out_w, d->k, qh, qw, dypad);
    conv_direct(dypad, d->n, hp, wp, d->k, d->r, d->s, 1, 1, wt, d->c, d->h, d->w, dx, accumulate);
}

/* Pixels per tile of the filter gradient: their dy rows and input windows stay
 * in L1 while every tap and channel block passes over them. */
#define TILE 64

/* acc[c][k] of tap t (+)= sum over the tile's pixels of x[window + off + c0 + c]
 * * dy[pixel][k], for CB channels from c0; g points at g[t][c0][0] of the
 * [t][c][k] partial gradient. */
static inline __attribute__((always_inline)) void
filter_block(const int KV, const int CB, const float *const *xb, const float *const *dyb, int np,
             int off, float *g) {
    v16 acc[CB_ONE][4];
    for (int c = 0; c < CB_ONE; c++)
        for (int v = 0; v < 4; v++) acc[c][v] = (v16){0};
    for (int c = 0; c < CB; c++)
        for (int v = 0; v < KV; v++) acc[c][v] = *(const v16 *)(g + ((size_t)c * KV + v) * LANES);
    for (int j = 0; j < np; j++) {
        v16 dv[4];
        for (int v = 0; v < KV; v++) dv[v] = *(const v16 *)(dyb[j] + v * LANES);
        const float *xs = xb[j] + off;
        for (int c = 0; c < CB; c++)
            for (int v = 0; v < KV; v++) acc[c][v] += xs[c] * dv[v];
    }
    for (int c = 0; c < CB; c++)
        for (int v = 0; v < KV; v++) *(v16 *)(g + ((size_t)c * KV + v) * LANES) = acc[c][v];
}

void cpu_conv_direct_bwd_filter(const struct bmst_conv_desc *d, const float *x, const float *dy,
                                float *dw, void *ws) {
    const int hp = d->h + 2 * d->pad_h, wp = d->w + 2 * d->pad_w;
    const int C = d->c, K = d->k, taps = d->r * d->s;
    const size_t per_thread = (size_t)taps * C * K;
    float *xpad = ws;
    float *partial = xpad + align_floats((size_t)d->n * hp * wp * C);
    pad_images(x, d->n, d->h, d->w, C, d->pad_h, d->pad_w, xpad);
    int tap_off[MAX_TAPS];
    for (int i = 0; i < d->r; i++)
        for (int j = 0; j < d->s; j++) tap_off[i * d->s + j] = (i * wp + j) * C;
    const long per_image = (long)d->out_h * d->out_w, total = (long)d->n * per_image;
    int threads = omp_get_max_threads();
    if (threads > DIRECT_MAX_THREADS) threads = DIRECT_MAX_THREADS;
    if (total * (long)per_thread < CPU_PAR_MIN) threads = 1;
    /* each thread sums a fixed contiguous share of the pixels into its own
     * partial; the partials are then added in thread order, so the result
     * depends only on the thread count */
#pragma omp parallel num_threads(threads)
    {
        const int tid = omp_get_thread_num(), used = omp_get_num_threads();
        const long lo = total * tid / used, hi = total * (tid + 1) / used;
        float *g = partial + (size_t)tid * per_thread;
        memset(g, 0, per_thread * sizeof *g);
        const float *xb[TILE], *dyb[TILE];
        for (long first = lo; first < hi; first += TILE) {
            const int np = hi - first < TILE ? (int)(hi - first) : TILE;
            for (int j = 0; j < np; j++) {
                long pix = first + j, img = pix / per_image, rem = pix % per_image;
                int oh = (int)(rem / d->out_w), ow = (int)(rem % d->out_w);
                xb[j] = xpad + (((size_t)img * hp + (size_t)oh * d->stride_h) * wp +
                                (size_t)ow * d->stride_w) *
                                   C;
                dyb[j] = dy + (size_t)pix * K;
            }
            for (int t = 0; t < taps; t++) {
                if (K == LANES)
                    for (int c0 = 0; c0 < C; c0 += CB_ONE)
                        filter_block(1, CB_ONE, xb, dyb, np, tap_off[t] + c0,
                                     g + ((size_t)t * C + c0) * K);
                else if (K == 2 * LANES)
                    for (int c0 = 0; c0 < C; c0 += CB_TWO)
                        filter_block(2, CB_TWO, xb, dyb, np, tap_off[t] + c0,
                                     g + ((size_t)t * C + c0) * K);
                else
                    for (int c0 = 0; c0 < C; c0 += CB_FOUR)
                        filter_block(4, CB_FOUR, xb, dyb, np, tap_off[t] + c0,
                                     g + ((size_t)t * C + c0) * K);
            }
        }
    }
    /* [t][c][k] partials -> dw[k][t][c] (KRSC) */
    for (int k = 0; k < K; k++)
        for (int t = 0; t < taps; t++)
            for (int c = 0; c < C; c++) {
                float sum = 0.0f;
                for (int i = 0; i < threads; i++)
                    sum += partial[(size_t)i * per_thread + ((size_t)t * C + c) * K + k];
                dw[((size_t)k * taps + t) * C + c] = sum;
            }
}
