/* The convolution algorithm choice (see conv_choice.h): the first candidate
 * in cuDNN's order that every rule accepts. Each rejected candidate is
 * counted under the first rule it breaks, so the error names what to change
 * (the precision, --deterministic, or a shape that needs less scratch). */
#include "conv_choice.h"

#include <stdio.h>

/* fp32 must stay fp32: DEFAULT math lets cuDNN use TF32 on Ampere and later,
 * and tensor-op math rounds the inputs to TF32 or a half type. The half types
 * may use tensor cores in their own type; a down-conversion (meant for fp32
 * data) is refused there too, since it is not the arithmetic we asked for. */
static int math_allowed(enum bmst_conv_math math, enum bmst_dtype precision) {
    if (precision == BMST_F32) return math == BMST_CONV_MATH_FMA;
    return math != BMST_CONV_MATH_TENSOR_OP_ALLOW_CONVERSION;
}

int bmst_conv_choose(const struct bmst_conv_candidate *candidates, int count,
                     const struct bmst_conv_constraints *k, char *why, size_t why_len) {
    int failed = 0, wrong_math = 0, nondeterministic = 0, too_big = 0;
    for (int i = 0; i < count; i++) {
        const struct bmst_conv_candidate *c = &candidates[i];
        if (!c->ok)
            failed++;
        else if (!math_allowed(c->math, k->precision))
            wrong_math++;
        else if (k->deterministic && !c->deterministic)
            nondeterministic++;
        else if (c->memory > k->workspace_limit)
            too_big++;
        else
            return i;
    }
    if (count == 0) {
        snprintf(why, why_len, "cuDNN offered no algorithm");
        return -1;
    }
    const char *math_rule = k->precision == BMST_F32
                                ? "on TF32 or tensor cores (fp32 runs on FMA only)"
                                : "on down-converting math";
    snprintf(why, why_len,
             "none of the %d algorithms cuDNN offered is usable: %d not runnable, %d %s, %d not "
             "deterministic, %d needing more than %.1f MiB of workspace",
             count, failed, wrong_math, math_rule, nondeterministic, too_big,
             (double)k->workspace_limit / (1 << 20));
    return -1;
}
