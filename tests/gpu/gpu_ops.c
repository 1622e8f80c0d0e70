/* The GPU suite's op group: every op of the CUDA backend forward and backward
 * against the CPU backend on the same inputs (the CPU runs the half types as
 * floats rounded to the type, so both sides start from identical half values),
 * the ReLU codec's sign mask, the DIVISION codec, the inputs' upload from page-locked and
 * pageable memory, and a recording broken on purpose. Each convolution plans the passes it runs, as
 * the graph planner does.
 *
 * Tolerance: within 1e-4 relative in fp32 (no TF32 on either side) and 1e-2 in
 * the half types (max difference over the largest reference value). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "error.h"
#include "gpu_suite.h"
#include "rng.h"
#include "step.h"

static struct bmst_backend *cpu, *gpu;
static double tol;
static struct bmst_rng rng;

/* One tensor on both backends, from the same host values. */
struct buf {
    size_t n;
    int act; /* in act_dtype (else fp32) */
    float *host;
    void *c, *g;
};

static struct buf make(size_t n, int act, float lo, float hi) {
    struct buf b = {.n = n, .act = act, .host = bmst_xmalloc((n ? n : 1) * sizeof(float))};
    for (size_t i = 0; i < n; i++) b.host[i] = lo + (hi - lo) * (float)bmst_rng_uniform(&rng);
    b.c = cpu->alloc(cpu, (n ? n : 1) * sizeof(float));
    b.g = gpu->alloc(gpu, (n ? n : 1) * (act ? gpu->act_bytes : sizeof(float)));
    if (act) {
        cpu->upload_act(cpu, b.c, b.host, n); /* rounds to the type */
        memcpy(b.host, b.c, n * sizeof(float));
        gpu->upload_act(gpu, b.g, b.host, n); /* exact: already in the type */
    } else {
        memcpy(b.c, b.host, n * sizeof(float));
        gpu->to_device(gpu, b.g, b.host, n * sizeof(float));
    }
    return b;
}

static void drop(struct buf *b) {
    cpu->free(cpu, b->c);
    gpu->free(gpu, b->g);
    free(b->host);
}

/* max |gpu - cpu| over max |cpu|, within tol */
static void compare(const char *what, const struct buf *b) {
    float *got = bmst_xmalloc((b->n ? b->n : 1) * sizeof(float));
    if (b->act) gpu->download_act(gpu, got, b->g, b->n);
    else gpu->to_host(gpu, got, b->g, b->n * sizeof(float));
    const float *want = b->c;
    double diff = 0.0, scale = 0.0;
    int nonfinite = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (isfinite(want[i]) != isfinite(got[i])) nonfinite++;
        if (!isfinite(want[i]) || !isfinite(got[i])) continue;
        double d = fabs((double)got[i] - want[i]);
        diff = d > diff ? d : diff;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    double rel = scale > 0 ? diff / scale : diff;
    CHECK(nonfinite == 0 && rel <= tol, "%s %s: relative difference %.3g (tolerance %.0e), %d "
          "inf/NaN mismatches", bmst_dtype_name(gpu->act_dtype), what, rel, tol, nonfinite);
    printf("  %-5s %-34s %.2e\n", bmst_dtype_name(gpu->act_dtype), what, rel);
    free(got);
}

static void *ws_pair(size_t bytes, void **g) {
    *g = bytes ? gpu->alloc(gpu, bytes) : NULL;
    return bytes ? cpu->alloc(cpu, bytes) : NULL;
}

static void test_conv(struct bmst_conv_desc d) {
    d.out_h = (d.h + 2 * d.pad_h - d.r) / d.stride_h + 1;
    d.out_w = (d.w + 2 * d.pad_w - d.s) / d.stride_w + 1;
    size_t nx = (size_t)d.n * d.h * d.w * d.c, nw = (size_t)d.k * d.r * d.s * d.c;
    size_t ny = (size_t)d.n * d.out_h * d.out_w * d.k;
    struct buf x = make(nx, 1, -1, 1), w = make(nw, 1, -0.5f, 0.5f), y = make(ny, 1, 0, 0);
    struct buf dy = make(ny, 1, -1, 1), dx = make(nx, 1, -1, 1), dw = make(nw, 0, 0, 0);
    /* each backend plans the three passes this test runs */
    size_t cpu_ws = 0, gpu_ws = 0;
    char why[384];
    CHECK(cpu->conv->plan(cpu, &d, BMST_CONV_ALL_PASSES, &cpu_ws, why, sizeof why) == 0, "%s", why);
    CHECK(gpu->conv->plan(gpu, &d, BMST_CONV_ALL_PASSES, &gpu_ws, why, sizeof why) == 0,
          "%s conv %dx%d/%d %d->%d: %s", bmst_dtype_name(gpu->act_dtype), d.r, d.s, d.stride_h, d.c,
          d.k, why);
    void *wg, *wc = ws_pair(cpu_ws, &wg);
    void *vg, *vc = ws_pair(gpu_ws, &vg);
    char name[96];
    snprintf(name, sizeof name, "conv %dx%d/%d %d->%d fwd", d.r, d.s, d.stride_h, d.c, d.k);
    cpu->conv->fwd(cpu, &d, x.c, w.c, y.c, wc);
    gpu->conv->fwd(gpu, &d, x.g, w.g, y.g, vg);
    compare(name, &y);
    for (int acc = 0; acc <= 1; acc++) {
        cpu->conv->bwd_data(cpu, &d, dy.c, w.c, dx.c, acc, wc);
        gpu->conv->bwd_data(gpu, &d, dy.g, w.g, dx.g, acc, vg);
        snprintf(name, sizeof name, "conv %dx%d/%d bwd data%s", d.r, d.s, d.stride_h,
                 acc ? " accumulate" : "");
        compare(name, &dx);
    }
    cpu->conv->bwd_filter(cpu, &d, x.c, dy.c, dw.c, wc);
    gpu->conv->bwd_filter(gpu, &d, x.g, dy.g, dw.g, vg);
    snprintf(name, sizeof name, "conv %dx%d/%d bwd filter", d.r, d.s, d.stride_h);
    compare(name, &dw);
    if (wc) cpu->free(cpu, wc);
    if (vc) cpu->free(cpu, vc);
    if (wg) gpu->free(gpu, wg);
    if (vg) gpu->free(gpu, vg);
    drop(&x), drop(&w), drop(&y), drop(&dy), drop(&dx), drop(&dw);
}

/* Sync-BN's all-reduce as two ranks holding the same rows would see it: the
 * sums doubled (through the host, which also orders it with the stream). */
static void twin_ranks_allreduce(void *ctx, double *sums, size_t count) {
    struct bmst_backend *be = ctx;
    double *host = malloc(count * sizeof *host);
    be->to_host(be, host, sums, count * sizeof *host);
    for (size_t i = 0; i < count; i++) host[i] *= 2.0;
    be->to_device(be, sums, host, count * sizeof *host);
    free(host);
}

/* Batch norm, alone (sync 0) or synchronized over two identical ranks; x
 * and dx [rows][x_stride] when x_stride is set (a channel prefix of a dense
 * block's buffer: the channels beyond c must stay as they were). */
static void test_bn(int sync, int x_stride) {
    struct bmst_bn_sync cpu_sync = {twin_ranks_allreduce, cpu, 2};
    struct bmst_bn_sync gpu_sync = {twin_ranks_allreduce, gpu, 2};
    struct bmst_bn_desc d = {
        .rows = 2 * 9 * 9, .c = 48, .x_stride = x_stride, .eps = 1e-5f, .momentum = 0.1f};
    struct bmst_bn_desc dc = d, dg_desc = d;
    if (sync) dc.sync = &cpu_sync, dg_desc.sync = &gpu_sync;
    size_t n = d.rows * d.c, nx = d.rows * (size_t)(x_stride ? x_stride : d.c);
    struct buf x = make(nx, 1, -2, 3), y = make(n, 1, 0, 0), dy = make(n, 1, -1, 1);
    struct buf dx = make(nx, 1, -1, 1), gamma = make(d.c, 0, 0.5f, 1.5f);
    struct buf beta = make(d.c, 0, -0.5f, 0.5f), mean = make(d.c, 0, 0, 0);
    struct buf invstd = make(d.c, 0, 0, 0), rmean = make(d.c, 0, -0.1f, 0.1f);
    struct buf rvar = make(d.c, 0, 0.9f, 1.1f), dg = make(d.c, 0, 0, 0), db = make(d.c, 0, 0, 0);
    cpu->bn->fwd_train(cpu, &dc, x.c, gamma.c, beta.c, y.c, mean.c, invstd.c, rmean.c, rvar.c);
    gpu->bn->fwd_train(gpu, &dg_desc, x.g, gamma.g, beta.g, y.g, mean.g, invstd.g, rmean.g, rvar.g);
    const char *tag = sync ? "sync-bn" : x_stride ? "bn strided" : "bn";
    char name[64];
#define BN_COMPARE(what, b) (snprintf(name, sizeof name, "%s %s", tag, what), compare(name, b))
    BN_COMPARE("train fwd y", &y);
    BN_COMPARE("train fwd mean", &mean);
    BN_COMPARE("train fwd invstd", &invstd);
    BN_COMPARE("running mean", &rmean);
    BN_COMPARE("running var", &rvar);
    for (int acc = 0; acc <= 1; acc++) {
        cpu->bn->bwd(cpu, &dc, x.c, dy.c, gamma.c, mean.c, invstd.c, dx.c, dg.c, db.c, acc);
        gpu->bn->bwd(gpu, &dg_desc, x.g, dy.g, gamma.g, mean.g, invstd.g, dx.g, dg.g, db.g, acc);
        BN_COMPARE(acc ? "bwd dx accumulate" : "bwd dx", &dx);
    }
    BN_COMPARE("bwd dgamma", &dg);
    BN_COMPARE("bwd dbeta", &db);
#undef BN_COMPARE
    cpu->bn->fwd_eval(cpu, &d, x.c, gamma.c, beta.c, rmean.c, rvar.c, y.c);
    gpu->bn->fwd_eval(gpu, &d, x.g, gamma.g, beta.g, rmean.g, rvar.g, y.g);
    compare(x_stride ? "bn strided eval fwd" : "bn eval fwd", &y);
    /* --freeze-bn's backward (fixed statistics), and an input that takes no
     * gradient (dx NULL: dgamma and dbeta alone) */
    for (int acc = 0; acc <= 1; acc++) {
        cpu->bn->bwd_eval(cpu, &d, dy.c, gamma.c, rvar.c, dx.c, acc);
        gpu->bn->bwd_eval(gpu, &d, dy.g, gamma.g, rvar.g, dx.g, acc);
        compare(acc ? "bn eval bwd accumulate" : "bn eval bwd", &dx);
    }
    cpu->bn->bwd(cpu, &dc, x.c, dy.c, gamma.c, mean.c, invstd.c, NULL, dg.c, db.c, 0);
    gpu->bn->bwd(gpu, &dg_desc, x.g, dy.g, gamma.g, mean.g, invstd.g, NULL, dg.g, db.g, 0);
    compare("bn bwd without dx: dgamma", &dg);
    compare("bn bwd without dx: dbeta", &db);
    struct buf *all[] = {&x, &y, &dy, &dx, &gamma, &beta, &mean, &invstd, &rmean, &rvar, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) drop(all[i]);
}

static void test_elementwise(void) {
    const size_t n = 70001;
    struct buf a = make(n, 1, -1, 1), b = make(n, 1, -1, 1), y = make(n, 1, 0, 0);
    struct buf d = make(n, 1, -1, 1);
    cpu->relu->fwd(cpu, n, a.c, y.c), gpu->relu->fwd(gpu, n, a.g, y.g);
    compare("relu fwd", &y);
    for (int acc = 0; acc <= 1; acc++) {
        cpu->relu->bwd(cpu, n, y.c, b.c, d.c, acc), gpu->relu->bwd(gpu, n, y.g, b.g, d.g, acc);
        compare(acc ? "relu bwd accumulate" : "relu bwd", &d);
        cpu->add->bwd(cpu, n, b.c, d.c, acc), gpu->add->bwd(gpu, n, b.g, d.g, acc);
        compare(acc ? "add bwd accumulate" : "add bwd", &d);
    }
    cpu->add->fwd(cpu, n, a.c, b.c, y.c), gpu->add->fwd(gpu, n, a.g, b.g, y.g);
    compare("add fwd", &y);
    /* concat of 3 channels into [rows, 10] at offset 4 */
    const size_t rows = 999;
    struct buf part = make(rows * 3, 1, -1, 1), whole = make(rows * 10, 1, -1, 1);
    cpu->concat->fwd(cpu, rows, 10, 4, 3, part.c, whole.c);
    gpu->concat->fwd(gpu, rows, 10, 4, 3, part.g, whole.g);
    compare("concat fwd", &whole);
    for (int acc = 0; acc <= 1; acc++) {
        cpu->concat->bwd(cpu, rows, 10, 4, 3, whole.c, part.c, acc);
        gpu->concat->bwd(gpu, rows, 10, 4, 3, whole.g, part.g, acc);
        compare(acc ? "concat bwd accumulate" : "concat bwd", &part);
    }
    drop(&a), drop(&b), drop(&y), drop(&d), drop(&part), drop(&whole);
}

/* The 1-bit ReLU codec: the GPU packs the same bits as the CPU (n odd, so
 * the last word is partial; zero and minus zero are not positive), and
 * ReLU's backward from the mask matches the CPU's, overwriting and
 * accumulating. */
static void test_sign_mask(void) {
    const size_t n = 70001, words = (n + 31) / 32;
    const char *type = bmst_dtype_name(gpu->act_dtype);
    struct buf x = make(n, 1, -1, 1), dy = make(n, 1, -1, 1), dx = make(n, 1, -1, 1);
    ((float *)x.c)[0] = 0.0f, ((float *)x.c)[1] = -0.0f;
    gpu->upload_act(gpu, x.g, x.c, n); /* exact: the CPU's values are in the type */
    uint32_t *cbits = cpu->alloc(cpu, words * sizeof *cbits);
    uint32_t *gbits = gpu->alloc(gpu, words * sizeof *gbits);
    uint32_t *got = bmst_xmalloc(words * sizeof *got);
    cpu->sign_mask->pack(cpu, n, x.c, cbits);
    gpu->sign_mask->pack(gpu, n, x.g, gbits);
    gpu->to_host(gpu, got, gbits, words * sizeof *got);
    CHECK(memcmp(got, cbits, words * sizeof *got) == 0, "%s sign mask: the GPU's bits differ",
          type);
    printf("  %-5s %-34s exact\n", type, "sign mask pack");
    for (int acc = 0; acc <= 1; acc++) {
        cpu->relu->bwd_mask(cpu, n, cbits, dy.c, dx.c, acc);
        gpu->relu->bwd_mask(gpu, n, gbits, dy.g, dx.g, acc);
        compare(acc ? "relu bwd from mask accumulate" : "relu bwd from mask", &dx);
    }
    cpu->free(cpu, cbits), gpu->free(gpu, gbits), free(got);
    drop(&x), drop(&dy), drop(&dx);
}

/* The DIVISION codec (backend.h, struct bmst_division_kernels): from the
 * same input, the GPU's tile means, minimum and step match the CPU's within
 * the tolerance and its codes the CPU's but for the rare element whose
 * rounding falls the other way by an ulp; the GPU decodes the CPU's stored
 * form (its sections converted to the GPU's element size) to what the CPU
 * decodes. For every Q, blocks that divide H and W and blocks that do not. */
static void test_division_case(struct bmst_division_desc d) {
    const char *type = bmst_dtype_name(gpu->act_dtype);
    const size_t n = (size_t)d.n * d.h * d.w * d.c;
    const struct bmst_division_layout cl = bmst_division_layout_of(&d, cpu->act_bytes);
    const struct bmst_division_layout gl = bmst_division_layout_of(&d, gpu->act_bytes);
    const size_t tiles =
        (size_t)d.n * ((d.h + d.block - 1) / d.block) * ((d.w + d.block - 1) / d.block) * d.c;
    const size_t ranges = (size_t)d.n * d.c, codes = (size_t)d.n * cl.row_bytes;
    struct buf x = make(n, 1, -2, 3), back = make(n, 1, 0, 0);
    char *cs = cpu->alloc(cpu, cl.bytes), *gs = gpu->alloc(gpu, gl.bytes);
    cpu->division->encode(cpu, &d, x.c, cs);
    gpu->division->encode(gpu, &d, x.g, gs);
    char what[80];
    /* the sections, one by one, as act-typed buffers on both sides */
    const struct {
        const char *name;
        size_t c_off, g_off, count;
    } parts[] = {{"tile means", cl.lfc, gl.lfc, tiles},
                 {"minimum", cl.lo, gl.lo, ranges},
                 {"step", cl.step, gl.step, ranges}};
    for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) {
        struct buf b = {.n = parts[p].count,
                        .act = 1,
                        .host = NULL,
                        .c = cs + parts[p].c_off,
                        .g = gs + parts[p].g_off};
        snprintf(what, sizeof what, "division B=%d Q=%d %dx%d %s", d.block, d.bits, d.h, d.w,
                 parts[p].name);
        compare(what, &b);
    }
    unsigned char *got = bmst_xmalloc(codes);
    gpu->to_host(gpu, got, gs + gl.codes, codes);
    size_t differ = 0;
    const unsigned char *want = (const unsigned char *)cs + cl.codes;
    for (size_t i = 0; i < codes; i++)
        differ += got[i] != want[i];
    CHECK(differ * 1000 <= codes, "%s division B=%d Q=%d: %zu of %zu code bytes differ", type,
          d.block, d.bits, differ, codes);
    /* the GPU decodes the CPU's form */
    gpu->upload_act(gpu, gs + gl.lfc, (const float *)(cs + cl.lfc), tiles);
    gpu->upload_act(gpu, gs + gl.lo, (const float *)(cs + cl.lo), ranges);
    gpu->upload_act(gpu, gs + gl.step, (const float *)(cs + cl.step), ranges);
    gpu->to_device(gpu, gs + gl.codes, cs + cl.codes, codes);
    cpu->division->decode(cpu, &d, cs, back.c);
    gpu->division->decode(gpu, &d, gs, back.g);
    snprintf(what, sizeof what, "division B=%d Q=%d %dx%d decode", d.block, d.bits, d.h, d.w);
    compare(what, &back);
    printf("  %-5s division B=%d Q=%d %dx%d: %zu of %zu code bytes differ\n", type, d.block, d.bits,
           d.h, d.w, differ, codes);
    free(got);
    cpu->free(cpu, cs), gpu->free(gpu, gs);
    drop(&x), drop(&back);
}

static void test_division(void) {
    const int bits[] = {1, 2, 4, 8};
    for (size_t q = 0; q < sizeof bits / sizeof *bits; q++) {
        test_division_case((struct bmst_division_desc){4, 16, 24, 32, 8, bits[q]});
        test_division_case((struct bmst_division_desc){3, 13, 7, 20, 8, bits[q]});
        test_division_case((struct bmst_division_desc){2, 9, 10, 3, 4, bits[q]});
    }
}

static void test_pool(void) {
    struct bmst_pool_desc d = {.n = 2, .h = 13, .w = 11, .c = 24, .kh = 3, .kw = 3,
                               .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    d.out_h = (d.h + 2 * d.pad_h - d.kh) / d.stride_h + 1;
    d.out_w = (d.w + 2 * d.pad_w - d.kw) / d.stride_w + 1;
    size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * d.out_h * d.out_w * d.c;
    struct buf x = make(nx, 1, -1, 1), y = make(ny, 1, 0, 0), dy = make(ny, 1, -1, 1);
    struct buf dx = make(nx, 1, -1, 1);
    uint8_t *cpu_argmax = cpu->alloc(cpu, ny), *gpu_argmax = gpu->alloc(gpu, ny);
    uint8_t *got_argmax = bmst_xmalloc(ny);
    cpu->maxpool->fwd(cpu, &d, x.c, y.c, cpu_argmax);
    gpu->maxpool->fwd(gpu, &d, x.g, y.g, gpu_argmax);
    compare("maxpool fwd", &y);
    gpu->to_host(gpu, got_argmax, gpu_argmax, ny);
    CHECK(memcmp(got_argmax, cpu_argmax, ny) == 0, "%s maxpool: the GPU's arg-max bytes differ",
          bmst_dtype_name(gpu->act_dtype));
    /* backward from the CPU's bytes on both sides, so it checks the routing alone */
    gpu->to_device(gpu, gpu_argmax, cpu_argmax, ny);
    cpu->maxpool->bwd(cpu, &d, cpu_argmax, dy.c, dx.c, 1);
    gpu->maxpool->bwd(gpu, &d, gpu_argmax, dy.g, dx.g, 1);
    compare("maxpool bwd accumulate", &dx);
    cpu->free(cpu, cpu_argmax), gpu->free(gpu, gpu_argmax), free(got_argmax);
    cpu->avgpool->fwd(cpu, &d, x.c, y.c), gpu->avgpool->fwd(gpu, &d, x.g, y.g);
    compare("avgpool fwd", &y);
    cpu->avgpool->bwd(cpu, &d, dy.c, dx.c, 0), gpu->avgpool->bwd(gpu, &d, dy.g, dx.g, 0);
    compare("avgpool bwd", &dx);
    struct buf g = make((size_t)d.n * d.c, 1, 0, 0), dg = make((size_t)d.n * d.c, 1, -1, 1);
    cpu->gap->fwd(cpu, d.n, d.h * d.w, d.c, x.c, g.c);
    gpu->gap->fwd(gpu, d.n, d.h * d.w, d.c, x.g, g.g);
    compare("global avgpool fwd", &g);
    cpu->gap->bwd(cpu, d.n, d.h * d.w, d.c, dg.c, dx.c, 1);
    gpu->gap->bwd(gpu, d.n, d.h * d.w, d.c, dg.g, dx.g, 1);
    compare("global avgpool bwd accumulate", &dx);
    drop(&x), drop(&y), drop(&dy), drop(&dx), drop(&g), drop(&dg);
}

/* InceptionV3's pooling branch: 3x3, stride 1, padding 1, the padded zeros
 * counted in the divisor. */
static void test_avgpool_same(void) {
    struct bmst_pool_desc d = {.n = 2, .h = 9, .w = 7, .c = 40, .kh = 3, .kw = 3,
                               .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1,
                               .out_h = 9, .out_w = 7};
    size_t n = (size_t)d.n * d.h * d.w * d.c;
    struct buf x = make(n, 1, -1, 1), y = make(n, 1, 0, 0), dx = make(n, 1, -1, 1);
    cpu->avgpool->fwd(cpu, &d, x.c, y.c), gpu->avgpool->fwd(gpu, &d, x.g, y.g);
    compare("avgpool 3x3/1 pad 1 fwd", &y);
    for (int acc = 0; acc <= 1; acc++) {
        cpu->avgpool->bwd(cpu, &d, y.c, dx.c, acc), gpu->avgpool->bwd(gpu, &d, y.g, dx.g, acc);
        compare(acc ? "avgpool 3x3/1 pad 1 bwd accumulate" : "avgpool 3x3/1 pad 1 bwd", &dx);
    }
    drop(&x), drop(&y), drop(&dx);
}

/* Dropout: the GPU draws the CPU's mask from the same key (in each
 * backend's memory) and salt, forward and backward. */
static void test_dropout(void) {
    const size_t n = 70001;
    struct bmst_dropout_desc d = {.n = n, .drop = 1 << 23, .scale = 2.0f, .salt = 1};
    struct buf x = make(n, 1, -1, 1), y = make(n, 1, 0, 0), dx = make(n, 1, -1, 1);
    struct buf key = make(2, 0, 0, 0);
    float host_key[2];
    bmst_step_dropout_key(7, 3, host_key);
    memcpy(key.c, host_key, sizeof host_key);
    gpu->to_device(gpu, key.g, host_key, sizeof host_key);
    cpu->dropout->fwd(cpu, &d, key.c, x.c, y.c), gpu->dropout->fwd(gpu, &d, key.g, x.g, y.g);
    compare("dropout fwd", &y);
    for (int acc = 0; acc <= 1; acc++) {
        cpu->dropout->bwd(cpu, &d, key.c, x.c, dx.c, acc);
        gpu->dropout->bwd(gpu, &d, key.g, x.g, dx.g, acc);
        compare(acc ? "dropout bwd accumulate" : "dropout bwd", &dx);
    }
    drop(&x), drop(&y), drop(&dx), drop(&key);
}

static void test_fc_mix_loss(void) {
    const int n = 12, in = 200, out = 10, m = 3;
    struct buf x = make((size_t)n * in, 1, -1, 1), w = make((size_t)out * in, 1, -0.1f, 0.1f);
    struct buf b = make(out, 0, -0.1f, 0.1f), y = make((size_t)n * out, 1, 0, 0);
    struct buf dy = make((size_t)n * out, 1, -1, 1), dx = make((size_t)n * in, 1, -1, 1);
    struct buf dw = make((size_t)out * in, 0, 0, 0), db = make(out, 0, 0, 0);
    cpu->fc->fwd(cpu, n, in, out, x.c, w.c, b.c, y.c),
        gpu->fc->fwd(gpu, n, in, out, x.g, w.g, b.g, y.g);
    compare("fc fwd", &y);
    cpu->fc->bwd_data(cpu, n, in, out, dy.c, w.c, dx.c, 1);
    gpu->fc->bwd_data(gpu, n, in, out, dy.g, w.g, dx.g, 1);
    compare("fc bwd data accumulate", &dx);
    cpu->fc->bwd_filter(cpu, n, in, out, x.c, dy.c, dw.c, db.c);
    gpu->fc->bwd_filter(gpu, n, in, out, x.g, dy.g, dw.g, db.g);
    compare("fc bwd filter dw", &dw);
    compare("fc bwd filter db", &db);

    /* the mix, with its weights in device memory as the step keeps them */
    struct buf coef = make(m, 0, 0, 0);
    float lam[BMST_MAX_MIX];
    bmst_mix_coefficients(m, 0.3f, lam);
    memcpy(coef.c, lam, m * sizeof(float));
    gpu->to_device(gpu, coef.g, lam, m * sizeof(float));
    const size_t chunk = 777;
    struct buf mx = make(chunk * m, 1, -1, 1), my = make(chunk, 1, 0, 0);
    struct buf mt = make(chunk * m, 0, 0, 1), mty = make(chunk, 0, 0, 0);
    cpu->mix->fwd(cpu, cpu->act_dtype, m, chunk, coef.c, mx.c, my.c);
    gpu->mix->fwd(gpu, gpu->act_dtype, m, chunk, coef.g, mx.g, my.g);
    compare("mix fwd", &my);
    cpu->mix->fwd(cpu, BMST_F32, m, chunk, coef.c, mt.c, mty.c);
    gpu->mix->fwd(gpu, BMST_F32, m, chunk, coef.g, mt.g, mty.g);
    compare("mix fwd (fp32 targets)", &mty);
    cpu->mix->bwd(cpu, m, chunk, coef.c, my.c, mx.c, 1);
    gpu->mix->bwd(gpu, m, chunk, coef.g, my.g, mx.g, 1);
    compare("mix bwd accumulate", &mx);

    /* cross-entropy on the fc's logits, with a loss scale */
    struct buf t = make((size_t)n * out, 0, 0, 1), probs = make((size_t)n * out, 0, 0, 0);
    float *rows = t.c; /* each row of targets normalized to sum 1 */
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int k = 0; k < out; k++) s += rows[i * out + k];
        for (int k = 0; k < out; k++) rows[i * out + k] /= s;
    }
    gpu->to_device(gpu, t.g, t.c, (size_t)n * out * sizeof(float));
    struct buf loss = make(1, 0, 0, 0), scale = make(1, 0, 256, 256);
    cpu->xent->fwd(cpu, n, out, y.c, t.c, probs.c, loss.c);
    gpu->xent->fwd(gpu, n, out, y.g, t.g, probs.g, loss.g);
    compare("xent loss", &loss);
    compare("xent probs", &probs);
    cpu->xent->bwd(cpu, n, out, probs.c, t.c, scale.c, dy.c);
    gpu->xent->bwd(gpu, n, out, probs.g, t.g, scale.g, dy.g);
    compare("xent bwd (scaled)", &dy);
    struct buf *all[] = {&x, &w, &b, &y, &dy, &dx, &dw, &db, &coef, &mx, &my, &mt, &mty, &t,
                         &probs, &loss, &scale};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) drop(all[i]);
}

static void test_optimizer(void) {
    const size_t n = 100003;
    struct buf p = make(n, 0, -1, 1), g = make(n, 0, -1, 1), m = make(n, 0, -0.1f, 0.1f);
    struct buf pa = make(n, 1, 0, 0);
    struct bmst_sgd_desc d = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = 1};
    int separate = cpu->act_dtype != BMST_F32;
    struct buf flag = make(1, 0, 0, 0);
    float got;
    cpu->optim.sgd_step(cpu, &d, n, p.c, g.c, m.c, separate ? pa.c : NULL, flag.c);
    gpu->optim.sgd_step(gpu, &d, n, p.g, g.g, m.g, separate ? pa.g : NULL, flag.g);
    compare("sgd weights", &p);
    compare("sgd momentum", &m);
    if (separate) compare("sgd compute copy", &pa);
    gpu->to_host(gpu, &got, flag.g, sizeof got);
    CHECK(got == 0.0f, "finite weights flagged %g", got);
    double sc = cpu->sum_squares(cpu, n, g.c), sg = gpu->sum_squares(gpu, n, g.g);
    CHECK(fabs(sc - sg) <= 1e-6 * sc, "sum of squares %.9g vs %.9g", sg, sc);
    sc = cpu->unscale_sum_squares(cpu, n, g.c, 0.5f);
    sg = gpu->unscale_sum_squares(gpu, n, g.g, 0.5f);
    compare("unscale", &g);
    CHECK(fabs(sc - sg) <= 1e-6 * sc, "unscaled sum of squares %.9g vs %.9g", sg, sc);
    float inf = INFINITY;
    gpu->to_device(gpu, (float *)g.g + n / 2, &inf, sizeof inf);
    sg = gpu->unscale_sum_squares(gpu, n, g.g, 0.5f);
    CHECK(!isfinite(sg), "an inf gradient summed to %g", sg);
    /* that gradient makes its weight inf: the update flags it */
    gpu->optim.sgd_step(gpu, &d, n, p.g, g.g, m.g, separate ? pa.g : NULL, flag.g);
    gpu->to_host(gpu, &got, flag.g, sizeof got);
    CHECK(got == 1.0f, "an inf weight not flagged (%g)", got);
    drop(&p), drop(&g), drop(&m), drop(&pa), drop(&flag);
}

/* The pruning mask's pass (--prune-to): a random mask over an odd count (a
 * last partial word), applied to the weights, two state buffers and the
 * compute copy, gives the CPU's values exactly: zeros where pruned, the
 * rest untouched. */
static void test_mask_apply(void) {
    const size_t n = 100003, words = (n + 31) / 32;
    struct buf p = make(n, 0, -1, 1), s0 = make(n, 0, -1, 1), s1 = make(n, 0, 0, 1),
               pa = make(n, 1, -1, 1);
    uint32_t *keep = bmst_xmalloc(words * sizeof(uint32_t));
    for (size_t w = 0; w < words; w++) keep[w] = (uint32_t)bmst_rng_u64(&rng);
    keep[1] = 0xffffffffu; /* a word with nothing pruned */
    keep[2] = 0;           /* and one with everything */
    uint32_t *keep_c = cpu->alloc(cpu, words * sizeof(uint32_t));
    uint32_t *keep_g = gpu->alloc(gpu, words * sizeof(uint32_t));
    memcpy(keep_c, keep, words * sizeof(uint32_t));
    gpu->to_device(gpu, keep_g, keep, words * sizeof(uint32_t));
    void *act_c = cpu->act_dtype != BMST_F32 ? pa.c : NULL;
    void *act_g = cpu->act_dtype != BMST_F32 ? pa.g : NULL;
    cpu->optim.mask_apply(cpu, n, keep_c, p.c, s0.c, s1.c, act_c);
    gpu->optim.mask_apply(gpu, n, keep_g, p.g, s0.g, s1.g, act_g);
    size_t pruned = 0;
    for (size_t i = 0; i < n; i++) pruned += ((float *)p.c)[i] == 0.0f;
    CHECK(pruned > n / 3 && pruned < 2 * n / 3, "the CPU pruned %zu of %zu", pruned, n);
    double saved = tol;
    tol = 0.0; /* zeros and untouched values: exact */
    compare("mask weights", &p);
    compare("mask state 0", &s0);
    compare("mask state 1", &s1);
    if (act_c) compare("mask compute copy", &pa);
    tol = saved;
    cpu->free(cpu, keep_c), gpu->free(gpu, keep_g), free(keep);
    drop(&p), drop(&s0), drop(&s1), drop(&pa);
}

/* Adam's or AdamW's terms at step t, worked out as src/optim/adam.c does. */
static struct bmst_adam_desc adam_terms(int t, float lr, float wd, int decoupled,
                                        const unsigned char *decay) {
    const double b1 = 0.9, b2 = 0.999;
    return (struct bmst_adam_desc){
        .beta1 = (float)b1, .beta2 = (float)b2, .eps = 1e-8f,
        .one_minus_beta1 = (float)(1.0 - b1), .one_minus_beta2 = (float)(1.0 - b2),
        .weight_decay = decoupled ? 0.0f : wd,
        .decay_factor = decoupled ? (float)(1.0 - (double)lr * wd) : 1.0f,
        .step_size = (float)((double)lr / (1.0 - pow(b1, t))),
        .bias2_sqrt = (float)sqrt(1.0 - pow(b2, t)),
        .decay = decay};
}

/* Three Adam or AdamW steps, every third element exempt from weight decay,
 * and an SGD step with the same mask; then a finite gradient whose square
 * overflows (an inf second moment, which leaves the weight finite) is
 * flagged on both. */
static void test_adam(int decoupled) {
    const size_t n = 100003;
    const char *name = decoupled ? "adamw" : "adam";
    struct buf p = make(n, 0, -1, 1), g = make(n, 0, -1, 1), m = make(n, 0, 0, 0),
               v = make(n, 0, 0, 0), pa = make(n, 1, 0, 0), flag = make(1, 0, 0, 0);
    unsigned char *mask = bmst_xmalloc(n);
    for (size_t i = 0; i < n; i++) mask[i] = i % 3 != 0;
    unsigned char *mask_c = cpu->alloc(cpu, n), *mask_g = gpu->alloc(gpu, n);
    memcpy(mask_c, mask, n);
    gpu->to_device(gpu, mask_g, mask, n);
    void *act_c = cpu->act_dtype != BMST_F32 ? pa.c : NULL;
    void *act_g = cpu->act_dtype != BMST_F32 ? pa.g : NULL;
    char what[64];
    for (int t = 1; t <= 3; t++) {
        struct bmst_adam_desc dc = adam_terms(t, 1e-2f, 0.05f, decoupled, mask_c);
        struct bmst_adam_desc dg = adam_terms(t, 1e-2f, 0.05f, decoupled, mask_g);
        cpu->optim.adam_step(cpu, &dc, n, p.c, g.c, m.c, v.c, act_c, flag.c);
        gpu->optim.adam_step(gpu, &dg, n, p.g, g.g, m.g, v.g, act_g, flag.g);
    }
    snprintf(what, sizeof what, "%s weights (3 steps)", name);
    compare(what, &p);
    snprintf(what, sizeof what, "%s exp_avg", name);
    compare(what, &m);
    snprintf(what, sizeof what, "%s exp_avg_sq", name);
    compare(what, &v);
    if (act_c) {
        snprintf(what, sizeof what, "%s compute copy", name);
        compare(what, &pa);
    }
    struct bmst_sgd_desc sc = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.05f,
                               .decay = mask_c},
                         sg = sc;
    sg.decay = mask_g;
    cpu->optim.sgd_step(cpu, &sc, n, p.c, g.c, m.c, act_c, flag.c);
    gpu->optim.sgd_step(gpu, &sg, n, p.g, g.g, m.g, act_g, flag.g);
    compare("sgd weights, --no-decay mask", &p);
    float big = 1e20f, got = 0.0f;
    ((float *)g.c)[n / 3] = big;
    gpu->to_device(gpu, (float *)g.g + n / 3, &big, sizeof big);
    struct bmst_adam_desc dc = adam_terms(4, 1e-2f, 0.05f, decoupled, mask_c);
    struct bmst_adam_desc dg = adam_terms(4, 1e-2f, 0.05f, decoupled, mask_g);
    cpu->optim.adam_step(cpu, &dc, n, p.c, g.c, m.c, v.c, act_c, flag.c);
    gpu->optim.adam_step(gpu, &dg, n, p.g, g.g, m.g, v.g, act_g, flag.g);
    gpu->to_host(gpu, &got, flag.g, sizeof got);
    CHECK(got == 1.0f && *(float *)flag.c == 1.0f, "%s: an overflowed second moment flagged "
          "%g on the GPU, %g on the CPU", name, got, *(float *)flag.c);
    cpu->free(cpu, mask_c), gpu->free(gpu, mask_g), free(mask);
    drop(&p), drop(&g), drop(&m), drop(&v), drop(&pa), drop(&flag);
}

/* The inputs' upload, from the backend's page-locked memory (asynchronous: the
 * copy on its own stream, a half type cast on the compute stream) and from
 * pageable memory, both bit for bit the CPU's rounding to the type (nearest
 * even, overflow to inf). The smaller pinned upload first, so the second one
 * grows the staging; both before one sync. */
static void test_upload(void) {
    static const float special[] = {0.0f, -0.0f, 1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 1.0f + 0x1p-8f,
                                    1.0f + 0x3p-8f, 1e-6f, 1e-8f, 65520.0f, -7e4f, 3e38f,
                                    INFINITY};
    const size_t n = 4 * 17 * 17 * 3, half = n / 2, ns = sizeof special / sizeof *special;
    const char *type = bmst_dtype_name(gpu->act_dtype);
    float *pinned = gpu->host_alloc(gpu, n * sizeof(float));
    float *pageable = bmst_xmalloc(n * sizeof(float)), *got = bmst_xmalloc(n * sizeof(float));
    float *want = cpu->alloc(cpu, n * sizeof(float));
    void *a = gpu->alloc(gpu, n * gpu->act_bytes), *b = gpu->alloc(gpu, n * gpu->act_bytes);
    for (size_t i = 0; i < n; i++)
        pinned[i] = i < ns ? special[i] : 3.0f * (float)bmst_rng_normal(&rng);
    memcpy(pageable, pinned, n * sizeof(float));
    cpu->upload_act(cpu, want, pinned, n);
    gpu->upload_act(gpu, a, pinned + half, n - half);
    gpu->upload_act(gpu, b, pinned, n);
    gpu->sync(gpu);
    gpu->download_act(gpu, got, b, n);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0, "%s upload from pinned memory", type);
    gpu->download_act(gpu, got, a, n - half);
    CHECK(memcmp(got, want + half, (n - half) * sizeof(float)) == 0,
          "%s second upload from pinned memory", type);
    gpu->upload_act(gpu, b, pageable, n);
    gpu->download_act(gpu, got, b, n);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0, "%s upload from pageable memory", type);
    printf("  %-5s %-34s exact\n", type, "upload pinned / pageable");
    gpu->host_free(gpu, pinned);
    gpu->free(gpu, a), gpu->free(gpu, b), cpu->free(cpu, want);
    free(pageable), free(got);
}

/* A recording broken on purpose (waiting for the stream while recording,
 * which CUDA refuses) is given up with the refused call as the reason;
 * nothing recorded ran, and the backend works on: eager ops match the CPU,
 * and a recording made after it replays. */
static void test_broken_recording(void) {
    const size_t n = 4099;
    const char *type = bmst_dtype_name(gpu->act_dtype);
    struct buf x = make(n, 1, -1, 1), y = make(n, 1, 0, 0), dx = make(n, 1, -1, 1);
    char why[256] = "";
    CHECK(gpu->capture_begin(gpu, why, sizeof why) == 0, "%s capture_begin: %s", type, why);
    gpu->relu->fwd(gpu, n, x.g, y.g);
    gpu->sync(gpu);
    gpu->relu->fwd(gpu, n, x.g, y.g);
    void *recording = gpu->capture_end(gpu, why, sizeof why);
    CHECK(recording == NULL && strstr(why, "cudaStreamSynchronize") != NULL,
          "%s a recording that synchronizes the stream: %s, reason '%s'", type,
          recording ? "kept" : "given up", why);
    printf("  %-5s broken recording given up: %s\n", type, why);
    if (recording) gpu->capture_free(gpu, recording);
    compare("relu fwd recorded, never run", &y);
    cpu->relu->fwd(cpu, n, x.c, y.c), gpu->relu->fwd(gpu, n, x.g, y.g);
    compare("relu fwd after a broken recording", &y);
    CHECK(gpu->capture_begin(gpu, why, sizeof why) == 0, "%s capture_begin again: %s", type, why);
    gpu->relu->bwd(gpu, n, y.g, x.g, dx.g, 1);
    recording = gpu->capture_end(gpu, why, sizeof why);
    CHECK(recording != NULL, "%s a recording after a broken one: %s", type, why);
    if (recording) gpu->replay(gpu, recording);
    cpu->relu->bwd(cpu, n, y.c, x.c, dx.c, 1);
    compare("relu bwd recorded after it, replayed", &dx);
    if (recording) gpu->capture_free(gpu, recording);
    drop(&x), drop(&y), drop(&dx);
}

void gpu_ops_group(enum bmst_dtype precision) {
    char why[256] = "";
    rng = bmst_rng_make(2024, BMST_RNG_AUGMENT, (uint64_t)precision);
    gpu = bmst_backend_cuda_create(0, precision, 0, why, sizeof why);
    CHECK(gpu != NULL, "the CUDA backend: %s", why);
    if (!gpu) return;
    cpu = bmst_backend_cpu_create(0, precision);
    tol = precision == BMST_F32 ? 1e-4 : 1e-2;
    struct bmst_conv_desc shapes[] = {
        {.n = 4, .h = 16, .w = 16, .c = 32, .k = 64, .r = 3, .s = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1},
        {.n = 4, .h = 15, .w = 15, .c = 64, .k = 128, .r = 3, .s = 3, .stride_h = 2,
         .stride_w = 2, .pad_h = 1, .pad_w = 1},
        {.n = 4, .h = 16, .w = 16, .c = 64, .k = 256, .r = 1, .s = 1, .stride_h = 2,
         .stride_w = 2},
        {.n = 2, .h = 40, .w = 40, .c = 3, .k = 64, .r = 7, .s = 7, .stride_h = 2,
         .stride_w = 2, .pad_h = 3, .pad_w = 3},
        /* InceptionV3's asymmetric kernels, padded along their long side only */
        {.n = 2, .h = 12, .w = 12, .c = 48, .k = 64, .r = 1, .s = 7, .stride_h = 1,
         .stride_w = 1, .pad_h = 0, .pad_w = 3},
        {.n = 2, .h = 12, .w = 12, .c = 48, .k = 64, .r = 7, .s = 1, .stride_h = 1,
         .stride_w = 1, .pad_h = 3, .pad_w = 0},
        {.n = 2, .h = 8, .w = 8, .c = 64, .k = 96, .r = 3, .s = 1, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 0},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) test_conv(shapes[s]);
    test_bn(0, 0);
    test_bn(1, 0);
    test_bn(0, 80);
    test_elementwise();
    test_sign_mask();
    test_division();
    test_pool();
    test_avgpool_same();
    test_dropout();
    test_fc_mix_loss();
    test_optimizer();
    test_mask_apply();
    test_adam(0);
    test_adam(1);
    test_upload();
    test_broken_recording();
    gpu->destroy(gpu);
    cpu->destroy(cpu);
}
