/* An ONNX model under construction, as protobuf-c messages of the ONNX
 * schema (src/onnx/onnx.proto): nodes, float initializers, the graph's
 * input and output, packed and written whole at the end. Every allocation
 * is the builder's and goes with bmst_onnx_free. */
#ifndef BMST_ONNX_BUILDER_H
#define BMST_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

struct bmst_onnx;

/* A model of opset `opset` whose graph is named `name`. */
struct bmst_onnx *bmst_onnx_new(const char *name, int opset);
void bmst_onnx_free(struct bmst_onnx *b);

/* Element types of initializers and of quantized values. */
enum bmst_onnx_type { BMST_ONNX_FLOAT, BMST_ONNX_INT8, BMST_ONNX_UINT8 };

/* A float32 initializer of shape dims[ndim] (copied; ndim 0: a scalar). */
void bmst_onnx_initializer(struct bmst_onnx *b, const char *name, int ndim, const int64_t *dims,
                           const float *data);
/* The same of element type `type` (data holds its elements, copied). */
void bmst_onnx_initializer_of(struct bmst_onnx *b, const char *name, enum bmst_onnx_type type,
                              int ndim, const int64_t *dims, const void *data);
/* A node of `op` (named `name` and its position) reading the names in[n_in] (an empty name: an
 * omitted optional input) and writing `out`. Returns it for its attributes. */
struct bmst_onnx_node *bmst_onnx_node(struct bmst_onnx *b, const char *op, const char *name,
                                      const char *const *in, int n_in, const char *out);
void bmst_onnx_attr_int(struct bmst_onnx *b, struct bmst_onnx_node *n, const char *name, int64_t v);
void bmst_onnx_attr_float(struct bmst_onnx *b, struct bmst_onnx_node *n, const char *name, float v);
void bmst_onnx_attr_ints(struct bmst_onnx *b, struct bmst_onnx_node *n, const char *name, int count,
                         const int64_t *v);
/* The graph's float32 input or output: dims[ndim], a dim of -1 the symbolic
 * batch size "N". */
void bmst_onnx_input(struct bmst_onnx *b, const char *name, int ndim, const int64_t *dims);
void bmst_onnx_output(struct bmst_onnx *b, const char *name, int ndim, const int64_t *dims);

/* Packs the model and writes it to `path` (replaced whole); 0, or -1 with
 * the reason. */
int bmst_onnx_write(struct bmst_onnx *b, const char *path);

#endif
