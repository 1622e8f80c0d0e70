/* The batch loader: a reader thread reads this rank's samples from the
 * dataset (HDF5 is not thread-safe: it alone calls it), worker threads augment
 * and normalize them, and the next `depth` batches are kept ready while the
 * training step runs. */
#ifndef BMST_LOADER_H
#define BMST_LOADER_H

#include "augment.h"
#include "dataset.h"

struct bmst_loader_config {
    enum bmst_split split;
    int batch;   /* samples per batch */
    int shuffle; /* a new permutation every epoch, from seed and epoch */
    enum bmst_augment augment;
    /* training drops the remainder: global step k is positions
     * [k * batch * world, (k + 1) * batch * world) of the epoch's order, rank r
     * the r-th block of `batch` in it; evaluation gives each rank a contiguous
     * slice and pads the last batch (slices differ by at most one sample, so a
     * rank may end with valid = 0) */
    int drop_last;
    int depth;   /* batches prepared ahead (>= 1) */
    int workers; /* threads that augment (>= 1), beside the one that reads */
    uint64_t seed;
    int rank, world; /* this process's share of every epoch (1 process: 0, 1) */
    /* optional: where the batches' images live (page-locked memory from the
     * GPU backend, so their upload is asynchronous); NULL: malloc / free */
    void *(*host_alloc)(void *ctx, size_t bytes);
    void (*host_free)(void *ctx, void *ptr);
    void *alloc_ctx;
};

/* One batch: normalized float images NHWC [batch, h, w, c] and labels [batch].
 * `valid` <= batch samples are real; the rest (only in a padded last batch)
 * are zeros with label -1. Valid until the next bmst_loader_next or
 * bmst_loader_start_epoch call. */
struct bmst_batch {
    const float *images;
    const int32_t *labels;
    const uint32_t *samples; /* [valid] the samples' indices in the split */
    int valid;
    int index; /* batch number within the epoch */
};

struct bmst_loader;

int bmst_loader_create(struct bmst_dataset *ds, const struct bmst_loader_config *cfg,
                       struct bmst_loader **out);
void bmst_loader_free(struct bmst_loader *l);
/* Batches this rank gets per epoch. */
size_t bmst_loader_batches(const struct bmst_loader *l);
/* Starts producing the batches of `epoch` (0-based) in the background; an
 * unfinished earlier epoch is abandoned. */
void bmst_loader_start_epoch(struct bmst_loader *l, int epoch);
/* As bmst_loader_start_epoch, from batch `first` of the epoch: the batches a
 * run stopped inside the epoch had not taken yet, the same samples with the
 * same augmentation (both are functions of the seed, epoch and position). */
void bmst_loader_start_epoch_at(struct bmst_loader *l, int epoch, size_t first);
/* Waits for the next batch of the epoch: returns 1 and fills *b, 0 when the
 * epoch is over, -1 on a read error (message in bmst_last_error()). */
int bmst_loader_next(struct bmst_loader *l, struct bmst_batch *b);

#endif
