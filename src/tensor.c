/* Sizes and names of tensor element types and shapes. */
#include "tensor.h"

size_t bmst_dtype_size(enum bmst_dtype dtype) {
    switch (dtype) {
    case BMST_F32: return 4;
    case BMST_F16: return 2;
    case BMST_BF16: return 2;
    }
    return 0;
}

const char *bmst_dtype_name(enum bmst_dtype dtype) {
    switch (dtype) {
    case BMST_F32: return "fp32";
    case BMST_F16: return "fp16";
    case BMST_BF16: return "bf16";
    }
    return "?";
}

size_t bmst_shape_count(struct bmst_shape s) {
    return (size_t)s.n * (size_t)s.h * (size_t)s.w * (size_t)s.c;
}

struct bmst_shape bmst_shape_make(int n, int h, int w, int c) {
    struct bmst_shape s = {n, h, w, c};
    return s;
}

size_t bmst_tensor_bytes(const struct bmst_tensor *t) {
    return bmst_shape_count(t->shape) * bmst_dtype_size(t->dtype);
}
