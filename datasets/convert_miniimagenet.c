/* miniImageNet as published for few-shot learning: images/NAME.jpg and the
 * split files train.csv, val.csv and test.csv (header "filename,label", the
 * label a WordNet id such as n01532829). Those splits have disjoint classes;
 * for classification the 100 classes of all three are pooled, numbered in
 * sorted order of their WordNet ids (stored as the class names), and every
 * class is split by file name: in sorted order, its last --test-per-class
 * images (default 100) are the test split, the rest training. Samples are
 * stored class by class, by file name within a class. */
#include "convert.h"

#include "error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINI_SIZE 84            /* default --size: the side miniImageNet is used at */
#define MINI_TEST_PER_CLASS 100 /* default --test-per-class */
#define WNID_LEN 9              /* "n" and eight digits */

static const char *const csv_names[3] = {"train.csv", "val.csv", "test.csv"};

struct mini_entry {
    char *file;
    char wnid[WNID_LEN + 1];
    int csv, line; /* where it was listed, for messages */
    int label;
};

struct mini_list {
    struct mini_entry *v;
    size_t n, cap;
};

static void mini_list_free(struct mini_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].file);
    free(l->v);
}

static int is_wnid(const char *s) {
    if (strlen(s) != WNID_LEN || s[0] != 'n') return 0;
    for (int i = 1; i < WNID_LEN; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* Appends the rows of one split file to `l`. */
static int read_csv(const char *dir, int csv, struct mini_list *l) {
    char path[4096];
    if (bmst_join_path(path, sizeof path, dir, csv_names[csv]) != 0) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return bmst_error("%s: %s", path, strerror(errno));
    char *text = NULL;
    size_t cap = 0;
    int line = 0, header = 0, rc = 0;
    while (rc == 0 && getline(&text, &cap, f) >= 0) {
        line++;
        size_t len = strlen(text);
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
        if (len == 0) continue;
        if (!header) {
            header = 1;
            if (strcmp(text, "filename,label") != 0)
                rc = bmst_error("%s:%d: header is '%.60s', expected 'filename,label'", path, line,
                                text);
            continue;
        }
        char *comma = strchr(text, ',');
        if (!comma || comma == text || strchr(comma + 1, ','))
            rc = bmst_error("%s:%d: expected 'filename,label', got '%.60s'", path, line, text);
        else if (*comma = '\0', !is_wnid(comma + 1))
            rc = bmst_error("%s:%d: label '%.60s' is not a WordNet id (n and 8 digits)", path, line,
                            comma + 1);
        else if (l->n == l->cap &&
                 !(l->v = realloc(l->v, (l->cap = l->cap ? 2 * l->cap : 1024) * sizeof *l->v)))
            rc = bmst_error("out of memory reading %s", path);
        else if (!(l->v[l->n].file = strdup(text)))
            rc = bmst_error("out of memory reading %s", path);
        else {
            struct mini_entry *e = &l->v[l->n++];
            memcpy(e->wnid, comma + 1, WNID_LEN + 1);
            e->csv = csv;
            e->line = line;
        }
    }
    if (rc == 0 && ferror(f)) rc = bmst_error("%s: read error", path);
    if (rc == 0 && !header)
        rc = bmst_error("%s: empty (expected the header 'filename,label')", path);
    free(text);
    fclose(f);
    return rc;
}

static int by_file(const void *a, const void *b) {
    const struct mini_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->csv != y->csv ? x->csv - y->csv : x->line - y->line;
}

static int by_class_then_file(const void *a, const void *b) {
    const struct mini_entry *x = a, *y = b;
    int c = strcmp(x->wnid, y->wnid);
    return c ? c : strcmp(x->file, y->file);
}

/* Numbers the classes, checks each can give `per_class` test images and one
 * for training, and makes the jobs: per class, the last per_class are test. */
static int make_jobs(const char *dir, const struct mini_list *l, long per_class,
                     struct bmst_image_job *jobs, int *classes) {
    *classes = 0;
    for (size_t first = 0, end; first < l->n; first = end) {
        end = first + 1;
        while (end < l->n && strcmp(l->v[end].wnid, l->v[first].wnid) == 0)
            end++;
        if (*classes == BMST_MAX_CLASSES)
            return bmst_error("%s: more than %d classes", dir, BMST_MAX_CLASSES);
        if (end - first <= (size_t)per_class)
            return bmst_error("%s: class %s has %zu images; --test-per-class %ld leaves none for "
                              "training",
                              dir, l->v[first].wnid, end - first, per_class);
        for (size_t i = first; i < end; i++) {
            jobs[i].file = l->v[i].file;
            jobs[i].split = i >= end - (size_t)per_class; /* 1: test */
            jobs[i].label = *classes;
        }
        ++*classes;
    }
    return 0;
}

int bmst_convert_miniimagenet(const char *dir, const struct bmst_convert_options *opt,
                              struct bmst_converted *out) {
    struct mini_list l = {0};
    struct bmst_image_job *jobs = NULL;
    char image_dir[4096];
    long per_class = opt->test_per_class ? opt->test_per_class : MINI_TEST_PER_CLASS;
    int classes = 0, rc = -1;
    memset(out, 0, sizeof *out);
    for (int csv = 0; csv < 3; csv++)
        if (read_csv(dir, csv, &l) != 0) goto done;
    if (l.n == 0) {
        bmst_error("%s: the split files list no images", dir);
        goto done;
    }
    /* a file listed twice, under any label, in any of the three files */
    qsort(l.v, l.n, sizeof *l.v, by_file);
    for (size_t i = 1; i < l.n; i++)
        if (strcmp(l.v[i].file, l.v[i - 1].file) == 0) {
            bmst_error("%s: %s is listed twice (%s line %d and %s line %d)", dir, l.v[i].file,
                       csv_names[l.v[i - 1].csv], l.v[i - 1].line, csv_names[l.v[i].csv],
                       l.v[i].line);
            goto done;
        }
    qsort(l.v, l.n, sizeof *l.v, by_class_then_file);
    if (!(jobs = malloc(l.n * sizeof *jobs))) {
        bmst_error("out of memory for %zu images", l.n);
        goto done;
    }
    if (make_jobs(dir, &l, per_class, jobs, &classes) != 0 ||
        bmst_join_path(image_dir, sizeof image_dir, dir, "images") != 0 ||
        bmst_convert_jpegs(out, "miniimagenet", classes, image_dir, jobs, l.n,
                           opt->size ? opt->size : MINI_SIZE, opt) != 0)
        goto done;
    /* the class names: the WordNet ids, one per class in label order */
    if (!(out->class_names = calloc((size_t)classes, sizeof *out->class_names))) {
        bmst_error("out of memory");
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) {
        char **name = &out->class_names[jobs[i].label];
        if (!*name && !(*name = strdup(l.v[i].wnid))) {
            bmst_error("out of memory");
            goto done;
        }
    }
    out->src.class_names = (const char *const *)out->class_names;
    rc = 0;
done:
    if (rc != 0) bmst_converted_free(out);
    free(jobs);
    mini_list_free(&l);
    return rc;
}
