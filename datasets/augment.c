/* Augmentation and normalization (see augment.h). */
#include "augment.h"

#include <math.h>

#include "error.h"

void bmst_normalize_init(struct bmst_normalize *n, const struct bmst_dataset_info *info) {
    n->h = info->h;
    n->w = info->w;
    n->c = info->c;
    for (int k = 0; k < info->c; k++) {
        double sd = info->std[k] > 0.0f ? info->std[k] : 1.0;
        for (int v = 0; v < 256; v++) n->lut[k][v] = (float)((v / 255.0 - info->mean[k]) / sd);
    }
}

void bmst_augment_pad_crop(const struct bmst_normalize *n, const uint8_t *src, int oy, int ox,
                           int flip, float *dst) {
    int h = n->h, w = n->w, c = n->c;
    for (int y = 0; y < h; y++) {
        int sy = y + oy - BMST_AUGMENT_PAD;
        float *row = dst + (size_t)y * w * c;
        if (sy < 0 || sy >= h) {
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++) row[x * c + k] = n->lut[k][0];
            continue;
        }
        const uint8_t *srow = src + (size_t)sy * w * c;
        for (int x = 0; x < w; x++) {
            int sx = (flip ? w - 1 - x : x) + ox - BMST_AUGMENT_PAD;
            int inside = sx >= 0 && sx < w;
            for (int k = 0; k < c; k++) row[x * c + k] = n->lut[k][inside ? srow[sx * c + k] : 0];
        }
    }
}

struct bmst_crop_box bmst_augment_draw_resized_crop(struct bmst_rng *r, int h, int w) {
    const double area = (double)h * w, log_lo = log(3.0 / 4.0), log_hi = log(4.0 / 3.0);
    struct bmst_crop_box box = {0};
    int found = 0;
    for (int attempt = 0; attempt < 10 && !found; attempt++) {
        double target = area * (0.08 + 0.92 * bmst_rng_uniform(r));
        double ratio = exp(log_lo + (log_hi - log_lo) * bmst_rng_uniform(r));
        int cw = (int)lround(sqrt(target * ratio)), ch = (int)lround(sqrt(target / ratio));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            box.y = bmst_rng_below(r, (uint32_t)(h - ch + 1));
            box.x = bmst_rng_below(r, (uint32_t)(w - cw + 1));
            box.h = ch, box.w = cw;
            found = 1;
        }
    }
    if (!found) { /* the whole image, cut to the nearest allowed aspect */
        double ratio = (double)w / h;
        box.w = w, box.h = h;
        if (ratio < 3.0 / 4.0) box.h = lround(w / (3.0 / 4.0));
        else if (ratio > 4.0 / 3.0) box.w = lround(h * (4.0 / 3.0));
        box.y = (h - box.h) / 2.0 > 0 ? floor((h - box.h) / 2.0) : 0;
        box.x = (w - box.w) / 2.0 > 0 ? floor((w - box.w) / 2.0) : 0;
    }
    box.flip = (int)bmst_rng_below(r, 2);
    return box;
}

/* A source coordinate clamped to the box's first and last pixel centres (as
 * cropping first and then resizing does), split into a pixel and a weight. */
static int source_pixel(double s, double first, double last, int limit, float *frac) {
    s = s < first ? first : s > last ? last : s;
    int p = (int)s;
    if (p > limit - 1) p = limit - 1;
    *frac = (float)(s - p);
    return p;
}

/* Bilinear sampling of the box: output pixel centre (y + 0.5) maps to box.y +
 * (y + 0.5) * box.h / h - 0.5 in source pixels. The columns' source pixels
 * and weights are worked out once per image, the rows' once per row. */
void bmst_augment_crop_resize(const struct bmst_normalize *n, const uint8_t *src,
                              const struct bmst_crop_box *box, float *dst) {
    enum { MAX_SIDE = 4096 };
    int h = n->h, w = n->w, c = n->c;
    BMST_ASSERT(w <= MAX_SIDE);
    int col0[MAX_SIDE], col1[MAX_SIDE];
    float colf[MAX_SIDE];
    double sy_step = box->h / h, sx_step = box->w / w;
    double y_last = ceil(box->y + box->h) - 1, x_last = ceil(box->x + box->w) - 1;
    for (int x = 0; x < w; x++) {
        col0[x] = source_pixel(box->x + ((box->flip ? w - 1 - x : x) + 0.5) * sx_step - 0.5,
                               floor(box->x), x_last, w, &colf[x]);
        col1[x] = (col0[x] + 1 < w ? col0[x] + 1 : col0[x]) * c;
        col0[x] *= c;
    }
    for (int y = 0; y < h; y++) {
        float fy;
        int y0 = source_pixel(box->y + (y + 0.5) * sy_step - 0.5, floor(box->y), y_last, h, &fy);
        int y1 = y0 + 1 < h ? y0 + 1 : y0;
        const uint8_t *r0 = src + (size_t)y0 * w * c, *r1 = src + (size_t)y1 * w * c;
        float *out = dst + (size_t)y * w * c;
        for (int x = 0; x < w; x++) {
            float fx = colf[x];
            for (int k = 0; k < c; k++) {
                const float *lut = n->lut[k];
                float a = lut[r0[col0[x] + k]], b = lut[r0[col1[x] + k]];
                float d = lut[r1[col0[x] + k]], e = lut[r1[col1[x] + k]];
                float top = a + fx * (b - a), bottom = d + fx * (e - d);
                out[x * c + k] = top + fy * (bottom - top);
            }
        }
    }
}

void bmst_augment_image(const struct bmst_normalize *n, enum bmst_augment kind,
                        struct bmst_rng *r, const uint8_t *src, float *dst) {
    switch (kind) {
    case BMST_AUGMENT_NONE: bmst_augment_pad_crop(n, src, BMST_AUGMENT_PAD, BMST_AUGMENT_PAD, 0, dst); break;
    case BMST_AUGMENT_PAD_CROP: {
        int oy = (int)bmst_rng_below(r, 2 * BMST_AUGMENT_PAD + 1);
        int ox = (int)bmst_rng_below(r, 2 * BMST_AUGMENT_PAD + 1);
        int flip = (int)bmst_rng_below(r, 2);
        bmst_augment_pad_crop(n, src, oy, ox, flip, dst);
        break;
    }
    case BMST_AUGMENT_RESIZED_CROP: {
        struct bmst_crop_box box = bmst_augment_draw_resized_crop(r, n->h, n->w);
        bmst_augment_crop_resize(n, src, &box, dst);
        break;
    }
    case BMST_AUGMENT_CENTER_CROP: {
        double ch = n->h * BMST_AUGMENT_EVAL_CROP, cw = n->w * BMST_AUGMENT_EVAL_CROP;
        struct bmst_crop_box box = {(n->h - ch) / 2, (n->w - cw) / 2, ch, cw, 0};
        bmst_augment_crop_resize(n, src, &box, dst);
        break;
    }
    }
}
