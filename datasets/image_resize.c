/* Separable resampling with a triangle filter whose support grows with the
 * downscale factor (the "antialiased bilinear" of image libraries): for an
 * axis of `in` source pixels mapped onto `out`, output pixel i has its centre
 * at (i + 0.5) * in / out in source coordinates, and source pixel j (centre
 * j + 0.5) weighs max(0, 1 - |j + 0.5 - centre| / f), f = max(1, in / out),
 * normalized to sum 1 over the pixels inside the image. */
#include "image_resize.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The filter along one axis: output i reads `taps` source pixels from
 * first[i], weighted by weights[i * taps ..]. */
struct axis_filter {
    int taps;
    int *first;
    float *weights;
};

static void axis_filter_free(struct axis_filter *a) {
    free(a->first);
    free(a->weights);
}

static int axis_filter_init(struct axis_filter *a, int in, int out) {
    double scale = (double)in / out, reach = scale > 1.0 ? scale : 1.0;
    a->taps = (int)ceil(2.0 * reach) + 2;
    if (a->taps > in) a->taps = in;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->weights = calloc((size_t)out * a->taps, sizeof *a->weights);
    if (!a->first || !a->weights) {
        axis_filter_free(a);
        return bmst_error("out of memory resizing %d to %d pixels", in, out);
    }
    for (int i = 0; i < out; i++) {
        /* a window of `taps` pixels inside the image that holds every pixel
         * of non-zero weight */
        double centre = (i + 0.5) * scale, sum = 0.0;
        int lo = (int)floor(centre - reach);
        lo = lo > in - a->taps ? in - a->taps : lo;
        lo = lo < 0 ? 0 : lo;
        a->first[i] = lo;
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < a->taps; k++) {
                double d = fabs(lo + k + 0.5 - centre) / reach, w = d < 1.0 ? 1.0 - d : 0.0;
                if (pass == 0)
                    sum += w;
                else
                    a->weights[(size_t)i * a->taps + k] = (float)(w / sum);
            }
    }
    return 0;
}

static uint8_t to_byte(float v) {
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

int bmst_image_resample(const uint8_t *src, int in_h, int in_w, int c, size_t stride, uint8_t *dst,
                        int out_h, int out_w) {
    struct axis_filter rows = {0}, cols = {0};
    float *mid = NULL; /* [in_h][out_w][c]: rows resampled, columns not yet */
    if (axis_filter_init(&cols, in_w, out_w) != 0) return -1;
    if (axis_filter_init(&rows, in_h, out_h) != 0) {
        axis_filter_free(&cols);
        return -1;
    }
    mid = malloc((size_t)in_h * out_w * c * sizeof *mid);
    if (!mid) {
        axis_filter_free(&cols);
        axis_filter_free(&rows);
        return bmst_error("out of memory resizing %dx%d to %dx%d", in_h, in_w, out_h, out_w);
    }
    for (int y = 0; y < in_h; y++)
        for (int x = 0; x < out_w; x++) {
            const uint8_t *s = src + (size_t)y * stride + (size_t)cols.first[x] * c;
            const float *w = cols.weights + (size_t)x * cols.taps;
            float *m = mid + ((size_t)y * out_w + x) * c;
            for (int ch = 0; ch < c; ch++) {
                float acc = 0.0f;
                for (int k = 0; k < cols.taps; k++)
                    acc += w[k] * s[k * c + ch];
                m[ch] = acc;
            }
        }
    size_t mid_row = (size_t)out_w * c;
    for (int y = 0; y < out_h; y++) {
        const float *w = rows.weights + (size_t)y * rows.taps;
        const float *m = mid + (size_t)rows.first[y] * mid_row;
        uint8_t *d = dst + (size_t)y * mid_row;
        for (size_t i = 0; i < mid_row; i++) {
            float acc = 0.0f;
            for (int k = 0; k < rows.taps; k++)
                acc += w[k] * m[k * mid_row + i];
            d[i] = to_byte(acc);
        }
    }
    free(mid);
    axis_filter_free(&cols);
    axis_filter_free(&rows);
    return 0;
}

int bmst_image_center_square(const uint8_t *src, int h, int w, int c, uint8_t *dst, int size) {
    int side = h < w ? h : w;
    const uint8_t *box = src + ((size_t)(h - side) / 2 * w + (size_t)(w - side) / 2) * c;
    size_t stride = (size_t)w * c;
    if (side == size) { /* nothing to resample: copy the rows */
        for (int y = 0; y < size; y++)
            memcpy(dst + (size_t)y * size * c, box + (size_t)y * stride, (size_t)size * c);
        return 0;
    }
    return bmst_image_resample(box, side, side, c, stride, dst, size, size);
}
