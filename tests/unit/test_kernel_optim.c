/* The CPU backend's optimizer passes against references written here in
 * double: Adam and AdamW over three steps (the kernel's order of operations,
 * with the step's terms as src/optim/adam.c gives them), SGD and both Adams
 * with a --no-decay mask (exempt elements take no weight decay), the compute
 * copy the pass writes in fp16 and bf16 (the weights rounded to the type),
 * the flag for values the pass makes inf or NaN (a weight, and a second
 * moment that overflows while the weight stays finite), and the same bits
 * with one thread or two.
 *
 * Tolerance: max|got - ref| / max|ref| < 1e-5 per buffer: a few float
 * roundings per element and step, against O(1) for a wrong term. */
#include "backend.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5
#define N 70001 /* the threaded path, with a partial last block */

static float *filled(size_t n, float v) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = v;
    return a;
}

/* A deterministic spread of values in [-1, 1] */
static float wave(size_t i, double phase) {
    return (float)sin(0.37 * (double)i + phase);
}

static double rel_diff(const float *got, const double *ref, size_t n) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= diff)) diff = d; /* NaN counts as worst */
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    }
    return scale > 0 ? diff / scale : diff;
}

/* every third element exempt from weight decay */
static unsigned char *third_exempt(size_t n) {
    unsigned char *m = malloc(n);
    for (size_t i = 0; i < n; i++)
        m[i] = i % 3 != 0;
    return m;
}

struct adam_case {
    const char *name;
    int decoupled; /* AdamW */
    int masked;    /* --no-decay */
};

/* The step's terms for step t, as the optimizer module works them out. */
static struct bmst_adam_desc adam_step_terms(const struct adam_case *c, int t, double lr, double wd,
                                             const unsigned char *mask) {
    const double b1 = 0.9, b2 = 0.999;
    struct bmst_adam_desc d = {.beta1 = (float)b1, .beta2 = (float)b2, .eps = 1e-3f};
    d.one_minus_beta1 = (float)(1.0 - b1), d.one_minus_beta2 = (float)(1.0 - b2);
    d.weight_decay = c->decoupled ? 0.0f : (float)wd;
    d.decay_factor = c->decoupled ? (float)(1.0 - lr * wd) : 1.0f;
    d.step_size = (float)(lr / (1.0 - pow(b1, t)));
    d.bias2_sqrt = (float)sqrt(1.0 - pow(b2, t));
    d.decay = c->masked ? mask : NULL;
    return d;
}

/* Three steps on gradients that change sign and size each step; an eps of
 * 1e-3 makes its place in the denominator count. */
static void check_adam(struct bmst_backend *be, const struct adam_case *c) {
    const double lr = 0.01, wd = 0.1;
    float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g);
    float *m = filled(N, 0.0f), *v = filled(N, 0.0f), flag = -1.0f;
    double *rp = malloc(N * sizeof *rp), *rm = calloc(N, sizeof *rm), *rv = calloc(N, sizeof *rv);
    unsigned char *mask = third_exempt(N);
    for (size_t i = 0; i < N; i++)
        rp[i] = p[i] = wave(i, 0.0);
    for (int t = 1; t <= 3; t++) {
        for (size_t i = 0; i < N; i++)
            g[i] = wave(i, t) * (float)pow(10.0, -(double)(i % 5));
        struct bmst_adam_desc d = adam_step_terms(c, t, lr, wd, mask);
        be->optim.adam_step(be, &d, N, p, g, m, v, NULL, &flag);
        double bias1 = 1.0 - pow(0.9, t), bias2 = 1.0 - pow(0.999, t);
        for (size_t i = 0; i < N; i++) {
            double gi = g[i];
            if (!c->masked || mask[i]) {
                if (c->decoupled)
                    rp[i] *= 1.0 - lr * wd;
                else
                    gi += wd * rp[i];
            }
            rm[i] = 0.9 * rm[i] + 0.1 * gi;
            rv[i] = 0.999 * rv[i] + 0.001 * gi * gi;
            rp[i] -= lr / bias1 * rm[i] / (sqrt(rv[i]) / sqrt(bias2) + 1e-3);
        }
        double ep = rel_diff(p, rp, N), em = rel_diff(m, rm, N), ev = rel_diff(v, rv, N);
        CHECK(ep < TOL && em < TOL && ev < TOL,
              "%s step %d: weights %.3g, exp_avg %.3g, exp_avg_sq %.3g from the reference", c->name,
              t, ep, em, ev);
        CHECK(flag == 0.0f, "%s step %d: finite values flagged (%g)", c->name, t, flag);
        if (t == 3)
            printf("  %-28s weights %.2e exp_avg %.2e exp_avg_sq %.2e\n", c->name, ep, em, ev);
    }
    /* a finite gradient whose square overflows: v is inf, m / inf is 0 and
     * the weight stays finite, so only the moment shows it */
    g[N - 2] = 1e22f; /* (1 - beta2) * g * g is 1e41 */
    struct bmst_adam_desc d = adam_step_terms(c, 4, lr, wd, mask);
    be->optim.adam_step(be, &d, N, p, g, m, v, NULL, &flag);
    CHECK(isinf(v[N - 2]) && isfinite(p[N - 2]) && flag == 1.0f,
          "%s: an overflowed second moment (%g, weight %g) flagged %g", c->name, v[N - 2], p[N - 2],
          flag);
    free(p), free(g), free(m), free(v), free(rp), free(rm), free(rv), free(mask);
}

/* SGD with momentum and a mask: exempt elements follow grad alone. p0 = 1,
 * grad 0.5, lr 0.1, momentum 0.9, weight decay 0.01: decayed p1 = 0.949,
 * exempt p1 = 0.95. */
static void check_sgd_mask(struct bmst_backend *be) {
    struct bmst_sgd_desc d = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
    float *p = filled(N, 1.0f), *g = filled(N, 0.5f), *buf = filled(N, 0.0f), flag = -1.0f;
    d.decay = third_exempt(N);
    be->optim.sgd_step(be, &d, N, p, g, buf, NULL, &flag);
    int bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += fabs(p[i] - (d.decay[i] ? 0.949 : 0.95)) > 1e-6;
    CHECK(!bad && flag == 0.0f, "sgd with a mask: %d weights off (p[0] %.7f, p[1] %.7f)", bad, p[0],
          p[1]);
    free((void *)d.decay), free(p), free(g), free(buf);
}

/* The pass writes the compute copy: each weight rounded to the half type,
 * which is what casting the updated weights gives. */
static void check_compute_copy(enum bmst_dtype dtype) {
    struct bmst_backend *be = bmst_backend_cpu_create(2, dtype);
    float *p = malloc(N * sizeof *p), *g = malloc(N * sizeof *g), *copy = filled(N, 0.0f);
    float *want = malloc(N * sizeof *want), *m = filled(N, 0.0f), *v = filled(N, 0.0f), flag;
    for (size_t i = 0; i < N; i++)
        p[i] = 1.0f + wave(i, 0.5), g[i] = wave(i, 1.5);
    struct adam_case c = {"adamw", 1, 0};
    struct bmst_adam_desc d = adam_step_terms(&c, 1, 0.01, 0.1, NULL);
    be->optim.adam_step(be, &d, N, p, g, m, v, copy, &flag);
    be->cast_weights(be, N, p, want);
    CHECK(memcmp(copy, want, N * sizeof *copy) == 0,
          "adamw %s: the compute copy is not the "
          "rounded weights",
          bmst_dtype_name(dtype));
    int rounded = 0;
    for (size_t i = 0; i < N; i++)
        rounded += copy[i] != p[i];
    CHECK(rounded > N / 2, "%s: only %d of %d weights changed by rounding", bmst_dtype_name(dtype),
          rounded, N);
    struct bmst_sgd_desc s = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
    be->optim.sgd_step(be, &s, N, p, g, m, copy, &flag);
    be->cast_weights(be, N, p, want);
    CHECK(memcmp(copy, want, N * sizeof *copy) == 0,
          "sgd %s: the compute copy is not the "
          "rounded weights",
          bmst_dtype_name(dtype));
    be->destroy(be);
    free(p), free(g), free(copy), free(want), free(m), free(v);
}

/* Every element computed alone: one thread and two give the same bits. */
static void check_threads(void) {
    float *out[2];
    for (int threads = 1; threads <= 2; threads++) {
        struct bmst_backend *be = bmst_backend_cpu_create(threads, BMST_F32);
        float *p = malloc(3 * N * sizeof *p), *m = p + N, *v = m + N, *g = malloc(N * sizeof *g);
        for (size_t i = 0; i < N; i++)
            p[i] = wave(i, 0.0), m[i] = v[i] = 0.0f, g[i] = wave(i, 2.0);
        struct adam_case c = {"adam", 0, 0};
        struct bmst_adam_desc d = adam_step_terms(&c, 1, 0.01, 0.1, NULL);
        float flag;
        be->optim.adam_step(be, &d, N, p, g, m, v, NULL, &flag);
        out[threads - 1] = p;
        free(g);
        be->destroy(be);
    }
    CHECK(memcmp(out[0], out[1], 3 * N * sizeof(float)) == 0, "adam: 1 thread differs from 2");
    free(out[0]), free(out[1]);
}

int main(void) {
    struct bmst_backend *be = bmst_backend_cpu_create(2, BMST_F32);
    static const struct adam_case cases[] = {
        {"adam", 0, 0}, {"adamw", 1, 0}, {"adam --no-decay", 0, 1}, {"adamw --no-decay", 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_adam(be, &cases[i]);
    check_sgd_mask(be);
    be->destroy(be);
    check_compute_copy(BMST_F16);
    check_compute_copy(BMST_BF16);
    check_threads();
    return check_finish("test_kernel_optim");
}
