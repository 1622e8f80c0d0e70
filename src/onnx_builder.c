/* ONNX models as protobuf-c messages (onnx_builder.h). The messages point
 * into blocks the builder keeps in one list, freed together. */
#include "onnx_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"
#include "onnx.pb-c.h"

#define IR_VERSION 8 /* what opset 13 to 17 models carry */
#define PRODUCER "bmst_dist"

struct bmst_onnx {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    void **blocks; /* every allocation, for bmst_onnx_free */
    size_t n_blocks, cap_blocks;
};

struct bmst_onnx_node {
    Onnx__NodeProto proto;
};

static void *keep(struct bmst_onnx *b, size_t bytes) {
    if (b->n_blocks == b->cap_blocks) {
        b->cap_blocks = b->cap_blocks ? 2 * b->cap_blocks : 256;
        b->blocks = bmst_xrealloc(b->blocks, b->cap_blocks * sizeof *b->blocks);
    }
    void *p = bmst_xmalloc(bytes ? bytes : 1);
    memset(p, 0, bytes ? bytes : 1);
    b->blocks[b->n_blocks++] = p;
    return p;
}

static char *text(struct bmst_onnx *b, const char *s) {
    char *copy = keep(b, strlen(s) + 1);
    memcpy(copy, s, strlen(s) + 1);
    return copy;
}

/* Appends `item` to the pointer array *items of *count (grown a block at a
 * time: the old block stays kept, which costs little at these sizes). */
static void append(struct bmst_onnx *b, void ***items, size_t *count, void *item) {
    void **grown = keep(b, (*count + 1) * sizeof *grown);
    if (*count) memcpy(grown, *items, *count * sizeof *grown);
    grown[(*count)++] = item;
    *items = grown;
}

struct bmst_onnx *bmst_onnx_new(const char *name, int opset) {
    struct bmst_onnx *b = bmst_xmalloc(sizeof *b);
    memset(b, 0, sizeof *b);
    b->model = (Onnx__ModelProto)ONNX__MODEL_PROTO__INIT;
    b->graph = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    b->opset = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    b->opset.domain = text(b, "");
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.has_ir_version = 1;
    b->model.ir_version = IR_VERSION;
    b->model.producer_name = text(b, PRODUCER);
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.graph = &b->graph;
    b->graph.name = text(b, name);
    return b;
}

void bmst_onnx_free(struct bmst_onnx *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n_blocks; i++)
        free(b->blocks[i]);
    free(b->blocks);
    free(b);
}

void bmst_onnx_initializer_of(struct bmst_onnx *b, const char *name, enum bmst_onnx_type type,
                              int ndim, const int64_t *dims, const void *data) {
    static const int data_types[] = {[BMST_ONNX_FLOAT] = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                     [BMST_ONNX_INT8] = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
                                     [BMST_ONNX_UINT8] = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8};
    static const size_t sizes[] = {
        [BMST_ONNX_FLOAT] = 4, [BMST_ONNX_INT8] = 1, [BMST_ONNX_UINT8] = 1};
    Onnx__TensorProto *t = keep(b, sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = text(b, name);
    t->has_data_type = 1;
    t->data_type = data_types[type];
    t->n_dims = (size_t)ndim;
    t->dims = keep(b, (size_t)ndim * sizeof *t->dims);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        count *= (size_t)dims[i];
    }
    /* raw_data: little-endian elements, as ONNX defines it (this machine's order) */
    t->has_raw_data = 1;
    t->raw_data.len = count * sizes[type];
    t->raw_data.data = keep(b, t->raw_data.len);
    memcpy(t->raw_data.data, data, t->raw_data.len);
    append(b, (void ***)&b->graph.initializer, &b->graph.n_initializer, t);
}

void bmst_onnx_initializer(struct bmst_onnx *b, const char *name, int ndim, const int64_t *dims,
                           const float *data) {
    bmst_onnx_initializer_of(b, name, BMST_ONNX_FLOAT, ndim, dims, data);
}

struct bmst_onnx_node *bmst_onnx_node(struct bmst_onnx *b, const char *op, const char *name,
                                      const char *const *in, int n_in, const char *out) {
    struct bmst_onnx_node *n = keep(b, sizeof *n);
    n->proto = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->proto.op_type = text(b, op);
    char unique[160]; /* ONNX wants every node's name its own: the engine's names repeat */
    snprintf(unique, sizeof unique, "%s_%zu", name, b->graph.n_node);
    n->proto.name = text(b, unique);
    n->proto.n_input = (size_t)n_in;
    n->proto.input = keep(b, (size_t)n_in * sizeof(char *));
    for (int i = 0; i < n_in; i++)
        n->proto.input[i] = text(b, in[i]);
    n->proto.n_output = 1;
    n->proto.output = keep(b, sizeof(char *));
    n->proto.output[0] = text(b, out);
    append(b, (void ***)&b->graph.node, &b->graph.n_node, &n->proto);
    return n;
}

static Onnx__AttributeProto *attribute(struct bmst_onnx *b, struct bmst_onnx_node *n,
                                       const char *name, Onnx__AttributeProto__AttributeType type) {
    Onnx__AttributeProto *a = keep(b, sizeof *a);
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = text(b, name);
    a->has_type = 1;
    a->type = type;
    append(b, (void ***)&n->proto.attribute, &n->proto.n_attribute, a);
    return a;
}

void bmst_onnx_attr_int(struct bmst_onnx *b, struct bmst_onnx_node *n, const char *name,
                        int64_t v) {
    Onnx__AttributeProto *a = attribute(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void bmst_onnx_attr_float(struct bmst_onnx *b, struct bmst_onnx_node *n, const char *name,
                          float v) {
    Onnx__AttributeProto *a = attribute(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void bmst_onnx_attr_ints(struct bmst_onnx *b, struct bmst_onnx_node *n, const char *name, int count,
                         const int64_t *v) {
    Onnx__AttributeProto *a = attribute(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)count;
    a->ints = keep(b, (size_t)count * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *a->ints);
}

static Onnx__ValueInfoProto *value_info(struct bmst_onnx *b, const char *name, int ndim,
                                        const int64_t *dims) {
    Onnx__TensorShapeProto *shape = keep(b, sizeof *shape);
    *shape = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = keep(b, sizeof *d);
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = text(b, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        append(b, (void ***)&shape->dim, &shape->n_dim, d);
    }
    Onnx__TypeProto__Tensor *tensor = keep(b, sizeof *tensor);
    *tensor = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    tensor->has_elem_type = 1;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    Onnx__TypeProto *type = keep(b, sizeof *type);
    *type = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    Onnx__ValueInfoProto *v = keep(b, sizeof *v);
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    v->name = text(b, name);
    v->type = type;
    return v;
}

void bmst_onnx_input(struct bmst_onnx *b, const char *name, int ndim, const int64_t *dims) {
    append(b, (void ***)&b->graph.input, &b->graph.n_input, value_info(b, name, ndim, dims));
}

void bmst_onnx_output(struct bmst_onnx *b, const char *name, int ndim, const int64_t *dims) {
    append(b, (void ***)&b->graph.output, &b->graph.n_output, value_info(b, name, ndim, dims));
}

int bmst_onnx_write(struct bmst_onnx *b, const char *path) {
    size_t bytes = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *packed = bmst_xmalloc(bytes ? bytes : 1);
    onnx__model_proto__pack(&b->model, packed);
    struct bmst_atomic_file out;
    int status = bmst_atomic_open(&out, path, "the ONNX model");
    if (status == 0 && bmst_atomic_write(&out, packed, bytes) != 0) {
        bmst_atomic_abort(&out);
        status = -1;
    }
    if (status == 0) status = bmst_atomic_commit(&out);
    free(packed);
    return status;
}
