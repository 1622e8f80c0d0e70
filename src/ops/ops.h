/* The op builders model builders call: each appends its op's node to a graph
 * (its output shape, its parameters by PyTorch name, its scratch) and
 * returns the id of the new output value. Each is defined in its op's file,
 * ops/<name>.c, beside the op's table entry. */
#ifndef BMST_OPS_H
#define BMST_OPS_H

#include "graph.h"

/* The images input [batch, h, w, c]; training graphs also get a targets input. */
int bmst_op_input(struct bmst_graph *g, int h, int w, int c);
/* Bias-free convolution "<prefix>.weight" [k, c, r, s]. */
int bmst_op_conv(struct bmst_graph *g, int x, const char *prefix, int k, int r, int s, int stride,
                 int pad);
/* The same with its own padding per dimension (InceptionV3's 1x7 and 7x1
 * convolutions pad only along their long side). */
int bmst_op_conv_pad(struct bmst_graph *g, int x, const char *prefix, int k, int r, int s,
                     int stride, int pad_h, int pad_w);
/* Batch norm "<prefix>.weight", ".bias", ".running_mean", ".running_var". */
int bmst_op_bn(struct bmst_graph *g, int x, const char *prefix);
/* The same with its own eps (bmst_op_bn: PyTorch's default 1e-5; torchvision's
 * Inception3: 1e-3). Architecture, so not in checkpoints. */
int bmst_op_bn_eps(struct bmst_graph *g, int x, const char *prefix, float eps);
int bmst_op_relu(struct bmst_graph *g, int x);
int bmst_op_add(struct bmst_graph *g, int a, int b);
int bmst_op_maxpool(struct bmst_graph *g, int x, int k, int stride, int pad);
int bmst_op_avgpool(struct bmst_graph *g, int x, int k, int stride, int pad);
int bmst_op_gap(struct bmst_graph *g, int x);
/* Linear "<prefix>.weight" [out, in], "<prefix>.bias" [out]; x is flattened. */
int bmst_op_fc(struct bmst_graph *g, int x, const char *prefix, int out);
int bmst_op_concat(struct bmst_graph *g, const int *xs, int n);
/* A dense block's running concatenation, in place (ops/append.c): begin
 * puts x in the first channels of a new buffer `channels` wide and returns
 * that prefix; append_to writes x's channels after `prefix` (the buffer's
 * longest so far) and returns the longer prefix. */
int bmst_op_append_begin(struct bmst_graph *g, int x, int channels);
int bmst_op_append_to(struct bmst_graph *g, int prefix, int x);
/* BMST merge of the batch into batch / merge samples; the identity when the
 * graph's merge factor is 1 (and so always in evaluation graphs). */
int bmst_op_mix(struct bmst_graph *g, int x);
/* Dropout with probability p (0 <= p < 1) in training graphs; the identity
 * in evaluation graphs and for p = 0. */
int bmst_op_dropout(struct bmst_graph *g, int x, float p);
/* Softmax cross-entropy of logits against the (mixed) targets; ends the graph. */
void bmst_op_loss(struct bmst_graph *g, int logits);
/* A second head's loss against the same targets, training graphs only: its
 * gradient scaled by `weight`, and weight times it added to the step's loss. */
void bmst_op_aux_loss(struct bmst_graph *g, int logits, float weight);

#endif
