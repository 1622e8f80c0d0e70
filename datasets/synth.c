/* Synthetic datasets of any shape for tests and benchmarks. Each class has a
 * smooth random pattern per channel (a few low-frequency cosines); a sample is
 * its class's pattern plus pixel noise, so a network can learn the classes
 * but not from a single pixel. Everything is a function of the seed. */
#include "convert.h"

#include "error.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define WAVES 3            /* cosines per class and channel */
#define PATTERN_SCALE 80.0 /* pixel amplitude of a pattern around mid-grey */
#define NOISE_STD 24.0

/* Streams of our own, apart from the training streams in rng.h. */
enum { SYNTH_PATTERN = 0x100, SYNTH_NOISE = 0x101 };

/* prototype[(y * w + x) * c + ch]: 128 + a pattern in [-PATTERN_SCALE, PATTERN_SCALE] */
static void make_prototype(const struct bmst_synth_config *cfg, int k, float *proto) {
    struct bmst_rng r = bmst_rng_make(cfg->seed, SYNTH_PATTERN, (uint64_t)k);
    for (int ch = 0; ch < cfg->c; ch++) {
        double fy[WAVES], fx[WAVES], phase[WAVES], amp[WAVES], total = 0.0;
        for (int j = 0; j < WAVES; j++) {
            do {
                fy[j] = (double)bmst_rng_below(&r, 3);
                fx[j] = (double)bmst_rng_below(&r, 3);
            } while (fy[j] == 0.0 && fx[j] == 0.0);
            phase[j] = 2.0 * M_PI * bmst_rng_uniform(&r);
            amp[j] = 0.5 + 0.5 * bmst_rng_uniform(&r);
            total += amp[j];
        }
        for (int y = 0; y < cfg->h; y++)
            for (int x = 0; x < cfg->w; x++) {
                double v = 0.0;
                for (int j = 0; j < WAVES; j++)
                    v += amp[j] *
                         cos(2.0 * M_PI * (fy[j] * y / cfg->h + fx[j] * x / cfg->w) + phase[j]);
                proto[((size_t)y * cfg->w + x) * cfg->c + ch] =
                    (float)(128.0 + PATTERN_SCALE * v / total);
            }
    }
}

/* Sample i of split s: its class's prototype plus near-normal noise (the sum
 * of four uniform bytes), rounded and clamped to 0..255. */
static void make_sample(const struct bmst_synth_config *cfg, const float *proto, int s, size_t i,
                        uint8_t *dst) {
    static const double scale = NOISE_STD / 147.8; /* std of the sum of 4 bytes */
    struct bmst_rng r = bmst_rng_make(cfg->seed, SYNTH_NOISE + (uint64_t)s, i);
    size_t n = (size_t)cfg->h * cfg->w * cfg->c;
    uint64_t bits = 0;
    for (size_t p = 0; p < n; p++) {
        if (p % 2 == 0) bits = bmst_rng_u64(&r);
        int sum = (int)(bits & 255) + (int)(bits >> 8 & 255) + (int)(bits >> 16 & 255) +
                  (int)(bits >> 24 & 255);
        bits >>= 32;
        double v = proto[p] + (sum - 510) * scale;
        dst[p] = (uint8_t)(v < 0.0 ? 0 : v > 255.0 ? 255 : lround(v));
    }
}

int bmst_synth(const struct bmst_synth_config *cfg, struct bmst_converted *out) {
    char name[64];
    snprintf(name, sizeof name, "synth-%dx%dx%d-%d", cfg->h, cfg->w, cfg->c, cfg->classes);
    size_t count[BMST_SPLIT_COUNT] = {cfg->train, cfg->test, 0};
    if (bmst_converted_alloc(out, name, cfg->h, cfg->w, cfg->c, cfg->classes, count, 0) != 0) {
        bmst_converted_free(out);
        return -1;
    }
    size_t image_bytes = (size_t)cfg->h * cfg->w * cfg->c;
    float *protos = malloc((size_t)cfg->classes * image_bytes * sizeof(float));
    if (!protos) {
        bmst_converted_free(out);
        return bmst_error("out of memory for %d class patterns", cfg->classes);
    }
    for (int k = 0; k < cfg->classes; k++)
        make_prototype(cfg, k, protos + k * image_bytes);
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < count[s]; i++) {
            int label = (int)(i % (size_t)cfg->classes); /* balanced classes */
            out->labels[s][i] = label;
            make_sample(cfg, protos + label * image_bytes, s, i, out->images[s] + i * image_bytes);
        }
    free(protos);
    return 0;
}
