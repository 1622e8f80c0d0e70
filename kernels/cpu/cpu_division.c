/* The DIVISION codec's kernels (backend.h, struct bmst_division_kernels):
 * tile means (low frequency) and the rest quantized per (sample, channel)
 * (high frequency), packed; and back. Each sample is one thread's, every sum
 * runs in a fixed order, and a sample's codes start on a byte of their own,
 * so the stored bytes do not depend on the thread count. The CPU keeps half
 * values as floats rounded to the half type (cpu_precision.c), so every
 * stored value is a float here, rounded to act_dtype. */
#include "cpu_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static float round_one(enum bmst_dtype dtype, float v) {
    cpu_round_to(dtype, &v, 1);
    return v;
}

/* The tile means of sample s: summed into lfc in element order, then
 * divided by the tile's real element count. */
static void tile_means(const struct bmst_division_desc *d, enum bmst_dtype dtype, const float *x,
                       float *lfc) {
    const int B = d->block, c = d->c;
    const int hb = (d->h + B - 1) / B, wb = (d->w + B - 1) / B;
    memset(lfc, 0, (size_t)hb * wb * c * sizeof *lfc);
    for (int h = 0; h < d->h; h++)
        for (int w = 0; w < d->w; w++) {
            const float *px = x + ((size_t)h * d->w + w) * c;
            float *pl = lfc + ((size_t)(h / B) * wb + w / B) * c;
            for (int k = 0; k < c; k++)
                pl[k] += px[k];
        }
    for (int th = 0; th < hb; th++)
        for (int tw = 0; tw < wb; tw++) {
            const int rows = (th + 1) * B <= d->h ? B : d->h - th * B;
            const int cols = (tw + 1) * B <= d->w ? B : d->w - tw * B;
            float *pl = lfc + ((size_t)th * wb + tw) * c;
            for (int k = 0; k < c; k++)
                pl[k] /= (float)(rows * cols);
            cpu_round_to(dtype, pl, (size_t)c);
        }
}

/* The high-frequency part's range per channel of sample s: lo its minimum
 * and step its quantization step (range over 2^bits - 1), both in act_dtype. */
static void hfc_range(const struct bmst_division_desc *d, enum bmst_dtype dtype, const float *x,
                      const float *lfc, float *lo, float *step) {
    const int B = d->block, c = d->c, wb = (d->w + B - 1) / B;
    float *hi = step; /* the maximum, until the step replaces it */
    for (int k = 0; k < c; k++)
        lo[k] = INFINITY, hi[k] = -INFINITY;
    for (int h = 0; h < d->h; h++)
        for (int w = 0; w < d->w; w++) {
            const float *px = x + ((size_t)h * d->w + w) * c;
            const float *pl = lfc + ((size_t)(h / B) * wb + w / B) * c;
            for (int k = 0; k < c; k++) {
                const float v = px[k] - pl[k];
                lo[k] = v < lo[k] ? v : lo[k];
                hi[k] = v > hi[k] ? v : hi[k];
            }
        }
    const float levels = (float)((1 << d->bits) - 1);
    for (int k = 0; k < c; k++) {
        lo[k] = round_one(dtype, lo[k]);
        step[k] = round_one(dtype, (hi[k] - lo[k]) / levels);
    }
}

/* Codes q[0, n) (each below 2^bits) packed bits to a code, and back; bits
 * is a constant at each call (pack_codes, unpack_codes), so each width
 * compiles to its own vectorized loop. */
static inline void pack_width(const unsigned char *q, size_t n, unsigned char *out,
                              const int bits) {
    const int per = 8 / bits;
    const size_t whole = n / (size_t)per;
    for (size_t b = 0; b < whole; b++) {
        unsigned byte = 0;
        for (int j = 0; j < per; j++)
            byte |= (unsigned)q[b * per + j] << (j * bits);
        out[b] = (unsigned char)byte;
    }
    if (whole * per < n) {
        unsigned byte = 0;
        for (size_t e = whole * per; e < n; e++)
            byte |= (unsigned)q[e] << ((e - whole * per) * bits);
        out[whole] = (unsigned char)byte;
    }
}

static inline void unpack_width(const unsigned char *restrict in, size_t n,
                                unsigned char *restrict q, const int bits) {
    const int per = 8 / bits;
    const unsigned mask = (1u << bits) - 1;
    const size_t whole = n / (size_t)per;
    for (size_t b = 0; b < whole; b++)
        for (int j = 0; j < per; j++)
            q[b * per + j] = (unsigned char)((in[b] >> (j * bits)) & mask);
    for (size_t e = whole * per; e < n; e++)
        q[e] = (unsigned char)((in[whole] >> ((e - whole * per) * bits)) & mask);
}

static void pack_codes(const unsigned char *q, size_t n, unsigned char *out, int bits) {
    switch (bits) {
    case 1:
        pack_width(q, n, out, 1);
        break;
    case 2:
        pack_width(q, n, out, 2);
        break;
    case 4:
        pack_width(q, n, out, 4);
        break;
    default:
        pack_width(q, n, out, 8);
        break;
    }
}

static void unpack_codes(const unsigned char *in, size_t n, unsigned char *q, int bits) {
    switch (bits) {
    case 1:
        unpack_width(in, n, q, 1);
        break;
    case 2:
        unpack_width(in, n, q, 2);
        break;
    case 4:
        unpack_width(in, n, q, 4);
        break;
    default:
        unpack_width(in, n, q, 8);
        break;
    }
}

/* Sample s's codes, one byte each into q: the nearest level of x - tile
 * mean between lo and lo + (2^bits - 1) * step, found as
 * floor((v - lo) * (1 / step) + 1/2) (round half up; 0 where step is 0). */
static void quantize(const struct bmst_division_desc *d, const float *restrict x,
                     const float *restrict lfc, const float *restrict lo,
                     const float *restrict step, float *restrict inv, unsigned char *restrict q) {
    const int B = d->block, c = d->c, wb = (d->w + B - 1) / B;
    const float top = (float)((1 << d->bits) - 1);
    for (int k = 0; k < c; k++)
        inv[k] = step[k] > 0.0f ? 1.0f / step[k] : 0.0f;
    for (int h = 0; h < d->h; h++)
        for (int w = 0; w < d->w; w++) {
            const float *restrict px = x + ((size_t)h * d->w + w) * c;
            const float *restrict pl = lfc + ((size_t)(h / B) * wb + w / B) * c;
            unsigned char *restrict pq = q + ((size_t)h * d->w + w) * c;
#pragma omp simd
            for (int k = 0; k < c; k++) {
                float r = floorf((px[k] - pl[k] - lo[k]) * inv[k] + 0.5f);
                r = r > 0.0f ? r : 0.0f;
                r = r < top ? r : top;
                pq[k] = (unsigned char)(int)r;
            }
        }
}

/* Sample s decoded from its codes q: tile mean + (lo + code * step). */
static void dequantize(const struct bmst_division_desc *d, const float *restrict lfc,
                       const float *restrict lo, const float *restrict step,
                       const unsigned char *restrict q, float *restrict x) {
    const int B = d->block, c = d->c, wb = (d->w + B - 1) / B;
    for (int h = 0; h < d->h; h++)
        for (int w = 0; w < d->w; w++) {
            const size_t e = ((size_t)h * d->w + w) * c;
            const float *pl = lfc + ((size_t)(h / B) * wb + w / B) * c;
            for (int k = 0; k < c; k++)
                x[e + k] = pl[k] + (lo[k] + (float)q[e + k] * step[k]);
        }
}

static void division_encode(struct bmst_backend *be, const struct bmst_division_desc *d,
                            const void *xv, void *stored) {
    const enum bmst_dtype dtype = be->act_dtype;
    const struct bmst_division_layout l = bmst_division_layout_of(d, sizeof(float));
    const int B = d->block, c = d->c;
    const int hb = (d->h + B - 1) / B, wb = (d->w + B - 1) / B;
    const size_t per_sample = (size_t)d->h * d->w * c;
    char *base = stored;
#pragma omp parallel if (per_sample * (size_t)d->n > CPU_PAR_MIN)
    {
        unsigned char *q = bmst_xmalloc(per_sample);
        float *inv = bmst_xmalloc((size_t)c * sizeof *inv);
#pragma omp for schedule(static)
        for (int s = 0; s < d->n; s++) {
            const float *x = (const float *)xv + (size_t)s * per_sample;
            float *lfc = (float *)(base + l.lfc) + (size_t)s * hb * wb * c;
            float *lo = (float *)(base + l.lo) + (size_t)s * c;
            float *step = (float *)(base + l.step) + (size_t)s * c;
            tile_means(d, dtype, x, lfc);
            hfc_range(d, dtype, x, lfc, lo, step);
            quantize(d, x, lfc, lo, step, inv, q);
            pack_codes(q, per_sample, (unsigned char *)base + l.codes + (size_t)s * l.row_bytes,
                       d->bits);
        }
        free(q);
        free(inv);
    }
}

static void division_decode(struct bmst_backend *be, const struct bmst_division_desc *d,
                            const void *stored, void *xv) {
    const struct bmst_division_layout l = bmst_division_layout_of(d, sizeof(float));
    const int B = d->block, c = d->c;
    const int hb = (d->h + B - 1) / B, wb = (d->w + B - 1) / B;
    const size_t per_sample = (size_t)d->h * d->w * c;
    const char *base = stored;
#pragma omp parallel if (per_sample * (size_t)d->n > CPU_PAR_MIN)
    {
        unsigned char *q = bmst_xmalloc(per_sample);
#pragma omp for schedule(static)
        for (int s = 0; s < d->n; s++) {
            float *x = (float *)xv + (size_t)s * per_sample;
            const float *lfc = (const float *)(base + l.lfc) + (size_t)s * hb * wb * c;
            const float *lo = (const float *)(base + l.lo) + (size_t)s * c;
            const float *step = (const float *)(base + l.step) + (size_t)s * c;
            unpack_codes((const unsigned char *)base + l.codes + (size_t)s * l.row_bytes,
                         per_sample, q, d->bits);
            dequantize(d, lfc, lo, step, q, x);
            cpu_round_to(be->act_dtype, x, per_sample);
        }
        free(q);
    }
}

const struct bmst_division_kernels cpu_division_kernels = {
    .encode = division_encode,
    .decode = division_decode,
};
