/* The batch loader: a ring of depth + 1 slots, each holding one batch on its
 * way through three hands:
 *
 *   reader thread   takes the next free slot, fills in the batch's sample
 *                   indices and reads their raw bytes and labels (the only
 *                   thread that calls the dataset, so HDF5 is used by one
 *                   thread at a time);
 *   worker threads  take the oldest read slot and augment and normalize its
 *                   images into floats (several batches at once with several
 *                   workers);
 *   the caller      takes batches strictly in order; the batch it holds is
 *                   released when it asks for the next one.
 *
 * Every random choice is a function of (seed, epoch, sample index), never of
 * thread timing: the permutation of epoch e is rng(seed, SHUFFLE, e) and the
 * augmentation of sample s in epoch e is rng(seed, AUGMENT, e * N + s), so all
 * ranks agree on the permutation, the worker count changes nothing, and a
 * resumed run sees the same data. */
#include "loader.h"

#include "error.h"
#include "rng.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum slot_state { SLOT_FREE, SLOT_READ, SLOT_WORKING, SLOT_READY };

struct slot {
    float *images;     /* [batch, h, w, c] normalized */
    int32_t *labels;   /* [batch], -1 past `valid` */
    uint32_t *samples; /* [batch] indices in the split of the first `valid` */
    uint8_t *raw;      /* [batch, h, w, c] as read */
    int valid, index;
    enum slot_state state; /* under mu */
};

struct bmst_loader {
    struct bmst_dataset *ds;
    struct bmst_loader_config cfg;
    struct bmst_normalize norm;
    size_t n;           /* samples in the split */
    size_t batches;     /* per epoch, the same on every rank */
    size_t slice_begin; /* evaluation: this rank's positions [begin, begin + len) */
    size_t slice_len;
    uint32_t *order; /* [n] the epoch's permutation (shuffle only); reader only */

    int nslots;
    struct slot *slots;
    pthread_t reader;
    int reader_started;
    pthread_t *workers;
    int n_workers;
    pthread_mutex_t mu;
    pthread_cond_t wake_reader, wake_workers, wake_consumer;
    /* under mu */
    int quit, cancel, pending, reading, working, failed, started;
    int epoch;
    size_t first;                    /* the epoch's first batch (a resumed epoch's is not 0) */
    size_t read, consumed, released; /* batches of the current epoch */
    char error[512];
};

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

/* Reader: the indices, raw bytes and labels of batch k into slot s. */
static int read_batch(struct bmst_loader *l, size_t k, struct slot *s) {
    size_t valid, start = batch_start(l, k, &valid);
    for (size_t i = 0; i < valid; i++) {
        size_t pos = start + i;
        s->samples[i] = l->cfg.shuffle ? l->order[pos] : (uint32_t)pos;
    }
    s->valid = (int)valid;
    s->index = (int)k;
    if (valid == 0) return 0;
    return bmst_dataset_read(l->ds, l->cfg.split, s->samples, valid, s->raw, s->labels);
}

/* Worker: the floats of slot s, and zeros with label -1 past `valid`. */
static void augment_batch(const struct bmst_loader *l, int epoch, struct slot *s) {
    size_t b = (size_t)l->cfg.batch, hwc = (size_t)l->norm.h * l->norm.w * l->norm.c;
    for (int i = 0; i < s->valid; i++) {
        struct bmst_rng r =
            bmst_rng_make(l->cfg.seed, BMST_RNG_AUGMENT, (uint64_t)epoch * l->n + s->samples[i]);
        bmst_augment_image(&l->norm, l->cfg.augment, &r, s->raw + i * hwc, s->images + i * hwc);
    }
    memset(s->images + (size_t)s->valid * hwc, 0, (b - (size_t)s->valid) * hwc * sizeof(float));
    for (size_t i = (size_t)s->valid; i < b; i++) s->labels[i] = -1;
}

static struct slot *slot_of(struct bmst_loader *l, size_t k) {
    return &l->slots[k % (size_t)l->nslots];
}

static void *reader_main(void *arg) {
    struct bmst_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && !l->pending) pthread_cond_wait(&l->wake_reader, &l->mu);
        if (l->quit) break;
        int epoch = l->epoch;
        size_t first = l->first;
        l->pending = 0;
        l->reading = 1;
        pthread_mutex_unlock(&l->mu);
        if (l->cfg.shuffle) {
            struct bmst_rng r = bmst_rng_make(l->cfg.seed, BMST_RNG_SHUFFLE, (uint64_t)epoch);
            bmst_rng_permutation(&r, l->order, (uint32_t)l->n);
        }
        pthread_mutex_lock(&l->mu);
        for (size_t k = first; k < l->batches; k++) {
            /* slot k is free once the caller released batch k - nslots */
            while (!l->quit && !l->cancel && slot_of(l, k)->state != SLOT_FREE)
                pthread_cond_wait(&l->wake_reader, &l->mu);
            if (l->quit || l->cancel) break;
            struct slot *s = slot_of(l, k);
            pthread_mutex_unlock(&l->mu);
            int rc = read_batch(l, k, s);
            pthread_mutex_lock(&l->mu);
            if (rc != 0) {
                /* the message is this thread's; hand a copy to the caller */
                snprintf(l->error, sizeof l->error, "%s", bmst_last_error());
                l->failed = 1;
                pthread_cond_broadcast(&l->wake_consumer);
                break;
            }
            s->state = SLOT_READ;
            l->read = k + 1;
            pthread_cond_broadcast(&l->wake_workers);
        }
        l->reading = 0;
        pthread_cond_broadcast(&l->wake_consumer);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* The oldest slot read and not yet taken by a worker, or NULL. */
static struct slot *next_read(struct bmst_loader *l) {
    for (size_t k = l->consumed; k < l->read; k++)
        if (slot_of(l, k)->state == SLOT_READ) return slot_of(l, k);
    return NULL;
}

static void *worker_main(void *arg) {
    struct bmst_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct slot *s;
        while (!l->quit && !(s = next_read(l))) pthread_cond_wait(&l->wake_workers, &l->mu);
        if (l->quit) break;
        s->state = SLOT_WORKING;
        l->working++;
        int epoch = l->epoch;
        pthread_mutex_unlock(&l->mu);
        augment_batch(l, epoch, s);
        pthread_mutex_lock(&l->mu);
        s->state = SLOT_READY;
        l->working--;
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

static void *images_alloc(const struct bmst_loader *l, size_t bytes) {
    const struct bmst_loader_config *c = &l->cfg;
    return c->host_alloc ? c->host_alloc(c->alloc_ctx, bytes) : bmst_xmalloc(bytes);
}

static void images_free(const struct bmst_loader *l, void *p) {
    const struct bmst_loader_config *c = &l->cfg;
    if (!p) return;
    if (c->host_free) c->host_free(c->alloc_ctx, p);
    else free(p);
}

/* Stops and joins every thread started so far (once). */
static void stop_threads(struct bmst_loader *l) {
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->wake_reader);
    pthread_cond_broadcast(&l->wake_workers);
    pthread_mutex_unlock(&l->mu);
    if (l->reader_started) pthread_join(l->reader, NULL);
    for (int i = 0; i < l->n_workers; i++) pthread_join(l->workers[i], NULL);
    l->reader_started = 0;
    l->n_workers = 0;
}

int bmst_loader_create(struct bmst_dataset *ds, const struct bmst_loader_config *cfg,
                       struct bmst_loader **out) {
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    if (cfg->split < 0 || cfg->split >= BMST_SPLIT_COUNT ||
        (cfg->split == BMST_SPLIT_VAL && info->count[BMST_SPLIT_VAL] == 0))
        return bmst_error("loader: no split %d", (int)cfg->split);
    if (cfg->batch < 1 || cfg->depth < 1 || cfg->workers < 1 || cfg->world < 1 ||
        cfg->rank < 0 || cfg->rank >= cfg->world)
        return bmst_error("loader: bad configuration (batch %d, depth %d, workers %d, rank %d "
                          "of %d)",
                          cfg->batch, cfg->depth, cfg->workers, cfg->rank, cfg->world);
    struct bmst_loader *l = bmst_xcalloc(1, sizeof *l);
    l->ds = ds;
    l->cfg = *cfg;
    l->n = info->count[cfg->split];
    bmst_normalize_init(&l->norm, info);
    plan_slices(l);
    size_t b = (size_t)cfg->batch, hwc = (size_t)info->h * info->w * info->c;
    if (cfg->shuffle) l->order = bmst_xmalloc(l->n * sizeof *l->order);
    l->nslots = cfg->depth + 1;
    l->slots = bmst_xcalloc((size_t)l->nslots, sizeof *l->slots);
    int status = 0;
    for (int i = 0; i < l->nslots; i++) {
        struct slot *s = &l->slots[i];
        s->images = images_alloc(l, b * hwc * sizeof(float));
        s->labels = bmst_xmalloc(b * sizeof(int32_t));
        s->samples = bmst_xmalloc(b * sizeof(uint32_t));
        s->raw = bmst_xmalloc(b * hwc);
        if (!s->images) status = bmst_error("loader: out of memory for %d batches", l->nslots);
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake_reader, NULL);
    pthread_cond_init(&l->wake_workers, NULL);
    pthread_cond_init(&l->wake_consumer, NULL);
    l->workers = bmst_xcalloc((size_t)cfg->workers, sizeof *l->workers);
    if (status == 0) {
        l->reader_started = pthread_create(&l->reader, NULL, reader_main, l) == 0;
        if (!l->reader_started) status = bmst_error("loader: cannot start the reader thread");
    }
    while (status == 0 && l->n_workers < cfg->workers) {
        if (pthread_create(&l->workers[l->n_workers], NULL, worker_main, l) != 0)
            status = bmst_error("loader: cannot start worker thread %d", l->n_workers + 1);
        else
            l->n_workers++;
    }
    if (status != 0) {
        bmst_loader_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

void bmst_loader_free(struct bmst_loader *l) {
    if (!l) return;
    stop_threads(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake_reader);
    pthread_cond_destroy(&l->wake_workers);
    pthread_cond_destroy(&l->wake_consumer);
    for (int i = 0; i < l->nslots; i++) {
        images_free(l, l->slots[i].images);
        free(l->slots[i].labels);
        free(l->slots[i].samples);
        free(l->slots[i].raw);
    }
    free(l->slots);
    free(l->workers);
    free(l->order);
    free(l);
}

size_t bmst_loader_batches(const struct bmst_loader *l) {
    return l->batches;
}

void bmst_loader_start_epoch(struct bmst_loader *l, int epoch) {
    bmst_loader_start_epoch_at(l, epoch, 0);
}

void bmst_loader_start_epoch_at(struct bmst_loader *l, int epoch, size_t first) {
    pthread_mutex_lock(&l->mu);
    /* abandon an unfinished epoch: the reader stops between batches, and
     * batches in a worker's hands are finished and then dropped */
    l->cancel = 1;
    l->pending = 0;
    pthread_cond_broadcast(&l->wake_reader);
    while (l->reading || l->working) pthread_cond_wait(&l->wake_consumer, &l->mu);
    l->cancel = 0;
    for (int i = 0; i < l->nslots; i++) l->slots[i].state = SLOT_FREE;
    l->epoch = epoch;
    l->first = first < l->batches ? first : l->batches;
    l->read = l->consumed = l->released = l->first;
    l->failed = 0;
    l->started = 1;
    l->pending = 1;
    pthread_cond_broadcast(&l->wake_reader);
    pthread_mutex_unlock(&l->mu);
}

int bmst_loader_next(struct bmst_loader *l, struct bmst_batch *b) {
    pthread_mutex_lock(&l->mu);
    if (!l->started) {
        pthread_mutex_unlock(&l->mu);
        return bmst_error("loader: bmst_loader_next called before bmst_loader_start_epoch");
    }
    /* the batch returned last time is no longer needed: its slot may refill */
    if (l->consumed > l->released) {
        slot_of(l, l->released)->state = SLOT_FREE;
        l->released = l->consumed;
        pthread_cond_broadcast(&l->wake_reader);
    }
    int rc = 0;
    if (l->consumed < l->batches) {
        struct slot *s = slot_of(l, l->consumed);
        while (!(s->state == SLOT_READY && l->read > l->consumed) && !l->failed)
            pthread_cond_wait(&l->wake_consumer, &l->mu);
        if (s->state == SLOT_READY && l->read > l->consumed) {
            *b = (struct bmst_batch){s->images, s->labels, s->samples, s->valid, s->index};
            l->consumed++;
            rc = 1;
        } else {
            char message[sizeof l->error];
            memcpy(message, l->error, sizeof message);
            rc = bmst_error("%s", message);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}
