/* CPU backend forward results against naive reference implementations written
 * here in double (direct 7-loop convolution, textbook batch norm with PyTorch's
 * running-stat update, pooling, fc, cross-entropy, SGD by hand), the chunked
 * convolution path against the same references, the ReLU codec's sign mask,
 * and bitwise determinism.
 *
 * Tolerance: max|got - ref| / max|ref| < 1e-5. The references are exact to
 * double; the kernels round to fp32 (about 6e-8 per operation) and sum at most
 * a few hundred terms, so their error is ~1e-6 of the largest output, while
 * any indexing, padding or formula mistake moves outputs by O(1). */
#include "backend.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

static unsigned long long rng_state = 0x2545F4914F6CDD1Dull;
static double uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static float *rand_array(size_t n, float lo, float hi) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(lo + (hi - lo) * uniform());
    return a;
}
static float *filled(size_t n, float v) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = v;
    return a;
}

/* max|got - ref| / max|ref|, printed and checked */
static void check_close(const char *what, const float *got, const double *ref, size_t n,
                        double tol) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - ref[i]);
        if (!(diff <= max_diff)) max_diff = diff; /* NaN sticks */
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double rel = max_diff / fmax(max_ref, 1e-30);
    printf("  %-40s rel err %.2e\n", what, rel);
    CHECK(rel < tol, "%s: relative error %.3e >= %.1e", what, rel, tol);
}

/* ---- convolution ---- */

static void ref_conv_fwd(const struct bmst_conv_desc *d, const float *x, const float *w,
                         double *y) {
    for (int n = 0; n < d->n; n++)
        for (int oh = 0; oh < d->out_h; oh++)
            for (int ow = 0; ow < d->out_w; ow++)
                for (int k = 0; k < d->k; k++) {
                    double s = 0.0;
                    for (int r = 0; r < d->r; r++)
                        for (int q = 0; q < d->s; q++)
                            for (int c = 0; c < d->c; c++) {
                                int ih = oh * d->stride_h - d->pad_h + r;
                                int iw = ow * d->stride_w - d->pad_w + q;
                                if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                                s += (double)x[(((size_t)n * d->h + ih) * d->w + iw) * d->c + c] *
                                     w[(((size_t)k * d->r + r) * d->s + q) * d->c + c];
                            }
                    y[(((size_t)n * d->out_h + oh) * d->out_w + ow) * d->k + k] = s;
                }
}

/* dx and dw by the same loops, scattering instead of summing */
static void ref_conv_bwd(const struct bmst_conv_desc *d, const float *x, const float *w,
                         const float *dy, double *dx, double *dw) {
    memset(dx, 0, (size_t)d->n * d->h * d->w * d->c * sizeof *dx);
    memset(dw, 0, (size_t)d->k * d->r * d->s * d->c * sizeof *dw);
    for (int n = 0; n < d->n; n++)
        for (int oh = 0; oh < d->out_h; oh++)
            for (int ow = 0; ow < d->out_w; ow++)
                for (int k = 0; k < d->k; k++) {
                    double g = dy[(((size_t)n * d->out_h + oh) * d->out_w + ow) * d->k + k];
                    for (int r = 0; r < d->r; r++)
                        for (int q = 0; q < d->s; q++)
                            for (int c = 0; c < d->c; c++) {
                                int ih = oh * d->stride_h - d->pad_h + r;
                                int iw = ow * d->stride_w - d->pad_w + q;
                                if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                                size_t xi = (((size_t)n * d->h + ih) * d->w + iw) * d->c + c;
                                size_t wi = (((size_t)k * d->r + r) * d->s + q) * d->c + c;
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                }
}

/* Forward, both backward ops (dx with accumulate 0 and 1) against the direct
 * loops. Returns the workspace size so callers can reason about chunking. */
static size_t check_conv_pads(struct bmst_backend *be, int n, int h, int w, int c, int k, int r,
                              int s, int stride, int pad_h, int pad_w, const char *name) {
    struct bmst_conv_desc d = {.n = n,
                               .h = h,
                               .w = w,
                               .c = c,
                               .k = k,
                               .r = r,
                               .s = s,
                               .stride_h = stride,
                               .stride_w = stride,
                               .pad_h = pad_h,
                               .pad_w = pad_w};
    d.out_h = (h + 2 * pad_h - r) / stride + 1;
    d.out_w = (w + 2 * pad_w - s) / stride + 1;
    size_t nx = (size_t)n * h * w * c, nw = (size_t)k * r * s * c;
    size_t ny = (size_t)n * d.out_h * d.out_w * k;
    size_t ws_bytes = 0;
    char why[128];
    CHECK(be->conv->plan(be, &d, BMST_CONV_ALL_PASSES, &ws_bytes, why, sizeof why) == 0, "%s", why);
    void *ws = malloc(ws_bytes ? ws_bytes : 1); /* exact size: ASan sees any overrun */
    float *x = rand_array(nx, -1, 1), *wt = rand_array(nw, -1, 1), *dy = rand_array(ny, -1, 1);
    float *y = filled(ny, NAN), *dx = filled(nx, NAN), *dw = filled(nw, NAN);
    double *ry = malloc(ny * sizeof *ry), *rdx = malloc(nx * sizeof *rdx);
    double *rdw = malloc(nw * sizeof *rdw);
    char what[128];

    be->conv->fwd(be, &d, x, wt, y, ws);
    ref_conv_fwd(&d, x, wt, ry);
    snprintf(what, sizeof what, "conv %s fwd", name);
    check_close(what, y, ry, ny, TOL);

    ref_conv_bwd(&d, x, wt, dy, rdx, rdw);
    be->conv->bwd_data(be, &d, dy, wt, dx, 0, ws);
    snprintf(what, sizeof what, "conv %s bwd_data", name);
    check_close(what, dx, rdx, nx, TOL);
    /* accumulate: dx already holds the gradient, so it must come out doubled */
    be->conv->bwd_data(be, &d, dy, wt, dx, 1, ws);
    for (size_t i = 0; i < nx; i++)
        rdx[i] *= 2.0;
    snprintf(what, sizeof what, "conv %s bwd_data accumulate", name);
    check_close(what, dx, rdx, nx, TOL);
    be->conv->bwd_filter(be, &d, x, dy, dw, ws);
    snprintf(what, sizeof what, "conv %s bwd_filter", name);
    check_close(what, dw, rdw, nw, TOL);

    free(ws), free(x), free(wt), free(dy), free(y), free(dx), free(dw);
    free(ry), free(rdx), free(rdw);
    return ws_bytes;
}

static size_t check_conv(struct bmst_backend *be, int n, int h, int w, int c, int k, int r, int s,
                         int stride, int pad, const char *name) {
    return check_conv_pads(be, n, h, w, c, k, r, s, stride, pad, pad, name);
}

static void test_conv(struct bmst_backend *be) {
    /* InceptionV3's asymmetric kernels, padded along their long side only,
     * on the im2col path and (16, 32 or 64 filters) the direct kernels */
    check_conv_pads(be, 2, 9, 8, 5, 6, 1, 7, 1, 0, 3, "1x7 s1 p0x3");
    check_conv_pads(be, 2, 8, 9, 5, 6, 7, 1, 1, 3, 0, "7x1 s1 p3x0");
    check_conv_pads(be, 2, 6, 7, 4, 5, 3, 1, 1, 1, 0, "3x1 s1 p1x0");
    check_conv_pads(be, 2, 7, 6, 4, 5, 1, 3, 2, 0, 1, "1x3 s2 p0x1");
    check_conv_pads(be, 2, 9, 8, 16, 32, 1, 7, 1, 0, 3, "direct 32-wide 1x7 s1 p0x3");
    check_conv_pads(be, 2, 8, 9, 32, 16, 7, 1, 1, 3, 0, "direct 16-wide 7x1 s1 p3x0");
    check_conv(be, 2, 9, 8, 5, 6, 3, 3, 1, 1, "3x3 s1 p1");
    check_conv(be, 2, 9, 7, 3, 4, 3, 2, 2, 1, "3x2 s2 p1");
    check_conv(be, 1, 15, 13, 3, 8, 7, 7, 2, 3, "7x7 s2 p3");
    check_conv(be, 3, 6, 5, 7, 4, 1, 1, 1, 0, "1x1 s1");
    check_conv(be, 2, 7, 6, 5, 4, 1, 1, 2, 0, "1x1 s2");
    /* the direct kernels for 16, 32 and 64 output channels (cpu_conv_direct.c),
     * with pixel counts that leave partial blocks and tiles */
    check_conv(be, 2, 9, 11, 32, 32, 3, 3, 1, 1, "direct 32-wide 3x3 s1 p1");
    check_conv(be, 3, 7, 5, 16, 32, 3, 3, 2, 1, "direct 32-wide 3x3 s2 p1");
    check_conv(be, 1, 6, 7, 16, 16, 5, 5, 1, 2, "direct 16-wide 5x5 s1 p2");
    check_conv(be, 2, 5, 5, 8, 16, 3, 3, 1, 0, "direct 16-wide fwd only 3x3 s1 p0");
    check_conv(be, 2, 6, 5, 64, 64, 3, 3, 1, 1, "direct 64-wide 3x3 s1 p1");
    check_conv(be, 2, 7, 7, 32, 64, 3, 3, 2, 1, "direct 64-wide 3x3 s2 p1");

    /* a batch the workspace cannot hold at once: 10 images of 32x32 with a
     * 3x3x24 window need 8.8 MB of columns, so it runs in several chunks (and
     * a final partial one); the results must not change. 24 channels keep the
     * im2col path (the direct kernels take 16, 32 and 64). */
    const int n = 10, hw = 32, c = 24;
    size_t ws = check_conv(be, n, hw, hw, c, 24, 3, 3, 1, 1, "chunked 3x3 s1 p1");
    size_t full = (size_t)n * hw * hw * 9 * c * sizeof(float);
    CHECK(ws < full && ws > 0, "workspace %zu not below the whole batch's %zu: no chunking", ws,
          full);
    CHECK((full / ws) * ws != full,
          "chunks divide the batch evenly: the partial chunk is untested");
}

/* ---- batch norm ---- */

static void test_bn(struct bmst_backend *be, float eps) {
    const size_t rows = 4096; /* enough rows for several reduction blocks and threads */
    const int c = 16;
    const float momentum = 0.1f;
    struct bmst_bn_desc d = {.rows = rows, .c = c, .eps = eps, .momentum = momentum};
    size_t nx = rows * c;
    /* a large mean next to the spread: a naive one-pass float variance fails */
    float *x = rand_array(nx, 4.0f, 6.0f);
    float *gamma = rand_array(c, 0.5f, 1.5f), *beta = rand_array(c, -0.5f, 0.5f);
    float *y = filled(nx, NAN), *mean = filled(c, NAN), *invstd = filled(c, NAN);
    float *rm = rand_array(c, -0.2f, 0.2f), *rv = rand_array(c, 0.8f, 1.2f);
    double *ry = malloc(nx * sizeof *ry), *rmean = malloc(c * sizeof *rmean);
    double *rinv = malloc(c * sizeof *rinv), *rrm = malloc(c * sizeof *rrm);
    double *rrv = malloc(c * sizeof *rrv);

    for (int j = 0; j < c; j++) {
        double s = 0.0, q = 0.0;
        for (size_t i = 0; i < rows; i++)
            s += x[i * c + j];
        double m = s / rows;
        for (size_t i = 0; i < rows; i++)
            q += (x[i * c + j] - m) * (x[i * c + j] - m);
        double var = q / rows, unbiased = q / (rows - 1);
        rmean[j] = m;
        rinv[j] = 1.0 / sqrt(var + eps);
        rrm[j] = (1.0 - momentum) * rm[j] + momentum * m;
        rrv[j] = (1.0 - momentum) * rv[j] + momentum * unbiased;
        for (size_t i = 0; i < rows; i++)
            ry[i * c + j] = (x[i * c + j] - m) * rinv[j] * gamma[j] + beta[j];
    }
    be->bn->fwd_train(be, &d, x, gamma, beta, y, mean, invstd, rm, rv);
    check_close("bn train y", y, ry, nx, TOL);
    check_close("bn train save_mean", mean, rmean, c, TOL);
    check_close("bn train save_invstd", invstd, rinv, c, TOL);
    check_close("bn running_mean", rm, rrm, c, TOL);
    check_close("bn running_var (unbiased)", rv, rrv, c, TOL);

    for (int j = 0; j < c; j++) {
        double inv = 1.0 / sqrt((double)rv[j] + eps);
        for (size_t i = 0; i < rows; i++)
            ry[i * c + j] = (x[i * c + j] - rm[j]) * inv * gamma[j] + beta[j];
    }
    be->bn->fwd_eval(be, &d, x, gamma, beta, rm, rv, y);
    check_close("bn eval y", y, ry, nx, TOL);

    free(x), free(gamma), free(beta), free(y), free(mean), free(invstd), free(rm), free(rv);
    free(ry), free(rmean), free(rinv), free(rrm), free(rrv);
}

/* Batch norm of a channel prefix of a wider buffer (x_stride > c, a dense
 * block's running concatenation) against the same values laid out alone:
 * the same arithmetic in the same order, so every output bit for bit, and
 * the buffer's other channels untouched by backward. */
static void test_bn_strided(struct bmst_backend *be) {
    const size_t rows = 3000;
    const int c = 24, xs = 40;
    struct bmst_bn_desc alone = {.rows = rows, .c = c, .eps = 1e-5f, .momentum = 0.1f};
    struct bmst_bn_desc prefix = alone;
    prefix.x_stride = xs;
    float *x = rand_array(rows * c, -2.0f, 3.0f), *dy = rand_array(rows * c, -1.0f, 1.0f);
    float *wide = rand_array(rows * xs, -9.0f, 9.0f), *wide_dx = rand_array(rows * xs, -1, 1);
    float *dx = malloc(rows * c * sizeof *dx), *dx_before = malloc(rows * xs * sizeof *dx);
    for (size_t r = 0; r < rows; r++) {
        memcpy(wide + r * xs, x + r * c, c * sizeof *x);
        memcpy(dx + r * c, wide_dx + r * xs, c * sizeof *dx); /* the same values to add to */
    }
    memcpy(dx_before, wide_dx, rows * xs * sizeof *dx);
    float *gamma = rand_array(c, 0.5f, 1.5f), *beta = rand_array(c, -0.5f, 0.5f);
    float *out[2], *stats[2], *grads[2];
    for (int k = 0; k < 2; k++) {
        out[k] = filled(rows * c, NAN);
        stats[k] = filled(4 * (size_t)c, 0.5f); /* mean, invstd, running mean and var */
        grads[k] = filled(2 * (size_t)c, NAN);
        const struct bmst_bn_desc *d = k ? &prefix : &alone;
        float *s = stats[k], *in = k ? wide : x, *din = k ? wide_dx : dx;
        be->bn->fwd_train(be, d, in, gamma, beta, out[k], s, s + c, s + 2 * c, s + 3 * c);
        be->bn->bwd(be, d, in, dy, gamma, s, s + c, din, grads[k], grads[k] + c, 1);
    }
    CHECK(memcmp(out[0], out[1], rows * c * sizeof(float)) == 0, "bn strided: y differs");
    CHECK(memcmp(stats[0], stats[1], 4 * c * sizeof(float)) == 0, "bn strided: stats differ");
    CHECK(memcmp(grads[0], grads[1], 2 * c * sizeof(float)) == 0, "bn strided: dgamma differs");
    int dx_same = 1, others_kept = 1;
    for (size_t r = 0; r < rows; r++) {
        dx_same &= memcmp(dx + r * c, wide_dx + r * xs, c * sizeof *dx) == 0;
        others_kept &= memcmp(wide_dx + r * xs + c, dx_before + r * xs + c,
                              (size_t)(xs - c) * sizeof *dx) == 0;
    }
    CHECK(dx_same, "bn strided: dx differs from the contiguous one");
    CHECK(others_kept, "bn strided: backward wrote channels beyond the prefix");
    printf("  %-40s bitwise equal\n", "bn of a channel prefix (x_stride)");
    for (int k = 0; k < 2; k++) free(out[k]), free(stats[k]), free(grads[k]);
    free(x), free(dy), free(wide), free(wide_dx), free(dx), free(dx_before), free(gamma), free(beta);
}

/* ---- pooling ---- */

static void ref_pool(const struct bmst_pool_desc *d, const float *x, int is_max, double *y) {
    for (int n = 0; n < d->n; n++)
        for (int oh = 0; oh < d->out_h; oh++)
            for (int ow = 0; ow < d->out_w; ow++)
                for (int c = 0; c < d->c; c++) {
                    double acc = is_max ? -INFINITY : 0.0;
                    for (int i = 0; i < d->kh; i++)
                        for (int j = 0; j < d->kw; j++) {
                            int ih = oh * d->stride_h - d->pad_h + i;
                            int iw = ow * d->stride_w - d->pad_w + j;
                            if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                            double v = x[(((size_t)n * d->h + ih) * d->w + iw) * d->c + c];
                            acc = is_max ? fmax(acc, v) : acc + v;
                        }
                    /* count_include_pad: the divisor is the full window */
                    if (!is_max) acc /= d->kh * d->kw;
                    y[(((size_t)n * d->out_h + oh) * d->out_w + ow) * d->c + c] = acc;
                }
}

/* Each arg-max byte names the first maximum of its window in scan order, as
 * row * kw + column from the window's corner before clipping. */
static void check_argmax(const struct bmst_pool_desc *d, const float *x, const uint8_t *argmax) {
    int wrong = 0;
    for (int n = 0; n < d->n; n++)
        for (int oh = 0; oh < d->out_h; oh++)
            for (int ow = 0; ow < d->out_w; ow++)
                for (int c = 0; c < d->c; c++) {
                    int best_at = -1;
                    float best = 0.0f;
                    for (int i = 0; i < d->kh; i++)
                        for (int j = 0; j < d->kw; j++) {
                            int ih = oh * d->stride_h - d->pad_h + i;
                            int iw = ow * d->stride_w - d->pad_w + j;
                            if (ih < 0 || ih >= d->h || iw < 0 || iw >= d->w) continue;
                            float v = x[(((size_t)n * d->h + ih) * d->w + iw) * d->c + c];
                            if (best_at < 0 || v > best) best = v, best_at = i * d->kw + j;
                        }
                    size_t o = (((size_t)n * d->out_h + oh) * d->out_w + ow) * d->c + c;
                    wrong += argmax[o] != best_at;
                }
    CHECK(wrong == 0, "maxpool arg-max: %d of the bytes name another window element", wrong);
}

static void test_pool(struct bmst_backend *be) {
    struct bmst_pool_desc d = {.n = 3,
                               .h = 11,
                               .w = 9,
                               .c = 6,
                               .kh = 3,
                               .kw = 3,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 1,
                               .pad_w = 1};
    d.out_h = (d.h + 2 * d.pad_h - d.kh) / d.stride_h + 1;
    d.out_w = (d.w + 2 * d.pad_w - d.kw) / d.stride_w + 1;
    size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * d.out_h * d.out_w * d.c;
    float *x = rand_array(nx, -1, 1), *y = filled(ny, NAN);
    double *ry = malloc(ny * sizeof *ry);
    be->maxpool->fwd(be, &d, x, y, NULL);
    ref_pool(&d, x, 1, ry);
    check_close("maxpool 3x3 s2 p1", y, ry, ny, TOL);
    /* ties on a coarse grid, so the first maximum in scan order must win */
    for (size_t i = 0; i < nx; i++)
        x[i] = roundf(x[i] * 2.0f) / 2.0f;
    uint8_t *argmax = malloc(ny);
    memset(argmax, 0xff, ny);
    be->maxpool->fwd(be, &d, x, y, argmax);
    ref_pool(&d, x, 1, ry);
    check_close("maxpool 3x3 s2 p1 with ties", y, ry, ny, TOL);
    check_argmax(&d, x, argmax);
    free(argmax);
    be->avgpool->fwd(be, &d, x, y);
    ref_pool(&d, x, 0, ry);
    check_close("avgpool 3x3 s2 p1 (count_include_pad)", y, ry, ny, TOL);

    const int n = 3, hw = 49, c = 10;
    float *gx = rand_array((size_t)n * hw * c, -1, 1), *gy = filled((size_t)n * c, NAN);
    double *rgy = calloc((size_t)n * c, sizeof *rgy);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++)
            for (int j = 0; j < c; j++)
                rgy[i * c + j] += gx[((size_t)i * hw + p) * c + j] / hw;
    be->gap->fwd(be, n, hw, c, gx, gy);
    check_close("global avgpool", gy, rgy, (size_t)n * c, TOL);
    free(x), free(y), free(ry), free(gx), free(gy), free(rgy);
}

/* InceptionV3's pooling branch: 3x3, stride 1, padding 1, every output
 * divided by 9 (count_include_pad), forward and backward (the adjoint of
 * the forward, computed here by running the reference's window backwards). */
static void test_avgpool_same(struct bmst_backend *be) {
    struct bmst_pool_desc d = {.n = 2, .h = 6, .w = 5, .c = 3, .kh = 3, .kw = 3, .stride_h = 1,
                               .stride_w = 1, .pad_h = 1, .pad_w = 1, .out_h = 6, .out_w = 5};
    size_t n = (size_t)d.n * d.h * d.w * d.c;
    float *x = rand_array(n, -1, 1), *y = filled(n, NAN), *dx = filled(n, NAN);
    double *ry = malloc(n * sizeof *ry), *rdx = calloc(n, sizeof *rdx);
    be->avgpool->fwd(be, &d, x, y);
    ref_pool(&d, x, 0, ry);
    check_close("avgpool 3x3 s1 p1 (count_include_pad)", y, ry, n, TOL);
    /* dx[input pixel] = sum over the windows holding it of dy / 9, with dy = x */
    for (int b = 0; b < d.n; b++)
        for (int oh = 0; oh < d.h; oh++)
            for (int ow = 0; ow < d.w; ow++)
                for (int i = -1; i <= 1; i++)
                    for (int j = -1; j <= 1; j++) {
                        int ih = oh + i, iw = ow + j;
                        if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                        for (int c = 0; c < d.c; c++)
                            rdx[(((size_t)b * d.h + ih) * d.w + iw) * d.c + c] +=
                                x[(((size_t)b * d.h + oh) * d.w + ow) * d.c + c] / 9.0;
                    }
    be->avgpool->bwd(be, &d, x, dx, 0);
    check_close("avgpool 3x3 s1 p1 bwd", dx, rdx, n, TOL);
    free(x), free(y), free(dx), free(ry), free(rdx);
}

/* ---- dropout ---- */

/* splitmix64's finalizer: the documented rule of struct bmst_dropout_desc,
 * written again here */
static uint64_t ref_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The mask follows backend.h's rule for the key and salt; the same key and
 * salt give the same mask, another key (step) or salt (layer) another; the
 * kept fraction is 1 - p within 5 standard deviations; kept elements are x
 * times 1 / (1 - p) and dropped ones 0; backward is dy times the same mask
 * and scale, overwriting and accumulating. */
static void test_dropout(struct bmst_backend *be) {
    const size_t n = 100003;
    const double p = 0.3;
    struct bmst_dropout_desc d = {.n = n, .drop = (uint32_t)lrint(p * (1 << 24)),
                                  .scale = (float)(1.0 / (1.0 - p)), .salt = 2};
    const uint32_t words[2][2] = {{0x12345678u, 0x9abcdef0u}, {0x12345679u, 0x9abcdef0u}};
    float key[2][2];
    memcpy(key, words, sizeof key);
    float *x = rand_array(n, 0.5f, 1.5f), *y = filled(n, NAN), *y2 = filled(n, NAN);
    double *ry = malloc(n * sizeof *ry);
    uint64_t k = ref_mix64(((uint64_t)words[0][1] << 32 | words[0][0]) ^ d.salt);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = (ref_mix64(k ^ i) >> 40) >= d.drop;
        kept += (size_t)keep;
        ry[i] = keep ? (double)(x[i] * d.scale) : 0.0;
    }
    be->dropout->fwd(be, &d, key[0], x, y);
    check_close("dropout fwd (the documented mask)", y, ry, n, 1e-7);
    double sd = sqrt(n * p * (1.0 - p));
    CHECK(fabs((double)kept - n * (1.0 - p)) < 5.0 * sd, "dropout keeps %zu of %zu at p = %.1f",
          kept, n, p);
    printf("  %-40s kept %.4f (1 - p = %.1f)\n", "dropout kept fraction", (double)kept / n, 1 - p);
    be->dropout->fwd(be, &d, key[0], x, y2);
    CHECK(memcmp(y, y2, n * sizeof *y) == 0, "dropout: the same key draws another mask");
    be->dropout->fwd(be, &d, key[1], x, y2);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += (y[i] == 0) == (y2[i] == 0);
    CHECK(same < n * 0.7, "dropout: the next step's key keeps %zu of %zu decisions", same, n);
    struct bmst_dropout_desc other = d;
    other.salt = 3;
    be->dropout->fwd(be, &other, key[0], x, y2);
    same = 0;
    for (size_t i = 0; i < n; i++)
        same += (y[i] == 0) == (y2[i] == 0);
    CHECK(same < n * 0.7, "dropout: another layer's salt keeps %zu of %zu decisions", same, n);
    /* backward from dy = x: the same values as forward; accumulating adds them */
    be->dropout->bwd(be, &d, key[0], x, y2, 0);
    check_close("dropout bwd", y2, ry, n, 1e-7);
    be->dropout->bwd(be, &d, key[0], x, y2, 1);
    for (size_t i = 0; i < n; i++)
        ry[i] *= 2.0;
    check_close("dropout bwd accumulate", y2, ry, n, 1e-7);
    free(x), free(y), free(y2), free(ry);
}

/* ---- fc, concat, mix, relu, add ---- */

static void test_fc(struct bmst_backend *be) {
    const int n = 5, in = 37, out = 11;
    float *x = rand_array((size_t)n * in, -1, 1), *w = rand_array((size_t)out * in, -1, 1);
    float *b = rand_array(out, -1, 1), *y = filled((size_t)n * out, NAN);
    double *ry = malloc((size_t)n * out * sizeof *ry);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int j = 0; j < in; j++)
                s += (double)x[i * in + j] * w[o * in + j];
            ry[i * out + o] = s;
        }
    be->fc->fwd(be, n, in, out, x, w, b, y);
    check_close("fc fwd", y, ry, (size_t)n * out, TOL);
    free(x), free(w), free(b), free(y), free(ry);
}

static void test_elementwise(struct bmst_backend *be) {
    const size_t n = 100003; /* past the one-thread cutoff, and odd */
    float *a = rand_array(n, -1, 1), *b = rand_array(n, -1, 1), *y = filled(n, NAN);
    double *ry = malloc(n * sizeof *ry);
    be->relu->fwd(be, n, a, y);
    for (size_t i = 0; i < n; i++)
        ry[i] = a[i] > 0 ? a[i] : 0.0;
    check_close("relu fwd", y, ry, n, TOL);
    be->add->fwd(be, n, a, b, y);
    for (size_t i = 0; i < n; i++)
        ry[i] = (double)a[i] + b[i];
    check_close("add fwd", y, ry, n, TOL);

    /* mix of m = 3 chunks */
    const int m = 3;
    const size_t chunk = n / m;
    const float coef[3] = {0.2f, 0.3f, 0.5f};
    be->mix->fwd(be, BMST_F32, m, chunk, coef, a, y);
    for (size_t i = 0; i < chunk; i++)
        ry[i] = coef[0] * (double)a[i] + coef[1] * (double)a[chunk + i] +
                coef[2] * (double)a[2 * chunk + i];
    check_close("mix fwd m=3", y, ry, chunk, TOL);

    /* concat into channels [3, 7) of 10 */
    const size_t rows = 5000;
    float *part = rand_array(rows * 4, -1, 1), *whole = rand_array(rows * 10, -1, 1);
    double *rw = malloc(rows * 10 * sizeof *rw);
    for (size_t i = 0; i < rows * 10; i++)
        rw[i] = whole[i];
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < 4; j++)
            rw[r * 10 + 3 + j] = part[r * 4 + j];
    be->concat->fwd(be, rows, 10, 3, 4, part, whole);
    check_close("concat fwd", whole, rw, rows * 10, TOL);

    double ss = be->sum_squares(be, n, a), rss = 0.0;
    for (size_t i = 0; i < n; i++)
        rss += (double)a[i] * a[i];
    CHECK(fabs(ss - rss) <= 1e-12 * rss, "sum_squares %.17g vs %.17g", ss, rss);
    /* unscaling: a *= 0.25 in place, and the squares of the results summed */
    for (size_t i = 0; i < n; i++)
        ry[i] = 0.25 * a[i];
    double us = be->unscale_sum_squares(be, n, a, 0.25f);
    check_close("unscale", a, ry, n, TOL);
    CHECK(fabs(us - rss / 16) <= 1e-12 * rss, "unscale_sum_squares %.17g vs %.17g", us, rss / 16);
    /* one inf or NaN anywhere makes both sums non-finite: the guard's check */
    float keep = a[n / 3];
    a[n / 3] = INFINITY;
    CHECK(!isfinite(be->sum_squares(be, n, a)), "sum_squares misses an inf");
    a[n / 3] = NAN;
    CHECK(!isfinite(be->unscale_sum_squares(be, n, a, 1.0f)), "unscale_sum_squares misses a NaN");
    a[n / 3] = keep;
    /* the largest finite floats still sum to a finite double */
    float *big = filled(n, 3.4e38f);
    CHECK(isfinite(be->sum_squares(be, n, big)), "finite values summed to inf");
    free(big);
    for (size_t i = 0; i < n; i++)
        ry[i] = 0.5 * b[i];
    be->scale(be, n, b, 0.5f);
    check_close("scale", b, ry, n, TOL);
    free(a), free(b), free(y), free(ry), free(part), free(whole), free(rw);
}

/* ---- cross-entropy ---- */

static void test_xent(struct bmst_backend *be) {
    const int n = 6, k = 10;
    size_t nk = (size_t)n * k;
    float *z = rand_array(nk, -4, 4), *t = rand_array(nk, 0, 1), *p = filled(nk, NAN);
    double *rp = malloc(nk * sizeof *rp), loss = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += t[i * k + j];
        for (int j = 0; j < k; j++)
            t[i * k + j] = (float)(t[i * k + j] / s);
        double zs = 0.0;
        for (int j = 0; j < k; j++)
            zs += exp(z[i * k + j]);
        for (int j = 0; j < k; j++) {
            rp[i * k + j] = exp(z[i * k + j]) / zs;
            loss -= t[i * k + j] * log(rp[i * k + j]);
        }
    }
    loss /= n;
    float got;
    be->xent->fwd(be, n, k, z, t, p, &got);
    printf("  %-40s %.7f vs %.7f\n", "xent loss", got, loss);
    CHECK(fabs(got - loss) < TOL * loss, "xent loss %.8f vs %.8f", got, loss);
    check_close("xent probs", p, rp, nk, TOL);
    free(z), free(t), free(p), free(rp);
}

/* ---- SGD over two steps against values worked by hand ----
 * p0 = 1, grads 0.5 then 0.25, lr 0.1, weight decay 0.01, momentum 0.9:
 *  nesterov:  g1 = 0.51, buf1 = 0.51, p1 = 1 - 0.1 * (0.51 + 0.9 * 0.51) = 0.9031
 *             g2 = 0.25 + 0.009031 = 0.259031, buf2 = 0.459 + 0.259031 = 0.718031,
 *             p2 = 0.9031 - 0.1 * (0.259031 + 0.6462279) = 0.81257411
 *  momentum:  p1 = 1 - 0.051 = 0.949; g2 = 0.25949, buf2 = 0.71849, p2 = 0.8771510
 *  plain:     p1 = 0.949; p2 = 0.949 - 0.025949 = 0.923051 */
static void check_sgd(struct bmst_backend *be, float momentum, int nesterov, double want_p1,
                      double want_buf1, double want_p2, double want_buf2, const char *name) {
    const size_t n = 70001; /* the threaded path */
    struct bmst_sgd_desc d = {
        .lr = 0.1f, .momentum = momentum, .weight_decay = 0.01f, .nesterov = nesterov};
    float *p = filled(n, 1.0f), *buf = filled(n, 0.0f), *g = filled(n, 0.5f), flag = -1.0f;
    int bad = 0;
    be->optim.sgd_step(be, &d, n, p, g, buf, NULL, &flag);
    for (size_t i = 0; i < n; i++)
        bad += fabs(p[i] - want_p1) > 1e-6 || (momentum && fabs(buf[i] - want_buf1) > 1e-6);
    CHECK(!bad, "sgd %s step 1: p %.8f (want %.8f), buf %.8f (want %.8f)", name, p[0], want_p1,
          buf[0], want_buf1);
    CHECK(flag == 0.0f, "sgd %s step 1: finite weights flagged (%g)", name, flag);
    for (size_t i = 0; i < n; i++)
        g[i] = 0.25f;
    be->optim.sgd_step(be, &d, n, p, g, buf, NULL, &flag);
    for (size_t i = 0; i < n; i++)
        bad += fabs(p[i] - want_p2) > 1e-6 || (momentum && fabs(buf[i] - want_buf2) > 1e-6);
    CHECK(!bad, "sgd %s step 2: p %.8f (want %.8f), buf %.8f (want %.8f)", name, p[0], want_p2,
          buf[0], want_buf2);
    printf("  %-40s p2 %.8f (hand %.8f)\n", name, p[n - 1], want_p2);
    /* a finite gradient whose update overflows one weight, far from the
     * start (another thread's share), is flagged */
    g[n - 2] = 3e38f;
    d.lr = 10.0f;
    be->optim.sgd_step(be, &d, n, p, g, buf, NULL, &flag);
    CHECK(isinf(p[n - 2]) && flag == 1.0f, "sgd %s: an overflowed weight %g flagged %g", name,
          p[n - 2], flag);
    free(p), free(buf), free(g);
}

static void test_sgd(struct bmst_backend *be) {
    check_sgd(be, 0.9f, 1, 0.9031, 0.51, 0.81257411, 0.718031, "sgd nesterov + wd");
    check_sgd(be, 0.9f, 0, 0.949, 0.51, 0.877151, 0.71849, "sgd momentum + wd");
    check_sgd(be, 0.0f, 0, 0.949, 0.0, 0.923051, 0.0, "sgd plain + wd");
}

/* ---- determinism ---- */

/* bn forward and backward on the same inputs: every output bit for bit */
static void bn_run(struct bmst_backend *be, const struct bmst_bn_desc *d, const float *x,
                   const float *dy, const float *gamma, const float *beta, float *out) {
    size_t nx = d->rows * d->c;
    float *y = out, *mean = out + nx, *inv = mean + d->c, *rm = inv + d->c, *rv = rm + d->c;
    float *dx = rv + d->c, *dg = dx + nx, *db = dg + d->c;
    for (int j = 0; j < d->c; j++)
        rm[j] = 0.0f, rv[j] = 1.0f;
    be->bn->fwd_train(be, d, x, gamma, beta, y, mean, inv, rm, rv);
    be->bn->bwd(be, d, x, dy, gamma, mean, inv, dx, dg, db, 0);
}

/* The 1-bit ReLU codec: pack's bits against x > 0 element by element (n odd
 * and past the one-thread cutoff, so the last word is partial and threads
 * share the words; zero, minus zero and NaN are not positive), into exactly
 * ceil(n / 32) words, which the sanitizer build checks; ReLU's backward from
 * the mask gives bitwise what it gives from its output, overwriting and
 * accumulating. */
static void test_sign_mask(struct bmst_backend *be) {
    const size_t n = 100003, words = (n + 31) / 32;
    float *x = rand_array(n, -1, 1), *y = filled(n, NAN), *dy = rand_array(n, -1, 1);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = NAN, x[3] = 1e-30f;
    uint32_t *bits = malloc(words * sizeof *bits);
    be->sign_mask->pack(be, n, x, bits);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += ((bits[i / 32] >> (i % 32)) & 1u) != (x[i] > 0.0f);
    CHECK(wrong == 0, "sign mask: %zu of %zu bits wrong", wrong, n);
    CHECK(bits[words - 1] >> (n % 32) == 0, "sign mask: bits past the end set (%#x)",
          bits[words - 1]);
    be->relu->fwd(be, n, x, y);
    float *from_y = rand_array(n, -1, 1), *from_mask = malloc(n * sizeof *from_mask);
    memcpy(from_mask, from_y, n * sizeof *from_mask);
    for (int acc = 0; acc <= 1; acc++) {
        be->relu->bwd(be, n, y, dy, from_y, acc);
        be->relu->bwd_mask(be, n, bits, dy, from_mask, acc);
        CHECK(memcmp(from_y, from_mask, n * sizeof *from_y) == 0,
              "relu bwd from the mask differs from relu bwd (accumulate %d)", acc);
    }
    free(x), free(y), free(dy), free(bits), free(from_y), free(from_mask);
}

static void test_determinism(void) {
    struct bmst_bn_desc d = {.rows = 8 * 14 * 14, .c = 24, .eps = 1e-5f, .momentum = 0.1f};
    size_t nx = d.rows * d.c, nout = 2 * nx + 6 * (size_t)d.c;
    float *x = rand_array(nx, -3, 5), *dy = rand_array(nx, -1, 1);
    float *gamma = rand_array(d.c, 0.5f, 1.5f), *beta = rand_array(d.c, -1, 1);
    float *a = malloc(nout * sizeof *a), *b = malloc(nout * sizeof *b);

    struct bmst_backend *be = bmst_backend_cpu_create(2, BMST_F32);
    bn_run(be, &d, x, dy, gamma, beta, a);
    bn_run(be, &d, x, dy, gamma, beta, b);
    CHECK(memcmp(a, b, nout * sizeof *a) == 0, "bn: two runs differ");
    double s1 = be->sum_squares(be, nx, x);
    be->destroy(be);

    /* fixed-size reduction blocks: the thread count does not change the bits either */
    be = bmst_backend_cpu_create(1, BMST_F32);
    bn_run(be, &d, x, dy, gamma, beta, b);
    CHECK(memcmp(a, b, nout * sizeof *a) == 0, "bn: 1 thread differs from 2");
    double s2 = be->sum_squares(be, nx, x);
    CHECK(s1 == s2, "sum_squares: 1 thread %.17g, 2 threads %.17g", s2, s1);
    be->destroy(be);
    free(x), free(dy), free(gamma), free(beta), free(a), free(b);
}

int main(void) {
    struct bmst_backend *be = bmst_backend_cpu_create(2, BMST_F32);
    test_conv(be);
    test_bn(be, 1e-5f);
    test_bn(be, 1e-3f); /* torchvision's Inception3 */
    test_bn_strided(be);
    test_pool(be);
    test_avgpool_same(be);
    test_dropout(be);
    test_fc(be);
    test_elementwise(be);
    test_sign_mask(be);
    test_xent(be);
    test_sgd(be);
    be->destroy(be);
    test_determinism();
    return check_finish("test_kernel_reference");
}
