/* Augmentation of large images: the random resized crop draws boxes inside
 * the image with torchvision's area and aspect ranges; bilinear resampling
 * maps output pixel centres to the box exactly (a ramp image, on which
 * bilinear interpolation is exact, shows any offset or scale error), flips
 * mirror, and the evaluation crop is the central 87.5%. */
#include "augment.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S = 40, C = 2 };

/* Channel 0 holds 5 * x, channel 1 holds 5 * y: linear in the coordinates. */
static void ramp(uint8_t *img) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            img[(y * S + x) * C] = (uint8_t)(5 * x);
            img[(y * S + x) * C + 1] = (uint8_t)(5 * y);
        }
}

/* The identity normalization (mean 0, std 1/255): lut[v] = v. */
static void identity(struct bmst_normalize *n) {
    struct bmst_dataset_info info = {.h = S, .w = S, .c = C};
    for (int k = 0; k < C; k++) info.std[k] = 1.0f / 255.0f;
    bmst_normalize_init(n, &info);
}

/* Where output coordinate o (of S) falls in a box [b, b + len) of source
 * pixels, clamped to its first and last pixel centres. */
static double expected(int o, double b, double len) {
    double s = b + (o + 0.5) * len / S - 0.5;
    double first = floor(b), last = ceil(b + len) - 1;
    return s < first ? first : s > last ? last : s;
}

static void test_resample(void) {
    static uint8_t img[S * S * C];
    static float out[S * S * C];
    struct bmst_normalize n;
    identity(&n);
    ramp(img);
    struct bmst_crop_box whole = {0, 0, S, S, 0};
    bmst_augment_crop_resize(&n, img, &whole, out);
    int same = 1;
    for (int i = 0; i < S * S * C; i++) same &= out[i] == n.lut[i % C][img[i]];
    CHECK(same, "the whole image at its own size is itself");

    struct bmst_crop_box boxes[] = {{3, 7, 20, 25, 0}, {10, 2, 13, 31, 1}, {2.5, 2.5, 35, 35, 0}};
    for (size_t b = 0; b < sizeof boxes / sizeof *boxes; b++) {
        bmst_augment_crop_resize(&n, img, &boxes[b], out);
        double worst = 0.0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int xs = boxes[b].flip ? S - 1 - x : x;
                double ex = 5 * expected(xs, boxes[b].x, boxes[b].w);
                double ey = 5 * expected(y, boxes[b].y, boxes[b].h);
                worst = fmax(worst, fabs(out[(y * S + x) * C] - ex));
                worst = fmax(worst, fabs(out[(y * S + x) * C + 1] - ey));
            }
        CHECK(worst < 1e-3, "box %zu: bilinear ramp off by %g", b, worst);
    }

    struct bmst_rng r = bmst_rng_make(1, BMST_RNG_AUGMENT, 0);
    static float center[S * S * C];
    bmst_augment_image(&n, BMST_AUGMENT_CENTER_CROP, &r, img, center);
    double side = S * BMST_AUGMENT_EVAL_CROP, off = (S - side) / 2;
    CHECK(fabs(center[0] - 5 * expected(0, off, side)) < 1e-3 &&
              fabs(center[(S * S - 1) * C] - 5 * expected(S - 1, off, side)) < 1e-3,
          "evaluation takes the central %.1f%%", 100 * BMST_AUGMENT_EVAL_CROP);
}

static void test_draws(void) {
    int inside = 1, area_ok = 1, aspect_ok = 1, flips = 0, small = 0, large = 0;
    const int draws = 4000;
    for (int i = 0; i < draws; i++) {
        struct bmst_rng r = bmst_rng_make(7, BMST_RNG_AUGMENT, (uint64_t)i);
        struct bmst_crop_box b = bmst_augment_draw_resized_crop(&r, S, S);
        inside &= b.y >= 0 && b.x >= 0 && b.y + b.h <= S && b.x + b.w <= S && b.h >= 1 && b.w >= 1;
        double area = b.h * b.w / ((double)S * S), aspect = b.w / b.h;
        /* rounding to whole pixels moves the bounds a little */
        area_ok &= area > 0.06 && area <= 1.0;
        aspect_ok &= aspect > 0.70 && aspect < 1.42;
        flips += b.flip;
        small += area < 0.3;
        large += area > 0.7;
    }
    CHECK(inside, "every box lies inside the image");
    CHECK(area_ok && aspect_ok, "areas in [8%%, 100%%] and aspects in [3/4, 4/3]");
    CHECK(abs(flips - draws / 2) < draws / 20, "about half flipped: %d of %d", flips, draws);
    CHECK(small > draws / 10 && large > draws / 20, "the whole area range is used (%d small, %d large)",
          small, large);
    /* a square image with a box that cannot fit the aspect after ten tries is
     * impossible; a very wide one falls back to the central 4/3 box */
    struct bmst_rng r = bmst_rng_make(7, BMST_RNG_AUGMENT, 99);
    struct bmst_crop_box b = bmst_augment_draw_resized_crop(&r, 1, 40);
    CHECK(b.h == 1 && b.w >= 1 && b.x + b.w <= 40, "a 1x40 image still gets a box inside it");
}

int main(void) {
    test_resample();
    test_draws();
    return check_finish("test_data_augment");
}
