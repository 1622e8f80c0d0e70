/* Int8 weights (docs/pruning.md, "Int8"): every conv and fc weight
 * quantized per output channel, symmetric, scale = max|w| / 127 over the
 * channel, q = w / scale rounded to the nearest (ties to even) in
 * [-127, 127]. `eval --int8`, the compact int8 HDF5 and the int8 ONNX
 * export all quantize with these functions. */
#ifndef BMST_QUANTIZE_H
#define BMST_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* w [k][per_k] (output channel first, any order inside a channel) into
 * q [k][per_k] and scale [k]; a channel of zeros gets scale 1, so that
 * scale is never 0 (ONNX runtimes divide by it). */
void bmst_quantize_channels(const float *w, int k, size_t per_k, int8_t *q, float *scale);
/* The inverse: w = q * scale[channel]. */
void bmst_dequantize_channels(const int8_t *q, int k, size_t per_k, const float *scale, float *w);

/* Whether parameter p is quantized: conv and fc weights (those pruning
 * prunes), never batch norm's parameters or biases. */
int bmst_quantized_param(const struct bmst_param *p);

/* Quantizes and dequantizes, in place, every quantized parameter of m in
 * host_weights (a host copy of m->weights). Returns how many there were. */
int bmst_quantize_model_weights(const struct bmst_model *m, float *host_weights);
/* The same on the model's own (backend) weights; its compute copy follows. */
int bmst_quantize_model(struct bmst_model *m);

#endif
