/* Resizing 8-bit images with an antialiasing filter, and the centre square
 * crop the JPEG converters store. */
#ifndef BMST_IMAGE_RESIZE_H
#define BMST_IMAGE_RESIZE_H

#include <stddef.h>
#include <stdint.h>

/* Resamples the in_h x in_w x c image at src (rows `stride` bytes apart) to
 * out_h x out_w x c at dst (packed), separably: rows, then columns. Each
 * output pixel is a normalized triangle-weighted (bilinear) sum of the source
 * pixels whose centres lie within the filter's reach of its centre; when
 * shrinking by s the triangle is widened by s, so every source pixel
 * contributes (antialiasing) instead of a few being point-sampled. Pixels
 * outside the image are not used (the weights are renormalized). Equal sizes
 * copy exactly. Returns -1 only when memory runs out (message set). */
int bmst_image_resample(const uint8_t *src, int in_h, int in_w, int c, size_t stride, uint8_t *dst,
                        int out_h, int out_w);

/* The central square of side min(h, w) (the left/top offset rounded down),
 * resampled to size x size: what the JPEG converters store. */
int bmst_image_center_square(const uint8_t *src, int h, int w, int c, uint8_t *dst, int size);

#endif
