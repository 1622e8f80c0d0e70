/* Per-sample augmentation and normalization of uint8 NHWC images into the
 * network's normalized floats:
 *   small images (CIFAR, Fashion-MNIST): pad by 4 with zeros, random crop back
 *     to size, random horizontal flip;
 *   large images (Flowers, miniImageNet): random resized crop (torchvision's
 *     RandomResizedCrop defaults: area 8-100%, aspect 3/4-4/3) back to the
 *     stored size with bilinear sampling, random flip; evaluation takes the
 *     central 87.5% (torchvision's resize-to-1/0.875-then-center-crop) and
 *     resizes it back the same way.
 * Every random choice is drawn from the generator the caller positions, so a
 * sample's augmentation is a function of (seed, epoch, sample). */
#ifndef BMST_AUGMENT_H
#define BMST_AUGMENT_H

#include <stdint.h>

#include "dataset.h"
#include "rng.h"

enum bmst_augment {
    BMST_AUGMENT_NONE,         /* normalize only */
    BMST_AUGMENT_PAD_CROP,     /* small images, training */
    BMST_AUGMENT_RESIZED_CROP, /* large images, training */
    BMST_AUGMENT_CENTER_CROP,  /* large images, evaluation */
};

/* What normalizing a pixel value v of channel k gives: lut[k][v] =
 * (v / 255 - mean[k]) / std[k] (a constant channel, std 0, is only centred). */
struct bmst_normalize {
    int h, w, c;
    float lut[BMST_MAX_CHANNELS][256];
};

void bmst_normalize_init(struct bmst_normalize *n, const struct bmst_dataset_info *info);

/* Augments image `src` into `dst` (h * w * c floats) as `kind` says, drawing
 * from r where the kind is random. */
void bmst_augment_image(const struct bmst_normalize *n, enum bmst_augment kind,
                        struct bmst_rng *r, const uint8_t *src, float *dst);

/* The pieces, exposed for tests. A crop box in source pixels, sampled back to
 * h x w with half-pixel centres (PyTorch's align_corners = False), flipped
 * left-right after sampling when `flip`. */
struct bmst_crop_box {
    double y, x, h, w;
    int flip;
};
/* torchvision's RandomResizedCrop with scale (0.08, 1) and ratio (3/4, 4/3):
 * up to ten tries for a box inside the image, else the central box of the
 * nearest allowed aspect; then a coin for the flip. */
struct bmst_crop_box bmst_augment_draw_resized_crop(struct bmst_rng *r, int h, int w);
void bmst_augment_crop_resize(const struct bmst_normalize *n, const uint8_t *src,
                              const struct bmst_crop_box *box, float *dst);
/* Output pixel (y, x) is source pixel (y + oy - 4, x' + ox - 4), x' = x or
 * w - 1 - x when flipped; outside the image it is pixel value 0. */
void bmst_augment_pad_crop(const struct bmst_normalize *n, const uint8_t *src, int oy, int ox,
                           int flip, float *dst);

#define BMST_AUGMENT_PAD 4           /* zero padding on each side before the random crop */
#define BMST_AUGMENT_EVAL_CROP 0.875 /* side of the evaluation crop, of the image's */

#endif
