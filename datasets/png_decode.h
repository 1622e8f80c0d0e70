/* Decoding one PNG file to 8-bit RGB with libpng, with errors that come back
 * as a message instead of ending the process. */
#ifndef BMST_PNG_DECODE_H
#define BMST_PNG_DECODE_H

#include "jpeg_decode.h" /* struct bmst_rgb_image */

/* Decodes the PNG at `path` into `out` (pixels malloc'd; free with
 * bmst_rgb_image_free) as PIL's convert("RGB") does, which torchvision's
 * ImageFolder loader calls: palette entries become their colours, gray is
 * repeated into three channels, alpha (and a tRNS chunk) is dropped, not
 * composited, and 16-bit samples keep their high byte. A missing, truncated or
 * corrupt file fails: -1 with a one-line message naming the file
 * (bmst_last_error). Safe to call from several threads. */
int bmst_png_decode(const char *path, struct bmst_rgb_image *out);

#endif
