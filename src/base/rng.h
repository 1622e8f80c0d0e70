/* Counter-based random numbers: every draw is a pure function of (seed, stream,
 * counter), so a run is reproducible across thread counts and a resumed run
 * draws exactly what an uninterrupted one would. */
#ifndef BMST_RNG_H
#define BMST_RNG_H

#include <stdint.h>

/* Independent streams derived from the run's seed. */
enum bmst_rng_stream {
    BMST_RNG_INIT = 1,    /* weight initialization */
    BMST_RNG_SHUFFLE = 2, /* per-epoch permutation */
    BMST_RNG_AUGMENT = 3, /* per-sample augmentation */
    BMST_RNG_MIX = 4,     /* per-step BMST lambda */
    BMST_RNG_DROPOUT = 5, /* per-step dropout key */
};

/* A sequential generator positioned at (seed, stream, key); `next` counts draws. */
struct bmst_rng {
    uint64_t key;
    uint64_t next;
};

uint64_t bmst_hash64(uint64_t x);
struct bmst_rng bmst_rng_make(uint64_t seed, uint64_t stream, uint64_t key);
uint64_t bmst_rng_u64(struct bmst_rng *r);
double bmst_rng_uniform(struct bmst_rng *r);          /* [0, 1) */
uint32_t bmst_rng_below(struct bmst_rng *r, uint32_t n); /* [0, n) */
double bmst_rng_normal(struct bmst_rng *r);           /* N(0, 1) */
double bmst_rng_gamma(struct bmst_rng *r, double shape);
double bmst_rng_beta(struct bmst_rng *r, double a, double b);

/* Fisher-Yates permutation of 0..n-1 drawn from r. */
void bmst_rng_permutation(struct bmst_rng *r, uint32_t *perm, uint32_t n);

#endif
