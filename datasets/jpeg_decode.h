/* Decoding one JPEG file to 8-bit RGB with libjpeg(-turbo), with errors that
 * come back as a message instead of ending the process. */
#ifndef BMST_JPEG_DECODE_H
#define BMST_JPEG_DECODE_H

#include <stdint.h>

/* A decoded image: h * w * 3 bytes, row-major, RGB interleaved (HWC). */
struct bmst_rgb_image {
    uint8_t *pixels;
    int h, w;
};

/* Decodes the JPEG at `path` into `out` (pixels malloc'd; free with
 * bmst_rgb_image_free). Grayscale is expanded to three equal channels;
 * CMYK/YCCK is rejected. A missing or unreadable file, a libjpeg error, and a
 * libjpeg warning that image data is missing or damaged (premature end of
 * file, bad Huffman code, ...) all fail: -1 with a one-line message that
 * names the file (bmst_last_error). Safe to call from several threads. */
int bmst_jpeg_decode(const char *path, struct bmst_rgb_image *out);
void bmst_rgb_image_free(struct bmst_rgb_image *img);

#endif
