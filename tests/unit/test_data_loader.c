/* The batch loader: every sample once per epoch (drop_last counts right),
 * padded evaluation batches, shuffles that depend only on seed and epoch,
 * rank slices that are disjoint and equal, exact normalization, and crops and
 * flips that match one of the 9 * 9 * 2 possible transformations. */
#include "check.h"
#include "dataset.h"
#include "error.h"
#include "loader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Non-square, three channels: a swapped H and W or a wrong channel stride shows. */
enum { H = 6, W = 5, C = 3, CLASSES = 10, N_TRAIN = 203, N_TEST = 77 };
#define IMG (H * W * C)
#define MAX_N N_TRAIN

static char dir[64], path[128];
static int loader_workers = 1; /* the suite runs with one worker and with three */
static uint8_t images[2][MAX_N * IMG];
static struct bmst_dataset *ds;
static const struct bmst_dataset_info *info;

/* Image i: pixels 0 and 1 hold i, the rest is random but never 0 (the pad). */
static void write_dataset(void) {
    int32_t labels[2][MAX_N];
    uint32_t x = 7;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < MAX_N; i++) {
            uint8_t *img = images[s] + i * IMG;
            for (int p = 0; p < IMG; p++)
                img[p] = (uint8_t)(1 + (x = x * 1103515245u + 12345u) % 255);
            img[0] = (uint8_t)(i & 255);
            img[1] = (uint8_t)(i >> 8);
            labels[s][i] = i % CLASSES;
        }
    struct bmst_dataset_source src = {.name = "loader",
                                      .h = H,
                                      .w = W,
                                      .c = C,
                                      .classes = CLASSES,
                                      .count = {N_TRAIN, N_TEST},
                                      .images = {images[0], images[1]},
                                      .labels = {labels[0], labels[1]}};
    CHECK(bmst_dataset_write(path, &src) == 0, "%s", bmst_last_error());
}

static float normalized(int c, int v) {
    return (float)((v / 255.0 - info->mean[c]) / info->std[c]);
}

/* The sample index encoded in an unaugmented image, or -1 if its pixels are
 * not exactly the normalized stored image. */
static int decode(const float *img, int split) {
    int v[2];
    for (int p = 0; p < 2; p++)
        v[p] = (int)lround((img[p] * info->std[p % C] + info->mean[p % C]) * 255.0);
    int i = v[0] + 256 * v[1];
    if (i < 0 || i >= (int)info->count[split]) return -1;
    for (int p = 0; p < IMG; p++)
        if (fabsf(img[p] - normalized(p % C, images[split][i * IMG + p])) > 1e-5f) return -1;
    return i;
}

static struct bmst_loader *make(enum bmst_split split, int batch, int shuffle, int augment,
                                int drop_last, uint64_t seed, int rank, int world) {
    struct bmst_loader_config cfg = {.split = split,
                                     .batch = batch,
                                     .shuffle = shuffle,
                                     .augment = augment,
                                     .drop_last = drop_last,
                                     .depth = 2,
                                     .workers = loader_workers,
                                     .seed = seed,
                                     .rank = rank,
                                     .world = world};
    struct bmst_loader *l = NULL;
    CHECK(bmst_loader_create(ds, &cfg, &l) == 0, "%s", bmst_last_error());
    return l;
}

/* Runs one epoch and records the decoded index of every valid sample in
 * order (-1 where it does not decode); returns how many were recorded. */
static int run_epoch(struct bmst_loader *l, int epoch, int split, int batch, int *order) {
    struct bmst_batch b;
    int n = 0, batches = 0, rc;
    bmst_loader_start_epoch(l, epoch);
    while ((rc = bmst_loader_next(l, &b)) == 1) {
        CHECK(b.index == batches, "batch index %d, expected %d", b.index, batches);
        batches++;
        for (int i = 0; i < b.valid; i++) {
            int idx = decode(b.images + (size_t)i * IMG, split);
            CHECK(idx < 0 || b.labels[i] == idx % CLASSES, "label of sample %d", idx);
            order[n++] = idx;
        }
        int pad_ok = 1;
        for (int i = b.valid; i < batch; i++) {
            pad_ok &= b.labels[i] == -1;
            for (int p = 0; p < IMG; p++)
                pad_ok &= b.images[(size_t)i * IMG + p] == 0.0f;
        }
        CHECK(pad_ok, "padding of batch %d is zeros with label -1", b.index);
    }
    CHECK(rc == 0, "epoch ends cleanly: %s", bmst_last_error());
    CHECK((size_t)batches == bmst_loader_batches(l), "%d batches, announced %zu", batches,
          bmst_loader_batches(l));
    CHECK(bmst_loader_next(l, &b) == 0, "still over");
    return n;
}

/* Counts how often each index occurs; returns the number of distinct ones
 * and fails on repeats or undecodable samples. */
static int distinct(const int *order, int n, int *seen, int total) {
    int unique = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= total || seen[order[i]]++)
            bad++;
        else
            unique++;
    }
    CHECK(bad == 0, "%d repeated or undecodable samples", bad);
    return unique;
}

static void test_train_epochs(void) {
    int order[MAX_N], seen[MAX_N];
    struct bmst_loader *l = make(BMST_SPLIT_TRAIN, 7, 1, 0, 1, 42, 0, 1);
    CHECK(bmst_loader_batches(l) == 29, "203 = 29 * 7");
    memset(seen, 0, sizeof seen);
    CHECK(distinct(order, run_epoch(l, 0, 0, 7, order), seen, N_TRAIN) == N_TRAIN,
          "batch 7: every sample once");
    bmst_loader_free(l);

    l = make(BMST_SPLIT_TRAIN, 16, 1, 0, 1, 42, 0, 1);
    CHECK(bmst_loader_batches(l) == 12, "drop_last: 203 / 16 = 12 batches");
    memset(seen, 0, sizeof seen);
    CHECK(distinct(order, run_epoch(l, 0, 0, 16, order), seen, N_TRAIN) == 192,
          "batch 16: 192 distinct samples");
    bmst_loader_free(l);
}

static void test_shuffle(void) {
    int a0[MAX_N], a1[MAX_N], b1[MAX_N], c1[MAX_N];
    struct bmst_loader *a = make(BMST_SPLIT_TRAIN, 16, 1, 0, 1, 42, 0, 1);
    struct bmst_loader *b = make(BMST_SPLIT_TRAIN, 16, 1, 0, 1, 42, 0, 1);
    struct bmst_loader *c = make(BMST_SPLIT_TRAIN, 16, 1, 0, 1, 43, 0, 1);
    int n = run_epoch(a, 0, 0, 16, a0);
    run_epoch(a, 1, 0, 16, a1);
    run_epoch(b, 1, 0, 16, b1); /* a "resumed" run starts at epoch 1 */
    run_epoch(c, 1, 0, 16, c1);
    CHECK(memcmp(a0, a1, n * sizeof(int)) != 0, "epochs 0 and 1 differ");
    CHECK(memcmp(a1, b1, n * sizeof(int)) == 0, "same seed and epoch, same order");
    CHECK(memcmp(a1, c1, n * sizeof(int)) != 0, "another seed, another order");
    int identity = 1;
    for (int i = 0; i < n; i++)
        identity &= a0[i] == i;
    CHECK(!identity, "shuffled");
    /* an epoch abandoned half way, then a full one: the same as b's epoch 1 */
    struct bmst_batch batch;
    bmst_loader_start_epoch(c, 5);
    CHECK(bmst_loader_next(c, &batch) == 1, "first batch");
    int again[MAX_N];
    run_epoch(c, 1, 0, 16, again);
    bmst_loader_free(c);
    c = make(BMST_SPLIT_TRAIN, 16, 1, 0, 1, 42, 0, 1);
    run_epoch(c, 1, 0, 16, again);
    CHECK(memcmp(again, b1, n * sizeof(int)) == 0, "restarted epoch matches");
    bmst_loader_free(a);
    bmst_loader_free(b);
    bmst_loader_free(c);
}

static void test_eval(void) {
    int order[MAX_N];
    struct bmst_loader *l = make(BMST_SPLIT_TEST, 10, 0, 0, 0, 1, 0, 1);
    CHECK(bmst_loader_batches(l) == 8, "77 samples in 8 batches of 10");
    int n = run_epoch(l, 0, 1, 10, order);
    int in_order = n == N_TEST;
    for (int i = 0; i < n; i++)
        in_order &= order[i] == i;
    CHECK(in_order, "world 1 evaluation is every sample in order (%d)", n);
    bmst_loader_free(l);
    /* the same again, read batch by batch from the file */
    bmst_dataset_set_cache_limit(ds, 0);
    l = make(BMST_SPLIT_TEST, 10, 0, 0, 0, 1, 0, 1);
    n = run_epoch(l, 0, 1, 10, order);
    in_order = n == N_TEST;
    for (int i = 0; i < n; i++)
        in_order &= order[i] == i;
    CHECK(in_order, "uncached reads give the same");
    bmst_loader_free(l);
    bmst_dataset_set_cache_limit(ds, BMST_DATASET_CACHE_BYTES);
}

/* Ranks of `world`: equal batch counts; training slices disjoint and equal;
 * evaluation covers every test sample exactly once. */
static void test_world(int world) {
    int seen[MAX_N], order[MAX_N], total = 0, lens[4];
    size_t batches[4];
    memset(seen, 0, sizeof seen);
    for (int r = 0; r < world; r++) {
        struct bmst_loader *l = make(BMST_SPLIT_TRAIN, 16, 1, 0, 1, 42, r, world);
        batches[r] = bmst_loader_batches(l);
        lens[r] = run_epoch(l, 3, 0, 16, order);
        total += distinct(order, lens[r], seen, N_TRAIN);
        bmst_loader_free(l);
    }
    for (int r = 1; r < world; r++)
        CHECK(batches[r] == batches[0] && lens[r] == lens[0], "world %d: rank %d has %d", world, r,
              lens[r]);
    CHECK(batches[0] == (size_t)(N_TRAIN / 16 / world), "world %d: %zu batches", world, batches[0]);
    CHECK(total == lens[0] * world, "world %d: slices disjoint (%d)", world, total);

    memset(seen, 0, sizeof seen);
    total = 0;
    for (int r = 0; r < world; r++) {
        struct bmst_loader *l = make(BMST_SPLIT_TEST, 10, 0, 0, 0, 1, r, world);
        batches[r] = bmst_loader_batches(l);
        total += distinct(order, run_epoch(l, 0, 1, 10, order), seen, N_TEST);
        bmst_loader_free(l);
    }
    for (int r = 1; r < world; r++)
        CHECK(batches[r] == batches[0], "world %d eval: equal batch counts", world);
    CHECK(total == N_TEST, "world %d eval: every test sample once (%d)", world, total);
}

/* Ranks of `world` with batch b at step k together hold exactly the samples
 * of one process's step k with batch b * world (what makes a distributed run
 * equivalent to a single one), and each batch's `samples` name the images it
 * carries. */
static void test_world_steps(int world) {
    enum { B = 8 };
    int single[MAX_N], ranks[MAX_N];
    struct bmst_loader *one = make(BMST_SPLIT_TRAIN, B * world, 1, 0, 1, 42, 0, 1);
    struct bmst_loader *part[4];
    for (int r = 0; r < world; r++) part[r] = make(BMST_SPLIT_TRAIN, B, 1, 0, 1, 42, r, world);
    size_t steps = bmst_loader_batches(one);
    CHECK(steps == bmst_loader_batches(part[0]), "world %d: %zu steps vs %zu", world, steps,
          bmst_loader_batches(part[0]));
    bmst_loader_start_epoch(one, 2);
    for (int r = 0; r < world; r++) bmst_loader_start_epoch(part[r], 2);
    int same = 1, named = 1;
    for (size_t k = 0; k < steps; k++) {
        struct bmst_batch b;
        CHECK(bmst_loader_next(one, &b) == 1, "single step %zu", k);
        for (int i = 0; i < b.valid; i++) single[i] = (int)b.samples[i];
        for (int r = 0; r < world; r++) {
            CHECK(bmst_loader_next(part[r], &b) == 1, "rank %d step %zu", r, k);
            for (int i = 0; i < b.valid; i++) {
                ranks[r * B + i] = (int)b.samples[i];
                named &= decode(b.images + (size_t)i * IMG, 0) == (int)b.samples[i];
            }
        }
        /* the same set: every rank sample is in the single batch, no repeats */
        int seen[MAX_N] = {0};
        for (int i = 0; i < B * world; i++) seen[single[i]]++;
        for (int i = 0; i < B * world; i++) same &= seen[ranks[i]]-- == 1;
    }
    CHECK(same, "world %d: every step's union equals the single process's batch", world);
    CHECK(named, "world %d: samples[] names the images", world);
    bmst_loader_free(one);
    for (int r = 0; r < world; r++) bmst_loader_free(part[r]);
}

/* Output pixel of the crop (oy, ox) of the 4-padded image, flipped after the crop. */
static float expected(const uint8_t *img, int y, int x, int c, int oy, int ox, int flip) {
    int sy = y + oy - 4, sx = (flip ? W - 1 - x : x) + ox - 4;
    int v = sy >= 0 && sy < H && sx >= 0 && sx < W ? img[(sy * W + sx) * C + c] : 0;
    return normalized(c, v);
}

static int matches(const float *out, const uint8_t *img, int oy, int ox, int flip) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++)
                if (fabsf(out[(y * W + x) * C + c] - expected(img, y, x, c, oy, ox, flip)) > 1e-5f)
                    return 0;
    return 1;
}

static void test_augment(void) {
    /* in order, so batch position = sample index */
    struct bmst_loader *l = make(BMST_SPLIT_TRAIN, 29, 0, 1, 1, 42, 0, 1);
    static float first[N_TRAIN * IMG];
    int used[9][9][2], exactly_one = 0;
    memset(used, 0, sizeof used);
    for (int epoch = 0; epoch < 2; epoch++) {
        struct bmst_batch b;
        int i = 0, same = 0;
        bmst_loader_start_epoch(l, epoch);
        while (bmst_loader_next(l, &b) == 1)
            for (int k = 0; k < b.valid; k++, i++) {
                const float *out = b.images + (size_t)k * IMG;
                if (epoch == 1) {
                    same += memcmp(out, first + (size_t)i * IMG, IMG * sizeof(float)) == 0;
                    continue;
                }
                memcpy(first + (size_t)i * IMG, out, IMG * sizeof(float));
                int found = 0;
                for (int oy = 0; oy < 9; oy++)
                    for (int ox = 0; ox < 9; ox++)
                        for (int f = 0; f < 2; f++)
                            if (matches(out, images[0] + (size_t)i * IMG, oy, ox, f)) {
                                found++;
                                used[oy][ox][f]++;
                            }
                exactly_one += found == 1;
            }
        if (epoch == 1) CHECK(same < N_TRAIN / 10, "epoch 1 augments anew (%d same)", same);
    }
    CHECK(exactly_one == N_TRAIN, "%d of %d samples match exactly one crop/flip", exactly_one,
          N_TRAIN);
    int kinds = 0, flips[2] = {0, 0};
    for (int oy = 0; oy < 9; oy++)
        for (int ox = 0; ox < 9; ox++)
            for (int f = 0; f < 2; f++) {
                kinds += used[oy][ox][f] > 0;
                flips[f] += used[oy][ox][f];
            }
    CHECK(kinds > 60, "%d distinct crops and flips used", kinds);
    CHECK(flips[0] > N_TRAIN / 4 && flips[1] > N_TRAIN / 4, "flips %d / %d", flips[0], flips[1]);
    /* the same seed and epoch augment the same way in a new loader */
    struct bmst_loader *again = make(BMST_SPLIT_TRAIN, 29, 0, 1, 1, 42, 0, 1);
    struct bmst_batch b;
    bmst_loader_start_epoch(again, 0);
    CHECK(bmst_loader_next(again, &b) == 1 &&
              memcmp(b.images, first, 29 * IMG * sizeof(float)) == 0,
          "augmentation is a function of seed, epoch and sample");
    bmst_loader_free(again);
    bmst_loader_free(l);
}

/* Freeing never hangs: before any epoch, mid-epoch with a full ring. */
static void test_shutdown(void) {
    struct bmst_loader *l = make(BMST_SPLIT_TRAIN, 4, 1, 1, 1, 1, 0, 1);
    bmst_loader_free(l);
    l = make(BMST_SPLIT_TRAIN, 4, 1, 1, 1, 1, 0, 1);
    struct bmst_batch b;
    bmst_loader_start_epoch(l, 0);
    CHECK(bmst_loader_next(l, &b) == 1, "a batch");
    usleep(20000); /* let the ring fill so the thread waits for space */
    bmst_loader_free(l);
    l = make(BMST_SPLIT_TRAIN, 4, 1, 1, 1, 1, 0, 1);
    CHECK(bmst_loader_next(l, &b) == -1, "next before start_epoch is an error");
    bmst_loader_free(l);
    struct bmst_loader_config bad = {
        .split = BMST_SPLIT_TRAIN, .batch = 0, .depth = 1, .workers = 1, .world = 1};
    CHECK(bmst_loader_create(ds, &bad, &l) == -1, "batch 0 refused");
    l = make(BMST_SPLIT_TRAIN, 1000, 1, 0, 1, 1, 0, 1);
    CHECK(bmst_loader_batches(l) == 0, "a batch larger than the split: no batches");
    bmst_loader_start_epoch(l, 0);
    CHECK(bmst_loader_next(l, &b) == 0, "an empty epoch ends at once");
    bmst_loader_free(l);
}

/* The same batches, bit for bit, whatever the number of workers. */
static void test_workers_agree(void) {
    int saved = loader_workers;
    loader_workers = 1;
    struct bmst_loader *one = make(BMST_SPLIT_TRAIN, 8, 1, 1, 1, 5, 0, 1);
    loader_workers = 3;
    struct bmst_loader *three = make(BMST_SPLIT_TRAIN, 8, 1, 1, 1, 5, 0, 1);
    loader_workers = saved;
    bmst_loader_start_epoch(one, 2);
    bmst_loader_start_epoch(three, 2);
    int same = 1;
    struct bmst_batch a, b;
    while (bmst_loader_next(one, &a) == 1) {
        CHECK(bmst_loader_next(three, &b) == 1, "as many batches");
        same &= a.index == b.index && memcmp(a.images, b.images, 8 * IMG * sizeof(float)) == 0 &&
                memcmp(a.labels, b.labels, 8 * sizeof(int32_t)) == 0;
    }
    CHECK(same, "1 and 3 workers give the same augmented batches");
    bmst_loader_free(one);
    bmst_loader_free(three);
}

static void run_suite(void) {
    test_train_epochs();
    test_shuffle();
    test_eval();
    test_world(2);
    test_world(3);
    test_world_steps(2);
    test_world_steps(4);
    test_augment();
    test_shutdown();
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/bmst_test_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/loader.h5", dir);
    write_dataset();
    if (bmst_dataset_open(path, &ds) != 0) {
        CHECK(0, "open: %s", bmst_last_error());
        return check_finish("test_data_loader");
    }
    info = bmst_dataset_get_info(ds);
    for (loader_workers = 1; loader_workers <= 3; loader_workers += 2) run_suite();
    test_workers_agree();
    bmst_dataset_close(ds);
    remove(path);
    rmdir(dir);
    return check_finish("test_data_loader");
}
