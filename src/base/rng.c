/* splitmix64 as the mixing function of a counter-based generator, with the
 * standard transforms on top (Box-Muller, Marsaglia-Tsang gamma). */
#include "rng.h"

#include <math.h>

uint64_t bmst_hash64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct bmst_rng bmst_rng_make(uint64_t seed, uint64_t stream, uint64_t key) {
    struct bmst_rng r;
    r.key = bmst_hash64(bmst_hash64(bmst_hash64(seed) ^ stream) ^ key);
    r.next = 0;
    return r;
}

uint64_t bmst_rng_u64(struct bmst_rng *r) {
    return bmst_hash64(r->key ^ bmst_hash64(r->next++));
}

double bmst_rng_uniform(struct bmst_rng *r) {
    return (double)(bmst_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t bmst_rng_below(struct bmst_rng *r, uint32_t n) {
    /* Lemire's multiply-shift; the bias for n far below 2^32 is negligible. */
    return (uint32_t)(((bmst_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

double bmst_rng_normal(struct bmst_rng *r) {
    double u1 = 1.0 - bmst_rng_uniform(r); /* (0, 1]: log stays finite */
    double u2 = bmst_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double bmst_rng_gamma(struct bmst_rng *r, double shape) {
    if (shape < 1.0) {
        /* boost: Gamma(a) = Gamma(a + 1) * U^(1/a) */
        double u = 1.0 - bmst_rng_uniform(r);
        return bmst_rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = bmst_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = 1.0 - bmst_rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

double bmst_rng_beta(struct bmst_rng *r, double a, double b) {
    double x = bmst_rng_gamma(r, a), y = bmst_rng_gamma(r, b);
    return x / (x + y);
}

void bmst_rng_permutation(struct bmst_rng *r, uint32_t *perm, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = bmst_rng_below(r, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
