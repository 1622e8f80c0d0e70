/* PNG decoding (png_decode.h) through libpng's sequential reading API:
 * libpng reports errors by longjmp, so each call keeps its own jump buffer
 * and message, and nothing is shared between threads. */
#include "png_decode.h"

#include "error.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct png_failure {
    jmp_buf jump;
    char message[256];
};

static void on_error(png_structp png, png_const_charp message) {
    struct png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", message);
    longjmp(f->jump, 1);
}

/* Warnings (an unknown chunk, a bad CRC in an ancillary chunk) do not stop
 * the decode, as PIL's do not. */
static void on_warning(png_structp png, png_const_charp message) {
    (void)png, (void)message;
}

int bmst_png_decode(const char *path, struct bmst_rgb_image *out) {
    memset(out, 0, sizeof *out);
    FILE *file = fopen(path, "rb");
    if (!file) return bmst_error("%s: %s", path, strerror(errno));
    struct png_failure failure = {.message = "corrupt PNG"};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    /* volatile: read after a longjmp back into this frame */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        fclose(file);
        return bmst_error("%s: out of memory for the PNG decoder", path);
    }
    if (setjmp(failure.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(file);
        free(pixels);
        free(rows);
        return bmst_error("%s: corrupt PNG (%s)", path, failure.message);
    }
    png_init_io(png, file);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    /* to 8-bit RGB: what PIL's convert("RGB") gives */
    png_set_strip_16(png);
    png_set_packing(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    /* alpha, or the tRNS chunk that palette_to_rgb expands into alpha */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "not 8-bit RGB after conversion");
    pixels = malloc((size_t)w * h * 3 + 1);
    rows = malloc(((size_t)h + 1) * sizeof *rows);
    if (!pixels || !rows) png_error(png, "out of memory for the image");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(file);
    free(rows);
    out->pixels = pixels;
    out->h = (int)h;
    out->w = (int)w;
    return 0;
}
