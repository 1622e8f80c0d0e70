/* Dropout's CPU kernels: the mask is drawn from a hash of the step's key, the
 * node's salt and the element's index (backend.h, struct
 * bmst_dropout_desc), so forward and backward draw it alike and nothing is
 * kept between them. */
#include "cpu_internal.h"

#include <string.h>

/* splitmix64's finalizer, as rng.c's bmst_hash64 (kernels/ sees no src/ header) */
static inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* the key's two words, stored as the bits of two floats in the scalars */
static uint64_t node_key(const struct bmst_dropout_desc *d, const float *key) {
    uint32_t words[2];
    memcpy(words, key, sizeof words);
    return mix64(((uint64_t)words[1] << 32 | words[0]) ^ d->salt);
}

/* dst = src * keep * scale, or dst += that */
static void apply(const struct bmst_dropout_desc *d, const float *key, const float *src, float *dst,
                  int accumulate) {
    const uint64_t k = node_key(d, key);
    const uint32_t drop = d->drop;
    const float scale = d->scale;
#pragma omp parallel for schedule(static) if (d->n > CPU_PAR_MIN)
    for (size_t i = 0; i < d->n; i++) {
        float v = (uint32_t)(mix64(k ^ i) >> 40) >= drop ? src[i] * scale : 0.0f;
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

static void dropout_fwd(struct bmst_backend *be, const struct bmst_dropout_desc *d,
                        const float *key, const void *x, void *y) {
    apply(d, key, x, y, 0);
    cpu_round_to(be->act_dtype, y, d->n);
}

static void dropout_bwd(struct bmst_backend *be, const struct bmst_dropout_desc *d,
                        const float *key, const void *dy, void *dx, int accumulate) {
    apply(d, key, dy, dx, accumulate);
    cpu_round_to(be->act_dtype, dx, d->n);
}

const struct bmst_dropout_kernels cpu_dropout_kernels = {.fwd = dropout_fwd, .bwd = dropout_bwd};
