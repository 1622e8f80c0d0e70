/* Tensor shapes and element types. Activations are NHWC everywhere; a 2-D
 * tensor such as logits is [N, 1, 1, C]. */
#ifndef BMST_TENSOR_H
#define BMST_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bmst_dtype { BMST_F32, BMST_F16, BMST_BF16 };

struct bmst_shape {
    int n, h, w, c;
};

size_t bmst_dtype_size(enum bmst_dtype dtype);
const char *bmst_dtype_name(enum bmst_dtype dtype);
size_t bmst_shape_count(struct bmst_shape s);
/* bf16 on the host (C has no type for it): the high half of a float rounded
 * to nearest even, overflowing to inf, a NaN kept a NaN; and back. */
uint16_t bmst_bf16_bits(float v);
float bmst_bf16_value(uint16_t bits);
struct bmst_shape bmst_shape_make(int n, int h, int w, int c);

#ifdef __cplusplus
}
#endif

#endif
