/* `bmst_dist export` as ONNX: the evaluation graph of a checkpoint's network
 * as an ONNX model (opset 13), NCHW, with every batch norm that follows a
 * convolution folded into it (w' = w * gamma / sqrt(var + eps) per output
 * channel, b' = beta - mean * gamma / sqrt(var + eps)); the other batch
 * norms stay BatchNormalization. The graph is the engine's own, node by
 * node, so the export computes what `eval` does. With --int8 every conv and
 * fc weight (after the fold) is stored int8 per output channel (quantize.h)
 * behind a DequantizeLinear; with --calibrate N every conv and fc input also
 * passes a QuantizeLinear / DequantizeLinear pair, uint8 with a zero point
 * over the range N training batches gave it (calibrate.h). */
#include "export_onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "checkpoint.h"
#include "engine.h"
#include "error.h"
#include "onnx_builder.h"
#include "quantize.h"

#define OPSET 13

struct exporter {
    const struct bmst_graph *g;
    const struct bmst_model *m;
    float *weights, *buffers; /* host copies */
    struct bmst_onnx *onnx;
    int *uses;  /* [n_values] readers of each value */
    int *alias; /* [n_values] the value it stands for (dropout: its input) */
    int int8;   /* --int8: weights int8 behind DequantizeLinear */
    const struct bmst_calibration *cal; /* --calibrate: activation ranges; NULL: none */
    char *quantized; /* [n_values] its QuantizeLinear / DequantizeLinear pair is written */
};

/* The ONNX name of value v. */
static void value_name(const struct exporter *x, int v, char *out, size_t size) {
    v = x->alias[v];
    if (v == x->g->images)
        snprintf(out, size, "input");
    else if (v == x->g->logits)
        snprintf(out, size, "logits");
    else
        snprintf(out, size, "v%d", v);
}

static const float *param_data(const struct exporter *x, int param) {
    const struct bmst_param *p = &x->m->params[param];
    return (p->role == BMST_PARAM_WEIGHT ? x->weights : x->buffers) + p->offset;
}

/* The node reading value v when it is v's only reader, else NULL. */
static const struct bmst_node *only_reader(const struct exporter *x, int v) {
    if (x->uses[v] != 1) return NULL;
    for (int i = 0; i < x->g->n_nodes; i++) {
        const struct bmst_node *n = &x->g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == v) return n;
    }
    return NULL;
}

/* Weight `name` of shape dims[ndim] (output channel first) as the graph
 * reads it: a float initializer, or with --int8 the int8 initializer
 * name_quantized, its scales name_scale and zero points name_zero_point (0)
 * per output channel, and the DequantizeLinear (axis 0) that writes `name`. */
static void emit_weight(struct exporter *x, const char *name, int ndim, const int64_t *dims,
                        const float *data) {
    if (!x->int8) {
        bmst_onnx_initializer(x->onnx, name, ndim, dims, data);
        return;
    }
    int k = (int)dims[0];
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    int8_t *q = bmst_xmalloc(count), *zero = calloc((size_t)k, 1);
    float *scale = bmst_xmalloc((size_t)k * sizeof *scale);
    bmst_quantize_channels(data, k, count / (size_t)k, q, scale);
    char qname[160], sname[160], zname[160];
    snprintf(qname, sizeof qname, "%s_quantized", name);
    snprintf(sname, sizeof sname, "%s_scale", name);
    snprintf(zname, sizeof zname, "%s_zero_point", name);
    int64_t kdims[1] = {k};
    bmst_onnx_initializer_of(x->onnx, qname, BMST_ONNX_INT8, ndim, dims, q);
    bmst_onnx_initializer(x->onnx, sname, 1, kdims, scale);
    bmst_onnx_initializer_of(x->onnx, zname, BMST_ONNX_INT8, 1, kdims, zero);
    const char *inputs[3] = {qname, sname, zname};
    bmst_onnx_attr_int(x->onnx, bmst_onnx_node(x->onnx, "DequantizeLinear", name, inputs, 3, name),
                       "axis", 0);
    free(q), free(zero), free(scale);
}

/* The name a conv or fc reads value v by: its own, or with --calibrate
 * v_dequantized, written (once per value) by QuantizeLinear to uint8 and
 * DequantizeLinear back, over the value's range widened to hold 0:
 * scale = (max - min) / 255, zero point = round(-min / scale). */
static void activation_input(struct exporter *x, int v, char *out, size_t size) {
    char name[32];
    value_name(x, v, name, sizeof name);
    if (!x->cal || !x->cal->observed[v]) {
        snprintf(out, size, "%s", name);
        return;
    }
    snprintf(out, size, "%s_dequantized", name);
    if (x->quantized[x->alias[v]]) return;
    x->quantized[x->alias[v]] = 1;
    float lo = fminf(0.0f, x->cal->min[v]), hi = fmaxf(0.0f, x->cal->max[v]);
    float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    long zp = lrintf(-lo / scale);
    uint8_t zero = (uint8_t)(zp < 0 ? 0 : zp > 255 ? 255 : zp);
    char sname[64], zname[64], qname[64];
    snprintf(sname, sizeof sname, "%s_scale", name);
    snprintf(zname, sizeof zname, "%s_zero_point", name);
    snprintf(qname, sizeof qname, "%s_quantized", name);
    bmst_onnx_initializer(x->onnx, sname, 0, NULL, &scale);
    bmst_onnx_initializer_of(x->onnx, zname, BMST_ONNX_UINT8, 0, NULL, &zero);
    const char *q_in[3] = {name, sname, zname}, *dq_in[3] = {qname, sname, zname};
    bmst_onnx_node(x->onnx, "QuantizeLinear", name, q_in, 3, qname);
    bmst_onnx_node(x->onnx, "DequantizeLinear", name, dq_in, 3, out);
}

/* A convolution, with the batch norm `bn` (NULL: none) folded in. */
static void emit_conv(struct exporter *x, const struct bmst_node *n, const struct bmst_node *bn) {
    const struct bmst_conv_desc *d = &n->desc.conv;
    const struct bmst_param *p = &x->m->params[n->param[0]];
    const float *w = param_data(x, n->param[0]);
    size_t per_k = (size_t)d->c * d->r * d->s;
    float *oihw = bmst_xmalloc((size_t)d->k * per_k * sizeof(float));
    float *bias = bmst_xmalloc((size_t)d->k * sizeof(float));
    for (int k = 0; k < d->k; k++)
        for (int c = 0; c < d->c; c++)
            for (int r = 0; r < d->r; r++)
                for (int s = 0; s < d->s; s++) {
                    size_t at = p->conv_krsc ? (((size_t)k * d->r + r) * d->s + s) * d->c + c
                                             : (((size_t)k * d->c + c) * d->r + r) * d->s + s;
                    oihw[(size_t)k * per_k + ((size_t)c * d->r + r) * d->s + s] = w[at];
                }
    for (int k = 0; k < d->k; k++)
        bias[k] = 0.0f;
    if (bn) {
        const float *gamma = param_data(x, bn->param[0]), *beta = param_data(x, bn->param[1]);
        const float *mean = param_data(x, bn->param[2]), *var = param_data(x, bn->param[3]);
        for (int k = 0; k < d->k; k++) {
            double scale = gamma[k] / sqrt((double)var[k] + bn->desc.bn.eps);
            for (size_t i = 0; i < per_k; i++)
                oihw[(size_t)k * per_k + i] = (float)(oihw[(size_t)k * per_k + i] * scale);
            bias[k] = (float)(beta[k] - mean[k] * scale);
        }
    }
    char wname[128], bname[128], in[64], out[32];
    snprintf(wname, sizeof wname, "%s.weight", n->name);
    snprintf(bname, sizeof bname, "%s.bias", n->name);
    int64_t wdims[4] = {d->k, d->c, d->r, d->s}, bdims[1] = {d->k};
    emit_weight(x, wname, 4, wdims, oihw);
    bmst_onnx_initializer(x->onnx, bname, 1, bdims, bias);
    activation_input(x, n->in[0], in, sizeof in);
    value_name(x, bn ? bn->out : n->out, out, sizeof out);
    const char *inputs[3] = {in, wname, bname};
    struct bmst_onnx_node *o = bmst_onnx_node(x->onnx, "Conv", n->name, inputs, 3, out);
    int64_t kernel[2] = {d->r, d->s}, strides[2] = {d->stride_h, d->stride_w};
    int64_t pads[4] = {d->pad_h, d->pad_w, d->pad_h, d->pad_w};
    bmst_onnx_attr_ints(x->onnx, o, "kernel_shape", 2, kernel);
    bmst_onnx_attr_ints(x->onnx, o, "strides", 2, strides);
    bmst_onnx_attr_ints(x->onnx, o, "pads", 4, pads);
    free(oihw), free(bias);
}

static void emit_bn(struct exporter *x, const struct bmst_node *n) {
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    char names[4][128], in[32], out[32];
    const char *inputs[5] = {in, names[0], names[1], names[2], names[3]};
    int64_t dims[1] = {n->desc.bn.c};
    for (int i = 0; i < 4; i++) {
        snprintf(names[i], sizeof names[i], "%s.%s", n->name, suffix[i]);
        bmst_onnx_initializer(x->onnx, names[i], 1, dims, param_data(x, n->param[i]));
    }
    value_name(x, n->in[0], in, sizeof in);
    value_name(x, n->out, out, sizeof out);
    struct bmst_onnx_node *o =
        bmst_onnx_node(x->onnx, "BatchNormalization", n->name, inputs, 5, out);
    bmst_onnx_attr_float(x->onnx, o, "epsilon", n->desc.bn.eps);
}

static void emit_pool(struct exporter *x, const struct bmst_node *n, const char *op) {
    const struct bmst_pool_desc *d = &n->desc.pool;
    char in[32], out[32];
    value_name(x, n->in[0], in, sizeof in);
    value_name(x, n->out, out, sizeof out);
    const char *inputs[1] = {in};
    struct bmst_onnx_node *o = bmst_onnx_node(x->onnx, op, n->name, inputs, 1, out);
    int64_t kernel[2] = {d->kh, d->kw}, strides[2] = {d->stride_h, d->stride_w};
    int64_t pads[4] = {d->pad_h, d->pad_w, d->pad_h, d->pad_w};
    bmst_onnx_attr_ints(x->onnx, o, "kernel_shape", 2, kernel);
    bmst_onnx_attr_ints(x->onnx, o, "strides", 2, strides);
    bmst_onnx_attr_ints(x->onnx, o, "pads", 4, pads);
    /* windows that start inside the padded input but end past it */
    int floor_h = (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
    int floor_w = (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
    if (d->out_h != floor_h || d->out_w != floor_w) bmst_onnx_attr_int(x->onnx, o, "ceil_mode", 1);
    if (strcmp(op, "AveragePool") == 0) bmst_onnx_attr_int(x->onnx, o, "count_include_pad", 1);
}

/* The fully connected layer on [N, C, 1, 1]: Flatten, then Gemm. */
static int emit_fc(struct exporter *x, const struct bmst_node *n) {
    struct bmst_shape s = x->g->values[n->in[0]].shape;
    if (s.h != 1 || s.w != 1)
        return bmst_error("cannot export %s: its fully connected layer %s reads %dx%d positions "
                          "(only a pooled 1x1 input is exported)",
                          x->m->arch, n->name, s.h, s.w);
    const struct bmst_param *w = &x->m->params[n->param[0]];
    char flat[160], in[64], out[32], wname[128], bname[128];
    activation_input(x, n->in[0], in, sizeof in);
    value_name(x, n->out, out, sizeof out);
    snprintf(flat, sizeof flat, "%s.flat", in);
    snprintf(wname, sizeof wname, "%s.weight", n->name);
    snprintf(bname, sizeof bname, "%s.bias", n->name);
    int64_t wdims[2] = {w->dims[0], w->dims[1]}, bdims[1] = {w->dims[0]};
    emit_weight(x, wname, 2, wdims, param_data(x, n->param[0]));
    bmst_onnx_initializer(x->onnx, bname, 1, bdims, param_data(x, n->param[1]));
    const char *flat_in[1] = {in};
    bmst_onnx_attr_int(x->onnx, bmst_onnx_node(x->onnx, "Flatten", flat, flat_in, 1, flat), "axis",
                       1);
    const char *inputs[3] = {flat, wname, bname};
    bmst_onnx_attr_int(x->onnx, bmst_onnx_node(x->onnx, "Gemm", n->name, inputs, 3, out), "transB",
                       1);
    return 0;
}

/* An op of many inputs and no attributes but `axis` (< 0: none). */
static void emit_plain(struct exporter *x, const struct bmst_node *n, const char *op, int axis) {
    char names[BMST_MAX_INPUTS][32], out[32];
    const char *inputs[BMST_MAX_INPUTS];
    for (int i = 0; i < n->n_in; i++) {
        value_name(x, n->in[i], names[i], sizeof names[i]);
        inputs[i] = names[i];
    }
    value_name(x, n->out, out, sizeof out);
    struct bmst_onnx_node *o = bmst_onnx_node(x->onnx, op, n->name, inputs, n->n_in, out);
    if (axis >= 0) bmst_onnx_attr_int(x->onnx, o, "axis", axis);
}

static int emit_graph(struct exporter *x) {
    const struct bmst_graph *g = x->g;
    unsigned char *done = calloc((size_t)g->n_nodes, 1);
    int status = 0;
    for (int i = 0; i < g->n_nodes && status == 0; i++) {
        const struct bmst_node *n = &g->nodes[i];
        if (done[i]) continue;
        switch (n->kind) {
        case BMST_OP_INPUT:
            break;
        case BMST_OP_CONV: {
            const struct bmst_node *bn = only_reader(x, n->out);
            if (bn && bn->kind != BMST_OP_BN) bn = NULL;
            emit_conv(x, n, bn);
            if (bn) done[bn - g->nodes] = 1;
            break;
        }
        case BMST_OP_BN:
            emit_bn(x, n);
            break;
        case BMST_OP_RELU:
            emit_plain(x, n, "Relu", -1);
            break;
        case BMST_OP_ADD:
            emit_plain(x, n, n->n_in == 2 ? "Add" : "Sum", -1);
            break;
        case BMST_OP_MAXPOOL:
            emit_pool(x, n, "MaxPool");
            break;
        case BMST_OP_AVGPOOL:
            emit_pool(x, n, "AveragePool");
            break;
        case BMST_OP_GAP:
            emit_plain(x, n, "GlobalAveragePool", -1);
            break;
        case BMST_OP_FC:
            status = emit_fc(x, n);
            break;
        case BMST_OP_CONCAT:
            emit_plain(x, n, "Concat", 1);
            break;
        case BMST_OP_DROPOUT:
            break; /* the identity in evaluation (aliased) */
        case BMST_OP_APPEND:
            /* a dense block's growing concatenation: its start is its input
             * (aliased), each append a Concat of the prefix and the new channels */
            if (n->n_in == 2) emit_plain(x, n, "Concat", 1);
            break;
        default:
            status = bmst_error("cannot export %s: its layer %s is of a kind the ONNX export does "
                                "not write yet",
                                x->m->arch, n->name);
        }
    }
    free(done);
    return status;
}

/* Readers of every value, and the values that stand for their input:
 * dropout's output, and the start of a dense block's concatenation. */
static void count_uses(struct exporter *x) {
    const struct bmst_graph *g = x->g;
    x->uses = calloc((size_t)g->n_values, sizeof *x->uses);
    x->alias = bmst_xmalloc((size_t)g->n_values * sizeof *x->alias);
    for (int v = 0; v < g->n_values; v++)
        x->alias[v] = v;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct bmst_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            x->uses[n->in[j]]++;
        if (n->kind == BMST_OP_DROPOUT || (n->kind == BMST_OP_APPEND && n->n_in == 1))
            x->alias[n->out] = x->alias[n->in[0]];
    }
}

int bmst_export_onnx(const struct bmst_engine *e, const char *checkpoint,
                     const struct bmst_checkpoint_meta *meta, int int8,
                     const struct bmst_calibration *cal, const char *out) {
    const struct bmst_model *m = &e->model;
    struct exporter x = {.g = &e->eval_graph, .m = m, .int8 = int8, .cal = cal};
    x.weights = bmst_xmalloc((m->n_weights ? m->n_weights : 1) * sizeof(float));
    x.buffers = bmst_xmalloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    m->be->to_host(m->be, x.weights, m->weights, m->n_weights * sizeof(float));
    m->be->to_host(m->be, x.buffers, m->buffers, m->n_buffers * sizeof(float));
    count_uses(&x);
    x.quantized = calloc((size_t)x.g->n_values, 1);
    x.onnx = bmst_onnx_new(meta->arch, OPSET);
    int64_t in_dims[4] = {-1, meta->in_c, meta->in_h, meta->in_w},
            out_dims[2] = {-1, meta->classes};
    bmst_onnx_input(x.onnx, "input", 4, in_dims);
    int status = emit_graph(&x);
    if (status == 0) {
        bmst_onnx_output(x.onnx, "logits", 2, out_dims);
        status = bmst_onnx_write(x.onnx, out);
    }
    bmst_onnx_free(x.onnx);
    free(x.uses), free(x.alias), free(x.quantized), free(x.weights), free(x.buffers);
    if (status == 0)
        printf("%s (%s, epoch %d) -> %s: ONNX opset %d, %s, input [N, %d, %d, %d] normalized as "
               "the dataset's mean and std, output logits [N, %d]\n",
               checkpoint, meta->arch, meta->epoch, out, OPSET,
               !int8 ? "float32"
               : cal ? "int8 weights per output channel, uint8 activations (QDQ)"
                     : "int8 weights per output channel (QDQ), float32 activations",
               meta->in_c, meta->in_h, meta->in_w, meta->classes);
    return status;
}
