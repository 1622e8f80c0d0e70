/* bmst_data convert --val-fraction F: a validation split carved from the
 * training split, stratified per class.
 *
 * Each training sample gets the key hash(index); in each class the
 * round(F * n_c) samples of smallest key (ties: smaller index) go to /val.
 * The key depends on the index alone, so the split is the same on every
 * machine and for every thread count, and is the same set whatever order
 * the classes' samples come in. Both splits keep the samples' order. */
#include "convert.h"

#include "error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The salt of the keys: a fixed constant, so files converted anywhere agree. */
#define VAL_SPLIT_SALT UINT64_C(0x76616c5f73706c74) /* "val_splt" */

struct keyed {
    uint64_t key;
    uint32_t index;
};

static int by_key(const void *a, const void *b) {
    const struct keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Marks (to_val[i] = 1) the samples the split moves. */
static size_t choose(const int32_t *labels, size_t n, int classes, double fraction,
                     uint8_t *to_val) {
    size_t *per_class = bmst_xcalloc((size_t)classes, sizeof *per_class), moved = 0;
    for (size_t i = 0; i < n; i++)
        per_class[labels[i]]++;
    struct keyed *members = bmst_xmalloc((n ? n : 1) * sizeof *members);
    for (int c = 0; c < classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c)
                members[m++] = (struct keyed){bmst_hash64(VAL_SPLIT_SALT ^ i), (uint32_t)i};
        size_t take = (size_t)floor(fraction * (double)per_class[c] + 0.5);
        qsort(members, m, sizeof *members, by_key);
        for (size_t j = 0; j < take; j++)
            to_val[members[j].index] = 1;
        moved += take;
    }
    free(members), free(per_class);
    return moved;
}

/* Splits one array of n rows of `row` bytes by to_val, keeping order. */
static void *part(void *rows, size_t n, size_t row, const uint8_t *to_val, int want, size_t count) {
    uint8_t *out = bmst_xmalloc(count * row + 1), *from = rows;
    for (size_t i = 0, at = 0; i < n; i++)
        if (to_val[i] == want) memcpy(out + (at++) * row, from + i * row, row);
    return out;
}

int bmst_converted_split_val(struct bmst_converted *cv, double fraction) {
    struct bmst_dataset_source *src = &cv->src;
    size_t n = src->count[BMST_SPLIT_TRAIN];
    uint8_t *to_val = bmst_xcalloc(n ? n : 1, 1);
    size_t moved = choose(cv->labels[BMST_SPLIT_TRAIN], n, src->classes, fraction, to_val);
    if (moved == 0 || moved == n) {
        free(to_val);
        return bmst_error("--val-fraction %g leaves %s of the %zu training samples in /val: "
                          "choose a fraction that keeps some in each",
                          fraction, moved ? "all" : "none", n);
    }
    size_t image_bytes = (size_t)src->h * src->w * src->c, keep = n - moved;
    const int T = BMST_SPLIT_TRAIN, V = BMST_SPLIT_VAL;
    cv->images[V] = part(cv->images[T], n, image_bytes, to_val, 1, moved);
    cv->labels[V] = part(cv->labels[T], n, sizeof(int32_t), to_val, 1, moved);
    uint8_t *images = part(cv->images[T], n, image_bytes, to_val, 0, keep);
    int32_t *labels = part(cv->labels[T], n, sizeof(int32_t), to_val, 0, keep);
    free(cv->images[T]), free(cv->labels[T]);
    cv->images[T] = images, cv->labels[T] = labels;
    if (cv->coarse_labels[T]) {
        cv->coarse_labels[V] = part(cv->coarse_labels[T], n, sizeof(int32_t), to_val, 1, moved);
        int32_t *coarse = part(cv->coarse_labels[T], n, sizeof(int32_t), to_val, 0, keep);
        free(cv->coarse_labels[T]);
        cv->coarse_labels[T] = coarse;
    }
    free(to_val);
    for (int s = T; s <= V; s += V - T) {
        src->images[s] = cv->images[s];
        src->labels[s] = cv->labels[s];
        src->coarse_labels[s] = cv->coarse_labels[s];
    }
    src->count[T] = keep;
    src->count[V] = moved;
    return 0;
}
