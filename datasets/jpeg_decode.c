/* JPEG files to RGB through libjpeg(-turbo). libjpeg reports a fatal error by
 * calling error_exit, which by default ends the process; ours jumps back here
 * (setjmp/longjmp) so a bad file is one message naming it. Warnings that mean
 * the image data is missing or damaged jump back the same way: libjpeg would
 * otherwise fill the rest of the image with grey and carry on. */
#include "jpeg_decode.h"

#include "error.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* decoding; needs stdio.h first */

#include <jerror.h> /* the JWRN_* message codes; needs jpeglib.h's configuration first */

#define JPEG_MAX_PIXELS ((size_t)1 << 28) /* 256 megapixels: larger is not a photo we expect */

/* libjpeg's error manager with a way back to bmst_jpeg_decode. */
struct jpeg_escape {
    struct jpeg_error_mgr mgr; /* first: libjpeg hands back a pointer to it */
    jmp_buf back;
    char message[JMSG_LENGTH_MAX];
};

static void escape_with_message(j_common_ptr cinfo) {
    struct jpeg_escape *e = (struct jpeg_escape *)cinfo->err;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->back, 1);
}

/* Warnings after which the decoded pixels are not the encoded image. Others
 * (an unknown JFIF revision, a bad ICC profile, stray bytes between markers)
 * concern metadata and are ignored. */
static int damages_pixels(int code) {
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        return 1;
    default:
        return 0;
    }
}

/* level -1 is a warning, 0 and up are trace messages: nothing is printed. */
static void on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    if (damages_pixels(cinfo->err->msg_code)) escape_with_message(cinfo);
    cinfo->err->num_warnings++;
}

void bmst_rgb_image_free(struct bmst_rgb_image *img) {
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

int bmst_jpeg_decode(const char *path, struct bmst_rgb_image *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return bmst_error("%s: %s", path, strerror(errno));
    struct jpeg_decompress_struct cinfo;
    struct jpeg_escape err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = escape_with_message;
    err.mgr.emit_message = on_message;
    err.message[0] = '\0';
    /* f and out are not changed after this point, so they survive the jump;
     * out->pixels lives in the caller's memory */
    if (setjmp(err.back)) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        bmst_rgb_image_free(out);
        return bmst_error("%s: corrupt JPEG: %s", path, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return bmst_error("%s: CMYK JPEG is not supported (convert it to RGB first)", path);
    }
    cinfo.out_color_space = JCS_RGB; /* libjpeg expands grayscale to three channels */
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    if (cinfo.output_components != 3 || w * h > JPEG_MAX_PIXELS) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        if (cinfo.output_components != 3)
            return bmst_error("%s: cannot decode %d-component JPEG to RGB", path,
                              cinfo.output_components);
        return bmst_error("%s: %zux%zu pixels is too large", path, w, h);
    }
    out->pixels = malloc(w * h * 3);
    if (!out->pixels) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return bmst_error("%s: out of memory for %zux%zu pixels", path, w, h);
    }
    out->h = (int)h;
    out->w = (int)w;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->pixels + (size_t)cinfo.output_scanline * w * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return 0;
}
