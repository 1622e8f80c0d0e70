/* The image converters' back end: decode (JPEG, or PNG by its signature),
 * centre-crop and resize a list of files on several threads. Threads take jobs from one counter,
 * and each image goes to its own index, so the output does not depend on the thread count or
 * timing. A failure stops new jobs after it (unless --skip-bad); every job before it still runs, so
 * the error reported, the first failure in job order, is the same for any thread count too. */
#include "convert.h"

#include "error.h"
#include "image_resize.h"
#include "jpeg_decode.h"
#include "png_decode.h"
#include "progress_bar.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_WARNINGS 10 /* skipped images named on stderr; the rest are counted */

static char out_of_memory[] = "out of memory";

struct image_run {
    const char *dir;
    const struct bmst_image_job *jobs;
    size_t n;
    size_t *index; /* [n] sample index of job i in its split */
    char **error;  /* [n] why job i failed, or NULL */
    struct bmst_converted *cv;
    int size, skip_bad;
    atomic_size_t next;    /* the next job to take */
    atomic_size_t stop_at; /* no job from here on starts: the first failure so far */
    atomic_long done;
    struct bmst_progress_bar bar;
};

/* PNG when the file starts with PNG's signature or is named .png, else JPEG
 * (whose decoder names what it found instead). */
static int decode(const char *path, struct bmst_rgb_image *img) {
    size_t len = strlen(path);
    int png_name = len >= 4 && strcasecmp(path + len - 4, ".png") == 0;
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fread(head, 1, sizeof head, f) != sizeof head) memset(head, 0, sizeof head);
        fclose(f);
    }
    return png_name || memcmp(head, png_signature, sizeof head) == 0 ? bmst_png_decode(path, img)
                                                                     : bmst_jpeg_decode(path, img);
}

static int convert_one(struct image_run *r, size_t i) {
    const struct bmst_image_job *job = &r->jobs[i];
    char path[4096];
    struct bmst_rgb_image img;
    if (bmst_join_path(path, sizeof path, r->dir, job->file) != 0 || decode(path, &img) != 0)
        return -1;
    size_t bytes = (size_t)r->size * r->size * 3;
    uint8_t *dst = r->cv->images[job->split] + r->index[i] * bytes;
    int rc = bmst_image_center_square(img.pixels, img.h, img.w, 3, dst, r->size);
    bmst_rgb_image_free(&img);
    return rc;
}

static void *worker(void *arg) {
    struct image_run *r = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n || i >= atomic_load(&r->stop_at)) break;
        if (convert_one(r, i) != 0) {
            char *msg = strdup(bmst_last_error());
            r->error[i] = msg ? msg : out_of_memory;
            size_t stop = atomic_load(&r->stop_at);
            while (!r->skip_bad && i < stop &&
                   !atomic_compare_exchange_weak(&r->stop_at, &stop, i)) {
            }
        }
        bmst_progress_bar_update(&r->bar, atomic_fetch_add(&r->done, 1) + 1);
    }
    return NULL;
}

static int thread_count(const struct bmst_convert_options *opt, size_t n) {
    long t = opt->threads > 0 ? opt->threads : sysconf(_SC_NPROCESSORS_ONLN);
    t = t < 1 ? 1 : t > MAX_THREADS ? MAX_THREADS : t;
    return (size_t)t > n ? (int)(n ? n : 1) : (int)t;
}

/* Runs the jobs on `threads` threads, this one included. */
static void run_jobs(struct image_run *r, int threads) {
    pthread_t tid[MAX_THREADS];
    int started = 0;
    bmst_progress_bar_begin(&r->bar, "decoding", (long)r->n);
    while (started < threads - 1 && pthread_create(&tid[started], NULL, worker, r) == 0)
        started++;
    worker(r);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    bmst_progress_bar_end(&r->bar);
}

/* --skip-bad: closes the gaps the failed jobs left, keeping the order. */
static void drop_failed(struct image_run *r) {
    struct bmst_converted *cv = r->cv;
    size_t bytes = (size_t)r->size * r->size * 3, kept[BMST_SPLIT_COUNT] = {0, 0, 0};
    for (size_t i = 0; i < r->n; i++) {
        int s = r->jobs[i].split;
        if (r->error[i]) {
            if (cv->skipped < MAX_WARNINGS)
                fprintf(stderr, "bmst_data: warning: skipped %s\n", r->error[i]);
            cv->skipped++;
            continue;
        }
        if (kept[s] != r->index[i]) {
            memmove(cv->images[s] + kept[s] * bytes, cv->images[s] + r->index[i] * bytes, bytes);
            cv->labels[s][kept[s]] = cv->labels[s][r->index[i]];
        }
        kept[s]++;
    }
    if (cv->skipped > MAX_WARNINGS)
        fprintf(stderr, "bmst_data: warning: ... and %zu more skipped\n",
                cv->skipped - MAX_WARNINGS);
    for (int s = 0; s < BMST_SPLIT_COUNT; s++)
        cv->src.count[s] = kept[s];
}

int bmst_convert_jpegs(struct bmst_converted *cv, const char *name, int classes,
                       const char *image_dir, const struct bmst_image_job *jobs, size_t n, int size,
                       const struct bmst_convert_options *opt) {
    size_t count[BMST_SPLIT_COUNT] = {0, 0, 0};
    struct image_run r = {
        .dir = image_dir, .jobs = jobs, .n = n, .cv = cv, .size = size, .skip_bad = opt->skip_bad};
    r.index = malloc((n + 1) * sizeof *r.index);
    r.error = calloc(n + 1, sizeof *r.error);
    if (!r.index || !r.error) {
        free(r.index);
        free(r.error);
        return bmst_error("out of memory for %zu images", n);
    }
    for (size_t i = 0; i < n; i++) {
        BMST_ASSERT(jobs[i].split >= 0 && jobs[i].split < BMST_SPLIT_COUNT);
        r.index[i] = count[jobs[i].split]++;
    }
    int rc = bmst_converted_alloc(cv, name, size, size, 3, classes, count, 0);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            cv->labels[jobs[i].split][r.index[i]] = jobs[i].label;
        atomic_init(&r.next, 0);
        atomic_init(&r.stop_at, n);
        atomic_init(&r.done, 0);
        run_jobs(&r, thread_count(opt, n));
        size_t first = 0;
        while (first < n && !r.error[first])
            first++;
        if (first < n && !opt->skip_bad)
            rc = bmst_error("%s", r.error[first]);
        else if (first < n)
            drop_failed(&r);
    }
    for (size_t i = 0; i < n; i++)
        if (r.error[i] != out_of_memory) free(r.error[i]);
    free(r.error);
    free(r.index);
    return rc;
}
