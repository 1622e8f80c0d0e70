/* bmst_data convert --val-fraction F (and, for an image folder of one tree,
 * --test-fraction F): a split carved from the training split, stratified per
 * class.
 *
 * Each training sample gets the key hash(salt ^ index), the salt fixed per
 * target split; in each class the floor(F * n_c + 0.5) samples of smallest
 * key (ties: smaller index) move. The key depends on the index alone, so the
 * split is the same on every machine and for every thread count. Both splits
 * keep the samples' order. */
#include "convert.h"

#include "error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The salts of the keys: fixed constants, so files converted anywhere agree,
 * and different per target, so a test and a validation split carved from one
 * training split are drawn independently. */
#define VAL_SALT UINT64_C(0x76616c5f73706c74)  /* "val_splt" */
#define TEST_SALT UINT64_C(0x746573745f73706c) /* "test_spl" */

struct keyed {
    uint64_t key;
    uint32_t index;
};

static int by_key(const void *a, const void *b) {
    const struct keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Marks (moving[i] = 1) the samples that move. */
static size_t choose(const int32_t *labels, size_t n, int classes, double fraction, uint64_t salt,
                     uint8_t *moving) {
    size_t *per_class = bmst_xcalloc((size_t)classes, sizeof *per_class), moved = 0;
    for (size_t i = 0; i < n; i++)
        per_class[labels[i]]++;
    struct keyed *members = bmst_xmalloc((n ? n : 1) * sizeof *members);
    for (int c = 0; c < classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c) members[m++] = (struct keyed){bmst_hash64(salt ^ i), (uint32_t)i};
        size_t take = (size_t)floor(fraction * (double)per_class[c] + 0.5);
        qsort(members, m, sizeof *members, by_key);
        for (size_t j = 0; j < take; j++)
            moving[members[j].index] = 1;
        moved += take;
    }
    free(members), free(per_class);
    return moved;
}

/* The rows of an array of n rows of `row` bytes whose moving[i] is `want`, in order. */
static void *part(void *rows, size_t n, size_t row, const uint8_t *moving, int want, size_t count) {
    uint8_t *out = bmst_xmalloc(count * row + 1), *from = rows;
    for (size_t i = 0, at = 0; i < n; i++)
        if (moving[i] == want) memcpy(out + (at++) * row, from + i * row, row);
    return out;
}

int bmst_converted_carve(struct bmst_converted *cv, enum bmst_split to, double fraction) {
    struct bmst_dataset_source *src = &cv->src;
    const int T = BMST_SPLIT_TRAIN, V = (int)to;
    const char *option = to == BMST_SPLIT_VAL ? "--val-fraction" : "--test-fraction";
    size_t n = src->count[T];
    uint8_t *moving = bmst_xcalloc(n ? n : 1, 1);
    size_t moved = choose(cv->labels[T], n, src->classes, fraction,
                          to == BMST_SPLIT_VAL ? VAL_SALT : TEST_SALT, moving);
    if (moved == 0 || moved == n) {
        free(moving);
        return bmst_error("%s %g leaves %s of the %zu training samples in /%s: "
                          "choose a fraction that keeps some in each",
                          option, fraction, moved ? "all" : "none", n,
                          to == BMST_SPLIT_VAL ? "val" : "test");
    }
    size_t image_bytes = (size_t)src->h * src->w * src->c, keep = n - moved;
    free(cv->images[V]), free(cv->labels[V]), free(cv->coarse_labels[V]); /* empty so far */
    cv->coarse_labels[V] = NULL;
    cv->images[V] = part(cv->images[T], n, image_bytes, moving, 1, moved);
    cv->labels[V] = part(cv->labels[T], n, sizeof(int32_t), moving, 1, moved);
    uint8_t *images = part(cv->images[T], n, image_bytes, moving, 0, keep);
    int32_t *labels = part(cv->labels[T], n, sizeof(int32_t), moving, 0, keep);
    free(cv->images[T]), free(cv->labels[T]);
    cv->images[T] = images, cv->labels[T] = labels;
    if (cv->coarse_labels[T]) {
        cv->coarse_labels[V] = part(cv->coarse_labels[T], n, sizeof(int32_t), moving, 1, moved);
        int32_t *coarse = part(cv->coarse_labels[T], n, sizeof(int32_t), moving, 0, keep);
        free(cv->coarse_labels[T]);
        cv->coarse_labels[T] = coarse;
    }
    free(moving);
    for (int s = 0; s < BMST_SPLIT_COUNT; s++) {
        src->images[s] = cv->images[s];
        src->labels[s] = cv->labels[s];
        src->coarse_labels[s] = cv->coarse_labels[s];
    }
    src->count[T] = keep;
    src->count[V] = moved;
    return 0;
}
