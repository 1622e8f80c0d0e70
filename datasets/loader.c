/* The batch loader: one background thread reads this rank's slice of every
 * epoch, augments and normalizes it into a ring of depth + 1 slots (depth
 * ready ahead, one held by the caller), and the caller takes batches in order.
 *
 * Threads and HDF5: only the background thread reads the dataset, through
 * bmst_dataset_read, which holds the process-wide HDF5 lock; any other code
 * calling HDF5 while a loader runs must take bmst_hdf5_lock() too.
 *
 * Every random choice is a function of (seed, epoch, sample index), never of
 * thread timing: the permutation of epoch e is rng(seed, SHUFFLE, e) and the
 * augmentation of sample s in epoch e is rng(seed, AUGMENT, e * N + s), so all
 * ranks agree on the permutation and a resumed run sees the same data. */
#include "loader.h"

#include "error.h"
#include "rng.h"

#include <pthread.h>
#include <string.h>

#define AUGMENT_PAD 4 /* zero padding on each side before the random crop */

struct slot {
    float *images;     /* [batch, h, w, c] normalized */
    int32_t *labels;   /* [batch], -1 past `valid` */
    uint32_t *samples; /* [batch] indices in the split of the first `valid` */
    int valid, index;
};

struct bmst_loader {
    struct bmst_dataset *ds;
    struct bmst_loader_config cfg;
    int h, w, c;
    size_t n;           /* samples in the split */
    size_t batches;     /* per epoch, the same on every rank */
    size_t slice_begin; /* evaluation: this rank's positions [begin, begin + len) */
    size_t slice_len;
    float lut[BMST_MAX_CHANNELS][256]; /* normalized value of every pixel value */

    /* used by the background thread only */
    uint32_t *order;   /* [n] the epoch's permutation (shuffle only) */
    uint32_t *indices; /* [batch] sample indices of the batch being made */
    uint8_t *raw;      /* [batch, h, w, c] as read */

    int nslots;
    struct slot *slots;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake_producer, wake_consumer;
    /* under mu */
    int quit, pending, busy, cancel, failed, started;
    int epoch;
    size_t produced, consumed, released; /* batches of the current epoch */
    char error[512];
};

/* Output pixel (y, x) of the crop at offset (oy, ox) of the image padded by
 * AUGMENT_PAD on each side, flipped left-right after cropping when `flip`;
 * oy = ox = AUGMENT_PAD, flip = 0 is the identity. Padding is pixel value 0. */
static void transform(const struct bmst_loader *l, const uint8_t *src, float *dst, int oy, int ox,
                      int flip) {
    int h = l->h, w = l->w, c = l->c;
    for (int y = 0; y < h; y++) {
        int sy = y + oy - AUGMENT_PAD;
        float *row = dst + (size_t)y * w * c;
        if (sy < 0 || sy >= h) {
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    row[x * c + k] = l->lut[k][0];
            continue;
        }
        const uint8_t *srow = src + (size_t)sy * w * c;
        for (int x = 0; x < w; x++) {
            int sx = (flip ? w - 1 - x : x) + ox - AUGMENT_PAD;
            int inside = sx >= 0 && sx < w;
            for (int k = 0; k < c; k++)
                row[x * c + k] = l->lut[k][inside ? srow[sx * c + k] : 0];
        }
    }
}

/* Makes batch k of `epoch` in slot s; on a read error keeps the message. */
/* Where batch k of this rank starts in the epoch's order, and its length.
 * Training: global step k takes positions [k * b * world, (k + 1) * b * world)
 * and rank r the r-th block of b, so `world` ranks with batch b see exactly
 * the samples one process with batch b * world sees at every step.
 * Evaluation: the rank's contiguous slice, batch by batch. */
static size_t batch_start(const struct bmst_loader *l, size_t k, size_t *valid) {
    size_t b = (size_t)l->cfg.batch;
    if (l->cfg.drop_last) {
        *valid = b;
        return (k * (size_t)l->cfg.world + (size_t)l->cfg.rank) * b;
    }
    size_t first = k * b;
    *valid = first >= l->slice_len ? 0 : l->slice_len - first;
    if (*valid > b) *valid = b;
    return l->slice_begin + first;
}

static int fill_batch(struct bmst_loader *l, int epoch, size_t k, struct slot *s) {
    size_t b = (size_t)l->cfg.batch, hwc = (size_t)l->h * l->w * l->c, valid;
    size_t start = batch_start(l, k, &valid);
    for (size_t i = 0; i < valid; i++) {
        size_t pos = start + i;
        s->samples[i] = l->cfg.shuffle ? l->order[pos] : (uint32_t)pos;
    }
    memcpy(l->indices, s->samples, valid * sizeof *l->indices);
    if (valid && bmst_dataset_read(l->ds, l->cfg.split, l->indices, valid, l->raw, s->labels) != 0)
        return -1;
    for (size_t i = 0; i < valid; i++) {
        int oy = AUGMENT_PAD, ox = AUGMENT_PAD, flip = 0;
        if (l->cfg.augment) {
            struct bmst_rng r = bmst_rng_make(l->cfg.seed, BMST_RNG_AUGMENT,
                                              (uint64_t)epoch * l->n + l->indices[i]);
            oy = (int)bmst_rng_below(&r, 2 * AUGMENT_PAD + 1);
            ox = (int)bmst_rng_below(&r, 2 * AUGMENT_PAD + 1);
            flip = (int)bmst_rng_below(&r, 2);
        }
        transform(l, l->raw + i * hwc, s->images + i * hwc, oy, ox, flip);
    }
    memset(s->images + valid * hwc, 0, (b - valid) * hwc * sizeof(float));
    for (size_t i = valid; i < b; i++)
        s->labels[i] = -1;
    s->valid = (int)valid;
    s->index = (int)k;
    return 0;
}

static void *producer(void *arg) {
    struct bmst_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && !l->pending)
            pthread_cond_wait(&l->wake_producer, &l->mu);
        if (l->quit) break;
        int epoch = l->epoch;
        l->pending = 0;
        l->busy = 1;
        pthread_mutex_unlock(&l->mu);
        if (l->cfg.shuffle) {
            struct bmst_rng r = bmst_rng_make(l->cfg.seed, BMST_RNG_SHUFFLE, (uint64_t)epoch);
            bmst_rng_permutation(&r, l->order, (uint32_t)l->n);
        }
        pthread_mutex_lock(&l->mu);
        for (size_t k = 0; k < l->batches; k++) {
            while (!l->quit && !l->cancel && k - l->released >= (size_t)l->nslots)
                pthread_cond_wait(&l->wake_producer, &l->mu);
            if (l->quit || l->cancel) break;
            pthread_mutex_unlock(&l->mu);
            int rc = fill_batch(l, epoch, k, &l->slots[k % (size_t)l->nslots]);
            pthread_mutex_lock(&l->mu);
            if (rc != 0) {
                /* the message is this thread's; hand a copy to the caller */
                snprintf(l->error, sizeof l->error, "%s", bmst_last_error());
                l->failed = 1;
                break;
            }
            l->produced = k + 1;
            pthread_cond_broadcast(&l->wake_consumer);
        }
        l->busy = 0;
        pthread_cond_broadcast(&l->wake_consumer);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* This rank's share. Training (drop_last) takes whole global steps of
 * b * world samples and drops the rest (see batch_start); evaluation splits
 * the samples into near-equal contiguous slices and pads, so every sample is
 * seen once and batch counts agree. */
static void plan_slices(struct bmst_loader *l) {
    size_t b = (size_t)l->cfg.batch, world = (size_t)l->cfg.world, rank = (size_t)l->cfg.rank;
    if (l->cfg.drop_last) {
        l->batches = l->n / b / world;
    } else {
        l->slice_begin = rank * l->n / world;
        l->slice_len = (rank + 1) * l->n / world - l->slice_begin;
        size_t longest = (l->n + world - 1) / world;
        l->batches = (longest + b - 1) / b;
    }
}

int bmst_loader_create(struct bmst_dataset *ds, const struct bmst_loader_config *cfg,
                       struct bmst_loader **out) {
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    if (cfg->split != BMST_SPLIT_TRAIN && cfg->split != BMST_SPLIT_TEST)
        return bmst_error("loader: unknown split %d", (int)cfg->split);
    if (cfg->batch < 1 || cfg->depth < 1 || cfg->world < 1 || cfg->rank < 0 ||
        cfg->rank >= cfg->world)
        return bmst_error("loader: bad configuration (batch %d, depth %d, rank %d of %d)",
                          cfg->batch, cfg->depth, cfg->rank, cfg->world);
    struct bmst_loader *l = bmst_xcalloc(1, sizeof *l);
    l->ds = ds;
    l->cfg = *cfg;
    l->h = info->h;
    l->w = info->w;
    l->c = info->c;
    l->n = info->count[cfg->split];
    plan_slices(l);
    for (int k = 0; k < l->c; k++) {
        /* a constant channel has std 0: leave it centred rather than divide by 0 */
        double sd = info->std[k] > 0.0f ? info->std[k] : 1.0;
        for (int v = 0; v < 256; v++)
            l->lut[k][v] = (float)((v / 255.0 - info->mean[k]) / sd);
    }
    size_t b = (size_t)cfg->batch, hwc = (size_t)l->h * l->w * l->c;
    if (cfg->shuffle) l->order = bmst_xmalloc(l->n * sizeof *l->order);
    l->indices = bmst_xmalloc(b * sizeof *l->indices);
    l->raw = bmst_xmalloc(b * hwc);
    l->nslots = cfg->depth + 1;
    l->slots = bmst_xcalloc((size_t)l->nslots, sizeof *l->slots);
    for (int i = 0; i < l->nslots; i++) {
        l->slots[i].images = bmst_xmalloc(b * hwc * sizeof(float));
        l->slots[i].labels = bmst_xmalloc(b * sizeof(int32_t));
        l->slots[i].samples = bmst_xmalloc(b * sizeof(uint32_t));
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake_producer, NULL);
    pthread_cond_init(&l->wake_consumer, NULL);
    if (pthread_create(&l->thread, NULL, producer, l) != 0) {
        l->quit = 1; /* no thread to join */
        bmst_loader_free(l);
        return bmst_error("loader: cannot start the reader thread");
    }
    *out = l;
    return 0;
}

void bmst_loader_free(struct bmst_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    int running = !l->quit;
    l->quit = 1;
    pthread_cond_broadcast(&l->wake_producer);
    pthread_mutex_unlock(&l->mu);
    if (running) pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake_producer);
    pthread_cond_destroy(&l->wake_consumer);
    for (int i = 0; i < l->nslots; i++) {
        free(l->slots[i].images);
        free(l->slots[i].labels);
        free(l->slots[i].samples);
    }
    free(l->slots);
    free(l->order);
    free(l->indices);
    free(l->raw);
    free(l);
}

size_t bmst_loader_batches(const struct bmst_loader *l) {
    return l->batches;
}

void bmst_loader_start_epoch(struct bmst_loader *l, int epoch) {
    pthread_mutex_lock(&l->mu);
    if (l->busy || l->pending) {
        /* abandon the unfinished epoch: stop the thread between batches */
        l->cancel = 1;
        l->pending = 0;
        pthread_cond_broadcast(&l->wake_producer);
        while (l->busy)
            pthread_cond_wait(&l->wake_consumer, &l->mu);
        l->cancel = 0;
    }
    l->epoch = epoch;
    l->produced = l->consumed = l->released = 0;
    l->failed = 0;
    l->started = 1;
    l->pending = 1;
    pthread_cond_broadcast(&l->wake_producer);
    pthread_mutex_unlock(&l->mu);
}

int bmst_loader_next(struct bmst_loader *l, struct bmst_batch *b) {
    pthread_mutex_lock(&l->mu);
    if (!l->started) {
        pthread_mutex_unlock(&l->mu);
        return bmst_error("loader: bmst_loader_next called before bmst_loader_start_epoch");
    }
    /* the batch returned last time is no longer needed: its slot may refill */
    l->released = l->consumed;
    pthread_cond_broadcast(&l->wake_producer);
    while (l->produced <= l->consumed && !l->failed && l->consumed < l->batches)
        pthread_cond_wait(&l->wake_consumer, &l->mu);
    int rc = 0;
    if (l->produced > l->consumed) {
        const struct slot *s = &l->slots[l->consumed % (size_t)l->nslots];
        *b = (struct bmst_batch){s->images, s->labels, s->samples, s->valid, s->index};
        l->consumed++;
        rc = 1;
    } else if (l->failed) {
        char message[sizeof l->error];
        memcpy(message, l->error, sizeof message);
        rc = bmst_error("%s", message);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}
