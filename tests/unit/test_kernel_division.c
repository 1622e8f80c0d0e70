/* The DIVISION codec's CPU kernels (backend.h, struct bmst_division_kernels)
 * against what the codec promises, computed here independently in double:
 * - the stored tile means are the means of each tile's real elements (a tile
 *   at the bottom or right edge, where H or W is not a multiple of B, averages
 *   only the elements it has);
 * - round trip: |x - decode(encode(x))| <= scale/2 for every element, scale =
 *   (max - min) / (2^Q - 1) of the high-frequency part (x minus its tile's
 *   mean) of that element's (sample, channel), for every Q in 1, 2, 4, 8,
 *   blocks that divide H and W and blocks that do not, in fp32 and fp16;
 * - the stored form is exactly bmst_division_layout_of's bytes (the buffers
 *   here are that size, so the sanitizer build catches an overrun), and its
 *   bytes do not depend on the thread count.
 *
 * Tolerance beyond scale/2: the kernels work in fp32 and store the means,
 * minimum and step in the activation type, so each of those is off by half
 * a unit in the last place of that type: a few ulps of the largest magnitude
 * involved (|x|, the mean, the part's range). A wrong tile, a wrong
 * rounding (floor instead of nearest: up to a whole scale) or a wrong code
 * position moves elements by a sizeable fraction of the scale. */
#include "backend.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static float round_to(enum bmst_dtype dtype, double v) {
    return dtype == BMST_F16 ? (float)(_Float16)v : (float)v;
}

/* A feature map: a smooth field per channel plus noise, channel 0 of sample
 * 0 constant (a zero range, step 0), values in the activation type. */
static float *feature_map(const struct bmst_division_desc *d, enum bmst_dtype dtype) {
    size_t n = (size_t)d->n * d->h * d->w * d->c;
    float *x = malloc(n * sizeof *x);
    size_t i = 0;
    for (int s = 0; s < d->n; s++)
        for (int h = 0; h < d->h; h++)
            for (int w = 0; w < d->w; w++)
                for (int k = 0; k < d->c; k++, i++) {
                    double smooth = 2.0 * sin(0.3 * h + 0.7 * k + s) * cos(0.2 * w - k);
                    double v = smooth + (uniform() - 0.5) * (0.2 + k);
                    x[i] = round_to(dtype, s == 0 && k == 0 ? 1.25 : v);
                }
    return x;
}

/* The mean of the real elements of the tile holding (h, w), in double. */
static double tile_mean(const struct bmst_division_desc *d, const float *x, int s, int h, int w,
                        int k) {
    int h0 = h / d->block * d->block, w0 = w / d->block * d->block;
    double sum = 0.0;
    int count = 0;
    for (int i = h0; i < h0 + d->block && i < d->h; i++)
        for (int j = w0; j < w0 + d->block && j < d->w; j++, count++)
            sum += x[(((size_t)s * d->h + i) * d->w + j) * d->c + k];
    return sum / count;
}

static void check_case(struct bmst_backend *be, struct bmst_backend *be1,
                       const struct bmst_division_desc *d) {
    const enum bmst_dtype dtype = be->act_dtype;
    const double ulp = dtype == BMST_F16 ? ldexp(1.0, -10) : ldexp(1.0, -23);
    const size_t count = (size_t)d->n * d->h * d->w * d->c;
    const struct bmst_division_layout l = bmst_division_layout_of(d, be->act_bytes);
    float *x = feature_map(d, dtype);
    unsigned char *stored = malloc(l.bytes), *stored1 = malloc(l.bytes);
    float *back = malloc(count * sizeof *back);
    memset(stored, 0xA5, l.bytes);
    memset(stored1, 0x5A, l.bytes);
    be->division->encode(be, d, x, stored);
    be1->division->encode(be1, d, x, stored1);
    be->division->decode(be, d, stored, back);
    /* section padding is never written: compare what the layout defines */
    int same =
        memcmp(stored + l.lo, stored1 + l.lo, (size_t)d->n * d->c * sizeof(float)) == 0 &&
        memcmp(stored + l.step, stored1 + l.step, (size_t)d->n * d->c * sizeof(float)) == 0 &&
        memcmp(stored + l.codes, stored1 + l.codes, (size_t)d->n * l.row_bytes) == 0;
    const int hb = (d->h + d->block - 1) / d->block, wb = (d->w + d->block - 1) / d->block;
    same = same && memcmp(stored + l.lfc, stored1 + l.lfc,
                          (size_t)d->n * hb * wb * d->c * sizeof(float)) == 0;
    CHECK(same, "%dx%dx%dx%d B=%d Q=%d %s: 1 and 2 threads store different bytes", d->n, d->h, d->w,
          d->c, d->block, d->bits, bmst_dtype_name(dtype));

    const float *lfc = (const float *)(stored + l.lfc);
    double worst_mean = 0.0, worst_ratio = 0.0, err_sum = 0.0;
    for (int s = 0; s < d->n; s++)
        for (int k = 0; k < d->c; k++) {
            /* the part's range, from the exact tile means */
            double lo = INFINITY, hi = -INFINITY, big = 0.0;
            for (int h = 0; h < d->h; h++)
                for (int w = 0; w < d->w; w++) {
                    size_t i = (((size_t)s * d->h + h) * d->w + w) * d->c + k;
                    double m = tile_mean(d, x, s, h, w, k), v = x[i] - m;
                    lo = fmin(lo, v), hi = fmax(hi, v);
                    big = fmax(big, fmax(fabs(x[i]), fabs(m)));
                }
            big = fmax(big, fmax(fabs(lo), fabs(hi)));
            const double scale = (hi - lo) / ((1 << d->bits) - 1);
            for (int h = 0; h < d->h; h++)
                for (int w = 0; w < d->w; w++) {
                    size_t i = (((size_t)s * d->h + h) * d->w + w) * d->c + k;
                    double m = tile_mean(d, x, s, h, w, k);
                    size_t t = (((size_t)s * hb + h / d->block) * wb + w / d->block) * d->c + k;
                    worst_mean = fmax(worst_mean, fabs(lfc[t] - m) / big);
                    double err = fabs((double)back[i] - x[i]);
                    double bound = scale / 2 + 4 * ulp * big;
                    err_sum += err;
                    worst_ratio = fmax(worst_ratio, err / bound);
                }
        }
    CHECK(worst_mean <= 2 * ulp, "%dx%dx%dx%d B=%d Q=%d %s: tile means off by %.3g of the largest",
          d->n, d->h, d->w, d->c, d->block, d->bits, bmst_dtype_name(dtype), worst_mean);
    CHECK(worst_ratio <= 1.0,
          "%dx%dx%dx%d B=%d Q=%d %s: an element is off by %.3g of scale/2 (+ rounding)", d->n, d->h,
          d->w, d->c, d->block, d->bits, bmst_dtype_name(dtype), worst_ratio);
    /* the codec is lossy (so the bound above is what is being checked) */
    CHECK(err_sum > 0.0, "decode gives x back exactly: nothing was quantized");
    printf(
        "%dx%dx%dx%d B=%d Q=%d %s: %zu bytes for %zu, worst error %.3f of the bound, mean %.3g\n",
        d->n, d->h, d->w, d->c, d->block, d->bits, bmst_dtype_name(dtype), l.bytes,
        count * be->act_bytes, worst_ratio, err_sum / (double)count);
    free(x), free(stored), free(stored1), free(back);
}

int main(void) {
    const struct bmst_division_desc shapes[] = {
        {3, 16, 16, 5, 8, 0},  /* tiles divide H and W */
        {2, 13, 7, 3, 8, 0},   /* they do not: partial tiles at the bottom and right */
        {2, 6, 9, 4, 4, 0},    /* B=4, partial columns only */
        {4, 5, 3, 2, 8, 0},    /* one partial tile per channel */
        {2, 28, 28, 16, 8, 0}, /* Fashion-MNIST's first feature maps */
    };
    const enum bmst_dtype types[] = {BMST_F32, BMST_F16};
    const int bits[] = {1, 2, 4, 8};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        struct bmst_backend *be = bmst_backend_cpu_create(2, types[t]);
        struct bmst_backend *be1 = bmst_backend_cpu_create(1, types[t]);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (size_t q = 0; q < sizeof bits / sizeof *bits; q++) {
                struct bmst_division_desc d = shapes[s];
                d.bits = bits[q];
                check_case(be, be1, &d);
            }
        be->destroy(be);
        be1->destroy(be1);
    }
    return check_finish("kernel_division");
}
