/* What every converter shares: the table of source kinds, buffer allocation
 * for a converted dataset, and class-name text files. */
#include "convert.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    /* what the image converters take */
    JPEG_OPTIONS = BMST_CONVERT_SIZE | BMST_CONVERT_THREADS | BMST_CONVERT_SKIP_BAD,
};

static const struct bmst_converter converters[] = {
    {"fashion-mnist", bmst_convert_fashion_mnist, 0},
    {"cifar10", bmst_convert_cifar10, 0},
    {"cifar100", bmst_convert_cifar100, 0},
    {"flowers102", bmst_convert_flowers102,
     JPEG_OPTIONS | BMST_CONVERT_SPLIT | BMST_CONVERT_OFFICIAL_VAL},
    {"miniimagenet", bmst_convert_miniimagenet, JPEG_OPTIONS | BMST_CONVERT_TEST_PER_CLASS},
    {"folder", bmst_convert_folder, JPEG_OPTIONS | BMST_CONVERT_TEST_FRACTION},
};

const char *const bmst_converter_kinds = "fashion-mnist, cifar10, cifar100, flowers102, "
                                         "miniimagenet, folder";

const struct bmst_converter *bmst_converter_find(const char *kind) {
    for (size_t i = 0; i < sizeof converters / sizeof converters[0]; i++)
        if (strcmp(kind, converters[i].kind) == 0) return &converters[i];
    return NULL;
}

int bmst_join_path(char *buf, size_t cap, const char *dir, const char *name) {
    if ((size_t)snprintf(buf, cap, "%s/%s", dir, name) >= cap)
        return bmst_error("%s: path too long", dir);
    return 0;
}

int bmst_converted_alloc(struct bmst_converted *cv, const char *name, int h, int w, int c,
                         int classes, const size_t count[BMST_SPLIT_COUNT], int coarse) {
    memset(cv, 0, sizeof *cv);
    snprintf(cv->name, sizeof cv->name, "%s", name);
    size_t image_bytes = (size_t)h * w * c;
    for (int s = 0; s < BMST_SPLIT_COUNT; s++) {
        if (s == BMST_SPLIT_VAL && count[s] == 0) continue; /* no /val */
        if (count[s] > SIZE_MAX / 4 / image_bytes)
            return bmst_error("%zu images of %dx%dx%d do not fit in memory", count[s], h, w, c);
        cv->images[s] = malloc(count[s] * image_bytes + 1);
        cv->labels[s] = malloc(count[s] * sizeof(int32_t) + 1);
        if (coarse) cv->coarse_labels[s] = malloc(count[s] * sizeof(int32_t) + 1);
        if (!cv->images[s] || !cv->labels[s] || (coarse && !cv->coarse_labels[s]))
            return bmst_error("out of memory for %zu images of %dx%dx%d", count[s], h, w, c);
        cv->src.images[s] = cv->images[s];
        cv->src.labels[s] = cv->labels[s];
        cv->src.coarse_labels[s] = cv->coarse_labels[s];
        cv->src.count[s] = count[s];
    }
    cv->src.name = cv->name;
    cv->src.h = h;
    cv->src.w = w;
    cv->src.c = c;
    cv->src.classes = classes;
    return 0;
}

void bmst_converted_free(struct bmst_converted *cv) {
    for (int s = 0; s < BMST_SPLIT_COUNT; s++) {
        free(cv->images[s]);
        free(cv->labels[s]);
        free(cv->coarse_labels[s]);
    }
    if (cv->class_names)
        for (int i = 0; i < cv->src.classes; i++)
            free(cv->class_names[i]);
    free(cv->class_names);
    memset(cv, 0, sizeof *cv);
}

int bmst_read_class_names(const char *path, struct bmst_converted *cv) {
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : bmst_error("%s: %s", path, strerror(errno));
    int classes = cv->src.classes, n = 0;
    char **names = calloc((size_t)classes, sizeof *names);
    char line[512];
    while (names && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0) continue;
        if (n == classes) {
            n++;
            break;
        }
        if (!(names[n++] = strdup(line))) break;
    }
    int bad_read = ferror(f);
    fclose(f);
    if (names && n == classes && !bad_read && names[n - 1]) {
        cv->class_names = names;
        cv->src.class_names = (const char *const *)names;
        return 0;
    }
    for (int i = 0; names && i < classes; i++)
        free(names[i]);
    free(names);
    if (bad_read) return bmst_error("%s: read error", path);
    if (n > classes) return bmst_error("%s: more than %d class names", path, classes);
    return bmst_error("%s: has %d class names, expected %d", path, n, classes);
}
