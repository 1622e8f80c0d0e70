/* The bucketed gradient all-reduce against a recording communicator of two
 * identical ranks: buckets cover the gradient buffer once, from its end, each
 * starts during backward only once every gradient in it is final (a bucket
 * sent early would carry values that backward later overwrites), and the
 * step's update equals the one-process step's. Also the half types on the
 * wire: rounding to nearest even, overflow to inf, sums rounded per hop. */
#include "check.h"
#include "comm.h"
#include "engine.h"
#include "error.h"
#include "grad_sync.h"
#include "rng.h"
#include "step.h"
#include "wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BUCKETS 512

/* Two ranks holding the same gradients: a bucket's sum is twice what was
 * sent, as seen at bucket_start. */
struct recorder {
    struct bmst_comm comm;
    float *base;
    size_t begin[MAX_BUCKETS], count[MAX_BUCKETS];
    float *sent[MAX_BUCKETS];
    int n, waited_after; /* buckets started, and how many of them before any wait */
};

static void rec_start(struct bmst_comm *c, float *buf, size_t count, enum bmst_dtype wire,
                      float prescale) {
    struct recorder *r = (struct recorder *)c;
    CHECK(wire == BMST_F32 && prescale == 1.0f, "fp32 buckets travel unscaled");
    BMST_ASSERT(r->n < MAX_BUCKETS);
    r->begin[r->n] = (size_t)(buf - r->base);
    r->count[r->n] = count;
    r->sent[r->n] = malloc(count * sizeof(float));
    memcpy(r->sent[r->n], buf, count * sizeof(float));
    r->n++;
}

static void rec_progress(struct bmst_comm *c) {
    (void)c;
}

static void rec_wait(struct bmst_comm *c) {
    struct recorder *r = (struct recorder *)c;
    r->waited_after = r->n;
    for (int i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->count[i]; k++) r->base[r->begin[i] + k] = 2.0f * r->sent[i][k];
}

static void open_engine(struct bmst_engine *e) {
    struct bmst_engine_config ec = {
        .device = BMST_DEVICE_CHOICE_CPU, .precision = BMST_F32, .threads = 2,
        .spec = {.arch = "resnet20", .h = 16, .w = 16, .c = 3, .classes = 10, .mix_at = 2},
        .train_batch = 16, .merge = 2, .optim = {.momentum = 0.9f, .weight_decay = 5e-4f},
        .seed = 5};
    CHECK(bmst_engine_open(e, &ec) == 0, "%s", bmst_last_error());
}

static void test_buckets(void) {
    static float images[16 * 16 * 16 * 3], targets[16 * 10];
    int32_t labels[16];
    struct bmst_rng rng = bmst_rng_make(9, BMST_RNG_AUGMENT, 0);
    for (size_t i = 0; i < sizeof images / sizeof *images; i++) images[i] = (float)bmst_rng_normal(&rng);
    for (int i = 0; i < 16; i++) labels[i] = i % 10;
    struct bmst_batch batch = {.images = images, .labels = labels, .valid = 16};
    struct bmst_engine alone, pair;
    open_engine(&alone);
    open_engine(&pair);
    struct bmst_step_config sc = {.seed = 3, .mix_alpha = 1.0f, .optim = &alone.optim, .lr = 0.1f};
    size_t n = alone.model.n_weights;

    struct bmst_loss_scaler scaler;
    double phase[BMST_PHASE_COUNT] = {0};
    bmst_loss_scaler_init(&scaler, BMST_F32, 1.0f, 1);
    bmst_train_step(&alone.train, NULL, &sc, 0, &batch, targets, &scaler, phase);

    struct recorder rec = {.comm = {.name = "recorder", .rank = 0, .world = 2,
                                    .bucket_start = rec_start, .bucket_progress = rec_progress,
                                    .bucket_wait = rec_wait},
                           .base = pair.model.grads};
    struct bmst_grad_sync sync;
    CHECK(bmst_grad_sync_attach(&sync, &rec.comm, &pair.train, 1, BMST_F32) == &sync,
          "two ranks attach");
    sync.bucket_floats = 3001; /* many buckets, none aligned with a layer */
    sc.optim = &pair.optim;
    bmst_train_step(&pair.train, &sync, &sc, 0, &batch, targets, &scaler, phase);

    size_t expected_buckets = (n + 3000) / 3001, end = n;
    int ordered = 1;
    for (int i = 0; i < rec.n; i++) {
        ordered &= rec.begin[i] + rec.count[i] == end && rec.count[i] <= 3001;
        end = rec.begin[i];
    }
    CHECK(rec.n == (int)expected_buckets, "%d buckets for %zu gradients", rec.n, n);
    CHECK(ordered && end == 0, "buckets tile the buffer from its end");
    CHECK(rec.waited_after == rec.n, "all %d buckets started during backward (%d)", rec.n,
          rec.waited_after);
    CHECK(memcmp(alone.model.grads, pair.model.grads, n * sizeof(float)) == 0,
          "gradients averaged over two identical ranks equal one rank's: buckets were sent "
          "with their final values");
    CHECK(memcmp(alone.model.weights, pair.model.weights, n * sizeof(float)) == 0,
          "the same update");
    for (int i = 0; i < rec.n; i++) free(rec.sent[i]);
    bmst_engine_close(&alone);
    bmst_engine_close(&pair);
}

static float round_trip(enum bmst_dtype wire, float v, float prescale) {
    uint16_t u;
    float out;
    bmst_wire_pack(wire, &v, &u, 1, prescale);
    bmst_wire_unpack(wire, &u, &out, 1);
    return out;
}

static void test_wire(void) {
    CHECK(round_trip(BMST_F16, 1.5f, 1.0f) == 1.5f, "fp16 exact value");
    CHECK(round_trip(BMST_F16, 1.0f + 1.0f / 2048, 1.0f) == 1.0f, "fp16 tie rounds to even");
    CHECK(round_trip(BMST_F16, 1.0f + 3.0f / 2048, 1.0f) == 1.0f + 2.0f / 1024,
          "fp16 tie rounds to even (up)");
    CHECK(isinf(round_trip(BMST_F16, 65520.0f, 1.0f)), "fp16 overflows to inf");
    CHECK(round_trip(BMST_F16, 6.0f, 0.25f) == 1.5f, "prescale applied before rounding");
    CHECK(round_trip(BMST_BF16, 1.0f + 1.0f / 256, 1.0f) == 1.0f, "bf16 tie rounds to even");
    CHECK(round_trip(BMST_BF16, 1.0f + 3.0f / 256, 1.0f) == 1.0f + 2.0f / 128,
          "bf16 tie rounds to even (up)");
    CHECK(isnan(round_trip(BMST_BF16, NAN, 1.0f)), "bf16 keeps NaN");
    float big = round_trip(BMST_BF16, 3e38f, 1.0f);
    CHECK(isfinite(big) && fabsf(big - 3e38f) <= 3e38f / 256, "bf16 has float's range: %g", big);
    /* a sum of two wire values is rounded to the wire type: 2048 + 1 in fp16 */
    float a = 2048.0f, b = 1.0f, out;
    uint16_t ua, ub;
    bmst_wire_pack(BMST_F16, &a, &ua, 1, 1.0f);
    bmst_wire_pack(BMST_F16, &b, &ub, 1, 1.0f);
    bmst_wire_sum(BMST_F16, &ua, &ub, 1);
    bmst_wire_unpack(BMST_F16, &ub, &out, 1);
    CHECK(out == 2048.0f, "fp16 sum rounds: 2048 + 1 = %g", out);
}

int main(void) {
    test_wire();
    test_buckets();
    return check_finish("test_grad_sync");
}
