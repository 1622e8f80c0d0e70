/* The cuDNN algorithm choice without cuDNN (kernels/conv_choice.c): fp32
 * takes FMA math only, however cuDNN ranked the rest, the half types take
 * tensor cores, deterministic runs take deterministic algorithms only,
 * candidates past the workspace limit or that cuDNN cannot run are passed
 * over, and a list with nothing usable gives -1 with a reason that counts
 * what each rule turned away. */
#include <string.h>

#include "check.h"
#include "conv_choice.h"

#define MIB ((size_t)1 << 20)

/* cuDNN's order, fastest first, as it might rank a fp16-capable shape */
static const struct bmst_conv_candidate ranked[] = {
    {.algo = 7, .ok = 1, .memory = 4 * MIB, .math = BMST_CONV_MATH_TENSOR_OP, .deterministic = 1},
    {.algo = 6, .ok = 1, .memory = 1 * MIB, .math = BMST_CONV_MATH_DEFAULT, .deterministic = 0},
    {.algo = 5, .ok = 0, .memory = 0, .math = BMST_CONV_MATH_FMA, .deterministic = 1},
    {.algo = 1, .ok = 1, .memory = 512 * MIB, .math = BMST_CONV_MATH_FMA, .deterministic = 1},
    {.algo = 0, .ok = 1, .memory = 8 * MIB, .math = BMST_CONV_MATH_FMA, .deterministic = 0},
    {.algo = 2, .ok = 1, .memory = 0, .math = BMST_CONV_MATH_FMA, .deterministic = 1},
};
#define N_RANKED ((int)(sizeof ranked / sizeof *ranked))

static int choose(const struct bmst_conv_candidate *c, int n, enum bmst_dtype precision,
                  int deterministic, size_t limit, char *why, size_t why_len) {
    struct bmst_conv_constraints k = {precision, deterministic, limit};
    return bmst_conv_choose(c, n, &k, why, why_len);
}

static void test_precision_rules(void) {
    char why[256];
    /* fp32: the tensor-op (TF32) and default (TF32 on Ampere+) entries ranked
     * first are refused, the failed FMA one skipped, the one past the limit
     * too: the first FMA one that fits */
    int i = choose(ranked, N_RANKED, BMST_F32, 0, 256 * MIB, why, sizeof why);
    CHECK(i == 4, "fp32 chose %d, want the FMA algorithm at 4", i);
    /* the half types take the fastest, on tensor cores */
    CHECK(choose(ranked, N_RANKED, BMST_F16, 0, 256 * MIB, why, sizeof why) == 0, "fp16");
    CHECK(choose(ranked, N_RANKED, BMST_BF16, 0, 256 * MIB, why, sizeof why) == 0, "bf16");
    /* default math in a half type is the type's own arithmetic */
    CHECK(choose(ranked + 1, N_RANKED - 1, BMST_F16, 0, 256 * MIB, why, sizeof why) == 0,
          "fp16 refused default math");
    /* a down-conversion is taken by no precision */
    struct bmst_conv_candidate convert = ranked[0];
    convert.math = BMST_CONV_MATH_TENSOR_OP_ALLOW_CONVERSION;
    CHECK(choose(&convert, 1, BMST_F16, 0, 256 * MIB, why, sizeof why) == -1,
          "fp16 took a down-converting algorithm");
    CHECK(choose(&convert, 1, BMST_F32, 0, 256 * MIB, why, sizeof why) == -1,
          "fp32 took a down-converting algorithm");
}

static void test_determinism_and_limits(void) {
    char why[256];
    /* deterministic: past the non-deterministic FMA one at 4 */
    int i = choose(ranked, N_RANKED, BMST_F32, 1, 256 * MIB, why, sizeof why);
    CHECK(i == 5, "fp32 deterministic chose %d, want 5", i);
    i = choose(ranked, N_RANKED, BMST_F16, 1, 256 * MIB, why, sizeof why);
    CHECK(i == 0, "fp16 deterministic chose %d, want the deterministic tensor-op one at 0", i);
    /* a limit below the first one's 4 MiB: the default-math one at 1 MiB */
    i = choose(ranked, N_RANKED, BMST_F16, 0, 2 * MIB, why, sizeof why);
    CHECK(i == 1, "fp16 within 2 MiB chose %d, want 1", i);
    /* deterministic and within 2 MiB in fp16: only the workspace-free FMA one */
    i = choose(ranked, N_RANKED, BMST_F16, 1, 2 * MIB, why, sizeof why);
    CHECK(i == 5, "fp16 deterministic within 2 MiB chose %d, want 5", i);
    /* a limit is inclusive */
    i = choose(ranked, N_RANKED, BMST_F16, 0, 4 * MIB, why, sizeof why);
    CHECK(i == 0, "a candidate needing exactly the limit was refused (%d)", i);
}

static void test_nothing_usable(void) {
    char why[256] = "";
    /* fp32, deterministic, within 2 MiB, the list cut before the one
     * candidate that meets all three: each of the others is counted once,
     * under the first rule it breaks */
    int i = choose(ranked, N_RANKED - 1, BMST_F32, 1, 2 * MIB, why, sizeof why);
    CHECK(i == -1, "chose %d from a list with nothing usable", i);
    CHECK(strstr(why, "none of the 5 algorithms") != NULL, "reason: %s", why);
    CHECK(strstr(why, "1 not runnable") != NULL, "failed count: %s", why);
    CHECK(strstr(why, "2 on TF32 or tensor cores (fp32 runs on FMA only)") != NULL,
          "math count: %s", why);
    CHECK(strstr(why, "1 not deterministic") != NULL, "determinism count: %s", why);
    CHECK(strstr(why, "1 needing more than 2.0 MiB") != NULL, "limit count: %s", why);
    CHECK(strchr(why, '\n') == NULL, "the reason is not one line: %s", why);
    /* cuDNN ranked nothing at all */
    why[0] = '\0';
    CHECK(choose(ranked, 0, BMST_F16, 0, 256 * MIB, why, sizeof why) == -1, "empty list");
    CHECK(strstr(why, "no algorithm") != NULL, "empty reason: %s", why);
    /* every one failed: fp16 with statuses all bad */
    struct bmst_conv_candidate failed[2] = {ranked[0], ranked[1]};
    failed[0].ok = failed[1].ok = 0;
    CHECK(choose(failed, 2, BMST_F16, 0, 256 * MIB, why, sizeof why) == -1, "all failed");
    CHECK(strstr(why, "2 not runnable") != NULL, "all-failed reason: %s", why);
    /* a short buffer is cut, never overrun */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    CHECK(choose(failed, 2, BMST_F16, 0, 256 * MIB, tiny, 4) == -1 && tiny[3] == '\0' &&
              tiny[4] == 'x',
          "why_len not respected");
}

int main(void) {
    test_precision_rules();
    test_determinism_and_limits();
    test_nothing_usable();
    return check_finish("conv_choice");
}
