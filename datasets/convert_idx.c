/* Fashion-MNIST from its idx files (plain or gzipped): a big-endian header
 * (magic 0x0000080N for unsigned bytes of N dimensions, then N sizes) and the
 * bytes. Headers, counts and lengths are checked; a short file is an error. */
#include "convert.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_COUNT 100000000u
#define IDX_MAX_SIDE 4096u

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

/* An open idx file: gzopen reads gzipped and plain files alike. */
struct idx_file {
    char path[4096];
    gzFile gz;
    uint32_t dims[3];
};

static int read_exact(struct idx_file *f, void *buf, size_t n, const char *what) {
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        int got = gzread(f->gz, (char *)buf + done, (unsigned)want);
        if (got < 0) {
            int code;
            const char *msg = gzerror(f->gz, &code);
            return bmst_error("%s: cannot read %s: %s", f->path, what, msg);
        }
        if (got == 0)
            return bmst_error("%s: truncated: %zu of %zu bytes of %s", f->path, done, n, what);
        done += (size_t)got;
    }
    return 0;
}

/* Opens DIR/BASE, or DIR/BASE.gz, and reads and checks the header. */
static int idx_open(struct idx_file *f, const char *dir, const char *base, int ndims) {
    char gz_name[256];
    snprintf(gz_name, sizeof gz_name, "%s.gz", base);
    if (bmst_join_path(f->path, sizeof f->path, dir, base) != 0) return -1;
    if (access(f->path, F_OK) != 0) {
        if (bmst_join_path(f->path, sizeof f->path, dir, gz_name) != 0) return -1;
        if (access(f->path, F_OK) != 0) return bmst_error("%s: missing %s[.gz]", dir, base);
    }
    f->gz = gzopen(f->path, "rb");
    if (!f->gz) return bmst_error("%s: cannot open", f->path);
    uint8_t header[16];
    if (read_exact(f, header, 4 + 4 * (size_t)ndims, "header") != 0) return -1;
    uint32_t magic = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
                     (uint32_t)header[2] << 8 | header[3];
    if (magic != 0x0800u + (uint32_t)ndims)
        return bmst_error("%s: bad idx magic 0x%08x (expected 0x%08x)", f->path, magic,
                          0x0800u + (uint32_t)ndims);
    for (int d = 0; d < ndims; d++) {
        const uint8_t *p = header + 4 + 4 * d;
        f->dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        uint32_t limit = d == 0 ? IDX_MAX_COUNT : IDX_MAX_SIDE;
        if (f->dims[d] == 0 || f->dims[d] > limit)
            return bmst_error("%s: dimension %d is %u (expected 1..%u)", f->path, d, f->dims[d],
                              limit);
    }
    return 0;
}

/* After the declared bytes the file must end (gzread also checks the CRC). */
static int idx_finish(struct idx_file *f) {
    char extra;
    int got = gzread(f->gz, &extra, 1);
    if (got < 0) {
        int code;
        return bmst_error("%s: %s", f->path, gzerror(f->gz, &code));
    }
    if (got > 0) return bmst_error("%s: longer than its header says", f->path);
    return 0;
}

static void idx_close(struct idx_file *f) {
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}

/* Reads the header pair of split `s` and checks the counts agree. */
static int open_split(const char *dir, const char *prefix, struct idx_file *img,
                      struct idx_file *lab) {
    char base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    if (idx_open(img, dir, base, 3) != 0) return -1;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    if (idx_open(lab, dir, base, 1) != 0) return -1;
    if (img->dims[0] != lab->dims[0])
        return bmst_error("%s: %u labels for %u images in %s", lab->path, lab->dims[0],
                          img->dims[0], img->path);
    return 0;
}

static int read_split(struct idx_file *img, struct idx_file *lab, struct bmst_converted *cv,
                      int s) {
    size_t n = cv->src.count[s], image_bytes = (size_t)cv->src.h * cv->src.w;
    if (read_exact(img, cv->images[s], n * image_bytes, "pixels") != 0 || idx_finish(img) != 0)
        return -1;
    uint8_t *raw = malloc(n);
    if (!raw) return bmst_error("out of memory for %zu labels", n);
    int rc = read_exact(lab, raw, n, "labels") != 0 || idx_finish(lab) != 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (raw[i] >= 10)
            rc = bmst_error("%s: label %u of sample %zu is not 0..9", lab->path, raw[i], i);
        cv->labels[s][i] = raw[i];
    }
    free(raw);
    return rc;
}

int bmst_convert_fashion_mnist(const char *dir, const struct bmst_convert_options *opt,
                               struct bmst_converted *out) {
    (void)opt; /* takes no options */

    struct idx_file files[2][2]; /* [split][images, labels] */
    memset(files, 0, sizeof files);
    memset(out, 0, sizeof *out);
    const char *prefix[2] = {"train", "t10k"};
    int rc = -1;
    for (int s = 0; s < 2; s++)
        if (open_split(dir, prefix[s], &files[s][0], &files[s][1]) != 0) goto done;
    if (files[1][0].dims[1] != files[0][0].dims[1] || files[1][0].dims[2] != files[0][0].dims[2]) {
        bmst_error("%s: images are %ux%u but training images are %ux%u", files[1][0].path,
                   files[1][0].dims[1], files[1][0].dims[2], files[0][0].dims[1],
                   files[0][0].dims[2]);
        goto done;
    }
    size_t count[BMST_SPLIT_COUNT] = {files[0][0].dims[0], files[1][0].dims[0], 0};
    if (bmst_converted_alloc(out, "fashion-mnist", (int)files[0][0].dims[1],
                             (int)files[0][0].dims[2], 1, 10, count, 0) != 0)
        goto done;
    for (int s = 0; s < 2; s++)
        if (read_split(&files[s][0], &files[s][1], out, s) != 0) goto done;
    out->class_names = calloc(10, sizeof *out->class_names);
    for (int i = 0; out->class_names && i < 10; i++)
        out->class_names[i] = strdup(fashion_names[i]);
    for (int i = 0; i < 10; i++)
        if (!out->class_names || !out->class_names[i]) {
            bmst_error("out of memory");
            goto done;
        }
    out->src.class_names = (const char *const *)out->class_names;
    rc = 0;
done:
    for (int s = 0; s < 2; s++)
        idx_close(&files[s][0]), idx_close(&files[s][1]);
    if (rc != 0) bmst_converted_free(out);
    return rc;
}
