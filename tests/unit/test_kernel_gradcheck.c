/* Finite-difference checks of every CPU backward op. For an op y = f(x) and a
 * fixed random r, L = sum(y * r) has dL/dx = backward(dy = r); each input
 * element is nudged by +-eps, L is recomputed (in double, from the fp32
 * forward), and the central difference is compared with the analytic gradient.
 *
 * Tolerance: max|analytic - numeric| / max(max|numeric|, 1e-3) < 1e-2 unless
 * stated. The numeric side carries fp32 rounding of the few outputs a nudge
 * moves, about 1e-7 / eps ~ 1e-5..1e-4 relative, and an O(eps^2) truncation
 * term for the nonlinear ops; the errors measured here are 2e-4 or below.
 * A wrong backward (a dropped term, a wrong index, stride or padding, a wrong
 * scale) is off by O(1) relative, so 1e-2 separates the two by two orders. */
#include "backend.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-2

/* xorshift64*: the tests need only repeatable noise, not a good generator */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static float *rand_array(size_t n, float lo, float hi) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(lo + (hi - lo) * uniform());
    return a;
}
/* Values at least 0.1 from zero, so a +-eps nudge never crosses a ReLU kink. */
static float *rand_away_from_zero(size_t n) {
    float *a = rand_array(n, 0.1f, 1.0f);
    for (size_t i = 0; i < n; i++)
        if (uniform() < 0.5) a[i] = -a[i];
    return a;
}
/* A shuffled ladder of distinct values 0.05 apart: no window has a tie or a
 * near-tie an eps nudge could flip, so max pooling is smooth where we probe. */
static float *rand_distinct(size_t n) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = 0.05f * (float)i - 0.025f * (float)n;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(uniform() * (double)(i + 1));
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    return a;
}
static float *filled(size_t n, float v) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = v;
    return a;
}

/* One op under test: `forward` recomputes y from the current inputs. */
struct fd_op {
    struct bmst_backend *be;
    void (*forward)(struct fd_op *op);
    float *y;
    const float *r; /* the objective's weights, one per y */
    size_t ny;
    /* operands, used as each forward needs */
    const struct bmst_conv_desc *conv;
    const struct bmst_pool_desc *pool;
    const struct bmst_bn_desc *bn;
    float *x, *x2, *w, *b;
    float *save_mean, *save_invstd, *run_mean, *run_var;
    void *ws;
    int n, in, out, m;
    size_t rows;
    int c_total, c_offset, c_part;
    const float *coef;
    const struct bmst_dropout_desc *dropout;
    const float *key;
    /* set when the objective is the op's returned value, not sum(y * r) */
    float (*scalar)(struct fd_op *op);
};

static double objective(struct fd_op *op) {
    if (op->scalar) return op->scalar(op);
    op->forward(op);
    double s = 0.0;
    for (size_t i = 0; i < op->ny; i++)
        s += (double)op->y[i] * op->r[i];
    return s;
}

/* Compare `analytic` with central differences of the objective in x[0..nx). */
static void check_grad(const char *what, struct fd_op *op, float *x, size_t nx,
                       const float *analytic, double eps, double tol) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < nx; i++) {
        float v = x[i];
        float xp = (float)(v + eps), xm = (float)(v - eps);
        x[i] = xp;
        double lp = objective(op);
        x[i] = xm;
        double lm = objective(op);
        x[i] = v;
        /* divide by the step fp32 really took, not the one asked for */
        double numeric = (lp - lm) / ((double)xp - (double)xm);
        double diff = fabs(numeric - analytic[i]);
        if (diff > max_diff) max_diff = diff;
        if (fabs(numeric) > max_ref) max_ref = fabs(numeric);
    }
    double rel = max_diff / fmax(max_ref, 1e-3);
    printf("  %-34s rel err %.2e (max |grad| %.3f)\n", what, rel, max_ref);
    CHECK(rel < tol, "%s: relative error %.3e >= %.1e", what, rel, tol);
    CHECK(max_ref > 1e-3, "%s: gradient is trivially zero", what);
}

/* dst - base, for checking what an accumulate = 1 call added */
static float *minus(const float *a, const float *base, size_t n) {
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = a[i] - base[i];
    return d;
}

/* ---- convolution ---- */

static void conv_forward(struct fd_op *op) {
    op->be->conv->fwd(op->be, op->conv, op->x, op->w, op->y, op->ws);
}

static void test_conv_pads(struct bmst_backend *be, int n, int h, int w, int c, int k, int r,
                           int s, int stride, int pad_h, int pad_w, const char *name) {
    struct bmst_conv_desc d = {.n = n,
                               .h = h,
                               .w = w,
                               .c = c,
                               .k = k,
                               .r = r,
                               .s = s,
                               .stride_h = stride,
                               .stride_w = stride,
                               .pad_h = pad_h,
                               .pad_w = pad_w};
    d.out_h = (h + 2 * pad_h - r) / stride + 1;
    d.out_w = (w + 2 * pad_w - s) / stride + 1;
    size_t nx = (size_t)n * h * w * c, nw = (size_t)k * r * s * c;
    size_t ny = (size_t)n * d.out_h * d.out_w * k;
    size_t ws_bytes = 0;
    char why[128];
    CHECK(be->conv->plan(be, &d, BMST_CONV_ALL_PASSES, &ws_bytes, why, sizeof why) == 0, "%s", why);
    struct fd_op op = {.be = be, .forward = conv_forward, .conv = &d, .ny = ny};
    op.x = rand_array(nx, -1, 1);
    op.w = rand_array(nw, -1, 1);
    op.y = malloc(ny * sizeof(float));
    op.r = rand_array(ny, -1, 1);
    op.ws = malloc(ws_bytes ? ws_bytes : 1);

    /* destinations start as NaN: overwrite semantics must not read them */
    float *dx = filled(nx, NAN), *dw = filled(nw, NAN);
    be->conv->bwd_data(be, &d, op.r, op.w, dx, 0, op.ws);
    be->conv->bwd_filter(be, &d, op.x, op.r, dw, op.ws);
    char what[96];
    snprintf(what, sizeof what, "conv %s dx", name);
    check_grad(what, &op, op.x, nx, dx, 1e-2, TOL);
    snprintf(what, sizeof what, "conv %s dw", name);
    check_grad(what, &op, op.w, nw, dw, 1e-2, TOL);

    /* accumulate = 1 adds the same gradient onto what is there */
    float *base = rand_array(nx, -1, 1);
    float *acc = malloc(nx * sizeof *acc);
    memcpy(acc, base, nx * sizeof *acc);
    be->conv->bwd_data(be, &d, op.r, op.w, acc, 1, op.ws);
    float *added = minus(acc, base, nx);
    snprintf(what, sizeof what, "conv %s dx accumulate", name);
    check_grad(what, &op, op.x, nx, added, 1e-2, TOL);

    free(added), free(acc), free(base), free(dx), free(dw);
    free(op.x), free(op.w), free(op.y), free((void *)op.r), free(op.ws);
}

static void test_conv(struct bmst_backend *be, int n, int h, int w, int c, int k, int r, int s,
                      int stride, int pad, const char *name) {
    test_conv_pads(be, n, h, w, c, k, r, s, stride, pad, pad, name);
}

/* ---- batch norm (train mode) ---- */

static void bn_forward(struct fd_op *op) {
    op->be->bn->fwd_train(op->be, op->bn, op->x, op->w, op->b, op->y, op->save_mean,
                          op->save_invstd, op->run_mean, op->run_var);
}

static void test_bn(struct bmst_backend *be) {
    const int c = 5;
    const size_t rows = 2 * 3 * 4;
    struct bmst_bn_desc d = {.rows = rows, .c = c, .eps = 1e-5f, .momentum = 0.1f};
    size_t nx = rows * c;
    struct fd_op op = {.be = be, .forward = bn_forward, .bn = &d, .ny = nx};
    op.x = rand_array(nx, -1, 2);
    op.w = rand_array(c, 0.5f, 1.5f);  /* gamma */
    op.b = rand_array(c, -0.5f, 0.5f); /* beta */
    op.y = malloc(nx * sizeof(float));
    op.r = rand_array(nx, -1, 1);
    op.save_mean = malloc(c * sizeof(float));
    op.save_invstd = malloc(c * sizeof(float));
    op.run_mean = filled(c, 0.0f);
    op.run_var = filled(c, 1.0f);

    bn_forward(&op);
    float *mean = malloc(c * sizeof *mean), *invstd = malloc(c * sizeof *invstd);
    memcpy(mean, op.save_mean, c * sizeof *mean);
    memcpy(invstd, op.save_invstd, c * sizeof *invstd);
    float *dx = filled(nx, NAN), *dg = filled(c, NAN), *db = filled(c, NAN);
    be->bn->bwd(be, &d, op.x, op.r, op.w, mean, invstd, dx, dg, db, 0);
    /* BN is smooth but curved: eps 1e-3 keeps truncation ~1e-6 while fp32
     * rounding of the 24-row sums stays ~1e-4 relative */
    check_grad("bn dx", &op, op.x, nx, dx, 1e-3, TOL);
    check_grad("bn dgamma", &op, op.w, c, dg, 1e-3, TOL);
    check_grad("bn dbeta", &op, op.b, c, db, 1e-3, TOL);

    float *base = rand_array(nx, -1, 1), *acc = malloc(nx * sizeof *acc);
    memcpy(acc, base, nx * sizeof *acc);
    be->bn->bwd(be, &d, op.x, op.r, op.w, mean, invstd, acc, dg, db, 1);
    float *added = minus(acc, base, nx);
    check_grad("bn dx accumulate", &op, op.x, nx, added, 1e-3, TOL);

    free(added), free(acc), free(base), free(dx), free(dg), free(db), free(mean), free(invstd);
    free(op.x), free(op.w), free(op.b), free(op.y), free((void *)op.r);
    free(op.save_mean), free(op.save_invstd), free(op.run_mean), free(op.run_var);
}

/* ---- relu, add ---- */

static void relu_forward(struct fd_op *op) {
    op->be->relu->fwd(op->be, op->ny, op->x, op->y);
}

static void test_relu(struct bmst_backend *be) {
    const size_t n = 60;
    struct fd_op op = {.be = be, .forward = relu_forward, .ny = n};
    op.x = rand_away_from_zero(n);
    op.y = malloc(n * sizeof(float));
    op.r = rand_array(n, -1, 1);
    relu_forward(&op);
    float *dx = filled(n, NAN);
    be->relu->bwd(be, n, op.y, op.r, dx, 0);
    check_grad("relu dx", &op, op.x, n, dx, 1e-2, TOL);

    float *base = rand_array(n, -1, 1), *acc = malloc(n * sizeof *acc);
    memcpy(acc, base, n * sizeof *acc);
    relu_forward(&op);
    be->relu->bwd(be, n, op.y, op.r, acc, 1);
    float *added = minus(acc, base, n);
    check_grad("relu dx accumulate", &op, op.x, n, added, 1e-2, TOL);
    free(added), free(acc), free(base), free(dx);
    free(op.x), free(op.y), free((void *)op.r);
}

static void add_forward(struct fd_op *op) {
    op->be->add->fwd(op->be, op->ny, op->x, op->x2, op->y);
}

static void test_add(struct bmst_backend *be) {
    const size_t n = 40;
    struct fd_op op = {.be = be, .forward = add_forward, .ny = n};
    op.x = rand_array(n, -1, 1);
    op.x2 = rand_array(n, -1, 1);
    op.y = malloc(n * sizeof(float));
    op.r = rand_array(n, -1, 1);
    float *da = filled(n, NAN), *db = rand_array(n, -1, 1), *base = malloc(n * sizeof *base);
    memcpy(base, db, n * sizeof *base);
    be->add->bwd(be, n, op.r, da, 0);
    be->add->bwd(be, n, op.r, db, 1);
    float *added = minus(db, base, n);
    check_grad("add da", &op, op.x, n, da, 1e-2, TOL);
    check_grad("add db (accumulate)", &op, op.x2, n, added, 1e-2, TOL);
    free(added), free(base), free(da), free(db);
    free(op.x), free(op.x2), free(op.y), free((void *)op.r);
}

/* ---- pooling ---- */

static void maxpool_forward(struct fd_op *op) {
    op->be->maxpool->fwd(op->be, op->pool, op->x, op->y, NULL);
}
static void avgpool_forward(struct fd_op *op) {
    op->be->avgpool->fwd(op->be, op->pool, op->x, op->y);
}

static void test_pool(struct bmst_backend *be, int is_max, int kh, int kw, int stride, int pad,
                      const char *name) {
    struct bmst_pool_desc d = {.n = 2,
                               .h = 7,
                               .w = 6,
                               .c = 3,
                               .kh = kh,
                               .kw = kw,
                               .stride_h = stride,
                               .stride_w = stride,
                               .pad_h = pad,
                               .pad_w = pad};
    d.out_h = (d.h + 2 * pad - kh) / stride + 1;
    d.out_w = (d.w + 2 * pad - kw) / stride + 1;
    size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * d.out_h * d.out_w * d.c;
    struct fd_op op = {
        .be = be, .forward = is_max ? maxpool_forward : avgpool_forward, .pool = &d, .ny = ny};
    op.x = is_max ? rand_distinct(nx) : rand_array(nx, -1, 1);
    op.y = malloc(ny * sizeof(float));
    op.r = rand_array(ny, -1, 1);
    float *dx = filled(nx, NAN);
    float *base = rand_array(nx, -1, 1), *acc = malloc(nx * sizeof *acc);
    memcpy(acc, base, nx * sizeof *acc);
    if (is_max) {
        /* backward reads only the arg-max bytes its forward recorded */
        uint8_t *argmax = malloc(ny);
        float *scratch_y = malloc(ny * sizeof *scratch_y);
        be->maxpool->fwd(be, &d, op.x, scratch_y, argmax);
        be->maxpool->bwd(be, &d, argmax, op.r, dx, 0);
        be->maxpool->bwd(be, &d, argmax, op.r, acc, 1);
        free(scratch_y), free(argmax);
    } else {
        be->avgpool->bwd(be, &d, op.r, dx, 0);
        be->avgpool->bwd(be, &d, op.r, acc, 1);
    }
    float *added = minus(acc, base, nx);
    char what[96];
    snprintf(what, sizeof what, "%s dx", name);
    /* eps 1e-3 is far below the 0.05 gap between distinct max-pool inputs */
    check_grad(what, &op, op.x, nx, dx, 1e-3, TOL);
    snprintf(what, sizeof what, "%s dx accumulate", name);
    check_grad(what, &op, op.x, nx, added, 1e-3, TOL);
    free(added), free(acc), free(base), free(dx);
    free(op.x), free(op.y), free((void *)op.r);
}

static void gap_forward(struct fd_op *op) {
    op->be->gap->fwd(op->be, op->n, op->in, op->out, op->x, op->y);
}

static void test_gap(struct bmst_backend *be) {
    const int n = 2, hw = 6, c = 4;
    size_t nx = (size_t)n * hw * c, ny = (size_t)n * c;
    struct fd_op op = {.be = be, .forward = gap_forward, .ny = ny, .n = n, .in = hw, .out = c};
    op.x = rand_array(nx, -1, 1);
    op.y = malloc(ny * sizeof(float));
    op.r = rand_array(ny, -1, 1);
    float *dx = filled(nx, NAN);
    be->gap->bwd(be, n, hw, c, op.r, dx, 0);
    check_grad("gap dx", &op, op.x, nx, dx, 1e-2, TOL);
    free(dx), free(op.x), free(op.y), free((void *)op.r);
}

/* ---- fully connected ---- */

static void fc_forward(struct fd_op *op) {
    op->be->fc->fwd(op->be, op->n, op->in, op->out, op->x, op->w, op->b, op->y);
}

static void test_fc(struct bmst_backend *be) {
    const int n = 3, in = 7, out = 5;
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    struct fd_op op = {.be = be, .forward = fc_forward, .ny = ny, .n = n, .in = in, .out = out};
    op.x = rand_array(nx, -1, 1);
    op.w = rand_array(nw, -1, 1);
    op.b = rand_array(out, -1, 1);
    op.y = malloc(ny * sizeof(float));
    op.r = rand_array(ny, -1, 1);
    float *dx = filled(nx, NAN), *dw = filled(nw, NAN), *db = filled(out, NAN);
    be->fc->bwd_data(be, n, in, out, op.r, op.w, dx, 0);
    be->fc->bwd_filter(be, n, in, out, op.x, op.r, dw, db);
    check_grad("fc dx", &op, op.x, nx, dx, 1e-2, TOL);
    check_grad("fc dw", &op, op.w, nw, dw, 1e-2, TOL);
    check_grad("fc db", &op, op.b, out, db, 1e-2, TOL);
    free(dx), free(dw), free(db);
    free(op.x), free(op.w), free(op.b), free(op.y), free((void *)op.r);
}

/* ---- dropout ---- */

static void dropout_forward(struct fd_op *op) {
    op->be->dropout->fwd(op->be, op->dropout, op->key, op->x, op->y);
}

/* With the step's key fixed, dropout is linear in x: its backward must be
 * the derivative of its forward, dropped elements getting zero. */
static void test_dropout(struct bmst_backend *be) {
    const size_t n = 300;
    struct bmst_dropout_desc d = {.n = n, .drop = 1 << 23, .scale = 2.0f, .salt = 0};
    const uint32_t words[2] = {7, 11};
    float key[2];
    memcpy(key, words, sizeof key);
    struct fd_op op = {.be = be, .forward = dropout_forward, .dropout = &d, .key = key, .ny = n};
    op.x = rand_array(n, -1, 1);
    op.y = malloc(n * sizeof(float));
    op.r = rand_array(n, -1, 1);
    float *dx = filled(n, NAN);
    be->dropout->bwd(be, &d, key, op.r, dx, 0);
    check_grad("dropout dx", &op, op.x, n, dx, 1e-2, TOL);
    free(dx), free(op.x), free(op.y), free((void *)op.r);
}

/* ---- concat, mix ---- */

static void concat_forward(struct fd_op *op) {
    op->be->concat->fwd(op->be, op->rows, op->c_total, op->c_offset, op->c_part, op->x, op->y);
}

static void test_concat(struct bmst_backend *be) {
    const size_t rows = 6;
    const int c_total = 7, c_offset = 2, c_part = 3;
    size_t nx = rows * c_part, ny = rows * c_total;
    struct fd_op op = {.be = be,
                       .forward = concat_forward,
                       .ny = ny,
                       .rows = rows,
                       .c_total = c_total,
                       .c_offset = c_offset,
                       .c_part = c_part};
    op.x = rand_array(nx, -1, 1);
    op.y = rand_array(ny, -1, 1); /* the other parts' channels stay as they are */
    op.r = rand_array(ny, -1, 1);
    float *dx = filled(nx, NAN);
    be->concat->bwd(be, rows, c_total, c_offset, c_part, op.r, dx, 0);
    check_grad("concat dx", &op, op.x, nx, dx, 1e-2, TOL);
    free(dx), free(op.x), free(op.y), free((void *)op.r);
}

static void mix_forward(struct fd_op *op) {
    op->be->mix->fwd(op->be, BMST_F32, op->m, op->ny, op->coef, op->x, op->y);
}

static void test_mix(struct bmst_backend *be, int m) {
    const size_t chunk = 12;
    /* the weights train's lambda fold gives: r = lam * r + (1 - lam) * chunk_j */
    float coef[4];
    float lam = 0.3f + 0.4f * (float)uniform();
    coef[0] = 1.0f;
    for (int j = 1; j < m; j++) {
        for (int i = 0; i < j; i++)
            coef[i] *= lam;
        coef[j] = 1.0f - lam;
    }
    size_t nx = chunk * m;
    struct fd_op op = {.be = be, .forward = mix_forward, .ny = chunk, .m = m, .coef = coef};
    op.x = rand_array(nx, -1, 1);
    op.y = malloc(chunk * sizeof(float));
    op.r = rand_array(chunk, -1, 1);
    float *dx = filled(nx, NAN);
    be->mix->bwd(be, m, chunk, coef, op.r, dx, 0);
    float *base = rand_array(nx, -1, 1), *acc = malloc(nx * sizeof *acc);
    memcpy(acc, base, nx * sizeof *acc);
    be->mix->bwd(be, m, chunk, coef, op.r, acc, 1);
    float *added = minus(acc, base, nx);
    char what[64];
    snprintf(what, sizeof what, "mix m=%d dx", m);
    check_grad(what, &op, op.x, nx, dx, 1e-2, TOL);
    snprintf(what, sizeof what, "mix m=%d dx accumulate", m);
    check_grad(what, &op, op.x, nx, added, 1e-2, TOL);
    free(added), free(acc), free(base), free(dx);
    free(op.x), free(op.y), free((void *)op.r);
}

/* ---- softmax cross-entropy ---- */

static float xent_loss(struct fd_op *op) {
    float loss;
    op->be->xent->fwd(op->be, op->n, op->out, op->x, op->x2, op->y, &loss);
    return loss;
}

static void test_xent(struct bmst_backend *be) {
    const int n = 4, k = 5;
    size_t nx = (size_t)n * k;
    struct fd_op op = {.be = be, .scalar = xent_loss, .n = n, .out = k};
    op.x = rand_array(nx, -2, 2);
    op.x2 = rand_array(nx, 0.0f, 1.0f); /* soft targets, each row normalized to sum 1 */
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < k; j++)
            s += op.x2[i * k + j];
        for (int j = 0; j < k; j++)
            op.x2[i * k + j] = (float)(op.x2[i * k + j] / s);
    }
    op.y = malloc(nx * sizeof(float)); /* probs */
    xent_loss(&op);
    float *dl = filled(nx, NAN);
    const float scale = 1.0f;
    be->xent->bwd(be, n, k, op.y, op.x2, &scale, dl);
    /* the loss comes back as one float: eps 1e-2 keeps its rounding (~1e-7)
     * at ~1e-5 of the gradient, truncation at ~1e-5 */
    check_grad("xent dlogits", &op, op.x, nx, dl, 1e-2, TOL);
    free(dl), free(op.x), free(op.x2), free(op.y);
}

int main(void) {
    struct bmst_backend *be = bmst_backend_cpu_create(2, BMST_F32);
    /* rectangular kernel, stride 2, padding 1, odd sizes */
    test_conv(be, 2, 7, 5, 3, 4, 3, 2, 2, 1, "3x2 s2 p1");
    /* 1x1 strided: the input pixels no window reads must get zero gradient */
    test_conv(be, 2, 5, 7, 3, 5, 1, 1, 2, 0, "1x1 s2");
    /* 1x1 stride 1: the no-im2col path */
    test_conv(be, 2, 3, 5, 3, 4, 1, 1, 1, 0, "1x1 s1");
    test_conv(be, 3, 5, 5, 4, 3, 3, 3, 1, 1, "3x3 s1 p1");
    /* InceptionV3's asymmetric kernels, padded along their long side */
    test_conv_pads(be, 2, 5, 6, 3, 4, 1, 7, 1, 0, 3, "1x7 s1 p0x3");
    test_conv_pads(be, 2, 6, 5, 3, 4, 7, 1, 1, 3, 0, "7x1 s1 p3x0");
    test_conv_pads(be, 2, 5, 5, 3, 4, 3, 1, 2, 1, 0, "3x1 s2 p1x0");
    test_bn(be);
    test_relu(be);
    test_add(be);
    test_pool(be, 1, 3, 3, 2, 1, "maxpool 3x3 s2 p1");
    test_pool(be, 1, 2, 3, 1, 0, "maxpool 2x3 s1");
    test_pool(be, 0, 3, 3, 2, 1, "avgpool 3x3 s2 p1");
    test_pool(be, 0, 2, 2, 2, 0, "avgpool 2x2 s2");
    test_pool(be, 0, 3, 3, 1, 1, "avgpool 3x3 s1 p1"); /* InceptionV3's */
    test_gap(be);
    test_fc(be);
    test_concat(be);
    test_mix(be, 2);
    test_mix(be, 4);
    test_xent(be);
    test_dropout(be);
    be->destroy(be);
    return check_finish("test_kernel_gradcheck");
}
