/* An image folder in torchvision's ImageFolder layout: DIR/train/CLASS/...
 * and DIR/test/CLASS/..., or one tree DIR/CLASS/... split by --test-fraction.
 *
 * Classes and samples come in ImageFolder's order, so a label here is the
 * index torchvision gives: classes are the sorted names of the class folders
 * (symbolic links followed); within a class, every folder under it is taken
 * in the sorted order of its path, and its files in sorted order, as
 * ImageFolder's sorted(os.walk(...)) does. Names sort by byte, which for
 * UTF-8 is Python's code-point order. Files are taken by ImageFolder's
 * extensions (case-insensitive); of those, JPEG and PNG are decoded, and the
 * others (BMP, PPM, PGM, TIFF, WebP) are an error naming the file, or with
 * --skip-bad are left out. A test class must also be a training class, whose
 * label it takes. Every image is stored as its central square resized to
 * --size, as for the other image sources. */
#include "convert.h"

#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_DEPTH 32 /* folder levels under a class: a cycle of links stops here */
#define MAX_WARNINGS 10

/* torchvision.datasets.folder.IMG_EXTENSIONS, split by what is decoded */
static const char *const decoded[] = {".jpg", ".jpeg", ".png"};
static const char *const not_decoded[] = {".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};

struct names {
    char **v;
    size_t n, cap;
};

static void names_add(struct names *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = bmst_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n]) bmst_fatal("C library", __FILE__, __LINE__, "strdup", "out of memory");
    l->n++;
}

static void names_free(struct names *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_extension(const char *name, const char *const *exts, size_t n) {
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        size_t e = strlen(exts[i]);
        if (len >= e && strcasecmp(name + len - e, exts[i]) == 0) return 1;
    }
    return 0;
}

/* The entries of root/rel (rel "" for root), sorted: folders into `dirs`,
 * files into `files`, each as a path relative to root. */
static int list_dir(const char *root, const char *rel, struct names *dirs, struct names *files) {
    char path[4096], child[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return bmst_error("%s: %s", path, strerror(errno));
    struct names entries = {0};
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names_add(&entries, e->d_name);
    closedir(d);
    if (entries.n) qsort(entries.v, entries.n, sizeof *entries.v, by_name);
    int rc = 0;
    for (size_t i = 0; i < entries.n && rc == 0; i++) {
        struct stat st;
        if ((size_t)snprintf(child, sizeof child, "%s/%s", path, entries.v[i]) >= sizeof child) {
            rc = bmst_error("%s: path too long", path);
            break;
        }
        if (stat(child, &st) != 0) continue; /* a dangling link: ImageFolder skips it too */
        snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", entries.v[i]);
        if (S_ISDIR(st.st_mode) && dirs)
            names_add(dirs, child);
        else if (S_ISREG(st.st_mode) && files)
            names_add(files, child);
    }
    names_free(&entries);
    return rc;
}

/* Collects the image files of one class folder (relative to root) in
 * ImageFolder's order into `out`. */
static int class_files(const char *root, const char *class_dir, int skip_bad, struct names *out,
                       size_t *skipped) {
    struct names folders = {0};
    names_add(&folders, class_dir);
    int rc = 0;
    /* every folder under the class, breadth first; their order is fixed below */
    for (size_t i = 0; i < folders.n && rc == 0; i++) {
        int depth = 0;
        for (const char *c = folders.v[i] + strlen(class_dir); *c; c++)
            depth += *c == '/';
        if (depth > MAX_DEPTH) {
            rc = bmst_error("%s/%s: folders nested more than %d deep (a cycle of links?)", root,
                            folders.v[i], MAX_DEPTH);
            break;
        }
        rc = list_dir(root, folders.v[i], &folders, NULL);
    }
    qsort(folders.v, folders.n, sizeof *folders.v, by_name);
    for (size_t i = 0; i < folders.n && rc == 0; i++) {
        struct names files = {0};
        rc = list_dir(root, folders.v[i], NULL, &files);
        for (size_t j = 0; j < files.n && rc == 0; j++) {
            const char *f = files.v[j];
            if (has_extension(f, decoded, sizeof decoded / sizeof *decoded)) {
                names_add(out, f);
            } else if (has_extension(f, not_decoded, sizeof not_decoded / sizeof *not_decoded)) {
                if (!skip_bad)
                    rc = bmst_error("%s/%s: only JPEG and PNG images are read (--skip-bad leaves "
                                    "others out)",
                                    root, f);
                else if ((*skipped)++ < MAX_WARNINGS)
                    fprintf(stderr, "bmst_data: warning: skipped %s/%s: not JPEG or PNG\n", root,
                            f);
            }
        }
        names_free(&files);
    }
    names_free(&folders);
    return rc;
}

/* The class folders of root/sub, sorted. */
static int class_names(const char *root, const char *sub, struct names *classes) {
    return list_dir(root, sub, classes, NULL);
}

/* The index of `name` in the sorted class list, or -1. */
static int class_index(const struct names *classes, const char *name) {
    char *const *hit =
        classes->n ? bsearch(&name, classes->v, classes->n, sizeof *classes->v, by_name) : NULL;
    return hit ? (int)(hit - classes->v) : -1;
}

/* Appends the jobs of tree root/sub (sub: "train", "test" or "") to `files`
 * and `jobs`, labelled by `classes` (which a tree's own classes must be in). */
static int add_tree(const char *root, const char *sub, const struct names *classes, int split,
                    int skip_bad, struct names *files, struct bmst_image_job **jobs, size_t *n_jobs,
                    size_t *skipped) {
    struct names own = {0};
    int rc = class_names(root, sub, &own);
    for (size_t k = 0; k < own.n && rc == 0; k++) {
        const char *name = own.v[k] + (*sub ? strlen(sub) + 1 : 0);
        int label = class_index(classes, name);
        if (label < 0) {
            rc = bmst_error("%s/%s: class '%s' is not among the training classes", root, sub, name);
            break;
        }
        size_t before = files->n;
        rc = class_files(root, own.v[k], skip_bad, files, skipped);
        if (rc == 0 && files->n == before && split == BMST_SPLIT_TRAIN)
            rc = bmst_error("%s/%s: no JPEG or PNG image in the class folder", root, own.v[k]);
        *jobs = bmst_xrealloc(*jobs, (files->n ? files->n : 1) * sizeof **jobs);
        for (size_t i = before; i < files->n; i++)
            (*jobs)[i] = (struct bmst_image_job){.split = split, .label = label};
        *n_jobs = files->n;
    }
    names_free(&own);
    return rc;
}

static int is_dir(const char *dir, const char *sub) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The dataset's name: DIR's last component, at most 63 bytes. */
static void dataset_name(const char *dir, char *name, size_t cap) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    snprintf(name, cap, "%.*s", (int)(len - start), dir + start);
    if (!name[0]) snprintf(name, cap, "folder");
}

int bmst_convert_folder(const char *dir, const struct bmst_convert_options *opt,
                        struct bmst_converted *out) {
    memset(out, 0, sizeof *out);
    if (!opt->size) return bmst_error("convert folder needs --size S (the stored images' side)");
    int split_dirs = is_dir(dir, "train") && is_dir(dir, "test");
    if (split_dirs && opt->test_fraction > 0.0)
        return bmst_error("%s has train/ and test/: --test-fraction is for a single tree", dir);
    if (!split_dirs && opt->test_fraction <= 0.0)
        return bmst_error("%s has no train/ and test/ folders: give --test-fraction F to split "
                          "its one tree of class folders",
                          dir);
    struct names classes = {0}, files = {0};
    struct bmst_image_job *jobs = NULL;
    size_t n = 0, skipped = 0;
    int rc = class_names(dir, split_dirs ? "train" : "", &classes);
    /* class names without the train/ prefix, for labels and the file */
    for (size_t k = 0; k < classes.n && split_dirs; k++)
        memmove(classes.v[k], classes.v[k] + 6, strlen(classes.v[k] + 6) + 1);
    if (rc == 0 && classes.n == 0)
        rc = bmst_error("%s%s: no class folders", dir, split_dirs ? "/train" : "");
    if (rc == 0 && classes.n > BMST_MAX_CLASSES)
        rc = bmst_error("%s: %zu class folders, more than %d", dir, classes.n, BMST_MAX_CLASSES);
    if (rc == 0)
        rc = add_tree(dir, split_dirs ? "train" : "", &classes, BMST_SPLIT_TRAIN, opt->skip_bad,
                      &files, &jobs, &n, &skipped);
    if (rc == 0 && split_dirs)
        rc = add_tree(dir, "test", &classes, BMST_SPLIT_TEST, opt->skip_bad, &files, &jobs, &n,
                      &skipped);
    for (size_t i = 0; i < n; i++)
        jobs[i].file = files.v[i];
    char name[64];
    dataset_name(dir, name, sizeof name);
    if (rc == 0) rc = bmst_convert_jpegs(out, name, (int)classes.n, dir, jobs, n, opt->size, opt);
    if (rc == 0) {
        out->skipped += skipped;
        out->class_names = bmst_xcalloc(classes.n, sizeof *out->class_names);
        for (size_t k = 0; k < classes.n; k++)
            out->class_names[k] = classes.v[k], classes.v[k] = NULL;
        out->src.class_names = (const char *const *)out->class_names;
    }
    if (rc == 0 && !split_dirs) rc = bmst_converted_carve(out, BMST_SPLIT_TEST, opt->test_fraction);
    if (rc != 0) bmst_converted_free(out);
    names_free(&classes), names_free(&files);
    free(jobs);
    return rc;
}
